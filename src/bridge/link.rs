//! One bridge link's MQTT client side, sans-IO: CONNECT (with the bridge
//! flag), SUBSCRIBE for `in` rules, the outbound QoS 1/2 flows out of the
//! uplink queue, inbound PUBLISH flows, keepalive and half-open detection.
//!
//! It never touches a socket or the clock: bytes to write collect in an
//! output buffer, packets come in through [`Link::handle_packet`], time
//! through `now`.
//!
//! Invariants: a queue entry is removed only by the remote's PUBACK (QoS 1)
//! or PUBCOMP (QoS 2), or once written for QoS 0; at most `window` QoS ≥ 1
//! messages are unacknowledged; entries go out in seq order; after a
//! reconnect every unacknowledged entry is sent again exactly once (DUP,
//! same packet id, or PUBREL if the remote had PUBREC'd it) before anything
//! new — no resend storm.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::codec::{
    self, Ack, AckKind, Connect, EncodeError, Packet, PacketId, Properties, ProtocolVersion,
    Publish, PublishBody, QoS, Subscribe, SubscriptionOptions, SubscriptionRequest, Will,
};

use super::queue::{BridgeQueue, QueueJournal};

/// The packet id of the SUBSCRIBE for `in` rules; messages never use it.
const SUBSCRIBE_PID: PacketId = PacketId::MIN;

/// A queued message's packet id follows from its sequence number, so that
/// after a restart of the edge it goes out under the id it had before: a
/// remote still holding a QoS 2 exchange for that id (PUBREC sent, PUBREL
/// awaited) recognises it instead of delivering it twice — and never
/// mistakes a new message for it [MQTT-4.3.3-2].
fn packet_id_for(seq: u64) -> PacketId {
    let id = 2 + seq % (u64::from(u16::MAX) - 1);
    PacketId::new(u16::try_from(id).unwrap_or(u16::MAX)).unwrap_or(PacketId::MIN)
}

/// How long the remote has to answer CONNECT.
const CONNACK_TIMEOUT: Duration = Duration::from_secs(10);

/// What the link needs from the config, resolved.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    /// Seconds; 0 disables keepalive (and half-open detection).
    pub keepalive: u16,
    pub clean_session: bool,
    pub protocol: ProtocolVersion,
    /// Set the bridge flag (protocol level | 0x80).
    pub try_private: bool,
    /// Remote filters for `in` and `both` rules.
    pub subscriptions: Vec<(String, QoS)>,
    /// The remote gets a retained "1" here once connected, and "0" as our
    /// will (mosquitto's notifications).
    pub notification_topic: Option<String>,
    /// Unacknowledged QoS ≥ 1 messages at most.
    pub window: usize,
}

/// What the link tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// CONNACK accepted.
    Up { session_present: bool },
    /// A PUBLISH from the remote, remote topic as sent. `ack` is the
    /// PUBACK/PUBREC it is owed: the caller passes it to
    /// [`Link::acknowledge`] once it knows what storing the message needs.
    Publish {
        body: PublishBody,
        qos: QoS,
        retain: bool,
        ack: Option<Ack>,
    },
}

/// Why the link must be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// CONNACK with this return code.
    Refused(u8),
    Protocol(&'static str),
    /// Nothing from the remote for 1.5 × keepalive: a half-open link.
    KeepaliveTimeout,
    ConnAckTimeout,
    Encode(EncodeError),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Refused(code) => {
                write!(f, "the remote refused CONNECT (return code {code})")
            }
            LinkError::Protocol(why) => write!(f, "protocol error from the remote: {why}"),
            LinkError::KeepaliveTimeout => {
                write!(
                    f,
                    "nothing from the remote for 1.5 × keepalive (half-open link)"
                )
            }
            LinkError::ConnAckTimeout => write!(f, "no CONNACK within {CONNACK_TIMEOUT:?}"),
            LinkError::Encode(e) => write!(f, "cannot encode a packet: {e}"),
        }
    }
}

impl From<EncodeError> for LinkError {
    fn from(e: EncodeError) -> Self {
        LinkError::Encode(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// PUBLISH sent, PUBACK / PUBREC awaited.
    Published,
    /// PUBREC received, PUBREL sent, PUBCOMP awaited (QoS 2).
    Released,
}

#[derive(Debug, Clone, Copy)]
struct Inflight {
    pid: PacketId,
    stage: Stage,
}

/// Counters for the log and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub sent: u64,
    pub resent: u64,
    pub acked: u64,
    pub received: u64,
}

#[derive(Debug)]
pub struct Link {
    settings: LinkSettings,
    /// CONNACK accepted on the current connection.
    connected: bool,
    started_at: Instant,
    out: Vec<u8>,
    /// By queue seq: seq order is send order.
    inflight: BTreeMap<u64, Inflight>,
    by_pid: HashMap<u16, u64>,
    /// The next queue seq to consider sending.
    cursor: u64,
    /// The SUBSCRIBE awaiting its SUBACK.
    subscribe_pid: Option<PacketId>,
    resend_pending: bool,
    last_sent: Instant,
    last_received: Instant,
    ping_outstanding: bool,
    /// Inbound QoS 2 ids PUBREC'd and not yet released [MQTT-4.3.3-2].
    inbound_qos2: HashSet<u16>,
    /// Acknowledgements to the remote waiting for a store batch to be
    /// durable (sync persistence), in the order the PUBLISHes came. At
    /// most one per packet id the remote has in flight (65,535).
    held_acks: VecDeque<(u64, Ack)>,
    stats: LinkStats,
}

impl Link {
    pub fn new(settings: LinkSettings, now: Instant) -> Link {
        Link {
            settings,
            connected: false,
            started_at: now,
            out: Vec::new(),
            inflight: BTreeMap::new(),
            by_pid: HashMap::new(),
            cursor: 0,
            subscribe_pid: None,
            resend_pending: false,
            last_sent: now,
            last_received: now,
            ping_outstanding: false,
            inbound_qos2: HashSet::new(),
            held_acks: VecDeque::new(),
            stats: LinkStats::default(),
        }
    }

    pub fn is_up(&self) -> bool {
        self.connected
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    pub fn settings(&self) -> &LinkSettings {
        &self.settings
    }

    /// A new connection to the remote is open: queues CONNECT.
    pub fn start(&mut self, now: Instant) -> Result<(), LinkError> {
        self.connected = false;
        self.out.clear();
        self.started_at = now;
        self.last_sent = now;
        self.last_received = now;
        self.ping_outstanding = false;
        self.subscribe_pid = None;
        if self.settings.clean_session {
            // The remote forgets our session: its ids mean nothing now.
            self.inbound_qos2.clear();
        }
        let s = &self.settings;
        let will = s.notification_topic.as_ref().map(|topic| Will {
            topic: topic.clone(),
            payload: b"0".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties::default(),
        });
        let connect = Connect {
            protocol: s.protocol,
            bridge: s.try_private,
            clean_start: s.clean_session,
            keep_alive: s.keepalive,
            client_id: s.client_id.clone(),
            will,
            username: s.username.clone(),
            password: s.password.clone(),
            properties: Properties::default(),
        };
        self.write(&Packet::Connect(Box::new(connect)), now)
    }

    /// The connection ended; what is unacknowledged stays for the resend.
    pub fn disconnected(&mut self) {
        self.connected = false;
        self.out.clear();
        // The remote resends what it did not see acknowledged.
        self.held_acks.clear();
        self.ping_outstanding = false;
        self.subscribe_pid = None;
    }

    /// Moves the bytes to write into `buf` (which must be empty; its
    /// capacity is kept for the next call).
    pub fn swap_output(&mut self, buf: &mut Vec<u8>) {
        buf.clear();
        std::mem::swap(&mut self.out, buf);
    }

    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    fn write(&mut self, packet: &Packet, now: Instant) -> Result<(), LinkError> {
        codec::encode(packet, self.settings.protocol, &mut self.out)?;
        self.last_sent = now;
        Ok(())
    }

    /// One packet from the remote.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        packet: Packet,
        queue: &mut BridgeQueue,
        journal: &mut dyn QueueJournal,
        events: &mut Vec<LinkEvent>,
    ) -> Result<(), LinkError> {
        self.last_received = now;
        self.ping_outstanding = false;
        if !self.connected {
            let Packet::ConnAck(connack) = packet else {
                return Err(LinkError::Protocol("first packet is not CONNACK"));
            };
            if connack.code != 0 {
                return Err(LinkError::Refused(connack.code));
            }
            self.connected = true;
            self.resend_pending = true;
            events.push(LinkEvent::Up {
                session_present: connack.session_present,
            });
            return self.after_connack(now);
        }
        match packet {
            Packet::Publish(publish) => self.handle_publish(now, publish, events),
            Packet::Ack(ack) => self.handle_ack(now, ack, queue, journal),
            Packet::SubAck(suback) => {
                if Some(suback.packet_id) == self.subscribe_pid {
                    self.subscribe_pid = None;
                    for (code, (filter, _)) in suback.codes.iter().zip(&self.settings.subscriptions)
                    {
                        if code.is_error() {
                            log::warn!(
                                "bridge {}: the remote refused the subscription to {filter:?} (code {:#04x})",
                                self.settings.client_id,
                                code.0
                            );
                        }
                    }
                }
                Ok(())
            }
            Packet::PingResp | Packet::UnsubAck(_) => Ok(()),
            Packet::Disconnect(_) => Err(LinkError::Protocol("DISCONNECT from the remote")),
            _ => Err(LinkError::Protocol("a packet a server does not send")),
        }
    }

    fn after_connack(&mut self, now: Instant) -> Result<(), LinkError> {
        if !self.settings.subscriptions.is_empty() {
            let pid = SUBSCRIBE_PID;
            let requests = self
                .settings
                .subscriptions
                .iter()
                .map(|(filter, qos)| SubscriptionRequest {
                    filter: filter.clone(),
                    options: SubscriptionOptions {
                        qos: *qos,
                        ..SubscriptionOptions::default()
                    },
                })
                .collect();
            self.subscribe_pid = Some(pid);
            self.write(
                &Packet::Subscribe(Subscribe {
                    packet_id: pid,
                    requests,
                    properties: Properties::default(),
                }),
                now,
            )?;
        }
        if let Some(topic) = self.settings.notification_topic.clone() {
            // mosquitto publishes "1" retained on the remote once connected;
            // QoS 0 here: the will covers the other direction.
            let body = PublishBody::new(&topic, b"1")?;
            self.write(
                &Packet::Publish(publish(body, QoS::AtMostOnce, true, false, None)),
                now,
            )?;
        }
        Ok(())
    }

    fn handle_publish(
        &mut self,
        now: Instant,
        publish: Publish,
        events: &mut Vec<LinkEvent>,
    ) -> Result<(), LinkError> {
        self.stats.received += 1;
        let event = |ack| LinkEvent::Publish {
            body: publish.body,
            qos: publish.qos,
            retain: publish.retain,
            ack,
        };
        match (publish.qos, publish.packet_id) {
            (QoS::AtMostOnce, _) => events.push(event(None)),
            (QoS::AtLeastOnce, Some(pid)) => {
                events.push(event(Some(Ack::new(AckKind::PubAck, pid))));
            }
            (QoS::ExactlyOnce, Some(pid)) => {
                // Delivered on first receipt, acknowledged again on resends.
                let rec = Ack::new(AckKind::PubRec, pid);
                if self.inbound_qos2.insert(pid.get()) {
                    events.push(event(Some(rec)));
                } else {
                    self.acknowledge(rec, None, now)?;
                }
            }
            _ => return Err(LinkError::Protocol("QoS > 0 PUBLISH without packet id")),
        }
        Ok(())
    }

    /// Sends `ack` to the remote now, or once store batch `until` is
    /// durable (sync persistence: what the message changed must be on
    /// disk first). Acknowledgements leave in the order the PUBLISHes came
    /// [MQTT-4.6.0-2] [MQTT-4.6.0-3], so one behind a held one waits too.
    pub fn acknowledge(
        &mut self,
        ack: Ack,
        until: Option<u64>,
        now: Instant,
    ) -> Result<(), LinkError> {
        let behind = self.held_acks.back().map(|&(batch, _)| batch);
        match (until, behind) {
            (None, None) => self.write(&Packet::Ack(ack), now),
            (until, behind) => {
                let batch = until.unwrap_or(0).max(behind.unwrap_or(0));
                self.held_acks.push_back((batch, ack));
                Ok(())
            }
        }
    }

    /// Store batches up to `durable` are on disk: the acknowledgements
    /// they held go out.
    pub fn release_acks(&mut self, durable: u64, now: Instant) -> Result<(), LinkError> {
        while self
            .held_acks
            .front()
            .is_some_and(|&(batch, _)| batch <= durable)
        {
            if let Some((_, ack)) = self.held_acks.pop_front() {
                self.write(&Packet::Ack(ack), now)?;
            }
        }
        Ok(())
    }

    fn handle_ack(
        &mut self,
        now: Instant,
        ack: Ack,
        queue: &mut BridgeQueue,
        journal: &mut dyn QueueJournal,
    ) -> Result<(), LinkError> {
        let pid = ack.packet_id;
        match ack.kind {
            AckKind::PubAck | AckKind::PubComp => {
                if let Some(seq) = self.by_pid.remove(&pid.get()) {
                    self.inflight.remove(&seq);
                    // Only now may the entry go: the remote has
                    // acknowledged it (PUBACK, or PUBCOMP for QoS 2).
                    queue.remove(seq, journal);
                    self.stats.acked += 1;
                }
                Ok(())
            }
            AckKind::PubRec => {
                if let Some(seq) = self.by_pid.get(&pid.get()) {
                    if let Some(entry) = self.inflight.get_mut(seq) {
                        entry.stage = Stage::Released;
                    }
                }
                // PUBREL even for an unknown id, so the remote can finish.
                self.write(&Packet::Ack(Ack::new(AckKind::PubRel, pid)), now)
            }
            AckKind::PubRel => {
                self.inbound_qos2.remove(&pid.get());
                self.write(&Packet::Ack(Ack::new(AckKind::PubComp, pid)), now)
            }
        }
    }

    /// Writes what may go now: after a reconnect the unacknowledged entries
    /// once each, then new entries in order up to the window.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        queue: &mut BridgeQueue,
        journal: &mut dyn QueueJournal,
    ) -> Result<(), LinkError> {
        if !self.connected {
            return Ok(());
        }
        if self.resend_pending {
            self.resend_pending = false;
            let entries: Vec<(u64, Inflight)> =
                self.inflight.iter().map(|(s, i)| (*s, *i)).collect();
            for (seq, entry) in entries {
                let Some(message) = queue.get(seq) else {
                    // Dropped by the caps while unacknowledged.
                    self.inflight.remove(&seq);
                    self.by_pid.remove(&entry.pid.get());
                    continue;
                };
                let packet = match entry.stage {
                    Stage::Published => {
                        let body = PublishBody::new(&message.topic, &message.payload)?;
                        Packet::Publish(publish(
                            body,
                            message.qos,
                            message.retain,
                            true,
                            Some(entry.pid),
                        ))
                    }
                    Stage::Released => Packet::Ack(Ack::new(AckKind::PubRel, entry.pid)),
                };
                self.write(&packet, now)?;
                self.stats.resent += 1;
            }
        }
        while self.inflight.len() < self.settings.window.max(1) {
            let Some((seq, message)) = queue.first_from(self.cursor) else {
                break;
            };
            if message.qos != QoS::AtMostOnce && self.by_pid.contains_key(&packet_id_for(seq).get())
            {
                // A message 65,534 entries older still holds this id:
                // wait for its acknowledgement.
                break;
            }
            self.cursor = seq.saturating_add(1);
            let qos = message.qos;
            let body = PublishBody::new(&message.topic, &message.payload)?;
            let retain = message.retain;
            if qos == QoS::AtMostOnce {
                self.write(
                    &Packet::Publish(publish(body, qos, retain, false, None)),
                    now,
                )?;
                queue.remove(seq, journal);
            } else {
                let pid = packet_id_for(seq);
                self.write(
                    &Packet::Publish(publish(body, qos, retain, false, Some(pid))),
                    now,
                )?;
                self.inflight.insert(
                    seq,
                    Inflight {
                        pid,
                        stage: Stage::Published,
                    },
                );
                self.by_pid.insert(pid.get(), seq);
            }
            self.stats.sent += 1;
        }
        Ok(())
    }

    /// Whether `poll_transmit` has something to do.
    pub fn wants_transmit(&self, queue: &BridgeQueue) -> bool {
        self.connected
            && (self.resend_pending
                || (self.inflight.len() < self.settings.window.max(1)
                    && queue.first_from(self.cursor).is_some()))
    }

    fn keepalive(&self) -> Option<Duration> {
        (self.settings.keepalive > 0)
            .then(|| Duration::from_secs(u64::from(self.settings.keepalive)))
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.connected {
            return Some(self.started_at + CONNACK_TIMEOUT);
        }
        let keepalive = self.keepalive()?;
        let dead = self.last_received + keepalive + keepalive / 2;
        let ping = if self.ping_outstanding {
            self.last_sent + keepalive
        } else {
            self.last_sent.min(self.last_received) + keepalive
        };
        Some(dead.min(ping))
    }

    /// Sends PINGREQ when due; fails a link that went quiet for 1.5 ×
    /// keepalive (the remote answers PINGREQ, so silence means half-open).
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), LinkError> {
        if !self.connected {
            if now >= self.started_at + CONNACK_TIMEOUT {
                return Err(LinkError::ConnAckTimeout);
            }
            return Ok(());
        }
        let Some(keepalive) = self.keepalive() else {
            return Ok(());
        };
        if now >= self.last_received + keepalive + keepalive / 2 {
            return Err(LinkError::KeepaliveTimeout);
        }
        // Ping when we sent nothing for a keepalive (the rule), and also
        // when we heard nothing for one (a QoS 0 stream gets no answers).
        let quiet_out = now >= self.last_sent + keepalive;
        let quiet_in = !self.ping_outstanding && now >= self.last_received + keepalive;
        if quiet_out || quiet_in {
            self.write(&Packet::PingReq, now)?;
            self.ping_outstanding = true;
        }
        Ok(())
    }
}

fn publish(
    body: PublishBody,
    qos: QoS,
    retain: bool,
    dup: bool,
    packet_id: Option<PacketId>,
) -> Publish {
    Publish {
        dup,
        qos,
        retain,
        packet_id,
        body,
        properties: Properties::default(),
    }
}

#[cfg(test)]
#[path = "link/tests.rs"]
mod tests;

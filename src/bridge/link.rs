//! One bridge link's MQTT client side, sans-IO: CONNECT (with the bridge
//! flag in 3.x, a Session Expiry Interval in 5.0), SUBSCRIBE for `in`
//! rules (no-local and retain-as-published in 5.0), the outbound QoS 1/2
//! flows out of the uplink queue, inbound PUBLISH flows, keepalive and
//! half-open detection. This file holds the state and the control
//! packets; the children hold the rest: `outbound.rs` (queue entries onto
//! the wire, the resend), `inbound.rs` (the remote's PUBLISHes and the
//! acknowledgements held for the store), `timers.rs` (CONNACK deadline,
//! keepalive), `error.rs`, and `v5.rs`, what 5.0 adds — the remote's
//! CONNACK limits and the CONNECT's properties (docs/mqtt5.md, "Bridges").
//!
//! It never touches a socket or the clock: bytes to write collect in an
//! output buffer, packets come in through [`Link::handle_packet`], time
//! through `now`.
//!
//! Invariants: a queue entry is removed only by the remote's PUBACK (QoS 1)
//! or PUBCOMP (QoS 2) or a refusal (a 5.0 reason code of 0x80 or above),
//! once written for QoS 0, or when it cannot be sent (expired, over the
//! remote's Maximum Packet Size: counted in [`LinkDrops`]); at most
//! `window` QoS ≥ 1 messages are unacknowledged, and in 5.0 at most the
//! remote's Receive Maximum of those sent on the current connection; entries go out in seq order; after a reconnect every
//! unacknowledged entry is sent again exactly once (DUP, same packet id, or
//! PUBREL if the remote had PUBREC'd it) before anything new — no resend
//! storm.

#[path = "link/error.rs"]
mod error;
#[path = "link/inbound.rs"]
mod inbound;
#[path = "link/outbound.rs"]
mod outbound;
#[path = "link/timers.rs"]
mod timers;
#[path = "link/v5.rs"]
mod v5;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::codec::{
    self, Ack, AckKind, Connect, Packet, PacketId, Properties, ProtocolVersion, Publish,
    PublishBody, QoS, Subscribe, SubscriptionOptions, SubscriptionRequest, Will,
};

pub use error::LinkError;
pub use v5::LinkDrops;
use v5::RemoteLimits;

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
    /// 5.0 with `cleansession false`: the Session Expiry Interval asked
    /// for (`bridge_session_expiry_interval`).
    pub session_expiry: u32,
    /// The largest packet we decode (the broker's `max_packet_size`),
    /// announced in a 5.0 CONNECT.
    pub max_packet_size: u32,
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
        /// Its 5.0 properties as received (empty in 3.x).
        properties: Properties,
        ack: Option<Ack>,
    },
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
    /// Resent (or first sent) on the current connection.
    handled: bool,
    /// Its PUBLISH went on the current connection, so it holds one of the
    /// remote's Receive Maximum until acknowledged (MQTT 5 §4.9: the
    /// quota starts afresh with each connection).
    counts: bool,
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
    /// What the remote's CONNACK allows (5.0); no limits for 3.x.
    limits: RemoteLimits,
    drops: LinkDrops,
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
            limits: RemoteLimits::default(),
            drops: LinkDrops::default(),
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

    /// What was dropped or changed to fit the remote since the last call.
    pub fn take_drops(&mut self) -> LinkDrops {
        std::mem::take(&mut self.drops)
    }

    fn is_v5(&self) -> bool {
        self.settings.protocol.is_v5()
    }

    /// Room for one more QoS ≥ 1 PUBLISH: fewer than our window in flight,
    /// and fewer than the remote's Receive Maximum sent on this
    /// connection and unacknowledged [MQTT-3.3.4-7].
    fn may_publish(&self, new: bool) -> bool {
        let counted = self.inflight.values().filter(|e| e.counts).count();
        counted < usize::from(self.limits.receive_maximum)
            && (!new || self.inflight.len() < self.settings.window.max(1))
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
        self.limits = RemoteLimits::default();
        for entry in self.inflight.values_mut() {
            entry.handled = false;
            entry.counts = false;
        }
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
        let v5 = s.protocol.is_v5();
        let connect = Connect {
            protocol: s.protocol,
            // 5.0 has no bridge flag: its subscriptions ask for no-local.
            bridge: s.try_private && !v5,
            clean_start: s.clean_session,
            keep_alive: s.keepalive,
            client_id: s.client_id.clone(),
            will,
            username: s.username.clone(),
            password: s.password.clone(),
            properties: if v5 {
                v5::connect_properties(s)
            } else {
                Properties::default()
            },
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
                if self.is_v5() {
                    return Err(LinkError::Refused5 {
                        reason: codec::ReasonCode(connack.code),
                        reason_string: connack.properties.reason_string().map(str::to_owned),
                    });
                }
                return Err(LinkError::Refused(connack.code));
            }
            if self.is_v5() {
                self.limits = RemoteLimits::from_connack(&connack.properties)?;
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
                                "bridge {}: the remote refused the subscription to {filter:?} (code {:#04x}, {})",
                                self.settings.client_id,
                                code.0,
                                code.describe()
                            );
                        }
                    }
                }
                Ok(())
            }
            Packet::PingResp | Packet::UnsubAck(_) => Ok(()),
            Packet::Disconnect(d) if self.is_v5() => Err(LinkError::Disconnected {
                reason: d.reason,
                reason_string: d.properties.reason_string().map(str::to_owned),
            }),
            Packet::Disconnect(_) => Err(LinkError::Protocol("DISCONNECT from the remote")),
            _ => Err(LinkError::Protocol("a packet a server does not send")),
        }
    }

    fn after_connack(&mut self, now: Instant) -> Result<(), LinkError> {
        let v5 = self.is_v5();
        if !self.settings.subscriptions.is_empty() {
            let pid = SUBSCRIBE_PID;
            let requests = self
                .settings
                .subscriptions
                .iter()
                .map(|(filter, qos)| SubscriptionRequest {
                    filter: filter.clone(),
                    // 5.0: loop prevention without the bridge flag — our
                    // own publishes are not sent back [MQTT-3.8.3-3] — and
                    // retained flags as published, as a 3.x bridge gets
                    // them [MQTT-3.3.1-12]. Both are ignored in 3.x.
                    options: SubscriptionOptions {
                        qos: *qos,
                        no_local: v5,
                        retain_as_published: v5,
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
            let retain = self.limits.retain_available;
            self.write(
                &Packet::Publish(publish(body, QoS::AtMostOnce, retain, false, None)),
                now,
            )?;
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
        let seq = self.by_pid.get(&pid.get()).copied();
        match ack.kind {
            AckKind::PubAck | AckKind::PubComp => {
                if let Some(seq) = seq {
                    if ack.kind == AckKind::PubAck && ack.reason.is_error() {
                        self.refused(ack.reason);
                    } else {
                        self.stats.acked += 1;
                    }
                    // Only now may the entry go: the remote has
                    // acknowledged (or refused) it.
                    self.finish(seq, queue, journal);
                }
                Ok(())
            }
            AckKind::PubRec if ack.reason.is_error() => {
                // The exchange ends here, no PUBREL [MQTT-4.3.3-4]; the
                // remote will not take this message.
                if let Some(seq) = seq {
                    self.refused(ack.reason);
                    self.finish(seq, queue, journal);
                }
                Ok(())
            }
            AckKind::PubRec => {
                if let Some(entry) = seq.and_then(|seq| self.inflight.get_mut(&seq)) {
                    entry.stage = Stage::Released;
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

    fn refused(&mut self, reason: codec::ReasonCode) {
        self.drops.refused += 1;
        self.drops.last_refusal = Some(reason);
    }

    /// Entry `seq` is done with: out of the window and the queue.
    fn finish(&mut self, seq: u64, queue: &mut BridgeQueue, journal: &mut dyn QueueJournal) {
        if let Some(entry) = self.inflight.remove(&seq) {
            self.by_pid.remove(&entry.pid.get());
        }
        queue.remove(seq, journal);
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
        if self.resend_pending && !self.resend(now, queue, journal)? {
            // Waiting for the remote's quota to resend the rest first.
            return Ok(());
        }
        while self.may_publish(true) {
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
            self.send_entry(now, seq, false, queue, journal)?;
        }
        Ok(())
    }

    /// Whether `poll_transmit` has something to do.
    pub fn wants_transmit(&self, queue: &BridgeQueue) -> bool {
        self.connected
            && if self.resend_pending {
                self.may_publish(false)
            } else {
                self.may_publish(true) && queue.first_from(self.cursor).is_some()
            }
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

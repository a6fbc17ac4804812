//! The broker core (sans-IO) driven by several clients and a clock, as
//! `net` drives it, from a script the input spells out: connects of every
//! protocol version, subscribes, publishes, acknowledgements, closes,
//! timer ticks, and raw bytes decoded as a client would send them.
//!
//! Checked after every step:
//! - nothing panics;
//! - the tables stay within the caps the settings give them
//!   (connections, sessions, each session's queue and subscriptions,
//!   retained messages);
//! - while the script sends only well-formed QoS 1 and 2 traffic, every
//!   copy of a message the broker accepted for a matching subscription is
//!   accounted for: sent, still queued, dropped by policy (a `Stats`
//!   counter), or lost with a session that ended (clean start, expiry).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use edgemq::broker::{Broker, ClientQuery, ConnId, ListenerId, Settings, Stats};
use edgemq::codec::{
    self, Ack, AckKind, Connect, Decoded, Disconnect, Packet, PacketId, Properties, Property,
    ProtocolVersion, Publish, PublishBody, QoS, Subscribe, SubscriptionOptions,
    SubscriptionRequest, Unsubscribe,
};
use edgemq::session::QueueLimits;

const CLIENTS: usize = 4;
const MAX_CONNECTIONS: usize = 3;
const MAX_SESSIONS: usize = 3;
const MAX_QUEUED: usize = 3;
const MAX_INFLIGHT: usize = 2;
const MAX_SUBSCRIPTIONS: usize = 3;
const MAX_RETAINED: usize = 2;
/// Steps per input: keeps one run short whatever the input's length.
const MAX_STEPS: usize = 256;

const TOPICS: [&str; 4] = ["t/a", "t/b", "u/c", "t/a/d"];
const FILTERS: [&str; 6] = ["t/a", "t/+", "#", "u/#", "t/b", "+/+/d"];

fn settings() -> Settings {
    let defaults = Settings::default();
    Settings {
        max_connections: MAX_CONNECTIONS,
        max_sessions: MAX_SESSIONS,
        queue: QueueLimits {
            max_queued: MAX_QUEUED,
            max_inflight: MAX_INFLIGHT,
            max_outbound_bytes: 2048,
            ..defaults.queue
        },
        max_subscriptions_per_client: MAX_SUBSCRIPTIONS,
        max_retained_messages: MAX_RETAINED,
        max_packet_size: 1024,
        persistent_client_expiration: Some(Duration::from_secs(60)),
        backpressure_timeout: Duration::from_secs(5),
        ..defaults
    }
}

/// One of the script's clients.
#[derive(Default)]
struct Client {
    conn: Option<ConnId>,
    next_id: u16,
    /// The last CONNECT was MQTT 3.1 without clean session: its CONNACK
    /// cannot say the session was kept (3.1 has no Session Present flag).
    resume_unsaid: bool,
    /// The session as the last accepted CONNECT left it outlives its
    /// connection (3.x: clean session 0; 5.0: Session Expiry above 0). A
    /// takeover of one that does not ends it, as mosquitto does: the only
    /// way to tell after a 3.1 CONNACK.
    persistent: bool,
    /// What the CONNECT in flight asks for, `persistent` once accepted.
    asked_persistent: bool,
    /// Acknowledgements owed to the broker, sent by the `Ack` step.
    owed: Vec<Packet>,
}

impl Client {
    fn packet_id(&mut self) -> PacketId {
        self.next_id = self.next_id.wrapping_add(1);
        PacketId::new(self.next_id).unwrap_or(PacketId::MIN)
    }
}

struct Run {
    broker: Broker,
    now: Instant,
    clients: [Client; CLIENTS],
    /// Raw packets or retained messages make the script's model too weak
    /// for an exact count: only "nothing lost" is checked then.
    exact: bool,
    model: bool,
    expected: u64,
    first_sends: u64,
    discarded: u64,
    /// Queued messages per client id after the last step.
    queued: BTreeMap<String, usize>,
    /// `dropped()` when this step began, and how much of its growth
    /// went to queues trimmed as their session ended.
    dropped_before: u64,
    trimmed: u64,
    /// Connections a client left for a newer one (a takeover): still
    /// written to and closed when the broker closes them.
    orphans: Vec<ConnId>,
}

/// Connections left behind by reconnects, at most: older ones are closed.
const MAX_ORPHANS: usize = 4;

/// The input is a script, a step per opcode byte and its arguments.
pub fn broker(data: &[u8]) {
    let mut run = Run {
        broker: Broker::new(settings(), 7),
        now: Instant::now(),
        clients: Default::default(),
        exact: true,
        model: true,
        expected: 0,
        first_sends: 0,
        discarded: 0,
        queued: BTreeMap::new(),
        dropped_before: 0,
        trimmed: 0,
        orphans: Vec::new(),
    };
    let mut input = data.iter().copied();
    for _ in 0..MAX_STEPS {
        let Some(op) = input.next() else { break };
        let arg = input.next().unwrap_or(0);
        let slot = usize::from(op >> 4) % CLIENTS;
        run.dropped_before = dropped(run.broker.stats());
        run.trimmed = 0;
        run.step(op & 0x0f, slot, arg, &mut input);
        run.settle();
        run.check();
    }
    run.broker.handle_shutdown(run.now);
}

impl Run {
    fn step(&mut self, op: u8, slot: usize, arg: u8, input: &mut impl Iterator<Item = u8>) {
        match op {
            0 | 1 => self.connect(slot, arg),
            2 => {
                let qos = if arg & 0x80 == 0 {
                    QoS::AtLeastOnce
                } else {
                    QoS::ExactlyOnce
                };
                let filter = FILTERS[usize::from(arg) % FILTERS.len()];
                let packet_id = self.clients[slot].packet_id();
                self.send(
                    slot,
                    Packet::Subscribe(Subscribe {
                        packet_id,
                        requests: vec![SubscriptionRequest {
                            filter: filter.to_owned(),
                            options: SubscriptionOptions {
                                qos,
                                ..Default::default()
                            },
                        }],
                        properties: Properties::default(),
                    }),
                );
            }
            3 => {
                let filter = FILTERS[usize::from(arg) % FILTERS.len()];
                let packet_id = self.clients[slot].packet_id();
                self.send(
                    slot,
                    Packet::Unsubscribe(Unsubscribe {
                        packet_id,
                        filters: vec![filter.to_owned()],
                        properties: Properties::default(),
                    }),
                );
            }
            4..=6 => self.publish(slot, arg),
            7 => {
                let owed = std::mem::take(&mut self.clients[slot].owed);
                for packet in owed {
                    self.send(slot, packet);
                }
            }
            8 => {
                self.send(slot, Packet::Disconnect(Disconnect::default()));
                self.close(slot);
            }
            9 => self.close(slot),
            10 | 11 => {
                let by = match arg % 4 {
                    0 => Duration::from_millis(100),
                    1 => Duration::from_secs(1),
                    2 => Duration::from_secs(30),
                    _ => Duration::from_secs(600),
                };
                self.now += by;
                self.broker.handle_timeout(self.now);
            }
            12 => self.send(slot, Packet::PingReq),
            _ => {
                // Raw bytes: what a misbehaving client sends.
                let bytes: Vec<u8> = input.take(usize::from(arg % 64)).collect();
                self.raw(slot, &bytes);
            }
        }
    }

    fn connect(&mut self, slot: usize, arg: u8) {
        let Some(conn) = self
            .broker
            .handle_open(self.now, listener(), peer().into())
            .ok()
        else {
            return;
        };
        let protocol = match arg % 3 {
            0 => ProtocolVersion::V3_1,
            1 => ProtocolVersion::V3_1_1,
            _ => ProtocolVersion::V5,
        };
        let mut properties = Vec::new();
        if protocol.is_v5() && arg & 0x08 != 0 {
            properties.push(Property::SessionExpiryInterval(if arg & 0x10 != 0 {
                u32::MAX
            } else {
                20
            }));
        }
        if let Some(old) = self.clients[slot].conn.replace(conn) {
            if self.orphans.len() >= MAX_ORPHANS {
                let oldest = self.orphans.remove(0);
                self.broker.handle_closed(self.now, oldest);
            }
            self.orphans.push(old);
        }
        self.clients[slot].owed.clear();
        self.clients[slot].resume_unsaid = protocol == ProtocolVersion::V3_1 && arg & 0x04 == 0;
        self.clients[slot].asked_persistent = if protocol.is_v5() {
            arg & 0x08 != 0
        } else {
            arg & 0x04 == 0
        };
        // A socket that sends nothing yet: raw bytes or the connect
        // timeout come next.
        if arg & 0x40 != 0 {
            return;
        }
        self.send(
            slot,
            Packet::Connect(Box::new(Connect {
                protocol,
                bridge: false,
                clean_start: arg & 0x04 != 0,
                keep_alive: if arg & 0x20 != 0 { 10 } else { 0 },
                client_id: format!("c{slot}"),
                will: None,
                username: None,
                password: None,
                properties: Properties(properties),
            })),
        );
    }

    fn publish(&mut self, slot: usize, arg: u8) {
        let qos = if arg & 0x01 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        let retain = arg & 0x02 != 0;
        let topic = TOPICS[usize::from(arg >> 2) % TOPICS.len()];
        let payload = vec![b'x'; usize::from(arg >> 4) * 40];
        let Some(body) = PublishBody::new(topic, &payload).ok() else {
            return;
        };
        let copies = self.matching_sessions(topic);
        let received = self.broker.stats().messages_received;
        let packet_id = self.clients[slot].packet_id();
        self.send(
            slot,
            Packet::Publish(Publish {
                dup: false,
                qos,
                retain,
                packet_id: Some(packet_id),
                body,
                properties: Properties::default(),
            }),
        );
        if self.broker.stats().messages_received > received {
            self.expected += copies;
            if retain {
                self.exact = false;
            }
        }
    }

    fn raw(&mut self, slot: usize, bytes: &[u8]) {
        self.model = false;
        let Some(conn) = self.clients[slot].conn else {
            return;
        };
        let version = self.broker.version(conn);
        match codec::decode(bytes, version, 1024) {
            Ok(Decoded::Packet(packet, _)) => self.broker.handle_packet(self.now, conn, packet),
            Ok(Decoded::Incomplete) => {}
            Err(error) => self.broker.handle_decode_error(self.now, conn, &error),
        }
    }

    /// A packet from the client, unless `net` would not read it now.
    fn send(&mut self, slot: usize, packet: Packet) {
        let Some(conn) = self.clients[slot].conn else {
            return;
        };
        if self.broker.closing(conn).is_some() || !self.broker.read_allowed(conn) {
            return;
        }
        self.broker.handle_packet(self.now, conn, packet);
    }

    /// The socket closed.
    fn close(&mut self, slot: usize) {
        if let Some(conn) = self.clients[slot].conn.take() {
            self.broker.handle_closed(self.now, conn);
        }
    }

    /// Writes out what the broker queued, answers it, closes what it
    /// closed, and accounts for sessions that ended.
    fn settle(&mut self) {
        self.drain_all();
        let before = self.snapshot();
        self.account_ended(&before);
        for slot in 0..CLIENTS {
            if let Some(conn) = self.clients[slot].conn {
                if self.broker.closing(conn).is_some() {
                    self.close(slot);
                }
            }
        }
        let (closing, open): (Vec<ConnId>, Vec<ConnId>) = self
            .orphans
            .iter()
            .partition(|&&conn| self.broker.closing(conn).is_some());
        self.orphans = open;
        for conn in closing {
            self.broker.handle_closed(self.now, conn);
        }
        // A close may publish a will, or let a queue move.
        self.drain_all();
        let after = self.snapshot();
        self.account_ended(&after);
    }

    /// Sessions in the last snapshot missing from `now` lost their queue.
    fn account_ended(&mut self, now: &BTreeMap<String, usize>) {
        let ended: Vec<usize> = self
            .queued
            .iter()
            .filter(|(id, _)| !now.contains_key(*id))
            .map(|(_, &queued)| queued)
            .collect();
        for queued in ended {
            self.discard(queued);
        }
        self.queued = now.clone();
    }

    /// A session ended with `queued` messages. A queue over `max_queued`
    /// (back-pressure's overflow) is first trimmed to it as the session
    /// goes offline, and those drops are counted: not discarded twice.
    fn discard(&mut self, queued: usize) {
        let grown = dropped(self.broker.stats()) - self.dropped_before;
        let overflow = queued.saturating_sub(MAX_QUEUED) as u64;
        let trimmed = overflow.min(grown - self.trimmed);
        self.trimmed += trimmed;
        self.discarded += queued as u64 - trimmed;
    }

    /// Until no connection has anything to write (answers may bring
    /// more), a few rounds at most.
    fn drain_all(&mut self) {
        for _ in 0..4 {
            let mut wrote = false;
            for slot in 0..CLIENTS {
                if let Some(conn) = self.clients[slot].conn {
                    for packet in self.written(conn) {
                        wrote = true;
                        self.answer(slot, packet);
                    }
                }
            }
            for conn in self.orphans.clone() {
                for packet in self.written(conn) {
                    wrote = true;
                    self.count_send(&packet);
                }
            }
            if !wrote {
                break;
            }
        }
    }

    /// What the broker wrote to `conn`, read back; marked written.
    fn written(&mut self, conn: ConnId) -> Vec<Packet> {
        let mut frames = VecDeque::new();
        self.broker.take_outbound(conn, &mut frames);
        let mut bytes = Vec::new();
        for frame in &frames {
            for part in frame.slices() {
                bytes.extend_from_slice(part);
            }
        }
        self.broker.handle_written(conn, bytes.len());
        let version = self.broker.version(conn);
        let mut packets = Vec::new();
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let Ok(Decoded::Packet(packet, used)) = codec::decode(rest, version, usize::MAX) else {
                panic!("the broker wrote a frame it cannot read back: {rest:?}");
            };
            rest = &rest[used..];
            packets.push(packet);
        }
        packets
    }

    fn count_send(&mut self, packet: &Packet) {
        if let Packet::Publish(p) = packet {
            if p.qos != QoS::AtMostOnce && !p.dup && !p.retain {
                self.first_sends += 1;
            }
        }
    }

    fn answer(&mut self, slot: usize, packet: Packet) {
        self.count_send(&packet);
        match packet {
            // A session that was there and is not present any more lost
            // its queue with it.
            Packet::ConnAck(ack) if ack.code == 0 => {
                let client = &mut self.clients[slot];
                let kept = if client.resume_unsaid {
                    client.persistent
                } else {
                    ack.session_present
                };
                client.persistent = client.asked_persistent;
                if !kept {
                    if let Some(queued) = self.queued.remove(&format!("c{slot}")) {
                        self.discard(queued);
                    }
                }
            }
            Packet::Publish(p) => {
                if let Some(id) = p.packet_id {
                    let kind = match p.qos {
                        QoS::ExactlyOnce => AckKind::PubRec,
                        _ => AckKind::PubAck,
                    };
                    self.clients[slot]
                        .owed
                        .push(Packet::Ack(Ack::new(kind, id)));
                }
            }
            // Our QoS 2 publish: released at once, as clients do.
            Packet::Ack(ack) if ack.kind == AckKind::PubRec => {
                self.send(slot, Packet::Ack(Ack::new(AckKind::PubRel, ack.packet_id)));
            }
            Packet::Ack(ack) if ack.kind == AckKind::PubRel => self.clients[slot]
                .owed
                .push(Packet::Ack(Ack::new(AckKind::PubComp, ack.packet_id))),
            _ => {}
        }
    }

    /// Queued messages per client id, every session online or not.
    fn snapshot(&self) -> BTreeMap<String, usize> {
        let query = ClientQuery {
            page: 1,
            limit: 1000,
            ..Default::default()
        };
        let (clients, _) = self.broker.clients(self.now, &query);
        clients
            .into_iter()
            .map(|c| (c.client_id, c.queued))
            .collect()
    }

    /// Sessions subscribed to `topic` (each gets one copy).
    fn matching_sessions(&self, topic: &str) -> u64 {
        let mut copies = 0;
        for id in self.queued.keys() {
            let Some(detail) = self.broker.client(self.now, id) else {
                continue;
            };
            if detail
                .subscriptions
                .iter()
                .any(|(filter, options)| options.qos != QoS::AtMostOnce && matches(filter, topic))
            {
                copies += 1;
            }
        }
        copies
    }

    fn check(&self) {
        let b = &self.broker;
        assert!(
            b.connection_count() <= MAX_CONNECTIONS,
            "connections over the cap"
        );
        assert!(b.session_count() <= MAX_SESSIONS, "sessions over the cap");
        let query = ClientQuery {
            page: 1,
            limit: 1000,
            ..Default::default()
        };
        for client in b.clients(self.now, &query).0 {
            // Back-pressure lets each paused publisher overflow a queue
            // by one (src/broker/backpressure.rs), and at most every
            // open connection is paused.
            assert!(
                client.queued <= MAX_QUEUED + MAX_CONNECTIONS,
                "{} queued over the cap",
                client.client_id
            );
            assert!(
                client.inflight <= MAX_INFLIGHT,
                "{} inflight over the cap",
                client.client_id
            );
            assert!(
                client.subscriptions <= MAX_SUBSCRIPTIONS,
                "{} subscriptions over the cap",
                client.client_id
            );
        }
        if let Ok(retained) = b.retained_list(self.now, None) {
            assert!(
                retained.len() <= MAX_RETAINED,
                "retained messages over the cap"
            );
        }
        if !self.model {
            return;
        }
        let queued: u64 = self.queued.values().map(|&q| q as u64).sum();
        let accounted = self.first_sends + queued + dropped(b.stats()) + self.discarded;
        assert!(
            accounted >= self.expected,
            "QoS>=1 copies lost: {} expected, {} sent, {queued} queued, {} dropped, {} discarded",
            self.expected,
            self.first_sends,
            dropped(b.stats()),
            self.discarded
        );
        if self.exact {
            assert_eq!(
                accounted,
                self.expected,
                "QoS>=1 copies from nowhere: {} sent, {queued} queued, {} dropped, {} discarded",
                self.first_sends,
                dropped(b.stats()),
                self.discarded
            );
        }
    }
}

/// Copies the broker dropped by a policy it counts.
fn dropped(stats: &Stats) -> u64 {
    stats.dropped_offline_queue_full
        + stats.dropped_lagging
        + stats.dropped_online_queue_full
        + stats.dropped_store_full
        + stats.messages_expired
        + stats.dropped_client_packet_size
        + stats.acl_denied_delivery
}

/// MQTT topic matching for the script's filters and topics.
fn matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

fn listener() -> ListenerId {
    ListenerId::new(0).expect("listener 0 exists")
}

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40000))
}

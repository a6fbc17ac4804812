//! Broker tests on a simulated clock: packets in, frames out, no sockets,
//! no sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::codec::{
    self, Ack, AckKind, Connect, Decoded, Packet, PacketId, Properties, ProtocolVersion, Publish,
    PublishBody, QoS, Subscribe, SubscriptionOptions, SubscriptionRequest, Will,
};
use crate::config::DuplicateClientId;

use super::{Broker, CloseReason, ConnId, ListenerId, Settings};

struct Harness {
    broker: Broker,
    now: Instant,
}

fn peer() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

fn connect_packet(client_id: &str, clean: bool, keep_alive: u16, will: Option<Will>) -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol: ProtocolVersion::V3_1_1,
        bridge: false,
        clean_start: clean,
        keep_alive,
        client_id: client_id.to_string(),
        will,
        username: None,
        password: None,
        properties: Properties::default(),
    }))
}

/// An MQTT 5 CONNECT with these properties.
fn connect5_packet(
    client_id: &str,
    clean: bool,
    properties: Vec<codec::Property>,
    will: Option<Will>,
) -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol: ProtocolVersion::V5,
        bridge: false,
        clean_start: clean,
        keep_alive: 0,
        client_id: client_id.to_string(),
        will,
        username: None,
        password: None,
        properties: Properties(properties),
    }))
}

fn publish_packet(topic: &str, payload: &[u8], qos: QoS, id: u16) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        packet_id: PacketId::new(id),
        body: PublishBody::new(topic, payload).unwrap(),
        properties: Properties::default(),
    })
}

impl Harness {
    fn new(settings: Settings) -> Harness {
        Harness {
            broker: Broker::new(settings, 7),
            now: Instant::now(),
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.broker.handle_timeout(self.now);
    }

    fn open(&mut self) -> ConnId {
        let listener = ListenerId::new(0).unwrap();
        self.broker
            .handle_open(self.now, listener, peer().into())
            .unwrap()
    }

    fn send(&mut self, conn: ConnId, packet: Packet) {
        self.broker.handle_packet(self.now, conn, packet);
    }

    /// Everything the broker queued for `conn`, decoded; marks it written.
    fn received(&mut self, conn: ConnId) -> Vec<Packet> {
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
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            match codec::decode(rest, version, usize::MAX).unwrap() {
                Decoded::Packet(packet, used) => {
                    packets.push(packet);
                    rest = &rest[used..];
                }
                Decoded::Incomplete => panic!("partial frame"),
            }
        }
        packets
    }

    fn connect(&mut self, client_id: &str, clean: bool) -> ConnId {
        let conn = self.open();
        self.send(conn, connect_packet(client_id, clean, 0, None));
        match self.received(conn).as_slice() {
            [Packet::ConnAck(ack)] => assert_eq!(ack.code, 0),
            other => panic!("expected CONNACK, got {other:?}"),
        }
        conn
    }

    fn subscribe(&mut self, conn: ConnId, filter: &str, qos: QoS) {
        self.send(
            conn,
            Packet::Subscribe(Subscribe {
                packet_id: PacketId::new(1).unwrap(),
                requests: vec![SubscriptionRequest {
                    filter: filter.to_string(),
                    options: SubscriptionOptions {
                        qos,
                        ..Default::default()
                    },
                }],
                properties: Properties::default(),
            }),
        );
        assert!(matches!(
            self.received(conn).as_slice(),
            [Packet::SubAck(_)]
        ));
    }
}

/// (topic, payload, qos, dup, packet id) of each PUBLISH.
type Delivered = (String, Vec<u8>, QoS, bool, Option<PacketId>);

fn publishes(packets: &[Packet]) -> Vec<Delivered> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((
                p.body.topic().to_string(),
                p.body.payload().to_vec(),
                p.qos,
                p.dup,
                p.packet_id,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn qos1_round_trip_and_downgrade() {
    let mut h = Harness::new(Settings::default());
    let sub = h.connect("sub", true);
    h.subscribe(sub, "a/+", QoS::AtLeastOnce);
    let publisher = h.connect("pub", true);
    h.send(
        publisher,
        publish_packet("a/b", b"one", QoS::ExactlyOnce, 5),
    );
    assert!(matches!(
        h.received(publisher).as_slice(),
        [Packet::Ack(Ack {
            kind: AckKind::PubRec,
            ..
        })]
    ));
    let got = publishes(&h.received(sub));
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].2,
        QoS::AtLeastOnce,
        "downgraded to the subscription's QoS"
    );
}

#[test]
fn overlapping_subscriptions_deliver_one_copy_at_highest_qos() {
    let mut h = Harness::new(Settings::default());
    let sub = h.connect("sub", true);
    h.subscribe(sub, "a/#", QoS::AtMostOnce);
    h.subscribe(sub, "a/b", QoS::ExactlyOnce);
    let publisher = h.connect("pub", true);
    h.send(publisher, publish_packet("a/b", b"x", QoS::ExactlyOnce, 1));
    let got = publishes(&h.received(sub));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, QoS::ExactlyOnce);
}

#[test]
fn offline_queue_keeps_the_newest_ten_in_order() {
    let mut h = Harness::new(Settings::default());
    let sub = h.connect("sub", false);
    h.subscribe(sub, "t", QoS::AtLeastOnce);
    h.send(sub, Packet::Disconnect(Default::default()));
    h.broker.handle_closed(h.now, sub);
    let publisher = h.connect("pub", true);
    for i in 0..15u16 {
        h.send(
            publisher,
            publish_packet("t", format!("{i}").as_bytes(), QoS::AtLeastOnce, i + 1),
        );
    }
    assert_eq!(h.broker.stats().dropped_offline_queue_full, 5);
    let conn = h.open();
    h.send(conn, connect_packet("sub", false, 0, None));
    let packets = h.received(conn);
    assert!(matches!(&packets[0], Packet::ConnAck(ack) if ack.session_present));
    let payloads: Vec<Vec<u8>> = publishes(&packets).into_iter().map(|p| p.1).collect();
    let expected: Vec<Vec<u8>> = (5..15).map(|i: i32| i.to_string().into_bytes()).collect();
    assert_eq!(payloads, expected);
}

#[test]
fn full_queue_pauses_the_publisher_until_acks_make_room() {
    let mut h = Harness::new(Settings::default());
    let sub = h.connect("sub", true);
    h.subscribe(sub, "t", QoS::AtLeastOnce);
    let publisher = h.connect("pub", true);
    // 20 fill the window, the 10th queued fills the queue.
    for i in 0..29u16 {
        h.send(
            publisher,
            publish_packet("t", b"x", QoS::AtLeastOnce, i + 1),
        );
        assert!(
            h.broker.read_allowed(publisher),
            "paused early at message {i}"
        );
    }
    h.send(publisher, publish_packet("t", b"x", QoS::AtLeastOnce, 30));
    assert!(
        !h.broker.read_allowed(publisher),
        "the 30th message fills the queue"
    );
    let delivered = publishes(&h.received(sub));
    assert_eq!(delivered.len(), 20);
    let first = delivered[0].4.unwrap();
    h.send(sub, Packet::Ack(Ack::new(AckKind::PubAck, first)));
    assert!(
        h.broker.read_allowed(publisher),
        "room again: publisher resumes"
    );
    assert_eq!(
        publishes(&h.received(sub)).len(),
        1,
        "the window refilled by one"
    );
}

#[test]
fn a_client_full_past_the_timeout_becomes_lagging_and_drops_oldest() {
    let mut h = Harness::new(Settings::default());
    let stuck = h.connect("stuck", true);
    h.subscribe(stuck, "t", QoS::AtLeastOnce);
    let publisher = h.connect("pub", true);
    for i in 0..30u16 {
        h.send(
            publisher,
            publish_packet("t", &i.to_be_bytes(), QoS::AtLeastOnce, i + 1),
        );
    }
    assert!(!h.broker.read_allowed(publisher));
    h.advance(Duration::from_secs(4));
    assert!(
        !h.broker.read_allowed(publisher),
        "not lagging before backpressure_timeout"
    );
    h.advance(Duration::from_secs(2));
    assert!(
        h.broker.read_allowed(publisher),
        "lagging releases the publisher"
    );
    for i in 30..40u16 {
        h.send(
            publisher,
            publish_packet("t", &i.to_be_bytes(), QoS::AtLeastOnce, i + 1),
        );
        assert!(h.broker.read_allowed(publisher));
    }
    assert_eq!(h.broker.stats().dropped_lagging, 10);
    assert_eq!(h.broker.stats().lagging_events, 1);
}

#[test]
fn qos0_beyond_max_outbound_bytes_is_dropped_and_counted() {
    let settings = Settings {
        queue: crate::session::QueueLimits {
            max_outbound_bytes: 1000,
            ..Settings::default().queue
        },
        ..Settings::default()
    };
    let mut h = Harness::new(settings);
    let sub = h.connect("sub", true);
    h.subscribe(sub, "t", QoS::AtMostOnce);
    let publisher = h.connect("pub", true);
    for _ in 0..20 {
        h.send(
            publisher,
            publish_packet("t", &[0u8; 100], QoS::AtMostOnce, 0),
        );
    }
    let delivered = publishes(&h.received(sub)).len();
    assert!((9..20).contains(&delivered), "delivered {delivered}");
    assert_eq!(
        h.broker.stats().dropped_qos0_outbound_full as usize,
        20 - delivered
    );
}

#[test]
fn keepalive_expiry_publishes_the_will_and_disconnect_does_not() {
    let mut h = Harness::new(Settings::default());
    let sub = h.connect("sub", true);
    h.subscribe(sub, "will/#", QoS::AtLeastOnce);
    let will = |topic: &str| Will {
        topic: topic.to_string(),
        payload: b"gone".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties::default(),
    };
    let quiet = h.open();
    h.send(
        quiet,
        connect_packet("quiet", true, 10, Some(will("will/quiet"))),
    );
    let polite = h.open();
    h.send(
        polite,
        connect_packet("polite", true, 10, Some(will("will/polite"))),
    );
    h.send(polite, Packet::Disconnect(Default::default()));
    h.advance(Duration::from_secs(14));
    assert_eq!(
        h.broker.closing(quiet),
        None,
        "1.5 × keepalive has not passed"
    );
    h.advance(Duration::from_millis(1100));
    assert_eq!(h.broker.closing(quiet), Some(CloseReason::KeepAliveTimeout));
    let topics: Vec<String> = publishes(&h.received(sub))
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(topics, vec!["will/quiet".to_string()]);
}

#[test]
fn connect_timeout_closes_a_silent_connection() {
    let mut h = Harness::new(Settings::default());
    let conn = h.open();
    h.advance(Duration::from_secs(9));
    assert_eq!(h.broker.closing(conn), None);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.broker.closing(conn), Some(CloseReason::ConnectTimeout));
}

#[test]
fn persistent_sessions_expire_after_the_configured_time() {
    let mut h = Harness::new(Settings::default());
    let conn = h.connect("p", false);
    h.broker.handle_closed(h.now, conn);
    assert_eq!(h.broker.session_count(), 1);
    h.advance(Duration::from_secs(7199));
    assert_eq!(h.broker.session_count(), 1);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.broker.session_count(), 0);
    assert_eq!(h.broker.stats().sessions_expired, 1);
}

#[test]
fn takeover_closes_the_old_connection_and_reject_refuses_the_new() {
    let mut h = Harness::new(Settings::default());
    let first = h.connect("dup", false);
    let second = h.connect("dup", false);
    assert_eq!(h.broker.closing(first), Some(CloseReason::TakenOver));
    assert_eq!(h.broker.closing(second), None);

    let settings = Settings {
        duplicate_client_id: DuplicateClientId::Reject,
        ..Settings::default()
    };
    let mut h = Harness::new(settings);
    let first = h.connect("dup", false);
    let second = h.open();
    h.send(second, connect_packet("dup", false, 0, None));
    assert!(matches!(h.received(second).as_slice(), [Packet::ConnAck(ack)] if ack.code == 2));
    assert_eq!(h.broker.closing(second), Some(CloseReason::Refused));
    assert_eq!(h.broker.closing(first), None);
}

#[test]
fn max_sessions_refuses_with_server_unavailable() {
    let settings = Settings {
        max_sessions: 1,
        ..Settings::default()
    };
    let mut h = Harness::new(settings);
    let first = h.connect("one", false);
    h.broker.handle_closed(h.now, first);
    let conn = h.open();
    h.send(conn, connect_packet("two", true, 0, None));
    assert!(matches!(h.received(conn).as_slice(), [Packet::ConnAck(ack)] if ack.code == 3));
    assert_eq!(h.broker.stats().refused_max_sessions, 1);
    h.connect("one", false);
}

#[test]
fn unacknowledged_messages_are_resent_with_dup_on_resume() {
    let mut h = Harness::new(Settings::default());
    let sub = h.connect("sub", false);
    h.subscribe(sub, "t", QoS::ExactlyOnce);
    let publisher = h.connect("pub", true);
    h.send(publisher, publish_packet("t", b"1", QoS::AtLeastOnce, 1));
    h.send(publisher, publish_packet("t", b"2", QoS::ExactlyOnce, 2));
    let first = publishes(&h.received(sub));
    assert_eq!(first.len(), 2);
    assert!(!first[0].3 && !first[1].3);
    // PUBREC for the QoS 2 one: a PUBREL is owed across the reconnect.
    h.send(
        sub,
        Packet::Ack(Ack::new(AckKind::PubRec, first[1].4.unwrap())),
    );
    h.received(sub);
    h.broker.handle_closed(h.now, sub);
    let conn = h.open();
    h.send(conn, connect_packet("sub", false, 0, None));
    let packets = h.received(conn);
    let resent = publishes(&packets);
    assert_eq!(resent.len(), 1);
    assert!(resent[0].3, "DUP set on resend");
    assert_eq!(resent[0].4, first[0].4, "same packet id");
    assert!(packets.iter().any(|p| matches!(p, Packet::Ack(a) if a.kind == AckKind::PubRel && Some(a.packet_id) == first[1].4)));
}

#[test]
fn keepalive_over_max_keepalive_is_refused_in_3x() {
    let settings = Settings {
        max_keepalive: 60,
        ..Settings::default()
    };
    let mut h = Harness::new(settings);
    let conn = h.open();
    h.send(conn, connect_packet("slow", true, 61, None));
    assert!(matches!(h.received(conn).as_slice(), [Packet::ConnAck(ack)] if ack.code == 2));
    assert_eq!(h.broker.closing(conn), Some(CloseReason::Refused));
    let ok = h.open();
    h.send(ok, connect_packet("fine", true, 60, None));
    assert!(matches!(h.received(ok).as_slice(), [Packet::ConnAck(ack)] if ack.code == 0));
}

#[test]
fn over_memory_limit_publishes_are_refused_until_it_falls() {
    let settings = Settings {
        memory_limit: 1_000_000,
        ..Settings::default()
    };
    let mut h = Harness::new(settings);
    let sub = h.connect("sub", true);
    h.subscribe(sub, "t", QoS::AtMostOnce);
    let publisher = h.connect("pub", true);
    h.broker.handle_memory_usage(h.now, 2_000_000);
    h.send(
        publisher,
        publish_packet("t", b"dropped", QoS::AtMostOnce, 0),
    );
    assert!(publishes(&h.received(sub)).is_empty());
    assert_eq!(h.broker.stats().refused_memory_limit, 1);
    h.send(
        publisher,
        publish_packet("t", b"refused", QoS::AtLeastOnce, 1),
    );
    assert_eq!(
        h.broker.closing(publisher),
        Some(CloseReason::ProtocolError),
        "QoS 1 is refused by closing in 3.x"
    );
    h.broker.handle_memory_usage(h.now, 500_000);
    let publisher = h.connect("pub2", true);
    h.send(publisher, publish_packet("t", b"ok", QoS::AtMostOnce, 0));
    assert_eq!(publishes(&h.received(sub)).len(), 1);
}

/// The kinds of op in a store batch, for assertions.
fn op_kinds(ops: &[super::StoreOp]) -> Vec<&'static str> {
    ops.iter()
        .map(|op| match op {
            super::StoreOp::PutSession { .. } => "session",
            super::StoreOp::PutMessage { .. } => "message",
            super::StoreOp::PutDelivery { .. } => "delivery",
            super::StoreOp::DeleteMessage { .. } => "delete",
            _ => "other",
        })
        .collect()
}

#[test]
fn batched_mode_stores_only_what_is_still_unacknowledged_at_the_interval() {
    let settings = Settings {
        persistence: true,
        ..Settings::default()
    };
    let interval = settings.autosave_interval;
    let mut h = Harness::new(settings);
    let sub = h.connect("durable", false);
    h.subscribe(sub, "t", QoS::AtLeastOnce);
    let publisher = h.connect("pub", true);
    h.send(
        publisher,
        publish_packet("t", b"acked", QoS::AtLeastOnce, 1),
    );
    h.send(
        publisher,
        publish_packet("t", b"pending", QoS::AtLeastOnce, 2),
    );
    let sent = publishes(&h.received(sub));
    assert_eq!(sent.len(), 2);
    h.send(
        sub,
        Packet::Ack(Ack::new(AckKind::PubAck, sent[0].4.unwrap())),
    );

    assert!(
        h.broker.take_store_batch(h.now).is_none(),
        "batched mode waits for autosave_interval"
    );
    assert!(h
        .broker
        .poll_timeout()
        .is_some_and(|at| at <= h.now + interval));
    h.now += interval;
    let ready = h
        .broker
        .take_store_batch(h.now)
        .expect("due after the interval");
    assert!(ready.flush);
    let kinds = op_kinds(&ready.ops);
    assert_eq!(
        kinds.iter().filter(|k| **k == "message").count(),
        1,
        "only the unacknowledged message is stored: {kinds:?}"
    );
    assert!(!kinds.contains(&"delete"), "{kinds:?}");
    assert!(h.broker.take_store_batch(h.now).is_none());
}

#[test]
fn sync_mode_holds_the_connack_until_its_batch_is_flushed() {
    let settings = Settings {
        persistence: true,
        persistence_sync: true,
        ..Settings::default()
    };
    let mut h = Harness::new(settings);
    let conn = h.open();
    h.send(conn, connect_packet("durable", false, 0, None));
    assert!(
        h.received(conn).is_empty(),
        "held until the session is stored"
    );
    let ready = h
        .broker
        .take_store_batch(h.now)
        .expect("handed over at once");
    assert!(ready.flush);
    assert_eq!(op_kinds(&ready.ops), ["session"]);
    h.broker.handle_persisted(ready.batch);
    assert!(matches!(h.received(conn).as_slice(), [Packet::ConnAck(ack)] if ack.code == 0));
}

mod auth;
mod handshake;
mod messages5;
mod mqtt5;
mod observe;
mod queue_cap;
mod rate;
mod retained_queue;
mod store;
mod violations;

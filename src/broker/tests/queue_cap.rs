//! An online queue that pushes back holds at most `max_queued_messages`
//! plus one message per publisher paused on it (docs/design.md, "Queues
//! and back-pressure"). A publisher that reconnects while paused, or a
//! source back-pressure cannot pause (a will, a bridge), finds no room of
//! its own: the oldest queued message makes way, counted and logged.

use super::*;
use crate::session::QueueLimits;

const MAX_QUEUED: usize = 3;

fn settings() -> Settings {
    Settings {
        queue: QueueLimits {
            max_queued: MAX_QUEUED,
            max_inflight: 1,
            ..Settings::default().queue
        },
        ..Settings::default()
    }
}

fn queued(h: &Harness, client_id: &str) -> usize {
    h.broker.client(h.now, client_id).unwrap().summary.queued
}

/// A subscriber that reads its one inflight message and never acknowledges
/// it, with a full queue behind it: payloads 0 (inflight) and 1..=3.
fn stuck_subscriber(h: &mut Harness, publisher: ConnId) -> ConnId {
    let sub = h.connect("stuck", true);
    h.subscribe(sub, "t", QoS::AtLeastOnce);
    for i in 0..=MAX_QUEUED as u16 {
        h.send(
            publisher,
            publish_packet("t", &[i as u8], QoS::AtLeastOnce, i + 1),
        );
    }
    h.received(publisher);
    assert_eq!(publishes(&h.received(sub)).len(), 1);
    assert_eq!(queued(h, "stuck"), MAX_QUEUED);
    sub
}

#[test]
fn a_publisher_reconnecting_while_paused_cannot_grow_the_queue() {
    let mut h = Harness::new(settings());
    let first = h.connect("pub", true);
    let sub = stuck_subscriber(&mut h, first);
    h.broker.handle_closed(h.now, first);
    // Each new connection is read once, then paused; the queue stays at
    // its cap plus the one paused publisher.
    for i in 0..20u8 {
        let publisher = h.connect("pub", true);
        h.send(
            publisher,
            publish_packet("t", &[10 + i], QoS::AtLeastOnce, 1),
        );
        assert!(
            !h.broker.read_allowed(publisher),
            "paused by the full queue"
        );
        assert_eq!(queued(&h, "stuck"), MAX_QUEUED + 1, "round {i}");
        h.broker.handle_closed(h.now, publisher);
    }
    assert_eq!(h.broker.stats().dropped_online_queue_full, 19);
    assert_eq!(h.broker.stats().dropped_lagging, 0);
    // The acknowledgement lets the queue go on: the newest four remain,
    // in the order they were published.
    let inflight = publishes(&h.received(sub));
    assert!(inflight.is_empty());
    h.send(
        sub,
        Packet::Ack(Ack::new(AckKind::PubAck, PacketId::new(1).unwrap())),
    );
    let mut payloads = Vec::new();
    for _ in 0..=MAX_QUEUED {
        let got = publishes(&h.received(sub));
        assert_eq!(got.len(), 1);
        payloads.push(got[0].1[0]);
        h.send(
            sub,
            Packet::Ack(Ack::new(AckKind::PubAck, got[0].4.unwrap())),
        );
    }
    assert_eq!(payloads, vec![26, 27, 28, 29]);
}

#[test]
fn publishers_paused_together_each_overflow_by_one_and_lose_nothing() {
    let mut h = Harness::new(settings());
    let first = h.connect("p0", true);
    stuck_subscriber(&mut h, first);
    // `first` is paused, its fourth message filled the queue; each other
    // publisher is read once and paused in turn.
    let publishers: Vec<ConnId> = (1..=3).map(|i| h.connect(&format!("p{i}"), true)).collect();
    for (i, &publisher) in publishers.iter().enumerate() {
        h.send(publisher, publish_packet("t", b"x", QoS::AtLeastOnce, 1));
        assert!(!h.broker.read_allowed(publisher));
        assert_eq!(queued(&h, "stuck"), MAX_QUEUED + i + 1);
    }
    assert_eq!(h.broker.stats().dropped_online_queue_full, 0);
}

#[test]
fn a_will_into_a_full_queue_takes_the_place_of_the_oldest() {
    let mut h = Harness::new(settings());
    let publisher = h.connect("pub", true);
    let sub = stuck_subscriber(&mut h, publisher);
    // No publisher is paused on the queue any more.
    h.broker.handle_closed(h.now, publisher);
    let dying = h.open();
    let will = Will {
        topic: "t".to_string(),
        payload: b"will".to_vec(),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties::default(),
    };
    h.send(dying, connect_packet("dying", true, 0, Some(will)));
    h.received(dying);
    h.broker.handle_closed(h.now, dying);
    assert_eq!(queued(&h, "stuck"), MAX_QUEUED);
    assert_eq!(h.broker.stats().dropped_online_queue_full, 1);
    h.send(
        sub,
        Packet::Ack(Ack::new(AckKind::PubAck, PacketId::new(1).unwrap())),
    );
    let mut payloads = Vec::new();
    for _ in 0..MAX_QUEUED {
        let got = publishes(&h.received(sub));
        payloads.push(got[0].1.clone());
        h.send(
            sub,
            Packet::Ack(Ack::new(AckKind::PubAck, got[0].4.unwrap())),
        );
    }
    assert_eq!(payloads, vec![vec![2], vec![3], b"will".to_vec()]);
}

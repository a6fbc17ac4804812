//! Retained messages for a SUBSCRIBE and the session's queue cap: a
//! SUBSCRIBE pauses no publisher, so what finds the queue full is dropped
//! and counted (docs/design.md ## Limits). Found by the broker fuzz target
//! (tests/fuzz/; its input is tests/fuzz/corpus/broker/
//! regression-retained-resubscribe): a client re-subscribing without
//! acknowledging grew its queue by one retained message per SUBSCRIBE,
//! without bound.

use super::*;
use crate::session::QueueLimits;

fn retained(topic: &str, id: u16) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: true,
        packet_id: PacketId::new(id),
        body: PublishBody::new(topic, b"r").unwrap(),
        properties: Properties::default(),
    })
}

fn resubscribe(h: &mut Harness, conn: ConnId) {
    h.send(
        conn,
        Packet::Subscribe(Subscribe {
            packet_id: PacketId::new(1).unwrap(),
            requests: vec![SubscriptionRequest {
                filter: "#".to_string(),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    ..Default::default()
                },
            }],
            properties: Properties::default(),
        }),
    );
    // Read, never acknowledged.
    h.received(conn);
}

fn queued(h: &Harness, client_id: &str) -> usize {
    h.broker.client(h.now, client_id).unwrap().summary.queued
}

#[test]
fn resubscribing_without_acks_keeps_the_queue_at_its_cap() {
    let settings = Settings {
        queue: QueueLimits {
            max_queued: 3,
            max_inflight: 2,
            ..Settings::default().queue
        },
        ..Settings::default()
    };
    let mut h = Harness::new(settings);
    let publisher = h.connect("pub", true);
    h.send(publisher, retained("r/1", 1));
    h.received(publisher);
    let sub = h.connect("sub", true);
    for _ in 0..20 {
        resubscribe(&mut h, sub);
        assert!(queued(&h, "sub") <= 3, "queue over max_queued");
    }
    // Two inflight, three queued; the other fifteen copies dropped.
    assert_eq!(queued(&h, "sub"), 3);
    assert_eq!(h.broker.stats().dropped_retained_queue_full, 15);
}

/// Below the cap nothing changes: every SUBSCRIBE gets every retained
/// message again.
#[test]
fn resubscribing_below_the_cap_still_gets_every_retained_message() {
    let mut h = Harness::new(Settings::default());
    let publisher = h.connect("pub", true);
    h.send(publisher, retained("r/1", 1));
    h.send(publisher, retained("r/2", 2));
    h.received(publisher);
    let sub = h.connect("sub", true);
    resubscribe(&mut h, sub);
    resubscribe(&mut h, sub);
    assert_eq!(
        queued(&h, "sub") + h.broker.client(h.now, "sub").unwrap().summary.inflight,
        4
    );
    assert_eq!(h.broker.stats().dropped_retained_queue_full, 0);
}

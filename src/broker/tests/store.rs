//! The broker against a store that falls behind or fails: batches handed
//! over and never reported back stand for a writer that cannot write.

use super::*;

/// 4 KiB of backlog at most (half of this).
const CACHE_BYTES: u64 = 8192;
const PAYLOAD: [u8; 1000] = [7; 1000];

fn settings(sync: bool) -> Settings {
    Settings {
        persistence: true,
        persistence_sync: sync,
        persistence_cache_bytes: CACHE_BYTES,
        ..Settings::default()
    }
}

impl Harness {
    /// Hands over every due batch and reports it durable (a store that works).
    fn store_keeps_up(&mut self) {
        while let Some(ready) = self.broker.take_store_batch(self.now) {
            self.broker.handle_persisted(ready.batch);
        }
    }

    /// A persistent session subscribed to `t` at QoS 1, now offline.
    fn offline_durable_subscriber(&mut self) {
        let sub = self.open();
        self.send(sub, connect_packet("durable", false, 0, None));
        self.store_keeps_up();
        self.received(sub);
        self.send(
            sub,
            Packet::Subscribe(Subscribe {
                packet_id: PacketId::new(1).unwrap(),
                requests: vec![SubscriptionRequest {
                    filter: "t".to_string(),
                    options: SubscriptionOptions {
                        qos: QoS::AtLeastOnce,
                        ..Default::default()
                    },
                }],
                properties: Properties::default(),
            }),
        );
        self.store_keeps_up();
        assert!(matches!(self.received(sub).as_slice(), [Packet::SubAck(_)]));
        self.send(sub, Packet::Disconnect(Default::default()));
        self.store_keeps_up();
    }

    fn woken(&mut self) -> Vec<ConnId> {
        let mut woken = Vec::new();
        self.broker.poll_wakeups(&mut woken);
        woken
    }
}

fn pub_acks(packets: &[Packet]) -> Vec<u16> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Ack(ack) if ack.kind == AckKind::PubAck => Some(ack.packet_id.get()),
            _ => None,
        })
        .collect()
}

#[test]
fn sync_mode_holds_acks_while_the_store_fails_and_pauses_only_its_feeders() {
    let mut h = Harness::new(settings(true));
    h.offline_durable_subscriber();
    let publisher = h.connect("pub", true);
    let live_sub = h.connect("live-sub", true);
    h.subscribe(live_sub, "live", QoS::AtLeastOnce);
    let live_pub = h.connect("live-pub", true);

    // The store stops writing: batches go out, nothing comes back.
    let mut sent = 0u16;
    let mut last_batch = 0;
    while h.broker.read_allowed(publisher) && sent < 100 {
        sent += 1;
        h.send(
            publisher,
            publish_packet("t", &PAYLOAD, QoS::AtLeastOnce, sent),
        );
        last_batch = h.broker.take_store_batch(h.now).expect("sync").batch;
        assert!(
            h.received(publisher).is_empty(),
            "no PUBACK before the message is on disk"
        );
    }
    // Each message holds ~1.07 KB: the 4th reaches half of the cache.
    assert_eq!(sent, 4, "the publisher is paused at the backlog's bound");
    assert!(!h.broker.may_read(h.now, publisher));

    // QoS 0 and clean-session QoS 1 traffic go on.
    assert!(h.broker.may_read(h.now, live_pub));
    h.send(live_pub, publish_packet("live", b"a", QoS::AtMostOnce, 0));
    h.send(live_pub, publish_packet("live", b"b", QoS::AtLeastOnce, 9));
    assert!(
        h.broker.take_store_batch(h.now).is_none(),
        "nothing to store"
    );
    assert_eq!(pub_acks(&h.received(live_pub)), [9]);
    assert_eq!(publishes(&h.received(live_sub)).len(), 2);

    // The store is back: every PUBACK goes out, in order, and the
    // publisher is read again.
    h.woken();
    h.broker.handle_persisted(last_batch);
    assert!(h.woken().contains(&publisher));
    assert_eq!(pub_acks(&h.received(publisher)), [1, 2, 3, 4]);
    assert!(h.broker.may_read(h.now, publisher));
    assert_eq!(h.broker.store_backlog(), Some((0, 0)));
}

#[test]
fn batches_the_writer_takes_without_a_flush_free_the_backlog() {
    let mut h = Harness::new(settings(false));
    h.offline_durable_subscriber();
    let publisher = h.connect("pub", true);
    let mut sent = 0u16;
    let mut early = None;
    while early.is_none() && sent < 100 {
        sent += 1;
        h.send(
            publisher,
            publish_packet("t", &PAYLOAD, QoS::AtLeastOnce, sent),
        );
        early = h.broker.take_store_batch(h.now);
    }
    let early = early.expect("handed over early for its size");
    assert!(!early.flush);
    // Batched mode acknowledges at once; the queue of ten holds them all.
    assert_eq!(pub_acks(&h.received(publisher)).len(), usize::from(sent));
    assert!(
        !h.broker.may_read(h.now, publisher),
        "the backlog is at its bound"
    );
    h.broker.handle_store_taken(early.batch);
    assert!(h.woken().contains(&publisher));
    assert!(h.broker.may_read(h.now, publisher));
}

#[test]
fn a_flush_request_hands_over_batched_changes_before_the_interval() {
    let mut h = Harness::new(settings(false));
    h.offline_durable_subscriber();
    let publisher = h.connect("pub", true);
    h.send(publisher, publish_packet("t", b"x", QoS::AtLeastOnce, 1));
    assert!(h.broker.take_store_batch(h.now).is_none(), "not due yet");
    h.broker.request_store_flush();
    let ready = h
        .broker
        .take_store_batch(h.now)
        .expect("flushed on request");
    assert!(ready.flush);
    assert_eq!(op_kinds(&ready.ops).last(), Some(&"message"));
}

#[test]
fn a_closing_feeder_stops_waiting_for_the_store() {
    let mut h = Harness::new(settings(true));
    h.offline_durable_subscriber();
    let publisher = h.connect("pub", true);
    let mut last_batch = 0;
    for id in 1..=4 {
        h.send(
            publisher,
            publish_packet("t", &PAYLOAD, QoS::AtLeastOnce, id),
        );
        last_batch = h.broker.take_store_batch(h.now).expect("sync").batch;
    }
    assert!(!h.broker.may_read(h.now, publisher));
    h.broker.close(h.now, publisher, CloseReason::PeerGone);
    h.broker.handle_persisted(last_batch);
    assert_eq!(h.broker.store_backlog(), Some((0, 0)));
}

#[test]
fn a_feeder_waiting_for_the_store_is_not_closed_for_its_silence() {
    let mut h = Harness::new(settings(true));
    h.offline_durable_subscriber();
    let publisher = h.open();
    h.send(publisher, connect_packet("pub", true, 10, None));
    assert!(matches!(
        h.received(publisher).as_slice(),
        [Packet::ConnAck(_)]
    ));
    let mut last_batch = 0;
    for id in 1..=4 {
        h.send(
            publisher,
            publish_packet("t", &PAYLOAD, QoS::AtLeastOnce, id),
        );
        last_batch = h.broker.take_store_batch(h.now).expect("sync").batch;
    }
    assert!(!h.broker.may_read(h.now, publisher));
    // Far past 1.5 x keepalive while the store cannot write.
    for _ in 0..12 {
        h.advance(Duration::from_secs(5));
    }
    assert!(h.broker.closing(publisher).is_none(), "its silence is ours");
    h.broker.handle_persisted(last_batch);
    assert_eq!(pub_acks(&h.received(publisher)), [1, 2, 3, 4]);
}

//! End-to-end retained messages and wills: stored per topic, delivered on
//! subscribe with RETAIN 1 (live deliveries with RETAIN 0), replaced,
//! deleted by an empty payload, matched by wildcards, downgraded to the
//! subscription's QoS; wills on a dropped socket, on keepalive expiry and
//! on a protocol error, never after DISCONNECT
//! (MQTT 3.1.1 §3.1.2, §3.3.1).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::flow::{collect, collect_within, expect_silence, publish, raw_subscribe, wait};

use common::raw::{self, Connect, RawPublish};
use common::{scaled, Broker, RawClient};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn id(prefix: &str) -> String {
    common::unique_id(prefix)
}

fn raw_connect(addr: SocketAddr, connect: &Connect) -> RawClient {
    let mut c = RawClient::connect(addr);
    c.send(&connect.to_bytes());
    let p = c.read_packet(wait()).expect("no CONNACK");
    let (_, code) = raw::parse_connack(&p).unwrap_or_else(|| panic!("not a CONNACK: {p:02x?}"));
    assert_eq!(code, 0, "CONNACK return code");
    c
}

fn client(addr: SocketAddr, prefix: &str) -> RawClient {
    raw_connect(addr, &Connect::new(&id(prefix)))
}

/// A fresh client's view of `filter` at `qos`: the retained messages.
fn retained_for(addr: SocketAddr, filter: &str, qos: u8, n: usize) -> Vec<RawPublish> {
    let mut c = client(addr, "late");
    assert_eq!(raw_subscribe(&mut c, 9, &[(filter, qos)]), vec![qos]);
    let got = collect(&mut c, n);
    expect_silence(&mut c, &format!("no more retained messages for {filter}"));
    got
}

#[test]
fn retained_stored_replaced_deleted_and_flagged() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let mut existing = client(addr, "existing");
    assert_eq!(raw_subscribe(&mut existing, 1, &[("r/a", 1)]), vec![1]);
    let mut publ = client(addr, "pub");

    publish(&mut publ, "r/a", b"v1", 1, true, 1);
    // A live delivery to an existing subscription has RETAIN 0 [MQTT-3.3.1-9].
    let live = collect(&mut existing, 1);
    assert_eq!(
        (live[0].payload.as_slice(), live[0].retain),
        (&b"v1"[..], false)
    );

    // A new subscription gets the stored message with RETAIN 1 [MQTT-3.3.1-6, MQTT-3.3.1-8].
    let got = retained_for(addr, "r/a", 1, 1);
    assert_eq!(
        got[0],
        RawPublish {
            topic: "r/a".into(),
            payload: b"v1".to_vec(),
            qos: 1,
            retain: true,
            dup: false,
            pkid: got[0].pkid
        }
    );

    // Replaced: only the newest is kept [MQTT-3.3.1-5].
    publish(&mut publ, "r/a", b"v2", 1, true, 2);
    assert!(
        !collect(&mut existing, 1)[0].retain,
        "live delivery RETAIN 0"
    );
    let got = retained_for(addr, "r/a", 1, 1);
    assert_eq!(
        (got[0].payload.as_slice(), got[0].retain),
        (&b"v2"[..], true)
    );

    // A non-retained publish leaves the retained message alone.
    publish(&mut publ, "r/a", b"plain", 1, false, 3);
    collect(&mut existing, 1);
    assert_eq!(retained_for(addr, "r/a", 1, 1)[0].payload, b"v2");

    // An empty retained payload deletes [MQTT-3.3.1-10], and is delivered
    // to existing subscribers as a normal message [MQTT-3.3.1-11].
    publish(&mut publ, "r/a", b"", 1, true, 4);
    let live = collect(&mut existing, 1);
    assert_eq!(
        (live[0].payload.as_slice(), live[0].retain),
        (&b""[..], false)
    );
    let got = retained_for(addr, "r/a", 1, 0);
    assert!(
        got.is_empty(),
        "deleted: a new subscriber gets nothing, got {got:?}"
    );
}

#[test]
fn wildcard_subscription_gets_every_matching_retained_message() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let mut publ = client(addr, "pub");
    for (i, topic) in ["w/a", "w/b", "w/c/d", "x/y", "w"].into_iter().enumerate() {
        publish(&mut publ, topic, topic.as_bytes(), 1, true, i as u16 + 1);
    }
    let topics = |msgs: Vec<RawPublish>| {
        assert!(msgs.iter().all(|m| m.retain), "retained flag set: {msgs:?}");
        let mut t: Vec<String> = msgs.into_iter().map(|m| m.topic).collect();
        t.sort();
        t
    };
    assert_eq!(
        topics(retained_for(addr, "w/#", 1, 4)),
        ["w", "w/a", "w/b", "w/c/d"]
    );
    assert_eq!(topics(retained_for(addr, "w/+", 1, 2)), ["w/a", "w/b"]);
    assert_eq!(topics(retained_for(addr, "+/+/d", 1, 1)), ["w/c/d"]);
    assert_eq!(
        topics(retained_for(addr, "#", 1, 5)),
        ["w", "w/a", "w/b", "w/c/d", "x/y"]
    );
}

#[test]
fn retained_qos_downgraded_to_the_subscription() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let mut publ = client(addr, "pub");
    publish(&mut publ, "rq/two", b"2", 2, true, 1);
    publish(&mut publ, "rq/one", b"1", 1, true, 2);
    for sub_q in 0..=2u8 {
        let got = retained_for(addr, "rq/two", sub_q, 1);
        assert_eq!(
            (got[0].qos, got[0].retain),
            (sub_q, true),
            "QoS 2 retained to a QoS {sub_q} subscription"
        );
        let got = retained_for(addr, "rq/one", sub_q, 1);
        assert_eq!(
            got[0].qos,
            sub_q.min(1),
            "QoS 1 retained to a QoS {sub_q} subscription"
        );
    }
}

#[test]
fn will_published_when_the_socket_drops() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let mut sub = client(addr, "sub");
    assert_eq!(raw_subscribe(&mut sub, 1, &[("will/#", 2)]), vec![2]);
    let dying = raw_connect(
        addr,
        &Connect::new(&id("dying")).will("will/a", b"gone", 1, true),
    );
    expect_silence(&mut sub, "no will while the client is connected");
    // Closed without DISCONNECT [MQTT-3.1.2-8].
    drop(dying);
    let got = collect(&mut sub, 1);
    assert_eq!(
        got[0],
        RawPublish {
            topic: "will/a".into(),
            payload: b"gone".to_vec(),
            qos: 1,
            retain: false,
            dup: false,
            pkid: got[0].pkid
        },
        "the will at its QoS; RETAIN 0 on the live delivery [MQTT-3.3.1-9]"
    );
    expect_silence(&mut sub, "exactly one will");
    // Will retain 1: stored as retained [MQTT-3.1.2-17].
    let got = retained_for(addr, "will/#", 2, 1);
    assert_eq!(
        (got[0].payload.as_slice(), got[0].qos, got[0].retain),
        (&b"gone"[..], 1, true)
    );

    // Will QoS 2, retain 0: delivered at QoS 2, not retained.
    let dying = raw_connect(
        addr,
        &Connect::new(&id("dying2")).will("will/b", b"bye", 2, false),
    );
    drop(dying);
    let got = collect(&mut sub, 1);
    assert_eq!(
        (got[0].topic.as_str(), got[0].qos, got[0].retain),
        ("will/b", 2, false)
    );
    assert!(
        retained_for(addr, "will/b", 2, 0).is_empty(),
        "a will with retain 0 is not retained"
    );
}

#[test]
fn will_published_on_keepalive_expiry() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let mut sub = client(addr, "sub");
    assert_eq!(raw_subscribe(&mut sub, 1, &[("ka/will", 1)]), vec![1]);
    let start = Instant::now();
    let mut silent = raw_connect(
        addr,
        &Connect::new(&id("silent"))
            .keepalive(1)
            .will("ka/will", b"timeout", 1, false),
    );
    // Keepalive 1 s: the broker closes after 1.5 s of silence [MQTT-3.1.2-24].
    let got = collect_within(&mut sub, 1, scaled(Duration::from_secs(4)));
    let elapsed = start.elapsed();
    assert_eq!(got[0].payload, b"timeout");
    assert!(
        elapsed >= Duration::from_millis(1450),
        "will after {elapsed:?}: before 1.5 x keepalive of silence"
    );
    assert!(
        elapsed <= scaled(Duration::from_secs(3)),
        "will only after {elapsed:?}"
    );
    assert!(
        silent.expect_closed(wait()),
        "the silent client is disconnected"
    );
}

#[test]
fn no_will_after_disconnect() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let mut sub = client(addr, "sub");
    assert_eq!(raw_subscribe(&mut sub, 1, &[("nw/#", 1)]), vec![1]);
    let mut polite = raw_connect(
        addr,
        &Connect::new(&id("polite")).will("nw/will", b"no", 1, true),
    );
    polite.send(&raw::disconnect());
    assert!(polite.expect_closed(wait()));
    // DISCONNECT discards the will [MQTT-3.14.4-3].
    expect_silence(&mut sub, "no will after DISCONNECT");
    assert!(
        retained_for(addr, "nw/#", 1, 0).is_empty(),
        "and none retained"
    );
}

#[test]
fn will_published_on_protocol_errors() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let mut sub = client(addr, "sub");
    assert_eq!(raw_subscribe(&mut sub, 1, &[("pe/#", 1)]), vec![1]);
    let cases: [(&str, Vec<u8>); 4] = [
        // PUBLISH with QoS 3 is malformed [MQTT-3.3.1-4].
        ("qos3", raw::packet(0x36, &[0, 1, b'x', 0, 1, b'p'])),
        // A second CONNECT [MQTT-3.1.0-2].
        ("connect", Connect::new("again").to_bytes()),
        // A wildcard in a topic name [MQTT-3.3.2-2].
        (
            "wildcard",
            raw::publish("pe/+", b"p", 0, false, false, None),
        ),
        // Reserved packet type 0.
        ("reserved", vec![0x00, 0x00]),
    ];
    for (name, bytes) in cases {
        let topic = format!("pe/{name}");
        let mut bad = raw_connect(
            addr,
            &Connect::new(&id(name)).will(&topic, name.as_bytes(), 1, false),
        );
        bad.send(&bytes);
        assert!(bad.expect_closed(wait()), "{name}: connection closed");
        let got = collect(&mut sub, 1);
        assert_eq!(
            (got[0].topic.as_str(), got[0].payload.as_slice()),
            (topic.as_str(), name.as_bytes()),
            "{name}: will"
        );
    }
    expect_silence(&mut sub, "one will each");
}

//! End-to-end topics: `+` and `#` matching, `$`-topics kept from leading
//! wildcards, one copy for overlapping subscriptions, filter and topic-name
//! validation, and UNSUBSCRIBE (MQTT 3.1.1 §4.7, §3.8, §3.10).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::flow::{
    collect, expect_alive, expect_packet, expect_silence, publish, raw_subscribe, wait,
};

use common::raw::{self, Connect};
use common::{Broker, RawClient, ReadEvent};
use std::net::SocketAddr;

fn client(addr: SocketAddr, prefix: &str) -> RawClient {
    let cid = common::unique_id(prefix);
    let mut c = RawClient::connect(addr);
    c.send(&Connect::new(&cid).to_bytes());
    let p = c.read_packet(wait()).expect("no CONNACK");
    assert_eq!(
        raw::parse_connack(&p),
        Some((false, 0)),
        "CONNACK for {cid}"
    );
    c
}

/// One subscriber per filter; publishes every topic; checks which topics
/// each filter received (exactly, once each).
fn check_matching(broker: &Broker, cases: &[(&str, &[&str])], topics: &[&str]) {
    let addr = broker.addr();
    let mut subs = Vec::new();
    for (filter, want) in cases {
        let mut c = client(addr, "sub");
        assert_eq!(
            raw_subscribe(&mut c, 1, &[(filter, 1)]),
            vec![1],
            "subscribe {filter}"
        );
        subs.push((*filter, *want, c));
    }
    let mut publ = client(addr, "pub");
    for (i, topic) in topics.iter().enumerate() {
        publish(&mut publ, topic, topic.as_bytes(), 1, false, i as u16 + 1);
    }
    for (filter, want, c) in &mut subs {
        let got = collect(c, want.len());
        expect_silence(c, &format!("{filter}: nothing beyond {want:?}"));
        let mut got: Vec<String> = got.into_iter().map(|m| m.topic).collect();
        got.sort();
        let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        assert_eq!(got, want, "topics delivered to {filter:?}");
    }
}

#[test]
fn plus_and_hash_wildcards() {
    let broker = Broker::start("");
    let topics = [
        "sport",
        "sport/tennis",
        "sport/tennis/player1",
        "/finance",
        "finance",
        "sport/",
    ];
    check_matching(
        &broker,
        &[
            // '#' also matches the parent level [MQTT-4.7.1-2].
            (
                "sport/#",
                &["sport", "sport/tennis", "sport/tennis/player1", "sport/"],
            ),
            // '+' matches one level, empty ones included [MQTT-4.7.1-3].
            ("+/+", &["sport/tennis", "/finance", "sport/"]),
            ("/+", &["/finance"]),
            ("+", &["sport", "finance"]),
            ("sport/+", &["sport/tennis", "sport/"]),
            ("sport/tennis/+", &["sport/tennis/player1"]),
            ("+/tennis/#", &["sport/tennis", "sport/tennis/player1"]),
            ("#", &topics),
            ("sport/tennis", &["sport/tennis"]),
        ],
        &topics,
    );
}

#[test]
fn dollar_topics_not_matched_by_leading_wildcards() {
    let broker = Broker::start("");
    let topics = ["$edge/status", "$edge", "plain/status", "plain"];
    // [MQTT-4.7.2-1]: '#' and '+' as the first level do not match topics
    // starting with '$'; an explicit '$' level does.
    check_matching(
        &broker,
        &[
            ("#", &["plain/status", "plain"]),
            ("+/status", &["plain/status"]),
            ("+/+", &["plain/status"]),
            ("+", &["plain"]),
            ("+/#", &["plain/status", "plain"]),
            ("$edge/#", &["$edge/status", "$edge"]),
            ("$edge/+", &["$edge/status"]),
            ("$edge/status", &["$edge/status"]),
        ],
        &topics,
    );
    // The same rule for retained messages on subscribe.
    let addr = broker.addr();
    let mut publ = client(addr, "pub");
    publish(&mut publ, "$edge/kept", b"r", 1, true, 50);
    let mut c = client(addr, "late");
    assert_eq!(
        raw_subscribe(&mut c, 1, &[("#", 1), ("+/kept", 1)]),
        vec![1, 1]
    );
    expect_silence(&mut c, "retained $-topic not matched by # or +/kept");
    assert_eq!(raw_subscribe(&mut c, 2, &[("$edge/#", 1)]), vec![1]);
    let got = collect(&mut c, 1);
    assert_eq!((got[0].topic.as_str(), got[0].retain), ("$edge/kept", true));
}

#[test]
fn overlapping_subscriptions_deliver_one_copy_at_the_highest_qos() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let mut sub = client(addr, "sub");
    assert_eq!(
        raw_subscribe(&mut sub, 1, &[("a/#", 0), ("a/b", 2)]),
        vec![0, 2]
    );
    let mut publ = client(addr, "pub");

    // [MQTT-3.3.5-1]: one copy, at the maximum QoS of the matching
    // subscriptions (capped by the publish QoS).
    for (pub_q, topic, want_q) in [(2, "a/b", 2), (1, "a/b", 1), (0, "a/b", 0), (2, "a/c", 0)] {
        publish(&mut publ, topic, b"x", pub_q, false, 10 + u16::from(pub_q));
        let got = collect(&mut sub, 1);
        assert_eq!(
            (got[0].topic.as_str(), got[0].qos),
            (topic, want_q),
            "QoS {pub_q} to {topic}"
        );
        expect_silence(
            &mut sub,
            &format!("exactly one copy of the QoS {pub_q} message to {topic}"),
        );
    }

    // Subscriptions made by separate SUBSCRIBEs overlap the same way.
    let mut sub2 = client(addr, "sub2");
    assert_eq!(raw_subscribe(&mut sub2, 1, &[("o/+", 2)]), vec![2]);
    assert_eq!(raw_subscribe(&mut sub2, 2, &[("#", 1)]), vec![1]);
    assert_eq!(raw_subscribe(&mut sub2, 3, &[("o/p", 0)]), vec![0]);
    publish(&mut publ, "o/p", b"y", 2, false, 20);
    let got = collect(&mut sub2, 1);
    assert_eq!(got[0].qos, 2);
    expect_silence(&mut sub2, "one copy for three overlapping subscriptions");
}

#[test]
fn invalid_filters_close_the_connection_bounded_ones_get_0x80() {
    let broker = Broker::start("max_topic_levels 4\n");
    let addr = broker.addr();
    // '#' must be last and alone in its level, '+' alone in its level
    // [MQTT-4.7.1-2, MQTT-4.7.1-3]: a protocol violation, which closes
    // the connection [MQTT-4.8.0-1] before any filter of the SUBSCRIBE is
    // granted (docs/protocol-choices.md).
    for bad in ["a/#/b", "a+", "#a", "+a/b", "a/b#"] {
        let mut c = client(addr, "bad");
        c.send(&raw::subscribe(1, &[("ok/1", 1), (bad, 1)]));
        match c.read_event(wait()) {
            ReadEvent::Closed => {}
            other => panic!("SUBSCRIBE to {bad:?}: expected the close, got {other:?}"),
        }
    }
    // A filter over a configured bound is refused alone (0x80); the rest
    // are granted [MQTT-3.9.3-1] in request order.
    let mut sub = client(addr, "sub");
    let codes = raw_subscribe(
        &mut sub,
        0x0a0b,
        &[("ok/1", 1), ("a/b/c/d/e", 0), ("ok/+", 2)],
    );
    assert_eq!(codes, vec![1, 0x80, 2]);
    expect_alive(&mut sub, "a refused filter does not close the connection");
    let mut publ = client(addr, "pub");
    publish(&mut publ, "ok/1", b"z", 2, false, 1);
    let got = collect(&mut sub, 1);
    assert_eq!(
        (got[0].topic.as_str(), got[0].qos),
        ("ok/1", 2),
        "granted filters work (max of 1 and 2)"
    );
    expect_silence(&mut sub, "one copy");
}

#[test]
fn publish_to_wildcard_or_nul_topic_closes_the_connection() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let mut watcher = client(addr, "watch");
    assert_eq!(raw_subscribe(&mut watcher, 1, &[("#", 0)]), vec![0]);
    // A topic name has no wildcards [MQTT-3.3.2-2] and no U+0000
    // [MQTT-1.5.3-2]: 3.1.1 can only close the connection.
    for topic in ["a/+", "a/#", "#", "+", "a+b", "a\u{0}b", "\u{0}"] {
        for qos in [0u8, 1] {
            let mut c = client(addr, "bad");
            let pkid = (qos > 0).then_some(1);
            c.send(&raw::publish(topic, b"p", qos, false, false, pkid));
            match c.read_event(wait()) {
                ReadEvent::Closed => {}
                other => panic!(
                    "PUBLISH QoS {qos} to {topic:?}: expected the connection closed, got {other:?}"
                ),
            }
        }
    }
    expect_silence(
        &mut watcher,
        "nothing from the refused PUBLISHes was delivered",
    );
    expect_alive(&mut watcher, "other clients unaffected");
}

#[test]
fn unsubscribe_stops_delivery_and_echoes_the_packet_id() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let mut sub = client(addr, "sub");
    assert_eq!(
        raw_subscribe(&mut sub, 1, &[("u/#", 1), ("v/t", 1)]),
        vec![1, 1]
    );
    let mut publ = client(addr, "pub");
    publish(&mut publ, "u/x", b"1", 1, false, 1);
    assert_eq!(collect(&mut sub, 1)[0].topic, "u/x");

    sub.send(&raw::unsubscribe(0x1234, &["u/#"]));
    // UNSUBACK carries the UNSUBSCRIBE's packet id [MQTT-3.10.4-4].
    expect_packet(&mut sub, &[0xB0, 0x02, 0x12, 0x34], "UNSUBACK");
    publish(&mut publ, "u/x", b"2", 1, false, 2);
    expect_silence(&mut sub, "no delivery after UNSUBSCRIBE [MQTT-3.10.4-1]");
    publish(&mut publ, "v/t", b"3", 1, false, 3);
    let got = collect(&mut sub, 1);
    assert_eq!(
        (got[0].topic.as_str(), got[0].payload.as_slice()),
        ("v/t", &b"3"[..]),
        "other subscription kept"
    );

    // A filter that was never subscribed still gets an UNSUBACK [MQTT-3.10.4-5].
    sub.send(&raw::unsubscribe(0x00ff, &["never/subscribed"]));
    expect_packet(
        &mut sub,
        &[0xB0, 0x02, 0x00, 0xff],
        "UNSUBACK for an unknown filter",
    );
    expect_alive(&mut sub, "still connected");
}

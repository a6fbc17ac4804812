//! What docs/protocol-choices.md claims, end to end: where MQTT 3.1.1 (or
//! 3.1) says MAY or SHOULD, or says nothing, the broker's choice — control
//! characters accepted, acknowledgements for unknown ids ignored, `$`
//! topics open to clients but out of reach of leading wildcards, client id
//! rules, retained QoS 0 kept, per-topic order, QoS 2 routed at PUBLISH,
//! non-minimal lengths and pipelined packets accepted, no in-session
//! resend. The violations themselves are e2e_violations_v311.rs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;

use common::flow::{
    collect, expect_alive, expect_packet, expect_silence, publish, quiet, raw_subscribe, wait,
};
use common::http::{admin_addr, admin_token, counters};
use common::raw::{self, Connect, Version};
use common::{Broker, RawClient, ReadEvent};

const CONFIG: &str = "admin_listener 127.0.0.1:0\n";

/// Counters that would move had the broker taken a case for a violation.
const VIOLATIONS: [&str; 3] = ["malformed_packets", "protocol_errors", "refused_client_id"];

fn violations(broker: &Broker) -> HashMap<String, u64> {
    let all = counters(admin_addr(broker), &admin_token(broker));
    VIOLATIONS
        .iter()
        .map(|name| ((*name).to_owned(), all[*name]))
        .collect()
}

fn versioned(connect: Connect, version: Version) -> Connect {
    match version {
        Version::V31 => connect.v31(),
        Version::V311 => connect,
    }
}

/// Connects and expects CONNACK `code`.
fn connect_as(addr: SocketAddr, connect: &Connect, code: u8) -> RawClient {
    let mut c = RawClient::connect(addr);
    assert_eq!(
        c.handshake(&connect.to_bytes()),
        Some(code),
        "CONNACK for {:?}",
        connect.client_id
    );
    c
}

fn client(addr: SocketAddr, id: &str) -> RawClient {
    connect_as(addr, &Connect::new(id), 0)
}

/// U+0001..U+001F, U+007F..U+009F and non-characters SHOULD NOT be sent;
/// a receiver MAY treat them as malformed (MQTT 3.1.1 §1.5.3). The broker
/// accepts them in every string and passes them on unchanged; U+FEFF is
/// kept, never stripped [MQTT-1.5.3-3]. Its log lines escape them.
#[test]
fn control_characters_are_accepted_and_passed_on_unchanged() {
    let broker = Broker::start(CONFIG);
    let addr = broker.addr();
    let before = violations(&broker);
    let mut watcher = client(addr, "watcher");
    assert_eq!(raw_subscribe(&mut watcher, 1, &[("ctl/#", 0)]), vec![0]);
    let mut exact = client(addr, "exact");
    assert_eq!(raw_subscribe(&mut exact, 1, &[("ctl/bom", 0)]), vec![0]);
    for (n, version) in [Version::V31, Version::V311].into_iter().enumerate() {
        let id = format!("ctl\u{1}\u{1F}\u{7F}\u{80}\u{9F}\u{FFFF}{n}");
        let will = format!("ctl/will\u{1}\u{9F}{n}");
        let connect = versioned(Connect::new(&id), version)
            .username("user\u{7}")
            .will(&will, b"gone", 0, false);
        let mut c = connect_as(addr, &connect, 0);
        let topic = format!("ctl/\u{1}\u{1F}\u{7F}\u{80}\u{9F}\u{FFFF}/{n}");
        publish(&mut c, &topic, b"ctl", 1, false, 1);
        let got = collect(&mut watcher, 1);
        assert_eq!(got[0].topic, topic, "{version:?}: the topic, unchanged");
        // A filter with control characters matches like any other.
        let filter = format!("ctl/\u{1F}{n}/+");
        assert_eq!(raw_subscribe(&mut c, 2, &[(&filter, 1)]), vec![1]);
        publish(&mut exact, &format!("ctl/\u{1F}{n}/x"), b"f", 1, false, 3);
        assert_eq!(collect(&mut c, 1)[0].payload, b"f");
        assert_eq!(collect(&mut watcher, 1)[0].payload, b"f");
        // The BOM is a character of the topic: "ctl/bom" does not match.
        publish(&mut c, "ctl/\u{FEFF}bom", b"bom", 0, false, 0);
        assert_eq!(collect(&mut watcher, 1)[0].topic, "ctl/\u{FEFF}bom");
        // Gone without DISCONNECT: the will, its topic unchanged.
        drop(c);
        assert_eq!(collect(&mut watcher, 1)[0].topic, will);
    }
    expect_silence(&mut exact, "U+FEFF stripped from a topic");
    // In the log they are escaped: a client id cannot forge a line.
    let mut forger = connect_as(addr, &Connect::new("dev\nWARN  forged\u{1b}[2J"), 0);
    expect_alive(&mut forger, "a client id with a newline");
    let escaped = "client dev\\u{a}WARN  forged\\u{1b}[2J connected";
    assert!(broker.wait_for_log(escaped, wait()), "{}", broker.log());
    let log = broker.log();
    assert!(!log.lines().any(|l| l.starts_with("WARN  forged")), "{log}");
    assert!(!log.contains('\u{1}'), "a raw control character in the log");
    assert_eq!(violations(&broker), before);
}

/// Client ids: 1 to 23 of [0-9a-zA-Z] always [MQTT-3.1.3-5]; longer ones
/// up to `max_client_id_length` (128) and any UTF-8 MAY be allowed, and
/// are, in 3.1 too (whose text says 23); beyond it CONNACK 2
/// [MQTT-3.1.3-9]. An empty one with clean session gets an id of the
/// broker's [MQTT-3.1.3-6] in 3.1.1; 3.1 and clean session 0 are refused
/// (e2e_violations_v311.rs).
#[test]
fn client_id_lengths_and_assigned_ids() {
    let broker = Broker::start(CONFIG);
    let addr = broker.addr();
    for version in [Version::V31, Version::V311] {
        let tag = format!("{version:?}");
        let id23 = format!("{tag:0>23}");
        let id24 = format!("{tag:x>24}");
        let id128 = format!("{tag:y>128}");
        let id129 = format!("{tag:z>129}");
        for (id, code) in [(&id23, 0), (&id24, 0), (&id128, 0), (&id129, 2)] {
            let mut c = connect_as(addr, &versioned(Connect::new(id), version), code);
            if code == 0 {
                expect_alive(&mut c, id);
            } else {
                assert_eq!(c.read_event(wait()), ReadEvent::Closed, "{id}");
            }
        }
    }
    // Two empty ids at once: two sessions, neither takes the other over.
    let mut first = connect_as(addr, &Connect::new(""), 0);
    let mut second = connect_as(addr, &Connect::new(""), 0);
    expect_alive(&mut first, "first assigned id");
    expect_alive(&mut second, "second assigned id");
}

/// 3.1.1 says nothing of a PUBACK, PUBREC or PUBCOMP for an id not in
/// flight: the broker ignores it (a late or repeated acknowledgement
/// after a resend is normal) and the connection stays. A PUBREL is
/// always answered with PUBCOMP [MQTT-4.3.3-2].
#[test]
fn acknowledgements_for_unknown_ids_are_ignored() {
    let broker = Broker::start(CONFIG);
    let addr = broker.addr();
    let before = violations(&broker);
    for version in [Version::V31, Version::V311] {
        let mut c = connect_as(addr, &versioned(Connect::new("acks"), version), 0);
        for ack in [raw::puback(7), raw::pubrec(7), raw::pubcomp(7)] {
            c.send(&ack);
            c.send(&ack);
        }
        for _ in 0..2 {
            c.send(&raw::pubrel(7));
            expect_packet(&mut c, &raw::pubcomp(7), "PUBCOMP for an unknown PUBREL");
        }
        expect_alive(&mut c, "after unknown acknowledgements");

        // Acknowledgements repeated for a real delivery, QoS 1 and 2.
        let mut publisher = client(addr, "acks-pub");
        assert_eq!(
            raw_subscribe(&mut c, 1, &[("acks/1", 1), ("acks/2", 2)]),
            vec![1, 2]
        );
        publish(&mut publisher, "acks/1", b"one", 1, false, 1);
        let m = raw::parse_publish(&c.read_packet(wait()).unwrap()).unwrap();
        let id = m.pkid.unwrap();
        c.send(&raw::puback(id));
        c.send(&raw::puback(id));
        expect_alive(&mut c, "a PUBACK twice");
        publish(&mut publisher, "acks/2", b"two", 2, false, 2);
        let m = raw::parse_publish(&c.read_packet(wait()).unwrap()).unwrap();
        let id = m.pkid.unwrap();
        c.send(&raw::pubrec(id));
        expect_packet(&mut c, &raw::pubrel(id), "PUBREL");
        c.send(&raw::pubcomp(id));
        c.send(&raw::pubcomp(id));
        expect_alive(&mut c, "a PUBCOMP twice");
        expect_silence(&mut c, "nothing resent after the repeated acknowledgements");
        c.send(&raw::disconnect());
    }
    assert_eq!(violations(&broker), before);
}

/// An inbound QoS 2 message is routed when its PUBLISH arrives (3.1.1
/// Figure 4.3, "Method B"); the same id again before PUBREL is not routed
/// twice [MQTT-4.3.3-2], and a repeated PUBREL still gets its PUBCOMP.
#[test]
fn qos2_is_routed_at_publish_and_once() {
    let broker = Broker::start(CONFIG);
    let addr = broker.addr();
    let mut sub = client(addr, "sub");
    assert_eq!(raw_subscribe(&mut sub, 1, &[("q2/#", 0)]), vec![0]);
    for version in [Version::V31, Version::V311] {
        let mut c = connect_as(addr, &versioned(Connect::new("q2"), version), 0);
        c.send(&raw::publish("q2/x", b"once", 2, false, false, Some(9)));
        expect_packet(&mut c, &raw::pubrec(9), "PUBREC");
        assert_eq!(collect(&mut sub, 1)[0].payload, b"once", "before PUBREL");
        c.send(&raw::publish("q2/x", b"once", 2, false, true, Some(9)));
        expect_packet(&mut c, &raw::pubrec(9), "PUBREC for the resend");
        for _ in 0..2 {
            c.send(&raw::pubrel(9));
            expect_packet(&mut c, &raw::pubcomp(9), "PUBCOMP");
        }
        expect_silence(&mut sub, "the resent QoS 2 PUBLISH delivered twice");
    }
}

/// `$` topics: a client may publish to them, but a filter starting with
/// a wildcard never matches them [MQTT-4.7.2-1]; a `$` filter does.
#[test]
fn dollar_topics_are_open_to_clients_but_not_to_leading_wildcards() {
    let broker = Broker::start("sys_interval 1\n");
    let addr = broker.addr();
    let mut hash = client(addr, "hash");
    assert_eq!(
        raw_subscribe(&mut hash, 1, &[("#", 0), ("+/app/x", 0)]),
        vec![0, 0]
    );
    let mut dollar = client(addr, "dollar");
    assert_eq!(raw_subscribe(&mut dollar, 1, &[("$dev/#", 0)]), vec![0]);
    let mut sys = client(addr, "sys");
    assert_eq!(raw_subscribe(&mut sys, 1, &[("$SYS/client/#", 0)]), vec![0]);
    let mut c = client(addr, "pub");
    publish(&mut c, "$dev/app/x", b"d", 1, false, 1);
    assert_eq!(collect(&mut dollar, 1)[0].topic, "$dev/app/x");
    // $SYS included: only an acl_file keeps clients out of it.
    publish(&mut c, "$SYS/client/x", b"s", 1, false, 2);
    assert_eq!(collect(&mut sys, 1)[0].topic, "$SYS/client/x");
    // A client's retained message does not replace the broker's own value.
    publish(&mut c, "$SYS/broker/version", b"fake", 0, true, 0);
    let mut reader = client(addr, "reader");
    assert_eq!(
        raw_subscribe(&mut reader, 1, &[("$SYS/broker/version", 0)]),
        vec![0]
    );
    let mut values: Vec<Vec<u8>> = collect(&mut reader, 2)
        .into_iter()
        .map(|m| m.payload)
        .collect();
    values.sort();
    assert!(values[0].starts_with(b"edgemq version"), "{values:?}");
    assert_eq!(values[1], b"fake");
    expect_silence(&mut hash, "a leading wildcard matched a $ topic");
}

/// Retained QoS 0 is stored as the topic's retained message (MQTT 3.1.1
/// says SHOULD, [MQTT-3.3.1-7]) and kept until replaced; a zero-byte
/// retained message removes it and is not stored itself [MQTT-3.3.1-10]
/// [MQTT-3.3.1-11]; a live copy carries RETAIN 0 [MQTT-3.3.1-9].
#[test]
fn retained_qos0_is_kept_until_cleared() {
    let broker = Broker::start(CONFIG);
    let addr = broker.addr();
    let mut live = client(addr, "live");
    assert_eq!(raw_subscribe(&mut live, 1, &[("keep/#", 1)]), vec![1]);
    let mut c = client(addr, "pub");
    publish(&mut c, "keep/0", b"zero", 0, true, 0);
    let got = collect(&mut live, 1);
    assert_eq!((got[0].retain, got[0].qos), (false, 0), "the live copy");
    let mut later = client(addr, "later");
    assert_eq!(raw_subscribe(&mut later, 1, &[("keep/#", 1)]), vec![1]);
    let got = collect(&mut later, 1);
    assert_eq!(
        (
            got[0].topic.as_str(),
            got[0].payload.as_slice(),
            got[0].retain
        ),
        ("keep/0", &b"zero"[..], true)
    );
    publish(&mut c, "keep/0", b"", 0, true, 0);
    assert_eq!(collect(&mut live, 1)[0].payload, b"");
    let mut last = client(addr, "last");
    assert_eq!(raw_subscribe(&mut last, 1, &[("keep/#", 1)]), vec![1]);
    expect_silence(&mut last, "a cleared retained message was sent");
}

/// Every topic is ordered [MQTT-4.6.0-6]: one publisher's messages reach
/// a subscriber in the order sent, per QoS [MQTT-4.6.0-5] — here across
/// QoS 0 and 1 too.
#[test]
fn one_publishers_messages_arrive_in_order() {
    let broker = Broker::start(CONFIG);
    let addr = broker.addr();
    let mut sub = client(addr, "sub");
    assert_eq!(raw_subscribe(&mut sub, 1, &[("order/#", 1)]), vec![1]);
    let mut c = client(addr, "pub");
    let mut burst = Vec::new();
    for n in 0..60u16 {
        let qos = u8::from(n % 3 == 0);
        let pkid = (qos > 0).then_some(n + 1);
        burst.extend(raw::publish(
            "order/t",
            &n.to_be_bytes(),
            qos,
            false,
            false,
            pkid,
        ));
    }
    c.send(&burst);
    let got: Vec<u16> = collect(&mut sub, 60)
        .iter()
        .map(|m| u16::from_be_bytes([m.payload[0], m.payload[1]]))
        .collect();
    assert_eq!(got, (0..60).collect::<Vec<u16>>());
}

/// A remaining length in more bytes than needed is accepted (3.1.1 does
/// not require the shortest form; 5.0 does); packets sent right after
/// CONNECT, before its CONNACK (MQTT 3.1.1 §3.1.4), are served in order;
/// SUBSCRIBE is granted the QoS asked.
#[test]
fn lenient_framing_and_pipelining() {
    let broker = Broker::start(CONFIG);
    let addr = broker.addr();
    let before = violations(&broker);
    let mut c = RawClient::connect(addr);
    let mut burst = raw::connect("pipelined");
    burst.extend(raw::subscribe(1, &[("p/0", 0), ("p/1", 1), ("p/2", 2)]));
    // PINGREQ, remaining length 0 in two bytes.
    burst.extend([0xC0, 0x80, 0x00]);
    // A QoS 0 PUBLISH to p/0, remaining length 6 in three bytes.
    burst.extend([0x30, 0x86, 0x80, 0x00, 0x00, 0x03, b'p', b'/', b'0', b'!']);
    c.send(&burst);
    let connack = c.read_packet(wait()).unwrap();
    assert_eq!(raw::parse_connack(&connack), Some((false, 0)));
    let suback = c.read_packet(wait()).unwrap();
    assert_eq!(raw::parse_suback(&suback), Some((1, vec![0, 1, 2])));
    expect_packet(&mut c, &[0xD0, 0x00], "PINGRESP");
    let got = collect(&mut c, 1);
    assert_eq!(
        (got[0].topic.as_str(), got[0].payload.as_slice()),
        ("p/0", &b"!"[..])
    );
    assert_eq!(violations(&broker), before);

    // After a refused CONNECT nothing is processed [MQTT-3.1.4-5], even
    // what came in the same write.
    let mut refused = RawClient::connect(addr);
    let mut burst = raw::connect_raw(b"MQTT", 4, 0x02, 60, &[&[b'z'; 129]]);
    burst.extend(raw::publish("p/0", b"after", 0, false, false, None));
    refused.send(&burst);
    let connack = refused.read_packet(wait()).unwrap();
    assert_eq!(raw::parse_connack(&connack), Some((false, 2)));
    assert_eq!(refused.read_event(wait()), ReadEvent::Closed);
    expect_silence(&mut c, "a PUBLISH after a refused CONNECT was routed");
}

/// Unacknowledged messages are resent only when a persistent session
/// reconnects, with DUP set [MQTT-4.4.0-1] [MQTT-3.3.1-1]; 3.1.1 allows
/// a resend within the connection too, the broker does not make one. A
/// 3.1 CONNACK has no Session Present flag: 0 even when resumed.
#[test]
fn unacknowledged_messages_are_resent_at_reconnect_only() {
    let broker = Broker::start(CONFIG);
    let addr = broker.addr();
    for (version, present) in [(Version::V31, false), (Version::V311, true)] {
        let id = format!("keeper-{version:?}");
        let persistent = versioned(Connect::new(&id), version).clean(false);
        let mut sub = connect_as(addr, &persistent, 0);
        let topic = format!("resend/{version:?}");
        assert_eq!(raw_subscribe(&mut sub, 1, &[(&topic, 1)]), vec![1]);
        let mut c = client(addr, "pub");
        publish(&mut c, &topic, b"r", 1, false, 1);
        let first = raw::parse_publish(&sub.read_packet(wait()).unwrap()).unwrap();
        assert!(!first.dup);
        match sub.read_event(quiet() * 2) {
            ReadEvent::Timeout => {}
            other => panic!("resent within the connection: {other:?}"),
        }
        drop(sub);
        let mut again = RawClient::connect(addr);
        again.send(&persistent.to_bytes());
        let connack = again.read_packet(wait()).unwrap();
        assert_eq!(
            raw::parse_connack(&connack),
            Some((present, 0)),
            "{version:?}"
        );
        let resent = raw::parse_publish(&again.read_packet(wait()).unwrap()).unwrap();
        assert_eq!((resent.pkid, resent.dup), (first.pkid, true));
        assert_eq!(resent.payload, b"r");
    }
}

/// PUBACK comes once the message is routed: a client subscribed to its
/// own topic gets its message before the PUBACK for it.
#[test]
fn puback_follows_routing() {
    let broker = Broker::start(CONFIG);
    let mut c = client(broker.addr(), "self");
    assert_eq!(raw_subscribe(&mut c, 1, &[("self/t", 0)]), vec![0]);
    c.send(&raw::publish("self/t", b"me", 1, false, false, Some(5)));
    let first = c.read_packet(wait()).unwrap();
    assert_eq!(raw::parse_publish(&first).unwrap().payload, b"me");
    expect_packet(&mut c, &raw::puback(5), "PUBACK after the copy");
}

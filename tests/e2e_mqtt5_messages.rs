//! MQTT 5, the message and subscription half (docs/mqtt5.md, "Message
//! properties", "Message expiry", "Subscriptions", "Reason codes on
//! acknowledgements"), end to end against the real binary: properties
//! passed through unchanged (mosquitto_pub/sub -V mqttv5 with -D and -F),
//! 0x99, message expiry in memory and out of the store across a SIGKILL
//! and restart, every subscription option, overlapping subscription
//! identifiers (raw bytes and rumqttc's v5 client), persisted identifiers,
//! and the reason code of every acknowledgement in this area — with 3.1.1
//! clients seeing what they always saw.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::flow::{expect_silence, quiet, wait};
use common::mosquitto::{mosquitto_pub, mosquitto_sub, MosquittoSub};
use common::raw::{self, Connect};
use common::{scaled, Broker, RawClient, ReadEvent};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Raw MQTT 5 packets: what the tests send and how they read what comes.
mod v5 {
    use super::common::raw;

    pub fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    pub fn varint(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let mut b = (n & 0x7f) as u8;
            n >>= 7;
            if n > 0 {
                b |= 0x80;
            }
            out.push(b);
            if n == 0 {
                return;
            }
        }
    }

    fn with_properties(out: &mut Vec<u8>, props: &[u8]) {
        varint(props.len(), out);
        out.extend_from_slice(props);
    }

    /// CONNECT 5.0; `expiry` is the Session Expiry Interval (none when 0).
    pub fn connect(client_id: &str, clean_start: bool, expiry: u32) -> Vec<u8> {
        let mut body = Vec::new();
        put_str(&mut body, "MQTT");
        body.push(5);
        body.push(if clean_start { 0x02 } else { 0 });
        body.extend_from_slice(&60u16.to_be_bytes());
        let mut props = Vec::new();
        if expiry > 0 {
            props.push(0x11);
            props.extend_from_slice(&expiry.to_be_bytes());
        }
        with_properties(&mut body, &props);
        put_str(&mut body, client_id);
        raw::packet(0x10, &body)
    }

    pub fn publish(
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        pkid: u16,
        props: &[u8],
    ) -> Vec<u8> {
        let mut body = Vec::new();
        put_str(&mut body, topic);
        if qos > 0 {
            body.extend_from_slice(&pkid.to_be_bytes());
        }
        with_properties(&mut body, props);
        body.extend_from_slice(payload);
        raw::packet(0x30 | qos << 1 | u8::from(retain), &body)
    }

    /// SUBSCRIBE with one options byte per filter and an optional
    /// Subscription Identifier.
    pub fn subscribe(pkid: u16, filters: &[(&str, u8)], id: Option<u32>) -> Vec<u8> {
        let mut body = pkid.to_be_bytes().to_vec();
        let mut props = Vec::new();
        if let Some(id) = id {
            props.push(0x0B);
            varint(id as usize, &mut props);
        }
        with_properties(&mut body, &props);
        for (filter, options) in filters {
            put_str(&mut body, filter);
            body.push(*options);
        }
        raw::packet(0x82, &body)
    }

    pub fn unsubscribe(pkid: u16, filters: &[&str]) -> Vec<u8> {
        let mut body = pkid.to_be_bytes().to_vec();
        body.push(0);
        for f in filters {
            put_str(&mut body, f);
        }
        raw::packet(0xA2, &body)
    }

    /// Options byte: QoS, no-local, retain-as-published, retain handling.
    pub fn options(qos: u8, no_local: bool, rap: bool, rh: u8) -> u8 {
        qos | u8::from(no_local) << 2 | u8::from(rap) << 3 | rh << 4
    }

    /// One property as read back.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Prop {
        Byte(u8, u8),
        Int(u8, u32),
        Str(u8, String),
        Bin(u8, Vec<u8>),
        Var(u8, u32),
        User(String, String),
    }

    fn read_varint(b: &[u8], i: &mut usize) -> usize {
        let mut n = 0usize;
        for shift in 0..4 {
            let byte = b[*i];
            *i += 1;
            n |= usize::from(byte & 0x7f) << (7 * shift);
            if byte & 0x80 == 0 {
                break;
            }
        }
        n
    }

    fn read_bin(b: &[u8], i: &mut usize) -> Vec<u8> {
        let len = usize::from(u16::from_be_bytes([b[*i], b[*i + 1]]));
        let v = b[*i + 2..*i + 2 + len].to_vec();
        *i += 2 + len;
        v
    }

    pub fn read_props(b: &[u8], i: &mut usize) -> Vec<Prop> {
        let len = read_varint(b, i);
        let end = *i + len;
        let mut props = Vec::new();
        while *i < end {
            let id = b[*i];
            *i += 1;
            props.push(match id {
                0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
                    *i += 1;
                    Prop::Byte(id, b[*i - 1])
                }
                0x02 | 0x11 | 0x18 | 0x27 => {
                    *i += 4;
                    Prop::Int(id, u32::from_be_bytes(b[*i - 4..*i].try_into().unwrap()))
                }
                0x13 | 0x21 | 0x22 | 0x23 => {
                    *i += 2;
                    Prop::Int(id, u32::from(u16::from_be_bytes([b[*i - 2], b[*i - 1]])))
                }
                0x0B => Prop::Var(id, read_varint(b, i) as u32),
                0x09 | 0x16 => Prop::Bin(id, read_bin(b, i)),
                0x26 => {
                    let k = String::from_utf8(read_bin(b, i)).unwrap();
                    let v = String::from_utf8(read_bin(b, i)).unwrap();
                    Prop::User(k, v)
                }
                _ => Prop::Str(id, String::from_utf8(read_bin(b, i)).unwrap()),
            });
        }
        props
    }

    /// A PUBLISH as a 5.0 client sees it.
    #[derive(Debug, Clone)]
    pub struct Publish5 {
        pub topic: String,
        pub qos: u8,
        pub retain: bool,
        pub pkid: Option<u16>,
        pub props: Vec<Prop>,
        pub payload: Vec<u8>,
    }

    impl Publish5 {
        pub fn ids(&self) -> Vec<u32> {
            self.props
                .iter()
                .filter_map(|p| match p {
                    Prop::Var(0x0B, v) => Some(*v),
                    _ => None,
                })
                .collect()
        }

        pub fn expiry(&self) -> Option<u32> {
            self.props.iter().find_map(|p| match p {
                Prop::Int(0x02, v) => Some(*v),
                _ => None,
            })
        }
    }

    pub fn parse_publish(p: &[u8]) -> Option<Publish5> {
        if raw::packet_type(p) != 3 {
            return None;
        }
        let qos = (p[0] >> 1) & 3;
        let b = raw::body(p);
        let mut i = 0;
        let topic = String::from_utf8(read_bin(b, &mut i)).ok()?;
        let pkid = (qos > 0).then(|| {
            i += 2;
            u16::from_be_bytes([b[i - 2], b[i - 1]])
        });
        let props = read_props(b, &mut i);
        Some(Publish5 {
            topic,
            qos,
            retain: p[0] & 1 == 1,
            pkid,
            props,
            payload: b[i..].to_vec(),
        })
    }

    /// (packet type, packet id, reason code) of PUBACK/PUBREC/UNSUBACK-like
    /// packets; a missing reason is 0.
    pub fn parse_ack(p: &[u8]) -> (u8, u16, u8) {
        let b = raw::body(p);
        (
            raw::packet_type(p),
            u16::from_be_bytes([b[0], b[1]]),
            b.get(2).copied().unwrap_or(0),
        )
    }

    /// SUBACK or UNSUBACK reason codes (after the property block).
    pub fn parse_codes(p: &[u8]) -> Vec<u8> {
        let b = raw::body(p);
        let mut i = 2;
        read_props(b, &mut i);
        b[i..].to_vec()
    }
}

use v5::{Prop, Publish5};

fn id(prefix: &str) -> String {
    common::unique_id(prefix)
}

/// A connected 5.0 raw client (CONNACK 0 checked).
fn connect5(addr: SocketAddr, client_id: &str, clean_start: bool, expiry: u32) -> RawClient {
    let mut c = RawClient::connect(addr);
    c.send(&v5::connect(client_id, clean_start, expiry));
    let p = c.read_packet(wait()).expect("CONNACK");
    assert_eq!(raw::packet_type(&p), 2, "CONNACK: {p:02x?}");
    assert_eq!(raw::body(&p)[1], 0, "CONNACK reason for {client_id}");
    c
}

fn subscribe5(
    c: &mut RawClient,
    pkid: u16,
    filters: &[(&str, u8)],
    sub_id: Option<u32>,
) -> Vec<u8> {
    c.send(&v5::subscribe(pkid, filters, sub_id));
    let p = c.read_packet(wait()).expect("SUBACK");
    assert_eq!(raw::packet_type(&p), 9, "SUBACK: {p:02x?}");
    v5::parse_codes(&p)
}

/// The next packet, which must be a PUBLISH; a QoS 1 one is acknowledged.
fn next_publish(c: &mut RawClient) -> Publish5 {
    let p = c.read_packet(wait()).expect("a PUBLISH");
    let m = v5::parse_publish(&p).unwrap_or_else(|| panic!("not a PUBLISH: {p:02x?}"));
    if let (1, Some(pkid)) = (m.qos, m.pkid) {
        c.send(&raw::puback(pkid));
    }
    m
}

/// QoS 1 PUBLISH from a 5.0 client; the PUBACK's reason code.
fn publish5_acked(
    c: &mut RawClient,
    topic: &str,
    payload: &[u8],
    retain: bool,
    pkid: u16,
    props: &[u8],
) -> u8 {
    c.send(&v5::publish(topic, payload, 1, retain, pkid, props));
    let p = c.read_packet(wait()).expect("PUBACK");
    let (kind, id, reason) = v5::parse_ack(&p);
    assert_eq!((kind, id), (4, pkid), "PUBACK for {topic}: {p:02x?}");
    reason
}

/// QoS 1 PUBLISH from a client subscribed to it: its PUBACK's reason and
/// its own copy, which may come first.
fn publish5_echoed(c: &mut RawClient, topic: &str, payload: &[u8], pkid: u16) -> (u8, Publish5) {
    c.send(&v5::publish(topic, payload, 1, false, pkid, &[]));
    let (mut reason, mut copy) = (None, None);
    for _ in 0..2 {
        let p = c.read_packet(wait()).expect("PUBACK and PUBLISH");
        match v5::parse_publish(&p) {
            Some(m) => {
                if let Some(id) = m.pkid {
                    c.send(&raw::puback(id));
                }
                copy = Some(m);
            }
            None => {
                let (kind, id, code) = v5::parse_ack(&p);
                assert_eq!((kind, id), (4, pkid), "PUBACK: {p:02x?}");
                reason = Some(code);
            }
        }
    }
    (reason.unwrap(), copy.unwrap())
}

/// SUBSCRIBE at QoS 1 with retain handling `rh`, granted.
fn subscribe_rh(c: &mut RawClient, pkid: u16, filter: &str, rh: u8) {
    let options = v5::options(1, false, false, rh);
    assert_eq!(subscribe5(c, pkid, &[(filter, options)], None), [1]);
}

/// Resumes `client`'s session (present) and reads the two PUBLISHes it
/// must get first, on `topics` in that order.
fn resume_with_two(
    broker: &Broker,
    client: &str,
    topics: [&str; 2],
) -> (RawClient, Publish5, Publish5) {
    let mut c = RawClient::connect(broker.addr());
    c.send(&v5::connect(client, false, 3600));
    let p = c.read_packet(wait()).expect("CONNACK");
    assert_eq!(raw::body(&p)[0] & 1, 1, "session present");
    let first = next_publish(&mut c);
    let second = next_publish(&mut c);
    assert_eq!(
        [first.topic.as_str(), second.topic.as_str()],
        topics,
        "{}",
        broker.all_logs()
    );
    (c, first, second)
}

/// A Message Expiry Interval of `sent` seconds, delivered with what is left
/// after waiting since about `since` (rounded up; the publish itself took a
/// moment before `since`).
fn assert_reduced(left: u32, sent: u32, since: Instant) {
    let waited = since.elapsed().as_secs_f64();
    let floor = (f64::from(sent) - waited).floor() as u32;
    assert!(
        left < sent && left >= floor.saturating_sub(1) && left <= floor + 1,
        "{sent} s less the {waited:.1} s it waited: {left}"
    );
    assert!(waited >= 2.0, "it did wait ({waited:.1} s)");
}

fn user(k: &str, v: &str) -> Vec<u8> {
    let mut out = vec![0x26];
    v5::put_str(&mut out, k);
    v5::put_str(&mut out, v);
    out
}

fn expiry_prop(secs: u32) -> Vec<u8> {
    let mut out = vec![0x02];
    out.extend_from_slice(&secs.to_be_bytes());
    out
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn properties_pass_through_unchanged_to_5_and_not_to_3_1_1() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let format = "%t|%p|C=%C|D=%D|F=%F|R=%R|P=%P|E=%E";
    let sub = MosquittoSub::start(addr, &["-V", "mqttv5", "-t", "req/#", "-F", format]);
    let mut old = RawClient::connect(addr);
    old.send(&Connect::new(&id("v311")).to_bytes());
    old.read_packet(wait()).expect("CONNACK");
    assert_eq!(
        common::flow::raw_subscribe(&mut old, 1, &[("req/#", 1)]),
        vec![1]
    );

    let out = mosquitto_pub(
        addr,
        &[
            "-V",
            "mqttv5",
            "-q",
            "1",
            "-t",
            "req/a",
            "-m",
            "ping",
            "-D",
            "publish",
            "user-property",
            "z",
            "1",
            "-D",
            "publish",
            "user-property",
            "a",
            "2",
            "-D",
            "publish",
            "user-property",
            "z",
            "3",
            "-D",
            "publish",
            "content-type",
            "text/plain",
            "-D",
            "publish",
            "response-topic",
            "resp/7",
            "-D",
            "publish",
            "correlation-data",
            "corr-42",
            "-D",
            "publish",
            "payload-format-indicator",
            "1",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let lines = sub.wait_messages(1, wait());
    // User properties in the order sent, duplicate keys included
    // [MQTT-3.3.2-17, MQTT-3.3.2-18]; no expiry was set, none is added.
    assert_eq!(
        lines,
        ["req/a|ping|C=text/plain|D=corr-42|F=1|R=resp/7|P=z:1 a:2 z:3|E="],
        "{}",
        broker.log()
    );
    // The 3.1.1 subscriber gets the bare message, as before.
    let got = common::flow::collect(&mut old, 1);
    assert_eq!(
        (got[0].topic.as_str(), got[0].payload.as_slice(), got[0].qos),
        ("req/a", &b"ping"[..], 1)
    );
    sub.stop();
}

#[test]
fn retained_messages_and_wills_keep_their_properties() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let out = mosquitto_pub(
        addr,
        &[
            "-V",
            "mqttv5",
            "-r",
            "-q",
            "1",
            "-t",
            "state/door",
            "-m",
            "open",
            "-D",
            "publish",
            "user-property",
            "site",
            "north",
            "-D",
            "publish",
            "content-type",
            "text/plain",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let out = mosquitto_sub(
        addr,
        &[
            "-V",
            "mqttv5",
            "-t",
            "state/#",
            "-C",
            "1",
            "-W",
            "5",
            "-F",
            "%r|%p|%C|%P",
        ],
        wait(),
    );
    assert_eq!(
        stdout(&out).trim(),
        "1|open|text/plain|site:north",
        "{out:?}"
    );

    // A will with properties, published when its client vanishes.
    let sub = MosquittoSub::start(addr, &["-V", "mqttv5", "-t", "wills/#", "-F", "%p|%P|%R"]);
    let mut dying = std::process::Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &addr.port().to_string(),
            "-V",
            "mqttv5",
            "-t",
            "x",
            "-i",
            &id("dying"),
        ])
        .args([
            "--will-topic",
            "wills/dev1",
            "--will-payload",
            "gone",
            "--will-qos",
            "1",
        ])
        .args([
            "-D",
            "will",
            "user-property",
            "reason",
            "lost",
            "-D",
            "will",
            "response-topic",
            "ops/ack",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(broker.wait_for_log("connected from", wait()));
    std::thread::sleep(quiet());
    dying.kill().unwrap();
    let _ = dying.wait();
    assert_eq!(sub.wait_messages(1, wait()), ["gone|reason:lost|ops/ack"]);
    sub.stop();
}

#[test]
fn payload_format_invalid_is_refused_with_0x99() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let watcher_id = id("watch");
    let mut watcher = connect5(addr, &watcher_id, true, 0);
    assert_eq!(subscribe5(&mut watcher, 1, &[("pf/#", 1)], None), [1]);
    let mut c = connect5(addr, &id("pf"), true, 0);
    let pfi = [0x01, 1];
    let bad = [0xff, 0xfe, b'x'];
    // QoS 1: PUBACK 0x99, not routed; the connection goes on.
    assert_eq!(publish5_acked(&mut c, "pf/a", &bad, false, 1, &pfi), 0x99);
    // QoS 2: PUBREC 0x99 ends the exchange.
    c.send(&v5::publish("pf/a", &bad, 2, false, 2, &pfi));
    let p = c.read_packet(wait()).expect("PUBREC");
    assert_eq!(v5::parse_ack(&p), (5, 2, 0x99));
    // Valid UTF-8 with the same indicator passes.
    assert_eq!(
        publish5_acked(&mut c, "pf/a", "ünïcode".as_bytes(), false, 3, &pfi),
        0
    );
    let m = next_publish(&mut watcher);
    assert_eq!(m.payload, "ünïcode".as_bytes());
    assert_eq!(m.props, [Prop::Byte(1, 1)]);
    expect_silence(&mut watcher, "the refused payloads were not routed");
    // QoS 0 has no acknowledgement: DISCONNECT 0x99, then closed.
    c.send(&v5::publish("pf/a", &bad, 0, false, 0, &pfi));
    let p = c.read_packet(wait()).expect("DISCONNECT");
    // Type and reason code; a reason string may follow (docs/mqtt5.md).
    assert_eq!((p[0], p[2]), (0xE0, 0x99), "{p:?}");
    assert!(c.expect_closed(wait()));
    assert_eq!(
        broker.report(wait()).get("payload_format_invalid"),
        Some(&3)
    );
}

#[test]
fn acknowledgement_reason_codes() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl");
    std::fs::write(&acl, "topic readwrite open/#\ntopic read ro/#\n").unwrap();
    let broker = Broker::start(&format!(
        "acl_file {}\nmax_subscriptions_per_client 3\n",
        acl.display()
    ));
    let addr = broker.addr();
    let mut c = connect5(addr, &id("codes"), true, 0);
    // PUBACK 0x10: nobody subscribed; 0x00 once someone is.
    assert_eq!(publish5_acked(&mut c, "open/a", b"1", false, 1, &[]), 0x10);
    // SUBACK: granted, 0x87 (ACL), 0x8F (invalid filter).
    assert_eq!(
        subscribe5(
            &mut c,
            2,
            &[("open/#", 1), ("secret/#", 1), ("open/#/x", 0)],
            None
        ),
        [1, 0x87, 0x8F]
    );
    let (reason, copy) = publish5_echoed(&mut c, "open/a", b"2", 3);
    assert_eq!((reason, copy.payload.as_slice()), (0, &b"2"[..]));
    // PUBACK and PUBREC 0x87: the ACL denies writing; nothing is routed.
    assert_eq!(publish5_acked(&mut c, "ro/a", b"3", false, 4, &[]), 0x87);
    c.send(&v5::publish("ro/a", b"4", 2, false, 5, &[]));
    assert_eq!(v5::parse_ack(&c.read_packet(wait()).unwrap()), (5, 5, 0x87));
    // SUBACK 0x97: over max_subscriptions_per_client (3).
    assert_eq!(
        subscribe5(
            &mut c,
            6,
            &[("open/b", 0), ("open/c", 0), ("open/d", 0)],
            None
        ),
        [0, 0, 0x97]
    );
    // UNSUBACK: 0x00 for a subscription, 0x11 for none.
    c.send(&v5::unsubscribe(7, &["open/b", "open/nothing"]));
    let p = c.read_packet(wait()).expect("UNSUBACK");
    assert_eq!(raw::packet_type(&p), 11);
    assert_eq!(v5::parse_codes(&p), [0x00, 0x11]);
    // Subscription Identifier 0 is a protocol error [MQTT-3.8.2-2].
    c.send(&v5::subscribe(8, &[("open/#", 0)], Some(0)));
    if let Some(p) = c.read_packet(wait()) {
        assert_eq!((p[0], p[2]), (0xE0, 0x82), "only DISCONNECT 0x82 may come");
    }
    assert!(c.expect_closed(wait()));

    // A 3.1.1 client sees the 3.1.1 forms: two-byte PUBACKs, SUBACK 0x80.
    let (mut old, code) = RawClient::connect_mqtt(addr, &id("old"));
    assert_eq!(code, Some(0));
    old.send(&raw::publish("nobody/x", b"x", 1, false, false, Some(1)));
    assert_eq!(old.read_packet(wait()).unwrap(), [0x40, 2, 0, 1]);
    old.send(&raw::publish("ro/x", b"x", 1, false, false, Some(2)));
    assert_eq!(old.read_packet(wait()).unwrap(), [0x40, 2, 0, 2]);
    assert_eq!(
        common::flow::raw_subscribe(
            &mut old,
            3,
            &[
                ("secret/#", 1),
                ("open/1", 0),
                ("open/2", 0),
                ("open/3", 0),
                ("open/4", 0)
            ]
        ),
        [0x80, 0, 0, 0, 0x80]
    );
    // An invalid filter, 0x8F above, closes a 3.1.1 connection
    // (docs/protocol-choices.md).
    old.send(&raw::subscribe(4, &[("a/#/b", 0)]));
    assert_eq!(old.read_event(wait()), ReadEvent::Closed);
}

#[test]
fn subscription_options_no_local_retain_as_published_and_retain_handling() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let mut me = connect5(addr, &id("me"), true, 0);
    let mut other = connect5(addr, &id("other"), true, 0);
    // No-local: my own messages do not come back to me; others get them.
    assert_eq!(
        subscribe5(
            &mut me,
            1,
            &[("nl/#", v5::options(1, true, false, 0))],
            None
        ),
        [1]
    );
    assert_eq!(subscribe5(&mut other, 1, &[("nl/#", 1)], None), [1]);
    assert_eq!(publish5_acked(&mut me, "nl/a", b"mine", false, 2, &[]), 0);
    assert_eq!(next_publish(&mut other).payload, b"mine");
    expect_silence(&mut me, "no-local: not my own message");
    // ...but another client's do.
    let (reason, copy) = publish5_echoed(&mut other, "nl/b", b"theirs", 2);
    assert_eq!((reason, copy.payload.as_slice()), (0, &b"theirs"[..]));
    assert_eq!(next_publish(&mut me).payload, b"theirs");

    // Retain as published: the live retain flag is kept for `rap`, cleared
    // otherwise [MQTT-3.3.1-12].
    assert_eq!(
        subscribe5(
            &mut me,
            3,
            &[("rap/#", v5::options(1, false, true, 2))],
            None
        ),
        [1]
    );
    assert_eq!(
        subscribe5(
            &mut other,
            3,
            &[("rap/#", v5::options(1, false, false, 2))],
            None
        ),
        [1]
    );
    let mut publisher = connect5(addr, &id("pub"), true, 0);
    assert_eq!(
        publish5_acked(&mut publisher, "rap/x", b"r", true, 1, &[]),
        0
    );
    assert!(
        next_publish(&mut me).retain,
        "retain-as-published keeps the flag"
    );
    assert!(
        !next_publish(&mut other).retain,
        "without it the flag is cleared"
    );

    // Retain handling on a retained message at rh/x.
    assert_eq!(
        publish5_acked(&mut publisher, "rh/x", b"kept", true, 2, &[]),
        0x10
    );
    let mut fresh = connect5(addr, &id("rh"), true, 0);
    // 2: never.
    subscribe_rh(&mut fresh, 1, "rh/#", 2);
    expect_silence(&mut fresh, "retain handling 2 sends no retained message");
    // 1: only when the subscription is new — replacing it sends nothing.
    subscribe_rh(&mut fresh, 2, "rh/#", 1);
    expect_silence(&mut fresh, "retain handling 1 on an existing subscription");
    subscribe_rh(&mut fresh, 3, "rh/+", 1);
    let m = next_publish(&mut fresh);
    assert_eq!((m.payload.as_slice(), m.retain), (&b"kept"[..], true));
    // 0: at every subscribe, new or not.
    subscribe_rh(&mut fresh, 4, "rh/+", 0);
    assert!(next_publish(&mut fresh).retain);
    subscribe_rh(&mut fresh, 5, "rh/+", 0);
    assert!(next_publish(&mut fresh).retain);
    expect_silence(&mut fresh, "one retained message per subscribe");
}

#[test]
fn overlapping_subscription_identifiers_one_copy_carrying_each() {
    let broker = Broker::start("persistence_sync true\n");
    let addr = broker.addr();
    let client = id("ids");
    let mut c = connect5(addr, &client, false, 3600);
    assert_eq!(subscribe5(&mut c, 1, &[("ids/+", 1)], Some(5)), [1]);
    assert_eq!(
        subscribe5(&mut c, 2, &[("ids/#", 0)], Some(268_435_455)),
        [0]
    );
    assert_eq!(subscribe5(&mut c, 3, &[("ids/a", 1)], None), [1]);
    let mut publisher = connect5(addr, &id("pub"), true, 0);
    assert_eq!(
        publish5_acked(&mut publisher, "ids/a", b"one", false, 1, &[]),
        0
    );
    let m = next_publish(&mut c);
    assert_eq!((m.payload.as_slice(), m.qos), (&b"one"[..], 1));
    assert_eq!(m.ids(), [5, 268_435_455]);
    expect_silence(&mut c, "one copy for three matching subscriptions");
    // A match without any identifier carries none.
    assert_eq!(
        publish5_acked(&mut publisher, "ids/b/c", b"two", false, 2, &[]),
        0
    );
    assert_eq!(next_publish(&mut c).ids(), [268_435_455]);

    // The identifiers are stored with the subscriptions: after a crash and
    // restart the session still carries them.
    c.send(&raw::disconnect());
    drop(c);
    let mut broker = broker;
    broker.restart();
    let addr = broker.addr();
    let mut c = RawClient::connect(addr);
    c.send(&v5::connect(&client, false, 3600));
    let p = c.read_packet(wait()).expect("CONNACK");
    assert_eq!(raw::body(&p)[0] & 1, 1, "session present after the restart");
    let mut publisher = connect5(addr, &id("pub"), true, 0);
    assert_eq!(
        publish5_acked(&mut publisher, "ids/a", b"three", false, 1, &[]),
        0
    );
    let m = next_publish(&mut c);
    assert_eq!(
        (m.payload.as_slice(), m.ids()),
        (&b"three"[..], vec![5, 268_435_455])
    );
}

#[test]
fn rumqttc_v5_sees_every_matching_identifier() {
    use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeProperties};
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::{Client, Event, MqttOptions};

    let broker = Broker::start("");
    let addr = broker.addr();
    let mut opts = MqttOptions::new(id("rumq5"), "127.0.0.1", addr.port());
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut connection) = Client::new(opts, 16);
    let props = |id| SubscribeProperties {
        id: Some(id),
        user_properties: Vec::new(),
    };
    client
        .subscribe_with_properties("fleet/+/temp", QoS::AtLeastOnce, props(11))
        .unwrap();
    client
        .subscribe_with_properties("fleet/#", QoS::AtMostOnce, props(22))
        .unwrap();
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    let mut subacks = 0;
    let mut published = false;
    let mut got = Vec::new();
    while Instant::now() < deadline && got.is_empty() {
        let Ok(event) = connection.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        match event.expect("rumqttc v5 connection") {
            Event::Incoming(Packet::SubAck(_)) => subacks += 1,
            Event::Incoming(Packet::Publish(p)) => got.push(p),
            _ => {}
        }
        if subacks == 2 && !published {
            published = true;
            let out = mosquitto_pub(
                addr,
                &["-V", "mqttv5", "-q", "1", "-t", "fleet/7/temp", "-m", "21"],
            );
            assert!(out.status.success());
        }
    }
    assert_eq!(got.len(), 1, "{}", broker.log());
    let ids = got[0]
        .properties
        .as_ref()
        .map(|p| p.subscription_identifiers.clone());
    assert_eq!(ids, Some(vec![11, 22]));
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
}

#[test]
fn message_expiry_in_memory_reduced_on_delivery_and_never_late() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let client = id("exp");
    let mut c = connect5(addr, &client, false, 3600);
    assert_eq!(subscribe5(&mut c, 1, &[("exp/#", 1)], None), [1]);
    // Online: the expiry is passed on.
    let mut publisher = connect5(addr, &id("pub"), true, 0);
    assert_eq!(
        publish5_acked(&mut publisher, "exp/live", b"l", false, 1, &expiry_prop(30)),
        0
    );
    assert_eq!(next_publish(&mut c).expiry(), Some(30));
    c.send(&raw::disconnect());
    assert!(c.expect_closed(wait()));
    // Offline: one expires while queued, one is reduced, one never expires.
    let queued = Instant::now();
    assert_eq!(
        publish5_acked(&mut publisher, "exp/short", b"s", false, 2, &expiry_prop(1)),
        0
    );
    assert_eq!(
        publish5_acked(&mut publisher, "exp/long", b"l", false, 3, &expiry_prop(60)),
        0
    );
    assert_eq!(
        publish5_acked(&mut publisher, "exp/none", b"n", false, 4, &[]),
        0
    );
    // A retained message that expires is not sent to later subscribers.
    assert_eq!(
        publish5_acked(&mut publisher, "exp/ret", b"r", true, 5, &expiry_prop(1)),
        0
    );
    std::thread::sleep(scaled(Duration::from_millis(2500)));
    let (mut c, first, second) = resume_with_two(&broker, &client, ["exp/long", "exp/none"]);
    assert_reduced(first.expiry().unwrap(), 60, queued);
    assert_eq!(second.expiry(), None);
    expect_silence(&mut c, "the expired messages never arrive");
    let mut late = connect5(addr, &id("late"), true, 0);
    assert_eq!(subscribe5(&mut late, 1, &[("exp/ret", 1)], None), [1]);
    expect_silence(&mut late, "an expired retained message is not sent");
    assert!(
        broker
            .report(wait())
            .get("messages_expired")
            .copied()
            .unwrap_or(0)
            >= 2
    );
}

#[test]
fn message_expiry_out_of_the_store_across_a_restart() {
    let mut broker = Broker::start("persistence_sync true\n");
    let addr = broker.addr();
    let client = id("stored");
    let mut c = connect5(addr, &client, false, 3600);
    assert_eq!(subscribe5(&mut c, 1, &[("st/q/#", 1)], None), [1]);
    c.send(&raw::disconnect());
    assert!(c.expect_closed(wait()));
    let mut publisher = connect5(addr, &id("pub"), true, 0);
    // Acknowledged in sync mode: on disk before each PUBACK.
    let user_props = [user("k", "v"), user("a", "b")].concat();
    let long = [expiry_prop(600), user_props.clone()].concat();
    assert_eq!(
        publish5_acked(
            &mut publisher,
            "st/q/short",
            b"s",
            false,
            1,
            &expiry_prop(2)
        ),
        0
    );
    assert_eq!(
        publish5_acked(&mut publisher, "st/q/long", b"l", false, 2, &long),
        0
    );
    assert_eq!(
        publish5_acked(&mut publisher, "st/q/none", b"n", false, 3, &[]),
        0
    );
    assert_eq!(
        publish5_acked(
            &mut publisher,
            "st/r/short",
            b"rs",
            true,
            4,
            &expiry_prop(2)
        ),
        0x10
    );
    assert_eq!(
        publish5_acked(&mut publisher, "st/r/long", b"rl", true, 5, &long),
        0x10
    );
    let published = Instant::now();
    drop(publisher);
    // SIGKILL, down past the short expiry, start again on the same store.
    broker.kill9();
    std::thread::sleep(Duration::from_millis(2500).saturating_sub(published.elapsed()));
    broker.restart();
    let addr = broker.addr();
    let (mut c, first, second) = resume_with_two(&broker, &client, ["st/q/long", "st/q/none"]);
    assert_eq!(second.expiry(), None);
    assert_reduced(first.expiry().unwrap(), 600, published);
    // Its other properties came back from the store in their order.
    let users: Vec<_> = first
        .props
        .iter()
        .filter(|p| matches!(p, Prop::User(..)))
        .cloned()
        .collect();
    assert_eq!(
        users,
        [
            Prop::User("k".into(), "v".into()),
            Prop::User("a".into(), "b".into())
        ]
    );
    expect_silence(
        &mut c,
        "the message that expired while stored never arrives",
    );
    // The retained store: only the unexpired one, its expiry reduced.
    let mut late = connect5(addr, &id("late"), true, 0);
    assert_eq!(subscribe5(&mut late, 1, &[("st/r/#", 1)], None), [1]);
    let m = next_publish(&mut late);
    assert_eq!((m.topic.as_str(), m.retain), ("st/r/long", true));
    assert_reduced(m.expiry().unwrap(), 600, published);
    expect_silence(&mut late, "the expired retained message is gone");
    assert!(
        broker
            .report(wait())
            .get("messages_expired")
            .copied()
            .unwrap_or(0)
            >= 2
    );
}

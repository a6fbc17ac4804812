//! The MQTT 3.1 / 3.1.1 half of the protocol-violation suite (the 5.0 half
//! is e2e_mqtt5_violations.rs; docs/protocol-choices.md says what the
//! broker chose where the spec lets it choose). Each case is written from a
//! normative statement and sent over raw bytes, in both 3.1 ("MQIsdp",
//! level 3) and 3.1.1 where the statement holds for both. For each: the
//! offending connection is closed without an answer, or refused with the
//! CONNACK code 3.1.1 names; the broker counts it (the admin API's
//! counters move by exactly one); and a bystander's round trip (a PUBLISH
//! to itself, timed on a thread of its own all suite long) stays under
//! 100 ms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use common::http::{admin_addr, admin_token, counters};
use common::latency::LatencyProbe;
use common::raw::{self, Connect, ReadEvent, Version};
use common::{scaled, Broker, RawClient};

/// The admin API for the counters; a short `connect_timeout` for the
/// truncated CONNECT.
const CONFIG: &str = "admin_listener 127.0.0.1:0\nconnect_timeout 2\n";

/// The counters a violation may move; every case moves exactly one of them.
const COUNTED: [&str; 3] = ["malformed_packets", "protocol_errors", "refused_client_id"];

fn secs(n: u64) -> Duration {
    scaled(Duration::from_secs(n))
}

// Connect flags [MQTT-3.1.2].
const CLEAN: u8 = 0x02;
const WILL: u8 = 0x04;
const WILL_QOS1: u8 = 0x08;
const WILL_QOS2: u8 = 0x10;
const WILL_RETAIN: u8 = 0x20;
const PASSWORD: u8 = 0x40;
const USERNAME: u8 = 0x80;

/// What the broker must do with a case.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Close without sending anything, counting it in this counter.
    Closed(&'static str),
    /// CONNACK with this return code, then close, counted here.
    Refused(u8, &'static str),
}

struct Case {
    name: String,
    version: Version,
    /// Send a valid CONNECT of `version` (CONNACK 0) before the bytes.
    connect_first: bool,
    bytes: Vec<u8>,
    expect: Expect,
}

/// Builds the case list of one version.
struct Cases {
    version: Version,
    list: Vec<Case>,
}

impl Cases {
    fn tag(&self) -> &'static str {
        match self.version {
            Version::V31 => "3.1",
            Version::V311 => "3.1.1",
        }
    }

    /// A case sent after a successful CONNECT.
    fn after(&mut self, name: &str, bytes: Vec<u8>, expect: Expect) {
        self.push(name, true, bytes, expect);
    }

    /// A case that is the connection's first packet.
    fn first(&mut self, name: &str, bytes: Vec<u8>, expect: Expect) {
        self.push(name, false, bytes, expect);
    }

    fn push(&mut self, name: &str, connect_first: bool, bytes: Vec<u8>, expect: Expect) {
        self.list.push(Case {
            name: format!("{} {name}", self.tag()),
            version: self.version,
            connect_first,
            bytes,
            expect,
        });
    }

    /// A CONNECT of this version with these flags and payload fields.
    fn connect(&self, flags: u8, fields: &[&[u8]]) -> Vec<u8> {
        let (name, level) = self.version.name_and_level();
        raw::connect_raw(name, level, flags, 60, fields)
    }
}

const MALFORMED: Expect = Expect::Closed("malformed_packets");
const PROTOCOL: Expect = Expect::Closed("protocol_errors");

/// Strings no MQTT string may hold: ill-formed UTF-8 (a bad continuation,
/// a surrogate, an overlong encoding) [MQTT-1.5.3-1] and U+0000
/// [MQTT-1.5.3-2].
const BAD_STRINGS: [(&str, &[u8]); 4] = [
    ("ill-formed UTF-8", b"v/\xC3\x28"),
    ("a UTF-16 surrogate", b"v/\xED\xA0\x80"),
    ("an overlong encoding", b"v/\xC0\xAF"),
    ("U+0000", b"v/a\x00b"),
];

fn cases(version: Version) -> Vec<Case> {
    let mut c = Cases {
        version,
        list: Vec::new(),
    };
    reserved_flags(&mut c);
    remaining_lengths(&mut c);
    strings(&mut c);
    topics(&mut c);
    connect_flags(&mut c);
    packet_ids_and_qos(&mut c);
    order(&mut c);
    c.list
}

/// Fixed-header flags: 0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE, 0000
/// for the rest a client sends [MQTT-2.2.2-1]; anything else closes
/// [MQTT-2.2.2-2]. Each flag bit wrong alone.
fn reserved_flags(c: &mut Cases) {
    let connect = c.connect(CLEAN, &[b"flags"]);
    let subscribe = raw::subscribe(1, &[("v/s", 0)]);
    let unsubscribe = raw::unsubscribe(1, &["v/s"]);
    let zero: [(&str, Vec<u8>); 6] = [
        ("PUBACK", raw::puback(1)),
        ("PUBREC", raw::pubrec(1)),
        ("PUBCOMP", raw::pubcomp(1)),
        ("PINGREQ", raw::pingreq()),
        ("DISCONNECT", raw::disconnect()),
        ("CONNECT", connect.clone()),
    ];
    for (name, bytes) in zero {
        for bit in [1u8, 2, 4, 8] {
            let mut bad = bytes.clone();
            bad[0] |= bit;
            let label = format!("{name} with fixed-header flags {:04b}", bad[0] & 0x0F);
            if name == "CONNECT" {
                c.first(&label, bad, MALFORMED);
            } else {
                c.after(&label, bad, MALFORMED);
            }
        }
    }
    let two: [(&str, Vec<u8>); 3] = [
        ("PUBREL", raw::pubrel(1)),
        ("SUBSCRIBE", subscribe),
        ("UNSUBSCRIBE", unsubscribe),
    ];
    for (name, bytes) in two {
        for flags in [0b0000u8, 0b0011, 0b0110, 0b1010] {
            let mut bad = bytes.clone();
            bad[0] = (bad[0] & 0xF0) | flags;
            let label = format!("{name} with fixed-header flags {flags:04b}");
            c.after(&label, bad, MALFORMED);
        }
    }
    // The CONNECT flags' reserved bit 0 [MQTT-3.1.2-3].
    let reserved = c.connect(CLEAN | 0x01, &[b"reserved"]);
    c.first(
        "CONNECT with the reserved connect flag",
        reserved,
        MALFORMED,
    );
}

/// The remaining length [MQTT-2.2.3]: at most four bytes; within
/// `max_packet_size`; exactly the packet's fields, no more, no fewer.
fn remaining_lengths(c: &mut Cases) {
    c.after(
        "5-byte remaining length",
        vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00],
        MALFORMED,
    );
    c.first(
        "5-byte remaining length as the first packet",
        vec![0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        MALFORMED,
    );
    // 268,435,455 bytes announced: refused from the fixed header, at once.
    c.after(
        "PUBLISH announcing 256 MiB",
        vec![0x30, 0xFF, 0xFF, 0xFF, 0x7F],
        MALFORMED,
    );
    c.first(
        "CONNECT announcing 256 MiB",
        vec![0x10, 0xFF, 0xFF, 0xFF, 0x7F],
        MALFORMED,
    );
    // A field that runs past the remaining length.
    c.after(
        "PUBLISH topic length past the packet",
        vec![0x30, 0x04, 0x00, 0xC8, b'v', b'/'],
        MALFORMED,
    );
    c.first(
        "CONNECT client id length past the packet",
        {
            let mut p = c.connect(CLEAN, &[b"id"]);
            let at = p.len() - 4;
            p[at + 1] = 0x40; // 64 bytes announced, 2 present
            p
        },
        MALFORMED,
    );
    c.after(
        "SUBSCRIBE filter length past the packet",
        vec![0x82, 0x05, 0x00, 0x01, 0x00, 0x09, b'v'],
        MALFORMED,
    );
    c.after("PUBACK with 1 byte", vec![0x40, 0x01, 0x00], MALFORMED);
    c.after(
        "QoS 1 PUBLISH without its packet id",
        vec![0x32, 0x04, 0x00, 0x02, b'v', b'/'],
        MALFORMED,
    );
    // Trailing bytes inside the remaining length.
    let trailing: [(&str, Vec<u8>); 7] = [
        ("PUBACK", raw::puback(1)),
        ("PUBREC", raw::pubrec(1)),
        ("PUBREL", raw::pubrel(1)),
        ("PUBCOMP", raw::pubcomp(1)),
        ("PINGREQ", raw::pingreq()),
        ("DISCONNECT", raw::disconnect()),
        ("SUBSCRIBE", raw::subscribe(1, &[("v/s", 0)])),
    ];
    for (name, bytes) in trailing {
        let mut body = raw::body(&bytes).to_vec();
        body.push(0);
        c.after(
            &format!("{name} with a trailing byte"),
            raw::packet(bytes[0], &body),
            MALFORMED,
        );
    }
    let mut unsubscribe = raw::body(&raw::unsubscribe(1, &["v/s"])).to_vec();
    unsubscribe.push(0);
    c.after(
        "UNSUBSCRIBE with a trailing byte",
        raw::packet(0xA2, &unsubscribe),
        MALFORMED,
    );
    let mut connect = raw::body(&c.connect(CLEAN, &[b"trailing"])).to_vec();
    connect.push(0);
    c.first(
        "CONNECT with a trailing byte",
        raw::packet(0x10, &connect),
        MALFORMED,
    );
}

/// Every string a client sends: client id [MQTT-3.1.3-4], will topic
/// [MQTT-3.1.3-10], user name [MQTT-3.1.3-11], topic name [MQTT-3.3.2-1],
/// topic filters [MQTT-3.8.3-1] [MQTT-3.10.3-1].
fn strings(c: &mut Cases) {
    for (what, bad) in BAD_STRINGS {
        let p = c.connect(CLEAN, &[bad]);
        c.first(&format!("client id with {what}"), p, MALFORMED);
        let p = c.connect(CLEAN | WILL, &[b"will", bad, b"gone"]);
        c.first(&format!("will topic with {what}"), p, MALFORMED);
        let p = c.connect(CLEAN | USERNAME, &[b"user", bad]);
        c.first(&format!("user name with {what}"), p, MALFORMED);
        let p = raw::publish_raw(0x30, bad, None, b"x");
        c.after(&format!("PUBLISH topic with {what}"), p, MALFORMED);
        let p = raw::subscribe_raw(0x82, 1, &[(b"v/ok", 0), (bad, 0)]);
        c.after(&format!("SUBSCRIBE filter with {what}"), p, MALFORMED);
        let p = raw::unsubscribe_raw(0xA2, 1, &[bad]);
        c.after(&format!("UNSUBSCRIBE filter with {what}"), p, MALFORMED);
    }
}

/// Topic names and filters: at least one character [MQTT-4.7.3-1], no
/// wildcard in a name [MQTT-3.3.2-2] (a will topic is one
/// [MQTT-3.1.3-10]), wildcards in a filter only as whole levels and `#`
/// last [MQTT-4.7.1-2] [MQTT-4.7.1-3]; a violation closes [MQTT-4.8.0-1].
fn topics(c: &mut Cases) {
    for topic in ["", "v/+", "v/#", "v/a+b", "#", "v/b#"] {
        let p = raw::publish_raw(0x30, topic.as_bytes(), None, b"x");
        c.after(&format!("PUBLISH to {topic:?}"), p, PROTOCOL);
        let p = raw::publish_raw(0x32, topic.as_bytes(), Some(1), b"x");
        c.after(&format!("QoS 1 PUBLISH to {topic:?}"), p, PROTOCOL);
        let p = c.connect(CLEAN | WILL, &[b"will", topic.as_bytes(), b"gone"]);
        c.first(&format!("will topic {topic:?}"), p, PROTOCOL);
    }
    // A shared filter's group is held to the same syntax (docs/shared.md).
    for filter in [
        "",
        "a/b#",
        "a+/b",
        "a/#/b",
        "#a",
        "+a",
        "a/+b",
        "$share/g+/a",
    ] {
        let p = raw::subscribe(1, &[("v/ok", 1), (filter, 1)]);
        c.after(&format!("SUBSCRIBE to {filter:?}"), p, PROTOCOL);
        let p = raw::unsubscribe(1, &["v/ok", filter]);
        c.after(&format!("UNSUBSCRIBE from {filter:?}"), p, PROTOCOL);
    }
}

/// Connect flags that contradict each other, fields the flags announce
/// but the payload lacks, and protocol names and levels.
fn connect_flags(c: &mut Cases) {
    let flags: [(&str, u8, Vec<&[u8]>); 9] = [
        // [MQTT-3.1.2-11] [MQTT-3.1.2-13]: no will, so will QoS 0.
        ("will QoS 1 without a will", WILL_QOS1, vec![b"f"]),
        ("will QoS 2 without a will", WILL_QOS2, vec![b"f"]),
        // [MQTT-3.1.2-15]: no will, so will retain 0.
        ("will retain without a will", WILL_RETAIN, vec![b"f"]),
        // [MQTT-3.1.2-14]
        (
            "will QoS 3",
            WILL | WILL_QOS1 | WILL_QOS2,
            vec![b"f", b"v/w", b"x"],
        ),
        // [MQTT-3.1.2-22]
        ("password without a user name", PASSWORD, vec![b"f", b"pw"]),
        // [MQTT-3.1.2-9] [MQTT-3.1.2-19] [MQTT-3.1.2-21]: announced, absent.
        ("will flag without will fields", WILL, vec![b"f"]),
        ("will flag without a will message", WILL, vec![b"f", b"v/w"]),
        ("user name flag without a user name", USERNAME, vec![b"f"]),
        (
            "password flag without a password",
            USERNAME | PASSWORD,
            vec![b"f", b"user"],
        ),
    ];
    for (name, bits, fields) in flags {
        let p = c.connect(CLEAN | bits, &fields);
        c.first(&format!("CONNECT with {name}"), p, MALFORMED);
    }
    // A second CONNECT [MQTT-3.1.0-2], of either version.
    c.after("second CONNECT", c.connect(CLEAN, &[b"again"]), PROTOCOL);
    c.after("second CONNECT, 3.1.1", raw::connect("again"), PROTOCOL);
}

/// QoS 3 [MQTT-3.3.1-4] [MQTT-3.8.3-4], requested-QoS reserved bits
/// [MQTT-3.8.3-4], packet id 0 [MQTT-2.3.1-1], DUP on QoS 0
/// [MQTT-3.3.1-2], empty SUBSCRIBE / UNSUBSCRIBE [MQTT-3.8.3-3]
/// [MQTT-3.10.3-2].
fn packet_ids_and_qos(c: &mut Cases) {
    c.after(
        "PUBLISH QoS 3",
        raw::publish_raw(0x36, b"v/q", Some(1), b"x"),
        MALFORMED,
    );
    c.after(
        "retained PUBLISH QoS 3",
        raw::publish_raw(0x37, b"v/q", Some(1), b"x"),
        MALFORMED,
    );
    c.after(
        "SUBSCRIBE requesting QoS 3",
        raw::subscribe(1, &[("v/ok", 1), ("v/q", 3)]),
        MALFORMED,
    );
    c.after(
        "SUBSCRIBE with reserved option bits",
        raw::subscribe(1, &[("v/q", 0x04)]),
        MALFORMED,
    );
    c.after(
        "QoS 0 PUBLISH with DUP",
        raw::publish("v/d", b"x", 0, false, true, None),
        MALFORMED,
    );
    let id0: [(&str, Vec<u8>); 8] = [
        (
            "QoS 1 PUBLISH",
            raw::publish("v/z", b"x", 1, false, false, Some(0)),
        ),
        (
            "QoS 2 PUBLISH",
            raw::publish("v/z", b"x", 2, false, false, Some(0)),
        ),
        ("SUBSCRIBE", raw::subscribe(0, &[("v/z", 0)])),
        ("UNSUBSCRIBE", raw::unsubscribe(0, &["v/z"])),
        ("PUBACK", raw::puback(0)),
        ("PUBREC", raw::pubrec(0)),
        ("PUBREL", raw::pubrel(0)),
        ("PUBCOMP", raw::pubcomp(0)),
    ];
    for (name, bytes) in id0 {
        c.after(&format!("{name} with packet id 0"), bytes, MALFORMED);
    }
    c.after("empty SUBSCRIBE", vec![0x82, 0x02, 0x00, 0x01], MALFORMED);
    c.after("empty UNSUBSCRIBE", vec![0xA2, 0x02, 0x00, 0x01], MALFORMED);
}

/// The first packet must be CONNECT [MQTT-3.1.0-1]; packets only a
/// server sends.
fn order(c: &mut Cases) {
    let before: [(&str, Vec<u8>); 9] = [
        ("PUBLISH", raw::publish("v/p", b"x", 0, false, false, None)),
        (
            "QoS 1 PUBLISH",
            raw::publish("v/p", b"x", 1, false, false, Some(1)),
        ),
        ("SUBSCRIBE", raw::subscribe(1, &[("v/#", 0)])),
        ("UNSUBSCRIBE", raw::unsubscribe(1, &["v/#"])),
        ("PUBACK", raw::puback(1)),
        ("PUBREC", raw::pubrec(1)),
        ("PUBREL", raw::pubrel(1)),
        ("PINGREQ", raw::pingreq()),
        ("DISCONNECT", raw::disconnect()),
    ];
    for (name, bytes) in before {
        c.first(&format!("{name} before CONNECT"), bytes, PROTOCOL);
    }
    let server_only: [(&str, Vec<u8>); 4] = [
        ("CONNACK", vec![0x20, 0x02, 0x00, 0x00]),
        ("SUBACK", vec![0x90, 0x03, 0x00, 0x01, 0x00]),
        ("UNSUBACK", vec![0xB0, 0x02, 0x00, 0x01]),
        ("PINGRESP", vec![0xD0, 0x00]),
    ];
    for (name, bytes) in server_only {
        c.after(&format!("client sends {name}"), bytes, PROTOCOL);
    }
}

/// Protocol names and levels this broker does not speak: CONNACK 0x01,
/// then close [MQTT-3.1.2-2]. A wrong name MAY simply be closed
/// [MQTT-3.1.2-1]; the broker answers 0x01 too (docs/protocol-choices.md).
fn protocol_levels() -> Vec<Case> {
    let refused = Expect::Refused(1, "malformed_packets");
    let levels: [(&[u8], u8); 9] = [
        (b"MQTT", 3),
        (b"MQTT", 0),
        (b"MQTT", 6),
        (b"MQTT", 0x7F),
        (b"MQIsdp", 4),
        (b"MQIsdp", 5),
        (b"mqtt", 4),
        (b"HTTP", 4),
        (b"MQ\xC3\x28", 4),
    ];
    let mut list: Vec<Case> = levels
        .iter()
        .map(|(name, level)| Case {
            name: format!("protocol {:?} level {level}", String::from_utf8_lossy(name)),
            version: Version::V311,
            connect_first: false,
            bytes: raw::connect_raw(name, *level, CLEAN, 60, &[b"level"]),
            expect: refused,
        })
        .collect();
    list.push(Case {
        name: "empty protocol name".into(),
        version: Version::V311,
        connect_first: false,
        bytes: raw::connect_raw(b"", 4, CLEAN, 60, &[b"level"]),
        expect: refused,
    });
    // Zero-length client id with clean session 0 [MQTT-3.1.3-8]; any in
    // 3.1, whose client ids are 1 to 23 characters.
    list.push(Case {
        name: "3.1.1 empty client id, clean session 0".into(),
        version: Version::V311,
        connect_first: false,
        bytes: raw::connect_raw(b"MQTT", 4, 0, 60, &[b""]),
        expect: Expect::Refused(2, "refused_client_id"),
    });
    list.push(Case {
        name: "3.1 empty client id".into(),
        version: Version::V31,
        connect_first: false,
        bytes: raw::connect_raw(b"MQIsdp", 3, CLEAN, 60, &[b""]),
        expect: Expect::Refused(2, "refused_client_id"),
    });
    list
}

/// The counted counters' change between two readings.
fn moved(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> Vec<(String, u64)> {
    COUNTED
        .iter()
        .filter_map(|name| {
            let delta = after[*name] - before[*name];
            (delta > 0).then(|| ((*name).to_owned(), delta))
        })
        .collect()
}

/// Runs one case on a fresh connection; the close must come without a
/// timeout (keepalive is 60 s, connect_timeout 2 s).
fn run(broker: &Broker, n: usize, case: &Case) {
    let mut bad = RawClient::connect(broker.addr());
    if case.connect_first {
        let mut connect = Connect::new(&format!("case-{n}"));
        if case.version == Version::V31 {
            connect = connect.v31();
        }
        assert_eq!(bad.handshake(&connect.to_bytes()), Some(0), "{}", case.name);
    }
    bad.send(&case.bytes);
    let started = Instant::now();
    if let Expect::Refused(code, _) = case.expect {
        let p = bad.read_packet(secs(3));
        assert_eq!(
            p.as_deref().and_then(raw::parse_connack),
            Some((false, code)),
            "{}: CONNACK",
            case.name
        );
    }
    // Nothing (no CONNACK, SUBACK, PUBACK...) before the close
    // [MQTT-3.1.4-1].
    match bad.read_event(secs(3)) {
        ReadEvent::Closed => {}
        other => panic!("{}: expected the close, got {other:?}", case.name),
    }
    assert!(started.elapsed() < secs(2), "{}: slow close", case.name);
}

#[test]
fn every_3_x_violation_closes_its_connection_is_counted_and_slows_no_one() {
    let mut broker = Broker::start(CONFIG);
    let (api, token) = (admin_addr(&broker), admin_token(&broker));
    // Nothing the bad clients send (their topics are under v/) may reach
    // a subscriber. No keepalive: silent all suite long, however slow an
    // emulator is.
    let mut watcher = RawClient::connect(broker.addr());
    let connect = Connect::new("watcher").keepalive(0).to_bytes();
    assert_eq!(watcher.handshake(&connect), Some(0));
    watcher.send(&raw::subscribe(1, &[("v/#", 1)]));
    let ack = watcher.read_packet(secs(5)).expect("SUBACK");
    assert_eq!(raw::parse_suback(&ack), Some((1, vec![1])));

    // Truncated frames, checked at the end: a CONNECT that never ends is
    // closed by connect_timeout, a PUBLISH that never ends by the
    // keepalive (1.5 x 1 s) [MQTT-3.1.2-24], one cut by the peer's FIN at
    // once; none of them is routed.
    let connect = raw::connect("truncated-connect");
    let mut never_connected = RawClient::connect(broker.addr());
    never_connected.send(&connect[..connect.len() - 3]);
    let publish = raw::publish("v/truncated", b"never", 1, false, false, Some(1));
    let mut stalled = RawClient::connect(broker.addr());
    let code = stalled.handshake(&Connect::new("truncated-publish").keepalive(1).to_bytes());
    assert_eq!(code, Some(0));
    stalled.send(&publish[..publish.len() - 2]);
    let mut cut = RawClient::connect(broker.addr());
    assert_eq!(cut.handshake(&raw::connect("truncated-cut")), Some(0));
    cut.send(&publish[..publish.len() - 2]);
    cut.stream().shutdown(Shutdown::Write).unwrap();
    assert_eq!(cut.read_event(secs(3)), ReadEvent::Closed, "cut PUBLISH");

    let probe = LatencyProbe::start(broker.addr(), "bystander", "bystander/rtt");
    let mut all = cases(Version::V311);
    all.extend(cases(Version::V31));
    all.extend(protocol_levels());
    let started = Instant::now();
    let mut before = counters(api, &token);
    for (n, case) in all.iter().enumerate() {
        run(&broker, n, case);
        let after = counters(api, &token);
        let (Expect::Closed(counter) | Expect::Refused(_, counter)) = case.expect;
        assert_eq!(
            moved(&before, &after),
            vec![(counter.to_owned(), 1)],
            "{}: the counters",
            case.name
        );
        before = after;
    }
    let took = started.elapsed();

    assert_eq!(
        never_connected.read_event(secs(5)),
        ReadEvent::Closed,
        "truncated CONNECT"
    );
    assert_eq!(
        stalled.read_event(secs(5)),
        ReadEvent::Closed,
        "truncated PUBLISH"
    );
    let measured = probe.finish();
    let end = counters(api, &token);
    assert_eq!(end["connect_timeouts"], 1, "{end:?}");
    assert_eq!(end["keepalive_timeouts"], 1, "{end:?}");
    assert!(broker.is_running());
    match watcher.read_event(Duration::from_millis(300)) {
        ReadEvent::Timeout => {}
        other => panic!("a bad client's message was routed: {other:?}"),
    }
    eprintln!(
        "{} cases in {took:?}; bystander: {} round trips, slowest {:?}",
        all.len(),
        measured.round_trips,
        measured.slowest
    );
    assert!(
        measured.round_trips as usize >= all.len() / 10,
        "{measured:?}"
    );
    assert!(
        measured.slowest < scaled(Duration::from_millis(100)),
        "the bystander's slowest round trip: {measured:?}"
    );
}

/// A connection closed for a violation publishes its will
/// [MQTT-3.1.2-8], even when the violation is a malformed DISCONNECT; a
/// well-formed DISCONNECT discards it [MQTT-3.14.4-3].
#[test]
fn a_violation_publishes_the_will() {
    let broker = Broker::start("");
    let mut watcher = RawClient::connect(broker.addr());
    let connect = Connect::new("will-watcher").keepalive(0).to_bytes();
    assert_eq!(watcher.handshake(&connect), Some(0));
    watcher.send(&raw::subscribe(1, &[("will/#", 0)]));
    let ack = watcher.read_packet(secs(5)).expect("SUBACK");
    assert_eq!(raw::parse_suback(&ack), Some((1, vec![0])));
    let violations: [(&str, Vec<u8>); 4] = [
        ("malformed", vec![0xC0, 0x01, 0x00]),
        ("protocol", raw::connect("again")),
        ("disconnect-flags", vec![0xE1, 0x00]),
        ("clean", raw::disconnect()),
    ];
    for version in [Version::V31, Version::V311] {
        for (name, bytes) in &violations {
            let topic = format!("will/{version:?}/{name}");
            let mut connect = Connect::new(name).will(&topic, b"gone", 0, false);
            if version == Version::V31 {
                connect = connect.v31();
            }
            let mut c = RawClient::connect(broker.addr());
            assert_eq!(c.handshake(&connect.to_bytes()), Some(0));
            c.send(bytes);
            assert_eq!(c.read_event(secs(3)), ReadEvent::Closed, "{topic}");
            if *name == "clean" {
                match watcher.read_event(Duration::from_millis(300)) {
                    ReadEvent::Timeout => {}
                    other => panic!("{topic}: the will after DISCONNECT: {other:?}"),
                }
            } else {
                let p = watcher.read_packet(secs(5)).expect("the will");
                assert_eq!(raw::parse_publish(&p).unwrap().topic, topic);
            }
        }
    }
}

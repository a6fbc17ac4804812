//! Bad input closes ONE connection, never the broker
//! (README.md ## Limits and refusals): for each kind of malformed packet or
//! protocol violation, the offending connection is closed, a healthy
//! publisher/subscriber pair connected since the start keeps exchanging
//! messages (and sees nothing of the bad input), and new clients can still
//! connect. Also: a sender that trickles its packets byte by byte is served
//! correctly (partial packets are buffered, not misread).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::raw::{self, Connect, RawPublish};
use common::{scaled, Broker, RawClient, ReadEvent};
use std::time::{Duration, Instant};

fn secs(n: u64) -> Duration {
    scaled(Duration::from_secs(n))
}

fn connected(addr: std::net::SocketAddr, id: &str) -> RawClient {
    let (c, code) = RawClient::connect_mqtt(addr, id);
    assert_eq!(code, Some(0), "CONNACK for {id}");
    c
}

/// The next PUBLISH, acknowledged when QoS 1.
fn next_publish(c: &mut RawClient, timeout: Duration) -> RawPublish {
    let p = c.read_packet(timeout).expect("a PUBLISH");
    let publish = raw::parse_publish(&p).unwrap_or_else(|| panic!("not a PUBLISH: {p:?}"));
    if let (1, Some(id)) = (publish.qos, publish.pkid) {
        c.send(&raw::puback(id));
    }
    publish
}

/// A publisher and a subscriber to `#` that stay connected all test long.
struct Healthy {
    publisher: RawClient,
    subscriber: RawClient,
    next_id: u16,
}

impl Healthy {
    fn new(broker: &Broker) -> Healthy {
        let mut subscriber = connected(broker.addr(), "healthy-sub");
        subscriber.send(&raw::subscribe(1, &[("#", 1)]));
        let ack = subscriber.read_packet(secs(5)).expect("SUBACK");
        assert_eq!(raw::parse_suback(&ack), Some((1, vec![1])));
        Healthy {
            publisher: connected(broker.addr(), "healthy-pub"),
            subscriber,
            next_id: 1,
        }
    }

    /// One QoS 1 round trip; the subscriber's next message must be exactly
    /// this one (so nothing of a bad client's input was routed before it).
    fn exchange(&mut self, label: &str) {
        let id = self.next_id;
        self.next_id += 1;
        let topic = format!("healthy/{id}");
        self.publisher.send(&raw::publish(
            &topic,
            label.as_bytes(),
            1,
            false,
            false,
            Some(id),
        ));
        let ack = self.publisher.read_packet(secs(5));
        assert_eq!(
            ack.as_deref().and_then(raw::parse_ack),
            Some((4, id)),
            "{label}: the healthy publisher got no PUBACK"
        );
        let got = next_publish(&mut self.subscriber, secs(5));
        assert_eq!(
            (got.topic.as_str(), got.payload.as_slice(), got.qos),
            (topic.as_str(), label.as_bytes(), 1),
            "{label}: the healthy subscriber got something else"
        );
    }
}

/// Deterministic pseudo-random bytes (xorshift), no extra crate.
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

struct Case {
    name: &'static str,
    /// Send a valid CONNECT (and expect 0x00) before the bad bytes.
    connect_first: bool,
    bytes: Vec<u8>,
}

fn case(name: &'static str, connect_first: bool, bytes: Vec<u8>) -> Case {
    Case {
        name,
        connect_first,
        bytes,
    }
}

fn cases() -> Vec<Case> {
    let mut subscribe_flags_0 = raw::subscribe(1, &[("a/b", 0)]);
    subscribe_flags_0[0] = 0x80;
    let mut unsubscribe_flags_0 = raw::unsubscribe(1, &["a/b"]);
    unsubscribe_flags_0[0] = 0xA0;
    vec![
        // Not MQTT at all: an HTTP request on the MQTT port. ("GE" reads as
        // a PUBACK header announcing 69 bytes; the request is longer.)
        case(
            "HTTP request",
            false,
            b"GET /mqtt HTTP/1.1\r\nHost: broker\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nUser-Agent: e2e\r\n\r\n"
                .to_vec(),
        ),
        // 200 KiB of noise: whatever the first header announces is either
        // over the 128 KiB cap or fully present, so the broker never has to
        // wait for more to decide.
        case("random garbage (seed 1)", false, garbage(1, 200 * 1024)),
        case(
            "random garbage after CONNECT (seed 2)",
            true,
            garbage(2, 200 * 1024),
        ),
        case(
            "random garbage after CONNECT (seed 3)",
            true,
            garbage(3, 200 * 1024),
        ),
        // Reserved packet types [MQTT-2.2.1]: 0, and 15 (AUTH only in 5.0).
        case("reserved type 0 before CONNECT", false, vec![0x00, 0x00]),
        case("reserved type 0", true, vec![0x00, 0x00]),
        case("type 15 in 3.1.1", true, vec![0xF0, 0x00]),
        // Fixed-header flags that MUST be 0010 [MQTT-3.8.1-1] [MQTT-3.6.1-1]
        // [MQTT-3.10.1-1]; any other value is malformed [MQTT-2.2.2-2].
        case("SUBSCRIBE with flags 0", true, subscribe_flags_0),
        case("PUBREL with flags 0", true, vec![0x60, 0x02, 0x00, 0x01]),
        case("UNSUBSCRIBE with flags 0", true, unsubscribe_flags_0),
        case("PINGREQ with flags 1", true, vec![0xC1, 0x00]),
        // Remaining length is at most 4 bytes [MQTT-2.2.3].
        case(
            "5-byte remaining length",
            true,
            vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00],
        ),
        // Bytes inside the remaining length that the packet does not have.
        case(
            "PINGREQ with remaining length 1",
            true,
            vec![0xC0, 0x01, 0x00],
        ),
        case(
            "DISCONNECT with remaining length 1",
            true,
            vec![0xE0, 0x01, 0x00],
        ),
        case(
            "PUBACK with 3 bytes",
            true,
            vec![0x40, 0x03, 0x00, 0x01, 0x00],
        ),
        // QoS 3 is reserved [MQTT-3.3.1-4].
        case(
            "PUBLISH QoS 3",
            true,
            raw::publish_raw(0x36, b"bad/qos3", Some(1), b"x"),
        ),
        // DUP must be 0 for QoS 0 [MQTT-3.3.1-2].
        case(
            "PUBLISH QoS 0 with DUP",
            true,
            raw::publish("bad/dup", b"x", 0, false, true, None),
        ),
        // Wildcards are not allowed in a topic name [MQTT-3.3.2-2].
        case(
            "PUBLISH to a wildcard topic",
            true,
            raw::publish("bad/#", b"x", 0, false, false, None),
        ),
        // A SUBSCRIBE must carry at least one filter [MQTT-3.8.3-3].
        case(
            "SUBSCRIBE with no filters",
            true,
            vec![0x82, 0x02, 0x00, 0x01],
        ),
        case(
            "UNSUBSCRIBE with no filters",
            true,
            vec![0xA2, 0x02, 0x00, 0x01],
        ),
        // A packet id of 0 is not allowed [MQTT-2.3.1-1].
        case(
            "SUBSCRIBE with packet id 0",
            true,
            raw::subscribe(0, &[("a", 0)]),
        ),
        // Topics are UTF-8 [MQTT-1.5.3-1], without U+0000 [MQTT-1.5.3-2].
        case(
            "invalid UTF-8 topic",
            true,
            raw::publish_raw(0x30, &[b'b', 0xC3, 0x28], None, b"x"),
        ),
        case(
            "surrogate in topic",
            true,
            raw::publish_raw(0x30, &[0xED, 0xA0, 0x80], None, b"x"),
        ),
        case(
            "U+0000 in topic",
            true,
            raw::publish_raw(0x30, b"bad\0nul", None, b"x"),
        ),
        // The first packet must be CONNECT [MQTT-3.1.0-1].
        case(
            "PUBLISH before CONNECT",
            false,
            raw::publish("bad/first", b"x", 0, false, false, None),
        ),
        case("PINGREQ before CONNECT", false, raw::pingreq()),
        // A second CONNECT is a protocol violation [MQTT-3.1.0-2].
        case("second CONNECT", true, raw::connect("second")),
        // Packets only a server sends.
        case("client sends CONNACK", true, vec![0x20, 0x02, 0x00, 0x00]),
        case(
            "client sends SUBACK",
            true,
            vec![0x90, 0x03, 0x00, 0x01, 0x00],
        ),
        case("client sends UNSUBACK", true, vec![0xB0, 0x02, 0x00, 0x01]),
        case("client sends PINGRESP", true, vec![0xD0, 0x00]),
    ]
}

#[test]
fn malformed_input_closes_only_that_connection() {
    let mut broker = Broker::start("");
    let mut healthy = Healthy::new(&broker);
    healthy.exchange("before");
    for (i, case) in cases().into_iter().enumerate() {
        let mut bad = RawClient::connect(broker.addr());
        if case.connect_first {
            let code = bad.handshake(&raw::connect(&format!("bad-{i}")));
            assert_eq!(code, Some(0), "{}: CONNACK", case.name);
        }
        bad.send(&case.bytes);
        let started = Instant::now();
        // Packets the broker sends first (none expected) are skipped; what
        // matters is the close, and that it comes without waiting for a
        // timeout (connect_timeout is 10 s, keepalive 60 s).
        assert!(
            bad.expect_closed(secs(3)),
            "{}: the connection was not closed within 3 s",
            case.name
        );
        assert!(started.elapsed() < secs(3), "{}", case.name);

        healthy.exchange(case.name);
        assert!(broker.is_running(), "{}: the broker exited", case.name);
        let mut fresh = connected(broker.addr(), &format!("fresh-{i}"));
        fresh.send(&raw::pingreq());
        assert_eq!(
            fresh.read_packet(secs(5)),
            Some(vec![0xD0, 0x00]),
            "{}",
            case.name
        );
        fresh.send(&raw::disconnect());
    }
    // Bad input is logged (rate-limited: at least the first of each kind).
    let log = broker.log();
    assert!(
        log.contains("malformed packet"),
        "no malformed-packet line:\n{log}"
    );
    assert!(
        log.contains("first packet is not CONNECT"),
        "no protocol line:\n{log}"
    );
    // Nothing from the bad clients reached the subscriber to `#`.
    match healthy.subscriber.read_event(Duration::from_millis(300)) {
        ReadEvent::Timeout => {}
        other => panic!("the healthy subscriber got {other:?}"),
    }
}

/// Writes `bytes` one at a time with `gap` between them.
fn trickle(c: &mut RawClient, bytes: &[u8], gap: Duration) {
    for b in bytes {
        c.send(&[*b]);
        std::thread::sleep(gap);
    }
}

#[test]
fn a_byte_by_byte_sender_is_served() {
    let broker = Broker::start("");
    let mut sub = connected(broker.addr(), "slow-sub");
    sub.send(&raw::subscribe(1, &[("slow/#", 1)]));
    assert_eq!(
        raw::parse_suback(&sub.read_packet(secs(5)).expect("SUBACK")),
        Some((1, vec![1]))
    );

    let gap = Duration::from_millis(3);
    let mut slow = RawClient::connect(broker.addr());
    // A CONNECT with a will and credentials-free: a long-ish variable header.
    let connect = Connect::new("slow-client")
        .keepalive(30)
        .will("slow/will", b"gone", 1, false)
        .to_bytes();
    trickle(&mut slow, &connect, gap);
    let p = slow.read_packet(secs(5)).expect("CONNACK");
    assert_eq!(raw::parse_connack(&p), Some((false, 0)));

    // A PUBLISH whose remaining length takes two bytes (200-byte payload),
    // so the length itself arrives split.
    let payload: Vec<u8> = (0..200u8).collect();
    trickle(
        &mut slow,
        &raw::publish("slow/data", &payload, 1, false, false, Some(42)),
        Duration::from_millis(1),
    );
    let ack = slow.read_packet(secs(5)).expect("PUBACK");
    assert_eq!(raw::parse_ack(&ack), Some((4, 42)));
    let got = next_publish(&mut sub, secs(5));
    assert_eq!((got.topic.as_str(), got.payload), ("slow/data", payload));

    // Two packets in one write, then a third split across writes.
    let mut both = raw::publish("slow/a", b"1", 0, false, false, None);
    both.extend(raw::publish("slow/b", b"2", 0, false, false, None));
    let third = raw::publish("slow/c", b"3", 0, false, false, None);
    both.extend_from_slice(&third[..3]);
    slow.send(&both);
    std::thread::sleep(Duration::from_millis(50));
    slow.send(&third[3..]);
    for (topic, payload) in [("slow/a", b"1"), ("slow/b", b"2"), ("slow/c", b"3")] {
        let m = next_publish(&mut sub, secs(5));
        assert_eq!(
            (m.topic.as_str(), m.payload.as_slice()),
            (topic, &payload[..])
        );
    }

    // DISCONNECT byte by byte: a clean end, so no will [MQTT-3.14.4-3].
    trickle(&mut slow, &raw::disconnect(), gap);
    assert!(slow.expect_closed(secs(3)));
    match sub.read_event(Duration::from_millis(300)) {
        ReadEvent::Timeout => {}
        other => panic!("the will was published after DISCONNECT: {other:?}"),
    }
}

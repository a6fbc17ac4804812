//! The MQTT 5 half of the protocol-violation suite (docs/mqtt5.md): raw
//! bytes that break a 5.0 rule of the connection half, each of which must
//! close only the offending connection, after a DISCONNECT with the reason
//! code the spec names, while a bystander goes on being served.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::mqtt5_raw::{
    auth5, disconnect5, id, parse_connack5, parse_disconnect5, publish5, Connect5, Props,
};
use common::raw::{self, ReadEvent};
use common::{scaled, Broker, RawClient};
use std::time::{Duration, Instant};

fn secs(n: u64) -> Duration {
    scaled(Duration::from_secs(n))
}

fn connected(b: &Broker, c: &Connect5) -> RawClient {
    let mut client = RawClient::connect(b.addr());
    client.send(&c.to_bytes());
    let p = client.read_packet(secs(5)).expect("CONNACK");
    let (_, code, _) = parse_connack5(&p).unwrap_or_else(|| panic!("{p:?}"));
    assert_eq!(code, 0, "{}", b.log());
    client
}

/// Sends `bytes` on a fresh 5.0 connection; the DISCONNECT reason code it
/// gets before the close.
fn reason_for(b: &Broker, name: &str, bytes: &[u8]) -> u8 {
    let mut c = connected(b, &Connect5::new(name));
    c.send(bytes);
    let deadline = Instant::now() + secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.read_event(left) {
            ReadEvent::Packet(p) if raw::packet_type(&p) == 14 => {
                let (code, _) = parse_disconnect5(&p).expect("DISCONNECT");
                assert!(c.expect_closed(secs(5)), "{name}: not closed");
                return code;
            }
            ReadEvent::Packet(_) if !left.is_zero() => continue,
            other => panic!("{name}: no DISCONNECT but {other:?}\n{}", b.log()),
        }
    }
}

/// A PUBLISH with a hand-made property block (its length included).
fn publish_with_block(topic: &str, block: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    raw::put_str(&mut body, topic);
    body.extend_from_slice(block);
    body.extend_from_slice(b"x");
    raw::packet(0x30, &body)
}

#[test]
fn each_5_0_violation_closes_only_its_connection_with_its_reason_code() {
    let b = Broker::start("max_topic_alias 4\nmax_packet_size 1024\n");
    let mut bystander = connected(&b, &Connect5::new("bystander"));
    let alias = |n| Props::new().u16(id::TOPIC_ALIAS, n);
    let cases: Vec<(&str, Vec<u8>, u8)> = vec![
        // Topic Alias 0 or above our maximum (MQTT 5 §3.3.2.3.4).
        ("alias-zero", publish5("t", b"x", 0, 0, alias(0)), 0x94),
        ("alias-over", publish5("t", b"x", 0, 0, alias(5)), 0x94),
        // An empty topic naming an alias never set, or none at all.
        ("alias-unset", publish5("", b"x", 0, 0, alias(3)), 0x82),
        ("no-topic", publish5("", b"x", 0, 0, Props::new()), 0x82),
        // Over the Maximum Packet Size we announced (MQTT 5 §3.2.2.3.6): 0x95.
        (
            "too-large",
            publish5("t", &[0; 2000], 0, 0, Props::new()),
            0x95,
        ),
        // 0 at CONNECT cannot become more at DISCONNECT (MQTT 5 §3.14.2.2.2).
        (
            "expiry-raised",
            disconnect5(0, Props::new().u32(id::SESSION_EXPIRY, 60)),
            0x82,
        ),
        // AUTH without an Authentication Method at CONNECT (MQTT 5 §4.12).
        ("auth-no-method", auth5(0x19, Props::new()), 0x82),
        // A property the packet may not carry: Session Expiry in PUBLISH.
        (
            "wrong-property",
            publish_with_block("t", &[5, 0x11, 0, 0, 0, 1]),
            0x82,
        ),
        // A property twice (Topic Alias).
        (
            "duplicate-property",
            publish_with_block("t", &[6, 0x23, 0, 1, 0x23, 0, 1]),
            0x82,
        ),
        // No such property identifier: malformed.
        (
            "unknown-property",
            publish_with_block("t", &[2, 0x7F, 0]),
            0x81,
        ),
        // A packet only a server sends.
        ("connack", vec![0x20, 3, 0, 0, 0], 0x82),
        // A second CONNECT [MQTT-3.1.0-2].
        ("reconnect", Connect5::new("reconnect").to_bytes(), 0x82),
        // Payload Format Indicator 2: only 0 or 1 exist.
        (
            "format-indicator",
            publish_with_block("t", &[2, 0x01, 2]),
            0x82,
        ),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(reason_for(&b, name, &bytes), expected, "{name}");
        bystander.send(&raw::pingreq());
        assert_eq!(
            bystander.read_packet(secs(5)),
            Some(vec![0xD0, 0]),
            "{name}"
        );
    }
    let report = b.report(secs(5));
    assert_eq!(report["topic_alias_invalid"], 2);
    // Broken rules the broker judges, and packets the decoder refuses.
    assert_eq!(report["protocol_errors"], 6, "{report:?}");
    assert_eq!(report["malformed_packets"], 5, "{report:?}");
}

//! 3.x filters that break the protocol's syntax close the connection
//! [MQTT-4.8.0-1]; configured bounds stay per-filter refusals. 3.1's
//! CONNACK carries no Session Present flag.

use super::*;
use crate::codec::{ReasonCode, Unsubscribe};

fn subscribe_all(filters: &[&str]) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: PacketId::new(1).unwrap(),
        requests: filters
            .iter()
            .map(|f| SubscriptionRequest {
                filter: f.to_string(),
                options: SubscriptionOptions::default(),
            })
            .collect(),
        properties: Properties::default(),
    })
}

#[test]
fn a_bad_filter_closes_a_3_1_1_connection_before_any_filter_is_granted() {
    let mut h = Harness::new(Settings::default());
    let publisher = h.connect("pub", true);
    for (n, bad) in ["", "a/b#", "a+/b", "#/a"].into_iter().enumerate() {
        let conn = h.connect(&format!("sub-{n}"), true);
        h.send(conn, subscribe_all(&["ok/1", bad]));
        assert!(h.received(conn).is_empty(), "{bad:?}: no SUBACK");
        assert_eq!(h.broker.closing(conn), Some(CloseReason::ProtocolError));
        assert_eq!(h.broker.stats().protocol_errors, n as u64 + 1);
    }
    let conn = h.connect("unsub", true);
    h.send(
        conn,
        Packet::Unsubscribe(Unsubscribe {
            packet_id: PacketId::new(2).unwrap(),
            filters: vec!["a/#/b".into()],
            properties: Properties::default(),
        }),
    );
    assert!(h.received(conn).is_empty());
    assert_eq!(h.broker.closing(conn), Some(CloseReason::ProtocolError));
    // "ok/1", ahead of the bad filter in the same SUBSCRIBE, was not granted.
    h.send(publisher, publish_packet("ok/1", b"x", QoS::AtMostOnce, 0));
    assert_eq!(h.broker.stats().deliveries, 0);
}

#[test]
fn configured_bounds_and_5_0_keep_per_filter_refusals() {
    let mut settings = Settings::default();
    settings.topics.max_length = 8;
    let mut h = Harness::new(settings);
    let conn = h.connect("sub", true);
    h.send(conn, subscribe_all(&["ok/1", "much/too/long"]));
    match h.received(conn).as_slice() {
        [Packet::SubAck(ack)] => assert_eq!(ack.codes, [ReasonCode(0), ReasonCode(0x80)]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    assert_eq!(h.broker.closing(conn), None);

    let v5 = h.open();
    h.send(v5, connect5_packet("v5", true, vec![], None));
    assert_eq!(h.received(v5).len(), 1);
    h.send(v5, subscribe_all(&["a/b#"]));
    match h.received(v5).as_slice() {
        [Packet::SubAck(ack)] => assert_eq!(ack.codes, [ReasonCode(0x8F)]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    assert_eq!(h.broker.closing(v5), None);
}

#[test]
fn a_3_1_connack_never_says_session_present() {
    let mut h = Harness::new(Settings::default());
    for (protocol, present) in [
        (ProtocolVersion::V3_1, false),
        (ProtocolVersion::V3_1_1, true),
    ] {
        for round in 0..2 {
            let Packet::Connect(mut connect) = connect_packet("keeper", false, 0, None) else {
                unreachable!()
            };
            connect.protocol = protocol;
            let conn = h.open();
            h.send(conn, Packet::Connect(connect));
            match h.received(conn).as_slice() {
                [Packet::ConnAck(ack)] => {
                    assert_eq!(ack.code, 0);
                    assert_eq!(ack.session_present, round == 1 && present, "{protocol:?}");
                }
                other => panic!("expected CONNACK, got {other:?}"),
            }
            h.broker.handle_closed(h.now, conn);
        }
        // The next protocol starts a new session.
        let conn = h.connect("keeper", true);
        h.broker.handle_closed(h.now, conn);
    }
}

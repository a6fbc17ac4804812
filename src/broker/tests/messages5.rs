//! MQTT 5 messages and subscriptions on the simulated clock
//! (docs/mqtt5.md, "Messages and subscriptions"): expiry, identifiers,
//! no-local, reason codes.

use std::time::Duration;

use crate::codec::{
    Ack, AckKind, Packet, PacketId, Properties, Property, Publish, PublishBody, QoS, ReasonCode,
    Subscribe, SubscriptionOptions, SubscriptionRequest,
};

use super::super::{ConnId, Settings};
use super::{connect5_packet, Harness};

fn connect5(h: &mut Harness, client_id: &str, clean: bool) -> ConnId {
    let (conn, rest) = resume5(h, client_id, clean);
    assert!(rest.is_empty(), "{rest:?}");
    conn
}

/// CONNECT 5.0; what followed the CONNACK.
fn resume5(h: &mut Harness, client_id: &str, clean: bool) -> (ConnId, Vec<Packet>) {
    let conn = h.open();
    let expiry = vec![Property::SessionExpiryInterval(3600)];
    h.send(conn, connect5_packet(client_id, clean, expiry, None));
    let mut packets = h.received(conn);
    assert!(matches!(packets.first(), Some(Packet::ConnAck(a)) if a.code == 0));
    packets.remove(0);
    (conn, packets)
}

fn subscribe5(
    h: &mut Harness,
    conn: ConnId,
    filter: &str,
    options: SubscriptionOptions,
    id: Option<u32>,
) {
    let properties = Properties(
        id.map(Property::SubscriptionIdentifier)
            .into_iter()
            .collect(),
    );
    h.send(
        conn,
        Packet::Subscribe(Subscribe {
            packet_id: PacketId::MIN,
            requests: vec![SubscriptionRequest {
                filter: filter.to_string(),
                options,
            }],
            properties,
        }),
    );
    assert!(matches!(h.received(conn).as_slice(), [Packet::SubAck(_)]));
}

fn publish5(topic: &str, qos: QoS, id: u16, properties: Vec<Property>) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        packet_id: PacketId::new(id),
        body: PublishBody::new(topic, b"x").unwrap(),
        properties: Properties(properties),
    })
}

fn qos(q: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos: q,
        ..SubscriptionOptions::default()
    }
}

fn ack_reason(packets: &[Packet]) -> Option<ReasonCode> {
    packets.iter().find_map(|p| match p {
        Packet::Ack(Ack {
            kind: AckKind::PubAck,
            reason,
            ..
        }) => Some(*reason),
        _ => None,
    })
}

#[test]
fn queued_messages_expire_and_the_rest_carry_what_is_left() {
    let mut h = Harness::new(Settings::default());
    let sub = connect5(&mut h, "sub", false);
    subscribe5(&mut h, sub, "t/#", qos(QoS::AtLeastOnce), None);
    h.send(sub, Packet::Disconnect(Default::default()));
    h.broker.handle_closed(h.now, sub);
    let publisher = connect5(&mut h, "pub", true);
    let expiry = |s| vec![Property::MessageExpiryInterval(s)];
    h.send(
        publisher,
        publish5("t/short", QoS::AtLeastOnce, 1, expiry(5)),
    );
    h.send(
        publisher,
        publish5("t/long", QoS::AtLeastOnce, 2, expiry(60)),
    );
    h.advance(Duration::from_secs(10));
    let (_, packets) = resume5(&mut h, "sub", false);
    let got: Vec<_> = packets
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((
                p.body.topic().to_owned(),
                p.properties.message_expiry_interval(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(got, [("t/long".to_owned(), Some(50))]);
    assert_eq!(h.broker.stats().messages_expired, 1);
}

#[test]
fn one_copy_carries_every_identifier_and_no_local_skips_the_publisher() {
    let mut h = Harness::new(Settings::default());
    let me = connect5(&mut h, "me", true);
    subscribe5(&mut h, me, "a/+", qos(QoS::AtMostOnce), Some(9));
    subscribe5(&mut h, me, "a/#", qos(QoS::AtLeastOnce), Some(3));
    let other = connect5(&mut h, "other", true);
    h.send(other, publish5("a/b", QoS::AtLeastOnce, 1, Vec::new()));
    assert_eq!(ack_reason(&h.received(other)), Some(ReasonCode::SUCCESS));
    let packets = h.received(me);
    let [Packet::Publish(p)] = packets.as_slice() else {
        panic!("one copy: {packets:?}");
    };
    assert_eq!(p.qos, QoS::AtLeastOnce);
    assert_eq!(
        p.properties.subscription_identifiers().collect::<Vec<_>>(),
        [3, 9]
    );
    // No-local on every matching subscription: my own message is not mine
    // to receive, and nobody else matched.
    let nl = SubscriptionOptions {
        no_local: true,
        ..qos(QoS::AtLeastOnce)
    };
    subscribe5(&mut h, me, "a/+", nl, None);
    subscribe5(&mut h, me, "a/#", nl, None);
    h.send(me, publish5("a/c", QoS::AtLeastOnce, 2, Vec::new()));
    let packets = h.received(me);
    assert_eq!(
        ack_reason(&packets),
        Some(ReasonCode::NO_MATCHING_SUBSCRIBERS)
    );
    assert_eq!(packets.len(), 1, "{packets:?}");
}

#[test]
fn payload_format_1_must_be_utf8() {
    let mut h = Harness::new(Settings::default());
    let c = connect5(&mut h, "c", true);
    let packet = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        packet_id: PacketId::new(4),
        body: PublishBody::new("t", &[0xC0, 0x80]).unwrap(),
        properties: Properties(vec![Property::PayloadFormatIndicator(1)]),
    });
    h.send(c, packet);
    assert_eq!(
        ack_reason(&h.received(c)),
        Some(ReasonCode::PAYLOAD_FORMAT_INVALID)
    );
    assert_eq!(h.broker.stats().payload_format_invalid, 1);
}

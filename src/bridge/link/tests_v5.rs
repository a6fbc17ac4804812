//! The 5.0 side of the link (docs/mqtt5.md, "Bridges"): CONNECT and
//! SUBSCRIBE as a 5.0 bridge asks, the remote's CONNACK limits, message
//! properties and expiry, refusals and a server DISCONNECT.

use super::*;
use crate::codec::{forwarded_block, read_forwarded_block, Disconnect, Property, ReasonCode};

fn v5_settings(window: usize) -> LinkSettings {
    let mut s = settings(window);
    s.protocol = ProtocolVersion::V5;
    s
}

/// A 5.0 link with no subscription and no notification: only the uplink.
fn uplink_only(window: usize, now: Instant) -> Link {
    let mut s = v5_settings(window);
    s.subscriptions.clear();
    s.notification_topic = None;
    Link::new(s, now)
}

fn connack_with(properties: Vec<Property>) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present: false,
        code: 0,
        properties: Properties(properties),
    })
}

/// A 5.0 link up with a CONNACK carrying `limits`; what it wrote after.
fn up5(link: &mut Link, q: &mut BridgeQueue, now: Instant, limits: Vec<Property>) -> Vec<Packet> {
    link.start(now).unwrap();
    written(link);
    let mut events = Vec::new();
    link.handle_packet(now, connack_with(limits), q, &mut NoJournal, &mut events)
        .unwrap();
    written(link)
}

fn message(topic: &str, qos: QoS, retain: bool, payload: usize) -> QueuedMessage {
    QueuedMessage::plain(topic.into(), vec![b'p'; payload], qos, retain)
}

fn queue_of(messages: Vec<QueuedMessage>) -> BridgeQueue {
    let mut q = BridgeQueue::new("cloud", 100, 1 << 20);
    for m in messages {
        q.push(m, &mut NoJournal);
    }
    q
}

fn published(packets: &[Packet]) -> Vec<&Publish> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect()
}

#[test]
fn connect_asks_for_session_expiry_and_subscribes_with_no_local() {
    let now = Instant::now();
    let mut link = Link::new(v5_settings(4), now);
    let mut q = queue_with(0, QoS::AtLeastOnce);
    link.start(now).unwrap();
    let Packet::Connect(c) = &written(&mut link)[0] else {
        panic!("CONNECT first")
    };
    assert_eq!(c.protocol, ProtocolVersion::V5);
    assert!(
        !c.bridge,
        "no bridge flag in 5.0: try_private does not apply"
    );
    assert!(!c.clean_start);
    assert_eq!(c.properties.session_expiry_interval(), Some(7200));
    assert_eq!(c.properties.maximum_packet_size(), Some(1 << 20));
    assert_eq!(c.properties.topic_alias_maximum(), None, "0: no aliases");
    let packets = up5(&mut link, &mut q, now, vec![]);
    let Packet::Subscribe(s) = &packets[0] else {
        panic!("SUBSCRIBE after CONNACK: {packets:?}")
    };
    let options = s.requests[0].options;
    assert!(options.no_local && options.retain_as_published);
    assert_eq!(options.qos, QoS::AtLeastOnce);

    // A clean session asks for none (expiry 0 is the absent default).
    let mut clean = v5_settings(4);
    clean.clean_session = true;
    clean.session_expiry = 0;
    let mut link = Link::new(clean, now);
    link.start(now).unwrap();
    let Packet::Connect(c) = &written(&mut link)[0] else {
        panic!()
    };
    assert!(c.clean_start);
    assert_eq!(c.properties.session_expiry_interval(), None);
}

#[test]
fn receive_maximum_bounds_the_window() {
    let now = Instant::now();
    let mut link = uplink_only(64, now);
    let mut q = queue_with(5, QoS::AtLeastOnce);
    up5(&mut link, &mut q, now, vec![Property::ReceiveMaximum(2)]);
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    let sent = publishes(&written(&mut link));
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(!link.wants_transmit(&q));
    let mut events = Vec::new();
    link.handle_packet(
        now,
        ack(AckKind::PubAck, sent[0].2),
        &mut q,
        &mut NoJournal,
        &mut events,
    )
    .unwrap();
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    assert_eq!(publishes(&written(&mut link)).len(), 1);
    assert_eq!(link.inflight(), 2);
}

#[test]
fn a_resend_after_reconnect_waits_for_a_smaller_receive_maximum() {
    let now = Instant::now();
    let mut link = uplink_only(64, now);
    let mut q = queue_with(5, QoS::AtLeastOnce);
    up5(&mut link, &mut q, now, vec![]);
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    assert_eq!(publishes(&written(&mut link)).len(), 5);
    link.disconnected();
    // The remote's quota starts afresh at 2: two DUPs, then one per ack.
    up5(&mut link, &mut q, now, vec![Property::ReceiveMaximum(2)]);
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    let again = publishes(&written(&mut link));
    assert_eq!(
        again
            .iter()
            .map(|p| (p.0.as_str(), p.1))
            .collect::<Vec<_>>(),
        [("t/0", true), ("t/1", true)]
    );
    assert!(!link.wants_transmit(&q));
    let mut events = Vec::new();
    link.handle_packet(
        now,
        ack(AckKind::PubAck, again[0].2),
        &mut q,
        &mut NoJournal,
        &mut events,
    )
    .unwrap();
    assert!(link.wants_transmit(&q));
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    let next = publishes(&written(&mut link));
    assert_eq!(
        next.iter().map(|p| (p.0.as_str(), p.1)).collect::<Vec<_>>(),
        [("t/2", true)]
    );
}

#[test]
fn limits_drop_too_large_and_shape_qos_and_retain() {
    let now = Instant::now();
    let mut link = uplink_only(8, now);
    let mut q = queue_of(vec![
        message("big", QoS::AtLeastOnce, false, 100),
        message("small", QoS::ExactlyOnce, true, 4),
    ]);
    let limits = vec![
        Property::MaximumPacketSize(64),
        Property::MaximumQoS(0),
        Property::RetainAvailable(0),
    ];
    up5(&mut link, &mut q, now, limits);
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    let packets = written(&mut link);
    let sent = published(&packets);
    assert_eq!(sent.len(), 1, "{packets:?}");
    assert_eq!(sent[0].body.topic(), "small");
    assert_eq!((sent[0].qos, sent[0].retain), (QoS::AtMostOnce, false));
    assert!(q.is_empty(), "the big one dropped, the QoS 0 one written");
    let drops = link.take_drops();
    assert_eq!(
        (drops.too_large, drops.qos_downgraded, drops.retain_stripped),
        (1, 1, 1)
    );
    assert!(link.take_drops().is_empty());
}

#[test]
fn properties_pass_in_order_with_the_remaining_expiry() {
    let now = Instant::now();
    let mut link = uplink_only(8, now);
    let props = Properties(vec![
        Property::UserProperty("b".into(), "2".into()),
        Property::ContentType("text/plain".into()),
        Property::UserProperty("a".into(), "1".into()),
        Property::CorrelationData(vec![1, 2]),
    ]);
    let mut kept = message("t/props", QoS::AtLeastOnce, false, 3);
    kept.properties = forwarded_block(&props).unwrap().into_boxed_slice();
    kept.expires_at = Some(now + Duration::from_secs(10));
    let mut gone = message("t/expired", QoS::AtLeastOnce, false, 3);
    gone.expires_at = Some(now + Duration::from_secs(1));
    let mut q = queue_of(vec![gone, kept]);
    up5(&mut link, &mut q, now, vec![]);
    let later = now + Duration::from_millis(3500);
    link.poll_transmit(later, &mut q, &mut NoJournal).unwrap();
    let packets = written(&mut link);
    let sent = published(&packets);
    assert_eq!(sent.len(), 1, "{packets:?}");
    let mut expected = props.0.clone();
    expected.push(Property::MessageExpiryInterval(7));
    assert_eq!(sent[0].properties.0, expected, "6.5 s left: 7");
    assert_eq!(link.take_drops().expired, 1);
    assert!(read_forwarded_block(&q.iter().next().unwrap().1.properties).is_ok());
}

#[test]
fn a_refusing_acknowledgement_takes_the_message_off_the_queue() {
    let now = Instant::now();
    let mut link = uplink_only(8, now);
    let mut q = queue_of(vec![
        message("q1", QoS::AtLeastOnce, false, 1),
        message("q2", QoS::ExactlyOnce, false, 1),
    ]);
    up5(&mut link, &mut q, now, vec![]);
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    let sent = publishes(&written(&mut link));
    let mut events = Vec::new();
    for (kind, pid) in [(AckKind::PubAck, sent[0].2), (AckKind::PubRec, sent[1].2)] {
        let mut refusal = Ack::new(kind, PacketId::new(pid).unwrap());
        refusal.reason = ReasonCode::QUOTA_EXCEEDED;
        link.handle_packet(
            now,
            Packet::Ack(refusal),
            &mut q,
            &mut NoJournal,
            &mut events,
        )
        .unwrap();
    }
    assert!(q.is_empty());
    assert!(written(&mut link).is_empty(), "no PUBREL after PUBREC 0x97");
    let drops = link.take_drops();
    assert_eq!(drops.refused, 2);
    assert_eq!(drops.last_refusal, Some(ReasonCode::QUOTA_EXCEEDED));
}

#[test]
fn refusal_and_disconnect_are_told_in_words() {
    let now = Instant::now();
    let mut link = Link::new(v5_settings(4), now);
    let mut q = queue_with(0, QoS::AtLeastOnce);
    link.start(now).unwrap();
    let refused = Packet::ConnAck(ConnAck {
        session_present: false,
        code: 0x86,
        properties: Properties(vec![Property::ReasonString("who are you".into())]),
    });
    let mut events = Vec::new();
    let e = link
        .handle_packet(now, refused, &mut q, &mut NoJournal, &mut events)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the remote refused CONNECT: reason code 0x86 (bad user name or password): \"who are you\""
    );
    link.disconnected();
    up5(&mut link, &mut q, now, vec![]);
    let bye = Packet::Disconnect(Disconnect {
        reason: ReasonCode::SERVER_SHUTTING_DOWN,
        properties: Properties(vec![Property::ReasonString("maintenance".into())]),
    });
    let e = link
        .handle_packet(now, bye, &mut q, &mut NoJournal, &mut events)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the remote sent DISCONNECT: reason code 0x8b (server shutting down): \"maintenance\""
    );
}

#[test]
fn inbound_properties_reach_the_event_and_aliases_are_refused() {
    let now = Instant::now();
    let mut link = Link::new(v5_settings(4), now);
    let mut q = queue_with(0, QoS::AtLeastOnce);
    up5(&mut link, &mut q, now, vec![Property::ServerKeepAlive(3)]);
    assert_eq!(link.poll_timeout(), Some(now + Duration::from_secs(3)));
    let body = PublishBody::new("cmd/1", b"go").unwrap();
    let mut p = publish(
        body.clone(),
        QoS::AtLeastOnce,
        true,
        false,
        PacketId::new(4),
    );
    p.properties = Properties(vec![Property::UserProperty("k".into(), "v".into())]);
    let mut events = Vec::new();
    link.handle_packet(now, Packet::Publish(p), &mut q, &mut NoJournal, &mut events)
        .unwrap();
    match events.as_slice() {
        [LinkEvent::Publish {
            properties, retain, ..
        }] => {
            assert!(*retain, "retain as published");
            assert_eq!(
                properties.user_properties().collect::<Vec<_>>(),
                [("k", "v")]
            );
        }
        other => panic!("{other:?}"),
    }
    let mut aliased = publish(body, QoS::AtMostOnce, false, false, None);
    aliased.properties = Properties(vec![Property::TopicAlias(1)]);
    assert!(matches!(
        link.handle_packet(
            now,
            Packet::Publish(aliased),
            &mut q,
            &mut NoJournal,
            &mut events
        ),
        Err(LinkError::Protocol(_))
    ));
}

use super::*;
use crate::bridge::queue::{NoJournal, QueuedMessage};
use crate::codec::{ConnAck, Decoded, SubAck};

pub(super) fn settings(window: usize) -> LinkSettings {
    LinkSettings {
        client_id: "edge.cloud".into(),
        username: None,
        password: None,
        keepalive: 10,
        clean_session: false,
        protocol: ProtocolVersion::V3_1_1,
        try_private: true,
        subscriptions: vec![("cmd/#".into(), QoS::AtLeastOnce)],
        notification_topic: Some("$SYS/broker/connection/edge.cloud/state".into()),
        window,
        session_expiry: 7200,
        max_packet_size: 1 << 20,
    }
}

/// Every packet the link wrote since the last call.
pub(super) fn written(link: &mut Link) -> Vec<Packet> {
    let version = link.settings().protocol;
    let mut buf = Vec::new();
    link.swap_output(&mut buf);
    let mut packets = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        match codec::decode(&buf[at..], version, 1 << 20).unwrap() {
            Decoded::Packet(p, n) => {
                packets.push(p);
                at += n;
            }
            Decoded::Incomplete => panic!("partial packet"),
        }
    }
    packets
}

fn connack() -> Packet {
    Packet::ConnAck(ConnAck {
        session_present: false,
        code: 0,
        properties: Properties::default(),
    })
}

pub(super) fn ack(kind: AckKind, pid: u16) -> Packet {
    Packet::Ack(Ack::new(kind, PacketId::new(pid).unwrap()))
}

pub(super) fn queue_with(n: usize, qos: QoS) -> BridgeQueue {
    let mut q = BridgeQueue::new("cloud", 100, 1 << 20);
    for i in 0..n {
        q.push(
            QueuedMessage::plain(format!("t/{i}"), vec![b'x'], qos, false),
            &mut NoJournal,
        );
    }
    q
}

fn up(link: &mut Link, q: &mut BridgeQueue, now: Instant) -> Vec<Packet> {
    link.start(now).unwrap();
    let mut events = Vec::new();
    link.handle_packet(now, connack(), q, &mut NoJournal, &mut events)
        .unwrap();
    assert_eq!(
        events,
        [LinkEvent::Up {
            session_present: false
        }]
    );
    written(link)
}

pub(super) fn publishes(packets: &[Packet]) -> Vec<(String, bool, u16)> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) if p.qos != QoS::AtMostOnce => {
                Some((p.body.topic().to_owned(), p.dup, p.packet_id.unwrap().get()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn connect_carries_the_bridge_flag_will_and_subscribes() {
    let now = Instant::now();
    let mut link = Link::new(settings(4), now);
    let mut q = queue_with(0, QoS::AtLeastOnce);
    link.start(now).unwrap();
    let mut buf = Vec::new();
    link.swap_output(&mut buf);
    // "MQTT" then level 4 | 0x80.
    assert_eq!(buf[8], 0x84);
    let Packet::Connect(c) = codec::test_util::dec(&buf, ProtocolVersion::V3_1_1).unwrap() else {
        panic!()
    };
    assert!(c.bridge && !c.clean_start);
    let will = c.will.unwrap();
    assert_eq!((will.payload.as_slice(), will.retain), (&b"0"[..], true));
    let mut events = Vec::new();
    link.handle_packet(now, connack(), &mut q, &mut NoJournal, &mut events)
        .unwrap();
    let packets = written(&mut link);
    assert!(matches!(&packets[0], Packet::Subscribe(s) if s.requests[0].filter == "cmd/#"));
    assert!(matches!(&packets[1], Packet::Publish(p) if p.retain && p.body.payload() == b"1"));
    let Packet::Subscribe(s) = &packets[0] else {
        panic!()
    };
    let suback = Packet::SubAck(SubAck {
        packet_id: s.packet_id,
        codes: vec![crate::codec::ReasonCode(1)],
        properties: Properties::default(),
    });
    link.handle_packet(now, suback, &mut q, &mut NoJournal, &mut events)
        .unwrap();
}

#[test]
fn refused_connect_is_an_error() {
    let now = Instant::now();
    let mut link = Link::new(settings(4), now);
    let mut q = queue_with(0, QoS::AtLeastOnce);
    link.start(now).unwrap();
    let refused = Packet::ConnAck(ConnAck {
        session_present: false,
        code: 5,
        properties: Properties::default(),
    });
    let mut events = Vec::new();
    assert_eq!(
        link.handle_packet(now, refused, &mut q, &mut NoJournal, &mut events),
        Err(LinkError::Refused(5))
    );
}

#[test]
fn window_pipelines_in_order_and_acks_remove() {
    let now = Instant::now();
    let mut s = settings(3);
    s.subscriptions.clear();
    s.notification_topic = None;
    let mut link = Link::new(s, now);
    let mut q = queue_with(5, QoS::AtLeastOnce);
    up(&mut link, &mut q, now);
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    let sent = publishes(&written(&mut link));
    assert_eq!(
        sent.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["t/0", "t/1", "t/2"]
    );
    assert!(!link.wants_transmit(&q));
    // Nothing leaves the queue before its PUBACK.
    assert_eq!(q.len(), 5);
    let mut events = Vec::new();
    link.handle_packet(
        now,
        ack(AckKind::PubAck, sent[1].2),
        &mut q,
        &mut NoJournal,
        &mut events,
    )
    .unwrap();
    assert_eq!(q.len(), 4);
    assert!(link.wants_transmit(&q));
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    assert_eq!(publishes(&written(&mut link))[0].0, "t/3");
}

#[test]
fn reconnect_resends_each_unacked_once_with_dup_then_drains() {
    let now = Instant::now();
    let mut s = settings(2);
    s.subscriptions.clear();
    s.notification_topic = None;
    let mut link = Link::new(s, now);
    let mut q = queue_with(4, QoS::AtLeastOnce);
    up(&mut link, &mut q, now);
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    let first = publishes(&written(&mut link));
    link.disconnected();
    up(&mut link, &mut q, now);
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    let again = publishes(&written(&mut link));
    assert_eq!(
        again,
        first
            .iter()
            .map(|(t, _, p)| (t.clone(), true, *p))
            .collect::<Vec<_>>()
    );
    // A second poll sends nothing more: no storm.
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    assert!(written(&mut link).is_empty());
    assert_eq!(link.stats().resent, 2);
    let mut events = Vec::new();
    for (_, _, pid) in &again {
        link.handle_packet(
            now,
            ack(AckKind::PubAck, *pid),
            &mut q,
            &mut NoJournal,
            &mut events,
        )
        .unwrap();
    }
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    let rest = publishes(&written(&mut link));
    assert_eq!(
        rest.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["t/2", "t/3"]
    );
    assert!(rest.iter().all(|r| !r.1));
}

#[test]
fn qos2_outbound_resends_pubrel_after_pubrec() {
    let now = Instant::now();
    let mut s = settings(4);
    s.subscriptions.clear();
    s.notification_topic = None;
    let mut link = Link::new(s, now);
    let mut q = queue_with(1, QoS::ExactlyOnce);
    up(&mut link, &mut q, now);
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    let pid = publishes(&written(&mut link))[0].2;
    let mut events = Vec::new();
    link.handle_packet(
        now,
        ack(AckKind::PubRec, pid),
        &mut q,
        &mut NoJournal,
        &mut events,
    )
    .unwrap();
    assert_eq!(written(&mut link), [ack(AckKind::PubRel, pid)]);
    assert_eq!(q.len(), 1);
    link.disconnected();
    up(&mut link, &mut q, now);
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    assert_eq!(written(&mut link), [ack(AckKind::PubRel, pid)]);
    link.handle_packet(
        now,
        ack(AckKind::PubComp, pid),
        &mut q,
        &mut NoJournal,
        &mut events,
    )
    .unwrap();
    assert!(q.is_empty());
}

#[test]
fn qos0_entries_leave_once_written() {
    let now = Instant::now();
    let mut link = Link::new(settings(1), now);
    let mut q = queue_with(3, QoS::AtMostOnce);
    up(&mut link, &mut q, now);
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    assert!(q.is_empty());
    assert_eq!(link.stats().sent, 3);
}

#[test]
fn inbound_flows_and_qos2_dedupe() {
    let now = Instant::now();
    let mut link = Link::new(settings(4), now);
    let mut q = queue_with(0, QoS::AtLeastOnce);
    up(&mut link, &mut q, now);
    let body = PublishBody::new("cmd/1", b"go").unwrap();
    let pid = PacketId::new(9);
    let mut events = Vec::new();
    let mut delivered = 0;
    for dup in [false, true] {
        let p = Packet::Publish(publish(body.clone(), QoS::ExactlyOnce, false, dup, pid));
        link.handle_packet(now, p, &mut q, &mut NoJournal, &mut events)
            .unwrap();
        // The caller routes each message, then acknowledges it.
        for event in events.drain(..) {
            if let LinkEvent::Publish { ack: Some(a), .. } = event {
                delivered += 1;
                link.acknowledge(a, None, now).unwrap();
            }
        }
    }
    assert_eq!(delivered, 1);
    assert_eq!(
        written(&mut link),
        [ack(AckKind::PubRec, 9), ack(AckKind::PubRec, 9)]
    );
    link.handle_packet(
        now,
        ack(AckKind::PubRel, 9),
        &mut q,
        &mut NoJournal,
        &mut events,
    )
    .unwrap();
    assert_eq!(written(&mut link), [ack(AckKind::PubComp, 9)]);
    let p = Packet::Publish(publish(
        body,
        QoS::AtLeastOnce,
        false,
        false,
        PacketId::new(3),
    ));
    link.handle_packet(now, p, &mut q, &mut NoJournal, &mut events)
        .unwrap();
    match events.as_slice() {
        [LinkEvent::Publish { ack: Some(a), .. }] => {
            link.acknowledge(a.clone(), None, now).unwrap()
        }
        other => panic!("expected one PUBLISH owing a PUBACK, got {other:?}"),
    }
    assert_eq!(written(&mut link), [ack(AckKind::PubAck, 3)]);
}

#[test]
fn keepalive_pings_then_detects_a_half_open_link() {
    let now = Instant::now();
    let mut link = Link::new(settings(4), now);
    let mut q = queue_with(0, QoS::AtLeastOnce);
    up(&mut link, &mut q, now);
    let ten = Duration::from_secs(10);
    assert_eq!(link.poll_timeout(), Some(now + ten));
    link.handle_timeout(now + ten).unwrap();
    assert_eq!(written(&mut link), [Packet::PingReq]);
    link.handle_timeout(now + Duration::from_secs(14)).unwrap();
    assert!(written(&mut link).is_empty());
    assert_eq!(
        link.handle_timeout(now + Duration::from_secs(15)),
        Err(LinkError::KeepaliveTimeout)
    );
}

#[test]
fn no_connack_times_out() {
    let now = Instant::now();
    let mut link = Link::new(settings(4), now);
    link.start(now).unwrap();
    assert_eq!(link.poll_timeout(), Some(now + CONNACK_TIMEOUT));
    assert_eq!(
        link.handle_timeout(now + CONNACK_TIMEOUT),
        Err(LinkError::ConnAckTimeout)
    );
}

#[test]
fn packet_ids_follow_sequence_numbers_across_a_restart() {
    let now = Instant::now();
    let mut s = settings(8);
    s.notification_topic = None;
    // Before the restart: three QoS 2 messages go out.
    let mut link = Link::new(s.clone(), now);
    let mut q = queue_with(3, QoS::ExactlyOnce);
    let first = up(&mut link, &mut q, now);
    let Some(Packet::Subscribe(sub)) = first.iter().find(|p| matches!(p, Packet::Subscribe(_)))
    else {
        panic!("a SUBSCRIBE after CONNACK")
    };
    link.poll_transmit(now, &mut q, &mut NoJournal).unwrap();
    let before = publishes(&written(&mut link));
    assert!(
        before.iter().all(|p| p.2 != sub.packet_id.get()),
        "SUBSCRIBE's id is its own"
    );

    // After it (a new Link, the queue restored from the store): the same
    // messages carry the same ids, so the remote's QoS 2 state matches.
    let mut restored = BridgeQueue::new("cloud", 100, 1 << 20);
    restored.restore(
        q.iter()
            .map(|(seq, m)| (seq, m.clone()))
            .collect::<Vec<_>>(),
        &mut NoJournal,
    );
    let mut link = Link::new(s, now);
    up(&mut link, &mut restored, now);
    link.poll_transmit(now, &mut restored, &mut NoJournal)
        .unwrap();
    let after = publishes(&written(&mut link));
    let ids = |v: &[(String, bool, u16)]| v.iter().map(|p| (p.0.clone(), p.2)).collect::<Vec<_>>();
    assert_eq!(ids(&after), ids(&before));
}

#[test]
fn acknowledgements_held_for_the_store_leave_in_order_once_it_is_durable() {
    let now = Instant::now();
    let mut link = Link::new(settings(4), now);
    let mut q = queue_with(0, QoS::AtLeastOnce);
    up(&mut link, &mut q, now);
    let puback = |id| match ack(AckKind::PubAck, id) {
        Packet::Ack(a) => a,
        _ => unreachable!(),
    };
    // Message 1 had to be stored (batch 3); message 2 did not, but its
    // PUBACK may not overtake the first [MQTT-4.6.0-2].
    link.acknowledge(puback(1), Some(3), now).unwrap();
    link.acknowledge(puback(2), None, now).unwrap();
    assert!(
        written(&mut link).is_empty(),
        "held until batch 3 is durable"
    );
    link.release_acks(2, now).unwrap();
    assert!(written(&mut link).is_empty());
    link.release_acks(3, now).unwrap();
    assert_eq!(
        written(&mut link),
        [ack(AckKind::PubAck, 1), ack(AckKind::PubAck, 2)]
    );
    link.acknowledge(puback(3), Some(7), now).unwrap();
    link.disconnected();
    link.release_acks(9, now).unwrap();
    assert!(
        written(&mut link).is_empty(),
        "a new connection does not inherit held acknowledgements (the remote resends)"
    );
}

#[path = "tests_v5.rs"]
mod v5;

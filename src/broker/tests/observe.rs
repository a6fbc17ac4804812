//! `$SYS`, client events and the admin API's reads and writes on the
//! simulated clock (docs/observability.md).

use std::time::Duration;

use crate::codec::{Packet, QoS};
use crate::sys::{EdgeFacts, SysSettings};

use super::{Harness, Settings};

fn topics(packets: &[Packet]) -> Vec<(String, String, bool)> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((
                p.body.topic().to_owned(),
                String::from_utf8_lossy(p.body.payload()).into_owned(),
                p.retain,
            )),
            _ => None,
        })
        .collect()
}

/// SUBSCRIBE whose SUBACK may be followed by retained `$SYS` values or
/// the client's own event; returns what followed it.
fn subscribe(h: &mut Harness, conn: crate::broker::ConnId, filter: &str) -> Vec<Packet> {
    h.send(
        conn,
        Packet::Subscribe(crate::codec::Subscribe {
            packet_id: crate::codec::PacketId::new(1).unwrap(),
            requests: vec![crate::codec::SubscriptionRequest {
                filter: filter.to_string(),
                options: Default::default(),
            }],
            properties: Default::default(),
        }),
    );
    let mut got = h.received(conn);
    assert!(matches!(got.first(), Some(Packet::SubAck(_))), "{got:?}");
    got.remove(0);
    got
}

fn harness(interval: u64, events: bool) -> Harness {
    let mut h = Harness::new(Settings::default());
    let settings = SysSettings {
        interval: Duration::from_secs(interval),
        events,
    };
    h.broker.install_sys(h.now, settings);
    h.broker
        .handle_wall_clock_ms(h.now, Some(1_800_000_000_000));
    h
}

fn tick(h: &mut Harness, by: Duration) {
    h.advance(by);
    if h.broker.sys_due(h.now) {
        h.broker.handle_sys(h.now, EdgeFacts::default());
    }
}

#[test]
fn the_tree_is_published_each_interval_and_retained_for_later_subscribers() {
    let mut h = harness(10, false);
    let early = h.connect("early", true);
    h.subscribe(early, "$SYS/broker/uptime", QoS::AtMostOnce);
    tick(&mut h, Duration::from_secs(1));
    let first = topics(&h.received(early));
    assert_eq!(
        first,
        vec![("$SYS/broker/uptime".into(), "1 seconds".into(), false)]
    );
    tick(&mut h, Duration::from_secs(5));
    assert!(h.received(early).is_empty(), "not due yet");
    tick(&mut h, Duration::from_secs(5));
    assert_eq!(topics(&h.received(early))[0].1, "11 seconds");
    // A later subscriber gets the last values at once, flagged retained.
    let late = h.connect("late", true);
    let got = topics(&subscribe(&mut h, late, "$SYS/broker/clients/+"));
    assert!(
        got.contains(&("$SYS/broker/clients/connected".into(), "1".into(), true)),
        "{got:?}"
    );
    // `#` never matches them [MQTT-4.7.2-1].
    let wild = h.connect("wild", true);
    h.subscribe(wild, "#", QoS::AtMostOnce);
    tick(&mut h, Duration::from_secs(10));
    assert!(topics(&h.received(wild)).is_empty());
    // Never stored, never counted against max_retained_messages' users.
    assert_eq!(h.broker.stats().retained_refused, 0);
}

#[test]
fn sys_interval_0_publishes_nothing() {
    let mut h = harness(0, false);
    let c = h.connect("c", true);
    h.subscribe(c, "$SYS/#", QoS::AtMostOnce);
    for _ in 0..5 {
        tick(&mut h, Duration::from_secs(10));
    }
    assert!(h.received(c).is_empty());
}

#[test]
fn events_follow_a_client_and_are_off_by_default() {
    let mut quiet = harness(0, false);
    let w = quiet.connect("w", true);
    assert!(subscribe(&mut quiet, w, "$SYS/events/#").is_empty());
    quiet.connect("dev", true);
    assert!(quiet.received(w).is_empty());

    let mut h = harness(0, true);
    let w = h.connect("w", true);
    let own = topics(&subscribe(&mut h, w, "$SYS/events/#"));
    assert_eq!(own[0].0, "$SYS/events/client/subscribed");
    let dev = h.connect("dev", false);
    h.subscribe(dev, "a/#", QoS::AtLeastOnce);
    h.send(dev, Packet::Disconnect(Default::default()));
    let got = topics(&h.received(w));
    let kinds: Vec<&str> = got.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "$SYS/events/client/connected",
            "$SYS/events/client/subscribed",
            "$SYS/events/client/disconnected"
        ]
    );
    assert!(got[0].1.contains(r#""clientid":"dev""#) && got[0].1.contains(r#""ts":1800000000000"#));
    assert!(
        got[1].1.contains(r#""filter":"a/#","qos":1"#),
        "{}",
        got[1].1
    );
    assert!(
        got[2].1.contains(r#""reason":"client disconnected""#),
        "{}",
        got[2].1
    );
    // w's own connect (before it subscribed) counts too.
    assert_eq!(h.broker.stats().events_published, 5);
}

#[test]
fn kick_closes_and_can_delete_the_session() {
    let mut h = harness(0, false);
    let dev = h.connect("dev", false);
    h.subscribe(dev, "a", QoS::AtLeastOnce);
    assert_eq!(h.broker.kick(h.now, "nobody", false), None);
    assert_eq!(h.broker.kick(h.now, "dev", false), Some((true, false)));
    assert_eq!(h.broker.closing(dev), Some(super::CloseReason::Kicked));
    h.broker.handle_closed(h.now, dev);
    let detail = h.broker.client(h.now, "dev").unwrap();
    assert!(!detail.summary.connected);
    assert_eq!(detail.summary.disconnected_at, Some(1_800_000_000_000));
    assert_eq!(h.broker.unsubscribe_client(h.now, "dev", "a"), Some(true));
    assert_eq!(h.broker.unsubscribe_client(h.now, "dev", "a"), Some(false));
    assert_eq!(h.broker.kick(h.now, "dev", true), Some((false, true)));
    assert!(h.broker.client(h.now, "dev").is_none());
    assert_eq!(h.broker.stats().admin_kicks, 1);
}

#[test]
fn clients_page_in_id_order_and_groups_count_online_ones() {
    let mut h = harness(0, false);
    for id in ["g@@3", "g@@1", "h@@1", "solo", "g@@2"] {
        h.connect(id, true);
    }
    let query = crate::broker::ClientQuery {
        prefix: Some("g@@".into()),
        page: 2,
        limit: 2,
        ..Default::default()
    };
    let (page, total) = h.broker.clients(h.now, &query);
    assert_eq!(total, 3);
    assert_eq!(
        page.iter()
            .map(|c| c.client_id.as_str())
            .collect::<Vec<_>>(),
        ["g@@3"]
    );
    let groups: Vec<(String, u64)> = h.broker.groups().into_iter().collect();
    assert_eq!(groups, [("g".into(), 3), ("h".into(), 1)]);
}

#[test]
fn the_tree_takes_no_room_from_max_retained_messages() {
    let settings = Settings {
        max_retained_messages: 1,
        ..Settings::default()
    };
    let mut h = Harness::new(settings);
    let interval = SysSettings {
        interval: Duration::from_secs(1),
        events: false,
    };
    h.broker.install_sys(h.now, interval);
    tick(&mut h, Duration::from_secs(1));
    let c = h.connect("c", true);
    let mut publish = super::publish_packet("user/1", b"kept", QoS::AtMostOnce, 0);
    if let Packet::Publish(p) = &mut publish {
        p.retain = true;
    }
    h.send(c, publish);
    assert_eq!(h.broker.stats().retained_refused, 0);
    let got = topics(&subscribe(&mut h, c, "user/#"));
    assert_eq!(got, vec![("user/1".into(), "kept".into(), true)]);
}

//! MQTT 5, the connection and session half, end to end (docs/mqtt5.md):
//! CONNACK properties, session expiry, DISCONNECT both ways, will delay,
//! topic aliases, Receive Maximum and Maximum Packet Size both ways, over
//! real sockets with hand-written 5.0 packets (`common/mqtt5_raw.rs`),
//! `mosquitto_sub -V mqttv5` and the rumqttc crate's 5.0 client as second
//! opinions — and 3.1.1 clients seeing none of it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::mqtt5_raw::{
    disconnect5, id, parse_connack5, parse_disconnect5, parse_publish5, publish5, subscribe5,
    Connect5, Parsed, Props, Publish5,
};
use common::raw::{self, ReadEvent};
use common::{mosquitto_pub, scaled, ws, Broker, MosquittoSub, RawClient};
use std::time::{Duration, Instant};

fn secs(n: u64) -> Duration {
    scaled(Duration::from_secs(n))
}

/// Connects `c`; its CONNACK as (session present, code, properties).
fn connect(b: &Broker, c: &Connect5) -> (RawClient, bool, u8, Parsed) {
    let mut client = RawClient::connect(b.addr());
    client.send(&c.to_bytes());
    let p = client
        .read_packet(secs(5))
        .unwrap_or_else(|| panic!("no CONNACK for {}:\n{}", c.client_id, b.log()));
    let (present, code, props) = parse_connack5(&p).unwrap_or_else(|| panic!("{p:?}"));
    (client, present, code, props)
}

/// Connects and checks the CONNACK says success.
fn connected(b: &Broker, c: &Connect5) -> RawClient {
    let (client, _, code, _) = connect(b, c);
    assert_eq!(code, 0, "{}", b.log());
    client
}

/// Subscribes with `options` (QoS in the low bits) and reads the SUBACK.
fn subscribe(c: &mut RawClient, filter: &str, options: u8) {
    c.send(&subscribe5(1, filter, options));
    let p = c.read_packet(secs(5)).expect("SUBACK");
    assert_eq!(raw::packet_type(&p), 9, "{p:?}");
}

/// The next PUBLISH, skipping nothing: panics on anything else.
fn next_publish(c: &mut RawClient, within: Duration) -> Option<Publish5> {
    match c.read_event(within) {
        ReadEvent::Packet(p) => Some(parse_publish5(&p).unwrap_or_else(|| panic!("{p:?}"))),
        ReadEvent::Timeout => None,
        other => panic!("{other:?}"),
    }
}

/// The server's DISCONNECT, then the close: its reason code and properties.
fn expect_disconnect(c: &mut RawClient) -> (u8, Parsed) {
    let deadline = Instant::now() + secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.read_event(left) {
            ReadEvent::Packet(p) if raw::packet_type(&p) == 14 => {
                let parsed = parse_disconnect5(&p).expect("DISCONNECT");
                assert!(c.expect_closed(secs(5)), "not closed after DISCONNECT");
                return parsed;
            }
            ReadEvent::Packet(_) if !left.is_zero() => continue,
            other => panic!("no DISCONNECT: {other:?}"),
        }
    }
}

#[test]
fn connack_tells_the_limits_assigned_id_and_server_keep_alive() {
    let b = Broker::start(
        "max_inflight_messages 7\nmax_keepalive 30\npersistent_client_expiration 1h\n\
         max_packet_size 4096\nmax_topic_alias 5\n",
    );
    let c = Connect5::new("")
        .keepalive(100)
        .props(Props::new().u32(id::SESSION_EXPIRY, 7200));
    let (mut client, present, code, props) = connect(&b, &c);
    assert_eq!((present, code), (false, 0));
    // Capped by persistent_client_expiration, so told (MQTT 5 §3.2.2.3.2).
    assert_eq!(props.int(id::SESSION_EXPIRY), Some(3600));
    assert_eq!(props.int(id::RECEIVE_MAXIMUM), Some(7));
    assert_eq!(props.int(id::MAXIMUM_PACKET_SIZE), Some(4096));
    assert_eq!(props.int(id::TOPIC_ALIAS_MAXIMUM), Some(5));
    assert_eq!(props.int(id::SERVER_KEEP_ALIVE), Some(30));
    let assigned = props.str(id::ASSIGNED_CLIENT_ID).expect("assigned id");
    assert!(assigned.starts_with("auto-"), "{assigned}");
    assert_eq!(props.int(id::RETAIN_AVAILABLE), Some(1));
    assert_eq!(props.int(id::WILDCARD_AVAILABLE), Some(1));
    assert_eq!(props.int(id::SUBSCRIPTION_ID_AVAILABLE), Some(0));
    assert_eq!(props.int(id::SHARED_AVAILABLE), Some(1));
    assert_eq!(props.get(id::AUTH_METHOD), None);
    client.send(&raw::pingreq());
    assert_eq!(client.read_packet(secs(5)), Some(vec![0xD0, 0]));

    // Asked for what it gets: no Session Expiry, no Server Keep Alive.
    let c = Connect5::new("plain")
        .keepalive(20)
        .props(Props::new().u32(id::SESSION_EXPIRY, 60));
    let (_plain, _, code, props) = connect(&b, &c);
    assert_eq!(code, 0);
    assert_eq!(props.get(id::SESSION_EXPIRY), None);
    assert_eq!(props.get(id::SERVER_KEEP_ALIVE), None);
    assert_eq!(props.get(id::ASSIGNED_CLIENT_ID), None);
}

#[test]
fn a_3_1_1_client_sees_no_change() {
    let b = Broker::start("");
    let (mut old, code) = RawClient::connect_mqtt(b.addr(), "same");
    assert_eq!(code, Some(0));
    let mut c = RawClient::connect(b.addr());
    c.send(&raw::Connect::new("same").to_bytes());
    // CONNACK exactly as 3.1.1 has it: no properties.
    assert_eq!(c.read_packet(secs(5)), Some(vec![0x20, 2, 0, 0]));
    // The one taken over is closed without a DISCONNECT (3.1.1 has none
    // from a server).
    assert_eq!(old.read_event(secs(5)), ReadEvent::Closed);
    c.send(&raw::disconnect());
    assert!(c.expect_closed(secs(5)));
}

#[test]
fn session_expiry_decides_whether_the_session_outlives_the_connection() {
    let b = Broker::start("");
    // No Session Expiry: the session ends with the connection, clean
    // start 0 or not.
    let zero = Connect5::new("se0").clean(false);
    let mut c = connected(&b, &zero);
    subscribe(&mut c, "se/0", 1);
    c.send(&disconnect5(0, Props::new()));
    assert!(c.expect_closed(secs(5)));
    let (_c, present, _, _) = connect(&b, &zero);
    assert!(!present, "session expiry 0 kept the session");

    // 60 s: kept, a message queued for it while away.
    let sixty = Connect5::new("se60").props(Props::new().u32(id::SESSION_EXPIRY, 60));
    let mut c = connected(&b, &sixty);
    subscribe(&mut c, "se/60", 1);
    c.send(&disconnect5(0, Props::new()));
    assert!(c.expect_closed(secs(5)));
    let out = mosquitto_pub(b.addr(), &["-t", "se/60", "-m", "kept", "-q", "1"]);
    assert!(out.status.success(), "{out:?}");
    let (mut c, present, _, _) = connect(&b, &sixty.clone().clean(false));
    assert!(present);
    let p = next_publish(&mut c, secs(5)).expect("queued message");
    assert_eq!(
        (p.topic.as_str(), p.payload.as_slice()),
        ("se/60", &b"kept"[..])
    );

    // A DISCONNECT may shorten it to 0: the session ends there.
    c.send(&raw::puback(p.pkid.unwrap()));
    c.send(&disconnect5(0, Props::new().u32(id::SESSION_EXPIRY, 0)));
    assert!(c.expect_closed(secs(5)));
    let (_c, present, _, _) = connect(&b, &sixty.clone().clean(false));
    assert!(!present, "session expiry 0 at DISCONNECT kept the session");

    // 1 s: gone two seconds later.
    let one = Connect5::new("se1").props(Props::new().u32(id::SESSION_EXPIRY, 1));
    let mut c = connected(&b, &one);
    subscribe(&mut c, "se/1", 1);
    drop(c);
    std::thread::sleep(secs(2) + Duration::from_millis(500));
    let (_c, present, _, _) = connect(&b, &one.clean(false));
    assert!(!present, "expired session resumed");
    assert!(b.report(secs(5))["sessions_expired"] >= 1);
}

#[test]
fn disconnect_with_will_message_publishes_it_and_normal_disconnect_does_not() {
    let b = Broker::start("");
    let sub = MosquittoSub::start(b.addr(), &["-V", "mqttv5", "-t", "will/#", "-v"]);
    let mut with = connected(
        &b,
        &Connect5::new("w1").will("will/w1", b"gone", 0, Props::new()),
    );
    let mut normal = connected(
        &b,
        &Connect5::new("w2").will("will/w2", b"gone", 0, Props::new()),
    );
    normal.send(&disconnect5(0, Props::new()));
    assert!(normal.expect_closed(secs(5)));
    with.send(&disconnect5(0x04, Props::new()));
    assert!(with.expect_closed(secs(5)));
    assert_eq!(sub.wait_messages(1, secs(5)), ["will/w1 gone"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sub.messages(), ["will/w1 gone"]);
}

#[test]
fn will_delay_is_cut_short_when_the_session_ends_with_the_connection() {
    let b = Broker::start("");
    let sub = MosquittoSub::start(b.addr(), &["-V", "mqttv5", "-t", "will/#", "-v"]);
    // Will Delay 30 s but Session Expiry 0: the session ends at the
    // disconnect, and the will with it (MQTT 5 §3.1.3.2.2); mosquitto
    // 2.0.11 waits the 30 s.
    let delay = Props::new().u32(id::WILL_DELAY, 30);
    let c = connected(&b, &Connect5::new("cut").will("will/cut", b"now", 1, delay));
    let dropped = Instant::now();
    drop(c);
    assert_eq!(sub.wait_messages(1, secs(5)), ["will/cut now"]);
    assert!(dropped.elapsed() < secs(3), "{:?}", dropped.elapsed());
}

#[test]
fn will_delay_waits_and_a_reconnect_in_time_cancels_it() {
    let b = Broker::start("");
    let sub = MosquittoSub::start(b.addr(), &["-V", "mqttv5", "-t", "will/#", "-v"]);
    let session = Props::new().u32(id::SESSION_EXPIRY, 60);
    let delay = || Props::new().u32(id::WILL_DELAY, 2);
    let late = Connect5::new("late")
        .props(session.clone())
        .will("will/late", b"late", 0, delay());
    let back = Connect5::new("back")
        .props(session.clone())
        .will("will/back", b"never", 0, delay());
    let (c1, c2) = (connected(&b, &late), connected(&b, &back));
    let dropped = Instant::now();
    drop(c1);
    drop(c2);
    std::thread::sleep(Duration::from_millis(500));
    // Back within the delay: its will is not sent (MQTT 5 §3.1.3.2.2).
    let _back = connected(&b, &back.clean(false).props(session));
    std::thread::sleep(Duration::from_millis(500));
    assert!(sub.messages().is_empty(), "{:?}", sub.messages());
    assert_eq!(sub.wait_messages(1, secs(5)), ["will/late late"]);
    assert!(dropped.elapsed() >= Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(sub.messages(), ["will/late late"]);
    assert!(b.report(secs(5))["wills_delayed"] >= 2);
}

#[test]
fn topic_aliases_from_the_client_resolve_and_are_forgotten_at_reconnect() {
    let b = Broker::start("");
    let sub = MosquittoSub::start(b.addr(), &["-V", "mqttv5", "-t", "ta/#", "-v"]);
    let mut c = connected(&b, &Connect5::new("alias-in"));
    let alias = |n| Props::new().u16(id::TOPIC_ALIAS, n);
    c.send(&publish5("ta/x", b"one", 0, 0, alias(1)));
    c.send(&publish5("", b"two", 0, 0, alias(1)));
    c.send(&publish5("ta/y", b"three", 0, 0, alias(1)));
    c.send(&publish5("", b"four", 0, 0, alias(1)));
    assert_eq!(
        sub.wait_messages(4, secs(5)),
        ["ta/x one", "ta/x two", "ta/y three", "ta/y four"]
    );
    drop(c);
    // A new connection has no aliases (MQTT 5 §3.3.2.3.4): a protocol error.
    let mut c = connected(&b, &Connect5::new("alias-in"));
    c.send(&publish5("", b"five", 0, 0, alias(1)));
    assert_eq!(expect_disconnect(&mut c).0, 0x82);
}

#[test]
fn topic_aliases_to_the_client_name_recent_topics_lru_replaced() {
    let b = Broker::start("");
    let tam = Props::new().u16(id::TOPIC_ALIAS_MAXIMUM, 2);
    let mut c = connected(&b, &Connect5::new("alias-out").props(tam));
    subscribe(&mut c, "to/#", 0);
    // A second opinion: MQTT.js resolves the aliases it allowed.
    // (libmosquitto 2.0.11 cannot: with `-D connect topic-alias-maximum`
    // mosquitto_sub calls the first aliased PUBLISH a protocol error.)
    let js = mqtt_js_alias_subscriber(&b, 3, 5);
    let topics = ["to/a", "to/a", "to/b", "to/c", "to/a"];
    for (n, topic) in topics.iter().enumerate() {
        let out = mosquitto_pub(b.addr(), &["-t", topic, "-m", &n.to_string()]);
        assert!(out.status.success(), "{out:?}");
        // One at a time: the order of arrival is the order published.
        let p = next_publish(&mut c, secs(5)).expect("PUBLISH");
        assert_eq!(p.payload, n.to_string().as_bytes());
        let seen = (p.topic.as_str(), p.props.int(id::TOPIC_ALIAS));
        let expected = match n {
            0 => ("to/a", Some(1)),
            1 => ("", Some(1)),
            2 => ("to/b", Some(2)),
            // to/a used last at 1, to/b at 2: to/c takes to/a's alias.
            3 => ("to/c", Some(1)),
            _ => ("to/a", Some(2)),
        };
        assert_eq!(seen, expected, "message {n}");
    }
    if let Some(mut js) = js {
        let lines: Vec<String> = (0..5).filter_map(|_| js.line(secs(5))).collect();
        assert_eq!(
            lines,
            [
                "got to/a 0",
                "got to/a 1",
                "got to/b 2",
                "got to/c 3",
                "got to/a 4"
            ]
        );
        assert_eq!(js.exit_code(secs(5)), Some(0));
    }
}

/// MQTT.js subscribed to `to/#` allowing `aliases` topic aliases, once it
/// says it is ready; `None` (the check skipped) without `make deps-ws`.
fn mqtt_js_alias_subscriber(b: &Broker, aliases: u16, count: usize) -> Option<ws::Script> {
    let modules = match ws::mqtt_js() {
        Ok(modules) => modules,
        Err(why) => {
            eprintln!("MQTT.js check skipped: {why}");
            return None;
        }
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/mqtt5/mqttjs_topic_alias.js"
    );
    let mut node = std::process::Command::new("node");
    node.env("NODE_PATH", &modules).args([
        script,
        &format!("mqtt://{}", b.addr()),
        &common::unique_id("js"),
        &aliases.to_string(),
        &count.to_string(),
    ]);
    let js = ws::Script::spawn(node);
    assert_eq!(js.line(secs(10)).as_deref(), Some("ready"));
    Some(js)
}

#[test]
fn a_client_over_our_receive_maximum_gets_disconnect_0x93_and_others_go_on() {
    let b = Broker::start("max_inflight_messages 3\n");
    let mut bystander = connected(&b, &Connect5::new("bystander"));
    let (mut c, _, _, props) = connect(&b, &Connect5::new("greedy"));
    assert_eq!(props.int(id::RECEIVE_MAXIMUM), Some(3));
    // Four QoS 2 PUBLISHes never released: the fourth is one too many
    // (MQTT 5 §3.3.4); mosquitto 2.0.11 answers PUBREC 0x97 and stays
    // connected instead.
    for pkid in 1..=4 {
        c.send(&publish5("rm/in", b"x", 2, pkid, Props::new()));
    }
    for pkid in 1..=3u16 {
        // PUBREC, 0x10 (no matching subscribers) after the packet id.
        let p = c.read_packet(secs(5)).expect("PUBREC");
        assert_eq!(
            (raw::packet_type(&p), &raw::body(&p)[..2]),
            (5, &pkid.to_be_bytes()[..])
        );
    }
    let (code, props) = expect_disconnect(&mut c);
    assert_eq!(code, 0x93);
    assert!(props.str(id::REASON_STRING).is_some());
    bystander.send(&raw::pingreq());
    assert_eq!(bystander.read_packet(secs(5)), Some(vec![0xD0, 0]));
    assert_eq!(b.report(secs(5))["receive_maximum_exceeded"], 1);
}

#[test]
fn a_clients_receive_maximum_bounds_what_it_is_sent_unacknowledged() {
    let b = Broker::start("max_inflight_messages 20\n");
    let rm = Props::new().u16(id::RECEIVE_MAXIMUM, 2);
    let mut c = connected(&b, &Connect5::new("slow").props(rm));
    subscribe(&mut c, "rx/#", 1);
    for n in 0..5 {
        let out = mosquitto_pub(b.addr(), &["-t", "rx/1", "-m", &n.to_string(), "-q", "1"]);
        assert!(out.status.success(), "{out:?}");
    }
    let first = next_publish(&mut c, secs(5)).expect("1st");
    let second = next_publish(&mut c, secs(5)).expect("2nd");
    assert_eq!(next_publish(&mut c, Duration::from_millis(700)), None);
    c.send(&raw::puback(first.pkid.unwrap()));
    let third = next_publish(&mut c, secs(5)).expect("3rd after a PUBACK");
    assert_eq!(next_publish(&mut c, Duration::from_millis(500)), None);
    let payloads: Vec<_> = [&first, &second, &third]
        .iter()
        .map(|p| String::from_utf8(p.payload.clone()).unwrap())
        .collect();
    assert_eq!(payloads, ["0", "1", "2"]);
}

#[test]
fn a_message_over_a_clients_maximum_packet_size_is_dropped_for_it_alone() {
    let b = Broker::start("");
    let small = Props::new().u32(id::MAXIMUM_PACKET_SIZE, 64);
    let mut tiny = connected(&b, &Connect5::new("tiny").props(small));
    let mut big = connected(&b, &Connect5::new("big"));
    subscribe(&mut tiny, "mp/#", 1);
    subscribe(&mut big, "mp/#", 1);
    // A second opinion: libmosquitto's own Maximum Packet Size.
    let sub = MosquittoSub::start(
        b.addr(),
        &[
            "-V",
            "mqttv5",
            "-D",
            "connect",
            "maximum-packet-size",
            "64",
            "-t",
            "mp/#",
            "-v",
            "-q",
            "1",
        ],
    );
    let large = "x".repeat(100);
    for payload in [large.as_str(), "small"] {
        let out = mosquitto_pub(b.addr(), &["-t", "mp/1", "-m", payload, "-q", "1"]);
        assert!(out.status.success(), "{out:?}");
    }
    let got = next_publish(&mut tiny, secs(5)).expect("the small one");
    assert_eq!(got.payload, b"small");
    for expected in [large.as_bytes(), b"small"] {
        let p = next_publish(&mut big, secs(5)).expect("both");
        assert_eq!(p.payload, expected);
        big.send(&raw::puback(p.pkid.unwrap()));
    }
    assert_eq!(sub.wait_messages(1, secs(5)), ["mp/1 small"]);
    assert_eq!(b.report(secs(5))["dropped_client_packet_size"], 2);
    assert!(b.log().contains("Maximum Packet Size 64"));
}

#[test]
fn the_server_says_why_it_disconnects() {
    let mut b = Broker::start("");
    // Taken over: 0x8E.
    let mut old = connected(&b, &Connect5::new("twice"));
    let _new = connected(&b, &Connect5::new("twice"));
    assert_eq!(expect_disconnect(&mut old).0, 0x8E);
    // Keep alive 1 s, silent: 0x8D after 1.5 s.
    let mut quiet = connected(&b, &Connect5::new("quiet").keepalive(1));
    assert_eq!(expect_disconnect(&mut quiet).0, 0x8D);
    // A second CONNECT: 0x82 with a reason string, or without one for a
    // client that asked for none (MQTT 5 §3.1.2.11.7).
    let mut again = connected(&b, &Connect5::new("again"));
    again.send(&Connect5::new("again").to_bytes());
    let (code, props) = expect_disconnect(&mut again);
    assert_eq!(
        (code, props.str(id::REASON_STRING)),
        (0x82, Some("second CONNECT"))
    );
    let terse = Props::new().byte(id::REQUEST_PROBLEM_INFO, 0);
    let mut again = connected(&b, &Connect5::new("terse").props(terse));
    again.send(&Connect5::new("terse").to_bytes());
    assert_eq!(expect_disconnect(&mut again), (0x82, Parsed::default()));
    // Shutting down: 0x8B.
    let mut last = connected(&b, &Connect5::new("last"));
    b.terminate();
    assert_eq!(expect_disconnect(&mut last).0, 0x8B);
    assert!(b.wait_exit(secs(10)).is_some());
}

/// rumqttc's 5.0 client: a session kept across a reconnect by Session
/// Expiry, a message queued meanwhile delivered at QoS 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_resumes_a_session_kept_by_session_expiry() {
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};

    let b = Broker::start("");
    let options = || {
        let mut o = MqttOptions::new("rumq5", "127.0.0.1", b.port());
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(60));
        o
    };
    async fn next(ev: &mut rumqttc::v5::EventLoop) -> Packet {
        loop {
            match tokio::time::timeout(secs(5), ev.poll()).await {
                Ok(Ok(Event::Incoming(p))) => return p,
                Ok(Ok(_)) => continue,
                other => panic!("{other:?}"),
            }
        }
    }
    let (client, mut ev) = AsyncClient::new(options(), 10);
    let Packet::ConnAck(ack) = next(&mut ev).await else {
        panic!("no CONNACK")
    };
    let props = ack.properties.expect("CONNACK properties");
    assert_eq!(props.receive_max, Some(20));
    assert_eq!(props.topic_alias_max, Some(10));
    client.subscribe("rq/#", QoS::AtLeastOnce).await.unwrap();
    assert!(matches!(next(&mut ev).await, Packet::SubAck(_)));
    client.disconnect().await.unwrap();
    while !matches!(
        tokio::time::timeout(secs(5), ev.poll()).await,
        Ok(Err(_)) | Err(_)
    ) {}
    let out = mosquitto_pub(
        b.addr(),
        &["-V", "mqttv5", "-t", "rq/1", "-m", "while away", "-q", "1"],
    );
    assert!(out.status.success(), "{out:?}");
    let (_client, mut ev) = AsyncClient::new(options(), 10);
    let Packet::ConnAck(ack) = next(&mut ev).await else {
        panic!("no CONNACK")
    };
    assert!(ack.session_present);
    let Packet::Publish(p) = next(&mut ev).await else {
        panic!("no PUBLISH")
    };
    assert_eq!(
        (&p.topic[..], &p.payload[..]),
        (&b"rq/1"[..], &b"while away"[..])
    );
}

/// Session Expiry and a waiting will live in the session's store record:
/// a restart neither resets the one nor loses or hastens the other.
#[test]
fn session_expiry_and_a_waiting_will_survive_a_restart() {
    let mut b = Broker::start("");
    let short = Connect5::new("short").props(Props::new().u32(id::SESSION_EXPIRY, 2));
    let long = Connect5::new("long").props(Props::new().u32(id::SESSION_EXPIRY, 600));
    let will = Props::new().u32(id::WILL_DELAY, 4);
    let dying = Connect5::new("dying")
        .props(Props::new().u32(id::SESSION_EXPIRY, 600))
        .will("will/dying", b"late", 0, will);
    for c in [&short, &long] {
        let mut client = connected(&b, c);
        subscribe(&mut client, "keep/#", 1);
        client.send(&disconnect5(0, Props::new()));
        assert!(client.expect_closed(secs(5)));
    }
    let dropped = Instant::now();
    drop(connected(&b, &dying));
    // The batched store writes within autosave_interval (1 s).
    std::thread::sleep(Duration::from_millis(1500));
    b.restart();
    let sub = MosquittoSub::start(b.addr(), &["-V", "mqttv5", "-t", "will/#", "-v"]);
    assert_eq!(sub.wait_messages(1, secs(10)), ["will/dying late"]);
    let at = dropped.elapsed();
    assert!(at >= Duration::from_secs(4), "will after {at:?}: hastened");
    // "short" was granted 2 s, not persistent_client_expiration's 2 h.
    // The store keeps whole seconds: give the rounding a second or two.
    std::thread::sleep(Duration::from_secs(6).saturating_sub(dropped.elapsed()));
    let (_c, present, _, _) = connect(&b, &short.clean(false));
    assert!(!present, "Session Expiry forgotten across the restart");
    let (_c, present, _, _) = connect(&b, &long.clean(false));
    assert!(present);
}

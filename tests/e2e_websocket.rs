//! WebSocket listeners (`protocol websockets`): MQTT.js and paho-mqtt over
//! ws:// against a rumqttc client on a plain listener of the same broker,
//! QoS 0, 1 and 2 both ways; then byte-level frames from a hand-written
//! client: packets split over frames and sharing one, fragmented messages
//! with a ping between fragments, and every way a client can break the
//! rules (unmasked, text, oversized frames, a wrong path, a slow upgrade).
//!
//! MQTT.js and paho-mqtt come from `make deps-ws`; without them those two
//! tests print why and skip.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::raw;
use common::ws::{self, Script, WsClient};
use common::{scaled, Broker, BrokerOptions, MqttClient};
use rumqttc::QoS;

/// A plain listener first, a WebSocket one second ("listening on" lines
/// come in config order).
const TWO_LISTENERS: &str = "listener 0 127.0.0.1\nlistener 0 127.0.0.1\nprotocol websockets\n";

fn start(extra: &str) -> (Broker, SocketAddr, SocketAddr) {
    let broker = Broker::start_with(BrokerOptions::new(&format!("{TWO_LISTENERS}{extra}")));
    let (tcp, websocket) = (broker.addrs()[0], broker.addrs()[1]);
    (broker, tcp, websocket)
}

fn wait() -> Duration {
    scaled(Duration::from_secs(5))
}

/// The round trip both scripts make (tests/ws/): the script subscribes to
/// ws/in/# and publishes ws/out/0..2; rumqttc on the plain listener does
/// the opposite.
async fn round_trip(tcp: SocketAddr, script: impl FnOnce() -> Script, who: &str) {
    let mut mqtt = MqttClient::connect(&common::unique_id("tcp"), tcp.port()).await;
    mqtt.subscribe("ws/out/#", QoS::ExactlyOnce).await;
    let script = script();
    let ready = script.line(scaled(Duration::from_secs(20)));
    assert_eq!(ready.as_deref(), Some("ready 2"), "{who} did not subscribe");
    let mut from_script = Vec::new();
    for _ in 0..3 {
        let p = mqtt
            .recv_publish(wait())
            .await
            .expect("a message from the script");
        let payload = String::from_utf8_lossy(&p.payload).into_owned();
        from_script.push((p.topic, p.qos as u8, payload));
    }
    from_script.sort();
    let expected: Vec<_> = (0..3u8)
        .map(|i| (format!("ws/out/{i}"), i, format!("from {who} {i}")))
        .collect();
    assert_eq!(from_script, expected);
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        mqtt.publish(&format!("ws/in/{i}"), qos, false, format!("to ws {i}"))
            .await;
    }
    let mut got: Vec<String> = (0..3)
        .map(|_| script.line(wait()).expect("the script's next message"))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "got ws/in/0 0 to ws 0",
            "got ws/in/1 1 to ws 1",
            "got ws/in/2 2 to ws 2"
        ]
    );
    mqtt.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_js_qos_0_1_2_both_ways() {
    let modules = match ws::mqtt_js() {
        Ok(modules) => modules,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let (_broker, tcp, websocket) = start("");
    let script_path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws/mqttjs_round_trip.js");
    for version in ["4", "5"] {
        let url = format!("ws://{websocket}/mqtt");
        let spawn = || {
            let mut node = Command::new("node");
            node.env("NODE_PATH", &modules).args([
                script_path,
                &url,
                &common::unique_id("js"),
                version,
            ]);
            Script::spawn(node)
        };
        round_trip(tcp, spawn, "mqtt.js").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_qos_0_1_2_both_ways() {
    let python = match ws::paho_python() {
        Ok(python) => python,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    // paho asks for its path like any client; this one is not the default.
    let (_broker, tcp, websocket) = start("websockets_path /ws/mqtt\n");
    let script_path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws/paho_round_trip.py");
    let spawn = || {
        let mut python = Command::new(&python);
        python.args([
            script_path,
            "127.0.0.1",
            &websocket.port().to_string(),
            "/ws/mqtt",
            &common::unique_id("paho"),
        ]);
        Script::spawn(python)
    };
    round_trip(tcp, spawn, "paho").await;
}

/// CONNECT over three frames; SUBSCRIBE, PUBLISH and PINGREQ in one frame;
/// a PUBLISH as a fragmented message with a ping between its fragments.
#[test]
fn packets_split_over_frames_and_sharing_one() {
    let (_broker, _, websocket) = start("");
    let mut c = WsClient::upgrade(websocket);
    let connect = raw::connect(&common::unique_id("raw"));
    let (a, rest) = connect.split_at(1);
    let (b, rest) = rest.split_at(3);
    for part in [a, b, rest] {
        c.send_binary(part);
    }
    let connack = c.read_packet(wait()).expect("CONNACK");
    assert_eq!(raw::parse_connack(&connack), Some((false, 0)));

    let mut batch = raw::subscribe(1, &[("split/#", 1)]);
    batch.extend(raw::publish(
        "split/a",
        b"one frame",
        1,
        false,
        false,
        Some(2),
    ));
    batch.extend(raw::pingreq());
    c.send_binary(&batch);
    let mut types = Vec::new();
    for _ in 0..4 {
        types.push(raw::packet_type(&c.read_packet(wait()).expect("an answer")));
    }
    types.sort();
    // PUBLISH (3), PUBACK (4), SUBACK (9), PINGRESP (13).
    assert_eq!(types, [3, 4, 9, 13]);

    let publish = raw::publish("split/b", &[7u8; 1000], 0, false, false, None);
    c.send(&ws::frame(ws::OP_BINARY, false, &publish[..10], true));
    c.send(&ws::frame(ws::OP_PING, true, b"between", true));
    c.send(&ws::frame(
        ws::OP_CONTINUATION,
        false,
        &publish[10..500],
        true,
    ));
    c.send(&ws::frame(ws::OP_CONTINUATION, true, &publish[500..], true));
    let delivered = c.read_packet(wait()).expect("the fragmented PUBLISH");
    let p = raw::parse_publish(&delivered).unwrap();
    assert_eq!(p.topic, "split/b");
    assert_eq!(p.payload, vec![7u8; 1000]);
    assert_eq!(c.controls, [(ws::OP_PONG, b"between".to_vec())]);

    // A clean close: ours answered with the same code, then the end.
    c.send(&ws::frame(ws::OP_CLOSE, true, &1000u16.to_be_bytes(), true));
    assert_eq!(c.read_close(wait()), Some(Some(1000)));
    assert!(c.expect_eof(wait()));
}

fn connected(websocket: SocketAddr) -> WsClient {
    let mut c = WsClient::upgrade(websocket);
    c.send_binary(&raw::connect(&common::unique_id("raw")));
    let connack = c.read_packet(wait()).expect("CONNACK");
    assert_eq!(raw::parse_connack(&connack), Some((false, 0)));
    c
}

#[test]
fn an_unmasked_frame_closes_with_1002() {
    let (broker, _, websocket) = start("");
    let mut c = connected(websocket);
    c.send(&ws::frame(ws::OP_BINARY, true, &raw::pingreq(), false));
    assert_eq!(c.read_close(wait()), Some(Some(1002)));
    assert!(c.expect_eof(wait()));
    // The broker serves on.
    connected(broker.addrs()[1]);
}

#[test]
fn a_text_frame_closes_with_1003() {
    let (_broker, _, websocket) = start("");
    let mut c = connected(websocket);
    c.send(&ws::frame(ws::OP_TEXT, true, b"{\"hello\":1}", true));
    assert_eq!(c.read_close(wait()), Some(Some(1003)));
    assert!(c.expect_eof(wait()));
}

/// A frame announcing 1 GiB is refused from its 14-byte header: no payload
/// is sent, none is waited for.
#[test]
fn an_oversized_frame_closes_before_its_payload() {
    let (_broker, _, websocket) = start("max_packet_size 1024\n");
    let mut c = connected(websocket);
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    let sent = Instant::now();
    c.send(&header);
    assert_eq!(c.read_close(wait()), Some(Some(1009)));
    assert!(c.expect_eof(wait()));
    assert!(sent.elapsed() < wait());
}

#[test]
fn bad_upgrades_get_http_errors() {
    let (_broker, _, websocket) = start("");
    let head = WsClient::open(websocket, &ws::upgrade_request("/"))
        .err()
        .expect("a wrong path is refused");
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    let plain_get = "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let head = WsClient::open(websocket, plain_get)
        .err()
        .expect("not an upgrade");
    assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
    let chat = ws::upgrade_request("/mqtt").replace("Protocol: mqtt", "Protocol: chat");
    let head = WsClient::open(websocket, &chat)
        .err()
        .expect("no mqtt subprotocol");
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    // MQTT bytes on a WebSocket listener are not an HTTP request either.
    let mut c = common::RawClient::connect(websocket);
    c.send(&raw::connect("plain"));
    assert!(c.expect_closed(wait()));
}

/// A client that sends half an upgrade and stalls is closed after
/// `connect_timeout`; meanwhile others are served at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upgrade_is_closed_after_connect_timeout() {
    let (_broker, tcp, websocket) = start("connect_timeout 2\n");
    let request = ws::upgrade_request("/mqtt");
    let mut slow = common::RawClient::connect(websocket);
    slow.send(&request.as_bytes()[..40]);
    let opened = Instant::now();

    // A round trip over WebSocket and one over TCP, both fast meanwhile.
    let started = Instant::now();
    let mut c = connected(websocket);
    c.send_binary(&raw::pingreq());
    let pong = c.read_packet(wait()).expect("PINGRESP");
    assert_eq!(raw::packet_type(&pong), 13);
    let mut mqtt = MqttClient::connect(&common::unique_id("tcp"), tcp.port()).await;
    mqtt.subscribe("fast", QoS::AtLeastOnce).await;
    assert!(
        started.elapsed() < Duration::from_secs(1).max(scaled(Duration::from_millis(500))),
        "round trips took {:?}",
        started.elapsed()
    );

    assert!(slow.expect_closed(scaled(Duration::from_secs(6))));
    let closed_after = opened.elapsed();
    assert!(
        closed_after >= Duration::from_millis(1500),
        "closed after {closed_after:?}"
    );
    mqtt.disconnect().await;
}

/// Sends `request` and reads the answer until the broker closes; the
/// answer, and this end's address as the broker's log names it.
fn refused(addr: SocketAddr, request: &[u8]) -> (String, SocketAddr) {
    let mut c = common::RawClient::connect(addr);
    let local = c.stream().local_addr().unwrap();
    // A head too large is answered before all of it is read: the rest may
    // meet a closed socket.
    let _ = c.try_send(request);
    let mut answer = Vec::new();
    let deadline = Instant::now() + wait();
    let mut stream = c.stream();
    stream.set_read_timeout(Some(wait())).unwrap();
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        match std::io::Read::read(&mut stream, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    (String::from_utf8_lossy(&answer).into_owned(), local)
}

/// Every way to be turned away (a bad upgrade, a frame that breaks a
/// rule, an upgrade that never ends) is counted in the SIGUSR1 report and
/// logged with the peer's address: the first of a kind, then the rest
/// summed up with the next line of that kind after 10 s.
#[test]
fn refusals_are_counted_and_logged_with_the_peer_address() {
    let (broker, _, websocket) = start("connect_timeout 1\nmax_packet_size 1024\n");
    let upgrade = ws::upgrade_request("/mqtt");
    let mut too_large = b"GET /mqtt HTTP/1.1\r\nX: ".to_vec();
    too_large.extend(std::iter::repeat_n(b'a', 9000));
    let bad: [(Vec<u8>, &str); 8] = [
        (ws::upgrade_request("/").into_bytes(), "404"),
        (
            upgrade
                .replace("Protocol: mqtt", "Protocol: chat")
                .into_bytes(),
            "400",
        ),
        (upgrade.replacen("GET", "POST", 1).into_bytes(), "400"),
        (
            upgrade
                .replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")
                .into_bytes(),
            "400",
        ),
        (
            upgrade.replace("Version: 13", "Version: 12").into_bytes(),
            "426",
        ),
        (
            upgrade
                .replace("Sec-WebSocket-Version: 13\r\n", "")
                .into_bytes(),
            "426",
        ),
        (too_large, "431"),
        (raw::connect("plain"), "400"),
    ];
    let mut first_peer = None;
    for (request, status) in &bad {
        let (answer, local) = refused(websocket, request);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{answer}"
        );
        first_peer.get_or_insert(local);
    }
    let mut frame_peer = None;
    for frame in [
        ws::frame(ws::OP_BINARY, true, &raw::pingreq(), false),
        ws::frame(ws::OP_TEXT, true, b"{}", true),
        ws::frame(ws::OP_BINARY, true, &[0u8; 30 * 1024], true),
    ] {
        let mut c = connected(websocket);
        frame_peer.get_or_insert(c.local_addr());
        c.send(&frame);
        assert!(c.read_close(wait()).is_some());
    }
    let mut stalled = common::RawClient::connect(websocket);
    let stalled_peer = stalled.stream().local_addr().unwrap();
    stalled.send(&upgrade.as_bytes()[..40]);
    assert!(stalled.expect_closed(wait()));

    let counters = broker.report(wait());
    for (name, value) in [
        ("websocket_upgrades_refused", 8),
        ("websocket_frame_errors", 3),
        ("websocket_upgrade_timeouts", 1),
        ("connect_timeouts", 1),
        ("connections", 0),
    ] {
        assert_eq!(counters[name], value, "{name}: {counters:?}");
    }
    let log = broker.log();
    let lines = |needle: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    };
    let upgrades = lines("WebSocket upgrade from");
    assert!((1..=2).contains(&upgrades.len()), "{upgrades:?}");
    let first = format!(
        "WebSocket upgrade from {} refused: 404 no WebSocket endpoint at this path",
        first_peer.unwrap()
    );
    assert!(upgrades[0].contains(&first), "{upgrades:?}");
    let frames = lines("closing WebSocket of");
    assert!((1..=2).contains(&frames.len()), "{frames:?}");
    let first = format!(
        "({}) with 1002: an unmasked client frame",
        frame_peer.unwrap()
    );
    assert!(frames[0].contains(&first), "{frames:?}");
    let timeout = format!("closing {stalled_peer}: connect timeout in the WebSocket upgrade");
    assert!(log.contains(&timeout), "{log}");
}

#[test]
fn over_max_connections_gets_503() {
    let (_broker, _, websocket) = start("max_connections 1\n");
    let _first = connected(websocket);
    let head = WsClient::open(websocket, &ws::upgrade_request("/mqtt"))
        .err()
        .unwrap_or_default();
    // The answer is written at accept; a reset may beat it to the client.
    assert!(
        head.is_empty() || head.starts_with("HTTP/1.1 503 "),
        "{head}"
    );
}

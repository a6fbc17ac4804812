//! MQTT over WebSocket over TLS (`wss://`: a listener with `protocol
//! websockets` and the TLS keys) end to end with real clients: paho-mqtt's
//! WebSocket transport and MQTT.js, both trusting only the CA that
//! `openssl` made for the test (`common/pki.rs`), against rumqttc on a
//! plain listener of the same broker. QoS 0, 1 and 2 both ways, in order,
//! and a 300,000-byte message (many TLS records, several WebSocket frames).
//! Then a `require_certificate` listener: paho with a client certificate
//! is let in under the certificate's name, paho without one is refused,
//! counted and logged.
//!
//! MQTT.js and paho-mqtt come from `make deps-ws`; without them these
//! tests print why and skip.

#![cfg(all(feature = "tls", feature = "websocket"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::pki::Pki;
use common::ws::{self, Script};
use common::{scaled, Broker, BrokerOptions, MqttClient};
use rumqttc::QoS;

const BIG: usize = 300_000;

fn wait() -> Duration {
    scaled(Duration::from_secs(10))
}

/// The scripts' payload for big messages (tests/ws/paho_wss_round_trip.py).
fn pattern(length: usize, seed: usize) -> Vec<u8> {
    (0..length).map(|i| ((i * 7 + seed) % 251) as u8).collect()
}

/// A plain listener first, then the `wss://` one with `extra` keys.
fn start(pki: &Pki, extra: &str) -> (Broker, SocketAddr, SocketAddr) {
    let wss = pki.listener("server", &format!("protocol websockets\n{extra}"));
    let conf = format!("max_packet_size 1000000\nlistener 0 127.0.0.1\n{wss}");
    let broker = BrokerOptions::new(&conf).expect_listeners(2).start();
    let (tcp, wss) = (broker.addrs()[0], broker.addrs()[1]);
    (broker, tcp, wss)
}

/// What a script publishes, in order, and what it gets from us: (topic,
/// QoS, payload).
fn sequence(who: &str, big_seed: usize, prefix: &str) -> Vec<(String, u8, Vec<u8>)> {
    let seq = format!("{prefix}/seq");
    let mut messages: Vec<(String, u8, Vec<u8>)> = (0..6u8)
        .map(|i| (seq.clone(), i % 3, format!("seq {i} {who}").into_bytes()))
        .collect();
    messages.push((format!("{prefix}/big"), 2, pattern(BIG, big_seed)));
    messages.push((seq, 1, format!("seq 6 {who}").into_bytes()));
    messages
}

fn qos(n: u8) -> QoS {
    [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][usize::from(n)]
}

/// The script's messages arrive at rumqttc in the order sent, with their
/// topics, QoS and payloads; ours arrive at the script the same way.
async fn round_trip(tcp: SocketAddr, spawn: impl FnOnce() -> Script, who: &str) {
    let mut mqtt = MqttClient::connect(&common::unique_id("tcp"), tcp.port()).await;
    mqtt.subscribe("wss/out/#", QoS::ExactlyOnce).await;
    let script = spawn();
    let ready = script.line(scaled(Duration::from_secs(20)));
    assert_eq!(ready.as_deref(), Some("ready 2"), "{who} did not subscribe");

    let expected = sequence(&format!("from {who}"), 1, "wss/out");
    for (i, (topic, qos, payload)) in expected.iter().enumerate() {
        let p = mqtt
            .recv_publish(wait())
            .await
            .unwrap_or_else(|| panic!("message {i} from {who}"));
        assert_eq!(
            (&p.topic, p.qos as u8, p.payload.len()),
            (topic, *qos, payload.len()),
            "message {i} from {who}"
        );
        assert!(p.payload[..] == payload[..], "message {i} from {who}");
    }

    let ours = sequence(&format!("to {who}"), 2, "wss/in");
    for (topic, n, payload) in &ours {
        mqtt.publish(topic, qos(*n), false, payload.clone()).await;
    }
    let lines: Vec<String> = (0..ours.len())
        .map(|i| {
            script
                .line(wait())
                .unwrap_or_else(|| panic!("{who}: message {i}"))
        })
        .collect();
    // paho and MQTT.js hand a QoS 2 message over at its PUBREL, after
    // the QoS 0 and 1 messages that followed it on the wire: the order
    // holds within each QoS.
    for n in 0..3u8 {
        let sent: Vec<String> = ours
            .iter()
            .filter(|(_, qos, _)| *qos == n)
            .map(|(topic, qos, payload)| {
                let text = if topic.ends_with("/big") {
                    format!("{BIG} ok")
                } else {
                    String::from_utf8(payload.clone()).unwrap()
                };
                format!("got {topic} {qos} {text}")
            })
            .collect();
        let got: Vec<&String> = lines
            .iter()
            .filter(|l| l.split(' ').nth(2) == Some(&n.to_string()))
            .collect();
        assert_eq!(got, sent.iter().collect::<Vec<_>>(), "{who}: QoS {n}");
    }
    mqtt.disconnect().await;
}

/// paho's command line: the `wss://` listener at `/mqtt`, the CA, an
/// optional client certificate.
fn paho(python: &Path, pki: &Pki, wss: SocketAddr, cert: Option<&str>, expected: usize) -> Script {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/ws/paho_wss_round_trip.py"
    );
    let (cert, key) = match cert {
        Some(name) => (pki.p(&format!("{name}.pem")), pki.p(&format!("{name}.key"))),
        None => ("-".to_owned(), "-".to_owned()),
    };
    let mut command = Command::new(python);
    command.args([
        script,
        "127.0.0.1",
        &wss.port().to_string(),
        "/mqtt",
        &common::unique_id("paho"),
        &pki.p("ca.pem"),
        &cert,
        &key,
        &expected.to_string(),
    ]);
    Script::spawn(command)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_over_wss_qos_0_1_2_and_a_big_message_both_ways() {
    let python = match ws::paho_python() {
        Ok(python) => python,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let pki = Pki::new();
    let (broker, tcp, wss) = start(&pki, "");
    round_trip(tcp, || paho(&python, &pki, wss, None, 8), "paho").await;
    let counters = broker.report(wait());
    assert_eq!(counters["tls_handshake_failures"], 0, "{counters:?}");
    assert_eq!(counters["websocket_upgrades_refused"], 0, "{counters:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_js_over_wss_qos_0_1_2_and_a_big_message_both_ways() {
    let modules = match ws::mqtt_js() {
        Ok(modules) => modules,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let pki = Pki::new();
    let (_broker, tcp, wss) = start(&pki, "");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/ws/mqttjs_wss_round_trip.js"
    );
    for version in ["4", "5"] {
        let spawn = || {
            let mut node = Command::new("node");
            node.env("NODE_PATH", &modules).args([
                script,
                &format!("wss://{wss}/mqtt"),
                &common::unique_id("js"),
                version,
                &pki.p("ca.pem"),
                "-",
                "-",
                "8",
            ]);
            Script::spawn(node)
        };
        round_trip(tcp, spawn, "mqtt.js").await;
    }
}

/// `require_certificate` with `use_identity_as_username`: the certificate's
/// CN is the username (paho sends none);
/// without a certificate the TLS handshake fails, counted and logged with
/// the peer's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_with_a_client_certificate_over_wss() {
    let python = match ws::paho_python() {
        Ok(python) => python,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let pki = Pki::new();
    let keys = "require_certificate true\nuse_identity_as_username true\n";
    let (broker, tcp, wss) = start(&pki, keys);
    round_trip(
        tcp,
        || paho(&python, &pki, wss, Some("sensor-7"), 8),
        "paho",
    )
    .await;
    assert!(
        broker.wait_for_log("username 'sensor-7' from its certificate", wait()),
        "{}",
        broker.log()
    );

    let mut refused = paho(&python, &pki, wss, None, 8);
    let first = refused.line(wait()).unwrap_or_default();
    assert!(first.starts_with("error"), "without a certificate: {first}");
    assert_eq!(refused.exit_code(wait()), Some(1));
    assert!(
        broker.wait_log(wait(), |log| log.contains("TLS handshake with 127.0.0.1:")
            && log.contains("failed")),
        "{}",
        broker.log()
    );
    // Counted, and its slot given back: no connection is left.
    let counters = broker.report(wait());
    assert_eq!(counters["tls_handshake_failures"], 1, "{counters:?}");
    assert_eq!(counters["connections"], 0, "{counters:?}");
}

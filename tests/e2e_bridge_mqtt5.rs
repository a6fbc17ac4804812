//! End-to-end MQTT 5.0 bridges (docs/mqtt5.md, "Bridges";
//! `bridge_protocol_version mqttv50`): an edge edgemq bridged to Debian's
//! mosquitto 2.0 (`common::cloud`) or to a second edgemq as the cloud.
//! Message properties both ways, unchanged and in order (read with
//! `mosquitto_sub -V mqttv5 -F`), retained flags as published, no loop
//! with `topic # both` (no-local), the remote keeping the bridge's session
//! (and its QoS 1 messages) while the edge is down, the remote's Maximum
//! Packet Size (dropped and counted) and Receive Maximum (never exceeded).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::cloud::{wait_connected, Cloud};
use common::mosquitto::{mosquitto_pub, mosquitto_sub, MosquittoSub};
use common::{scaled, Broker};

const WAIT: Duration = Duration::from_secs(10);
/// Every property mosquitto_sub prints, with the retain flag.
const FORMAT: &str = "%t|%p|r=%r|C=%C|D=%D|F=%F|R=%R|P=%P|E=%E";

/// A 5.0 bridge block to the cloud on `port`.
fn edge_bridge(port: u16, topics: &str, extra: &str) -> String {
    format!(
        "connection cloud
address 127.0.0.1:{port}
remote_clientid edge-1
bridge_protocol_version mqttv50
keepalive_interval 5
restart_timeout 1 2
{topics}
{extra}
"
    )
}

/// `mosquitto_pub -V mqttv5` of `topic` with every forwarded property:
/// user properties with a repeated key, content type, response topic,
/// correlation data, payload format and a message expiry.
fn publish_with_properties(addr: SocketAddr, topic: &str, payload: &str, retain: bool) {
    let mut args = vec!["-V", "mqttv5", "-q", "1", "-t", topic, "-m", payload];
    if retain {
        args.push("-r");
    }
    for prop in [
        &["user-property", "z", "1"][..],
        &["user-property", "a", "2"],
        &["user-property", "z", "3"],
        &["content-type", "text/plain"],
        &["response-topic", "resp/7"],
        &["correlation-data", "corr-42"],
        &["payload-format-indicator", "1"],
        &["message-expiry-interval", "300"],
    ] {
        args.extend(["-D", "publish"]);
        args.extend(prop);
    }
    let out = mosquitto_pub(addr, &args);
    assert!(out.status.success(), "{out:?}");
}

/// One `-F FORMAT` line: everything but the expiry, which counts down, and
/// the expiry as a number.
fn split_expiry(line: &str) -> (String, u32) {
    let (rest, expiry) = line
        .rsplit_once("|E=")
        .unwrap_or_else(|| panic!("no expiry in {line:?}"));
    (rest.to_owned(), expiry.parse().unwrap_or(0))
}

fn expect_line(sub: &MosquittoSub, n: usize, expected: &str, logs: &dyn Fn() -> String) {
    let lines = sub.wait_messages(n, scaled(WAIT));
    assert!(lines.len() >= n, "{lines:?}\n{}", logs());
    let (rest, expiry) = split_expiry(&lines[n - 1]);
    assert_eq!(rest, expected, "{}", logs());
    // Sent with 300 s; what remains after a hop or two, never more.
    assert!((290..=300).contains(&expiry), "expiry {expiry}");
}

/// Properties edge → cloud and cloud → edge, a retained flag kept on the
/// way down, and no loop: each side's subscriber gets each message once.
fn properties_both_ways(edge: &Broker, cloud: SocketAddr, cloud_log: &dyn Fn() -> String) {
    let logs = || format!("edge:\n{}\ncloud:\n{}", edge.log(), cloud_log());
    let at_cloud = MosquittoSub::start(
        cloud,
        &["-V", "mqttv5", "-q", "1", "-t", "lab/#", "-F", FORMAT],
    );
    let at_edge = MosquittoSub::start(
        edge.addr(),
        &["-V", "mqttv5", "-q", "1", "-t", "lab/#", "-F", FORMAT],
    );
    let props = "C=text/plain|D=corr-42|F=1|R=resp/7|P=z:1 a:2 z:3";

    publish_with_properties(edge.addr(), "lab/up", "from-edge", false);
    expect_line(
        &at_cloud,
        1,
        &format!("lab/up|from-edge|r=0|{props}"),
        &logs,
    );
    publish_with_properties(cloud, "lab/down", "from-cloud", true);
    // Both subscribers are live: retain is cleared on live delivery.
    expect_line(
        &at_edge,
        2,
        &format!("lab/down|from-cloud|r=0|{props}"),
        &logs,
    );

    // No loop: a quiet moment, then each side has seen each message once.
    std::thread::sleep(scaled(Duration::from_millis(1500)));
    let mut seen_edge: Vec<String> = at_edge
        .messages()
        .iter()
        .map(|l| split_expiry(l).0)
        .collect();
    let mut seen_cloud: Vec<String> = at_cloud
        .messages()
        .iter()
        .map(|l| split_expiry(l).0)
        .collect();
    seen_edge.sort();
    seen_cloud.sort();
    let both = [
        format!("lab/down|from-cloud|r=0|{props}"),
        format!("lab/up|from-edge|r=0|{props}"),
    ];
    assert_eq!(seen_edge, both, "edge: once each, no echo\n{}", logs());
    assert_eq!(seen_cloud, both, "cloud: once each, no echo\n{}", logs());

    // The retained flag came down as published (retain-as-published), so
    // the edge retained it, properties included.
    let out = mosquitto_sub(
        edge.addr(),
        &[
            "-V", "mqttv5", "-t", "lab/down", "-C", "1", "-W", "5", "-F", FORMAT,
        ],
        WAIT,
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let (rest, _) = split_expiry(line.trim_end());
    assert_eq!(
        rest,
        format!("lab/down|from-cloud|r=1|{props}"),
        "{}",
        logs()
    );
}

#[test]
fn mosquitto_cloud_properties_both_ways_without_loops() {
    let cloud = Cloud::start("");
    let edge = Broker::start(&edge_bridge(cloud.port(), "topic # both 1", ""));
    wait_connected(&edge, 1);
    properties_both_ways(&edge, cloud.addr(), &|| cloud.log());
    // mosquitto saw a 5.0 client without the bridge flag.
    assert!(
        cloud.log().contains("as edge-1 (p5, c0, k5"),
        "{}",
        cloud.log()
    );
}

#[test]
fn edgemq_cloud_properties_both_ways_without_loops() {
    let cloud = Broker::start("");
    let edge = Broker::start(&edge_bridge(cloud.port(), "topic # both 1", ""));
    wait_connected(&edge, 1);
    properties_both_ways(&edge, cloud.addr(), &|| cloud.log());
}

/// With `cleansession false` the link asks for a Session Expiry Interval,
/// so the remote keeps its subscription, and the QoS 1 messages for it,
/// while the edge is down (mosquitto 2.0's own 5.0 bridge asks for none,
/// and its remote drops the session at once).
#[test]
fn the_remote_keeps_the_session_while_the_edge_is_down() {
    let cloud = Cloud::start("");
    let mut edge = Broker::start(&edge_bridge(
        cloud.port(),
        "topic cmd/# in 1",
        "bridge_session_expiry_interval 600",
    ));
    wait_connected(&edge, 1);
    // A persistent local subscriber, offline while the messages come down.
    let sub_args = [
        "-c", "-i", "edge-sub", "-q", "1", "-t", "cmd/#", "-V", "mqttv311",
    ];
    let mut first = sub_args.to_vec();
    first.extend(["-W", "1"]);
    mosquitto_sub(edge.addr(), &first, Duration::from_secs(5));
    // Let the store write the subscriber's session, then kill the edge.
    std::thread::sleep(Duration::from_millis(1200));
    edge.kill9();
    for i in 0..5 {
        let out = mosquitto_pub(
            cloud.addr(),
            &[
                "-V",
                "mqttv5",
                "-q",
                "1",
                "-t",
                &format!("cmd/{i}"),
                "-m",
                &i.to_string(),
            ],
        );
        assert!(out.status.success(), "{out:?}");
    }
    edge.restart();
    assert!(
        edge.wait_for_log(
            "bridge cloud: connected (session present: true)",
            scaled(WAIT)
        ),
        "the remote kept no session:\n{}\n{}",
        edge.log(),
        cloud.log()
    );
    let mut rest = sub_args.to_vec();
    rest.extend(["-C", "5", "-W", "10", "-v"]);
    let out = mosquitto_sub(edge.addr(), &rest, Duration::from_secs(15));
    let got = String::from_utf8_lossy(&out.stdout);
    let expected: String = (0..5).map(|i| format!("cmd/{i} {i}\n")).collect();
    assert_eq!(got, expected, "{}\n{}", edge.log(), cloud.log());
}

/// A refusing CONNACK and a DISCONNECT from the remote are logged with
/// their reason codes in words; the link retries with its back-off.
#[test]
fn refusal_and_disconnect_are_logged_in_words() {
    let cloud = Cloud::start("allow_anonymous false");
    let edge = Broker::start(&edge_bridge(cloud.port(), "topic # both 1", ""));
    let said = "the remote refused CONNECT: reason code 0x87 (not authorized)";
    assert!(
        edge.wait_log(scaled(WAIT), |log| log.lines().any(|l| l
            .contains("cannot connect to 127.0.0.1:")
            && l.contains(said))),
        "{}\n{}",
        edge.log(),
        cloud.log()
    );

    // An edgemq cloud that takes it, then hands its session to another
    // client with the bridge's client id: DISCONNECT 0x8E. (mosquitto
    // 2.0.11 closes the connection without one.)
    let cloud = Broker::start("");
    let edge = Broker::start(&edge_bridge(cloud.port(), "topic # both 1", ""));
    wait_connected(&edge, 1);
    let out = mosquitto_pub(
        cloud.addr(),
        &["-V", "mqttv5", "-i", "edge-1", "-t", "x", "-m", "taken"],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        edge.wait_for_log(
            "lost: the remote sent DISCONNECT: reason code 0x8e (session taken over)",
            scaled(WAIT)
        ),
        "{}",
        edge.log()
    );
    // Back with the usual back-off (restart_timeout 1 2).
    wait_connected(&edge, 2);
}

/// What the uplink queue keeps on flash while the cloud is away keeps its
/// properties and its expiry across a SIGKILL and restart of the edge.
#[test]
fn queued_messages_keep_their_properties_across_a_restart() {
    let mut cloud = Cloud::prepared("");
    let mut edge = Broker::start(&edge_bridge(cloud.port(), "topic lab/# out 1", ""));
    publish_with_properties(edge.addr(), "lab/queued", "kept", false);
    // The store writes the queued message within a flush interval.
    std::thread::sleep(Duration::from_millis(1200));
    edge.kill9();
    cloud.spawn();
    let at_cloud = MosquittoSub::start(
        cloud.addr(),
        &["-V", "mqttv5", "-q", "1", "-t", "lab/#", "-F", FORMAT],
    );
    edge.restart();
    assert!(
        edge.wait_for_log("1 queued uplink messages restored", scaled(WAIT)),
        "{}",
        edge.log()
    );
    let logs = || format!("edge:\n{}\ncloud:\n{}", edge.log(), cloud.log());
    let props = "C=text/plain|D=corr-42|F=1|R=resp/7|P=z:1 a:2 z:3";
    expect_line(&at_cloud, 1, &format!("lab/queued|kept|r=0|{props}"), &logs);
}

/// A message over the remote's Maximum Packet Size is dropped for the
/// link (the remote would close it), counted and logged; the next goes.
#[test]
fn over_the_remotes_maximum_packet_size_is_dropped_and_counted() {
    let cloud = Cloud::start("max_packet_size 200");
    let edge = Broker::start(&edge_bridge(cloud.port(), "topic big/# out 1", ""));
    wait_connected(&edge, 1);
    let at_cloud = MosquittoSub::start(
        cloud.addr(),
        &["-V", "mqttv5", "-q", "1", "-t", "big/#", "-v"],
    );
    let large = "x".repeat(500);
    for (topic, payload) in [("big/1", large.as_str()), ("big/2", "small")] {
        let out = mosquitto_pub(edge.addr(), &["-q", "1", "-t", topic, "-m", payload]);
        assert!(out.status.success(), "{out:?}");
    }
    let lines = at_cloud.wait_messages(1, scaled(WAIT));
    assert_eq!(lines, ["big/2 small"], "{}", edge.log());
    assert!(
        edge.wait_for_log(
            "dropped over the remote's Maximum Packet Size",
            scaled(WAIT)
        ),
        "{}",
        edge.log()
    );
    let counters = edge.report(scaled(WAIT));
    assert_eq!(counters["bridge_dropped_packet_size"], 1);
    // The link stayed up: one connect in all.
    assert_eq!(edge.log().matches("bridge cloud: connected").count(), 1);
}

/// The remote's Receive Maximum bounds the unacknowledged QoS 2 messages
/// (edgemq as the cloud disconnects with 0x93 past it): a burst larger
/// than the link's own window arrives whole and in order.
#[test]
fn the_remotes_receive_maximum_is_never_exceeded() {
    let cloud = Broker::start("max_inflight_messages 3");
    let edge = Broker::start(&edge_bridge(cloud.port(), "topic seq/# out 2", ""));
    wait_connected(&edge, 1);
    let n = 100;
    let at_cloud = MosquittoSub::start(cloud.addr(), &["-V", "mqttv5", "-q", "2", "-t", "seq/#"]);
    // One mosquitto_pub sends every line of its stdin as a message.
    let mut cmd = std::process::Command::new("mosquitto_pub");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &edge.port().to_string(),
        "-q",
        "2",
        "-t",
        "seq/n",
        "-l",
    ]);
    let lines: String = (0..n).map(|i| format!("{i}\n")).collect();
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mosquitto_pub");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(lines.as_bytes()).unwrap();
    }
    let got = at_cloud.wait_messages(n, scaled(Duration::from_secs(20)));
    let _ = child.kill();
    let _ = child.wait();
    let expected: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    assert_eq!(got, expected, "{}\n{}", edge.log(), cloud.log());
    assert_eq!(cloud.report(scaled(WAIT))["receive_maximum_exceeded"], 0);
    assert_eq!(
        edge.log().matches("bridge cloud: connected").count(),
        1,
        "{}",
        edge.log()
    );
}

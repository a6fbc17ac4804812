//! End-to-end bridges (README.md ## Bridge): an edge edgemq bridged to a
//! cloud that is either Debian's mosquitto (started by the test,
//! `common::cloud`) or a second edgemq. Uplink and downlink with prefix
//! remapping, loop prevention with `both` rules, partitions (SIGSTOP,
//! graceful restart, SIGKILL), a cloud that is down when the edge starts,
//! and the drain rate of a 10,000-message backlog. Bridges over TLS are
//! tests/e2e_bridge_tls.rs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, Instant};

use common::cloud::{wait_connected, Cloud};
use common::{scaled, Broker, MqttClient};
use rumqttc::QoS;

const WAIT: Duration = Duration::from_secs(10);

/// The bridge block of the edge: the README's worked example, with the
/// cloud's port filled in.
fn edge_bridge(port: u16, extra: &str) -> String {
    format!(
        "connection cloud
address 127.0.0.1:{port}
remote_clientid edge-1
keepalive_interval 5
restart_timeout 1 2
topic sensors/# out 1 edge/ site1/
topic cmd/# in 1 local/ site1/
topic chat/# both 1
{extra}
"
    )
}

/// Every publish that arrives within `quiet` of the previous one.
async fn drain(c: &mut MqttClient, quiet: Duration) -> Vec<(String, Vec<u8>)> {
    let mut got = Vec::new();
    while let Some(p) = c.recv_publish(quiet).await {
        got.push((p.topic.clone(), p.payload.to_vec()));
    }
    got
}

async fn expect(c: &mut MqttClient, topic: &str, payload: &[u8]) {
    let p = c
        .recv_publish(scaled(WAIT))
        .await
        .unwrap_or_else(|| panic!("nothing arrived; expected {topic}"));
    assert_eq!((p.topic.as_str(), &p.payload[..]), (topic, payload));
}

/// Uplink and downlink remapping, `both` without echo or ping-pong, and the
/// link state notification on both sides: against `cloud_port`.
async fn remap_and_loops(edge: &Broker, cloud_port: u16) {
    let mut cloud_sub = MqttClient::connect(&common::unique_id("csub"), cloud_port).await;
    cloud_sub
        .subscribe("site1/sensors/#", QoS::AtLeastOnce)
        .await;
    cloud_sub.subscribe("chat/#", QoS::AtLeastOnce).await;
    let mut edge_sub = MqttClient::connect(&common::unique_id("esub"), edge.port()).await;
    edge_sub.subscribe("local/cmd/#", QoS::AtLeastOnce).await;
    edge_sub.subscribe("chat/#", QoS::AtLeastOnce).await;
    let edge_pub = MqttClient::connect(&common::unique_id("epub"), edge.port()).await;
    let cloud_pub = MqttClient::connect(&common::unique_id("cpub"), cloud_port).await;

    // Uplink: edge/sensors/# → site1/sensors/#.
    edge_pub
        .publish("edge/sensors/t1", QoS::AtLeastOnce, false, "21.5")
        .await;
    expect(&mut cloud_sub, "site1/sensors/t1", b"21.5").await;
    // Not matching any out rule: stays local.
    edge_pub
        .publish("sensors/t1", QoS::AtLeastOnce, false, "x")
        .await;
    // Downlink: site1/cmd/# → local/cmd/#.
    cloud_pub
        .publish("site1/cmd/reboot", QoS::AtLeastOnce, false, "now")
        .await;
    expect(&mut edge_sub, "local/cmd/reboot", b"now").await;

    // `both`: each side's subscriber gets each message exactly once.
    edge_pub
        .publish("chat/from-edge", QoS::AtLeastOnce, false, "e")
        .await;
    cloud_pub
        .publish("chat/from-cloud", QoS::AtLeastOnce, false, "c")
        .await;
    let quiet = scaled(Duration::from_millis(1500));
    let mut at_edge = drain(&mut edge_sub, quiet).await;
    let mut at_cloud = drain(&mut cloud_sub, quiet).await;
    at_edge.sort();
    at_cloud.sort();
    let both = vec![
        ("chat/from-cloud".to_owned(), b"c".to_vec()),
        ("chat/from-edge".to_owned(), b"e".to_vec()),
    ];
    assert_eq!(at_edge, both, "edge subscriber: once each, no echo");
    assert_eq!(at_cloud, both, "cloud subscriber: once each, no ping-pong");

    // Notifications: "1" retained on both sides.
    for port in [edge.port(), cloud_port] {
        let mut c = MqttClient::connect(&common::unique_id("note"), port).await;
        c.subscribe("$SYS/broker/connection/edge-1/state", QoS::AtLeastOnce)
            .await;
        let p = c.recv_publish(scaled(WAIT)).await.expect("no notification");
        assert_eq!(&p.payload[..], b"1", "state on port {port}");
        assert!(p.retain);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_cloud_remap_and_no_loops() {
    let cloud = Cloud::start("");
    let edge = Broker::start(&edge_bridge(cloud.port(), ""));
    wait_connected(&edge, 1);
    remap_and_loops(&edge, cloud.port()).await;
    assert!(cloud.log().contains("edge-1"), "{}", cloud.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edgemq_cloud_remap_and_no_loops() {
    let cloud = Broker::start("");
    let edge = Broker::start(&edge_bridge(cloud.port(), ""));
    wait_connected(&edge, 1);
    remap_and_loops(&edge, cloud.port()).await;
}

/// Reads numbered payloads until all of `0..n` arrived (or the deadline);
/// asserts that their first arrivals are in order and returns how many
/// duplicates came (QoS 1 allows them).
async fn collect_in_order(c: &mut MqttClient, n: u32, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    let mut seen = vec![false; n as usize];
    let mut distinct = 0u32;
    let mut duplicates = 0;
    let mut next_new = 0u32;
    while distinct < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(p) = c.recv_publish(left).await else {
            panic!("only {distinct} of {n} messages arrived (next expected {next_new})");
        };
        let i: u32 = std::str::from_utf8(&p.payload).unwrap().parse().unwrap();
        if seen[i as usize] {
            duplicates += 1;
            continue;
        }
        assert_eq!(i, next_new, "a new message out of order");
        seen[i as usize] = true;
        next_new += 1;
        distinct += 1;
    }
    duplicates
}

/// The cloud's mosquitto must not drop what it forwards to a slow test
/// subscriber: unlimited inflight and queue.
const CLOUD_QUEUES: &str = "max_inflight_messages 0\nmax_queued_messages 0\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_mosquitto_cloud_mid_stream() {
    let cloud = Cloud::start(CLOUD_QUEUES);
    let edge = Broker::start(&edge_bridge(cloud.port(), ""));
    wait_connected(&edge, 1);
    let mut sub = MqttClient::connect(&common::unique_id("csub"), cloud.port()).await;
    sub.subscribe("site1/sensors/#", QoS::AtLeastOnce).await;
    let publisher = MqttClient::connect(&common::unique_id("epub"), edge.port()).await;
    let n = 2000;
    for i in 0..n {
        if i == 700 {
            cloud.signal("STOP");
        }
        if i == 1300 {
            // Past 1.5 × keepalive (7.5 s): the edge finds the link
            // half-open and replaces it. Broker time, so not scaled: a
            // longer stop only makes the test's own cloud subscriber time
            // out under an emulator.
            tokio::time::sleep(Duration::from_secs(9)).await;
            cloud.signal("CONT");
        }
        publisher
            .publish("edge/sensors/seq", QoS::AtLeastOnce, false, i.to_string())
            .await;
    }
    let dups = collect_in_order(&mut sub, n, scaled(Duration::from_secs(60))).await;
    eprintln!("SIGSTOP: {n} messages in order, {dups} duplicates");
    assert!(
        edge.wait_for_log("half-open", scaled(WAIT)),
        "no half-open detection:\n{}",
        edge.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_restart_of_mosquitto_cloud() {
    let data = tempfile::tempdir().unwrap();
    // mosquitto started as root drops to its own user: let it write here.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let conf = format!(
        "{CLOUD_QUEUES}persistence true\npersistence_location {}/\n",
        data.path().display()
    );
    let mut cloud = Cloud::start(&conf);
    let edge = Broker::start(&edge_bridge(cloud.port(), ""));
    wait_connected(&edge, 1);
    // A persistent subscriber: the cloud keeps its messages across the
    // restart and while it reconnects.
    let sub_id = common::unique_id("csub");
    let mut opts = common::client::options(&sub_id, cloud.port());
    opts.set_clean_session(false);
    let mut sub = Some(MqttClient::connect_with(opts.clone()).await);
    if let Some(s) = sub.as_mut() {
        s.subscribe("site1/sensors/#", QoS::AtLeastOnce).await;
    }
    let publisher = MqttClient::connect(&common::unique_id("epub"), edge.port()).await;
    let n = 1000;
    let mut first = Vec::new();
    for i in 0..n {
        if i == 400 {
            // What arrived so far, then the restart.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut s = sub.take().unwrap();
            first = drain(&mut s, Duration::from_millis(300)).await;
            s.abort();
            cloud.stop();
        }
        if i == 700 {
            cloud.spawn();
        }
        publisher
            .publish("edge/sensors/seq", QoS::AtLeastOnce, false, i.to_string())
            .await;
    }
    let mut sub = MqttClient::connect_with(opts).await;
    let rest = n - first.len() as u32;
    // The first part in order, then the rest from where it stopped.
    for (k, (_, payload)) in first.iter().enumerate() {
        assert_eq!(payload, k.to_string().as_bytes());
    }
    let deadline = Instant::now() + scaled(Duration::from_secs(30));
    let mut next = first.len() as u32;
    let mut dups = 0;
    while next < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let p = sub.recv_publish(left).await.unwrap_or_else(|| {
            panic!("stopped at {next} of {n}; {rest} expected after the restart")
        });
        let i: u32 = std::str::from_utf8(&p.payload).unwrap().parse().unwrap();
        if i < next {
            dups += 1;
            continue;
        }
        assert_eq!(i, next, "out of order after the restart");
        next += 1;
    }
    eprintln!("graceful restart: {n} in order, {dups} duplicates");
    wait_connected(&edge, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_starts_with_the_cloud_down() {
    let mut cloud = Cloud::prepared(CLOUD_QUEUES);
    // Backoff 2 s → 4 s: the test's subscriber is on the cloud well before
    // the edge's next attempt.
    let edge = Broker::start(&edge_bridge(cloud.port(), "restart_timeout 2 4"));
    assert!(
        edge.wait_for_log("cannot connect to", scaled(WAIT)),
        "{}",
        edge.log()
    );
    let publisher = MqttClient::connect(&common::unique_id("epub"), edge.port()).await;
    let n = 300;
    for i in 0..n {
        publisher
            .publish("edge/sensors/seq", QoS::AtLeastOnce, false, i.to_string())
            .await;
    }
    // QoS 0 is not kept for a link that is down.
    publisher
        .publish("edge/sensors/q0", QoS::AtMostOnce, false, "lost")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    cloud.spawn();
    let mut sub = MqttClient::connect(&common::unique_id("csub"), cloud.port()).await;
    sub.subscribe("site1/sensors/#", QoS::AtLeastOnce).await;
    let dups = collect_in_order(&mut sub, n, scaled(Duration::from_secs(30))).await;
    assert_eq!(dups, 0);
    wait_connected(&edge, 1);
}

/// 10,000 QoS 1 messages queued while the cloud is down, then drained:
/// the rate is printed (README) and held to a loose floor here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_rate_after_an_outage() {
    let mut cloud = Cloud::prepared(CLOUD_QUEUES);
    let edge = Broker::start(&edge_bridge(cloud.port(), "restart_timeout 2 2"));
    assert!(
        edge.wait_for_log("cannot connect to", scaled(WAIT)),
        "{}",
        edge.log()
    );
    let publisher = MqttClient::connect(&common::unique_id("epub"), edge.port()).await;
    let n = 10_000;
    for i in 0..n {
        publisher
            .publish("edge/sensors/seq", QoS::AtLeastOnce, false, i.to_string())
            .await;
    }
    // Every message is on the edge (the last PUBACK came back).
    tokio::time::sleep(Duration::from_millis(500)).await;
    cloud.spawn();
    let mut sub = MqttClient::connect(&common::unique_id("csub"), cloud.port()).await;
    sub.subscribe("site1/sensors/#", QoS::AtLeastOnce).await;
    let first = sub
        .recv_publish(scaled(Duration::from_secs(15)))
        .await
        .expect("nothing drained");
    assert_eq!(&first.payload[..], b"0");
    let start = Instant::now();
    let mut last = 0u32;
    while last + 1 < n {
        let p = sub
            .recv_publish(scaled(WAIT))
            .await
            .unwrap_or_else(|| panic!("drain stopped after {last}"));
        let i: u32 = std::str::from_utf8(&p.payload).unwrap().parse().unwrap();
        assert!(i >= last, "out of order: {i} after {last}");
        last = i;
    }
    let elapsed = start.elapsed();
    let rate = f64::from(n - 1) / elapsed.as_secs_f64();
    eprintln!("DRAIN RATE: {n} queued QoS 1 messages drained in {elapsed:?}: {rate:.0} msg/s");
    assert!(
        rate > 1000.0 / f64::from(common::time_scale()),
        "drain rate {rate:.0} msg/s"
    );
}

/// The uplink queue is in the store: queue while the cloud is down, SIGKILL
/// the edge past its autosave, start the cloud and its subscriber, restart
/// the edge: everything arrives, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_survives_an_edge_restart() {
    let mut cloud = Cloud::prepared(CLOUD_QUEUES);
    let mut edge = Broker::start(&edge_bridge(cloud.port(), "restart_timeout 2 4"));
    let publisher = MqttClient::connect(&common::unique_id("epub"), edge.port()).await;
    for i in 0..100 {
        publisher
            .publish("edge/sensors/seq", QoS::AtLeastOnce, false, i.to_string())
            .await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The edge is down while the cloud comes up and its subscriber
    // subscribes: a live (non-persistent) subscriber misses what the
    // bridge forwards before it subscribes, and a slow edge start (under
    // qemu) raced it.
    edge.kill9();
    cloud.spawn();
    let mut sub = MqttClient::connect(&common::unique_id("csub"), cloud.port()).await;
    sub.subscribe("site1/sensors/#", QoS::AtLeastOnce).await;
    edge.restart();
    collect_in_order(&mut sub, 100, scaled(Duration::from_secs(30))).await;
}

/// An edgemq cloud in sync mode is SIGKILLed mid-stream and restarted; its
/// persistent (offline) subscriber still gets every message, in order: the
/// cloud acknowledged only what it had on disk, and the edge resends the
/// rest from its own queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_an_edgemq_cloud_in_sync_mode_loses_nothing() {
    use common::flow::{collect_within, raw_subscribe};
    use common::raw::{self, Connect};
    use common::RawClient;

    let mut cloud = Broker::start("persistence_sync true\nmax_queued_messages 100000\n");
    let sub_id = common::unique_id("cloud-sub");
    let mut sub = RawClient::connect(cloud.addr());
    sub.send(&Connect::new(&sub_id).clean(false).to_bytes());
    assert!(sub.read_packet(scaled(WAIT)).is_some(), "CONNACK");
    raw_subscribe(&mut sub, 1, &[("site1/sensors/#", 1)]);
    sub.send(&raw::disconnect());
    assert!(sub.expect_closed(scaled(WAIT)));

    let edge = Broker::start(&edge_bridge(cloud.port(), ""));
    wait_connected(&edge, 1);
    let publisher = MqttClient::connect(&common::unique_id("epub"), edge.port()).await;
    let n: u32 = 2000;
    for i in 0..n {
        if i == 1000 {
            cloud.restart(); // SIGKILL, then start on the same port
        }
        publisher
            .publish("edge/sensors/seq", QoS::AtLeastOnce, false, i.to_string())
            .await;
    }
    wait_connected(&edge, 2);

    let mut sub = RawClient::connect(cloud.addr());
    sub.send(&Connect::new(&sub_id).clean(false).to_bytes());
    let connack = sub.read_packet(scaled(WAIT)).expect("CONNACK");
    assert_eq!(
        raw::parse_connack(&connack),
        Some((true, 0)),
        "session kept"
    );
    let deadline = Instant::now() + scaled(Duration::from_secs(60));
    let mut seen = vec![false; n as usize];
    let (mut next_new, mut duplicates) = (0u32, 0usize);
    while next_new < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "only {next_new} of {n} arrived");
        for m in collect_within(&mut sub, 1, left) {
            let i: u32 = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
            if seen[i as usize] {
                duplicates += 1;
                continue;
            }
            assert_eq!(i, next_new, "a new message out of order");
            seen[i as usize] = true;
            next_new += 1;
        }
    }
    eprintln!("edgemq cloud SIGKILL: {n} messages in order, {duplicates} duplicates");
}

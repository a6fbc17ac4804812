//! End-to-end bridges (SPEC §5): an edge edgemq bridged to a cloud that is
//! either Debian's mosquitto (started by the test, `common::cloud`) or a
//! second edgemq. Uplink and downlink with prefix remapping, loop
//! prevention with `both` rules, partitions (SIGSTOP, graceful restart,
//! SIGKILL), a cloud that is down when the edge starts, TLS with
//! certificates made by openssl, and the drain rate of a 10,000-message
//! backlog.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::cloud::Cloud;
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

fn wait_connected(edge: &Broker, n: usize) {
    assert!(
        edge.wait_for_log_count("bridge cloud: connected", n, scaled(WAIT)),
        "the bridge did not connect:\n{}",
        edge.log()
    );
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

//! Bridges and shared subscriptions or point-to-point topics, end to end
//! (docs/shared.md, "Bridges"): a bridge is one member of the cloud's
//! group (`in` rule on `$share/...`) or of a local group (`out` rule), and
//! P2P topics cross the bridge both ways, so a cloud application can
//! address a device behind the router. The cloud is Debian's mosquitto
//! (`common::cloud`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::cloud::{wait_connected, Cloud};
use common::{scaled, Broker, MqttClient};
use rumqttc::QoS;

fn edge_config(cloud_port: u16, rules: &str, extra: &str) -> String {
    format!(
        "persistence false\n{extra}\nconnection cloud\naddress 127.0.0.1:{cloud_port}\n\
         remote_clientid edge-1\nkeepalive_interval 5\nrestart_timeout 1 2\n{rules}\n"
    )
}

/// Every payload that arrives within `quiet` of the previous one.
async fn drain(c: &mut MqttClient, quiet: Duration) -> Vec<String> {
    let mut got = Vec::new();
    while let Some(p) = c.recv_publish(quiet).await {
        got.push(String::from_utf8(p.payload.to_vec()).unwrap());
    }
    got
}

/// Each of `n` numbered payloads exactly once across `a` and `b`, and some
/// at each.
fn assert_split(a: &[String], b: &[String], n: usize) {
    let mut seen = BTreeSet::new();
    for p in a.iter().chain(b) {
        assert!(seen.insert(p.clone()), "{p} arrived twice: {a:?} / {b:?}");
    }
    let want: BTreeSet<String> = (0..n).map(|i| i.to_string()).collect();
    assert_eq!(seen, want);
    assert!(
        !a.is_empty() && !b.is_empty(),
        "one member got all: {a:?} / {b:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_rule_on_a_shared_filter_makes_the_bridge_one_member_of_the_cloud_group() {
    let cloud = Cloud::start("");
    let edge = Broker::start(&edge_config(
        cloud.port(),
        "topic $share/edges/cmd/# in 1 local/ site/",
        "",
    ));
    wait_connected(&edge, 1);
    let mut at_edge = MqttClient::connect(&common::unique_id("esub"), edge.port()).await;
    at_edge.subscribe("local/cmd/#", QoS::AtLeastOnce).await;
    // Another member of the same group, at the cloud.
    let mut at_cloud = MqttClient::connect(&common::unique_id("cmember"), cloud.port()).await;
    at_cloud
        .subscribe("$share/edges/site/cmd/#", QoS::AtLeastOnce)
        .await;
    let publisher = MqttClient::connect(&common::unique_id("cpub"), cloud.port()).await;
    let n = 40;
    for i in 0..n {
        publisher
            .publish("site/cmd/go", QoS::AtLeastOnce, false, i.to_string())
            .await;
    }
    let quiet = scaled(Duration::from_millis(1500));
    let edge_got = drain(&mut at_edge, quiet).await;
    let cloud_got = drain(&mut at_cloud, quiet).await;
    assert_split(&edge_got, &cloud_got, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_rule_on_a_shared_filter_makes_the_bridge_one_member_of_a_local_group() {
    let cloud = Cloud::start("");
    let edge = Broker::start(&edge_config(
        cloud.port(),
        "topic $share/workers/jobs/# out 1",
        "",
    ));
    wait_connected(&edge, 1);
    let mut at_cloud = MqttClient::connect(&common::unique_id("csub"), cloud.port()).await;
    at_cloud.subscribe("jobs/#", QoS::AtLeastOnce).await;
    let mut local = MqttClient::connect(&common::unique_id("worker"), edge.port()).await;
    local
        .subscribe("$share/workers/jobs/#", QoS::AtLeastOnce)
        .await;
    let publisher = MqttClient::connect(&common::unique_id("epub"), edge.port()).await;
    let n = 40;
    for i in 0..n {
        publisher
            .publish("jobs/build", QoS::AtLeastOnce, false, i.to_string())
            .await;
    }
    let quiet = scaled(Duration::from_millis(1500));
    let local_got = drain(&mut local, quiet).await;
    let cloud_got = drain(&mut at_cloud, quiet).await;
    assert_split(&local_got, &cloud_got, n);
    // Round robin between two members: half each.
    assert_eq!(local_got.len(), n / 2, "{local_got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2p_topics_cross_the_bridge_both_ways() {
    let cloud = Cloud::start("");
    let edge = Broker::start(&edge_config(
        cloud.port(),
        "topic +/p2p/# both 1",
        "p2p true",
    ));
    wait_connected(&edge, 1);
    // A device behind the router, with no subscription at all.
    let mut device = MqttClient::connect("dev1", edge.port()).await;
    // The cloud application listens on its own address at the cloud.
    let mut app = MqttClient::connect("cloudapp", cloud.port()).await;
    app.subscribe("app/p2p/cloudapp", QoS::AtLeastOnce).await;

    app.publish("app/p2p/dev1", QoS::AtLeastOnce, false, "reboot")
        .await;
    let p = device
        .recv_publish(scaled(Duration::from_secs(10)))
        .await
        .expect("the cloud's message to dev1");
    assert_eq!(
        (p.topic.as_str(), &p.payload[..]),
        ("app/p2p/dev1", &b"reboot"[..])
    );
    assert_eq!(p.qos, QoS::AtLeastOnce);

    // No local session `cloudapp`: the bridge takes it up.
    device
        .publish("app/p2p/cloudapp", QoS::AtLeastOnce, false, "done")
        .await;
    let p = app
        .recv_publish(scaled(Duration::from_secs(10)))
        .await
        .expect("dev1's answer at the cloud");
    assert_eq!(&p.payload[..], b"done");
    let quiet = scaled(Duration::from_millis(800));
    assert!(
        drain(&mut device, quiet).await.is_empty(),
        "an echo came back"
    );
    let report = edge.report(scaled(Duration::from_secs(5)));
    assert_eq!(report["p2p_delivered"], 1);
    assert_eq!(report["p2p_dropped_no_session"], 0);
}

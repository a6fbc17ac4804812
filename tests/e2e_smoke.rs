//! Smoke test: the real binary starts, routes one message between two clients
//! of each kind (rumqttc 3.1.1, mosquitto_pub/sub 3.1.1 and 3.1), and stops
//! cleanly on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::raw::{self, Connect};
use common::{scaled, Broker, MosquittoSub, MqttClient, RawClient};
use rumqttc::{QoS, SubscribeReasonCode};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_qos1_round_trip() {
    let broker = Broker::start("");
    let mut sub = MqttClient::connect(&common::unique_id("sub"), broker.port()).await;
    let codes = sub.subscribe("a/b", QoS::AtLeastOnce).await;
    assert_eq!(codes, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);

    let publisher = MqttClient::connect(&common::unique_id("pub"), broker.port()).await;
    publisher
        .publish("a/b", QoS::AtLeastOnce, false, b"hello".to_vec())
        .await;

    let p = sub
        .recv_publish(scaled(Duration::from_secs(5)))
        .await
        .expect("the subscriber got no PUBLISH");
    assert_eq!(p.topic, "a/b");
    assert_eq!(&p.payload[..], b"hello");
    assert_eq!(p.qos, QoS::AtLeastOnce);
    assert!(!p.retain);

    publisher.disconnect().await;
    sub.disconnect().await;
}

#[test]
fn mosquitto_clients_v311_and_v31() {
    let broker = Broker::start("");
    for version in ["mqttv311", "mqttv31"] {
        let topic = format!("smoke/{version}");
        let sub = MosquittoSub::start(
            broker.addr(),
            &["-V", version, "-t", &topic, "-q", "1", "-v"],
        );
        let out = common::mosquitto_pub(
            broker.addr(),
            &["-V", version, "-t", &topic, "-m", "payload 1", "-q", "1"],
        );
        assert!(
            out.status.success(),
            "mosquitto_pub -V {version} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = sub.wait_messages(1, scaled(Duration::from_secs(5)));
        assert_eq!(
            got,
            vec![format!("{topic} payload 1")],
            "mosquitto_sub -V {version}"
        );
    }
}

#[test]
fn raw_client_v31_connect_and_ping() {
    let broker = Broker::start("");
    let mut c = RawClient::connect(broker.addr());
    let code = c.handshake(&Connect::new("raw-31").v31().keepalive(30).to_bytes());
    assert_eq!(code, Some(0), "CONNACK for an MQTT 3.1 CONNECT");
    c.send(&raw::pingreq());
    let p = c
        .read_packet(scaled(Duration::from_secs(5)))
        .expect("PINGRESP");
    assert_eq!(p, [0xD0, 0x00]);
    c.send(&raw::disconnect());
    assert!(
        c.expect_closed(scaled(Duration::from_secs(5))),
        "closed after DISCONNECT"
    );
}

#[test]
fn sigterm_exits_cleanly() {
    let mut broker = Broker::start("");
    broker.terminate();
    let status = broker
        .wait_exit(scaled(Duration::from_secs(10)))
        .expect("edgemq did not exit within 10 s of SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

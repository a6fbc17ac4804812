//! `edgemq ctl` against a running broker (README.md, "Operating
//! edgemq"): every command's table, `--json`, the address and token taken
//! from the config file, `--url` and `--token-file`, and exit 1 with the
//! API's message on an error (unknown client, wrong token, no API).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::process::Output;
use std::time::Duration;

use common::http::{admin_addr, admin_token};
use common::{edgemq_command, run_with_timeout, scaled, Broker, MqttClient};
use rumqttc::QoS;

fn ctl(broker: &Broker, args: &[&str]) -> Output {
    let mut cmd = edgemq_command();
    cmd.arg("ctl").arg("-c").arg(broker.config_path().unwrap());
    cmd.args(args);
    run_with_timeout(cmd, scaled(Duration::from_secs(20)))
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The config names `admin_listener 127.0.0.1:0`; ctl needs the real
/// port, so the test writes it back into the config the way an operator
/// would have it.
fn broker() -> Broker {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    Broker::start(&format!(
        "admin_listener 127.0.0.1:{port}\nsys_interval 1\n"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_prints_its_table() {
    let broker = broker();
    let mut o = common::client::options("shelf@@ap7", broker.port());
    o.set_credentials("op", "pw");
    o.set_clean_session(false);
    let mut dev = MqttClient::connect_with(o).await;
    dev.subscribe("labels/#", QoS::AtLeastOnce).await;
    dev.subscribe("cmd/ap7", QoS::AtMostOnce).await;
    dev.publish("labels/1", QoS::AtLeastOnce, true, "price 3")
        .await;
    tokio::time::sleep(scaled(Duration::from_millis(300))).await;

    let status = stdout(&ctl(&broker, &["status"]));
    assert!(status.contains("clients connected:"), "{status}");
    let line = status
        .lines()
        .find(|l| l.starts_with("clients connected:"))
        .unwrap();
    assert_eq!(line.split_whitespace().last(), Some("1"), "{status}");

    let clients = stdout(&ctl(&broker, &["clients"]));
    let mut lines = clients.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("CLIENT ID   CONNECTED  IP"), "{clients}");
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[0..2], ["shelf@@ap7", "yes"], "{clients}");
    assert_eq!(row.last(), Some(&"op"));
    // The columns line up: each title starts where its values start.
    let at = header.find("IP").unwrap();
    assert_eq!(&clients.lines().nth(1).unwrap()[at..at + 9], "127.0.0.1");
    assert_eq!(stdout(&ctl(&broker, &["clients", "--online"])), clients);

    let detail = stdout(&ctl(&broker, &["client", "shelf@@ap7"]));
    assert!(
        detail.contains("username:") && detail.contains(" op\n"),
        "{detail}"
    );
    assert!(
        detail.contains("labels/#") && detail.contains("cmd/ap7"),
        "{detail}"
    );

    let subs = stdout(&ctl(&broker, &["subs", "shelf@@ap7"]));
    assert_eq!(subs.lines().count(), 3, "{subs}");
    assert!(subs.starts_with("FILTER    QOS"), "{subs}");
    let unsub = stdout(&ctl(&broker, &["unsub", "shelf@@ap7", "cmd/ap7"]));
    assert_eq!(unsub, "removed shelf@@ap7's subscription to cmd/ap7\n");
    assert_eq!(
        stdout(&ctl(&broker, &["subs", "shelf@@ap7"]))
            .lines()
            .count(),
        2
    );

    assert_eq!(
        stdout(&ctl(&broker, &["groups"])),
        "GROUP  ONLINE\nshelf  1\n"
    );
    let retained = stdout(&ctl(&broker, &["retained", "--filter", "labels/#"]));
    assert_eq!(
        retained,
        "TOPIC     QOS  BYTES  PAYLOAD\nlabels/1  1    7      price 3\n"
    );
    assert_eq!(
        stdout(&ctl(&broker, &["bridges"])),
        "NAME  REMOTE CLIENT ID  STATE  QUEUE  SENT  DROPPED  RECEIVED  STATE CHANGES\n"
    );
    let json = stdout(&ctl(&broker, &["--json", "groups"]));
    assert_eq!(json, "{\"data\":[{\"group\":\"shelf\",\"online\":1}]}\n");

    let reload = stdout(&ctl(&broker, &["reload"]));
    assert!(reload.starts_with("reload requested"), "{reload}");
    assert!(broker.wait_for_log("SIGHUP: ", scaled(Duration::from_secs(10))));

    assert_eq!(
        stdout(&ctl(&broker, &["kick", "shelf@@ap7"])),
        "kicked shelf@@ap7\n"
    );
    assert!(broker.wait_for_log(
        "disconnected: kicked by an administrator",
        scaled(Duration::from_secs(10))
    ));
    assert_eq!(
        stdout(&ctl(&broker, &["kick", "--session", "shelf@@ap7"])),
        "shelf@@ap7 was not connected; deleted its session\n"
    );
    drop(dev);
}

#[test]
fn errors_exit_1_with_the_api_message() {
    let broker = broker();
    let o = ctl(&broker, &["client", "nobody"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "edgemq ctl: 404: no client \"nobody\"\n"
    );
    // A wrong token, given with --url and --token-file (no config read).
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("t");
    std::fs::write(&wrong, "not-the-token-0123456789\n").unwrap();
    let url = format!("http://{}", admin_addr(&broker));
    let mut cmd = edgemq_command();
    cmd.args(["ctl", "--url", &url, "--token-file"])
        .arg(&wrong)
        .arg("status");
    let o = run_with_timeout(cmd, scaled(Duration::from_secs(20)));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "edgemq ctl: 401: missing or wrong bearer token\n"
    );
    // The right one through the same flags.
    let right = dir.path().join("r");
    std::fs::write(&right, admin_token(&broker)).unwrap();
    let mut cmd = edgemq_command();
    cmd.args(["ctl", "--url", &url, "--token-file"])
        .arg(&right)
        .arg("groups");
    assert_eq!(
        stdout(&run_with_timeout(cmd, scaled(Duration::from_secs(20)))),
        "GROUP  ONLINE\n"
    );
    // A config without admin_listener.
    let plain = Broker::start("");
    let o = ctl(&plain, &["status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no admin_listener"));
}

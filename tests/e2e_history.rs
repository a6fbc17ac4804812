//! Message history (README.md, "Operating edgemq";
//! docs/observability.md, "Trajectories and message history"): messages
//! whose topic a `history_topic` filter matches are kept, others not;
//! `/api/v1/messages` with wildcard filters, time windows, pages, binary
//! payloads; `history_max_bytes` and `history_max_age` across a restart;
//! history off; `edgemq ctl history`; a store of the per-message records
//! an older edgemq wrote (deleted with a log line).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, Instant};

use common::http::{admin_addr, admin_token, call};
use common::raw::{self, RawClient};
use common::{edgemq_command, run_with_timeout, scaled, Broker};
use edgemq::admin::http::percent_encode;
use edgemq::auth::json::Value;

const ADMIN: &str = "admin_listener 127.0.0.1:0\nsys_interval 0\n";
const FILTERS: &str = "history_topic sensors/#\nhistory_topic alerts/+/critical\n";

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(Some(n))) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Null) => "null".to_owned(),
        other => format!("{other:?}"),
    }
}

fn number(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Number(Some(n))) => *n,
        other => panic!("not a number: {other:?}"),
    }
}

fn get(broker: &Broker, query: &str) -> (u16, Value) {
    let path = format!("/api/v1/messages?{query}");
    let a = call(admin_addr(broker), "GET", &path, Some(&admin_token(broker)));
    let status = a.status;
    if status != 200 {
        return (status, Value::Null);
    }
    (status, a.json())
}

fn messages(broker: &Broker, query: &str) -> Vec<Value> {
    let (status, v) = get(broker, query);
    assert_eq!(status, 200, "{query}");
    match v.get("messages") {
        Some(Value::Array(list)) => list.clone(),
        other => panic!("no messages: {other:?}"),
    }
}

fn topics(list: &[Value]) -> Vec<String> {
    list.iter().map(|m| text(m.get("topic"))).collect()
}

fn filter(f: &str) -> String {
    format!("filter={}", percent_encode(f))
}

/// Publishes each (topic, payload) at QoS 1 and waits for its PUBACK.
fn publish(addr: SocketAddr, list: &[(&str, &[u8])]) {
    let (mut c, code) = RawClient::connect_mqtt(addr, "publisher");
    assert_eq!(code, Some(0));
    for (i, (topic, payload)) in list.iter().enumerate() {
        let id = u16::try_from(i + 1).unwrap();
        c.send(&raw::publish(topic, payload, 1, false, false, Some(id)));
        c.read_packet(scaled(Duration::from_secs(5)))
            .expect("PUBACK");
    }
}

/// Waits until the history (`query`) holds `n` messages; them.
fn wait_for(broker: &Broker, query: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    loop {
        let list = messages(broker, query);
        if list.len() >= n || Instant::now() > deadline {
            return list;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kept_by_filter_and_queried_with_wildcards_and_times() {
    let broker = Broker::start(&format!("{ADMIN}{FILTERS}"));
    publish(
        broker.addr(),
        &[
            ("sensors/kitchen/temp", b"21.5"),
            ("other/x", b"not kept"),
            ("sensors/hall/temp", b"19.0"),
            ("alerts/door/critical", &[0xff, 0x00, 0x01]),
            ("alerts/door/info", b"not kept"),
            ("sensors/hall/humidity", b"40"),
        ],
    );
    // A retained message is kept with its flag.
    let (mut c, _) = RawClient::connect_mqtt(broker.addr(), "retainer");
    c.send(&raw::publish(
        "sensors/roof/wind",
        b"7",
        0,
        true,
        false,
        None,
    ));

    let all = wait_for(&broker, "", 5);
    assert_eq!(
        topics(&all),
        [
            "sensors/roof/wind",
            "sensors/hall/humidity",
            "alerts/door/critical",
            "sensors/hall/temp",
            "sensors/kitchen/temp",
        ],
        "newest first, only what a history_topic matches"
    );
    let wind = &all[0];
    assert_eq!(text(wind.get("retain")), "true");
    assert_eq!(text(wind.get("qos")), "0");
    let alert = &all[2];
    assert_eq!(text(alert.get("payload")), "null", "not UTF-8");
    assert_eq!(text(alert.get("payload_base64")), "/wAB");
    assert_eq!(text(alert.get("qos")), "1");
    assert_eq!(text(alert.get("retain")), "false");
    let kitchen = &all[4];
    assert_eq!(text(kitchen.get("payload")), "21.5");
    assert_eq!(text(kitchen.get("payload_base64")), "MjEuNQ==");

    // Wildcard filters, parents of the kept topics included.
    let by = |f: &str| topics(&messages(&broker, &filter(f)));
    assert_eq!(
        by("sensors/+/temp"),
        ["sensors/hall/temp", "sensors/kitchen/temp"]
    );
    assert_eq!(
        by("sensors/hall/#"),
        ["sensors/hall/humidity", "sensors/hall/temp"]
    );
    assert_eq!(by("+/door/+"), ["alerts/door/critical"]);
    assert_eq!(by("#").len(), 5);
    assert!(by("other/#").is_empty(), "never kept");
    let (status, _) = get(&broker, &filter("a/#/b"));
    assert_eq!(status, 400, "a broken filter");

    // Time windows: since and until inclusive, in ms since the epoch.
    let ts: Vec<i64> = all.iter().rev().map(|m| number(m.get("ts"))).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{ts:?}");
    let (from, to) = (ts[1], ts[3]);
    let got = messages(&broker, &format!("since={from}&until={to}"));
    let want: Vec<i64> = ts
        .iter()
        .rev()
        .copied()
        .filter(|t| (from..=to).contains(t))
        .collect();
    assert_eq!(
        got.iter().map(|m| number(m.get("ts"))).collect::<Vec<_>>(),
        want
    );
    assert!(messages(&broker, &format!("since={}", ts[4] + 1)).is_empty());

    // Pages of two, following `next`.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..5 {
        let (_, v) = get(&broker, &format!("limit=2&{cursor}"));
        let Some(Value::Array(list)) = v.get("messages") else {
            panic!("{v:?}");
        };
        assert!(list.len() <= 2);
        seen.extend(topics(list));
        match v.get("next") {
            Some(Value::String(c)) => cursor = format!("cursor={c}"),
            _ => break,
        }
    }
    assert_eq!(seen, topics(&all));
    let (status, _) = get(&broker, "limit=1001");
    assert_eq!(status, 400);
}

#[test]
fn max_bytes_keeps_the_newest_also_across_a_restart() {
    // Each record: about 60 bytes of overhead and topic, 100 of payload.
    let mut broker = Broker::start(&format!(
        "{ADMIN}history_topic log/#\nhistory_max_bytes 2000\n"
    ));
    let payload = [b'x'; 100];
    let names: Vec<String> = (0..40).map(|i| format!("log/{i}")).collect();
    let list: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &payload[..])).collect();
    publish(broker.addr(), &list);
    let before = topics(&messages(&broker, ""));
    assert!((5..40).contains(&before.len()), "{before:?}");
    let newest: Vec<String> = (40 - before.len()..40)
        .rev()
        .map(|i| format!("log/{i}"))
        .collect();
    assert_eq!(before, newest, "oldest out");

    broker.terminate();
    assert!(broker.wait_exit(scaled(Duration::from_secs(10))).is_some());
    broker.restart();
    assert_eq!(
        topics(&messages(&broker, "")),
        before,
        "the same after a restart"
    );
    publish(broker.addr(), &[("log/new", &payload)]);
    let after = topics(&wait_for(&broker, "", before.len()));
    assert_eq!(after[0], "log/new");
    assert!(
        !after.contains(before.last().unwrap()),
        "the oldest went: {after:?}"
    );
}

#[test]
fn max_age_holds_across_a_restart() {
    let mut broker = Broker::start(&format!("{ADMIN}history_topic t/#\nhistory_max_age 3s\n"));
    publish(broker.addr(), &[("t/1", b"a"), ("t/2", b"b")]);
    assert_eq!(messages(&broker, "").len(), 2);
    broker.terminate();
    assert!(broker.wait_exit(scaled(Duration::from_secs(10))).is_some());
    std::thread::sleep(Duration::from_millis(3500));
    broker.restart();
    let deadline = Instant::now() + scaled(Duration::from_secs(5));
    while !messages(&broker, "").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(messages(&broker, "").is_empty(), "older than 3 s: gone");
    publish(broker.addr(), &[("t/3", b"c")]);
    assert_eq!(topics(&messages(&broker, "")), ["t/3"]);
    std::thread::sleep(scaled(Duration::from_millis(4500)));
    assert!(messages(&broker, "").is_empty());
}

/// `tests/fixtures/store/history-v1-store/`: written by the edgemq before
/// chunked history, `history_topic fixture/#`, three messages
/// `fixture/h1..3` kept one record each. Today's binary deletes them with
/// a log line (docs/observability.md), numbers new ones after them, and
/// a restart finds only the new.
#[test]
fn per_message_records_of_an_older_store_are_deleted() {
    let data = tempfile::tempdir().unwrap();
    let store = data.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    for file in ["conf", "db"] {
        let from = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/store/history-v1-store")
            .join(file);
        std::fs::copy(&from, store.join(file)).unwrap();
    }
    // The store is not the harness's data directory: the token is ours.
    let token = "history-fixture-token-0123456789";
    let token_file = data.path().join("token");
    std::fs::write(&token_file, token).unwrap();
    let config = format!(
        "{ADMIN}history_topic fixture/#\npersistence_location {}\nadmin_token_file {}\n",
        store.display(),
        token_file.display()
    );
    let listed = |broker: &Broker| {
        let a = call(admin_addr(broker), "GET", "/api/v1/messages", Some(token));
        assert_eq!(a.status, 200, "{}", a.body);
        match a.json().get("messages") {
            Some(Value::Array(list)) => list.clone(),
            other => panic!("no messages: {other:?}"),
        }
    };
    let mut broker = common::BrokerOptions::new(&config).start();
    assert!(
        broker
            .log()
            .contains("deleting 3 history messages stored one record each"),
        "{}",
        broker.log()
    );
    assert!(listed(&broker).is_empty(), "the old records are not read");
    publish(broker.addr(), &[("fixture/new", b"n")]);
    assert_eq!(topics(&listed(&broker)), ["fixture/new"]);
    broker.terminate();
    assert!(broker.wait_exit(scaled(Duration::from_secs(10))).is_some());
    broker.restart();
    assert_eq!(topics(&listed(&broker)), ["fixture/new"]);
    assert!(
        broker
            .log()
            .contains("and 1 history messages from the store"),
        "{}",
        broker.log()
    );
}

/// Without a store and in sync mode no batch schedule seals the filling
/// chunk: the once-a-second tick does, and pages read the same before and
/// after it.
#[test]
fn kept_in_sync_mode_and_without_persistence() {
    for mode in ["persistence_sync true\n", "persistence false\n"] {
        let broker = Broker::start(&format!("{ADMIN}{mode}history_topic s/#\n"));
        publish(
            broker.addr(),
            &[("s/1", b"a"), ("s/2", b"b"), ("t/x", b"c")],
        );
        assert_eq!(topics(&messages(&broker, "")), ["s/2", "s/1"], "{mode}");
        std::thread::sleep(scaled(Duration::from_millis(1500)));
        publish(broker.addr(), &[("s/3", b"d")]);
        assert_eq!(
            topics(&messages(&broker, "")),
            ["s/3", "s/2", "s/1"],
            "{mode}: across a sealed chunk"
        );
        let page = messages(&broker, "limit=2");
        assert_eq!(topics(&page), ["s/3", "s/2"], "{mode}");
    }
}

#[test]
fn off_without_history_topic() {
    let broker = Broker::start(ADMIN);
    publish(broker.addr(), &[("sensors/a", b"1")]);
    let (status, v) = get(&broker, "");
    assert_eq!(status, 200);
    assert_eq!(v.get("messages"), Some(&Value::Array(Vec::new())));
    assert_eq!(text(v.get("enabled")), "false");
    assert_eq!(text(v.get("next")), "null");
}

#[test]
fn bad_history_topic_stops_the_start() {
    let mut cmd = edgemq_command();
    let dir = std::env::temp_dir().join(format!("edgemq-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("bad.conf");
    std::fs::write(&conf, "history_topic a/#/b\n").unwrap();
    cmd.arg("check-config").arg(&conf);
    let o = run_with_timeout(cmd, scaled(Duration::from_secs(20)));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert!(
        err.contains("history_topic") || err.contains("line 1"),
        "{err}"
    );
}

fn ctl(broker: &Broker, args: &[&str]) -> Output {
    let mut cmd = edgemq_command();
    cmd.arg("ctl")
        .arg("--url")
        .arg(format!("http://{}", admin_addr(broker)))
        .arg("--token-file")
        .arg(broker.data_dir().join("admin.token"));
    cmd.args(args);
    run_with_timeout(cmd, scaled(Duration::from_secs(20)))
}

#[test]
fn ctl_history_prints_a_table() {
    let broker = Broker::start(&format!("{ADMIN}{FILTERS}"));
    publish(
        broker.addr(),
        &[("sensors/a/temp", b"21.5"), ("alerts/x/critical", &[0xff])],
    );
    assert_eq!(wait_for(&broker, "", 2).len(), 2);
    let o = ctl(
        &broker,
        &["history", "#", "--since", "2020-01-01T00:00:00Z"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("TIME") && lines[0].contains("TOPIC"),
        "{out}"
    );
    assert!(lines[1].contains("alerts/x/critical") && lines[1].contains("base64:/w=="));
    assert!(lines[2].contains("sensors/a/temp") && lines[2].ends_with("21.5"));
    let o = ctl(
        &broker,
        &["history", "sensors/#", "--until", "2020-01-01T00:00:00Z"],
    );
    assert_eq!(
        String::from_utf8(o.stdout).unwrap().lines().count(),
        1,
        "header only"
    );
}

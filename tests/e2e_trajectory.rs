//! Device trajectories (README.md, "Operating edgemq";
//! docs/observability.md, "Trajectories and message history"): every event
//! kind from real clients over real sockets, in order, with its details;
//! drops aggregated per client; paging and time windows of
//! `/api/v1/clients/{id}/trajectory`; `trajectory_max_bytes` and
//! `trajectory_max_age` across a restart; `persistence false`; `edgemq ctl
//! trajectory`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, Instant};

use common::http::{admin_addr, admin_token, call};
use common::raw::{self, Connect, RawClient};
use common::{edgemq_command, run_with_timeout, scaled, Broker};
use edgemq::auth::json::Value;

const ADMIN: &str = "admin_listener 127.0.0.1:0\nsys_interval 0\n";

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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One page of `id`'s trajectory; `query` without the leading `?`.
fn page(broker: &Broker, id: &str, query: &str) -> Value {
    let path = format!("/api/v1/clients/{id}/trajectory?{query}");
    let a = call(admin_addr(broker), "GET", &path, Some(&admin_token(broker)));
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()
}

fn events(v: &Value) -> Vec<Value> {
    match v.get("events") {
        Some(Value::Array(list)) => list.clone(),
        other => panic!("no events: {other:?}"),
    }
}

/// Every event of `id`, oldest first (the API gives newest first).
fn all(broker: &Broker, id: &str) -> Vec<Value> {
    let mut list = events(&page(broker, id, "limit=1000"));
    list.reverse();
    list
}

fn kinds(list: &[Value]) -> Vec<String> {
    list.iter().map(|e| text(e.get("event"))).collect()
}

/// Waits until `id`'s events (oldest first) satisfy `done`, or the time
/// is up; the events then.
fn wait_until(broker: &Broker, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + scaled(Duration::from_secs(15));
    loop {
        let list = all(broker, id);
        if done(&list) || Instant::now() > deadline {
            return list;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `id` has `n` events (or the time is up); all of them.
fn wait_for(broker: &Broker, id: &str, n: usize) -> Vec<Value> {
    wait_until(broker, id, |list| list.len() >= n)
}

/// Messages dropped in `list`'s `dropped` records.
fn drops(list: &[Value]) -> i64 {
    list.iter()
        .filter(|e| text(e.get("event")) == "dropped")
        .map(|e| number(e.get("details").unwrap().get("count")))
        .sum()
}

fn ends_with_disconnect(list: &[Value]) -> bool {
    kinds(list).last().map(String::as_str) == Some("disconnect")
}

fn connect(addr: SocketAddr, id: &str, clean: bool) -> RawClient {
    let mut c = RawClient::connect(addr);
    let code = c.handshake(&Connect::new(id).clean(clean).keepalive(30).to_bytes());
    assert_eq!(code, Some(0), "CONNACK for {id}");
    c
}

fn subscribe(c: &mut RawClient, pkid: u16, filter: &str, qos: u8) {
    c.send(&raw::subscribe(pkid, &[(filter, qos)]));
    let ack = c
        .read_packet(scaled(Duration::from_secs(5)))
        .expect("SUBACK");
    assert_eq!(raw::packet_type(&ack), 9);
}

#[test]
fn every_event_kind_in_order_with_its_details() {
    let broker = Broker::start(&format!(
        "{ADMIN}persistent_client_expiration 2s\nmax_queued_messages 2\n"
    ));
    let addr = broker.addr();
    let before = now_ms() - 1000;
    let id = "dev@@7";

    // connect, subscribed, unsubscribed, disconnect.
    let mut dev = connect(addr, id, false);
    subscribe(&mut dev, 1, "cmd/+/x", 1);
    dev.send(&raw::unsubscribe(2, &["cmd/+/x"]));
    dev.read_packet(scaled(Duration::from_secs(5)))
        .expect("UNSUBACK");
    subscribe(&mut dev, 3, "q/#", 1);
    dev.send(&raw::disconnect());
    assert!(dev.expect_closed(scaled(Duration::from_secs(5))));

    // Offline with a queue of 2: 10 QoS 1 messages drop 8, as one record.
    let mut publisher = connect(addr, "pub", true);
    for i in 0..10u16 {
        publisher.send(&raw::publish("q/a", b"m", 1, false, false, Some(i + 1)));
        publisher
            .read_packet(scaled(Duration::from_secs(5)))
            .expect("PUBACK");
    }

    // resumed (session present), then taken over by a second connection,
    // then a clean start that discards the kept session.
    let _first = connect(addr, id, false);
    let list = wait_until(&broker, id, |list| {
        drops(list) >= 8 && kinds(list).contains(&"resumed".to_owned())
    });
    assert_eq!(drops(&list), 8, "{list:?}");
    let mut second = connect(addr, id, false);
    second.send(&raw::disconnect());
    assert!(second.expect_closed(scaled(Duration::from_secs(5))));
    let mut third = connect(addr, id, true);
    third.send(&raw::disconnect());
    assert!(third.expect_closed(scaled(Duration::from_secs(5))));
    // A new persistent session that runs out its 2 s expiry offline.
    let mut last = connect(addr, id, false);
    last.send(&raw::disconnect());
    assert!(last.expect_closed(scaled(Duration::from_secs(5))));

    let list = wait_until(&broker, id, |list| {
        kinds(list).last().map(String::as_str) == Some("expired")
    });
    let got = kinds(&list);
    // The dropped tally is written within a second of the drops: it may
    // land anywhere after the disconnect, so it is checked apart.
    let without_drops: Vec<&str> = got
        .iter()
        .map(String::as_str)
        .filter(|k| *k != "dropped")
        .collect();
    assert_eq!(
        without_drops,
        [
            "connect",
            "subscribed",
            "unsubscribed",
            "subscribed",
            "disconnect",
            "connect",
            "resumed",
            "takeovered",
            "connect",
            "resumed",
            "disconnect",
            "discarded",
            "connect",
            "disconnect",
            "connect",
            "disconnect",
            "expired",
        ],
        "{got:?}"
    );
    let dropped: Vec<&Value> = list
        .iter()
        .filter(|e| text(e.get("event")) == "dropped")
        .collect();
    assert!(
        (1..=2).contains(&dropped.len()),
        "8 drops within a second are one record (two if a second ends between): {got:?}"
    );
    let d = dropped[0].get("details").unwrap();
    assert_eq!(text(d.get("why")), "queue full");
    assert!(matches!(d.get("reasons"), Some(Value::Object(_))), "{d:?}");

    // Timestamps: ms since the epoch, in order.
    let ts: Vec<i64> = list.iter().map(|e| number(e.get("ts"))).collect();
    assert!(
        ts[0] > before && ts.windows(2).all(|w| w[0] <= w[1]),
        "{ts:?}"
    );

    // Details: the connection's address and options, a subscription's
    // filter and QoS, a disconnect's reason, a discard's.
    let connect0 = list[0].get("details").unwrap();
    assert_eq!(text(connect0.get("ip")), "127.0.0.1");
    assert!(number(connect0.get("port")) > 0);
    assert_eq!(text(connect0.get("protocol")), "4");
    assert_eq!(text(connect0.get("clean")), "false");
    assert_eq!(text(connect0.get("keepalive")), "30");
    let sub = list[1].get("details").unwrap();
    assert_eq!(
        (text(sub.get("filter")), text(sub.get("qos"))),
        ("cmd/+/x".to_owned(), "1".to_owned())
    );
    let bye = list
        .iter()
        .find(|e| text(e.get("event")) == "disconnect")
        .unwrap();
    assert_eq!(
        text(bye.get("details").unwrap().get("reason")),
        "client disconnected"
    );
    let taken = list
        .iter()
        .find(|e| text(e.get("event")) == "takeovered")
        .unwrap();
    assert_eq!(
        text(taken.get("details").unwrap().get("reason")),
        "taken over by a new connection"
    );
    let resumed = list
        .iter()
        .find(|e| text(e.get("event")) == "resumed")
        .unwrap();
    assert_eq!(text(resumed.get("details").unwrap().get("queued")), "2");
    let discarded = list
        .iter()
        .find(|e| text(e.get("event")) == "discarded")
        .unwrap();
    assert_eq!(
        text(discarded.get("details").unwrap().get("reason")),
        "clean start"
    );
    // Another client's events are its own.
    let others = all(&broker, "pub");
    assert_eq!(kinds(&others), ["connect"]);
    assert!(all(&broker, "nobody").is_empty());
}

#[test]
fn pages_and_time_windows() {
    let broker = Broker::start(ADMIN);
    let addr = broker.addr();
    let mut dev = connect(addr, "pager", true);
    for i in 0..25u16 {
        subscribe(&mut dev, i + 1, &format!("f/{i}"), 0);
    }
    let list = wait_for(&broker, "pager", 26);
    assert_eq!(list.len(), 26);
    let held: i64 = stats(&broker, "trajectory_bytes").parse().unwrap();
    assert!(held > 26 * 100, "{held}");
    assert_eq!(stats(&broker, "history_bytes"), "null");

    // Newest first, 10 at a time, following `next` to the end.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..5 {
        let v = page(&broker, "pager", &format!("limit=10&{cursor}"));
        let filters: Vec<String> = events(&v)
            .iter()
            .map(|e| text(e.get("details").unwrap().get("filter")))
            .collect();
        seen.extend(filters);
        match v.get("next") {
            Some(Value::String(c)) => cursor = format!("cursor={c}"),
            Some(Value::Null) => break,
            other => panic!("next: {other:?}"),
        }
    }
    let mut expected: Vec<String> = (0..25).rev().map(|i| format!("f/{i}")).collect();
    expected.push("None".to_owned()); // the connect event: no filter
    assert_eq!(seen, expected, "newest first, every event once");

    // since/until are inclusive and in ms since the epoch.
    let ts: Vec<i64> = list.iter().map(|e| number(e.get("ts"))).collect();
    let (from, to) = (ts[5], ts[9]);
    let v = page(&broker, "pager", &format!("since={from}&until={to}"));
    let got: Vec<i64> = events(&v).iter().map(|e| number(e.get("ts"))).collect();
    let want: Vec<i64> = ts
        .iter()
        .rev()
        .copied()
        .filter(|t| (from..=to).contains(t))
        .collect();
    assert_eq!(got, want);
    assert!(!got.is_empty());

    let bad = call(
        admin_addr(&broker),
        "GET",
        "/api/v1/clients/pager/trajectory?limit=0",
        Some(&admin_token(&broker)),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    let bad = call(
        admin_addr(&broker),
        "GET",
        "/api/v1/clients/pager/trajectory?since=yesterday",
        Some(&admin_token(&broker)),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    let denied = call(
        admin_addr(&broker),
        "GET",
        "/api/v1/clients/pager/trajectory",
        None,
    );
    assert_eq!(denied.status, 401);
}

/// Subscribes `n` filters `f/0`.. one by one (one event each).
fn subscriptions(addr: SocketAddr, id: &str, n: u16) {
    let mut dev = connect(addr, id, true);
    for i in 0..n {
        subscribe(&mut dev, i + 1, &format!("f/{i}"), 0);
    }
    dev.send(&raw::disconnect());
    assert!(dev.expect_closed(scaled(Duration::from_secs(5))));
}

fn filters(list: &[Value]) -> Vec<String> {
    list.iter()
        .filter(|e| text(e.get("event")) == "subscribed")
        .map(|e| text(e.get("details").unwrap().get("filter")))
        .collect()
}

#[test]
fn max_bytes_keeps_the_newest_also_across_a_restart() {
    // Each subscribed event here takes about 190 bytes: 2,000 keep ten.
    let mut broker = Broker::start(&format!("{ADMIN}trajectory_max_bytes 2000\n"));
    subscriptions(broker.addr(), "bounded", 40);
    let before = wait_until(&broker, "bounded", ends_with_disconnect);
    let kept = filters(&before);
    assert!(
        (5..40).contains(&kept.len()),
        "oldest out at 2,000 bytes: {kept:?}"
    );
    // The newest are the ones kept, in order, ending with the last.
    let newest: Vec<String> = (40 - kept.len()..40).map(|i| format!("f/{i}")).collect();
    assert_eq!(kept, newest);
    assert_eq!(
        kinds(&before).last().map(String::as_str),
        Some("disconnect")
    );

    // SIGTERM flushes; the restarted broker reads back the same events.
    broker.terminate();
    assert!(broker.wait_exit(scaled(Duration::from_secs(10))).is_some());
    broker.restart();
    let after = all(&broker, "bounded");
    assert_eq!(kinds(&after), kinds(&before));
    assert_eq!(filters(&after), kept);

    // More events push the oldest out of what was restored.
    subscriptions(broker.addr(), "bounded", 3);
    let now = wait_until(&broker, "bounded", |list| {
        ends_with_disconnect(list) && filters(list).last().map(String::as_str) == Some("f/2")
    });
    let f = filters(&now);
    assert_eq!(f[f.len() - 3..], ["f/0", "f/1", "f/2"]);
    assert!(!f.contains(&kept[0]), "the oldest restored went: {f:?}");
}

#[test]
fn max_age_holds_across_a_restart() {
    let mut broker = Broker::start(&format!("{ADMIN}trajectory_max_age 3s\n"));
    subscriptions(broker.addr(), "aging", 2);
    assert_eq!(wait_for(&broker, "aging", 4).len(), 4);
    broker.terminate();
    assert!(broker.wait_exit(scaled(Duration::from_secs(10))).is_some());
    // Down for longer than the age bound: the store's events are too old.
    std::thread::sleep(Duration::from_millis(3500));
    broker.restart();
    let deadline = Instant::now() + scaled(Duration::from_secs(5));
    while !all(&broker, "aging").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(all(&broker, "aging").is_empty(), "older than 3 s: gone");
    // New events are kept as usual, and go after 3 s.
    subscriptions(broker.addr(), "aging", 1);
    assert_eq!(wait_for(&broker, "aging", 3).len(), 3);
    std::thread::sleep(scaled(Duration::from_millis(4500)));
    assert!(all(&broker, "aging").is_empty());
}

#[test]
fn without_persistence_memory_only_with_the_same_bounds() {
    let mut broker = Broker::start(&format!(
        "{ADMIN}persistence false\ntrajectory_max_bytes 1000\n"
    ));
    subscriptions(broker.addr(), "ram", 20);
    let list = wait_until(&broker, "ram", ends_with_disconnect);
    let f = filters(&list);
    assert!((2..20).contains(&f.len()), "{f:?}");
    assert_eq!(f.last().map(String::as_str), Some("f/19"));
    broker.restart();
    assert!(
        all(&broker, "ram").is_empty(),
        "nothing kept across a restart"
    );
}

#[test]
fn trajectories_off_with_max_bytes_0() {
    let broker = Broker::start(&format!("{ADMIN}trajectory_max_bytes 0\n"));
    subscriptions(broker.addr(), "off", 2);
    std::thread::sleep(Duration::from_millis(300));
    assert!(all(&broker, "off").is_empty());
    assert_eq!(stats(&broker, "trajectory_bytes"), "0");
}

fn stats(broker: &Broker, key: &str) -> String {
    let a = call(
        admin_addr(broker),
        "GET",
        "/api/v1/stats",
        Some(&admin_token(broker)),
    );
    text(a.json().get(key))
}

fn ctl(broker: &Broker, args: &[&str]) -> Output {
    let mut cmd = edgemq_command();
    let url = format!("http://{}", admin_addr(broker));
    let token = broker.data_dir().join("admin.token");
    cmd.arg("ctl")
        .arg("--url")
        .arg(url)
        .arg("--token-file")
        .arg(token);
    cmd.args(args);
    run_with_timeout(cmd, scaled(Duration::from_secs(20)))
}

#[test]
fn ctl_trajectory_prints_a_table_and_takes_rfc_3339() {
    let broker = Broker::start(ADMIN);
    subscriptions(broker.addr(), "shown", 1);
    let list = wait_for(&broker, "shown", 3);
    assert_eq!(kinds(&list), ["connect", "subscribed", "disconnect"]);
    let o = ctl(&broker, &["trajectory", "shown"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("TIME"), "{out}");
    assert!(lines[0].contains("EVENT") && lines[0].contains("DETAILS"));
    assert!(lines[1].contains("disconnect"), "newest first: {out}");
    assert!(lines[2].contains("subscribed") && lines[2].contains("filter=\"f/0\""));
    assert!(lines[3].contains("connect") && lines[3].contains("ip=\"127.0.0.1\""));
    assert!(lines[1].starts_with("20"), "RFC 3339 times: {out}");

    // --since after every event: nothing; an RFC 3339 time long ago: all.
    let later = (now_ms() + 60_000).to_string();
    let o = ctl(&broker, &["trajectory", "shown", "--since", &later]);
    assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 1);
    let o = ctl(
        &broker,
        &[
            "trajectory",
            "shown",
            "--since",
            "2020-01-01T00:00:00Z",
            "--json",
        ],
    );
    let body = String::from_utf8(o.stdout).unwrap();
    assert!(body.starts_with("{\"events\":["), "{body}");
    assert!(body.contains("\"next\":null"));
    let o = ctl(&broker, &["trajectory", "shown", "--until", "soon"]);
    assert!(!o.status.success());
}

#[test]
fn acl_refusals_are_dropped_events_of_the_publisher() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("edgemq.acl");
    std::fs::write(&acl, "topic readwrite open/#\n").unwrap();
    let broker = Broker::start(&format!("{ADMIN}acl_file {}\n", acl.display()));
    let mut c = connect(broker.addr(), "nosy", true);
    for i in 0..5u16 {
        c.send(&raw::publish(
            "secret/x",
            b"m",
            1,
            false,
            false,
            Some(i + 1),
        ));
        c.read_packet(scaled(Duration::from_secs(5)))
            .expect("PUBACK");
    }
    c.send(&raw::publish("open/x", b"m", 1, false, false, Some(9)));
    c.read_packet(scaled(Duration::from_secs(5)))
        .expect("PUBACK");
    let list = wait_until(&broker, "nosy", |list| drops(list) >= 5);
    assert_eq!(drops(&list), 5, "{list:?}");
    let d = list
        .iter()
        .find(|e| text(e.get("event")) == "dropped")
        .unwrap()
        .get("details")
        .unwrap();
    assert_eq!(text(d.get("why")), "acl");
    assert_eq!(text(d.get("reasons").unwrap().get("acl")), "5");
}

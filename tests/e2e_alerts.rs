//! Alerts and the live tail (README.md, "Operating edgemq"): an `alert`
//! on `connections` starting once held for its duration and ending once
//! false as long, logged, published retained on `$SYS/alerts/{name}` and
//! listed by `GET /api/v1/alerts` and `edgemq ctl alerts`; `GET
//! /api/v1/tail` answering at once with what it has, holding a request
//! open until a message comes (a long poll), and answering empty after
//! its wait. The state machine itself is tested in src/sys/alerts.rs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, Instant};

use common::http::{admin_addr, admin_token, call};
use common::raw::{self, RawClient};
use common::{edgemq_command, run_with_timeout, scaled, Broker};
use edgemq::auth::json::Value;

const WAIT: Duration = Duration::from_secs(15);

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(Some(n))) => n.to_string(),
        Some(Value::Null) => "null".to_owned(),
        other => format!("{other:?}"),
    }
}

fn alerts(broker: &Broker, query: &str) -> Vec<Value> {
    let answer = call(
        admin_addr(broker),
        "GET",
        &format!("/api/v1/alerts{query}"),
        Some(&admin_token(broker)),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    match answer.json().get("alerts") {
        Some(Value::Array(list)) => list.clone(),
        other => panic!("no alerts array: {other:?}"),
    }
}

#[test]
fn an_alert_starts_when_held_and_ends_when_false_as_long() {
    let broker = Broker::start(
        "admin_listener 127.0.0.1:0\nsys_interval 0\nalert many connections > 2 for 1s\n",
    );
    let rows = alerts(&broker, "");
    assert_eq!(rows.len(), 1);
    assert_eq!(text(rows[0].get("state")), "idle");
    assert_eq!(text(rows[0].get("op")), ">");
    assert_eq!(text(rows[0].get("for_ms")), "1000");

    let before = Instant::now();
    let clients: Vec<RawClient> = (0..3)
        .map(|i| {
            let (c, code) = RawClient::connect_mqtt(broker.addr(), &format!("alert-{i}"));
            assert_eq!(code, Some(0));
            c
        })
        .collect();
    assert!(
        broker.wait_for_log("alert many started", scaled(WAIT)),
        "{}",
        broker.log()
    );
    // Held for its duration first: not before a second has passed.
    assert!(before.elapsed() >= Duration::from_secs(1));
    let active = alerts(&broker, "?active=true");
    assert_eq!(active.len(), 1, "{active:?}");
    assert_eq!(text(active[0].get("state")), "active");
    assert_eq!(text(active[0].get("value")), "3");
    let started = text(active[0].get("started"));
    assert!(
        started.parse::<u64>().unwrap() > 1_700_000_000_000,
        "{started}"
    );

    // Retained on $SYS/alerts/many for a client that comes later.
    let (mut watcher, _) = RawClient::connect_mqtt(broker.addr(), "alert-watcher");
    watcher.send(&raw::subscribe(1, &[("$SYS/alerts/#", 0)]));
    let mut retained = None;
    let deadline = Instant::now() + scaled(WAIT);
    while retained.is_none() && Instant::now() < deadline {
        if let Some(p) = watcher.read_packet(scaled(Duration::from_secs(5))) {
            retained = raw::parse_publish(&p);
        }
    }
    let retained = retained.expect("no retained $SYS/alerts/many");
    assert_eq!(retained.topic, "$SYS/alerts/many");
    let payload = String::from_utf8(retained.payload.clone()).unwrap();
    assert!(payload.starts_with("{\"state\":\"active\""), "{payload}");
    assert!(
        payload.contains(&format!("\"started\":{started}")),
        "{payload}"
    );

    // Down to two connections (the watcher and one): ends a second later.
    let ending = Instant::now();
    drop(clients);
    assert!(
        broker.wait_for_log("alert many ended", scaled(WAIT)),
        "{}",
        broker.log()
    );
    assert!(ending.elapsed() >= Duration::from_secs(1));
    let ended = alerts(&broker, "?active=false");
    let past: Vec<&Value> = ended
        .iter()
        .filter(|a| text(a.get("state")) == "ended")
        .collect();
    assert_eq!(past.len(), 1, "{ended:?}");
    assert_eq!(text(past[0].get("started")), started);
    assert!(text(past[0].get("peak")).parse::<f64>().unwrap() >= 3.0);
    assert!(alerts(&broker, "?active=true").is_empty());
    // The watcher, still subscribed, saw the end.
    let mut end_seen = false;
    let deadline = Instant::now() + scaled(WAIT);
    while !end_seen && Instant::now() < deadline {
        if let Some(p) = watcher.read_packet(scaled(Duration::from_secs(5))) {
            end_seen = raw::parse_publish(&p)
                .is_some_and(|p| p.payload.starts_with(b"{\"state\":\"ended\""));
        }
    }
    assert!(end_seen);
    assert_eq!(
        call(
            admin_addr(&broker),
            "GET",
            "/api/v1/alerts?active=maybe",
            Some(&admin_token(&broker))
        )
        .status,
        400
    );

    // `edgemq ctl alerts`: the rule and the past alert.
    let token_file = broker.data_dir().join("admin.token");
    let mut cmd = edgemq_command();
    cmd.args(["ctl", "--url", &format!("http://{}", admin_addr(&broker))])
        .arg("--token-file")
        .arg(&token_file)
        .arg("alerts");
    let out = run_with_timeout(cmd, scaled(Duration::from_secs(20)));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.starts_with("NAME"), "{stdout}");
    assert!(
        stdout.contains("idle") && stdout.contains("ended"),
        "{stdout}"
    );
}

#[test]
fn bad_alert_lines_are_refused_naming_the_line() {
    let mut cmd = edgemq_command();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.conf");
    std::fs::write(&config, "sys_interval 0\nalert x connectoins > 2\n").unwrap();
    cmd.arg("check-config").arg(&config);
    let out = run_with_timeout(cmd, scaled(Duration::from_secs(20)));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.conf:2") && stderr.contains("unknown metric"),
        "{stderr}"
    );
}

#[test]
fn the_tail_answers_at_once_waits_for_a_message_or_answers_empty() {
    let broker = Broker::start("admin_listener 127.0.0.1:0\nsys_interval 0\n");
    let (addr, token) = (admin_addr(&broker), admin_token(&broker));
    let (mut publisher, _) = RawClient::connect_mqtt(broker.addr(), "tail-pub");

    // Nobody tailed yet: nothing was kept. This request waits...
    let waiting = std::thread::spawn(move || {
        let started = Instant::now();
        let answer = call(addr, "GET", "/api/v1/tail?filter=t%2F%23", Some(&token));
        (started.elapsed(), answer)
    });
    std::thread::sleep(Duration::from_millis(500));
    publisher.send(&raw::publish(
        "other",
        b"not matched",
        0,
        false,
        false,
        None,
    ));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiting.is_finished(), "answered before a matching message");
    publisher.send(&raw::publish("t/1", b"hello", 1, true, false, Some(1)));
    // ...and is answered when the message comes, not at its deadline:
    // an answer at the deadline would be the empty one made before.
    let (took, answer) = waiting.join().unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(took < Duration::from_secs(4), "{took:?}");
    let v = answer.json();
    let Some(Value::Array(messages)) = v.get("messages") else {
        panic!("{}", answer.body)
    };
    assert_eq!(messages.len(), 1, "{}", answer.body);
    let m = &messages[0];
    assert_eq!(text(m.get("topic")), "t/1");
    assert_eq!(text(m.get("payload")), "hello");
    assert_eq!(text(m.get("payload_base64")), "aGVsbG8=");
    assert_eq!(text(m.get("qos")), "1");
    assert_eq!(m.get("retain"), Some(&Value::Bool(true)));
    let seq = text(v.get("seq")).parse::<u64>().unwrap();
    assert_eq!(text(m.get("seq")), seq.to_string());

    // After 0: what the ring holds, at once; after the last: a 4 s wait,
    // then an empty answer.
    let token = admin_token(&broker);
    let started = Instant::now();
    let all = call(addr, "GET", "/api/v1/tail?filter=%23&after=0", Some(&token));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(all.body.contains("\"topic\":\"other\""), "{}", all.body);
    let started = Instant::now();
    let path = format!("/api/v1/tail?filter=t%2F%23&after={seq}");
    let empty = call(addr, "GET", &path, Some(&token));
    let waited = started.elapsed();
    assert_eq!(empty.status, 200);
    assert!(empty.body.contains("\"messages\":[]"), "{}", empty.body);
    assert!(waited >= Duration::from_millis(3900), "{waited:?}");
    assert!(waited < scaled(Duration::from_secs(8)), "{waited:?}");

    for bad in ["filter=a%2F%23%2Fb", "after=x"] {
        let answer = call(addr, "GET", &format!("/api/v1/tail?{bad}"), Some(&token));
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
    }
    assert_eq!(call(addr, "GET", "/api/v1/tail", None).status, 401);
}

#[test]
fn sighup_rereads_the_rules() {
    let broker =
        Broker::start("admin_listener 127.0.0.1:0\nsys_interval 0\nalert kept connections > 100\n");
    let text = broker.config_text();
    let path = broker.config_path().unwrap().to_owned();
    std::fs::write(&path, format!("{text}\nalert added sessions >= 0 for 1\n")).unwrap();
    broker.signal("HUP");
    let applied = |log: &str| {
        log.lines()
            .any(|l| l.contains("SIGHUP: reloaded") && l.contains("alert"))
    };
    assert!(broker.wait_log(scaled(WAIT), applied), "{}", broker.log());
    // The new rule holds at once (sessions >= 0) and starts a second later.
    assert!(
        broker.wait_for_log("alert added started", scaled(WAIT)),
        "{}",
        broker.log()
    );
    let rows = alerts(&broker, "");
    let names: Vec<String> = rows.iter().map(|r| text_of(r, "name")).collect();
    assert_eq!(names, ["kept", "added"]);
    // A broken rule keeps the running ones, and the log names the line.
    std::fs::write(&path, format!("{text}\nalert broken sessions !> 1\n")).unwrap();
    broker.signal("HUP");
    assert!(
        broker.wait_for_log("keeping the running configuration", scaled(WAIT)),
        "{}",
        broker.log()
    );
    assert_eq!(alerts(&broker, "").len(), 2);
}

fn text_of(v: &Value, key: &str) -> String {
    text(v.get(key))
}

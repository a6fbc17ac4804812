//! Seeing what the broker does (README.md, "Operating edgemq";
//! docs/observability.md): the `$SYS/broker/...` tree with a real client
//! (retained, outside `#`), every client event and its fields, the ACL on
//! `$SYS/events/#`, every admin API endpoint over real sockets, the
//! Prometheus text read by `prometheus-parse`, the token (missing, wrong,
//! from a file, created once), and the API's bounds (413, 408, 503).
//! `edgemq ctl` is tests/e2e_ctl.rs; the API under a flood of requests,
//! tests/e2e_admin_load.rs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::http::{self, admin_addr, admin_token, call};
use common::{scaled, unique_id, Broker, BrokerOptions, MqttClient};
use edgemq::auth::json::Value;
use rumqttc::QoS;

const WAIT: Duration = Duration::from_secs(10);

const ADMIN: &str = "admin_listener 127.0.0.1:0\n";

/// Every publish that arrives within `quiet` of the previous one, up to
/// `max` of them.
async fn drain(c: &mut MqttClient, quiet: Duration, max: usize) -> Vec<rumqttc::Publish> {
    let mut got = Vec::new();
    while got.len() < max {
        match c.recv_publish(quiet).await {
            Some(p) => got.push(p),
            None => break,
        }
    }
    got
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(Some(n))) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Null) => "null".to_owned(),
        other => format!("{other:?}"),
    }
}

/// mosquitto's topic names, and ours.
const SYS_TOPICS: &[&str] = &[
    "version",
    "uptime",
    "clients/connected",
    "clients/disconnected",
    "clients/maximum",
    "clients/total",
    "clients/expired",
    "messages/received",
    "messages/sent",
    "bytes/received",
    "bytes/sent",
    "load/messages/received/1min",
    "load/messages/received/5min",
    "load/messages/received/15min",
    "load/messages/sent/1min",
    "load/bytes/received/5min",
    "load/bytes/sent/15min",
    "publish/messages/dropped",
    "subscriptions/count",
    "retained messages/count",
    "heap/current",
    "messages/queued",
    "store/write_errors",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sys_tree_is_retained_refreshed_and_outside_wildcards() {
    let broker = Broker::start("sys_interval 1\n");
    let mut wild = MqttClient::connect(&unique_id("wild"), broker.port()).await;
    wild.subscribe("#", QoS::AtMostOnce).await;
    wild.subscribe("+/broker/uptime", QoS::AtMostOnce).await;
    // Let one tick pass so the tree is retained, then subscribe.
    tokio::time::sleep(scaled(Duration::from_millis(1500))).await;
    let mut sys = MqttClient::connect(&unique_id("sys"), broker.port()).await;
    sys.subscribe("$SYS/broker/#", QoS::AtMostOnce).await;
    let first = drain(&mut sys, scaled(Duration::from_millis(300)), 200).await;
    let retained: BTreeMap<String, String> = first
        .iter()
        .filter(|p| p.retain)
        .map(|p| {
            (
                p.topic.clone(),
                String::from_utf8_lossy(&p.payload).into_owned(),
            )
        })
        .collect();
    for name in SYS_TOPICS {
        let topic = format!("$SYS/broker/{name}");
        assert!(
            retained.contains_key(&topic),
            "{topic} not retained: {retained:?}"
        );
    }
    assert!(retained["$SYS/broker/version"].starts_with("edgemq version "));
    assert!(retained["$SYS/broker/uptime"].ends_with(" seconds"));
    // The next tick comes live (retain flag cleared) with 2 clients.
    let deadline = Instant::now() + scaled(WAIT);
    let mut live_clients = None;
    while Instant::now() < deadline && live_clients.is_none() {
        if let Some(p) = sys.recv_publish(scaled(Duration::from_secs(3))).await {
            if p.topic == "$SYS/broker/clients/connected" && !p.retain {
                live_clients = Some(String::from_utf8_lossy(&p.payload).into_owned());
            }
        }
    }
    assert_eq!(live_clients.as_deref(), Some("2"));
    // `#` and `+/...` never see `$SYS` [MQTT-4.7.2-1].
    let leaked = drain(&mut wild, scaled(Duration::from_millis(200)), 10).await;
    assert!(
        leaked.is_empty(),
        "{:?}",
        leaked.iter().map(|p| &p.topic).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sys_interval_0_publishes_nothing() {
    let broker = Broker::start("sys_interval 0\n");
    let mut sys = MqttClient::connect(&unique_id("sys"), broker.port()).await;
    sys.subscribe("$SYS/#", QoS::AtMostOnce).await;
    assert!(sys
        .recv_publish(scaled(Duration::from_millis(1500)))
        .await
        .is_none());
}

/// The next event on `topic` from `watcher`.
async fn event(watcher: &mut MqttClient, topic: &str) -> Value {
    let deadline = Instant::now() + scaled(WAIT);
    while Instant::now() < deadline {
        let Some(p) = watcher.recv_publish(scaled(WAIT)).await else {
            break;
        };
        if p.topic == topic {
            assert!(!p.retain, "events are not retained");
            let body = String::from_utf8(p.payload.to_vec()).unwrap();
            return edgemq::auth::json::parse(&body).unwrap();
        }
    }
    panic!("no event on {topic}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_events_carry_their_fields() {
    let broker =
        Broker::start("event_topics true\nsys_interval 0\npersistent_client_expiration 1s\n");
    let mut watcher = MqttClient::connect("watcher", broker.port()).await;
    watcher.subscribe("$SYS/events/#", QoS::AtMostOnce).await;
    let _ = event(&mut watcher, "$SYS/events/client/subscribed").await;

    let mut opts = common::client::options("dev@@7", broker.port());
    opts.set_credentials("alice", "pw");
    opts.set_keep_alive(Duration::from_secs(42));
    opts.set_clean_session(false);
    let mut dev = MqttClient::connect_with(opts).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 5000;
    let e = event(&mut watcher, "$SYS/events/client/connected").await;
    assert_eq!(text(e.get("clientid")), "dev@@7");
    assert_eq!(text(e.get("username")), "alice");
    assert_eq!(text(e.get("ip")), "127.0.0.1");
    assert!(matches!(e.get("port"), Some(Value::Number(Some(p))) if *p > 0));
    assert!(matches!(e.get("ts"), Some(Value::Number(Some(t))) if *t > before));
    assert_eq!(text(e.get("protocol")), "4");
    assert_eq!(text(e.get("clean")), "false");
    assert_eq!(text(e.get("keepalive")), "42");
    assert_eq!(text(e.get("reason")), "null");

    dev.subscribe("a/+/c", QoS::AtLeastOnce).await;
    let e = event(&mut watcher, "$SYS/events/client/subscribed").await;
    assert_eq!(
        (
            text(e.get("clientid")),
            text(e.get("filter")),
            text(e.get("qos"))
        ),
        ("dev@@7".into(), "a/+/c".into(), "1".into())
    );
    dev.client.unsubscribe("a/+/c").await.unwrap();
    let e = event(&mut watcher, "$SYS/events/client/unsubscribed").await;
    assert_eq!(text(e.get("filter")), "a/+/c");
    assert_eq!(e.get("qos"), None);

    dev.disconnect().await;
    let e = event(&mut watcher, "$SYS/events/client/disconnected").await;
    assert_eq!(text(e.get("clientid")), "dev@@7");
    assert_eq!(text(e.get("reason")), "client disconnected");
    assert_eq!(text(e.get("keepalive")), "42");

    // Offline past persistent_client_expiration: the session expires.
    let e = event(&mut watcher, "$SYS/events/client/session_expired").await;
    assert_eq!(text(e.get("clientid")), "dev@@7");
    assert_eq!(text(e.get("reason")), "expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_readable_only_where_the_acl_allows() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl");
    std::fs::write(
        &acl,
        "user ops\ntopic read $SYS/events/#\nuser dev\ntopic readwrite x/#\n",
    )
    .unwrap();
    let broker = BrokerOptions::new(&format!(
        "event_topics true\nsys_interval 0\nacl_file {}\n",
        acl.display()
    ))
    .start();
    let login = |id: &str, user: &str| {
        let mut o = common::client::options(id, broker.port());
        o.set_credentials(user, "pw");
        o
    };
    let mut ops = MqttClient::connect_with(login("ops-1", "ops")).await;
    assert_eq!(
        ops.subscribe("$SYS/events/#", QoS::AtMostOnce).await,
        vec![rumqttc::SubscribeReasonCode::Success(QoS::AtMostOnce)]
    );
    let mut dev = MqttClient::connect_with(login("dev-1", "dev")).await;
    assert_eq!(
        dev.subscribe("$SYS/events/#", QoS::AtMostOnce).await,
        vec![rumqttc::SubscribeReasonCode::Failure]
    );
    let e = event(&mut ops, "$SYS/events/client/connected").await;
    assert_eq!(text(e.get("clientid")), "dev-1");
    assert!(dev
        .recv_publish(scaled(Duration::from_millis(300)))
        .await
        .is_none());
}

fn api_broker(extra: &str) -> (Broker, std::net::SocketAddr, String) {
    let broker = Broker::start(&format!("{ADMIN}sys_interval 1\n{extra}"));
    let addr = admin_addr(&broker);
    let token = admin_token(&broker);
    (broker, addr, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers() {
    let (broker, addr, token) = api_broker("");
    let t = Some(token.as_str());
    let mut opts = common::client::options("grp@@dev1", broker.port());
    opts.set_credentials("alice", "pw");
    opts.set_clean_session(false);
    let mut dev = MqttClient::connect_with(opts).await;
    dev.subscribe("x/#", QoS::AtLeastOnce).await;
    dev.subscribe("y/+", QoS::AtMostOnce).await;
    let other = MqttClient::connect("grp@@dev2", broker.port()).await;
    let _lonely = MqttClient::connect("nogroup", broker.port()).await;
    other.publish("r/1", QoS::AtLeastOnce, true, "kept").await;
    tokio::time::sleep(scaled(Duration::from_millis(300))).await;

    let a = call(addr, "GET", "/api/v1/stats", t);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.head.contains("content-type: application/json"));
    let s = a.json();
    assert_eq!(text(s.get("clients_connected")), "3");
    assert_eq!(text(s.get("subscriptions")), "2");
    assert!(s
        .get("counters")
        .and_then(|c| c.get("connections_accepted"))
        .is_some());
    assert!(s
        .get("load")
        .and_then(|l| l.get("messages_received"))
        .is_some());

    let a = call(
        addr,
        "GET",
        "/api/v1/clients?prefix=grp%40%40&limit=1&page=2",
        t,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    assert_eq!(text(v.get("meta").unwrap().get("count")), "2");
    assert_eq!(text(v.get("meta").unwrap().get("page")), "2");
    let Some(Value::Array(rows)) = v.get("data") else {
        panic!("{}", a.body)
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(text(rows[0].get("clientid")), "grp@@dev2");
    let a = call(addr, "GET", "/api/v1/clients?username=alice", t);
    let Some(Value::Array(rows)) = a.json().get("data").cloned() else {
        panic!()
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(text(rows[0].get("clientid")), "grp@@dev1");

    let a = call(addr, "GET", "/api/v1/clients/grp%40%40dev1", t);
    assert_eq!(a.status, 200, "{}", a.body);
    let c = a.json();
    for (key, want) in [
        ("username", "alice"),
        ("connected", "true"),
        ("ip", "127.0.0.1"),
        ("protocol", "4"),
        ("clean", "false"),
        ("keepalive", "30"),
        ("queued", "0"),
        ("inflight", "0"),
    ] {
        assert_eq!(text(c.get(key)), want, "{key}: {}", a.body);
    }
    assert!(matches!(
        c.get("connected_at"),
        Some(Value::Number(Some(_)))
    ));
    let a = call(
        addr,
        "GET",
        "/api/v1/clients/grp%40%40dev1/subscriptions",
        t,
    );
    let Some(Value::Array(subs)) = a.json().get("data").cloned() else {
        panic!()
    };
    let filters: Vec<(String, String)> = subs
        .iter()
        .map(|s| (text(s.get("filter")), text(s.get("qos"))))
        .collect();
    assert_eq!(
        filters,
        vec![("x/#".into(), "1".into()), ("y/+".into(), "0".into())]
    );

    let a = call(
        addr,
        "DELETE",
        "/api/v1/clients/grp%40%40dev1/subscriptions/y%2F%2B",
        t,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let a = call(
        addr,
        "DELETE",
        "/api/v1/clients/grp%40%40dev1/subscriptions/y%2F%2B",
        t,
    );
    assert_eq!(a.status, 404);
    let a = call(addr, "GET", "/api/v1/groups", t);
    assert_eq!(a.body, r#"{"data":[{"group":"grp","online":2}]}"#);

    let a = call(addr, "GET", "/api/v1/retained?filter=r%2F%23", t);
    assert_eq!(
        a.body,
        r#"{"data":[{"topic":"r/1","qos":1,"bytes":4,"payload":"kept"}],"meta":{"page":1,"limit":100,"count":1}}"#
    );
    let a = call(addr, "GET", "/api/v1/retained?filter=a%2F%23%2Fb", t);
    assert_eq!(a.status, 400, "{}", a.body);
    let a = call(addr, "GET", "/api/v1/bridges", t);
    assert_eq!((a.status, a.body.as_str()), (200, r#"{"data":[]}"#));

    // Kick: the client's connection closes; the session stays unless asked.
    let a = call(addr, "DELETE", "/api/v1/clients/grp%40%40dev1", t);
    assert_eq!(a.body, r#"{"kicked":true,"session_deleted":false}"#);
    let gone = dev
        .wait_event(scaled(WAIT), |e| matches!(e, common::ClientEvent::Error(_)))
        .await;
    assert!(gone.is_some(), "the kicked client was not disconnected");
    assert!(broker.wait_for_log("disconnected: kicked by an administrator", scaled(WAIT)));
    let a = call(addr, "GET", "/api/v1/clients/grp%40%40dev1", t);
    assert_eq!(text(a.json().get("connected")), "false");
    assert!(matches!(
        a.json().get("disconnected_at"),
        Some(Value::Number(Some(_)))
    ));
    let a = call(
        addr,
        "DELETE",
        "/api/v1/clients/grp%40%40dev1?session=true",
        t,
    );
    assert_eq!(a.body, r#"{"kicked":false,"session_deleted":true}"#);
    assert_eq!(
        call(addr, "GET", "/api/v1/clients/grp%40%40dev1", t).status,
        404
    );

    let a = call(addr, "POST", "/api/v1/reload", t);
    assert_eq!(a.status, 200);
    assert!(
        broker.wait_for_log("SIGHUP: ", scaled(WAIT)),
        "{}",
        broker.log()
    );

    // Errors: JSON with code and message.
    let a = call(addr, "GET", "/api/v1/nothing", t);
    assert_eq!((a.status, text(a.json().get("code"))), (404, "404".into()));
    assert_eq!(
        call(addr, "GET", "/api/v1/clients?limit=1001", t).status,
        400
    );
    assert_eq!(call(addr, "GET", "/api/v1/clients?page=0", t).status, 400);
    assert_eq!(
        call(addr, "GET", "/api/v1/clients?online=maybe", t).status,
        400
    );
    assert_eq!(call(addr, "POST", "/api/v1/stats", t).status, 405);
    assert_eq!(call(addr, "GET", "/elsewhere", t).status, 404);
    let stats = call(addr, "GET", "/api/v1/stats", t).json();
    assert!(
        text(stats.get("counters").unwrap().get("admin_requests"))
            .parse::<u64>()
            .unwrap()
            >= 15
    );
}

#[test]
fn tokens_missing_or_wrong_are_refused() {
    let (broker, addr, token) = api_broker("");
    for path in ["/api/v1/stats", "/api/v1/clients", "/metrics"] {
        let a = call(addr, "GET", path, None);
        assert_eq!(a.status, 401, "{path}");
        assert!(a.head.contains("www-authenticate: bearer"));
        assert_eq!(text(a.json().get("code")), "401");
        let wrong = format!("{}x", &token[..token.len() - 1]);
        assert_eq!(call(addr, "GET", path, Some(&wrong)).status, 401, "{path}");
        assert_eq!(
            call(addr, "GET", path, Some(&token[1..])).status,
            401,
            "{path}"
        );
    }
    let basic = format!("GET /api/v1/stats HTTP/1.1\r\nAuthorization: Basic {token}\r\n\r\n");
    assert_eq!(http::raw(addr, basic.as_bytes()).status, 401);
    // The console page needs no token.
    assert_eq!(call(addr, "GET", "/", None).status, 200);
    assert!(broker.wait_for_log("admin API: 401", scaled(WAIT)));
    // The token file is 0600 and reused by the next start.
    use std::os::unix::fs::PermissionsExt;
    let path = broker.data_dir().join("admin.token");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mut broker = broker;
    broker.restart();
    assert_eq!(admin_token(&broker), token);
    assert!(
        broker.log().contains("admin API token read"),
        "{}",
        broker.log()
    );
}

#[test]
fn a_token_file_and_persistence_off() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "operator-secret-0123456789\n").unwrap();
    let (_b, addr, _) = {
        let broker = Broker::start(&format!("{ADMIN}admin_token_file {}\n", file.display()));
        let addr = admin_addr(&broker);
        (broker, addr, ())
    };
    assert_eq!(
        call(
            addr,
            "GET",
            "/api/v1/stats",
            Some("operator-secret-0123456789")
        )
        .status,
        200
    );
    // persistence false: the token still goes to persistence_location.
    let broker = Broker::start(&format!("{ADMIN}persistence false\n"));
    let addr = admin_addr(&broker);
    assert_eq!(
        call(addr, "GET", "/api/v1/stats", Some(&admin_token(&broker))).status,
        200
    );
}

#[test]
fn metrics_parse_as_prometheus_text() {
    let (broker, addr, token) = api_broker("");
    let _c = common::mosquitto_pub(broker.addr(), &["-t", "m/1", "-m", "x", "-q", "1"]);
    let a = call(addr, "GET", "/metrics", Some(&token));
    assert_eq!(a.status, 200);
    assert!(a.head.contains("content-type: text/plain; version=0.0.4"));
    let lines = a.body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let value = |name: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name)
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                ref other => panic!("{name}: {other:?}"),
            })
            .unwrap_or_else(|| panic!("no {name} in\n{}", a.body))
    };
    assert!(value("edgemq_messages_received_total") >= 1.0);
    assert!(value("edgemq_connections_accepted_total") >= 1.0);
    assert!(value("edgemq_uptime_seconds") >= 0.0);
    assert!(value("edgemq_resident_memory_bytes") > 0.0);
    let listener = scrape
        .samples
        .iter()
        .find(|s| s.metric == "edgemq_listener_connections")
        .expect("a listener series");
    assert_eq!(listener.labels.get("listener"), Some("127.0.0.1:0"));
    // Every family has its TYPE, and counters end in _total.
    for s in &scrape.samples {
        if let prometheus_parse::Value::Counter(_) = s.value {
            assert!(s.metric.ends_with("_total"), "{}", s.metric);
        }
    }
}

#[test]
fn oversized_and_slow_requests_are_cut_off() {
    let (broker, addr, token) = api_broker("");
    let big = format!(
        "POST /api/v1/reload HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Length: 16385\r\n\r\n"
    );
    let a = http::raw(addr, big.as_bytes());
    assert_eq!((a.status, text(a.json().get("code"))), (413, "413".into()));
    let head = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
    assert_eq!(http::raw(addr, head.as_bytes()).status, 431);

    // Half a request, then silence: 408 after 5 s, and the socket closes.
    let started = Instant::now();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(scaled(Duration::from_secs(15))))
        .unwrap();
    slow.write_all(b"GET /api/v1/stats HTTP/1.1\r\n").unwrap();
    let a = http::read_answer(&mut slow);
    assert_eq!(a.status, 408);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(4900) && waited < scaled(Duration::from_secs(8)),
        "{waited:?}"
    );

    // Eight connections at once are served; the ninth gets 503.
    let idle: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(scaled(Duration::from_millis(200)));
    let a = call(addr, "GET", "/api/v1/stats", Some(&token));
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(a.head.contains("retry-after: 1"), "{}", a.head);
    drop(idle);
    // Once they are gone (closed by the peer), requests are served again.
    let deadline = Instant::now() + scaled(WAIT);
    let mut status = 0;
    while Instant::now() < deadline {
        status = call(addr, "GET", "/api/v1/stats", Some(&token)).status;
        if status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(status, 200);
    let c = call(addr, "GET", "/api/v1/stats", Some(&token)).json();
    let counters = c.get("counters").unwrap();
    for (name, at_least) in [
        ("admin_too_large", 2),
        ("admin_timeouts", 1),
        ("admin_busy", 1),
    ] {
        let n: u64 = text(counters.get(name)).parse().unwrap();
        assert!(n >= at_least, "{name} {n}");
    }
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_counters_sit_beside_its_state() {
    let cloud = Broker::start("");
    let edge = Broker::start(&format!(
        "{ADMIN}sys_interval 1\nevent_topics true\nconnection cloud\naddress 127.0.0.1:{}\n\
         remote_clientid edge-1\ntopic up/# out 1\ntopic # out 0 $SYS/events/client/ edge-1/events/\n\
         restart_timeout 1 2\n",
        cloud.port()
    ));
    assert!(
        edge.wait_for_log("bridge cloud: connected", scaled(WAIT)),
        "{}",
        edge.log()
    );
    // Events go upstream remapped, as a cloud's device connect streams.
    let mut upstream = MqttClient::connect(&unique_id("up"), cloud.port()).await;
    upstream.subscribe("edge-1/events/#", QoS::AtMostOnce).await;
    let device = MqttClient::connect("shelf@@9", edge.port()).await;
    let e = event(&mut upstream, "edge-1/events/connected").await;
    assert_eq!(text(e.get("clientid")), "shelf@@9");
    drop(device);
    let publisher = MqttClient::connect(&unique_id("pub"), edge.port()).await;
    for i in 0..3 {
        publisher
            .publish("up/x", QoS::AtLeastOnce, false, format!("{i}"))
            .await;
    }
    let mut sys = MqttClient::connect(&unique_id("sys"), edge.port()).await;
    sys.subscribe("$SYS/broker/connection/edge-1/#", QoS::AtMostOnce)
        .await;
    let deadline = Instant::now() + scaled(WAIT);
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    // Sent upstream: the 3 messages and 5 events (the device's connect
    // and disconnect, the publisher's and this subscriber's connects, its
    // subscription).
    let done = |seen: &BTreeMap<String, String>| {
        seen.get("messages/sent").map(String::as_str) == Some("8")
            && seen.get("state_changes").map(String::as_str) == Some("1")
    };
    while Instant::now() < deadline && !done(&seen) {
        if let Some(p) = sys.recv_publish(scaled(Duration::from_secs(3))).await {
            let name = p
                .topic
                .trim_start_matches("$SYS/broker/connection/edge-1/")
                .to_owned();
            seen.insert(name, String::from_utf8_lossy(&p.payload).into_owned());
        }
    }
    for (name, want) in [
        ("state", "1"),
        ("messages/sent", "8"),
        ("messages/queued", "8"),
        ("queued", "0"),
        ("state_changes", "1"),
    ] {
        assert_eq!(
            seen.get(name).map(String::as_str),
            Some(want),
            "{name}: {seen:?}"
        );
    }
    assert!(seen.contains_key("messages/dropped"), "{seen:?}");

    let a = call(
        admin_addr(&edge),
        "GET",
        "/api/v1/bridges",
        Some(&admin_token(&edge)),
    );
    let Some(Value::Array(rows)) = a.json().get("data").cloned() else {
        panic!("{}", a.body)
    };
    assert_eq!(text(rows[0].get("name")), "cloud");
    assert_eq!(text(rows[0].get("state")), "up");
    assert_eq!(text(rows[0].get("sent")), "8");
    let metrics = call(
        admin_addr(&edge),
        "GET",
        "/metrics",
        Some(&admin_token(&edge)),
    )
    .body;
    assert!(
        metrics.contains("edgemq_bridge_up{bridge=\"cloud\"} 1"),
        "{metrics}"
    );
}

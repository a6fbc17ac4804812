//! Operating the binary (README.md ## Operations): `--version`,
//! `check-config`, config errors that stop the start with file:line, the
//! config-less default, SIGTERM / SIGINT with clients connected, a listener
//! whose address does not exist yet, keepalive, and the log-level flags.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::raw::{self, Connect};
use common::{run_with_timeout, scaled, Broker, BrokerOptions, RawClient, ReadEvent};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn secs(n: u64) -> Duration {
    scaled(Duration::from_secs(n))
}

/// The `edgemq` command as the harness runs it (`EDGEMQ_BIN`, `EDGEMQ_RUNNER`).
fn edgemq(args: &[&str]) -> Output {
    let bin =
        std::env::var("EDGEMQ_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_edgemq").to_owned());
    let prefix = common::runner();
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    cmd.args(args);
    run_with_timeout(cmd, secs(10))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_conf(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_owned()
}

fn connected(addr: std::net::SocketAddr, id: &str) -> RawClient {
    let (c, code) = RawClient::connect_mqtt(addr, id);
    assert_eq!(code, Some(0), "CONNACK for {id}");
    c
}

#[test]
fn version_prints_name_and_version() {
    let out = edgemq(&["--version"]);
    assert!(out.status.success(), "edgemq --version: {:?}", out.status);
    assert_eq!(
        text(&out.stdout),
        format!("edgemq {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_config_accepts_warns_and_refuses_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_conf(
        dir.path(),
        "good.conf",
        "# a comment\nlistener 1883 127.0.0.1\nmax_queued_messages 10\nbackpressure_timeout 5s\n",
    );
    let out = edgemq(&["check-config", &good]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "valid file: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("OK"),
        "stdout: {}",
        text(&out.stdout)
    );

    // A mosquitto key we do not implement: a warning naming it, still OK.
    let mosq = write_conf(
        dir.path(),
        "mosq.conf",
        "listener 1883\nmax_queued_bytes 10\n",
    );
    let out = edgemq(&["check-config", &mosq]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "mosquitto key: {}",
        text(&out.stderr)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("max_queued_bytes"),
        "no warning naming max_queued_bytes: {err:?}"
    );
    assert!(
        err.contains(&format!("{mosq}:2")),
        "the warning has no file:line: {err:?}"
    );
    assert!(text(&out.stdout).contains("OK"));

    // A key nobody knows: an error naming file and line, non-zero exit.
    let bad = write_conf(dir.path(), "bad.conf", "listener 1883\n\nfrobnicate 3\n");
    let out = edgemq(&["check-config", &bad]);
    assert!(!out.status.success(), "unknown key accepted");
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{bad}:3")), "no file:line in {err:?}");
    assert!(
        err.contains("frobnicate"),
        "the error does not name the key: {err:?}"
    );
    assert!(!text(&out.stdout).contains("OK"));

    // A bad value is an error too.
    let value = write_conf(dir.path(), "value.conf", "max_queued_messages lots\n");
    let out = edgemq(&["check-config", &value]);
    assert!(!out.status.success(), "a bad value accepted");
    assert!(
        text(&out.stderr).contains(&format!("{value}:1")),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_unknown_key_stops_the_start_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(
        dir.path(),
        "edgemq.conf",
        "listener 0 127.0.0.1\nallow_anonymous true\nno_such_key yes\n",
    );
    let started = Instant::now();
    let out = edgemq(&["-c", &conf]);
    assert!(
        started.elapsed() < secs(9),
        "edgemq kept running with a bad config"
    );
    assert!(!out.status.success(), "edgemq started with an unknown key");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains(&format!("{conf}:3")),
        "no file:line in {all:?}"
    );
    assert!(all.contains("no_such_key"), "the key is not named: {all:?}");
    assert!(!all.contains("listening on"), "it listened anyway: {all:?}");
}

#[test]
fn without_a_config_it_serves_anonymous_mqtt_on_localhost_1883() {
    // The wording is logged before the bind, so it is checked even when
    // another process holds port 1883; the service itself only when ours
    // got the port.
    let mut broker = BrokerOptions::without_config().expect_listeners(0).start();
    assert!(
        broker.wait_for_log("serving anonymous MQTT on 127.0.0.1:1883", secs(10)),
        "no default-config line:\n{}",
        broker.log()
    );
    let bound = broker.wait_log(secs(5), |t| {
        t.contains("listening on 127.0.0.1:1883") || t.to_lowercase().contains("in use")
    });
    if !broker.log().contains("listening on 127.0.0.1:1883") {
        eprintln!(
            "port 1883 is taken on this machine (bound={bound}): skipping the connection check"
        );
        return;
    }
    let addr: std::net::SocketAddr = "127.0.0.1:1883".parse().unwrap();
    let mut c = connected(addr, "default-anon");
    c.send(&raw::pingreq());
    assert_eq!(c.read_packet(secs(5)), Some(vec![0xD0, 0x00]));
    c.send(&raw::disconnect());
    assert!(
        broker.wait_for_log("default-anon", secs(3)),
        "the client is not ours"
    );
    broker.terminate();
    assert!(broker.wait_exit(secs(10)).is_some_and(|s| s.success()));
}

fn stops_cleanly_on(signal: &str) {
    let mut broker = Broker::start("");
    let mut sub = connected(broker.addr(), "sig-sub");
    sub.send(&raw::subscribe(1, &[("sig/#", 1)]));
    assert_eq!(
        raw::parse_suback(&sub.read_packet(secs(5)).expect("SUBACK")),
        Some((1, vec![1]))
    );
    let mut publisher = connected(broker.addr(), "sig-pub");
    publisher.send(&raw::publish("sig/a", b"before", 1, false, false, Some(1)));
    assert_eq!(
        raw::parse_ack(&publisher.read_packet(secs(5)).expect("PUBACK")),
        Some((4, 1))
    );
    let m = raw::parse_publish(&sub.read_packet(secs(5)).expect("PUBLISH")).unwrap();
    assert_eq!(m.payload, b"before");
    sub.send(&raw::puback(m.pkid.unwrap()));

    let sent = Instant::now();
    broker.signal(signal);
    let status = broker
        .wait_exit(secs(5))
        .unwrap_or_else(|| panic!("edgemq did not exit within 5 s of SIG{signal}"));
    assert_eq!(status.code(), Some(0), "exit after SIG{signal}: {status}");
    assert!(sent.elapsed() < secs(5));
    // Both clients saw their connection closed (3.1.1 has no server
    // DISCONNECT: the socket is closed).
    for (name, c) in [("subscriber", &mut sub), ("publisher", &mut publisher)] {
        assert!(
            c.expect_closed(secs(2)),
            "SIG{signal}: the {name} was not disconnected"
        );
    }
    let log = broker.log();
    assert!(log.contains("shutting down"), "no shutdown line:\n{log}");
    assert!(log.contains("stopped"), "no stop line:\n{log}");
}

#[test]
fn sigterm_closes_clients_and_exits_0() {
    stops_cleanly_on("TERM");
}

#[test]
fn sigint_closes_clients_and_exits_0() {
    stops_cleanly_on("INT");
}

#[test]
fn a_missing_listener_address_is_retried_while_others_serve() {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): no interface has it.
    let broker = BrokerOptions::new("listener 0 192.0.2.1\nlistener 0 127.0.0.1")
        .expect_listeners(1)
        .start();
    assert_eq!(broker.addr().ip().to_string(), "127.0.0.1");
    let log = broker.log();
    assert!(
        log.lines()
            .any(|l| l.contains("192.0.2.1") && l.contains("retry")),
        "no retry line for 192.0.2.1:\n{log}"
    );
    // The working listener serves meanwhile.
    let mut sub = connected(broker.addr(), "lr-sub");
    sub.send(&raw::subscribe(1, &[("lr", 0)]));
    assert!(sub.read_packet(secs(5)).is_some());
    let mut p = connected(broker.addr(), "lr-pub");
    p.send(&raw::publish("lr", b"served", 0, false, false, None));
    let m = raw::parse_publish(&sub.read_packet(secs(5)).expect("PUBLISH")).unwrap();
    assert_eq!(m.payload, b"served");
    // And it keeps retrying, with backoff (first retry after 1 s).
    assert!(
        broker.wait_for_log("still cannot listen on 192.0.2.1", secs(3)),
        "no second attempt logged:\n{}",
        broker.log()
    );
}

#[test]
fn keepalive_pings_keep_a_client_and_silence_ends_it() {
    let broker = Broker::start("");
    // Keepalive 1 s, a PINGREQ every 400 ms, for 4 s: never closed.
    let mut pinger = RawClient::connect(broker.addr());
    assert_eq!(
        pinger.handshake(&Connect::new("ka-ping").keepalive(1).to_bytes()),
        Some(0)
    );
    let mut silent = RawClient::connect(broker.addr());
    assert_eq!(
        silent.handshake(&Connect::new("ka-silent").keepalive(1).to_bytes()),
        Some(0)
    );
    let started = Instant::now();
    let mut silent_closed_at = None;
    while started.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(400));
        pinger.send(&raw::pingreq());
        assert_eq!(
            pinger.read_event(secs(2)),
            ReadEvent::Packet(vec![0xD0, 0x00]),
            "the pinging client lost its connection after {:?}",
            started.elapsed()
        );
        if silent_closed_at.is_none()
            && silent.read_event(Duration::from_millis(1)) == ReadEvent::Closed
        {
            silent_closed_at = Some(started.elapsed());
        }
    }
    // The silent one: closed after 1.5 × keepalive [MQTT-3.1.2-24], not
    // before the keepalive itself.
    let closed =
        silent_closed_at.expect("a client silent for 4 s with keepalive 1 s was not closed");
    assert!(
        closed >= Duration::from_millis(1000) && closed <= Duration::from_millis(2600),
        "closed after {closed:?}"
    );
    assert!(
        broker.log().contains(": keepalive timeout"),
        "{}",
        broker.log()
    );
}

/// Opens a socket and closes it before CONNECT (a debug-level event), then
/// connects a client (an info-level event) as a marker that the first was
/// processed.
fn debug_then_info(broker: &Broker, marker: &str) {
    drop(RawClient::connect(broker.addr()));
    std::thread::sleep(Duration::from_millis(100));
    let _c = connected(broker.addr(), marker);
    assert!(broker.wait_for_log(marker, secs(3)));
}

#[test]
fn verbose_flags_raise_the_log_level() {
    let quiet = Broker::start("");
    debug_then_info(&quiet, "lv-quiet");
    assert!(
        !quiet.log().contains("DEBUG"),
        "debug lines at the default level:\n{}",
        quiet.log()
    );

    for args in [&["-v"][..], &["--log-level", "debug"][..]] {
        let mut opts = BrokerOptions::new("log_level info");
        for a in args {
            opts = opts.arg(a);
        }
        let loud = opts.start();
        debug_then_info(&loud, "lv-loud");
        assert!(
            loud.wait_for_log("DEBUG", secs(3)),
            "{args:?}: no debug lines:\n{}",
            loud.log()
        );
        assert!(
            loud.log().contains("before CONNECT"),
            "{args:?}:\n{}",
            loud.log()
        );
    }

    // The config key alone does it too.
    let conf = Broker::start("log_level debug");
    debug_then_info(&conf, "lv-conf");
    assert!(
        conf.wait_for_log("DEBUG", secs(3)),
        "log_level debug:\n{}",
        conf.log()
    );
}

#[test]
fn sighup_reloads_the_log_level_without_dropping_clients() {
    let mut broker = Broker::start("log_level info");
    let mut client = RawClient::connect(broker.addr());
    assert_eq!(client.handshake(&raw::connect("hup-client")), Some(0));
    let path = broker.config_path().expect("a config file").to_path_buf();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("log_level info", "log_level debug");
    std::fs::write(&path, text).unwrap();
    broker.signal("HUP");
    assert!(
        broker.wait_for_log("SIGHUP: reloaded", Duration::from_secs(5)),
        "{}",
        broker.log()
    );
    assert!(broker.is_running(), "SIGHUP must not stop the broker");
    client.send(&raw::pingreq());
    let pong = client
        .read_packet(Duration::from_secs(3))
        .expect("PINGRESP after SIGHUP");
    assert_eq!(pong, vec![0xD0, 0x00]);
    // The new level applies: a connection that ends before CONNECT is
    // logged at debug.
    drop(RawClient::connect(broker.addr()));
    assert!(
        broker.wait_for_log("DEBUG [", Duration::from_secs(5)),
        "{}",
        broker.log()
    );
}

#[test]
fn sigusr1_flushes_the_store_and_logs_the_counters() {
    // With an hour between batched flushes, only SIGUSR1 can have written
    // the retained message before the SIGKILL.
    let mut broker = Broker::start("autosave_interval 3600\n");
    let mut c = connected(broker.addr(), &common::unique_id("usr1"));
    c.send(&raw::publish("ops/kept", b"v1", 1, true, false, Some(1)));
    assert!(c.read_packet(secs(5)).is_some(), "PUBACK");
    broker.signal("USR1");
    assert!(
        broker.wait_for_log("flush requested", secs(5)),
        "{}",
        broker.log()
    );
    let log = broker.log();
    assert!(log.contains("messages_received 1"), "{log}");
    assert!(log.contains("store ok"), "{log}");
    // The flush itself runs on the writer thread: give it a moment.
    std::thread::sleep(scaled(Duration::from_millis(500)));
    drop(c);
    broker.kill9();
    broker.restart();
    let mut reader = connected(broker.addr(), &common::unique_id("reader"));
    reader.send(&raw::subscribe(1, &[("ops/#", 0)]));
    let mut retained = None;
    while let Some(p) = reader.read_packet(secs(5)) {
        if let Some(m) = raw::parse_publish(&p) {
            retained = Some(m);
            break;
        }
    }
    let retained = retained.expect("the retained message survived the SIGKILL");
    assert_eq!(retained.payload, b"v1");
}

#[test]
fn sigusr2_is_logged_and_ignored() {
    let mut broker = Broker::start("");
    let mut c = connected(broker.addr(), &common::unique_id("usr2"));
    broker.signal("USR2");
    assert!(broker.wait_for_log("SIGUSR2: ignored", secs(5)));
    assert!(broker.is_running(), "SIGUSR2 does not stop the broker");
    c.send(&raw::pingreq());
    assert_eq!(c.read_packet(secs(5)), Some(vec![0xD0, 0x00]));
}

//! End-to-end faults from the network and the clock (README.md, "Faults
//! and what edgemq does"): the broker keeps serving, drops only what its
//! policy says, counts and logs it, and recovers by itself.
//!
//! - A reconnect storm of 10,000 clients (half persistent, half clean;
//!   1,000 under `EDGEMQ_RUNNER`) against `max_connections 2000`: refusals
//!   counted, another client's round trip stays bounded, and the
//!   connection and session counts come back to what they must be.
//! - Subscribers that stop reading their sockets while a publisher goes
//!   on: QoS 0 beyond `max_outbound_bytes` dropped, a QoS 1 subscriber
//!   marked lagging after `backpressure_timeout`, both counted; the
//!   publisher and everyone else go on.
//! - A half-open peer (a `mosquitto_sub` stopped with SIGSTOP): keepalive
//!   closes it and its will is published.
//! - A client that floods QoS 2 PUBLISHes and never sends PUBREL: closed at
//!   the ceiling of unreleased messages (3.1.1: 1,024; MQTT 5: the Receive
//!   Maximum, DISCONNECT 0x93); others unaffected.
//! - The wall clock jumping a day forward and back (the debug-build hook
//!   `EDGEMQ_TEST_CLOCK_FILE`, never the machine's clock) while a session
//!   expiry and a will delay wait: both follow monotonic time.
//!
//! Traffic dropped in a network namespace is not tested here: these tests
//! talk to 127.0.0.1 only (the half-open peer is made with SIGSTOP).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::flow::{raw_subscribe, wait};
use common::mqtt5_raw::{id as prop, parse_disconnect5, publish5, Connect5, Props};
use common::raw::{self, Connect, ReadEvent};
use common::{scaled, Broker, BrokerOptions, MosquittoSub, RawClient};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn uid(prefix: &str) -> String {
    common::unique_id(prefix)
}

fn connect(addr: SocketAddr, client_id: &str, clean: bool) -> RawClient {
    let mut c = RawClient::connect(addr);
    c.send(&Connect::new(client_id).clean(clean).to_bytes());
    let p = c.read_packet(wait()).expect("no CONNACK");
    assert_eq!(raw::parse_connack(&p).map(|(_, code)| code), Some(0));
    c
}

/// A clean-session client subscribed to its own topic, for round trips.
fn probe(addr: SocketAddr) -> (RawClient, String) {
    let name = uid("probe");
    let mut c = connect(addr, &name, true);
    let topic = format!("probe/{name}");
    assert_eq!(raw_subscribe(&mut c, 1, &[(&topic, 0)]), vec![0]);
    (c, topic)
}

/// Round trips every 50 ms until `stop`; the slowest.
fn probe_while(addr: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Duration> {
    let (mut c, topic) = probe(addr);
    std::thread::spawn(move || {
        let mut worst = Duration::ZERO;
        let mut n = 0u16;
        while !stop.load(Ordering::Relaxed) {
            n = n.wrapping_add(1);
            worst = worst.max(common::probe::round_trip(&mut c, &topic, 0, n));
            std::thread::sleep(Duration::from_millis(50));
        }
        worst
    })
}

/// The counters of the SIGUSR1 report once `done(report)` holds, or the
/// last report at the deadline.
fn report_when(
    broker: &Broker,
    timeout: Duration,
    done: impl Fn(&HashMap<String, u64>) -> bool,
) -> HashMap<String, u64> {
    let deadline = Instant::now() + timeout;
    loop {
        let report = broker.report(wait());
        if done(&report) || Instant::now() >= deadline {
            return report;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------- storm

/// What one storm client saw.
enum Outcome {
    Accepted(RawClient),
    Refused,
}

/// Connects client `i` (even: persistent, odd: clean).
fn storm_client(addr: SocketAddr, i: usize) -> Outcome {
    let Ok(mut c) = RawClient::try_connect(addr) else {
        return Outcome::Refused;
    };
    let clean = i % 2 == 1;
    let connect = Connect::new(&format!("storm-{i}")).clean(clean).to_bytes();
    if c.try_send(&connect).is_err() {
        return Outcome::Refused;
    }
    match c.read_event(wait()) {
        ReadEvent::Packet(p) if raw::parse_connack(&p) == Some((false, 0)) => Outcome::Accepted(c),
        ReadEvent::Packet(p) if raw::parse_connack(&p).is_some_and(|(_, code)| code == 0) => {
            Outcome::Accepted(c)
        }
        ReadEvent::Packet(p) => {
            assert_eq!(
                raw::parse_connack(&p).map(|(_, code)| code),
                Some(3),
                "a refusal is CONNACK 3"
            );
            Outcome::Refused
        }
        ReadEvent::Closed => Outcome::Refused,
        other => panic!("storm client {i}: {other:?}"),
    }
}

/// One wave: every client connects (threads of sequential clients, the
/// accepted ones kept open); returns the open ones with their index and
/// how many were refused.
fn wave(addr: SocketAddr, clients: usize) -> (Vec<(usize, RawClient)>, usize) {
    const THREADS: usize = 16;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut open = Vec::new();
                let mut refused = 0;
                for i in (t..clients).step_by(THREADS) {
                    match storm_client(addr, i) {
                        Outcome::Accepted(c) => open.push((i, c)),
                        Outcome::Refused => refused += 1,
                    }
                }
                (open, refused)
            })
        })
        .collect();
    let mut open = Vec::new();
    let mut refused = 0;
    for h in handles {
        let (o, r) = h.join().unwrap();
        open.extend(o);
        refused += r;
    }
    (open, refused)
}

#[test]
fn a_reconnect_storm_is_refused_counted_and_leaves_nothing_behind() {
    let under_runner = !common::runner().is_empty();
    let (clients, max) = if under_runner {
        (1_000, 200)
    } else {
        (10_000, 2_000)
    };
    let broker = Broker::start(&format!(
        "max_connections {max}\nmax_sessions {}\n",
        clients + 10
    ));
    let addr = broker.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let prober = probe_while(addr, stop.clone());
    let started = Instant::now();
    let mut persistent = std::collections::BTreeSet::new();
    let mut refused_total = 0;
    for round in 0..2 {
        let (open, refused) = wave(addr, clients);
        refused_total += refused;
        assert_eq!(open.len() + refused, clients);
        // The probe holds one connection.
        assert_eq!(
            open.len(),
            max - 1,
            "round {round}: as many as max_connections allows"
        );
        persistent.extend(open.iter().filter(|(i, _)| i % 2 == 0).map(|(i, _)| *i));
        let report = broker.report(wait());
        assert_eq!(report["connections"], max as u64);
        assert_eq!(report["refused_max_connections"], refused_total as u64);
        drop(open);
        // Back to the probe alone; the persistent sessions stay, offline.
        let expected_sessions = persistent.len() as u64 + 1;
        let report = report_when(&broker, scaled(Duration::from_secs(20)), |r| {
            r["connections"] == 1 && r["sessions"] == expected_sessions
        });
        assert_eq!(
            (report["connections"], report["sessions"]),
            (1, expected_sessions),
            "round {round}: after the storm"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let worst = prober.join().unwrap();
    eprintln!(
        "storm: 2 waves of {clients} clients against max_connections {max} in {:?}: {refused_total} refused, {} persistent sessions kept, worst probe round trip {worst:?}",
        started.elapsed(),
        persistent.len()
    );
    assert!(
        worst < scaled(Duration::from_secs(2)),
        "round trip {worst:?} during the storm"
    );
    assert!(
        broker
            .log()
            .contains(&format!("max_connections {max} reached")),
        "refusals are logged:\n{}",
        broker.log()
    );
}

// ---------------------------------------------------------------- slow readers

#[test]
fn slow_readers_are_dropped_by_policy_and_nobody_else_waits() {
    let broker = Broker::start(
        "max_outbound_bytes 65536\nbackpressure_timeout 1s\nmax_inflight_messages 20\nmax_queued_messages 100\n",
    );
    let addr = broker.addr();
    // Two subscribers that never read again: QoS 0 and QoS 1.
    let mut stalled0 = connect(addr, &uid("stalled0"), true);
    assert_eq!(raw_subscribe(&mut stalled0, 1, &[("flood/#", 0)]), vec![0]);
    let mut stalled1 = connect(addr, &uid("stalled1"), true);
    assert_eq!(raw_subscribe(&mut stalled1, 1, &[("flood/#", 1)]), vec![1]);

    let stop = Arc::new(AtomicBool::new(false));
    let prober = probe_while(addr, stop.clone());
    // Enough to fill both sockets' kernel buffers many times over.
    let total: u16 = if common::runner().is_empty() {
        6_000
    } else {
        1_500
    };
    let payload = vec![b'x'; 4096];
    let started = Instant::now();
    let mut publisher = connect(addr, &uid("flooder"), true);
    publisher
        .stream()
        .set_write_timeout(Some(scaled(Duration::from_secs(30))))
        .unwrap();
    let mut acked = 0u16;
    for n in 1..=total {
        publisher.send(&raw::publish("flood/t", &payload, 1, false, false, Some(n)));
        // A window of 20, as a client library keeps.
        while n - acked >= 20 {
            let p = publisher
                .read_packet(scaled(Duration::from_secs(10)))
                .unwrap_or_else(|| panic!("the publisher stalled at {n}:\n{}", broker.log()));
            assert_eq!(raw::parse_ack(&p).map(|(t, _)| t), Some(4));
            acked += 1;
        }
    }
    while acked < total {
        assert!(publisher
            .read_packet(scaled(Duration::from_secs(10)))
            .is_some());
        acked += 1;
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let worst = prober.join().unwrap();
    let report = broker.report(wait());
    eprintln!(
        "slow readers: {total} x 4 KiB published in {took:?}; dropped_qos0_outbound_full {}, lagging_events {}, dropped_lagging {}; worst probe round trip {worst:?}",
        report["dropped_qos0_outbound_full"], report["lagging_events"], report["dropped_lagging"]
    );
    assert!(
        report["dropped_qos0_outbound_full"] > 0,
        "QoS 0 dropped: {report:?}"
    );
    assert!(
        report["lagging_events"] >= 1,
        "the QoS 1 reader marked lagging"
    );
    assert!(report["dropped_lagging"] > 0, "its oldest messages dropped");
    assert!(
        worst < scaled(Duration::from_millis(500)),
        "round trip {worst:?} while the readers are stuck"
    );
    assert!(
        broker.log().contains("lagging"),
        "logged:\n{}",
        broker.log()
    );
    drop((stalled0, stalled1));
}

// ---------------------------------------------------------------- half-open

#[test]
fn a_stopped_peer_is_closed_by_keepalive_and_its_will_goes_out() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let mut watcher = connect(addr, &uid("watcher"), true);
    assert_eq!(raw_subscribe(&mut watcher, 1, &[("will/#", 1)]), vec![1]);
    let peer = MosquittoSub::start(
        addr,
        &[
            "-t",
            "hang/x",
            "-k",
            "5",
            "--will-topic",
            "will/hang",
            "--will-payload",
            "gone",
            "--will-qos",
            "1",
        ],
    );
    let stopped = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-STOP", &peer.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let will = watcher
        .read_packet(scaled(Duration::from_secs(15)))
        .unwrap_or_else(|| panic!("no will from the stopped peer:\n{}", broker.log()));
    let took = stopped.elapsed();
    let will = raw::parse_publish(&will).unwrap();
    assert_eq!(
        (will.topic.as_str(), will.payload.as_slice()),
        ("will/hang", &b"gone"[..])
    );
    if let Some(id) = will.pkid {
        watcher.send(&raw::puback(id));
    }
    // Keepalive 5 s (mosquitto_sub's least): closed 1.5 x 5 s after its
    // last packet, which came at most 5 s before the stop.
    eprintln!("half-open: closed and its will published {took:?} after SIGSTOP");
    assert!(
        took >= Duration::from_millis(2400),
        "closed {took:?} after the stop"
    );
    let report = broker.report(wait());
    assert_eq!(report["keepalive_timeouts"], 1);
    assert_eq!(report["wills_published"], 1);
    assert!(broker.log().contains("keepalive"), "{}", broker.log());
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &peer.pid().to_string()])
        .status();
    common::flow::expect_alive(&mut watcher, "the watcher is still served");
}

// ---------------------------------------------------------------- QoS 2 flood

#[test]
fn a_qos2_flood_without_pubrel_is_closed_at_the_cap() {
    let broker = Broker::start("max_inflight_messages 20\n");
    let addr = broker.addr();
    let (mut other, topic) = probe(addr);

    // 3.1.1: no Receive Maximum; the built-in ceiling of 1,024 unreleased.
    let mut flooder = connect(addr, &uid("flood311"), true);
    flooder
        .stream()
        .set_write_timeout(Some(scaled(Duration::from_secs(10))))
        .unwrap();
    for n in 1..=1_100u16 {
        if flooder
            .try_send(&raw::publish("q2/t", b"x", 2, false, false, Some(n)))
            .is_err()
        {
            break;
        }
    }
    let mut pubrecs = 0;
    let closed = loop {
        match flooder.read_event(wait()) {
            ReadEvent::Packet(p) => {
                assert_eq!(raw::parse_ack(&p).map(|(t, _)| t), Some(5), "only PUBRECs");
                pubrecs += 1;
            }
            ReadEvent::Closed => break true,
            _ => break false,
        }
    };
    assert!(closed, "closed at the cap:\n{}", broker.log());
    assert_eq!(pubrecs, 1_024, "PUBRECs up to the ceiling");
    common::probe::round_trip(&mut other, &topic, 0, 1);

    // MQTT 5: the Receive Maximum it was told, then DISCONNECT 0x93.
    let mut flooder5 = RawClient::connect(addr);
    flooder5.send(&Connect5::new(&uid("flood5")).to_bytes());
    assert!(flooder5.read_packet(wait()).is_some(), "a CONNACK");
    for n in 1..=25u16 {
        flooder5.send(&publish5("q2/t", b"x", 2, n, Props::new()));
    }
    let mut reason = None;
    let mut pubrecs = 0;
    while let Some(p) = flooder5.read_packet(wait()) {
        match raw::packet_type(&p) {
            5 => pubrecs += 1,
            14 => {
                reason = parse_disconnect5(&p).map(|(r, _)| r);
                break;
            }
            other => panic!("unexpected packet type {other}"),
        }
    }
    assert_eq!(reason, Some(0x93), "DISCONNECT receive maximum exceeded");
    assert_eq!(pubrecs, 20, "PUBRECs up to the Receive Maximum");
    assert!(flooder5.expect_closed(wait()));

    common::probe::round_trip(&mut other, &topic, 0, 2);
    let report = broker.report(wait());
    assert!(report["protocol_errors"] >= 1, "{report:?}");
    assert_eq!(report["receive_maximum_exceeded"], 1);
    assert!(
        broker.log().contains("too many unreleased QoS 2 messages"),
        "{}",
        broker.log()
    );
}

// ---------------------------------------------------------------- clock jumps

/// The date (`YYYY-MM-DD`) of the log line containing `needle`.
fn log_date(broker: &Broker, needle: &str) -> String {
    assert!(broker.wait_for_log(needle, wait()), "{}", broker.log());
    let log = broker.log();
    let line = log.lines().find(|l| l.contains(needle)).unwrap();
    line.get(..10).unwrap().to_owned()
}

#[test]
fn session_expiry_and_will_delay_ignore_wall_clock_jumps() {
    let dir = tempfile::tempdir().unwrap();
    let clock = dir.path().join("clock-offset");
    std::fs::write(&clock, "0").unwrap();
    let broker = Broker::start_with(
        BrokerOptions::new("persistent_client_expiration 3s\n")
            .env("EDGEMQ_TEST_CLOCK_FILE", clock.to_str().unwrap()),
    );
    if !broker.log().contains("test hook: the wall clock is offset") {
        eprintln!("skipped: this build ignores EDGEMQ_TEST_CLOCK_FILE (release build)");
        return;
    }
    let addr = broker.addr();
    let start_date = log_date(&broker, "starting");
    let mut watcher = connect(addr, &uid("watcher"), true);
    assert_eq!(raw_subscribe(&mut watcher, 1, &[("clk/#", 0)]), vec![0]);

    // A 3.1.1 persistent session that expires 3 s after it goes offline,
    // and an MQTT 5 client whose will waits 2 s.
    let parked = uid("parked");
    let mut p = connect(addr, &parked, false);
    p.send(&raw::disconnect());
    assert!(p.expect_closed(wait()));
    let offline = Instant::now();
    let mut w = RawClient::connect(addr);
    w.send(
        &Connect5::new(&uid("willer"))
            .props(Props::new().u32(prop::SESSION_EXPIRY, 60))
            .will(
                "clk/will",
                b"late",
                0,
                Props::new().u32(prop::WILL_DELAY, 2),
            )
            .to_bytes(),
    );
    assert!(w.read_packet(wait()).is_some(), "a CONNACK");
    drop(w);
    let dropped = Instant::now();

    // A day ahead, then a day behind, then two days ahead.
    for (offset, who) in [("86400", "ahead"), ("-86400", "behind"), ("172800", "far")] {
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(&clock, offset).unwrap();
        let name = uid(&format!("clk-{who}"));
        drop(connect(addr, &name, true));
        let date = log_date(&broker, &format!("client {name} connected"));
        assert_ne!(date, start_date, "the broker's wall clock moved {who}");
    }
    assert!(
        !broker
            .log()
            .contains(&format!("session of {parked} expired")),
        "expired early by a clock jump:\n{}",
        broker.log()
    );
    match watcher.read_event(Duration::from_millis(100)) {
        ReadEvent::Timeout => {}
        other => panic!("the will went out early: {other:?}"),
    }
    let will = watcher
        .read_packet(scaled(Duration::from_secs(5)))
        .expect("the will after its delay");
    assert_eq!(raw::parse_publish(&will).unwrap().payload, b"late");
    let will_after = dropped.elapsed();
    assert!(
        broker.wait_for_log(
            &format!("session of {parked} expired"),
            scaled(Duration::from_secs(5))
        ),
        "{}",
        broker.log()
    );
    let expired_after = offline.elapsed();
    eprintln!("clock jumps: will after {will_after:?} (delay 2 s), session expired after {expired_after:?} (3 s)");
    assert!(will_after >= Duration::from_millis(1900), "{will_after:?}");
    assert!(
        expired_after >= Duration::from_millis(2900),
        "{expired_after:?}"
    );
    assert!(
        will_after < scaled(Duration::from_secs(4)),
        "{will_after:?}"
    );
    assert!(
        expired_after < scaled(Duration::from_secs(5)),
        "{expired_after:?}"
    );
}

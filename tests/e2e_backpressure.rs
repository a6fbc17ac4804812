//! Back-pressure (docs/design.md ## Queues and back-pressure), end to end,
//! with `max_queued_messages 10`, `max_inflight_messages 20` (the defaults)
//! and `backpressure_timeout 1s`:
//!
//! - a subscriber that reads slowly throttles a fast QoS 1 publisher (its
//!   PUBACKs are held back) and loses nothing, in order;
//! - a subscriber that stops reading is marked lagging after the timeout, the
//!   publisher resumes, a healthy subscriber gets everything in order, and the
//!   drops are logged and counted;
//! - QoS 0 to a stuck subscriber past `max_outbound_bytes` is dropped and
//!   logged, and the broker's memory stays bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::raw::{self, RawPublish};
use common::{scaled, Broker, RawClient};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MAX_INFLIGHT: usize = 20;
const MAX_QUEUED: usize = 10;

fn secs(n: u64) -> Duration {
    scaled(Duration::from_secs(n))
}

fn connected(addr: std::net::SocketAddr, id: &str) -> RawClient {
    let (c, code) = RawClient::connect_mqtt(addr, id);
    assert_eq!(code, Some(0), "CONNACK for {id}");
    c
}

fn subscribe(c: &mut RawClient, filter: &str, qos: u8) {
    c.send(&raw::subscribe(1, &[(filter, qos)]));
    let p = c.read_packet(secs(5)).expect("SUBACK");
    assert_eq!(
        raw::parse_suback(&p),
        Some((1, vec![qos])),
        "SUBACK for {filter}"
    );
}

/// The sequence number a payload starts with (8 bytes, big-endian).
fn seq(payload: &[u8]) -> u64 {
    u64::from_be_bytes(payload[..8].try_into().unwrap())
}

fn payload(n: u64, len: usize) -> Vec<u8> {
    let mut p = n.to_be_bytes().to_vec();
    p.resize(len, b'.');
    p
}

/// The next PUBLISH (skipping nothing else: a subscriber gets only those),
/// acknowledged when QoS 1; `None` at the deadline.
fn next_publish(c: &mut RawClient, timeout: Duration) -> Option<RawPublish> {
    let p = c.read_packet(timeout)?;
    let publish = raw::parse_publish(&p).unwrap_or_else(|| panic!("not a PUBLISH: {p:?}"));
    if let (1, Some(id)) = (publish.qos, publish.pkid) {
        c.send(&raw::puback(id));
    }
    Some(publish)
}

/// A raw QoS 1 publisher: one thread writes every PUBLISH as fast as the
/// socket takes them, the caller's thread reads the PUBACKs.
struct Publisher {
    acks: RawClient,
    writer: std::thread::JoinHandle<()>,
}

impl Publisher {
    fn start(
        addr: std::net::SocketAddr,
        id: &str,
        topic: &str,
        count: u64,
        len: usize,
    ) -> Publisher {
        let acks = connected(addr, id);
        let mut stream: TcpStream = acks.stream().try_clone().unwrap();
        let topic = topic.to_owned();
        let writer = std::thread::spawn(move || {
            for n in 0..count {
                let pkid = u16::try_from(n % 65_000 + 1).unwrap();
                let p = raw::publish(&topic, &payload(n, len), 1, false, false, Some(pkid));
                if stream.write_all(&p).is_err() {
                    return;
                }
            }
        });
        Publisher { acks, writer }
    }

    /// Waits for the next PUBACK and checks it is for message `n`.
    fn expect_ack(&mut self, n: u64, timeout: Duration) {
        let p = self
            .acks
            .read_packet(timeout)
            .unwrap_or_else(|| panic!("no PUBACK for message {n}"));
        let pkid = u16::try_from(n % 65_000 + 1).unwrap();
        assert_eq!(
            raw::parse_ack(&p),
            Some((4, pkid)),
            "PUBACK order [MQTT-4.6.0-2]"
        );
    }
}

#[test]
fn a_slow_subscriber_throttles_the_publisher_and_loses_nothing() {
    const COUNT: u64 = 300;
    let broker = Broker::start("backpressure_timeout 1s");
    let mut sub = connected(broker.addr(), "bp-slow");
    subscribe(&mut sub, "bp/slow", 1);

    // The subscriber reads one message every 4 ms and acknowledges it.
    let acked = Arc::new(AtomicUsize::new(0));
    let acked_by_sub = acked.clone();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let deadline = Instant::now() + secs(15);
        while got.len() < COUNT as usize && Instant::now() < deadline {
            let Some(p) = sub.read_packet(secs(5)) else {
                break;
            };
            let m = raw::parse_publish(&p).expect("a PUBLISH");
            // Counted before the PUBACK goes out, so the count never lags
            // what the broker has seen.
            acked_by_sub.fetch_add(1, Ordering::SeqCst);
            sub.send(&raw::puback(m.pkid.expect("a packet id")));
            assert_eq!(m.qos, 1, "granted QoS 1");
            assert!(!m.dup, "no resend on a live connection");
            got.push(seq(&m.payload));
            std::thread::sleep(Duration::from_millis(4));
        }
        got
    });

    let mut publisher = Publisher::start(broker.addr(), "bp-fast", "bp/slow", COUNT, 64);
    let mut max_lead = 0;
    for n in 0..COUNT {
        publisher.expect_ack(n, secs(5));
        // A PUBACK means the broker routed the message. What it routed and
        // the subscriber has not acknowledged sits in the window (20) or the
        // queue (10, plus the one that hit the cap): the publisher is
        // throttled to the subscriber's pace.
        let lead = (n as usize + 1).saturating_sub(acked.load(Ordering::SeqCst));
        max_lead = max_lead.max(lead);
    }
    publisher.writer.join().unwrap();
    let got = reader.join().unwrap();
    eprintln!("the publisher ran at most {max_lead} PUBACKs ahead of the subscriber");
    assert_eq!(
        got,
        (0..COUNT).collect::<Vec<_>>(),
        "every message, in order"
    );
    assert!(
        max_lead <= MAX_INFLIGHT + MAX_QUEUED + 1,
        "the publisher got {max_lead} PUBACKs ahead of the subscriber: not throttled"
    );
    assert!(
        max_lead >= MAX_INFLIGHT,
        "the test never filled the window ({max_lead})"
    );
    let log = broker.log();
    assert!(
        !log.contains("lagging"),
        "a slow but steady reader was marked lagging:\n{log}"
    );
    assert!(!log.contains("dropped"), "messages were dropped:\n{log}");
}

#[test]
fn a_stuck_subscriber_becomes_lagging_and_releases_the_publisher() {
    const COUNT: u64 = 150;
    const LEN: usize = 4096;
    let mut broker = Broker::start("backpressure_timeout 1s");
    // Subscribes at QoS 1, then never reads nor acknowledges anything.
    let mut stuck = connected(broker.addr(), "bp-stuck");
    subscribe(&mut stuck, "bp/data", 1);
    let mut healthy = connected(broker.addr(), "bp-healthy");
    subscribe(&mut healthy, "bp/data", 1);
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        while got.len() < COUNT as usize {
            let Some(m) = next_publish(&mut healthy, secs(5)) else {
                break;
            };
            assert_eq!((m.qos, m.dup, m.payload.len()), (1, false, LEN));
            got.push(seq(&m.payload));
        }
        got
    });

    let started = Instant::now();
    let mut publisher = Publisher::start(broker.addr(), "bp-pub", "bp/data", COUNT, LEN);
    for n in 0..COUNT {
        publisher.expect_ack(n, secs(5));
    }
    let took = started.elapsed();
    eprintln!("{COUNT} PUBACKs took {took:?}");
    publisher.writer.join().unwrap();
    // The publisher was paused while the stuck client was full (20 inflight
    // + 10 queued), until backpressure_timeout marked it lagging.
    assert!(
        took >= Duration::from_millis(900),
        "never paused: all PUBACKs in {took:?}"
    );
    let got = reader.join().unwrap();
    assert_eq!(
        got,
        (0..COUNT).collect::<Vec<_>>(),
        "the healthy subscriber lost messages"
    );

    assert!(
        broker.wait_for_log("lagging", secs(2)),
        "no lagging line:\n{}",
        broker.log()
    );
    assert!(
        broker.log().contains("bp-stuck"),
        "the lagging line does not name the client"
    );
    assert!(
        broker
            .log()
            .contains("dropped the oldest queued message of lagging client bp-stuck"),
        "no drop line:\n{}",
        broker.log()
    );

    // The stuck client got the window's 20 (sitting unread in its socket);
    // the last 10 are queued; everything between was dropped oldest-first.
    let dropped = COUNT as usize - MAX_INFLIGHT - MAX_QUEUED;
    broker.terminate();
    assert!(broker.wait_exit(secs(10)).is_some_and(|s| s.success()));
    let log = broker.log();
    assert!(
        log.contains(&format!("{dropped} dropped")),
        "the stop line does not count {dropped} dropped messages:\n{log}"
    );
    let _ = stuck.read_event(Duration::from_millis(1));
}

/// The broker's resident set, or its peak, in KiB (`VmRSS` / `VmHWM`).
fn proc_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn qos0_to_a_stuck_subscriber_is_dropped_and_memory_stays_bounded() {
    const LEN: usize = 32 * 1024;
    const WARMUP: u64 = 64; // 2 MiB
    const COUNT: u64 = 1600; // 50 MiB
    let broker = Broker::start("backpressure_timeout 1s\nmax_outbound_bytes 65536");
    let pid = broker.pid().unwrap();
    let mut stuck = connected(broker.addr(), "q0-stuck");
    subscribe(&mut stuck, "q0/data", 0);
    let mut healthy = connected(broker.addr(), "q0-healthy");
    // QoS 1 granted: QoS 0 messages arrive at QoS 0, the QoS 1 end marker
    // at QoS 1 (queued, never dropped).
    subscribe(&mut healthy, "q0/#", 1);
    let received = Arc::new(AtomicUsize::new(0));
    let received_by_reader = received.clone();
    let reader = std::thread::spawn(move || {
        let mut last = None;
        let mut seen = Vec::new();
        let deadline = Instant::now() + secs(30);
        while Instant::now() < deadline {
            let Some(m) = next_publish(&mut healthy, secs(10)) else {
                panic!("the healthy subscriber stopped receiving");
            };
            if m.topic == "q0/end" {
                return seen;
            }
            let n = seq(&m.payload);
            assert!(
                last.is_none_or(|l| n > l),
                "out of order: {n} after {last:?}"
            );
            last = Some(n);
            seen.push(n);
            received_by_reader.fetch_add(1, Ordering::SeqCst);
        }
        panic!("no end marker");
    });

    let mut publisher = connected(broker.addr(), "q0-pub");
    let send = |p: &mut RawClient, range: std::ops::Range<u64>| {
        for n in range {
            p.send(&raw::publish(
                "q0/data",
                &payload(n, LEN),
                0,
                false,
                false,
                None,
            ));
        }
    };
    send(&mut publisher, 0..WARMUP);
    std::thread::sleep(Duration::from_millis(300));
    let rss_before = proc_kib(pid, "VmRSS:");
    send(&mut publisher, WARMUP..COUNT);
    publisher.send(&raw::publish("q0/end", b"end", 1, false, false, Some(1)));
    let ack = publisher
        .read_packet(secs(20))
        .expect("PUBACK for the end marker");
    assert_eq!(raw::parse_ack(&ack), Some((4, 1)));
    let seen: Vec<u64> = reader.join().unwrap();
    let peak = proc_kib(pid, "VmHWM:");
    let rss_after = proc_kib(pid, "VmRSS:");

    // QoS 0 may be dropped for the healthy subscriber too when its own
    // outbox is momentarily over the cap; but it kept receiving throughout
    // the stream: something from every tenth of it.
    for tenth in 0..10 {
        let range = COUNT * tenth / 10..COUNT * (tenth + 1) / 10;
        assert!(
            seen.iter().any(|n| range.contains(n)),
            "the healthy subscriber got nothing of messages {range:?}"
        );
    }
    let n = received.load(Ordering::SeqCst);
    assert!(
        n >= COUNT as usize / 4,
        "the healthy subscriber got only {n} of {COUNT}"
    );
    assert!(
        broker.wait_for_log("max_outbound_bytes 65536", secs(2)),
        "no drop line:\n{}",
        broker.log()
    );
    // 50 MiB went past a subscriber that took none of it: the broker kept
    // at most max_outbound_bytes for it, not the stream.
    let limit_kib = 8 * 1024;
    eprintln!(
        "VmRSS {rss_before} KiB -> {rss_after} KiB, peak {peak} KiB; healthy got {n}/{COUNT}"
    );
    assert!(
        peak.saturating_sub(rss_before) < limit_kib
            && rss_after.saturating_sub(rss_before) < limit_kib,
        "memory grew: VmRSS {rss_before} KiB before, {rss_after} KiB after, peak {peak} KiB"
    );
    // The stuck subscriber is still connected (QoS 0 drops do not close it).
    // (Its socket still holds unread data, so ask the log, not the socket.)
    let log = broker.log();
    assert!(
        !log.lines()
            .any(|l| l.contains("q0-stuck") && l.contains("disconnected")),
        "the stuck subscriber was disconnected:\n{log}"
    );
    drop(stuck);
}

/// A device whose connection went quiet while a stuck subscriber's full
/// queue held it paused reconnects with its client id, again and again: each
/// new connection takes the old one over and gets one message read before
/// it is paused in turn. The queue stays at its cap plus that one paused
/// publisher: each message past it takes the place of the oldest queued one,
/// counted and logged, and the subscriber, once it reads, gets its window
/// and then the newest messages, in order.
#[test]
fn a_publisher_reconnecting_while_paused_cannot_grow_a_full_queue() {
    const ROUNDS: u64 = 30;
    // No lagging during the test: only the queue's cap is at work.
    let mut broker = Broker::start("backpressure_timeout 1h");
    let mut stuck = connected(broker.addr(), "cap-stuck");
    subscribe(&mut stuck, "cap/data", 1);
    let publish = |c: &mut RawClient, n: u64| {
        let pkid = u16::try_from(n + 1).unwrap();
        c.send(&raw::publish(
            "cap/data",
            &payload(n, 16),
            1,
            false,
            false,
            Some(pkid),
        ));
        let ack = c.read_packet(secs(5)).expect("PUBACK");
        assert_eq!(raw::parse_ack(&ack), Some((4, pkid)), "PUBACK for {n}");
    };
    // The window (20) and the queue (10) fill; the 30th pauses `first`.
    let mut first = connected(broker.addr(), "cap-pub");
    let filled = (MAX_INFLIGHT + MAX_QUEUED) as u64;
    for n in 0..filled {
        publish(&mut first, n);
    }
    let mut connections = vec![first];
    for round in 0..ROUNDS {
        let mut again = connected(broker.addr(), "cap-pub");
        publish(&mut again, filled + round);
        connections.push(again);
    }
    let report = broker.report(secs(5));
    // The first reconnection's message fits beside the paused publisher it
    // replaced; each later one pushes out the oldest.
    assert_eq!(
        report["dropped_online_queue_full"],
        ROUNDS - 1,
        "{report:?}"
    );
    assert_eq!(report["dropped_lagging"], 0);
    assert!(
        broker.wait_for_log(
            "dropped the oldest queued message of client cap-stuck",
            secs(2)
        ),
        "no drop line:\n{}",
        broker.log()
    );
    let mut got = Vec::new();
    while let Some(m) = next_publish(&mut stuck, Duration::from_millis(500)) {
        got.push(seq(&m.payload));
    }
    let last = filled + ROUNDS;
    let kept = MAX_QUEUED as u64 + 1;
    let expected: Vec<u64> = (0..MAX_INFLIGHT as u64).chain(last - kept..last).collect();
    assert_eq!(got, expected, "the window, then the newest {kept} in order");
    broker.terminate();
    assert!(broker.wait_exit(secs(10)).is_some_and(|s| s.success()));
}

//! End-to-end durability (README.md ## Durability and the store):
//! persistent sessions, their offline queues and retained messages across
//! SIGTERM and SIGKILL, session expiry across restarts by the
//! plausible-wall-clock rule, sync-mode crash safety under load, and a
//! locked, corrupt or newer store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::flow::{collect, expect_silence, publish, raw_subscribe, wait};
use common::raw::{self, Connect, RawPublish};
use common::{scaled, Broker, BrokerOptions, RawClient};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn id(prefix: &str) -> String {
    common::unique_id(prefix)
}

/// Connects; returns the client and the CONNACK's session-present flag.
fn connect(addr: SocketAddr, client_id: &str, clean: bool) -> (RawClient, bool) {
    let mut c = RawClient::connect(addr);
    c.send(&Connect::new(client_id).clean(clean).to_bytes());
    let p = c.read_packet(wait()).expect("no CONNACK");
    let (present, code) = raw::parse_connack(&p).expect("a CONNACK");
    assert_eq!(code, 0, "CONNACK code for {client_id}");
    (c, present)
}

fn disconnect(mut c: RawClient) {
    c.send(&raw::disconnect());
    assert!(c.expect_closed(wait()), "closed after DISCONNECT");
}

/// A persistent subscriber to `filter` that then goes offline.
fn park_subscriber(addr: SocketAddr, client_id: &str, filter: &str, qos: u8) {
    let (mut c, _) = connect(addr, client_id, false);
    assert_eq!(raw_subscribe(&mut c, 1, &[(filter, qos)]), vec![qos]);
    disconnect(c);
}

fn payloads(msgs: &[RawPublish]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect()
}

/// Publishes `m1..=mN` at QoS 1, each acknowledged.
fn publish_numbered(addr: SocketAddr, topic: &str, n: usize) {
    let (mut publisher, _) = connect(addr, &id("pub"), true);
    for i in 1..=n {
        publish(
            &mut publisher,
            topic,
            format!("m{i}").as_bytes(),
            1,
            false,
            i as u16,
        );
    }
    disconnect(publisher);
}

fn newest_ten() -> Vec<String> {
    (6..=15).map(|i| format!("m{i}")).collect()
}

/// After the restart the subscriber gets the newest 10 of 15, in order,
/// then nothing else; the retained message is there too.
fn check_after_restart(broker: &Broker, sub: &str) {
    let addr = broker.addr();
    let (mut c, present) = connect(addr, sub, false);
    assert!(present, "session present after the restart");
    let got = collect(&mut c, 10);
    assert_eq!(payloads(&got), newest_ten(), "newest 10, in order");
    assert!(got.iter().all(|m| m.qos == 1 && !m.retain));
    expect_silence(&mut c, "nothing beyond the 10 queued messages");
    disconnect(c);

    let (mut reader, _) = connect(addr, &id("reader"), true);
    raw_subscribe(&mut reader, 1, &[("keep/#", 1)]);
    let retained = collect(&mut reader, 1);
    assert_eq!(retained[0].topic, "keep/config");
    assert_eq!(retained[0].payload, b"v1");
    assert!(retained[0].retain, "retained flag after the restart");
}

fn fill_before_restart(broker: &Broker, sub: &str) {
    let addr = broker.addr();
    park_subscriber(addr, sub, "q/#", 1);
    publish_numbered(addr, "q/t", 15);
    let (mut p, _) = connect(addr, &id("retainer"), true);
    publish(&mut p, "keep/config", b"v1", 1, true, 1);
    disconnect(p);
}

#[test]
fn offline_queue_and_retained_survive_sigterm() {
    let mut broker = Broker::start("");
    let sub = id("sub");
    fill_before_restart(&broker, &sub);
    broker.terminate();
    let status = broker.wait_exit(scaled(Duration::from_secs(10)));
    assert!(status.is_some_and(|s| s.success()), "clean exit on SIGTERM");
    assert!(broker.log().contains("store flushed"), "{}", broker.log());
    broker.restart();
    check_after_restart(&broker, &sub);
}

#[test]
fn offline_queue_and_retained_survive_sigkill_after_autosave() {
    let mut broker = Broker::start("autosave_interval 1\n");
    let sub = id("sub");
    fill_before_restart(&broker, &sub);
    // Batched mode loses at most one interval: wait past it.
    std::thread::sleep(scaled(Duration::from_millis(1600)));
    broker.restart(); // SIGKILL, then start again
    check_after_restart(&broker, &sub);
}

#[test]
fn queued_qos0_survives_only_with_queue_qos0_messages() {
    let mut broker = Broker::start("queue_qos0_messages true\nautosave_interval 1\n");
    let sub = id("q0");
    park_subscriber(broker.addr(), &sub, "z/#", 1);
    let (mut p, _) = connect(broker.addr(), &id("pub"), true);
    publish(&mut p, "z/a", b"zero", 0, false, 1);
    publish(&mut p, "z/b", b"one", 1, false, 2);
    disconnect(p);
    std::thread::sleep(scaled(Duration::from_millis(1600)));
    broker.restart();
    let (mut c, _) = connect(broker.addr(), &sub, false);
    let got = collect(&mut c, 2);
    assert_eq!(
        payloads(&got),
        vec!["zero", "one"],
        "in order, QoS 0 included"
    );
    assert_eq!((got[0].qos, got[1].qos), (0, 1));
}

#[test]
fn subscriptions_and_qos2_survive_and_a_clean_start_discards_them() {
    let mut broker = Broker::start("autosave_interval 1\n");
    let sub = id("sub2");
    park_subscriber(broker.addr(), &sub, "two/+", 2);
    let (mut p, _) = connect(broker.addr(), &id("pub"), true);
    publish(&mut p, "two/a", b"x", 2, false, 7);
    disconnect(p);
    std::thread::sleep(scaled(Duration::from_millis(1600)));
    broker.restart();

    let (mut c, present) = connect(broker.addr(), &sub, false);
    assert!(present);
    let got = collect(&mut c, 1);
    assert_eq!((got[0].qos, got[0].payload.as_slice()), (2, &b"x"[..]));
    // The subscription itself survived: a live message arrives too.
    let (mut p, _) = connect(broker.addr(), &id("pub"), true);
    publish(&mut p, "two/b", b"live", 1, false, 1);
    let live = collect(&mut c, 1);
    assert_eq!(live[0].payload, b"live");
    disconnect(c);

    // A clean start throws the stored session away, also in the store.
    let (c, present) = connect(broker.addr(), &sub, true);
    assert!(!present);
    disconnect(c);
    std::thread::sleep(scaled(Duration::from_millis(1600)));
    broker.restart();
    let (c, present) = connect(broker.addr(), &sub, false);
    assert!(
        !present,
        "the discarded session stayed gone after a restart"
    );
    disconnect(c);
}

#[test]
fn unacknowledged_messages_are_resent_with_dup_after_a_restart() {
    let mut broker = Broker::start("autosave_interval 1\n");
    let sub = id("dup");
    park_subscriber(broker.addr(), &sub, "d/#", 2);
    let (mut p, _) = connect(broker.addr(), &id("pub"), true);
    publish(&mut p, "d/1", b"one", 1, false, 1);
    publish(&mut p, "d/2", b"two", 2, false, 2);
    disconnect(p);
    // Receive both but acknowledge neither; PUBREC the QoS 2 one.
    let (mut c, _) = connect(broker.addr(), &sub, false);
    let first = c.read_packet(wait()).expect("first PUBLISH");
    let second = c.read_packet(wait()).expect("second PUBLISH");
    let (m1, m2) = (
        raw::parse_publish(&first).unwrap(),
        raw::parse_publish(&second).unwrap(),
    );
    c.send(&raw::pubrec(m2.pkid.unwrap()));
    let rel = c.read_packet(wait()).expect("PUBREL");
    assert_eq!(raw::parse_ack(&rel), Some((6, m2.pkid.unwrap())));
    std::thread::sleep(scaled(Duration::from_millis(1600)));
    broker.restart();

    let (mut c, present) = connect(broker.addr(), &sub, false);
    assert!(present);
    // [MQTT-4.4.0-1]: the PUBLISH again with DUP, the PUBREL again.
    let again = raw::parse_publish(&c.read_packet(wait()).expect("resent PUBLISH")).unwrap();
    assert_eq!(
        (again.payload.as_slice(), again.dup, again.pkid),
        (&b"one"[..], true, m1.pkid)
    );
    let rel = c.read_packet(wait()).expect("resent PUBREL");
    assert_eq!(raw::parse_ack(&rel), Some((6, m2.pkid.unwrap())));
    c.send(&raw::puback(m1.pkid.unwrap()));
    c.send(&raw::pubcomp(m2.pkid.unwrap()));
    expect_silence(&mut c, "the QoS 2 message is not delivered twice");
}

#[test]
fn inbound_qos2_owed_a_pubrel_is_completed_not_redelivered() {
    let mut broker = Broker::start("autosave_interval 1\n");
    let sub = id("in2");
    park_subscriber(broker.addr(), &sub, "i/#", 2);
    let publisher_id = id("p2");
    let (mut p, _) = connect(broker.addr(), &publisher_id, false);
    p.send(&raw::publish("i/x", b"once", 2, false, false, Some(42)));
    assert_eq!(p.read_packet(wait()).unwrap(), raw::pubrec(42));
    std::thread::sleep(scaled(Duration::from_millis(1600)));
    broker.restart();

    // The publisher did not see PUBCOMP: it resends the PUBLISH with DUP
    // (allowed before PUBREL) and then PUBREL.
    let (mut p, present) = connect(broker.addr(), &publisher_id, false);
    assert!(present);
    p.send(&raw::publish("i/x", b"once", 2, false, true, Some(42)));
    assert_eq!(p.read_packet(wait()).unwrap(), raw::pubrec(42));
    p.send(&raw::pubrel(42));
    assert_eq!(p.read_packet(wait()).unwrap(), raw::pubcomp(42));

    let (mut c, _) = connect(broker.addr(), &sub, false);
    let got = collect(&mut c, 1);
    assert_eq!(got[0].payload, b"once");
    expect_silence(&mut c, "delivered once across the restart");
}

#[test]
fn a_session_that_expired_while_down_is_gone_at_start() {
    let mut broker = Broker::start("persistent_client_expiration 3s\n");
    let sub = id("exp");
    park_subscriber(broker.addr(), &sub, "e/#", 1);
    let keep = id("keep");
    park_subscriber(broker.addr(), &keep, "e/#", 1);
    broker.terminate();
    broker.wait_exit(scaled(Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(3500));
    broker.restart();
    assert!(
        broker.wait_for_log("2 expired while the broker was down", wait()),
        "{}",
        broker.log()
    );
    let (c, present) = connect(broker.addr(), &sub, false);
    assert!(!present, "expired across the restart");
    disconnect(c);
}

#[test]
fn a_session_within_its_expiry_survives_a_restart_and_then_expires() {
    let mut broker = Broker::start("persistent_client_expiration 4s\n");
    let sub = id("live");
    park_subscriber(broker.addr(), &sub, "e/#", 1);
    std::thread::sleep(Duration::from_secs(2));
    broker.terminate();
    broker.wait_exit(scaled(Duration::from_secs(10)));
    broker.restart();
    let started = Instant::now();
    assert!(broker.wait_for_log("restored 1 persistent sessions", wait()));
    // Offline time before the restart still counts (whole seconds): it
    // expires about 4 s after the DISCONNECT, not 4 s after the restart.
    assert!(
        broker.wait_for_log("session of", Duration::from_secs(6)),
        "expired while running: {}",
        broker.log()
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(3500),
        "expired {took:?} after the restart"
    );
}

#[test]
fn a_clock_behind_the_store_does_not_expire_everyone() {
    // The previous run's clock was a year ahead of now (or, the same thing,
    // this boot's clock is stale): downtime counts as zero.
    let mut broker = Broker::start("persistent_client_expiration 1h\n");
    let subs: Vec<String> = (0..3).map(|i| id(&format!("clk{i}"))).collect();
    for sub in &subs {
        park_subscriber(broker.addr(), sub, "c/#", 1);
    }
    broker.terminate();
    broker.wait_exit(scaled(Duration::from_secs(10)));
    let data = broker.data_dir();
    edgemq::store::testing::shift_stored_clocks(&data, 365 * 86_400).unwrap();
    broker.restart();
    assert!(
        broker.wait_for_log("counting the downtime as zero", wait()),
        "{}",
        broker.log()
    );
    assert!(broker.wait_for_log("restored 3 persistent sessions", wait()));
    for sub in &subs {
        let (c, present) = connect(broker.addr(), sub, false);
        assert!(present, "{sub} kept");
        disconnect(c);
    }

    // A plausible clock two hours on: the 1-hour expiry has passed.
    broker.terminate();
    broker.wait_exit(scaled(Duration::from_secs(10)));
    edgemq::store::testing::shift_stored_clocks(&data, -2 * 3600).unwrap();
    broker.restart();
    assert!(
        broker.wait_for_log("3 expired while the broker was down", wait()),
        "{}",
        broker.log()
    );
}

#[test]
fn a_locked_store_fails_the_start_with_a_clear_message() {
    let first = Broker::start("");
    let config = format!("persistence_location {}\n", first.data_dir().display());
    let mut second = Broker::start_with(BrokerOptions::new(&config).expect_listeners(0));
    let status = second.wait_exit(scaled(Duration::from_secs(20)));
    assert!(status.is_some_and(|s| !s.success()), "non-zero exit");
    assert!(
        second.log().contains("is locked by another process"),
        "{}",
        second.log()
    );
    // The first broker and its store are untouched.
    let (c, _) = connect(first.addr(), &id("still"), false);
    disconnect(c);
}

fn corrupt_files(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_file() {
            let len = std::fs::metadata(&path).unwrap().len().max(64) as usize;
            std::fs::write(&path, vec![0xA5u8; len]).unwrap();
        }
    }
}

fn siblings(dir: &std::path::Path, marker: &str) -> Vec<String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("{name}.{marker}-")))
        .collect()
}

#[test]
fn a_corrupt_store_is_moved_aside_and_the_broker_starts_empty() {
    let mut broker = Broker::start("");
    park_subscriber(broker.addr(), &id("c"), "x/#", 1);
    broker.terminate();
    broker.wait_exit(scaled(Duration::from_secs(10)));
    let data = broker.data_dir();
    corrupt_files(&data);
    broker.restart();
    assert!(
        broker.wait_for_log("moved the store aside", wait()),
        "{}",
        broker.log()
    );
    assert_eq!(siblings(&data, "corrupt").len(), 1);
    let (c, present) = connect(broker.addr(), &id("fresh"), false);
    assert!(!present);
    disconnect(c);

    // Again: only the newest corrupt copy is kept.
    broker.terminate();
    broker.wait_exit(scaled(Duration::from_secs(10)));
    corrupt_files(&data);
    std::thread::sleep(Duration::from_millis(1100));
    broker.restart();
    assert!(broker.wait_for_log("moved the store aside", wait()));
    assert_eq!(siblings(&data, "corrupt").len(), 1, "only the newest copy");
}

#[test]
fn a_store_from_a_newer_edgemq_is_kept_aside_untouched() {
    let mut broker = Broker::start("");
    park_subscriber(broker.addr(), &id("n"), "x/#", 1);
    broker.terminate();
    broker.wait_exit(scaled(Duration::from_secs(10)));
    let data = broker.data_dir();
    edgemq::store::testing::set_store_format(&data, 99).unwrap();
    broker.restart();
    assert!(
        broker.wait_for_log("newer than this edgemq reads", wait()),
        "{}",
        broker.log()
    );
    assert_eq!(siblings(&data, "newer").len(), 1);
    assert!(siblings(&data, "corrupt").is_empty());
}

#[test]
fn one_bad_record_is_skipped_and_counted() {
    let mut broker = Broker::start("");
    let (mut p, _) = connect(broker.addr(), &id("r"), true);
    publish(&mut p, "keep/a", b"A", 0, true, 1);
    publish(&mut p, "keep/b", b"B", 0, true, 1);
    disconnect(p);
    broker.terminate();
    broker.wait_exit(scaled(Duration::from_secs(10)));
    edgemq::store::testing::damage_retained(&broker.data_dir(), "keep/a").unwrap();
    broker.restart();
    assert!(
        broker.wait_for_log("skipped 1 undecodable records", wait()),
        "{}",
        broker.log()
    );
    let (mut c, _) = connect(broker.addr(), &id("reader"), true);
    raw_subscribe(&mut c, 1, &[("keep/#", 0)]);
    let got = collect(&mut c, 1);
    assert_eq!(got[0].topic, "keep/b");
    expect_silence(&mut c, "the damaged record is gone, the good one kept");
}

#[test]
fn at_max_store_bytes_offline_messages_and_retained_are_refused() {
    let broker = Broker::start("max_store_bytes 1048576\nautosave_interval 1\n");
    let sub = id("full");
    park_subscriber(broker.addr(), &sub, "f/#", 1);
    let (mut p, _) = connect(broker.addr(), &id("pub"), true);
    // Twelve 100 KB retained messages take the store past 1 MiB.
    let big = vec![b'x'; 100_000];
    for i in 0..12u16 {
        publish(&mut p, &format!("big/{i}"), &big, 1, true, i + 1);
    }
    assert!(
        broker.wait_for_log("reached max_store_bytes", scaled(Duration::from_secs(5))),
        "{}",
        broker.log()
    );
    publish(&mut p, "f/1", b"dropped", 1, false, 1);
    publish(&mut p, "f/r", b"not kept", 1, true, 2);
    assert!(broker.wait_for_log("the store is at max_store_bytes", wait()));
    let (mut c, present) = connect(broker.addr(), &sub, false);
    assert!(present);
    expect_silence(&mut c, "the message for the offline session was dropped");
    // Online delivery goes on.
    publish(&mut p, "f/2", b"live", 1, false, 3);
    assert_eq!(collect(&mut c, 1)[0].payload, b"live");
}

/// One publisher's view of a crash run: which sequence numbers the broker
/// acknowledged (PUBACK for QoS 1, PUBREC for QoS 2).
fn publish_until_killed(addr: SocketAddr, qos: u8, topic: &str, stop: Instant) -> BTreeSet<u32> {
    let mut acked = BTreeSet::new();
    let Ok(mut c) = RawClient::try_connect(addr) else {
        return acked;
    };
    if c.try_send(&Connect::new(&id("crashpub")).to_bytes())
        .is_err()
    {
        return acked;
    }
    if c.read_packet(wait()).is_none() {
        return acked;
    }
    const WINDOW: u32 = 20;
    let mut next: u32 = 0;
    let mut inflight: HashMap<u16, u32> = HashMap::new();
    while Instant::now() < stop {
        while inflight.len() < WINDOW as usize {
            let pkid = (next % 60_000) as u16 + 1;
            let payload = next.to_be_bytes();
            if c.try_send(&raw::publish(
                topic,
                &payload,
                qos,
                false,
                false,
                Some(pkid),
            ))
            .is_err()
            {
                return acked;
            }
            inflight.insert(pkid, next);
            next += 1;
        }
        let Some(p) = c.read_packet(Duration::from_millis(500)) else {
            return acked; // killed
        };
        match raw::parse_ack(&p) {
            Some((4, id)) | Some((5, id)) => {
                if let Some(seq) = inflight.get(&id).copied() {
                    acked.insert(seq);
                    if qos == 1 {
                        inflight.remove(&id);
                    } else if c.try_send(&raw::pubrel(id)).is_err() {
                        return acked;
                    }
                }
            }
            Some((7, id)) => {
                inflight.remove(&id);
            }
            _ => {}
        }
    }
    acked
}

/// Sync mode, QoS 1 and QoS 2 publishers at full speed, SIGKILL at a random
/// moment, restart: every acknowledged message reaches the (offline,
/// persistent) subscriber, QoS 2 never twice; the store always opens.
#[test]
fn sync_mode_loses_nothing_acknowledged_across_sigkill() {
    let iterations: usize = std::env::var("EDGEMQ_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let mut broker = Broker::start("persistence_sync true\nmax_queued_messages 100000\n");
    let mut seed: u64 = std::process::id() as u64 ^ 0x9E37_79B9_7F4A_7C15;
    let mut total_acked = 0usize;
    let mut qos1_duplicates = 0usize;
    for round in 0..iterations {
        let sub1 = format!("crash-sub1-{round}");
        let sub2 = format!("crash-sub2-{round}");
        park_subscriber(broker.addr(), &sub1, &format!("c{round}/q1"), 1);
        park_subscriber(broker.addr(), &sub2, &format!("c{round}/q2"), 2);
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let run_for = Duration::from_millis(150 + (seed >> 33) % 600);
        let stop = Instant::now() + Duration::from_secs(30);
        let addr = broker.addr();
        let t1 = std::thread::spawn(move || {
            publish_until_killed(addr, 1, &format!("c{round}/q1"), stop)
        });
        let t2 = std::thread::spawn(move || {
            publish_until_killed(addr, 2, &format!("c{round}/q2"), stop)
        });
        std::thread::sleep(run_for);
        broker.restart(); // SIGKILL mid-stream, then start again
        let acked1 = t1.join().unwrap();
        let acked2 = t2.join().unwrap();
        assert!(
            !acked1.is_empty() && !acked2.is_empty(),
            "round {round}: load ran"
        );
        eprintln!(
            "round {round}: killed after {run_for:?}: {} QoS 1 and {} QoS 2 acknowledged (QoS 2 {:?}..{:?})",
            acked1.len(),
            acked2.len(),
            acked2.first(),
            acked2.last()
        );
        total_acked += acked1.len() + acked2.len();

        for (sub, acked, qos) in [(&sub1, &acked1, 1u8), (&sub2, &acked2, 2u8)] {
            let (mut c, present) = connect(broker.addr(), sub, false);
            assert!(present, "round {round}: {sub} restored");
            let mut seen: HashMap<u32, usize> = HashMap::new();
            let mut last: Option<u32> = None;
            let deadline = Instant::now() + scaled(Duration::from_secs(20));
            // Everything acknowledged arrives; more (unacknowledged but
            // stored) may arrive too.
            let mut missing: BTreeSet<u32> = acked.clone();
            while !missing.is_empty() {
                assert!(
                    Instant::now() < deadline,
                    "round {round}: {sub} missing {} acknowledged messages, first {:?}",
                    missing.len(),
                    missing.first()
                );
                // One QoS 2 PUBLISH may bring others before its PUBREL.
                for m in collect(&mut c, 1) {
                    let seq = u32::from_be_bytes(m.payload.clone().try_into().unwrap());
                    missing.remove(&seq);
                    let count = seen.entry(seq).or_default();
                    *count += 1;
                    if let Some(prev) = last.filter(|_| *count == 1) {
                        assert!(seq > prev, "round {round}: out of order {prev} then {seq}");
                    }
                    last = Some(seq);
                }
            }
            let dups = seen.values().filter(|&&n| n > 1).count();
            if qos == 2 {
                assert_eq!(dups, 0, "round {round}: QoS 2 delivered twice");
            } else {
                qos1_duplicates += dups;
            }
            disconnect(c);
        }
    }
    eprintln!(
        "crash test: {iterations} SIGKILLs, {total_acked} acknowledged messages all delivered, \
         {qos1_duplicates} QoS 1 duplicates"
    );
}

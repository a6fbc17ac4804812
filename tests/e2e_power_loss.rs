//! End-to-end: power loss in sync mode (README.md ## Durability and the
//! store). Extends the SIGKILL crash test of `e2e_persistence.rs`: after
//! the kill the store's files are damaged the way a power cut damages them.
//!
//! Each round: a persistent subscriber at QoS 2 goes offline; QoS 1 and
//! QoS 2 messages are published to it, each acknowledged (PUBACK, PUBREC).
//! In sync mode an acknowledgement goes out only after the flush covering
//! the message, so the store's files as they are when the last one arrives
//! are a state the disk must keep; the test snapshots them then. A few more
//! messages are sent unacknowledged, the broker is SIGKILLed, and then:
//! - most rounds ("tail"): only bytes written *after* that snapshot are
//!   damaged — put back as they were (the write never reached the disk),
//!   zeroed (a torn write), or the file cut at its snapshot length. On
//!   restart every acknowledged message is delivered and no QoS 2 message
//!   twice;
//! - the other rounds ("old"): bytes that were flushed are damaged (a
//!   failing flash). The broker must still start — an unreadable store is
//!   moved aside and logged (src/store/open.rs) — and serve.
//!
//! `EDGEMQ_POWER_LOSS_ROUNDS` sets the number of rounds (default 200, 10
//! under `EDGEMQ_RUNNER`); `EDGEMQ_POWER_LOSS_SEED` replays a run (the
//! seed is printed).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::flow::{collect_within, raw_subscribe, wait};
use common::raw::{self, Connect};
use common::{scaled, Broker, RawClient};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Acknowledged messages per QoS per round: small, so a round is short.
const ACKED_PER_QOS: u16 = 3;
/// Sent after the last acknowledgement and never waited for.
const UNACKED: u16 = 3;

fn rounds() -> usize {
    let default = if common::runner().is_empty() { 200 } else { 10 };
    std::env::var("EDGEMQ_POWER_LOSS_ROUNDS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// A small xorshift generator: the damage is random but replayable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn connect(addr: SocketAddr, client_id: &str, clean: bool) -> (RawClient, bool) {
    let mut c = RawClient::connect(addr);
    c.send(&Connect::new(client_id).clean(clean).to_bytes());
    let p = c.read_packet(wait()).expect("no CONNACK");
    let (present, code) = raw::parse_connack(&p).expect("a CONNACK");
    assert_eq!(code, 0, "CONNACK code for {client_id}");
    (c, present)
}

/// Every regular file under the store directory with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                files.insert(path, bytes);
            }
        }
    }
    files
}

/// The byte ranges of `now` that differ from `then` or lie past its end:
/// what was written after the snapshot.
fn written_after(then: &[u8], now: &[u8]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut start = None;
    for (i, b) in now.iter().enumerate() {
        let changed = then.get(i) != Some(b);
        match (changed, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                ranges.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        ranges.push((s, now.len()));
    }
    ranges
}

/// Damages what was written after the last flush; returns what was done.
fn damage_tail(rng: &mut Rng, before: &BTreeMap<PathBuf, Vec<u8>>, dir: &Path) -> String {
    let after = snapshot(dir);
    let mut done = Vec::new();
    for (path, now) in &after {
        let empty = Vec::new();
        let then = before.get(path).unwrap_or(&empty);
        let ranges = written_after(then, now);
        if ranges.is_empty() {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut bytes = now.clone();
        let mut how = rng.below(3);
        if how == 2 && now.len() <= then.len() {
            how = 1; // nothing past the flushed length to cut
        }
        match how {
            // The writes never reached the disk.
            0 => {
                bytes = then.clone();
                done.push(format!("{name}: {} ranges reverted", ranges.len()));
            }
            // Some of them torn: zeroed from a random point of a range on.
            1 => {
                let (s, e) = ranges[rng.below(ranges.len() as u64) as usize];
                let from = s + rng.below((e - s) as u64) as usize;
                for b in &mut bytes[from..e] {
                    *b = 0;
                }
                done.push(format!("{name}: zeroed {from}..{e}"));
            }
            // The file cut somewhere past its flushed length.
            _ => {
                let cut = then.len()
                    + rng.below((now.len().saturating_sub(then.len()) + 1) as u64) as usize;
                bytes.truncate(cut.min(bytes.len()));
                done.push(format!("{name}: cut at {cut} of {}", now.len()));
            }
        }
        std::fs::write(path, &bytes).unwrap();
    }
    if done.is_empty() {
        "nothing written after the last flush".to_owned()
    } else {
        done.join("; ")
    }
}

/// Damages flushed bytes of the largest file: a zeroed or scrambled block,
/// or the file cut short.
fn damage_old(rng: &mut Rng, dir: &Path) -> String {
    let files = snapshot(dir);
    let Some((path, bytes)) = files.iter().max_by_key(|(_, b)| b.len()) else {
        return "no files".to_owned();
    };
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut bytes = bytes.clone();
    if bytes.is_empty() {
        return format!("{name}: empty");
    }
    let what = match rng.below(3) {
        0 => {
            let len = 4096.min(bytes.len());
            let at = rng.below((bytes.len() - len + 1) as u64) as usize;
            bytes[at..at + len].fill(0);
            format!("{name}: zeroed {at}+{len}")
        }
        1 => {
            let len = 512.min(bytes.len());
            let at = rng.below((bytes.len() - len + 1) as u64) as usize;
            for b in &mut bytes[at..at + len] {
                *b = rng.next() as u8;
            }
            format!("{name}: scrambled {at}+{len}")
        }
        _ => {
            let cut = rng.below(bytes.len() as u64) as usize;
            bytes.truncate(cut);
            format!("{name}: cut at {cut}")
        }
    };
    std::fs::write(path, &bytes).unwrap();
    what
}

/// Publishes `n` numbered messages at `qos`, waits for each
/// acknowledgement (completing QoS 2 with PUBREL); returns the payloads.
fn publish_acked(c: &mut RawClient, round: usize, qos: u8, first: u16, n: u16) -> Vec<String> {
    let mut acked = Vec::new();
    for pkid in first..first + n {
        let payload = format!("r{round}q{qos}n{pkid}");
        c.send(&raw::publish(
            "pl/t",
            payload.as_bytes(),
            qos,
            false,
            false,
            Some(pkid),
        ));
        let ack = c.read_packet(wait()).expect("an acknowledgement");
        let kind = if qos == 1 { 4 } else { 5 };
        assert_eq!(raw::parse_ack(&ack), Some((kind, pkid)), "{payload}");
        acked.push(payload);
        if qos == 2 {
            c.send(&raw::pubrel(pkid));
            let comp = c.read_packet(wait()).expect("PUBCOMP");
            assert_eq!(raw::parse_ack(&comp), Some((7, pkid)));
        }
    }
    acked
}

/// One round's load; returns the acknowledged payloads and the store as it
/// was once the last acknowledgement arrived.
fn load(
    broker: &Broker,
    store: &Path,
    round: usize,
    sub: &str,
) -> (Vec<String>, BTreeMap<PathBuf, Vec<u8>>) {
    let addr = broker.addr();
    let (mut s, _) = connect(addr, sub, false);
    assert_eq!(raw_subscribe(&mut s, 1, &[("pl/#", 2)]), vec![2]);
    s.send(&raw::disconnect());
    assert!(s.expect_closed(wait()));
    let (mut p, _) = connect(addr, &format!("pl-pub-{round}"), true);
    let mut acked = publish_acked(&mut p, round, 1, 1, ACKED_PER_QOS);
    acked.extend(publish_acked(&mut p, round, 2, 100, ACKED_PER_QOS));
    let flushed = snapshot(store);
    for pkid in 200..200 + UNACKED {
        let payload = format!("r{round}q2n{pkid}");
        p.send(&raw::publish(
            "pl/t",
            payload.as_bytes(),
            2,
            false,
            false,
            Some(pkid),
        ));
    }
    (acked, flushed)
}

/// After the restart: every acknowledged payload arrives, no QoS 2
/// payload twice.
fn check_delivered(broker: &Broker, round: usize, sub: &str, acked: &[String], damage: &str) {
    let (mut c, present) = connect(broker.addr(), sub, false);
    assert!(
        present,
        "round {round} ({damage}): session lost\n{}",
        broker.log()
    );
    let mut missing: BTreeSet<&str> = acked.iter().map(String::as_str).collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    while !missing.is_empty() {
        assert!(
            Instant::now() < deadline,
            "round {round} ({damage}): acknowledged but lost: {missing:?}\n{}",
            broker.log()
        );
        for m in collect_within(&mut c, 1, wait()) {
            let text = String::from_utf8(m.payload).unwrap();
            missing.remove(text.as_str());
            *seen.entry(text).or_default() += 1;
        }
    }
    // Unacknowledged ones may follow; none may come twice at QoS 2.
    while let Some(p) = c.read_packet(scaled(Duration::from_millis(100))) {
        if let Some(m) = raw::parse_publish(&p) {
            match (m.qos, m.pkid) {
                (1, Some(id)) => c.send(&raw::puback(id)),
                (2, Some(id)) => c.send(&raw::pubrec(id)),
                _ => {}
            }
            *seen
                .entry(String::from_utf8(m.payload).unwrap())
                .or_default() += 1;
        } else if let Some((6, id)) = raw::parse_ack(&p) {
            c.send(&raw::pubcomp(id));
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "round {round} ({damage}): delivered twice: {twice:?}"
    );
    c.send(&raw::disconnect());
}

/// The broker serves: a message comes back, and the store takes a message
/// for an offline persistent session (in sync mode its PUBACK waits for
/// the flush: a store that cannot write would hold it).
fn check_serving(broker: &Broker, round: usize, damage: &str) {
    let (mut s, _) = connect(broker.addr(), &format!("pl-after-{round}"), false);
    assert_eq!(raw_subscribe(&mut s, 1, &[("after/t", 1)]), vec![1]);
    s.send(&raw::disconnect());
    assert!(s.expect_closed(wait()));
    let (mut p, _) = connect(broker.addr(), &format!("pl-after-pub-{round}"), true);
    p.send(&raw::publish(
        "after/t",
        b"stored",
        1,
        false,
        false,
        Some(9),
    ));
    let ack = p.read_packet(wait());
    assert_eq!(
        ack.as_deref().and_then(raw::parse_ack),
        Some((4, 9)),
        "round {round} ({damage}): the store takes new messages\n{}",
        broker.log()
    );
    let (mut c, _) = connect(broker.addr(), &format!("pl-probe-{round}"), true);
    assert_eq!(raw_subscribe(&mut c, 1, &[("probe/t", 1)]), vec![1]);
    let (mut p, _) = connect(broker.addr(), &format!("pl-probe-pub-{round}"), true);
    common::flow::publish(&mut p, "probe/t", b"alive", 1, false, 1);
    let got = collect_within(&mut c, 1, wait());
    assert_eq!(got[0].payload, b"alive", "round {round} ({damage})");
}

#[test]
fn sync_mode_loses_nothing_acknowledged_to_a_power_cut() {
    let seed = std::env::var("EDGEMQ_POWER_LOSS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let rounds = rounds();
    eprintln!("power loss: {rounds} rounds, EDGEMQ_POWER_LOSS_SEED={seed}");
    let mut rng = Rng(seed);
    let started = Instant::now();
    // On a RAM filesystem where there is one: its fsyncs cost nothing, so
    // 200 rounds stay short; the damage is done to the files all the same.
    let ram = tempfile::tempdir_in("/dev/shm").ok();
    let mut config = "persistence_sync true\nmax_queued_messages 1000\n".to_owned();
    if let Some(ram) = &ram {
        config.push_str(&format!(
            "persistence_location {}/data\n",
            ram.path().display()
        ));
    }
    let mut broker = Broker::start(&config);
    let store = ram
        .as_ref()
        .map_or_else(|| broker.data_dir(), |r| r.path().join("data"));
    let (mut tails, mut olds, mut moved_aside, mut salvaged, mut sled_panics) = (0, 0, 0, 0, 0);
    for round in 0..rounds {
        let sub = format!("pl-sub-{round}");
        let (acked, flushed) = load(&broker, &store, round, &sub);
        // Let some of the unacknowledged writes reach the files.
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        broker.kill9();
        let old = rng.below(5) == 0;
        let damage = if old {
            olds += 1;
            damage_old(&mut rng, &store)
        } else {
            tails += 1;
            damage_tail(&mut rng, &flushed, &store)
        };
        eprintln!(
            "round {round}: {}: {damage}",
            if old { "old" } else { "tail" }
        );
        if old {
            // A store cut short of pages sled's snapshot names makes sled
            // panic while it opens: one crash, and the next start moves
            // it aside (src/store/open.rs).
            if broker.restart_supervised() {
                sled_panics += 1;
                assert!(
                    broker.log().contains("panicked inside sled"),
                    "round {round}: started again after a panic, but not for sled's:\n{}",
                    broker.log()
                );
            }
            if broker.log().contains("the store had damaged pages") {
                salvaged += 1;
            } else if broker.log().contains("moved the store aside") {
                moved_aside += 1;
            }
            check_serving(&broker, round, &damage);
        } else {
            broker.restart();
            check_delivered(&broker, round, &sub, &acked, &damage);
            check_serving(&broker, round, &damage);
        }
    }
    eprintln!(
        "power loss: {rounds} rounds in {:?}: {tails} tail damages (nothing acknowledged lost), {olds} old damages ({moved_aside} stores moved aside, {salvaged} salvaged, {sled_panics} after one panic inside sled)",
        started.elapsed()
    );
}

//! Recovery at scale (compare.sh --recovery): many persistent sessions,
//! each with a few subscriptions and a full queue of QoS 1 messages,
//! across a broker restart. Two phases, the restart between them made by
//! the script:
//!
//! - `setup`: every session connects with clean session 0, subscribes to
//!   its topics and leaves; then a publisher sends each session `queued`
//!   stamped QoS 1 messages round its topics, each acknowledged.
//! - `drain`: from the broker's process start (`--started-unix-ns`), the
//!   time to the first CONNACK, its RSS a second later (before any session
//!   returns), then every session reconnects and reads its queue: the time
//!   until the last queue is empty, lost and duplicated messages.
//!
//! Session ids are fixed (`recovery-N`), not per run: the drain is a
//! second process.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argh::FromArgs;

use crate::client::{is_timeout, Client};
use crate::payload::{Stamp, STAMP_LEN};
use crate::report::{self, Json};
use crate::tracker::{Counts, Tracker};
use crate::wire::{self, Incoming, PublishTemplate};
use crate::Common;

/// Client threads of each phase: enough to keep a broker's single event
/// loop busy on 2 cores without the generator taking them.
const THREADS: usize = 8;

/// How long a returning session waits for the rest of its queue; once
/// EMPTY_RUN sessions in a row got nothing (a broker that kept no
/// queues), only SHORT_QUIET, so the run ends in minutes, not hours.
const QUIET: Duration = Duration::from_secs(2);
const SHORT_QUIET: Duration = Duration::from_millis(100);
const EMPTY_RUN: u64 = 50;

/// persistent sessions with queued messages across a restart
#[derive(FromArgs)]
#[argh(subcommand, name = "recovery")]
pub struct Args {
    /// setup (before the restart) or drain (after it)
    #[argh(positional)]
    phase: String,
    /// persistent sessions (default 10000)
    #[argh(option, default = "10_000")]
    sessions: usize,
    /// subscriptions per session (default 3)
    #[argh(option, default = "3")]
    subscriptions: usize,
    /// queued QoS 1 messages for each session (default 10)
    #[argh(option, default = "10")]
    queued: u64,
    /// payload bytes, at least 20 (default 64)
    #[argh(option, default = "64")]
    size: usize,
    /// drain: when the broker's process was started (ns since the epoch)
    #[argh(option)]
    started_unix_ns: Option<u128>,
}

fn session_id(i: usize) -> String {
    format!("recovery-{i}")
}

fn topic(i: usize, j: usize) -> String {
    format!("recovery/{i}/{j}")
}

/// Runs `each` for sessions `0..n` on THREADS threads, each taking every
/// THREADS-th session; returns their results.
fn spread<T: Send>(n: usize, each: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let each = &each;
    thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| s.spawn(move || (t..n).step_by(THREADS).map(each).collect::<Vec<T>>()))
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect()
    })
}

pub fn run(common: &Common, args: &Args) -> std::io::Result<String> {
    match args.phase.as_str() {
        "setup" => setup(common, args),
        "drain" => drain(common, args),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "recovery: the phase is setup or drain",
        )),
    }
}

fn setup(common: &Common, args: &Args) -> std::io::Result<String> {
    let started = Instant::now();
    let subscribed = spread(args.sessions, |i| -> std::io::Result<()> {
        let mut c = Client::connect_with(common, &session_id(i), 4096, false)?;
        for j in 0..args.subscriptions {
            c.subscribe(&topic(i, j), 1)?;
        }
        c.stream.write_all(&[0xE0, 0])
    });
    let failed = subscribed.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = subscribed.into_iter().find(|r| r.is_err()) {
        return Err(std::io::Error::new(
            e.kind(),
            format!("{failed} sessions failed to subscribe: {e}"),
        ));
    }
    let subscribe_s = started.elapsed().as_secs_f64();
    let published = spread(args.sessions, |i| publish_queue(common, args, i));
    let publish_failed = published.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = published.into_iter().find(|r| r.is_err()) {
        return Err(std::io::Error::new(
            e.kind(),
            format!("{publish_failed} queues not published: {e}"),
        ));
    }
    let mut json = Json::new("recovery-setup", &common.label);
    json.int("sessions", args.sessions as u64);
    json.int("subscriptions", args.subscriptions as u64);
    json.int("queued", args.queued);
    json.float("subscribe_s", subscribe_s);
    json.float("setup_s", started.elapsed().as_secs_f64());
    if let Some(kib) = common.pid.and_then(report::rss_kib) {
        json.int("rss_before_restart_kib", kib);
    }
    Ok(json.finish())
}

/// One connection per session's queue: `queued` QoS 1 messages round its
/// topics, written at once, then every PUBACK awaited.
fn publish_queue(common: &Common, args: &Args, i: usize) -> std::io::Result<()> {
    let id = format!("recovery-pub-{}", i % THREADS);
    let mut c = Client::connect_with(common, &id, 4096, true)?;
    let v5 = c.protocol.is_v5();
    let mut out = Vec::new();
    for k in 0..args.queued {
        let j = usize::try_from(k).unwrap_or(0) % args.subscriptions.max(1);
        let mut t = PublishTemplate::new(&topic(i, j), 1, args.size.max(STAMP_LEN), v5);
        let stamp = Stamp {
            publisher: u32::try_from(i).unwrap_or(u32::MAX),
            seq: k,
            sent_ns: 0,
        };
        if let Some(payload) = t.bytes.get_mut(t.payload_at..) {
            stamp.write(payload);
        }
        if let Some(at) = t.packet_id_at {
            let id = u16::try_from(k + 1).unwrap_or(u16::MAX).to_be_bytes();
            if let Some(slot) = t.bytes.get_mut(at..at + 2) {
                slot.copy_from_slice(&id);
            }
        }
        out.extend_from_slice(&t.bytes);
    }
    c.stream.write_all(&out)?;
    let mut acked = 0;
    c.stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    while acked < args.queued {
        if c.read_more()? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        c.drain(|p| {
            if let Incoming::Ack { kind: 4, .. } = p {
                acked += 1;
            }
        })?;
    }
    c.stream.write_all(&[0xE0, 0])
}

fn drain(common: &Common, args: &Args) -> std::io::Result<String> {
    let mut json = Json::new("recovery", &common.label);
    json.int("sessions", args.sessions as u64);
    json.int("subscriptions", args.subscriptions as u64);
    json.int("queued", args.queued);
    // The first CONNACK: a clean probe, tried every millisecond.
    loop {
        if Instant::now() > common.deadline {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        if let Ok(c) = Client::connect_with(common, "recovery-probe", 4096, true) {
            drop(c);
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    if let Some(start) = args.started_unix_ns {
        json.float(
            "first_connack_ms",
            now_ns.saturating_sub(start) as f64 / 1e6,
        );
    }
    thread::sleep(Duration::from_secs(1));
    if let Some(kib) = common.pid.and_then(report::rss_kib) {
        json.int("rss_after_restart_kib", kib);
    }
    let started = Instant::now();
    let empty_run = AtomicU64::new(0);
    let results = spread(args.sessions, |i| {
        let quiet = if empty_run.load(Ordering::Relaxed) >= EMPTY_RUN {
            SHORT_QUIET
        } else {
            QUIET
        };
        let counts = drain_one(common, args, i, quiet);
        match &counts {
            Ok(c) if c.distinct > 0 => empty_run.store(0, Ordering::Relaxed),
            _ => {
                empty_run.fetch_add(1, Ordering::Relaxed);
            }
        }
        counts
    });
    let drain_s = started.elapsed().as_secs_f64();
    let mut total = Counts::default();
    let mut failed = 0u64;
    for r in results {
        match r {
            Ok(c) => total.add(c),
            Err(_) => {
                failed += 1;
                total.lost += args.queued;
            }
        }
    }
    json.float("drain_s", drain_s);
    json.int("received", total.distinct);
    json.int("lost", total.lost);
    json.int("duplicated", total.duplicated);
    json.int("sessions_failed", failed);
    if let Some(kib) = common.pid.and_then(|p| report::status_kib(p, "VmHWM")) {
        json.int("rss_peak_kib", kib);
    }
    Ok(json.finish())
}

/// One session back: its queue read (and acknowledged) until all of it
/// is in, or `quiet` passed in silence. A duplicate that came in the same
/// reads is counted; the session leaves once its queue is whole.
fn drain_one(common: &Common, args: &Args, i: usize, quiet: Duration) -> std::io::Result<Counts> {
    let mut c = Client::connect_with(common, &session_id(i), 4096, false)?;
    let mut tracker = Tracker::new(1, args.queued);
    let mut replies = Vec::new();
    c.stream.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut last = Instant::now();
    loop {
        replies.clear();
        c.drain(|p| {
            if let Incoming::Publish {
                qos,
                packet_id,
                payload,
            } = p
            {
                if qos == 1 {
                    wire::put_ack(&mut replies, wire::PUBACK, packet_id);
                }
                match Stamp::read(payload) {
                    Some(s) if usize::try_from(s.publisher).is_ok_and(|p| p == i) => {
                        tracker.record(0, s.seq);
                    }
                    _ => tracker.foreign += 1,
                }
            }
        })?;
        if !replies.is_empty() {
            c.stream.write_all(&replies)?;
        }
        if tracker.distinct() >= args.queued || last.elapsed() > quiet {
            break;
        }
        match c.read_more() {
            Ok(0) => break,
            Ok(_) => last = Instant::now(),
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let _ = c.stream.write_all(&[0xE0, 0]);
    Ok(tracker.counts(&[args.queued]))
}

//! The machinery fan-in, fan-out and latency share: connect P publishers
//! and S subscribers, subscribe, release everyone at once, join, and sum
//! what the subscribers saw against what the publishers sent (against what
//! they sent once, for the members of a shared subscription).

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{Client, READ_BUFFER};
use crate::publisher::{self, PublisherConfig, PublisherResult};
use crate::report::{cpu_seconds, CpuMeter, Json, PeakRss};
use crate::subscriber::{self, SubscriberConfig, SubscriberResult};
use crate::tracker::{Counts, Tracker};
use crate::Common;

pub struct Flow {
    pub publishers: Vec<PublisherConfig>,
    pub subscribers: usize,
    pub filter: String,
    pub sub_qos: u8,
    /// Subscribers keep a persistent session (clean session 0).
    pub persistent: bool,
    /// The subscribers are members of one shared subscription (`filter`
    /// names it): each message is owed to the group once, not to each.
    pub shared: bool,
    pub idle: Duration,
    pub latency: bool,
    pub warmup: u64,
}

pub struct Outcome {
    pub counts: Counts,
    /// From the release of the publishers to the last message received.
    pub elapsed_s: f64,
    /// The slowest publisher's time to send (and have acknowledged) all.
    pub publish_s: f64,
    pub sent: u64,
    /// Messages each subscriber received, in connection order.
    pub per_subscriber: Vec<u64>,
    pub latencies_ns: Vec<u64>,
    pub errors: Vec<String>,
    /// The broker's CPU seconds over the run (with `--pid`).
    pub broker_cpu_s: Option<f64>,
}

pub fn run(common: &Common, flow: &Flow, json: &mut Json) -> std::io::Result<Outcome> {
    let (subs, pubs) = connect_all(common, flow)?;
    let per_publisher = flow.publishers.iter().map(|p| p.count).max().unwrap_or(0);
    let sub_cfg = SubscriberConfig {
        publishers: flow.publishers.len(),
        per_publisher,
        idle: flow.idle,
        deadline: common.deadline,
        latency: flow.latency,
        warmup: flow.warmup,
    };
    let peak = PeakRss::start(common.pid);
    let cpu = CpuMeter::start(common.pid);
    let started = Instant::now();
    let (pub_results, sub_results) = run_threads(common, flow, subs, pubs, &sub_cfg);
    let wall = started.elapsed().as_secs_f64();
    cpu.stop(wall, json);
    let broker_now = common.pid.and_then(|p| cpu_seconds(&p.to_string()));
    peak.stop(json);
    let mut outcome = sum_up(&pub_results, sub_results, started, flow.shared);
    if let (Some(a), Some(b)) = (cpu.broker_start(), broker_now) {
        outcome.broker_cpu_s = Some(b - a);
    }
    Ok(outcome)
}

/// Connects the subscribers (and subscribes them), then the publishers.
fn connect_all(common: &Common, flow: &Flow) -> std::io::Result<(Vec<Client>, Vec<Client>)> {
    let mut subs = Vec::with_capacity(flow.subscribers);
    for i in 0..flow.subscribers {
        let id = common.client_id("sub", i);
        let mut client = Client::connect_with(common, &id, READ_BUFFER, !flow.persistent)?;
        client.subscribe(&flow.filter, flow.sub_qos)?;
        subs.push(client);
    }
    let mut pubs = Vec::with_capacity(flow.publishers.len());
    for (i, _) in flow.publishers.iter().enumerate() {
        pubs.push(Client::open(common, &common.client_id("pub", i))?);
    }
    Ok((subs, pubs))
}

/// One thread per client, released at once; the subscribers are told to
/// stop once every publisher is done. A panicked subscriber is `None`.
fn run_threads(
    common: &Common,
    flow: &Flow,
    subs: Vec<Client>,
    pubs: Vec<Client>,
    sub_cfg: &SubscriberConfig,
) -> (Vec<PublisherResult>, Vec<Option<SubscriberResult>>) {
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let sub_threads: Vec<_> = subs
            .into_iter()
            .map(|c| {
                let done = &done;
                scope.spawn(move || subscriber::run(c, sub_cfg, done, common.epoch))
            })
            .collect();
        let pub_threads: Vec<_> = pubs
            .into_iter()
            .zip(&flow.publishers)
            .map(|(c, cfg)| scope.spawn(move || publisher::run(c, cfg, common.epoch)))
            .collect();
        let pub_results: Vec<PublisherResult> = pub_threads
            .into_iter()
            .map(|t| t.join().unwrap_or_default())
            .collect();
        done.store(true, Ordering::Release);
        let sub_results: Vec<Option<SubscriberResult>> =
            sub_threads.into_iter().map(|t| t.join().ok()).collect();
        (pub_results, sub_results)
    })
}

/// What the subscribers saw, summed against what the publishers sent; the
/// members of a shared group merged into one tracker first.
fn sum_up(
    pub_results: &[PublisherResult],
    sub_results: Vec<Option<SubscriberResult>>,
    started: Instant,
    shared: bool,
) -> Outcome {
    let sent_per: Vec<u64> = pub_results.iter().map(|p| p.sent).collect();
    let mut outcome = Outcome {
        counts: Counts::default(),
        elapsed_s: 0.0,
        publish_s: pub_results
            .iter()
            .map(|p| p.elapsed.as_secs_f64())
            .fold(0.0, f64::max),
        sent: sent_per.iter().sum(),
        per_subscriber: Vec::new(),
        latencies_ns: Vec::new(),
        errors: pub_results.iter().filter_map(|p| p.error.clone()).collect(),
        broker_cpu_s: None,
    };
    let mut last_rx = None::<Instant>;
    let mut group: Option<Tracker> = None;
    for sub in sub_results {
        let Some(mut sub) = sub else {
            outcome.errors.push("a subscriber thread panicked".into());
            outcome.per_subscriber.push(0);
            continue;
        };
        let counts = sub.tracker.counts(&sent_per);
        outcome.per_subscriber.push(counts.received);
        if sub.tracker.foreign > 0 {
            outcome
                .errors
                .push(format!("{} foreign messages", sub.tracker.foreign));
        }
        if !shared {
            outcome.counts.add(counts);
        } else if let Some(group) = group.as_mut() {
            group.merge(&sub.tracker);
        } else {
            group = Some(sub.tracker);
        }
        last_rx = last_rx.max(sub.last_rx);
        outcome.latencies_ns.append(&mut sub.latencies_ns);
        if let Some(e) = sub.error {
            outcome.errors.push(e);
        }
    }
    if let Some(group) = group {
        outcome.counts = group.counts(&sent_per);
    } else if shared {
        // No member reported: everything sent is lost.
        outcome.counts.lost = outcome.sent;
    }
    outcome.elapsed_s = last_rx.map_or(0.0, |t| t.duration_since(started).as_secs_f64());
    outcome
}

/// The counters every message scenario prints.
pub fn put_counts(json: &mut Json, outcome: &Outcome) {
    json.int("sent", outcome.sent);
    json.int("received", outcome.counts.received);
    json.int("lost", outcome.counts.lost);
    json.int("duplicated", outcome.counts.duplicated);
    json.int("out_of_order", outcome.counts.out_of_order);
    json.float("elapsed_s", outcome.elapsed_s);
    json.float("publish_s", outcome.publish_s);
    json.int("errors", outcome.errors.len() as u64);
    if let Some(first) = outcome.errors.first() {
        json.text("first_error", first);
    }
}

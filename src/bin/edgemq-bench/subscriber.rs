//! One subscriber thread: reads in bulk, acknowledges QoS 1/2 deliveries
//! with one `write` per read, tracks every publisher's sequence and,
//! optionally, each message's latency.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::client::{is_timeout, Client};
use crate::payload::Stamp;
use crate::tracker::Tracker;
use crate::wire::{self, Incoming};

/// How often a waiting subscriber looks at the clock and the done flag.
const POLL: Duration = Duration::from_millis(100);

pub struct SubscriberConfig {
    pub publishers: usize,
    pub per_publisher: u64,
    /// Stop once the publishers are done and nothing arrived for this long.
    pub idle: Duration,
    pub deadline: Instant,
    /// Record each message's latency (ns), skipping the first `warmup`.
    pub latency: bool,
    pub warmup: u64,
}

pub struct SubscriberResult {
    pub tracker: Tracker,
    pub last_rx: Option<Instant>,
    pub latencies_ns: Vec<u64>,
    pub error: Option<String>,
}

pub fn run(
    mut client: Client,
    cfg: &SubscriberConfig,
    publishers_done: &AtomicBool,
    epoch: Instant,
) -> SubscriberResult {
    let mut result = SubscriberResult {
        tracker: Tracker::new(cfg.publishers, cfg.per_publisher),
        last_rx: None,
        latencies_ns: Vec::new(),
        error: None,
    };
    if cfg.latency {
        let expected = (cfg.publishers as u64).saturating_mul(cfg.per_publisher);
        result.latencies_ns = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    }
    if let Err(e) = receive(&mut client, cfg, publishers_done, epoch, &mut result) {
        result.error = Some(e.to_string());
    }
    result
}

fn receive(
    client: &mut Client,
    cfg: &SubscriberConfig,
    publishers_done: &AtomicBool,
    epoch: Instant,
    result: &mut SubscriberResult,
) -> std::io::Result<()> {
    let expected = (cfg.publishers as u64).saturating_mul(cfg.per_publisher);
    let mut distinct = 0u64;
    let mut seen = 0u64;
    let mut replies = Vec::new();
    let mut last_activity = Instant::now();
    client.stream.set_read_timeout(Some(POLL))?;
    while distinct < expected {
        let now = Instant::now();
        if now > cfg.deadline {
            break;
        }
        if publishers_done.load(Ordering::Acquire) && now.duration_since(last_activity) > cfg.idle {
            break;
        }
        match client.read_more() {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return Err(e),
        }
        let rx = Instant::now();
        last_activity = rx;
        let rx_ns = u64::try_from(rx.duration_since(epoch).as_nanos()).unwrap_or(u64::MAX);
        replies.clear();
        let tracker = &mut result.tracker;
        let latencies = &mut result.latencies_ns;
        let mut got = false;
        client.drain(|packet| match packet {
            Incoming::Publish {
                qos,
                packet_id,
                payload,
            } => {
                got = true;
                match qos {
                    1 => wire::put_ack(&mut replies, wire::PUBACK, packet_id),
                    2 => wire::put_ack(&mut replies, wire::PUBREC, packet_id),
                    _ => {}
                }
                let Some(stamp) = Stamp::read(payload) else {
                    tracker.foreign += 1;
                    return;
                };
                tracker.record(stamp.publisher, stamp.seq);
                seen += 1;
                if cfg.latency && seen > cfg.warmup {
                    latencies.push(rx_ns.saturating_sub(stamp.sent_ns));
                }
            }
            Incoming::Ack { kind: 6, packet_id } => {
                wire::put_ack(&mut replies, wire::PUBCOMP, packet_id);
            }
            _ => {}
        })?;
        if got {
            result.last_rx = Some(rx);
            distinct = result.tracker.distinct();
        }
        if !replies.is_empty() {
            client.stream.write_all(&replies)?;
        }
    }
    Ok(())
}

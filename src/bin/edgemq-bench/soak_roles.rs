//! The soak's clients that come and go (tests/soak/soak.sh): persistent
//! sessions that go offline and come back, the cloud-side subscriber that
//! rides out the cloud's restarts, connection churn and retained checks.
//!
//! Each runs on its own thread with its own tracker; none of them writes
//! to another's state. Every loop is bounded by a deadline.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::client::{is_timeout, Client};
use crate::payload::Stamp;
use crate::tracker::Tracker;
use crate::wire::{self, Incoming};
use crate::Common;

/// How often a reading role looks at the clock and its flags.
const POLL: Duration = Duration::from_millis(100);

/// Read buffer of a soak client: a few hundred small messages.
const BUFFER: usize = 64 * 1024;

/// A tiny deterministic generator (xorshift64): repeatable runs, no
/// dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A value in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo + 1)
    }
}

/// Reads until `until`, `stop` says so or the connection fails; every
/// PUBLISH is acknowledged and its stamp recorded (those read with the
/// CONNACK first). Returns whether the connection is still usable.
fn receive_until(
    client: &mut Client,
    tracker: &mut Tracker,
    until: Instant,
    stop: &mut dyn FnMut(&Tracker) -> bool,
) -> bool {
    let mut replies = Vec::new();
    if client.stream.set_read_timeout(Some(POLL)).is_err() || !handle(client, tracker, &mut replies)
    {
        return false;
    }
    while Instant::now() < until && !stop(tracker) {
        match client.read_more() {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if is_timeout(&e) => continue,
            Err(_) => return false,
        }
        if !handle(client, tracker, &mut replies) {
            return false;
        }
    }
    true
}

/// Records and acknowledges every whole packet in the client's buffer.
fn handle(client: &mut Client, tracker: &mut Tracker, replies: &mut Vec<u8>) -> bool {
    replies.clear();
    let drained = client.drain(|packet| match packet {
        Incoming::Publish {
            qos,
            packet_id,
            payload,
        } => {
            match qos {
                1 => wire::put_ack(replies, wire::PUBACK, packet_id),
                2 => wire::put_ack(replies, wire::PUBREC, packet_id),
                _ => {}
            }
            match Stamp::read(payload) {
                Some(s) => tracker.record(s.publisher, s.seq),
                None => tracker.foreign += 1,
            }
        }
        Incoming::Ack { kind: 6, packet_id } => {
            wire::put_ack(replies, wire::PUBCOMP, packet_id);
        }
        _ => {}
    });
    drained.is_ok() && (replies.is_empty() || client.stream.write_all(replies).is_ok())
}

/// Ends a connection: politely (DISCONNECT) or by dropping the socket,
/// as a device losing power would.
fn hang_up(mut client: Client, polite: bool) {
    if polite {
        let _ = client.stream.write_all(&[0xE0, 0]);
    }
}

/// What a role that tracks messages reports.
#[derive(Default)]
pub struct RoleResult {
    pub tracker: Option<Tracker>,
    pub connects: u64,
    pub errors: u64,
}

/// When the publishers are done and how many each stream expects; the
/// roles' last phase reads until they have all of it or `grace` passes.
pub struct Finish<'a> {
    pub publishers_done: &'a AtomicBool,
    pub expected: &'a AtomicU64,
    /// The most a stream can carry (what its publisher plans to send).
    pub planned: u64,
    pub grace_deadline: Instant,
}

impl Finish<'_> {
    fn done(&self) -> bool {
        self.publishers_done.load(Ordering::Acquire)
    }

    fn all_in(&self, tracker: &Tracker) -> bool {
        self.done() && tracker.distinct() >= self.expected.load(Ordering::Acquire)
    }
}

/// A persistent session (clean session 0, subscribed beforehand) that
/// cycles: online for 3-15 s, offline for 2-8 s (half the time without a
/// DISCONNECT), until the publishers are done; then it stays online until
/// everything sent to it has arrived.
pub fn persistent_session(common: &Common, id: &str, seed: u64, finish: &Finish<'_>) -> RoleResult {
    let mut rng = Rng::new(seed);
    let mut result = RoleResult::default();
    let mut tracker = Tracker::new(1, finish.planned);
    let mut stop = |t: &Tracker| finish.all_in(t);
    while Instant::now() < finish.grace_deadline && !finish.all_in(&tracker) {
        let mut client = match Client::connect_with(common, id, BUFFER, false) {
            Ok(c) => c,
            Err(_) => {
                result.errors += 1;
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        result.connects += 1;
        let online = if finish.done() {
            finish.grace_deadline
        } else {
            Instant::now() + Duration::from_secs(rng.between(3, 15))
        };
        let usable = receive_until(&mut client, &mut tracker, online, &mut stop);
        if !usable {
            result.errors += 1;
        }
        hang_up(client, rng.between(0, 1) == 0);
        if !finish.done() {
            std::thread::sleep(Duration::from_secs(rng.between(2, 8)));
        }
    }
    result.tracker = Some(tracker);
    result
}

/// The cloud's subscriber: a persistent session at the cloud broker
/// (subscribed by the caller), reconnecting (every 300 ms) whenever the cloud goes away.
pub fn cloud_subscriber(common: &Common, finish: &Finish<'_>) -> RoleResult {
    let mut result = RoleResult::default();
    let mut tracker = Tracker::new(1, finish.planned);
    let id = common.client_id("cloud", 0);
    let mut stop = |t: &Tracker| finish.all_in(t);
    while Instant::now() < finish.grace_deadline && !finish.all_in(&tracker) {
        // Subscribed once beforehand: the cloud keeps the session across
        // its restarts. Subscribing again here would lose the queue the
        // cloud sends between the CONNACK and the SUBACK.
        let Ok(mut client) = Client::connect_with(common, &id, BUFFER, false) else {
            std::thread::sleep(Duration::from_millis(300));
            continue;
        };
        result.connects += 1;
        if !receive_until(&mut client, &mut tracker, finish.grace_deadline, &mut stop) {
            result.errors += 1;
        }
        hang_up(client, true);
    }
    result.tracker = Some(tracker);
    result
}

/// Connection churn: clean clients from a pool of 50 ids connect,
/// subscribe, sometimes take over a twin still connected, and leave
/// (half of them without a DISCONNECT), `per_s` a second until `until`.
/// Every tenth one checks the retained set: `retained` messages under
/// `soak/retained/#`.
pub fn churn(common: &Common, per_s: u64, retained: u64, until: Instant) -> ChurnResult {
    let mut rng = Rng::new(7);
    let mut result = ChurnResult::default();
    let mut held: Option<Client> = None;
    let started = Instant::now();
    let mut n = 0u64;
    while Instant::now() < until {
        let due = started + Duration::from_secs_f64(n as f64 / per_s.max(1) as f64);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        n += 1;
        let id = common.client_id("churn", rng.between(0, 49) as usize);
        let mut client = match Client::connect_with(common, &id, BUFFER, true) {
            Ok(c) => c,
            Err(_) => {
                result.errors += 1;
                continue;
            }
        };
        result.connects += 1;
        if n.is_multiple_of(10) && n > 20 * per_s {
            match retained_count(&mut client) {
                // Live updates may follow the retained ones: at least all of them.
                Some(count) if count >= retained => result.retained_checks += 1,
                _ => result.retained_wrong += 1,
            }
        } else if client.subscribe("soak/churn/#", 1).is_err() {
            result.errors += 1;
        }
        // Keep one in three open until the next one: overlapping
        // connections, and a takeover when the next draws the same id.
        let polite = rng.between(0, 1) == 0;
        if rng.between(0, 2) == 0 {
            if let Some(old) = held.replace(client) {
                hang_up(old, polite);
            }
        } else {
            hang_up(client, polite);
        }
    }
    if let Some(old) = held {
        hang_up(old, true);
    }
    result
}

#[derive(Default)]
pub struct ChurnResult {
    pub connects: u64,
    pub errors: u64,
    pub retained_checks: u64,
    pub retained_wrong: u64,
}

/// Subscribes to the retained topics and counts what arrives within 2 s
/// (retained messages come at once, with the SUBACK).
fn retained_count(client: &mut Client) -> Option<u64> {
    client.subscribe("soak/retained/#", 0).ok()?;
    let mut count = 0u64;
    let until = Instant::now() + Duration::from_secs(2);
    client.stream.set_read_timeout(Some(POLL)).ok()?;
    let mut quiet = 0;
    // Those read with the SUBACK first.
    client
        .drain(|p| {
            if let Incoming::Publish { .. } = p {
                count += 1;
            }
        })
        .ok()?;
    while Instant::now() < until && quiet < 3 {
        match client.read_more() {
            Ok(0) => return None,
            Ok(_) => quiet = 0,
            Err(e) if is_timeout(&e) => {
                quiet += 1;
                continue;
            }
            Err(_) => return None,
        }
        client
            .drain(|p| {
                if let Incoming::Publish { .. } = p {
                    count += 1;
                }
            })
            .ok()?;
    }
    Some(count)
}

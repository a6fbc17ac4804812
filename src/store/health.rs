//! Whether the store is writing, as the writer thread sees it: counters
//! and the state of an outage, readable from the event loop (the SIGUSR1
//! report, the shutdown line), and the outage's log lines — one error line
//! when it starts, a summary per minute while it lasts, one line when the
//! store is back.
//!
//! A mutex, not atomics: 32-bit MIPS has no 64-bit atomics, and these
//! change once per flush or retry at most.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use log::{error, info, warn};

/// How often an ongoing outage is summarised.
const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct StoreCounters(Mutex<Status>);

/// A snapshot of the store's state.
#[derive(Debug, Default, Clone)]
pub struct Status {
    pub write_errors: u64,
    pub flushes: u64,
    /// Changes lost for good: batched mode, kept past its bound while the
    /// store failed.
    pub lost_changes: u64,
    /// Set while writes or flushes fail.
    pub outage: Option<Outage>,
    /// Bytes of writes applied or waiting since the last good flush.
    pub unflushed_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct Outage {
    pub since: Instant,
    pub last_error: String,
    /// Reopen-and-replay attempts so far.
    pub retries: u64,
}

impl StoreCounters {
    fn update<R>(&self, f: impl FnOnce(&mut Status) -> R) -> R {
        // A poisoned lock only means a panic elsewhere; the counts are fine.
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn status(&self) -> Status {
        self.update(|s| s.clone())
    }

    pub fn write_errors(&self) -> u64 {
        self.update(|s| s.write_errors)
    }

    pub fn flushes(&self) -> u64 {
        self.update(|s| s.flushes)
    }

    pub(super) fn note_flush(&self, unflushed_bytes: usize) {
        self.update(|s| {
            s.flushes += 1;
            s.unflushed_bytes = unflushed_bytes;
        });
    }

    pub(super) fn note_unflushed(&self, bytes: usize) {
        self.update(|s| s.unflushed_bytes = bytes);
    }

    /// A write or flush failed. Logs the error line when this starts an
    /// outage; later errors of the same outage go into the summaries.
    pub(super) fn note_failure(&self, now: Instant, what: &str, sync: bool) {
        let started = self.update(|s| {
            s.write_errors += 1;
            match &mut s.outage {
                Some(outage) => {
                    outage.last_error = what.to_owned();
                    false
                }
                None => {
                    s.outage = Some(Outage {
                        since: now,
                        last_error: what.to_owned(),
                        retries: 0,
                    });
                    true
                }
            }
        });
        if started {
            let consequence = if sync {
                "sync mode: acknowledgements of messages that must be stored are held, and publishers feeding the store paused, until it is back"
            } else {
                "batched mode: serving from memory until it is back"
            };
            error!("store failed: {what}: retrying; {consequence}");
        }
    }

    pub(super) fn note_retry(&self) {
        self.update(|s| {
            if let Some(outage) = &mut s.outage {
                outage.retries += 1;
            }
        });
    }

    pub(super) fn note_lost(&self, writes: u64) {
        self.update(|s| s.lost_changes += writes);
    }

    /// A flush succeeded after an outage: says so, with what it cost.
    pub(super) fn note_recovered(&self, now: Instant, replayed: usize, lost: u64) {
        let Some(outage) = self.update(|s| s.outage.take()) else {
            return;
        };
        let lasted = now.saturating_duration_since(outage.since).as_secs_f32();
        if lost == 0 {
            info!(
                "store is back after {lasted:.1}s ({} retries): {replayed} held changes written",
                outage.retries
            );
        } else {
            warn!(
                "store is back after {lasted:.1}s ({} retries): {replayed} held changes written, \
                 {lost} later changes lost (batched mode keeps at most half of persistence_cache_bytes \
                 while the store fails; a restart would not see them)",
                outage.retries
            );
        }
    }

    /// During an outage, a summary line once per [`SUMMARY_INTERVAL`].
    pub(super) fn summarise(&self, now: Instant, last: &mut Instant, waiting_batches: u64) {
        if now.saturating_duration_since(*last) < SUMMARY_INTERVAL {
            return;
        }
        let Some((outage, status)) =
            self.update(|s| s.outage.clone().map(|outage| (outage, s.clone())))
        else {
            return;
        };
        *last = now;
        error!(
            "store still failing after {:.0}s: {} retries, {} bytes of changes held in memory \
             ({waiting_batches} batches waiting), {} changes lost; last error: {}",
            now.saturating_duration_since(outage.since).as_secs_f32(),
            outage.retries,
            status.unflushed_bytes,
            status.lost_changes,
            outage.last_error
        );
    }
}

impl std::fmt::Display for Status {
    /// One line for the SIGUSR1 report.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outage {
            None => write!(f, "store ok")?,
            Some(outage) => write!(
                f,
                "store FAILING for {:.0}s ({} retries, last error: {})",
                outage.since.elapsed().as_secs_f32(),
                outage.retries,
                outage.last_error
            )?,
        }
        write!(
            f,
            ": {} flushes, {} write errors, {} bytes not yet flushed, {} changes lost",
            self.flushes, self.write_errors, self.unflushed_bytes, self.lost_changes
        )
    }
}

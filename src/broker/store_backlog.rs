//! Back-pressure from the store: the batches handed to the writer thread
//! and not heard back about yet, and the connections that wait for them to
//! drain.
//!
//! The writer's queue is unbounded so that the event loop never blocks on
//! it; this is its bound. A batch counts from the moment it is handed over
//! until the writer reports it durable or taken (applied for a later
//! flush, or kept in memory by a failing store in batched mode). While the
//! counted bytes are at or past half of `persistence_cache_bytes` — a slow
//! disk, or in sync mode a store that cannot write at all — connections
//! whose last packet made store ops ("feeders": publishers whose messages
//! must be stored, persistent sessions acknowledging) are not read. Others
//! (QoS 0, clean sessions) go on. When the backlog falls below the bound
//! the waiting connections are woken. Each feeder can add at most what one
//! read holds past the bound, since it is stopped mid-read.

use std::collections::VecDeque;

use std::time::Instant;

use log::info;

use super::connections::ConnId;
use super::stats::LogKind;
use super::Broker;

#[derive(Debug, Default)]
pub(super) struct StoreBacklog {
    /// Handed over and not yet reported: (batch, bytes), oldest first.
    batches: VecDeque<(u64, usize)>,
    bytes: usize,
    max_bytes: usize,
    /// Connections refused a read because of the backlog.
    waiting: Vec<ConnId>,
    /// The "behind" line was logged for this episode: say when it ends.
    said_behind: bool,
    /// Bridge links stopped reading for the backlog.
    bridges_waiting: bool,
    /// ... and it has drained since: the network layer wakes them.
    bridges_may_read: bool,
}

impl StoreBacklog {
    pub(super) fn new(max_bytes: usize) -> StoreBacklog {
        StoreBacklog {
            max_bytes,
            ..StoreBacklog::default()
        }
    }

    /// Whether this batch filled the backlog.
    pub(super) fn handed_over(&mut self, batch: u64, bytes: usize) -> bool {
        let was_full = self.is_full();
        self.batches.push_back((batch, bytes));
        self.bytes += bytes;
        !was_full && self.is_full()
    }

    /// The writer reported every batch up to `batch`.
    fn settle(&mut self, batch: u64) {
        while let Some(&(oldest, bytes)) = self.batches.front() {
            if oldest > batch {
                break;
            }
            self.batches.pop_front();
            self.bytes = self.bytes.saturating_sub(bytes);
        }
    }

    pub(super) fn is_full(&self) -> bool {
        self.bytes >= self.max_bytes
    }

    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(super) fn batches(&self) -> usize {
        self.batches.len()
    }
}

impl Broker {
    /// Every batch up to `batch` left the writer's queue without being
    /// durable yet (see `store::Event::Taken`): it no longer counts
    /// against the backlog, and acknowledges nothing. History chunks in
    /// it are in sled now (or, while the store fails, in the writer's
    /// memory): pages read them from there.
    pub fn handle_store_taken(&mut self, batch: u64) {
        self.settle_store_backlog(batch);
        self.release_history(batch);
    }

    /// Counts down the backlog; wakes the connections it held once it is
    /// below its bound.
    pub(super) fn settle_store_backlog(&mut self, batch: u64) {
        let Some(persistence) = self.persistence.as_mut() else {
            return;
        };
        let backlog = &mut persistence.backlog;
        let was_full = backlog.is_full();
        backlog.settle(batch);
        if backlog.is_full() {
            return;
        }
        if was_full && std::mem::take(&mut backlog.said_behind) {
            info!(
                "the store caught up ({} bytes of changes waiting): reading the connections that feed it again",
                backlog.bytes
            );
        }
        if std::mem::take(&mut backlog.bridges_waiting) {
            backlog.bridges_may_read = true;
        }
        for conn in std::mem::take(&mut backlog.waiting) {
            if let Some(connection) = self.connections.get_mut(conn) {
                connection.store_waiting = false;
            }
            self.wake(conn);
        }
    }

    /// Whether `conn` must wait for the store before it is read: its last
    /// packet made store ops and the backlog is at its bound.
    pub(super) fn waits_for_store(&self, conn: ConnId) -> bool {
        self.persistence
            .as_ref()
            .is_some_and(|p| p.backlog.is_full())
            && self.connections.get(conn).is_some_and(|c| c.feeds_store)
    }

    /// Remembers that `conn` was not read because of the backlog, so that
    /// it is woken when the backlog drains.
    pub(super) fn wait_for_store(&mut self, conn: ConnId) {
        let Some(persistence) = self.persistence.as_mut() else {
            return;
        };
        let Some(connection) = self.connections.get_mut(conn) else {
            return;
        };
        if connection.store_waiting {
            return;
        }
        connection.store_waiting = true;
        persistence.backlog.waiting.push(conn);
    }

    /// A batch filled the backlog: said once per interval (a slow disk can
    /// fill and drain it every flush).
    pub(super) fn note_store_behind(&mut self, now: Instant) {
        let Some(persistence) = self.persistence.as_mut() else {
            return;
        };
        let backlog = &mut persistence.backlog;
        let (bytes, batches) = (backlog.bytes, backlog.batches.len());
        let mut said = false;
        self.logs.warn(LogKind::StoreBehind, now, || {
            said = true;
            format!(
                "the store is behind ({bytes} bytes in {batches} batches not yet written, half of persistence_cache_bytes): \
                 pausing the connections that feed it"
            )
        });
        if said {
            if let Some(p) = self.persistence.as_mut() {
                p.backlog.said_behind = true;
            }
        }
    }

    /// Whether a bridge link must stop reading its remote: the backlog is
    /// at its bound (what comes down a bridge may have to be stored). The
    /// bridge is told by [`Broker::take_bridges_may_read`] when to go on.
    pub fn bridge_waits_for_store(&mut self) -> bool {
        let Some(persistence) = self.persistence.as_mut() else {
            return false;
        };
        let full = persistence.backlog.is_full();
        if full {
            persistence.backlog.bridges_waiting = true;
        }
        full
    }

    /// The backlog drained since bridges stopped reading: wake them.
    pub fn take_bridges_may_read(&mut self) -> bool {
        self.persistence
            .as_mut()
            .is_some_and(|p| std::mem::take(&mut p.backlog.bridges_may_read))
    }

    /// A closing connection no longer waits.
    pub(super) fn forget_store_waiter(&mut self, conn: ConnId) {
        if let Some(persistence) = self.persistence.as_mut() {
            persistence.backlog.waiting.retain(|&c| c != conn);
        }
    }

    /// Bytes and batches handed to the writer and not yet reported back.
    pub fn store_backlog(&self) -> Option<(usize, usize)> {
        self.persistence
            .as_ref()
            .map(|p| (p.backlog.bytes(), p.backlog.batches()))
    }
}

//! The writer thread: the only code that writes to sled after startup. It
//! applies batches of writes, flushes them by the durability policy, and
//! tells the event loop which batch is on disk.
//!
//! The event loop says which batches to flush after: in batched mode it
//! gathers changes for `autosave_interval` and sends them with a flush (so
//! at most one interval of changes is at risk, and none is flushed while
//! nothing changed), or early without one when they grow large; in sync
//! mode every batch asks for a flush as soon as the previous one is done,
//! and batches that arrive during a flush share the next one (group
//! commit). Never an fsync per message.
//!
//! A failed write or flush starts an outage (docs/design.md, "When the
//! store fails"): sled stays in its error state until it is reopened, so
//! the writer closes it, and after a back-off reopens it, replays every
//! write since the last good flush (replay.rs) and flushes; until that
//! succeeds nothing more is reported durable. Sync mode therefore holds
//! its acknowledgements for as long as the outage lasts; batched mode
//! reports its batches as taken (nothing waits for them) and serves from
//! memory. health.rs logs the outage and keeps its state.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use log::warn;

use super::encode::{wall_clock, Tree};
use super::health::StoreCounters;
use super::relocate::{self, DirIdentity};
use super::replay::{Logged, ReplayLog};
use super::schema::{self, META_CLOCK};
use super::{StoreConfig, Trees};

/// What the event loop sends the writer.
pub enum Command {
    Apply {
        batch: u64,
        writes: Vec<super::encode::Write>,
        /// Flush (soon) after applying; otherwise wait for a batch that asks.
        flush: bool,
    },
    /// Flush what is left, answer whether it is on disk, and stop.
    Shutdown(Sender<bool>),
}

/// What the writer reports back.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// Every batch up to `batch` is on disk.
    Durable { batch: u64, store_bytes: u64 },
    /// Every batch up to `batch` has left the writer's queue without being
    /// on disk yet: applied and waiting for a later flush (batched mode,
    /// handed over early for its size), or kept in memory while the store
    /// fails (batched mode). Acknowledges nothing.
    Taken { batch: u64 },
}

/// How many queued batches one flush may wait to gather in sync mode.
const MAX_GATHER: usize = 256;

/// The first retry after a failure, doubled after each failed retry up to
/// [`MAX_BACKOFF`]: a full disk freed by an operator is noticed within
/// seconds, a dead one is not hammered.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub struct Writer {
    /// `None` while sled is closed between a failure and a reopen.
    trees: Option<Trees>,
    /// The history tree lent to the event loop's reader, `None` with
    /// `trees`.
    history: super::HistorySlot,
    /// The directory sled was opened in (relocate.rs).
    opened_dir: Option<DirIdentity>,
    /// The database of a directory removed while open, kept until a new
    /// store at the path has a copy of it (relocate.rs).
    orphan: Option<Trees>,
    config: StoreConfig,
    events: smol::channel::Sender<Event>,
    counters: std::sync::Arc<StoreCounters>,
    log: ReplayLog,
    /// Bytes of the replay log past which it is flushed early (or, failing
    /// in batched mode, frozen): half of `persistence_cache_bytes`.
    max_log_bytes: usize,
    /// The last batch received.
    received: u64,
    /// The last batch reported to the event loop, durable or taken.
    reported: u64,
    flush_at: Option<Instant>,
    /// Set while the store fails.
    retry: Option<Retry>,
    /// Debug builds only: sleep before each flush (a slow disk, for tests).
    flush_delay: Duration,
    /// Unit tests only: this many flushes fail before they touch sled.
    failures_to_inject: u32,
}

#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Running,
    Stopped,
}

struct Retry {
    at: Instant,
    backoff: Duration,
    last_summary: Instant,
}

impl Writer {
    pub fn new(
        trees: Trees,
        config: StoreConfig,
        events: smol::channel::Sender<Event>,
        counters: std::sync::Arc<StoreCounters>,
        flush_delay: Duration,
        history: super::HistorySlot,
    ) -> Writer {
        Writer {
            history,
            trees: Some(trees),
            opened_dir: DirIdentity::of(&config.dir),
            orphan: None,
            max_log_bytes: usize::try_from(config.cache_bytes / 2).unwrap_or(usize::MAX),
            config,
            events,
            counters,
            log: ReplayLog::default(),
            received: 0,
            reported: 0,
            flush_at: None,
            retry: None,
            flush_delay,
            failures_to_inject: 0,
        }
    }

    pub fn run(mut self, commands: Receiver<Command>) {
        loop {
            // While failing, flushes wait for the retry.
            let deadline = match &self.retry {
                Some(retry) => Some(retry.at),
                None => self.flush_at,
            };
            let command = match deadline {
                Some(at) => {
                    match commands.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(command) => Some(command),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => {
                            self.finish();
                            return;
                        }
                    }
                }
                None => match commands.recv() {
                    Ok(command) => Some(command),
                    Err(_) => return,
                },
            };
            match command {
                Some(Command::Apply {
                    batch,
                    writes,
                    flush,
                }) => self.take(batch, writes, flush),
                Some(Command::Shutdown(done)) => {
                    self.shutdown(&commands, done);
                    return;
                }
                None => {}
            }
            if self.due(&commands) == Stop::Stopped {
                return;
            }
        }
    }

    /// Batches sent before the shutdown are still queued: take them, flush
    /// (retrying once if the store failed), answer.
    fn shutdown(&mut self, commands: &Receiver<Command>, done: Sender<bool>) {
        while let Ok(Command::Apply {
            batch,
            writes,
            flush,
        }) = commands.try_recv()
        {
            self.take(batch, writes, flush);
        }
        let ok = self.finish();
        let _ = done.send(ok);
    }

    /// The last flush; whether everything is on disk.
    fn finish(&mut self) -> bool {
        if self.retry.is_some() {
            self.reopen_and_replay(Instant::now());
        } else {
            self.flush(Instant::now());
        }
        self.retry.is_none()
    }

    /// One batch from the event loop.
    fn take(&mut self, batch: u64, writes: Vec<super::encode::Write>, flush: bool) {
        let now = Instant::now();
        self.received = batch;
        for write in writes {
            let write = Logged::from(write);
            if self.retry.is_none() {
                if let Err(e) = self.apply(&write) {
                    self.failed(now, &format!("write failed: {e}"));
                }
            }
            self.log.push(write);
        }
        self.counters.note_unflushed(self.log.bytes());
        let over = self.log.bytes() >= self.max_log_bytes;
        if self.retry.is_some() {
            if !self.config.sync {
                if over && !self.log.is_frozen() {
                    self.log.freeze();
                }
                // Batched mode serves from memory: nothing waits for this.
                self.report(Event::Taken { batch });
            }
            return;
        }
        if flush || over {
            // Past the bound the log is flushed early, so that it stays
            // bounded while the store works.
            self.flush_at.get_or_insert(now);
        } else {
            self.report(Event::Taken { batch });
        }
    }

    /// Flushes or retries when it is time; `Stopped` if a shutdown came
    /// in while gathering a group commit (it has been answered).
    fn due(&mut self, commands: &Receiver<Command>) -> Stop {
        let now = Instant::now();
        if let Some(retry) = &mut self.retry {
            let waiting = self.received.saturating_sub(self.reported);
            self.counters
                .summarise(now, &mut retry.last_summary, waiting);
            if retry.at <= now {
                self.reopen_and_replay(now);
            }
            return Stop::Running;
        }
        if self.flush_at.is_none_or(|at| at > now) {
            return Stop::Running;
        }
        // Group commit: take what else has arrived into this flush.
        for _ in 0..MAX_GATHER {
            match commands.try_recv() {
                Ok(Command::Apply {
                    batch,
                    writes,
                    flush,
                }) => self.take(batch, writes, flush),
                Ok(Command::Shutdown(done)) => {
                    self.shutdown(commands, done);
                    return Stop::Stopped;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
            if self.retry.is_some() {
                return Stop::Running;
            }
        }
        self.flush_at = None;
        self.flush(now);
        Stop::Running
    }

    fn apply(&self, write: &Logged) -> sled::Result<()> {
        let Some(trees) = &self.trees else {
            return Err(sled::Error::Unsupported("the store is closed".into()));
        };
        match write {
            Logged::Put { tree, key, value } => tree_of(trees, *tree)
                .insert(key.clone(), value.clone())
                .map(|_| ()),
            Logged::Remove { tree, key } => tree_of(trees, *tree).remove(key).map(|_| ()),
            Logged::RemovePrefix { tree, prefix } => {
                let tree = tree_of(trees, *tree);
                for entry in tree.scan_prefix(prefix) {
                    let (key, _) = entry?;
                    tree.remove(key)?;
                }
                Ok(())
            }
        }
    }

    /// Stamps the wall clock (the start of any downtime) and flushes; on
    /// success reports everything received as durable.
    fn flush(&mut self, now: Instant) {
        if !self.flush_delay.is_zero() {
            std::thread::sleep(self.flush_delay);
        }
        match self.flush_trees() {
            Ok(_) if relocate::replaced(&self.config.dir, self.opened_dir) => {
                self.failed(now, "flushed into files no path reaches");
            }
            Ok(store_bytes) => {
                let lost = self.log.flushed();
                self.counters.note_lost(lost);
                self.counters.note_flush(0);
                self.report(Event::Durable {
                    batch: self.received,
                    store_bytes,
                });
            }
            Err(e) => self.failed(now, &format!("flush failed: {e}")),
        }
    }

    fn flush_trees(&mut self) -> sled::Result<u64> {
        if self.failures_to_inject > 0 {
            self.failures_to_inject -= 1;
            return Err(sled::Error::Io(std::io::Error::other("injected failure")));
        }
        let Some(trees) = &self.trees else {
            return Err(sled::Error::Unsupported("the store is closed".into()));
        };
        trees
            .meta
            .insert(META_CLOCK, schema::encode_clock(wall_clock()))?;
        trees.db.flush()?;
        super::fsync::sync_store(&self.config.dir)?;
        Ok(trees.db.size_on_disk().unwrap_or(0))
    }

    /// What the admin API's history pages read from (mod.rs).
    fn lend_history(&self, tree: Option<sled::Tree>) {
        *self.history.lock().unwrap_or_else(|e| e.into_inner()) = tree;
    }

    /// Starts or extends an outage: sled is closed (its error state lasts
    /// until it is reopened) and a retry scheduled.
    fn failed(&mut self, now: Instant, what: &str) {
        if self.orphan.is_none() && relocate::replaced(&self.config.dir, self.opened_dir) {
            // What was flushed lives on only in these open files.
            self.lend_history(None);
            self.orphan = self.trees.take();
            let what = format!("the store directory was removed or replaced while open: {what}");
            self.counters.note_failure(now, &what, self.config.sync);
        } else {
            self.counters.note_failure(now, what, self.config.sync);
        }
        self.lend_history(None);
        self.trees = None;
        self.flush_at = None;
        match &mut self.retry {
            Some(retry) => {
                retry.backoff = (retry.backoff * 2).min(MAX_BACKOFF);
                retry.at = now + retry.backoff;
            }
            None => {
                self.retry = Some(Retry {
                    at: now + FIRST_BACKOFF,
                    backoff: FIRST_BACKOFF,
                    last_summary: now,
                });
            }
        }
        if !self.config.sync {
            self.report(Event::Taken {
                batch: self.received,
            });
        }
    }

    /// Reopens sled, replays every write since the last good flush and
    /// flushes; ends the outage if all of it worked.
    fn reopen_and_replay(&mut self, now: Instant) {
        self.counters.note_retry();
        self.trees = None;
        match super::open::reopen(&self.config) {
            Ok(trees) => {
                self.lend_history(Some(trees.history.clone()));
                self.trees = Some(trees);
            }
            Err(e) => {
                self.failed(now, &format!("reopen failed: {e}"));
                return;
            }
        }
        let reopened = DirIdentity::of(&self.config.dir);
        if let (Some(orphan), Some(trees)) = (&self.orphan, &self.trees) {
            if let Err(e) = relocate::copy_all(orphan, trees) {
                self.failed(
                    now,
                    &format!("copying the store into its new directory failed: {e}"),
                );
                return;
            }
        }
        for write in self.log.writes() {
            if let Err(e) = self.apply(write) {
                self.failed(now, &format!("replay failed: {e}"));
                return;
            }
        }
        match self.flush_trees() {
            Ok(_) if relocate::replaced(&self.config.dir, reopened) => {
                self.failed(now, "flushed into files no path reaches");
            }
            Ok(store_bytes) => {
                if self.orphan.take().is_some() {
                    warn!(
                        "the store was written again, whole, to a new directory at {}",
                        self.config.dir.display()
                    );
                }
                self.opened_dir = reopened;
                let replayed = self.log.len();
                let lost = self.log.flushed();
                self.counters.note_lost(lost);
                self.counters.note_flush(0);
                self.counters.note_recovered(now, replayed, lost);
                self.retry = None;
                self.flush_at = None;
                self.report(Event::Durable {
                    batch: self.received,
                    store_bytes,
                });
            }
            Err(e) => self.failed(now, &format!("flush failed: {e}")),
        }
    }

    fn report(&mut self, event: Event) {
        let (Event::Durable { batch, .. } | Event::Taken { batch }) = event;
        self.reported = self.reported.max(batch);
        let _ = self.events.send_blocking(event);
    }
}

fn tree_of(trees: &Trees, tree: Tree) -> &sled::Tree {
    match tree {
        Tree::Sessions => &trees.sessions,
        Tree::Messages => &trees.messages,
        Tree::Deliveries => &trees.deliveries,
        Tree::Inbound => &trees.inbound,
        Tree::Retained => &trees.retained,
        Tree::Bridge => &trees.bridge,
        Tree::Trajectory => &trees.trajectory,
        Tree::History => &trees.history,
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;

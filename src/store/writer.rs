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
//! A write or flush error is logged and counted; the broker keeps serving
//! from memory.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use log::error;

use super::encode::{wall_clock, Tree, Write};
use super::schema::{self, META_CLOCK};
use super::Trees;

/// What the event loop sends the writer.
pub enum Command {
    Apply {
        batch: u64,
        writes: Vec<Write>,
        /// Flush (soon) after applying; otherwise wait for a batch that asks.
        flush: bool,
    },
    /// Flush what is left, answer, and stop.
    Shutdown(Sender<()>),
}

/// What the writer reports back.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// Every batch up to `batch` is durable (or, with `ok` false, the
    /// flush failed and will be retried with the next one).
    Flushed {
        batch: u64,
        ok: bool,
        store_bytes: u64,
    },
}

/// How many queued batches one flush may wait to gather in sync mode.
const MAX_GATHER: usize = 256;

/// Error lines per this interval at most.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

pub struct Writer {
    pub trees: Trees,
    pub events: smol::channel::Sender<Event>,
    pub counters: std::sync::Arc<super::StoreCounters>,
    pub last_error_log: Option<Instant>,
}

impl Writer {
    pub fn run(mut self, commands: Receiver<Command>) {
        let mut applied = 0u64;
        let mut flush_at: Option<Instant> = None;
        loop {
            let command = match flush_at {
                Some(at) => {
                    match commands.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(command) => Some(command),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => {
                            self.flush(applied);
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
                }) => {
                    self.apply(writes);
                    applied = batch;
                    if flush {
                        flush_at.get_or_insert_with(Instant::now);
                    }
                }
                Some(Command::Shutdown(done)) => {
                    // Batches sent before the shutdown are still queued.
                    while let Ok(Command::Apply { batch, writes, .. }) = commands.try_recv() {
                        self.apply(writes);
                        applied = batch;
                    }
                    self.flush(applied);
                    let _ = done.send(());
                    return;
                }
                None => {}
            }
            if flush_at.is_some_and(|at| at <= Instant::now()) {
                // Group commit: take what else has arrived into this flush.
                for _ in 0..MAX_GATHER {
                    match commands.try_recv() {
                        Ok(Command::Apply { batch, writes, .. }) => {
                            self.apply(writes);
                            applied = batch;
                        }
                        Ok(Command::Shutdown(done)) => {
                            self.flush(applied);
                            let _ = done.send(());
                            return;
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                flush_at = None;
                self.flush(applied);
            }
        }
    }

    fn apply(&mut self, writes: Vec<Write>) {
        for write in writes {
            let result = match write {
                Write::Put { tree, key, value } => self.tree(tree).insert(key, value).map(|_| ()),
                Write::Remove { tree, key } => self.tree(tree).remove(key).map(|_| ()),
                Write::RemovePrefix { tree, prefix } => self.remove_prefix(tree, prefix),
            };
            if let Err(e) = result {
                self.write_failed(&format!("store write failed: {e}"));
            }
        }
    }

    fn remove_prefix(&self, tree: Tree, prefix: [u8; 8]) -> sled::Result<()> {
        let tree = self.tree(tree);
        for entry in tree.scan_prefix(prefix) {
            let (key, _) = entry?;
            tree.remove(key)?;
        }
        Ok(())
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        match tree {
            Tree::Sessions => &self.trees.sessions,
            Tree::Messages => &self.trees.messages,
            Tree::Deliveries => &self.trees.deliveries,
            Tree::Inbound => &self.trees.inbound,
            Tree::Retained => &self.trees.retained,
            Tree::Bridge => &self.trees.bridge,
        }
    }

    /// Stamps the wall clock (the start of any downtime) and flushes.
    fn flush(&mut self, batch: u64) {
        let stamped = self
            .trees
            .meta
            .insert(META_CLOCK, schema::encode_clock(wall_clock()));
        let ok = match stamped.and_then(|_| self.trees.db.flush()) {
            Ok(_) => true,
            Err(e) => {
                self.write_failed(&format!("store flush failed: {e}"));
                false
            }
        };
        self.counters.note_flush();
        let store_bytes = self.trees.db.size_on_disk().unwrap_or(0);
        let _ = self.events.send_blocking(Event::Flushed {
            batch,
            ok,
            store_bytes,
        });
    }

    fn write_failed(&mut self, what: &str) {
        self.counters.note_write_error();
        let now = Instant::now();
        if self
            .last_error_log
            .is_none_or(|at| now.saturating_duration_since(at) >= ERROR_LOG_INTERVAL)
        {
            self.last_error_log = Some(now);
            error!(
                "{what} ({} write errors so far): serving from memory",
                self.counters.write_errors()
            );
        }
    }
}

//! The store: the only user of sled. Sessions, their messages and delivery
//! states, inbound QoS 2 ids and retained messages, each a postcard record
//! behind a version byte (schema.rs), kept by operations: the broker emits
//! [`StoreOp`](crate::broker::StoreOp)s, this module turns them into
//! key/value writes (encode.rs) and a writer thread applies and flushes
//! them (writer.rs) — batched every `autosave_interval`, or as group
//! commits in sync mode. open.rs decides what to do with a locked, corrupt
//! or newer store; recover.rs reads one back at startup.

pub mod encode;
mod open;
mod recover;
pub mod schema;
#[doc(hidden)]
pub mod testing;
mod writer;

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::broker::ReadyBatch;
use crate::config::Config;

pub use recover::{plausible_downtime, Recovered, StoredBridgeMessage, BUILD_EPOCH};
pub use writer::Event;

use encode::Write;
use writer::{Command, Writer};

/// Batches queued for the writer at most; one batch is what one piece of
/// broker work produced (a read of packets, a sweep).
const MAX_PENDING_BATCHES: usize = 1024;

/// What the store needs from the configuration.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub dir: PathBuf,
    pub sync: bool,
    pub autosave_interval: Duration,
    /// sled's page cache (it defaults to 1 GiB).
    pub cache_bytes: u64,
    pub max_store_bytes: u64,
}

impl StoreConfig {
    pub fn from_config(config: &Config) -> StoreConfig {
        StoreConfig {
            dir: config.persistence_location.clone(),
            sync: config.persistence_sync,
            autosave_interval: config.autosave_interval,
            cache_bytes: config.persistence_cache_bytes,
            max_store_bytes: config.max_store_bytes,
        }
    }
}

#[derive(Debug)]
pub enum OpenError {
    /// Another process holds the store's lock.
    Locked(PathBuf),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Locked(dir) => write!(
                f,
                "the store at {} is locked by another process (is another edgemq running with the same persistence_location?)",
                dir.display()
            ),
        }
    }
}

/// sled's database and our trees in it.
pub struct Trees {
    db: sled::Db,
    meta: sled::Tree,
    sessions: sled::Tree,
    messages: sled::Tree,
    deliveries: sled::Tree,
    inbound: sled::Tree,
    retained: sled::Tree,
    bridge: sled::Tree,
}

impl Trees {
    fn open(db: sled::Db) -> sled::Result<Trees> {
        Ok(Trees {
            meta: db.open_tree(schema::TREE_META)?,
            sessions: db.open_tree(schema::TREE_SESSIONS)?,
            messages: db.open_tree(schema::TREE_MESSAGES)?,
            deliveries: db.open_tree(schema::TREE_DELIVERIES)?,
            inbound: db.open_tree(schema::TREE_INBOUND)?,
            retained: db.open_tree(schema::TREE_RETAINED)?,
            bridge: db.open_tree(schema::TREE_BRIDGE)?,
            db,
        })
    }
}

/// Counters the writer thread keeps, readable from the event loop. A
/// mutex, not atomics: 32-bit MIPS has no 64-bit atomics, and these change
/// once per flush at most.
#[derive(Debug, Default)]
pub struct StoreCounters(std::sync::Mutex<Counts>);

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    write_errors: u64,
    flushes: u64,
}

impl StoreCounters {
    fn update(&self, f: impl FnOnce(&mut Counts)) {
        // A poisoned lock only means a panic elsewhere; the counts are fine.
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn read(&self) -> Counts {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note_write_error(&self) {
        self.update(|c| c.write_errors += 1);
    }

    fn note_flush(&self) {
        self.update(|c| c.flushes += 1);
    }

    pub fn write_errors(&self) -> u64 {
        self.read().write_errors
    }

    pub fn flushes(&self) -> u64 {
        self.read().flushes
    }
}

/// An open store, before its writer thread runs.
pub struct Store {
    trees: Trees,
    config: StoreConfig,
}

impl Store {
    /// Opens or creates the store and reads it back. `Ok(None)`: the
    /// directory cannot be used and the broker runs without persistence
    /// (logged). `Err`: another process holds it.
    pub fn open(config: &StoreConfig) -> Result<Option<(Store, Recovered)>, OpenError> {
        if let Some(parent) = config.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let Some(trees) = open::open_trees(config)? else {
            return Ok(None);
        };
        let recovered = recover::recover(&trees, encode::wall_clock());
        let store = Store {
            trees,
            config: config.clone(),
        };
        Ok(Some((store, recovered)))
    }

    /// Starts the writer thread; flush reports arrive on the receiver.
    pub fn start(self) -> std::io::Result<(StoreHandle, smol::channel::Receiver<Event>)> {
        // Bounded: when the disk cannot keep up, the event loop waits on
        // `apply` (back-pressure) instead of buffering without limit.
        let (commands, receiver) = mpsc::sync_channel(MAX_PENDING_BATCHES);
        let (events, events_rx) = smol::channel::unbounded();
        let counters = Arc::new(StoreCounters::default());
        let writer = Writer {
            trees: self.trees,
            events,
            counters: counters.clone(),
            last_error_log: None,
        };
        let thread = std::thread::Builder::new()
            .name("edgemq-store".into())
            .spawn(move || writer.run(receiver))?;
        Ok((
            StoreHandle {
                commands,
                thread: Some(thread),
                counters,
                max_store_bytes: self.config.max_store_bytes,
            },
            events_rx,
        ))
    }
}

/// The event loop's handle on the writer thread.
pub struct StoreHandle {
    commands: mpsc::SyncSender<Command>,
    thread: Option<std::thread::JoinHandle<()>>,
    counters: Arc<StoreCounters>,
    max_store_bytes: u64,
}

impl StoreHandle {
    /// Encodes the batch's ops and queues them for the writer.
    pub fn apply(&self, ready: ReadyBatch) {
        let mut writes: Vec<Write> = Vec::with_capacity(ready.ops.len());
        for op in ready.ops {
            encode::encode_op(op, &mut writes);
        }
        let _ = self.commands.send(Command::Apply {
            batch: ready.batch,
            writes,
            flush: ready.flush,
        });
    }

    /// Whether `store_bytes` (from a flush report) is at the cap.
    pub fn is_full(&self, store_bytes: u64) -> bool {
        self.max_store_bytes > 0 && store_bytes >= self.max_store_bytes
    }

    pub fn counters(&self) -> &StoreCounters {
        &self.counters
    }

    /// Flushes everything queued and stops the writer (SIGTERM).
    pub fn shutdown(mut self, timeout: Duration) -> bool {
        let (done, wait) = mpsc::channel();
        if self.commands.send(Command::Shutdown(done)).is_err() {
            return false;
        }
        let flushed = wait.recv_timeout(timeout).is_ok();
        if flushed {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
        flushed
    }
}

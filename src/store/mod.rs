//! The store: the only user of sled. Sessions, their messages and delivery
//! states, inbound QoS 2 ids and retained messages, each a postcard record
//! behind a version byte (schema.rs), kept by operations: the broker emits
//! [`StoreOp`](crate::broker::StoreOp)s, this module turns them into
//! key/value writes (encode.rs) and a writer thread applies and flushes
//! them (writer.rs) — batched every `autosave_interval`, or as group
//! commits in sync mode. open.rs decides what to do with a locked, corrupt
//! or newer store; recover.rs reads one back at startup, salvage.rs
//! replaces one with damaged pages by what can be read of it, relocate.rs
//! writes the whole store again when its directory is removed while open.

pub mod encode;
mod fsync;
mod health;
mod open;
mod recover;
mod recover_console;
mod relocate;
mod replay;
mod salvage;
pub mod schema;
#[doc(hidden)]
pub mod testing;
mod writer;

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use log::error;

use crate::broker::ReadyBatch;
use crate::config::Config;

pub use health::{Outage, Status, StoreCounters};
pub use recover::{
    plausible_downtime, read_entry, Recovered, SessionSink, StoredBridgeMessage, BUILD_EPOCH,
};
pub use recover_console::RecoveredHistory;
pub use writer::Event;

use encode::Write;
use writer::{Command, Writer};

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
    trajectory: sled::Tree,
    history: sled::Tree,
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
            trajectory: db.open_tree(schema::TREE_TRAJECTORY)?,
            history: db.open_tree(schema::TREE_HISTORY)?,
            db,
        })
    }

    /// Every tree, the meta tree first, in one fixed order.
    fn each(&self) -> [&sled::Tree; 9] {
        [
            &self.meta,
            &self.sessions,
            &self.messages,
            &self.deliveries,
            &self.inbound,
            &self.retained,
            &self.bridge,
            &self.trajectory,
            &self.history,
        ]
    }
}

/// An open store, before its writer thread runs.
pub struct Store {
    trees: Trees,
    config: StoreConfig,
    history: HistorySlot,
}

impl Store {
    /// Opens or creates the store; [`Store::recover`] reads it back.
    /// `Ok(None)`: the directory cannot be used and the broker runs
    /// without persistence (logged). `Err`: another process holds it.
    pub fn open(config: &StoreConfig) -> Result<Option<Store>, OpenError> {
        if let Some(parent) = config.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let Some(trees) = open::open_trees(config)? else {
            return Ok(None);
        };
        Ok(Some(Store {
            history: Arc::new(std::sync::Mutex::new(Some(trees.history.clone()))),
            trees,
            config: config.clone(),
        }))
    }

    /// Reads the store back: each session goes to `sink` as it is read,
    /// the rest is returned. A store sled cannot read to the end is
    /// salvaged (salvage.rs) when `may_salvage`: then what went to `sink`
    /// is to be thrown away and the salvaged store read again.
    pub fn recover(self, sink: &mut dyn SessionSink, may_salvage: bool) -> Recovery {
        let recovered = recover::recover(&self.trees, encode::wall_clock_ms(), sink);
        if recovered.unreadable_trees == 0 || !may_salvage {
            return Recovery::Read(self, recovered);
        }
        match salvage::salvage(&self.config, self.trees) {
            Some(trees) => Recovery::Salvaged(Store {
                history: Arc::new(std::sync::Mutex::new(Some(trees.history.clone()))),
                trees,
                config: self.config,
            }),
            None => {
                error!(
                    "serving from memory, without persistence: the store at {} is damaged",
                    self.config.dir.display()
                );
                Recovery::Unusable
            }
        }
    }

    /// What the admin API reads older history pages through.
    pub fn history_reader(&self) -> HistoryReader {
        HistoryReader {
            slot: self.history.clone(),
        }
    }

    /// Starts the writer thread; flush reports arrive on the receiver.
    pub fn start(self) -> std::io::Result<(StoreHandle, smol::channel::Receiver<Event>)> {
        // Unbounded channels, bounded by the broker: it counts the bytes
        // of the batches it handed over and not yet heard back about, and
        // stops reading the connections that feed the store at half of
        // `persistence_cache_bytes` — the event loop never waits here.
        let (commands, receiver) = mpsc::channel();
        let (events, events_rx) = smol::channel::unbounded();
        let counters = Arc::new(StoreCounters::default());
        let writer = Writer::new(
            self.trees,
            self.config.clone(),
            events,
            counters.clone(),
            test_flush_delay(),
            self.history,
        );
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

/// What [`Store::recover`] found.
pub enum Recovery {
    Read(Store, Recovered),
    /// The store was damaged and is replaced by what could be read of it:
    /// read it again, into a fresh broker.
    Salvaged(Store),
    /// Damaged beyond salvage: serve without persistence.
    Unusable,
}

/// The writer's history tree, lent to [`HistoryReader`]: `None` while
/// the writer has sled closed (an outage), so that no handle outside the
/// writer keeps the old database open and its reopen locked out.
pub(crate) type HistorySlot = Arc<std::sync::Mutex<Option<sled::Tree>>>;

/// Reads history chunks for the admin API on the event loop thread: a
/// read of one record (4 KiB at most) from sled's cache or the flash,
/// while the writer thread owns every write. During a store outage there
/// is nothing to read from: pages skip those chunks (logged).
pub struct HistoryReader {
    slot: HistorySlot,
}

impl crate::sys::history_log::ChunkSource for HistoryReader {
    fn chunk_body(&self, first_seq: u64) -> Option<Vec<u8>> {
        // Read under the lock: the writer swaps the tree under it.
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        let value = slot.as_ref()?.get(schema::seq_key(first_seq)).ok()??;
        drop(slot);
        let record = schema::decode::<schema::HistoryChunkV2>(&value).ok()?;
        Some(record.body)
    }
}

/// The event loop's handle on the writer thread.
pub struct StoreHandle {
    commands: mpsc::Sender<Command>,
    thread: Option<std::thread::JoinHandle<()>>,
    counters: Arc<StoreCounters>,
    max_store_bytes: u64,
}

impl StoreHandle {
    /// Encodes the batch's ops and queues them for the writer; never
    /// waits.
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

    pub fn counters(&self) -> &Arc<StoreCounters> {
        &self.counters
    }

    /// Flushes everything queued and stops the writer (SIGTERM); whether
    /// it is all on disk.
    pub fn shutdown(mut self, timeout: Duration) -> bool {
        let (done, wait) = mpsc::channel();
        if self.commands.send(Command::Shutdown(done)).is_err() {
            return false;
        }
        let answer = wait.recv_timeout(timeout);
        if answer.is_ok() {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
        answer.unwrap_or(false)
    }
}

/// Debug builds only: `EDGEMQ_TEST_STORE_DELAY_MS` makes every flush take
/// that long, a slow disk for the end-to-end tests of back-pressure.
/// Release builds ignore it.
fn test_flush_delay() -> Duration {
    if !cfg!(debug_assertions) {
        return Duration::ZERO;
    }
    let Some(ms) = std::env::var("EDGEMQ_TEST_STORE_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return Duration::ZERO;
    };
    log::warn!("test hook: every store flush waits {ms} ms (EDGEMQ_TEST_STORE_DELAY_MS)");
    Duration::from_millis(ms)
}

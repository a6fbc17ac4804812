//! The writer thread against a real sled in a temporary directory, with
//! flush failures injected: what is reported, when, and what is on disk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::encode::{Tree, Write};
use super::super::{Store, StoreConfig, StoreCounters};
use super::{Command, Event, Writer};

struct Running {
    commands: mpsc::Sender<Command>,
    events: smol::channel::Receiver<Event>,
    counters: Arc<StoreCounters>,
    thread: std::thread::JoinHandle<()>,
    dir: tempfile::TempDir,
}

fn config(dir: &std::path::Path, sync: bool, cache_bytes: u64) -> StoreConfig {
    StoreConfig {
        dir: dir.join("store"),
        sync,
        autosave_interval: Duration::from_secs(1),
        cache_bytes,
        max_store_bytes: 0,
    }
}

fn start(sync: bool, cache_bytes: u64, failures: u32) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), sync, cache_bytes);
    let store = Store::open(&config).unwrap().expect("a usable store");
    let (events_tx, events) = smol::channel::unbounded();
    let counters = Arc::new(StoreCounters::default());
    let mut writer = Writer::new(
        store.trees,
        config,
        events_tx,
        counters.clone(),
        Duration::ZERO,
        store.history,
    );
    writer.failures_to_inject = failures;
    let (commands, receiver) = mpsc::channel();
    let thread = std::thread::spawn(move || writer.run(receiver));
    Running {
        commands,
        events,
        counters,
        thread,
        dir,
    }
}

fn put(key: &str, bytes: usize) -> Write {
    Write::Put {
        tree: Tree::Retained,
        key: key.as_bytes().to_vec(),
        value: vec![7; bytes],
    }
}

impl Running {
    fn apply(&self, batch: u64, writes: Vec<Write>, flush: bool) {
        self.commands
            .send(Command::Apply {
                batch,
                writes,
                flush,
            })
            .unwrap();
    }

    /// The next event within `wait`, if any.
    fn event(&self, wait: Duration) -> Option<Event> {
        let deadline = Instant::now() + wait;
        loop {
            if let Ok(event) = self.events.try_recv() {
                return Some(event);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the writer; the keys on disk afterwards.
    fn stop(self) -> (bool, Vec<String>, Arc<StoreCounters>) {
        let (done, answer) = mpsc::channel();
        self.commands.send(Command::Shutdown(done)).unwrap();
        let flushed = answer.recv_timeout(Duration::from_secs(10)).unwrap();
        self.thread.join().unwrap();
        let db = sled::open(self.dir.path().join("store")).unwrap();
        let retained = db.open_tree(super::super::schema::TREE_RETAINED).unwrap();
        let keys = retained
            .iter()
            .keys()
            .map(|k| String::from_utf8(k.unwrap().to_vec()).unwrap())
            .collect();
        (flushed, keys, self.counters)
    }
}

#[test]
fn sync_mode_reports_nothing_durable_until_a_retry_succeeds() {
    let writer = start(true, 1 << 20, 2);
    let started = Instant::now();
    writer.apply(1, vec![put("a", 10)], true);
    assert!(
        writer.event(Duration::from_millis(150)).is_none(),
        "a failed flush is never reported durable"
    );
    assert!(writer.counters.status().outage.is_some());
    writer.apply(2, vec![put("b", 10)], true);
    match writer.event(Duration::from_secs(5)) {
        Some(Event::Durable { batch, .. }) => assert_eq!(batch, 2, "both batches at once"),
        other => panic!("expected the retry to succeed, got {other:?}"),
    }
    // Two failed flushes, then back-offs of 200 and 400 ms.
    assert!(started.elapsed() >= Duration::from_millis(500));
    let status = writer.counters.status();
    assert!(status.outage.is_none(), "the outage ended");
    assert_eq!(status.write_errors, 2, "the flush, then a failed retry");
    let (flushed, keys, _) = writer.stop();
    assert!(flushed);
    assert_eq!(
        keys,
        ["a", "b"],
        "the writes of the failed flush were replayed"
    );
}

#[test]
fn batched_mode_takes_batches_at_once_while_the_store_fails() {
    let writer = start(false, 1 << 20, 1);
    writer.apply(1, vec![put("a", 10)], true);
    assert!(matches!(
        writer.event(Duration::from_secs(1)),
        Some(Event::Taken { batch: 1 })
    ));
    writer.apply(2, vec![put("b", 10)], false);
    assert!(matches!(
        writer.event(Duration::from_secs(1)),
        Some(Event::Taken { batch: 2 })
    ));
    assert!(matches!(
        writer.event(Duration::from_secs(5)),
        Some(Event::Durable { batch: 2, .. })
    ));
    let (flushed, keys, counters) = writer.stop();
    assert!(flushed);
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(counters.status().lost_changes, 0);
}

#[test]
fn batched_mode_keeps_a_prefix_past_its_bound_and_counts_the_rest_lost() {
    // Bound: half of 4 KiB.
    let writer = start(false, 4096, 1);
    writer.apply(1, vec![put("a", 1500)], true);
    assert!(matches!(
        writer.event(Duration::from_secs(1)),
        Some(Event::Taken { batch: 1 })
    ));
    writer.apply(2, vec![put("b", 1500)], false);
    writer.apply(3, vec![put("c", 10)], false);
    let mut last = None;
    while let Some(event) = writer.event(Duration::from_secs(5)) {
        if let Event::Durable { batch, .. } = event {
            last = Some(batch);
            break;
        }
    }
    assert_eq!(last, Some(3));
    let (_, keys, counters) = writer.stop();
    assert_eq!(
        keys,
        ["a", "b"],
        "what came after the bound was reached is not kept"
    );
    assert_eq!(counters.status().lost_changes, 1);
}

#[test]
fn a_failing_store_is_retried_once_at_shutdown() {
    let writer = start(true, 1 << 20, 1);
    writer.apply(1, vec![put("a", 10)], true);
    std::thread::sleep(Duration::from_millis(50));
    let (flushed, keys, _) = writer.stop();
    assert!(flushed, "the retry at shutdown succeeded");
    assert_eq!(keys, ["a"]);
}

#[test]
fn the_log_is_flushed_early_past_its_bound_while_the_store_works() {
    let writer = start(false, 4096, 0);
    writer.apply(1, vec![put("a", 3000)], false);
    assert!(matches!(
        writer.event(Duration::from_secs(2)),
        Some(Event::Durable { batch: 1, .. })
    ));
    assert_eq!(writer.counters.flushes(), 1);
    writer.stop();
}

#[test]
fn a_shutdown_that_arrives_during_a_group_commit_ends_the_thread() {
    let writer = start(false, 1 << 20, 0);
    // The flush is due at once, and the shutdown is already queued when
    // the writer gathers what else arrived.
    writer.apply(1, vec![put("a", 10)], true);
    let (flushed, keys, _) = writer.stop();
    assert!(flushed);
    assert_eq!(keys, ["a"]);
}

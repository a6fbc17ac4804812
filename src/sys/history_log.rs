//! The message history as chunks (docs/observability.md, "Trajectories
//! and message history"): the messages kept between two store flushes are
//! packed into one chunk (history_chunk.rs), written as one store record
//! when it is sealed; what RAM holds is the chunk being filled, the bodies
//! of sealed chunks the store has not yet made durable, and a small index
//! (first sequence number, count, time range, bytes) of every chunk. Pages
//! of the admin API read older chunks back through [`ChunkSource`].
//! Without a store, sealed bodies stay in RAM: they are the only copy.
//!
//! Bounds: `max_bytes` counts every chunk as stored (record overhead
//! included) and `max_age_ms` their newest message; past either, whole
//! chunks go, oldest first, and their first sequence numbers are handed
//! back so the broker deletes the records. A chunk is at most
//! `max_bytes / 8` (and [`MAX_CHUNK_BYTES`]), so eviction frees at most
//! an eighth of the cap at once; a single message larger than that is a
//! chunk of its own. Sans-IO: the caller says when to seal
//! and which store batch a sealed chunk goes into.
//!
//! Invariant: chunks are in sequence order (arrival order) and a chunk's
//! messages are numbered consecutively from its first.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::history::HistoryMessage;
use super::history_chunk::{self, HistoryView};
use super::timeline::{Entry, Window};

/// A sealed chunk's body at most. sled keeps up to 16 records in a leaf
/// and rewrites the whole leaf every few changes; a leaf over 128 KiB
/// (a quarter of its 512 KiB segment) becomes a blob file of its own,
/// written and synced apart: with 64 KiB chunks that made every tenth
/// put a file and the writer thread, not the broker, the bottleneck.
/// 4 KiB keeps a leaf of chunks under that, and is still 40 or more
/// small messages per record.
pub const MAX_CHUNK_BYTES: usize = 4 << 10;

/// Chunks one page reads back from the store at most (2 MiB): a filter
/// that matches little must not make one request read the whole history
/// on the event loop. Past it the page ends early and `next` goes on
/// from the first chunk not read.
pub const MAX_CHUNK_READS: usize = 512;

/// What a chunk's record costs besides its messages: key, version byte,
/// count, timestamps and the body's length.
pub const CHUNK_OVERHEAD: usize = 8 + 1 + 5 + 10 + 10 + 3;

/// Reads a sealed chunk's body back from the store (its key: the first
/// sequence number); `None` when the store does not have it.
pub trait ChunkSource {
    fn chunk_body(&self, first_seq: u64) -> Option<Vec<u8>>;
}

/// A chunk as the index holds it (and the store's recovery reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    pub first_seq: u64,
    pub count: u32,
    pub min_ts: u64,
    pub max_ts: u64,
    /// As stored, [`CHUNK_OVERHEAD`] included.
    pub bytes: usize,
}

#[derive(Debug)]
struct Sealed {
    meta: ChunkMeta,
    /// Until the store batch `batch` is durable (always without a store).
    body: Option<Arc<[u8]>>,
    batch: Option<u64>,
}

/// A chunk just sealed, for the store.
#[derive(Debug, Clone)]
pub struct SealedChunk {
    pub meta: ChunkMeta,
    pub body: Arc<[u8]>,
}

/// A page of a query: owned messages (older ones were read from the
/// store), newest first, and the cursor of the next page.
#[derive(Debug, Default)]
pub struct HistoryPage {
    pub entries: Vec<Entry<HistoryMessage>>,
    pub next: Option<u64>,
    /// Chunks the store could not give back (skipped).
    pub unreadable: usize,
}

#[derive(Debug)]
pub struct HistoryLog {
    sealed: VecDeque<Sealed>,
    filling: Vec<u8>,
    filling_meta: Option<ChunkMeta>,
    /// When the first message of the filling chunk arrived.
    filling_since: Option<Instant>,
    bytes: usize,
    messages: u64,
    next_seq: u64,
    max_age_ms: u64,
    max_bytes: usize,
    chunk_bytes: usize,
}

impl HistoryLog {
    pub fn new(max_age_ms: u64, max_bytes: usize) -> HistoryLog {
        HistoryLog {
            sealed: VecDeque::new(),
            filling: Vec::new(),
            filling_meta: None,
            filling_since: None,
            bytes: 0,
            messages: 0,
            next_seq: 1,
            max_age_ms,
            max_bytes,
            chunk_bytes: (max_bytes / 8).clamp(1, MAX_CHUNK_BYTES),
        }
    }

    /// Bytes held, as the store counts them.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages held.
    pub fn len(&self) -> u64 {
        self.messages
    }

    pub fn is_empty(&self) -> bool {
        self.messages == 0
    }

    /// When the filling chunk began (`None`: it is empty).
    pub fn filling_since(&self) -> Option<Instant> {
        self.filling_since
    }

    /// Keeps one message. A chunk sealed on the way (full) is pushed onto
    /// `sealed` for the store batch `batch`; the first sequence numbers of
    /// chunks that fell out for `max_bytes` onto `evicted`. A message
    /// larger than `max_bytes` alone is not kept (`false`).
    pub fn push(
        &mut self,
        now: Instant,
        ts: u64,
        message: &HistoryView<'_>,
        batch: Option<u64>,
        sealed: &mut Vec<SealedChunk>,
        evicted: &mut Vec<u64>,
    ) -> bool {
        let bytes = history_chunk::entry_bytes(message.topic, message.payload);
        if bytes.saturating_add(CHUNK_OVERHEAD) > self.max_bytes {
            return false;
        }
        if self.filling.len().saturating_add(bytes) > self.chunk_bytes {
            sealed.extend(self.seal(batch));
        }
        if !history_chunk::append(&mut self.filling, ts, message) {
            return false;
        }
        let meta = self.filling_meta.get_or_insert_with(|| {
            self.filling_since = Some(now);
            self.bytes += CHUNK_OVERHEAD;
            ChunkMeta {
                first_seq: self.next_seq,
                count: 0,
                min_ts: ts,
                max_ts: ts,
                bytes: CHUNK_OVERHEAD,
            }
        });
        meta.count += 1;
        meta.min_ts = meta.min_ts.min(ts);
        meta.max_ts = meta.max_ts.max(ts);
        meta.bytes += bytes;
        self.bytes += bytes;
        self.messages += 1;
        self.next_seq += 1;
        if self.filling.len() >= self.chunk_bytes {
            sealed.extend(self.seal(batch));
        }
        self.shrink(evicted);
        true
    }

    /// Closes the filling chunk (if it holds anything): its body goes to
    /// the store in batch `batch` and stays readable from RAM until
    /// [`HistoryLog::release`] says that batch is durable.
    pub fn seal(&mut self, batch: Option<u64>) -> Option<SealedChunk> {
        let meta = self.filling_meta.take()?;
        self.filling_since = None;
        let body: Arc<[u8]> = Arc::from(std::mem::take(&mut self.filling));
        self.sealed.push_back(Sealed {
            meta,
            body: Some(body.clone()),
            batch,
        });
        Some(SealedChunk { meta, body })
    }

    /// Every store batch up to `durable` is on disk: the bodies it holds
    /// are read from the store from now on.
    pub fn release(&mut self, durable: u64) {
        // Bodies still held are the newest chunks (a suffix): stop at the
        // first one already released.
        for chunk in self.sealed.iter_mut().rev() {
            if chunk.body.is_none() {
                break;
            }
            if chunk.batch.is_some_and(|batch| batch <= durable) {
                chunk.body = None;
            }
        }
    }

    /// A chunk read back from the store, in sequence order (its body stays
    /// there). Bounds apply as for [`HistoryLog::push`].
    pub fn restore(&mut self, meta: ChunkMeta, evicted: &mut Vec<u64>) {
        self.skip_to(meta.first_seq.saturating_add(u64::from(meta.count)));
        if meta.bytes > self.max_bytes {
            evicted.push(meta.first_seq);
            return;
        }
        self.bytes += meta.bytes;
        self.messages += u64::from(meta.count);
        self.sealed.push_back(Sealed {
            meta,
            body: None,
            batch: None,
        });
        self.shrink(evicted);
    }

    /// New messages are numbered from `seq` on at least (a record the
    /// store held under a lower number is being deleted).
    pub fn skip_to(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq);
    }

    fn drop_oldest(&mut self, evicted: &mut Vec<u64>) -> bool {
        let Some(old) = self.sealed.pop_front() else {
            return false;
        };
        self.bytes = self.bytes.saturating_sub(old.meta.bytes);
        self.messages = self.messages.saturating_sub(u64::from(old.meta.count));
        evicted.push(old.meta.first_seq);
        true
    }

    fn shrink(&mut self, evicted: &mut Vec<u64>) {
        while self.bytes > self.max_bytes && self.drop_oldest(evicted) {}
    }

    /// Drops the chunks whose newest message is older than `max_age_ms`
    /// at `now_ms` (the filling one too: it was never stored).
    pub fn expire(&mut self, now_ms: u64, evicted: &mut Vec<u64>) {
        let oldest_kept = now_ms.saturating_sub(self.max_age_ms);
        while self
            .sealed
            .front()
            .is_some_and(|c| c.meta.max_ts < oldest_kept)
        {
            self.drop_oldest(evicted);
        }
        if self.sealed.is_empty() {
            if let Some(meta) = self.filling_meta.filter(|m| m.max_ts < oldest_kept) {
                self.filling_meta = None;
                self.filling_since = None;
                self.filling.clear();
                self.bytes = self.bytes.saturating_sub(meta.bytes);
                self.messages = self.messages.saturating_sub(u64::from(meta.count));
            }
        }
    }

    /// The messages `keep` accepts (by topic) within `window`, newest
    /// first, at most `window.limit` of them; chunks outside the window
    /// are not read.
    pub fn query(
        &self,
        window: Window,
        keep: impl Fn(&str) -> bool,
        source: Option<&dyn ChunkSource>,
    ) -> HistoryPage {
        let limit = window.limit.max(1);
        let mut page = HistoryPage::default();
        let mut reads = 0usize;
        let filling = self
            .filling_meta
            .map(|meta| (meta, Some(self.filling.as_slice())));
        let sealed = self
            .sealed
            .iter()
            .rev()
            .map(|c| (c.meta, c.body.as_deref()));
        for (meta, body) in filling.into_iter().chain(sealed) {
            if window.cursor.is_some_and(|c| meta.first_seq >= c)
                || window.since.is_some_and(|s| meta.max_ts < s)
                || window.until.is_some_and(|u| meta.min_ts > u)
            {
                continue;
            }
            let loaded;
            let body = match body {
                Some(body) => body,
                None => {
                    if reads == MAX_CHUNK_READS {
                        let after_chunk = meta.first_seq.saturating_add(u64::from(meta.count));
                        page.next = Some(window.cursor.map_or(after_chunk, |c| c.min(after_chunk)));
                        return page;
                    }
                    reads += 1;
                    loaded = source.and_then(|s| s.chunk_body(meta.first_seq));
                    match loaded.as_deref() {
                        Some(body) => body,
                        None => {
                            page.unreadable += 1;
                            continue;
                        }
                    }
                }
            };
            let Some(messages) = history_chunk::decode(body) else {
                page.unreadable += 1;
                continue;
            };
            let numbered = (meta.first_seq..).zip(messages);
            let candidates: Vec<_> = numbered.collect();
            for (seq, (ts, view)) in candidates.into_iter().rev() {
                if window.cursor.is_some_and(|c| seq >= c)
                    || window.since.is_some_and(|s| ts < s)
                    || window.until.is_some_and(|u| ts > u)
                    || !keep(view.topic)
                {
                    continue;
                }
                if page.entries.len() == limit {
                    page.next = page.entries.last().map(|e| e.seq);
                    return page;
                }
                page.entries.push(Entry {
                    seq,
                    ts,
                    bytes: history_chunk::entry_bytes(view.topic, view.payload),
                    item: view.to_owned(),
                });
            }
        }
        page
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn view(topic: &str) -> HistoryView<'_> {
        HistoryView {
            topic,
            qos: 1,
            retain: false,
            payload: b"0123456789",
        }
    }

    /// The store: what was sealed, by first sequence number.
    #[derive(Default)]
    struct Store(HashMap<u64, Vec<u8>>);

    impl ChunkSource for Store {
        fn chunk_body(&self, first_seq: u64) -> Option<Vec<u8>> {
            self.0.get(&first_seq).cloned()
        }
    }

    fn seqs(page: &HistoryPage) -> Vec<u64> {
        page.entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn chunks_are_sealed_read_back_and_paged_newest_first() {
        let now = Instant::now();
        let mut log = HistoryLog::new(u64::MAX, 1 << 20);
        let (mut sealed, mut out) = (Vec::new(), Vec::new());
        let mut store = Store::default();
        for i in 0..10u64 {
            let topic = if i % 2 == 0 { "even" } else { "odd" };
            assert!(log.push(now, 1000 + i, &view(topic), Some(1), &mut sealed, &mut out));
            if i == 3 || i == 6 {
                sealed.extend(log.seal(Some(1)));
            }
        }
        assert_eq!(sealed.len(), 2, "two flushes, one chunk each");
        for c in &sealed {
            store.0.insert(c.meta.first_seq, c.body.to_vec());
        }
        log.release(1);
        assert_eq!(log.len(), 10);
        let w = Window {
            limit: 3,
            ..Window::default()
        };
        let p = log.query(w, |_| true, Some(&store));
        assert_eq!(seqs(&p), [10, 9, 8]);
        assert_eq!(p.next, Some(8));
        let p = log.query(
            Window {
                cursor: p.next,
                ..w
            },
            |_| true,
            Some(&store),
        );
        assert_eq!(seqs(&p), [7, 6, 5], "across a chunk's edge, from the store");
        let w = Window {
            since: Some(1002),
            until: Some(1006),
            limit: 10,
            cursor: None,
        };
        let p = log.query(w, |t| t == "even", Some(&store));
        assert_eq!(seqs(&p), [7, 5, 3], "ts 1006, 1004, 1002");
        assert_eq!(p.next, None);
        let p = log.query(w, |_| true, None);
        assert_eq!(p.unreadable, 2, "released bodies need the store");
    }

    #[test]
    fn a_page_reads_a_bounded_number_of_chunks() {
        let now = Instant::now();
        let mut log = HistoryLog::new(u64::MAX, 1 << 20);
        let (mut sealed, mut out) = (Vec::new(), Vec::new());
        let mut store = Store::default();
        let chunks = MAX_CHUNK_READS as u64 + 5;
        for i in 0..chunks {
            log.push(now, i, &view("t"), Some(1), &mut sealed, &mut out);
            sealed.extend(log.seal(Some(1)));
        }
        for c in &sealed {
            store.0.insert(c.meta.first_seq, c.body.to_vec());
        }
        log.release(1);
        let w = Window {
            limit: 1000,
            ..Window::default()
        };
        let p = log.query(w, |t| t == "nothing", Some(&store));
        assert!(p.entries.is_empty());
        let next = p.next.unwrap();
        assert_eq!(
            next,
            chunks - MAX_CHUNK_READS as u64 + 1,
            "before the first chunk not read"
        );
        let p = log.query(
            Window {
                cursor: Some(next),
                ..w
            },
            |_| true,
            Some(&store),
        );
        assert_eq!(seqs(&p), (1..next).rev().collect::<Vec<_>>());
        assert_eq!(p.next, None);
    }

    #[test]
    fn whole_chunks_go_oldest_first_by_bytes_and_by_age() {
        let now = Instant::now();
        let one = history_chunk::entry_bytes("t", b"0123456789") + CHUNK_OVERHEAD;
        let mut log = HistoryLog::new(1000, one * 8);
        let (mut sealed, mut out) = (Vec::new(), Vec::new());
        for i in 0..8u64 {
            log.push(now, 100 * i, &view("t"), None, &mut sealed, &mut out);
            sealed.extend(log.seal(None));
        }
        assert!(out.is_empty());
        assert_eq!(log.bytes(), one * 8);
        log.push(now, 900, &view("t"), None, &mut sealed, &mut out);
        assert_eq!(out, [1], "the oldest chunk fell out for bytes");
        out.clear();
        log.expire(1450, &mut out);
        assert_eq!(out, [2, 3, 4, 5], "newest message older than 1 s at 1.45 s");
        let big = HistoryView {
            payload: &[0; 2000],
            ..view("t")
        };
        assert!(!log.push(now, 1500, &big, None, &mut sealed, &mut out));
    }

    #[test]
    fn a_restore_carries_the_numbers_on() {
        let mut log = HistoryLog::new(u64::MAX, 100);
        let mut out = Vec::new();
        for first_seq in [4, 9, 12] {
            let meta = ChunkMeta {
                first_seq,
                count: 2,
                min_ts: 0,
                max_ts: 0,
                bytes: 40,
            };
            log.restore(meta, &mut out);
        }
        assert_eq!(out, [4], "bytes enforced on what the store held");
        let mut sealed = Vec::new();
        log.push(Instant::now(), 1, &view("t"), None, &mut sealed, &mut out);
        let p = log.query(Window::default(), |_| true, None);
        assert_eq!(seqs(&p), [14]);
    }
}

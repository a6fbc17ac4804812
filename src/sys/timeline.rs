//! A time-ordered ring of records bounded by age and bytes, oldest out:
//! what the device trajectories keep in memory and answer the admin API
//! from (docs/observability.md, "Trajectories and message history"; the
//! message history is chunked instead, history_log.rs, and shares only
//! [`Entry`] and [`Window`]).
//!
//! Each record has a sequence number (its store key: a restart carries on
//! after the highest one recovered), a timestamp in ms since the epoch and
//! its size as the store counts it. Pushing past `max_bytes` and
//! [`Timeline::expire`] past `max_age_ms` hand back the sequence numbers
//! that fell out, so the broker deletes the same records from the store.
//!
//! Invariant: records are in sequence order, which is arrival order; their
//! timestamps normally are too (a wall clock set back makes an exception,
//! which age eviction tolerates: it stops at the first record young enough).

use std::collections::VecDeque;

/// One record and what the bounds count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<T> {
    pub seq: u64,
    pub ts: u64,
    pub bytes: usize,
    pub item: T,
}

/// A page of a query: the records, newest first, and the cursor of the
/// next page (`None`: this was the last).
#[derive(Debug)]
pub struct Page<'a, T> {
    pub entries: Vec<&'a Entry<T>>,
    pub next: Option<u64>,
}

/// What a query asks for: `since` and `until` in ms since the epoch, both
/// inclusive; `cursor` from a previous page's `next`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<u64>,
    pub until: Option<u64>,
    pub limit: usize,
    pub cursor: Option<u64>,
}

#[derive(Debug)]
pub struct Timeline<T> {
    entries: VecDeque<Entry<T>>,
    bytes: usize,
    next_seq: u64,
    max_age_ms: u64,
    max_bytes: usize,
}

impl<T> Timeline<T> {
    /// `max_bytes` 0 keeps nothing (the feature is off).
    pub fn new(max_age_ms: u64, max_bytes: usize) -> Timeline<T> {
        Timeline {
            entries: VecDeque::new(),
            bytes: 0,
            next_seq: 1,
            max_age_ms,
            max_bytes,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.max_bytes > 0
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held, as the store counts them.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends a new record; returns its sequence number, and pushes the
    /// ones that fell out for `max_bytes` onto `evicted`. A record larger
    /// than `max_bytes` alone is not kept (`None`).
    pub fn push(&mut self, ts: u64, bytes: usize, item: T, evicted: &mut Vec<u64>) -> Option<u64> {
        if bytes > self.max_bytes {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.insert(Entry {
            seq,
            ts,
            bytes,
            item,
        });
        self.shrink(evicted);
        Some(seq)
    }

    /// A record read back from the store, in sequence order; the next new
    /// record gets a higher number. Bounds apply as for [`Timeline::push`].
    pub fn restore(&mut self, entry: Entry<T>, evicted: &mut Vec<u64>) {
        self.next_seq = self.next_seq.max(entry.seq.saturating_add(1));
        if entry.bytes > self.max_bytes {
            evicted.push(entry.seq);
            return;
        }
        self.insert(entry);
        self.shrink(evicted);
    }

    fn insert(&mut self, entry: Entry<T>) {
        self.bytes = self.bytes.saturating_add(entry.bytes);
        self.entries.push_back(entry);
    }

    fn shrink(&mut self, evicted: &mut Vec<u64>) {
        while self.bytes > self.max_bytes {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(old.bytes);
            evicted.push(old.seq);
        }
    }

    /// Drops the records older than `max_age_ms` at `now_ms`.
    pub fn expire(&mut self, now_ms: u64, evicted: &mut Vec<u64>) {
        let oldest_kept = now_ms.saturating_sub(self.max_age_ms);
        while self.entries.front().is_some_and(|e| e.ts < oldest_kept) {
            if let Some(old) = self.entries.pop_front() {
                self.bytes = self.bytes.saturating_sub(old.bytes);
                evicted.push(old.seq);
            }
        }
    }

    /// The records `keep` accepts within `window`, newest first, at most
    /// `window.limit` of them.
    pub fn query(&self, window: Window, keep: impl Fn(&T) -> bool) -> Page<'_, T> {
        let limit = window.limit.max(1);
        let mut entries = Vec::new();
        let mut next = None;
        let newest_first = self.entries.iter().rev();
        for entry in newest_first.filter(|e| window.cursor.is_none_or(|c| e.seq < c)) {
            if window.since.is_some_and(|s| entry.ts < s)
                || window.until.is_some_and(|u| entry.ts > u)
                || !keep(&entry.item)
            {
                continue;
            }
            if entries.len() == limit {
                next = entries.last().map(|e: &&Entry<T>| e.seq);
                break;
            }
            entries.push(entry);
        }
        Page { entries, next }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn seqs(page: &Page<'_, &str>) -> Vec<u64> {
        page.entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn oldest_out_by_bytes_and_by_age() {
        let mut t = Timeline::new(1000, 30);
        let mut out = Vec::new();
        for (i, ts) in [100, 200, 300].into_iter().enumerate() {
            assert_eq!(t.push(ts, 10, "a", &mut out), Some(i as u64 + 1));
        }
        assert!(out.is_empty());
        t.push(400, 10, "b", &mut out);
        assert_eq!(out, [1], "the oldest fell out for bytes");
        assert_eq!(t.bytes(), 30);
        assert_eq!(t.push(500, 31, "c", &mut out), None, "larger than the cap");
        out.clear();
        t.expire(1250, &mut out);
        assert_eq!(out, [2], "older than 1 s at 1.25 s");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn pages_newest_first_with_a_cursor_and_a_window() {
        let mut t = Timeline::new(u64::MAX, 1 << 20);
        let mut out = Vec::new();
        for i in 0..10u64 {
            let item = if i % 2 == 0 { "even" } else { "odd" };
            t.push(1000 + i, 1, item, &mut out);
        }
        let w = Window {
            limit: 3,
            ..Window::default()
        };
        let p = t.query(w, |_| true);
        assert_eq!(seqs(&p), [10, 9, 8]);
        assert_eq!(p.next, Some(8));
        let p = t.query(
            Window {
                cursor: p.next,
                ..w
            },
            |_| true,
        );
        assert_eq!(seqs(&p), [7, 6, 5]);
        let w = Window {
            since: Some(1002),
            until: Some(1006),
            limit: 10,
            cursor: None,
        };
        let p = t.query(w, |i| *i == "even");
        assert_eq!(seqs(&p), [7, 5, 3], "ts 1006, 1004, 1002");
        assert_eq!(p.next, None);
    }

    #[test]
    fn a_restore_carries_the_numbers_on() {
        let mut t = Timeline::new(u64::MAX, 20);
        let mut out = Vec::new();
        for seq in [4, 9, 12] {
            let entry = Entry {
                seq,
                ts: seq,
                bytes: 10,
                item: "x",
            };
            t.restore(entry, &mut out);
        }
        assert_eq!(out, [4], "bytes enforced on what the store held");
        assert_eq!(t.push(20, 10, "y", &mut out), Some(13));
    }
}

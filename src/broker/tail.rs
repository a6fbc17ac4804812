//! The admin API's live tail (`GET /api/v1/tail`, README.md, "Operating
//! edgemq"): a small ring of the messages the broker routed lately, each
//! numbered by a sequence number that never goes back, so that a poller
//! asks for what came after the last one it saw.
//!
//! Kept only while someone tails: the ring is filled for [`TAIL_KEEP`]
//! after the last tail request and emptied once that lapses, so a broker
//! nobody tails pays one comparison per message. Bounded by
//! [`TAIL_MAX_MESSAGES`] and [`TAIL_MAX_BYTES`] (the oldest go first);
//! each payload is kept up to [`TAIL_MAX_PAYLOAD`] bytes, its full
//! length beside it. Filters are applied when asked, not when recording.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::topic::TopicFilter;

use super::publish::Routed;
use super::Broker;

/// Messages in the ring at most: a screen's worth, a few seconds of a
/// busy gateway.
pub const TAIL_MAX_MESSAGES: usize = 256;

/// Bytes (topics and kept payloads) in the ring at most.
pub const TAIL_MAX_BYTES: usize = 256 * 1024;

/// Payload bytes kept per message: enough to read, not a copy of a
/// firmware image.
pub const TAIL_MAX_PAYLOAD: usize = 4 * 1024;

/// How long the ring is kept after the last tail request: a poller asks
/// again within a few seconds.
pub const TAIL_KEEP: Duration = Duration::from_secs(30);

/// One message as the tail shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tailed {
    pub seq: u64,
    /// Ms since the epoch, when the wall clock is known.
    pub ts: Option<u64>,
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
    /// The payload's whole length; `payload` holds at most
    /// [`TAIL_MAX_PAYLOAD`] of it.
    pub bytes: usize,
    pub payload: Vec<u8>,
}

impl Tailed {
    fn size(&self) -> usize {
        self.topic.len() + self.payload.len()
    }
}

#[derive(Debug, Default)]
pub(super) struct Tail {
    ring: VecDeque<Tailed>,
    bytes: usize,
    last_seq: u64,
    wanted_until: Option<Instant>,
    /// A message was recorded since the last `take_news`.
    news: bool,
}

impl Tail {
    /// Whether messages are recorded at `now`; empties the ring once the
    /// tail lapsed.
    fn wanted(&mut self, now: Instant) -> bool {
        match self.wanted_until {
            Some(until) if now <= until => true,
            Some(_) => {
                self.wanted_until = None;
                self.ring = VecDeque::new();
                self.bytes = 0;
                false
            }
            None => false,
        }
    }

    fn record(&mut self, ts: Option<u64>, message: &Routed<'_>) {
        let payload = message.body.payload();
        self.last_seq += 1;
        let kept = payload.get(..TAIL_MAX_PAYLOAD).unwrap_or(payload);
        let entry = Tailed {
            seq: self.last_seq,
            ts,
            topic: message.body.topic().to_owned(),
            qos: message.qos as u8,
            retain: message.retain,
            bytes: payload.len(),
            payload: kept.to_vec(),
        };
        self.bytes += entry.size();
        self.ring.push_back(entry);
        while self.ring.len() > TAIL_MAX_MESSAGES || self.bytes > TAIL_MAX_BYTES {
            match self.ring.pop_front() {
                Some(old) => self.bytes = self.bytes.saturating_sub(old.size()),
                None => break,
            }
        }
        self.news = true;
    }

    /// The last sequence number given, and the messages after `after`
    /// that `filter` matches, oldest first.
    fn after(&self, filter: &TopicFilter, after: u64) -> (u64, Vec<Tailed>) {
        let found = self
            .ring
            .iter()
            .filter(|m| m.seq > after && filter.matches(&m.topic))
            .cloned()
            .collect();
        (self.last_seq, found)
    }
}

impl Broker {
    /// Records `message` if someone tails (publish.rs's `route`).
    pub(super) fn tail_message(&mut self, now: Instant, message: &Routed<'_>) {
        if self.tail.wanted(now) {
            let ts = self.observe.wall_ms_at(now);
            self.tail.record(ts, message);
        }
    }

    /// `GET /api/v1/tail`: keeps the ring for [`TAIL_KEEP`] more and
    /// returns the last sequence number and the matching messages after
    /// `after`; `Err`: the filter is not one.
    pub fn tail(
        &mut self,
        now: Instant,
        filter: &str,
        after: u64,
    ) -> Result<(u64, Vec<Tailed>), String> {
        let filter = TopicFilter::new(filter, &self.settings.topics).map_err(|e| e.to_string())?;
        // A lapsed ring is emptied before it is wanted again.
        self.tail.wanted(now);
        self.tail.wanted_until = Some(now.checked_add(TAIL_KEEP).unwrap_or(now));
        Ok(self.tail.after(&filter, after))
    }

    /// Whether a message was tailed since the last call: the admin
    /// listener then wakes its waiting tail requests.
    pub fn take_tail_news(&mut self) -> bool {
        std::mem::take(&mut self.tail.news)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::codec::{PublishBody, QoS};
    use crate::topic::TopicLimits;

    fn f(filter: &str) -> TopicFilter {
        TopicFilter::new(filter, &TopicLimits::UNBOUNDED).unwrap()
    }

    fn record(tail: &mut Tail, now: Instant, topic: &str, payload: &[u8]) {
        let body = PublishBody::new(topic, payload).unwrap();
        if tail.wanted(now) {
            tail.record(Some(7), &Routed::plain(&body, QoS::AtLeastOnce, true));
        }
    }

    #[test]
    fn records_only_while_wanted_and_stays_bounded() {
        let t0 = Instant::now();
        let mut tail = Tail::default();
        record(&mut tail, t0, "a/b", b"unseen");
        assert_eq!(tail.after(&f("#"), 0), (0, Vec::new()));
        tail.wanted_until = Some(t0 + TAIL_KEEP);
        record(&mut tail, t0, "a/b", b"one");
        record(&mut tail, t0, "c", b"two");
        let (last, found) = tail.after(&f("a/+"), 0);
        assert_eq!(last, 2);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].seq, found[0].qos, found[0].retain), (1, 1, true));
        assert_eq!(tail.after(&f("#"), 1).1[0].payload, b"two");
        assert!(std::mem::take(&mut tail.news));
        // Bounded in bytes: big payloads are cut, and the oldest go.
        let big = vec![b'x'; TAIL_MAX_PAYLOAD * 2];
        for _ in 0..(TAIL_MAX_BYTES / TAIL_MAX_PAYLOAD + 10) {
            record(&mut tail, t0, "big", &big);
        }
        assert!(tail.bytes <= TAIL_MAX_BYTES && tail.ring.len() < TAIL_MAX_MESSAGES);
        let newest = tail.ring.back().unwrap();
        assert_eq!(
            (newest.bytes, newest.payload.len()),
            (big.len(), TAIL_MAX_PAYLOAD)
        );
        for _ in 0..(2 * TAIL_MAX_MESSAGES) {
            record(&mut tail, t0, "s", b"");
        }
        assert_eq!(tail.ring.len(), TAIL_MAX_MESSAGES);
        // Lapsed: emptied, and the numbering goes on.
        let last = tail.last_seq;
        record(
            &mut tail,
            t0 + TAIL_KEEP + Duration::from_secs(1),
            "a/b",
            b"late",
        );
        assert!(tail.ring.is_empty() && tail.bytes == 0);
        assert_eq!(tail.after(&f("#"), 0), (last, Vec::new()));
    }
}

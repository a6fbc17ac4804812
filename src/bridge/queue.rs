//! One bridge's uplink queue: what is bound for the remote, in order, until
//! the remote has acknowledged it.
//!
//! Invariants: entries are ordered by a strictly increasing `seq`; an entry
//! leaves the queue only when the link says the remote acknowledged it
//! (PUBACK for QoS 1, PUBCOMP for QoS 2), when a QoS 0 entry has been
//! written, or when the caps push the oldest out (counted). `count` and
//! `bytes` never exceed the caps after a `push` returns.
//!
//! Persistence is not done here: every change of a QoS ≥ 1 entry is told
//! to a [`QueueJournal`] (the store backs it with sled), and
//! [`BridgeQueue::restore`] seeds the queue from what it kept.

use std::collections::VecDeque;
use std::time::Instant;

use crate::codec::QoS;

/// A message bound for the remote, its topic already remapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    /// The remote topic.
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    /// Its MQTT 5 forwarded properties (`codec::forwarded_block`: content
    /// type, user properties in order, ...), for a 5.0 link; empty for a
    /// 3.x link, which cannot carry them.
    pub properties: Box<[u8]>,
    /// Its arrival plus its Message Expiry Interval: past it the message
    /// is dropped instead of sent, and before it a 5.0 link sends what
    /// remains [MQTT-3.3.2-6].
    pub expires_at: Option<Instant>,
}

impl QueuedMessage {
    /// A message without MQTT 5 properties or expiry.
    pub fn plain(topic: String, payload: Vec<u8>, qos: QoS, retain: bool) -> QueuedMessage {
        QueuedMessage {
            topic,
            payload,
            qos,
            retain,
            properties: Box::default(),
            expires_at: None,
        }
    }

    /// What the byte cap counts.
    pub fn size(&self) -> usize {
        self.topic
            .len()
            .saturating_add(self.payload.len())
            .saturating_add(self.properties.len())
    }

    /// Past its Message Expiry Interval at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| now > at)
    }
}

/// Where the queue's QoS ≥ 1 changes are made durable. Called
/// synchronously from the event loop: implementations batch, never fsync
/// per call. QoS 0 entries are never journaled.
pub trait QueueJournal {
    /// `entry` was appended to `bridge`'s queue as `seq`.
    fn pushed(&mut self, bridge: &str, seq: u64, entry: &QueuedMessage);
    /// `seq` left `bridge`'s queue (acknowledged, or dropped by the caps).
    fn removed(&mut self, bridge: &str, seq: u64);
}

/// The journal of a broker without persistence: the queue lives in RAM.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoJournal;

impl QueueJournal for NoJournal {
    fn pushed(&mut self, _bridge: &str, _seq: u64, _entry: &QueuedMessage) {}
    fn removed(&mut self, _bridge: &str, _seq: u64) {}
}

#[derive(Debug)]
pub struct BridgeQueue {
    name: String,
    entries: VecDeque<(u64, QueuedMessage)>,
    next_seq: u64,
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
    dropped: u64,
    /// Entries taken off by `remove`: sent to (and for QoS 1/2
    /// acknowledged by) the remote.
    sent: u64,
}

impl BridgeQueue {
    pub fn new(name: &str, max_messages: usize, max_bytes: usize) -> BridgeQueue {
        BridgeQueue {
            name: name.to_owned(),
            entries: VecDeque::new(),
            next_seq: 1,
            bytes: 0,
            max_messages: max_messages.max(1),
            max_bytes: max_bytes.max(1),
            dropped: 0,
            sent: 0,
        }
    }

    /// Seeds the queue with entries a journal kept across a restart, in
    /// any order; later pushes continue after the highest `seq`. The caps
    /// apply (the oldest beyond them are dropped and journaled as removed).
    pub fn restore(
        &mut self,
        entries: impl IntoIterator<Item = (u64, QueuedMessage)>,
        journal: &mut dyn QueueJournal,
    ) {
        let mut all: Vec<(u64, QueuedMessage)> = self.entries.drain(..).collect();
        all.extend(entries);
        all.sort_by_key(|e| e.0);
        all.dedup_by_key(|e| e.0);
        self.bytes = all.iter().map(|e| e.1.size()).sum();
        self.next_seq = all
            .last()
            .map_or(self.next_seq, |e| e.0.saturating_add(1))
            .max(self.next_seq);
        self.entries = all.into();
        self.enforce_caps(journal);
    }

    /// Appends `message`, dropping the oldest entries past the caps; returns
    /// its seq and how many were dropped to make room.
    pub fn push(&mut self, message: QueuedMessage, journal: &mut dyn QueueJournal) -> (u64, u64) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        if message.qos != QoS::AtMostOnce {
            journal.pushed(&self.name, seq, &message);
        }
        self.bytes = self.bytes.saturating_add(message.size());
        self.entries.push_back((seq, message));
        let dropped = self.enforce_caps(journal);
        (seq, dropped)
    }

    fn enforce_caps(&mut self, journal: &mut dyn QueueJournal) -> u64 {
        let mut dropped = 0;
        while self.entries.len() > self.max_messages
            || (self.bytes > self.max_bytes && self.entries.len() > 1)
        {
            let Some((seq, old)) = self.entries.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(old.size());
            if old.qos != QoS::AtMostOnce {
                journal.removed(&self.name, seq);
            }
            dropped += 1;
        }
        self.dropped = self.dropped.saturating_add(dropped);
        dropped
    }

    /// Removes `seq` (the remote acknowledged it); false if it is not here
    /// (dropped by the caps meanwhile, or a duplicate acknowledgement).
    pub fn remove(&mut self, seq: u64, journal: &mut dyn QueueJournal) -> bool {
        let Ok(index) = self.entries.binary_search_by_key(&seq, |e| e.0) else {
            return false;
        };
        let Some((_, message)) = self.entries.remove(index) else {
            return false;
        };
        self.bytes = self.bytes.saturating_sub(message.size());
        self.sent = self.sent.saturating_add(1);
        if message.qos != QoS::AtMostOnce {
            journal.removed(&self.name, seq);
        }
        if self.entries.is_empty() && self.entries.capacity() > 64 {
            self.entries = VecDeque::new();
        }
        true
    }

    pub fn get(&self, seq: u64) -> Option<&QueuedMessage> {
        let index = self.entries.binary_search_by_key(&seq, |e| e.0).ok()?;
        self.entries.get(index).map(|e| &e.1)
    }

    /// The first entry with a seq at or after `seq`.
    pub fn first_from(&self, seq: u64) -> Option<(u64, &QueuedMessage)> {
        let index = self.entries.partition_point(|e| e.0 < seq);
        self.entries.get(index).map(|e| (e.0, &e.1))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Entries dropped by the caps since start.
    /// Messages sent since the start (see the field).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Every entry in order (for a store that rewrites the queue).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &QueuedMessage)> {
        self.entries.iter().map(|e| (e.0, &e.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Log(Vec<String>);

    impl QueueJournal for Log {
        fn pushed(&mut self, bridge: &str, seq: u64, entry: &QueuedMessage) {
            self.0.push(format!("+{bridge}{seq}{}", entry.topic));
        }
        fn removed(&mut self, bridge: &str, seq: u64) {
            self.0.push(format!("-{bridge}{seq}"));
        }
    }

    fn msg(topic: &str, qos: u8) -> QueuedMessage {
        QueuedMessage::plain(topic.into(), vec![0; 10], QoS::from_u8(qos).unwrap(), false)
    }

    #[test]
    fn ordered_removal_only_by_seq_and_journaled() {
        let mut log = Log::default();
        let mut q = BridgeQueue::new("b", 10, 1000);
        assert_eq!(q.push(msg("a", 1), &mut log), (1, 0));
        assert_eq!(q.push(msg("z", 0), &mut log), (2, 0));
        assert_eq!(q.push(msg("c", 2), &mut log), (3, 0));
        assert_eq!(q.first_from(2).unwrap().0, 2);
        assert!(q.remove(3, &mut log));
        assert!(!q.remove(3, &mut log));
        assert!(q.remove(2, &mut log));
        assert_eq!(q.first_from(2), None);
        assert_eq!(q.first_from(0).unwrap().1.topic, "a");
        assert_eq!(log.0, ["+b1a", "+b3c", "-b3"]);
        assert_eq!(q.bytes(), 11);
    }

    #[test]
    fn caps_drop_the_oldest() {
        let mut log = Log::default();
        let mut q = BridgeQueue::new("b", 3, 1000);
        for i in 0..5 {
            q.push(msg(&i.to_string(), 1), &mut log);
        }
        assert_eq!((q.len(), q.dropped()), (3, 2));
        assert_eq!(q.first_from(0).unwrap().0, 3);
        assert!(log.0.contains(&"-b1".to_owned()));
        let mut q = BridgeQueue::new("b", 100, 25);
        for _ in 0..5 {
            q.push(msg("t", 1), &mut NoJournal);
        }
        assert_eq!((q.len(), q.bytes(), q.dropped()), (2, 22, 3));
    }

    #[test]
    fn restore_continues_after_the_highest_seq() {
        let mut q = BridgeQueue::new("b", 10, 1000);
        q.restore([(7, msg("x", 1)), (3, msg("w", 1))], &mut NoJournal);
        assert_eq!(q.first_from(0).unwrap(), (3, &msg("w", 1)));
        assert_eq!(q.push(msg("y", 1), &mut NoJournal).0, 8);
        assert_eq!(q.len(), 3);
    }
}

//! The store ops gathered for the next batch, and when to hand them over.
//!
//! Most stored messages are short-lived: a QoS 1 message to an online
//! persistent subscriber is put when it is routed and deleted when the
//! PUBACK comes back, well inside one `autosave_interval`. Encoding both,
//! sending them to the writer thread and applying them to sled cost more
//! than routing the message, and wrote log entries to flash for nothing
//! (README.md ## Performance: persistent fan-in was bound by the writer
//! thread). So in batched mode the ops wait here for up to one
//! `autosave_interval`, and a delete that finds its message's put still
//! here cancels both: the put never left the broker, so the store never had
//! the record (message and bridge sequence numbers are never reused).
//!
//! What is handed over is the ops in their order minus pairs that cancel,
//! so a crash in the middle of a flush still recovers a state the broker
//! went through. The held ops are bounded by `max_bytes` (half of
//! `persistence_cache_bytes`): past it they are handed over early without
//! asking for a flush, and they keep their deadline: when the interval is
//! up a batch (empty if need be) asks for it. (The writer itself flushes
//! once its unflushed writes reach the same bound, so in practice an early
//! batch is flushed at once: store/replay.rs.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::store_op::StoreOp;

/// Bytes counted for an op besides the payload it keeps alive.
const OP_OVERHEAD: usize = 64;

/// Slots kept between batches; a burst's bigger tables are freed.
const KEPT_CAPACITY: usize = 256;

/// Ops that a later op can cancel or replace, by what they are about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum OpKey {
    Message { store_id: u64, seq: u64 },
    Delivery { store_id: u64, seq: u64 },
    Bridge { bridge: u16, seq: u64 },
    Trajectory(u64),
    History(u64),
}

/// A batch ready for the writer.
#[derive(Debug)]
pub struct ReadyBatch {
    pub batch: u64,
    pub ops: Vec<StoreOp>,
    /// Flush once applied (the interval is up, sync mode, shutdown);
    /// false when the ops were handed over early for their size.
    pub flush: bool,
    /// What the ops hold in memory (counted against the store backlog).
    pub bytes: usize,
}

#[derive(Debug, Default)]
pub(super) struct StoreBatch {
    /// In arrival order; `None` where an op was cancelled or replaced.
    ops: Vec<Option<StoreOp>>,
    index: HashMap<OpKey, usize>,
    /// Bridge names seen, so that keys need not copy them.
    bridges: Vec<String>,
    live: usize,
    bytes: usize,
    /// Ops ever pushed, trajectory and history records aside (a packet
    /// "made ops" if this moved).
    pushed: u64,
    /// When the oldest op not yet flushed was gathered.
    since: Option<Instant>,
    /// Ops were handed over early, without a flush, and none since asked
    /// for one.
    unflushed: bool,
}

impl StoreBatch {
    pub(super) fn pushed(&self) -> u64 {
        self.pushed
    }

    pub(super) fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub(super) fn push(&mut self, op: StoreOp) {
        // Trajectories and history record what happened; no
        // acknowledgement waits for them, and a client that only causes
        // them (a connect, a subscribe) does not feed the store.
        if !op.is_record_of_events() {
            self.pushed += 1;
        }
        match &op {
            StoreOp::PutMessage { store_id, seq, .. } => {
                let key = OpKey::Message {
                    store_id: *store_id,
                    seq: *seq,
                };
                self.append_indexed(key, op);
            }
            StoreOp::PutDelivery { store_id, seq, .. } => {
                let key = OpKey::Delivery {
                    store_id: *store_id,
                    seq: *seq,
                };
                // A later state of the same delivery replaces the earlier.
                if !self.replace(&key, op.clone()) {
                    self.append_indexed(key, op);
                }
            }
            StoreOp::DeleteMessage { store_id, seq } => {
                let (store_id, seq) = (*store_id, *seq);
                self.cancel(&OpKey::Delivery { store_id, seq });
                if !self.cancel(&OpKey::Message { store_id, seq }) {
                    self.append(op);
                }
            }
            StoreOp::PutBridgeMessage { bridge, seq, .. } => {
                let key = OpKey::Bridge {
                    bridge: self.bridge_number(bridge),
                    seq: *seq,
                };
                self.append_indexed(key, op);
            }
            StoreOp::DeleteBridgeMessage { bridge, seq } => {
                let key = OpKey::Bridge {
                    bridge: self.bridge_number(bridge),
                    seq: *seq,
                };
                if !self.cancel(&key) {
                    self.append(op);
                }
            }
            StoreOp::PutTrajectory { seq, .. } => self.append_indexed(OpKey::Trajectory(*seq), op),
            StoreOp::PutHistoryChunk { chunk } => {
                self.append_indexed(OpKey::History(chunk.meta.first_seq), op)
            }
            // A record that fell out within the interval never reaches
            // the flash (a burst past the byte cap).
            StoreOp::DeleteTrajectory { seq } => {
                if !self.cancel(&OpKey::Trajectory(*seq)) {
                    self.append(op);
                }
            }
            StoreOp::DeleteHistory { seq } => {
                if !self.cancel(&OpKey::History(*seq)) {
                    self.append(op);
                }
            }
            _ => self.append(op),
        }
    }

    /// The held ops if they are due: at once in sync mode or when
    /// `force`d, after `interval` in batched mode, early past `max_bytes`.
    pub(super) fn take_due(
        &mut self,
        now: Instant,
        interval: Option<Duration>,
        max_bytes: usize,
        force: bool,
    ) -> Option<(Vec<StoreOp>, bool, usize)> {
        if self.is_empty() {
            self.clear();
            if !self.unflushed {
                self.since = None;
                return None;
            }
            // Ops handed over early still wait for their flush: an empty
            // batch asks for it when the interval is up.
        }
        let since = *self.since.get_or_insert(now);
        let flush = match interval {
            None => true,
            Some(interval) => force || now.saturating_duration_since(since) >= interval,
        };
        if !flush && (self.is_empty() || self.bytes <= max_bytes) {
            return None;
        }
        let ops = std::mem::take(&mut self.ops)
            .into_iter()
            .flatten()
            .collect();
        let bytes = self.bytes;
        self.clear();
        // Handed over early, the ops keep their deadline for the flush.
        self.unflushed = !flush;
        if flush {
            self.since = None;
        }
        Some((ops, flush, bytes))
    }

    /// When held ops fall due in batched mode.
    pub(super) fn due_at(&self, interval: Duration) -> Option<Instant> {
        self.since.map(|since| since + interval)
    }

    /// Forgets the held ops; what a burst grew is not kept.
    fn clear(&mut self) {
        self.ops.clear();
        self.index.clear();
        if self.ops.capacity() > KEPT_CAPACITY {
            self.ops = Vec::new();
        }
        if self.index.capacity() > KEPT_CAPACITY {
            self.index = HashMap::new();
        }
        self.live = 0;
        self.bytes = 0;
    }

    fn bridge_number(&mut self, bridge: &str) -> u16 {
        let at = match self.bridges.iter().position(|b| b == bridge) {
            Some(at) => at,
            None => {
                self.bridges.push(bridge.to_owned());
                self.bridges.len() - 1
            }
        };
        u16::try_from(at).unwrap_or(u16::MAX)
    }

    fn append_indexed(&mut self, key: OpKey, op: StoreOp) {
        self.index.insert(key, self.ops.len());
        self.append(op);
    }

    fn append(&mut self, op: StoreOp) {
        self.bytes += cost(&op);
        self.live += 1;
        self.ops.push(Some(op));
        // Cancelled slots are holes: squeeze them out once they are most
        // of the list, so a steady put/delete stream stays small.
        if self.ops.len() >= 64 && self.live * 4 < self.ops.len() {
            self.compact();
        }
    }

    /// Replaces the held op of `key` in place; false if there is none.
    fn replace(&mut self, key: &OpKey, op: StoreOp) -> bool {
        let Some(slot) = self.index.get(key).and_then(|&at| self.ops.get_mut(at)) else {
            return false;
        };
        let added = cost(&op);
        if let Some(old) = slot.replace(op) {
            self.bytes = self.bytes.saturating_sub(cost(&old));
        }
        self.bytes += added;
        true
    }

    /// Drops the held op of `key`; false if there is none.
    fn cancel(&mut self, key: &OpKey) -> bool {
        let Some(at) = self.index.remove(key) else {
            return false;
        };
        match self.ops.get_mut(at).and_then(Option::take) {
            Some(old) => {
                self.bytes = self.bytes.saturating_sub(cost(&old));
                self.live -= 1;
                true
            }
            None => false,
        }
    }

    fn compact(&mut self) {
        let mut kept = 0;
        let mut moved = HashMap::with_capacity(self.index.len());
        for (at, op) in std::mem::take(&mut self.ops).into_iter().enumerate() {
            if let Some(op) = op {
                moved.insert(at, kept);
                self.ops.push(Some(op));
                kept += 1;
            }
        }
        for at in self.index.values_mut() {
            if let Some(&new) = moved.get(at) {
                *at = new;
            }
        }
    }
}

/// Memory an op holds: its own size and the payload it keeps alive.
fn cost(op: &StoreOp) -> usize {
    OP_OVERHEAD
        + match op {
            StoreOp::PutMessage { message, .. } => {
                message.body.topic().len() + message.body.payload().len()
            }
            StoreOp::PutBridgeMessage {
                topic,
                payload,
                properties,
                ..
            } => topic.len() + payload.len() + properties.len(),
            StoreOp::PutRetained { body, .. } => body.topic().len() + body.payload().len(),
            StoreOp::PutSession { subscriptions, .. } => {
                subscriptions.iter().map(|(f, _)| f.len() + 8).sum()
            }
            StoreOp::PutTrajectory { event, .. } => event.stored_bytes(),
            StoreOp::PutHistoryChunk { chunk } => chunk.body.len(),
            _ => 0,
        }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use crate::codec::{PacketId, PublishBody, QoS};
    use crate::session::{AwaitingAck, Message};

    const SECOND: Duration = Duration::from_secs(1);

    fn put(seq: u64) -> StoreOp {
        let body = PublishBody::new("t", &[0; 10]).expect("a valid body");
        StoreOp::PutMessage {
            store_id: 7,
            seq,
            message: Message::plain(body, QoS::AtLeastOnce, false),
        }
    }

    fn sent(seq: u64, awaiting: AwaitingAck) -> StoreOp {
        StoreOp::PutDelivery {
            store_id: 7,
            seq,
            packet_id: PacketId::new(1).expect("non-zero"),
            awaiting,
        }
    }

    fn delete(seq: u64) -> StoreOp {
        StoreOp::DeleteMessage { store_id: 7, seq }
    }

    fn names(ops: &[StoreOp]) -> Vec<String> {
        ops.iter()
            .map(|op| match op {
                StoreOp::PutMessage { seq, .. } => format!("put {seq}"),
                StoreOp::PutDelivery { seq, awaiting, .. } => format!("sent {seq} {awaiting:?}"),
                StoreOp::DeleteMessage { seq, .. } => format!("delete {seq}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_message_acknowledged_within_the_interval_never_reaches_the_store() {
        let now = Instant::now();
        let mut batch = StoreBatch::default();
        for op in [put(1), sent(1, AwaitingAck::PubAck), put(2), delete(1)] {
            batch.push(op);
        }
        assert!(batch.take_due(now, Some(SECOND), 1 << 20, false).is_none());
        let (ops, flush, _) = batch
            .take_due(now + SECOND, Some(SECOND), 1 << 20, false)
            .expect("due after the interval");
        assert!(flush);
        assert_eq!(names(&ops), ["put 2"]);
        assert_eq!(batch.pushed(), 4);
    }

    #[test]
    fn a_delete_of_a_message_handed_over_earlier_is_kept() {
        let now = Instant::now();
        let mut batch = StoreBatch::default();
        batch.push(put(1));
        assert!(batch.take_due(now, Some(SECOND), 1 << 20, true).is_some());
        batch.push(sent(1, AwaitingAck::PubRec));
        batch.push(sent(1, AwaitingAck::PubComp));
        batch.push(delete(1));
        let (ops, _, _) = batch
            .take_due(now, Some(SECOND), 1 << 20, true)
            .expect("forced");
        assert_eq!(names(&ops), ["delete 1"]);
    }

    #[test]
    fn a_later_delivery_state_replaces_the_earlier_in_place() {
        let now = Instant::now();
        let mut batch = StoreBatch::default();
        batch.push(put(1));
        batch.push(sent(1, AwaitingAck::PubRec));
        batch.push(put(2));
        batch.push(sent(1, AwaitingAck::PubComp));
        let (ops, _, _) = batch.take_due(now, None, 1 << 20, false).expect("sync");
        assert_eq!(names(&ops), ["put 1", "sent 1 PubComp", "put 2"]);
    }

    #[test]
    fn sync_mode_hands_over_at_once_and_large_batches_go_early() {
        let now = Instant::now();
        let mut batch = StoreBatch::default();
        batch.push(put(1));
        assert!(batch.take_due(now, None, 1 << 20, false).is_some());
        for seq in 2..20 {
            batch.push(put(seq));
        }
        let (ops, flush, _) = batch
            .take_due(now, Some(SECOND), 1000, false)
            .expect("past the cap");
        assert!(!flush, "handed over for size, not time");
        assert_eq!(ops.len(), 18);
        assert!(batch.take_due(now, Some(SECOND), 1000, false).is_none());
        let (ops, flush, _) = batch
            .take_due(now + SECOND, Some(SECOND), 1000, false)
            .expect("what went early is flushed within the interval");
        assert!(flush && ops.is_empty());
        assert!(batch
            .take_due(now + SECOND, Some(SECOND), 1000, false)
            .is_none());
    }

    #[test]
    fn a_steady_stream_of_short_lived_messages_stays_small() {
        let now = Instant::now();
        let mut batch = StoreBatch::default();
        for seq in 0..10_000 {
            batch.push(put(seq));
            batch.push(sent(seq, AwaitingAck::PubAck));
            if seq >= 20 {
                batch.push(delete(seq - 20));
            }
        }
        assert!(batch.ops.len() < 400, "{} slots", batch.ops.len());
        let (ops, _, _) = batch.take_due(now, None, usize::MAX, false).expect("sync");
        assert_eq!(ops.len(), 40, "the last 20 messages and their deliveries");
    }

    #[test]
    fn bridge_messages_cancel_per_bridge() {
        let now = Instant::now();
        let mut batch = StoreBatch::default();
        for bridge in ["a", "b"] {
            batch.push(StoreOp::PutBridgeMessage {
                bridge: bridge.into(),
                seq: 1,
                topic: "t".into(),
                payload: vec![1],
                qos: QoS::AtLeastOnce,
                retain: false,
                properties: Box::default(),
                expires_at: None,
            });
        }
        batch.push(StoreOp::DeleteBridgeMessage {
            bridge: "a".into(),
            seq: 1,
        });
        let (ops, _, _) = batch.take_due(now, None, usize::MAX, false).expect("sync");
        assert!(
            matches!(ops.as_slice(), [StoreOp::PutBridgeMessage { bridge, .. }] if bridge == "b")
        );
    }
}

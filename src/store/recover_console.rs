//! Reading the device trajectories and the message history back at
//! startup (docs/observability.md, "Trajectories and message history"):
//! every record in sequence order, for the broker to apply its bounds to
//! (what falls out is deleted through the store ops as usual). An
//! undecodable record is skipped, counted and removed, like any other.

use crate::sys::history_chunk;
use crate::sys::history_log::{ChunkMeta, CHUNK_OVERHEAD};
use crate::sys::timeline::Entry;
use crate::sys::trajectory::{TrajectoryEvent, TrajectoryKind};

use super::recover::Reader;
use super::schema::{self, HistoryChunkV2, HistoryV1, TrajectoryV1, Versioned};
use super::Trees;

/// What the history tree held.
#[derive(Debug, Default)]
pub struct RecoveredHistory {
    /// In sequence order.
    pub chunks: Vec<ChunkMeta>,
    /// Sequence numbers of `HistoryV1` records (one message each).
    pub per_message: Vec<u64>,
}

pub(super) fn trajectory(trees: &Trees, reader: &mut Reader<'_>) -> Vec<Entry<TrajectoryEvent>> {
    let tree = &trees.trajectory;
    let mut out = Vec::new();
    let mut scan = super::recover::scan(tree);
    for (key, value) in &mut scan {
        let entry = schema::split_seq_key(&key).and_then(|seq| {
            let record = schema::decode::<TrajectoryV1>(&value).ok()?;
            let event = TrajectoryEvent {
                client_id: record.client_id.into(),
                kind: TrajectoryKind::from_code(record.kind)?,
                details: record.details.into(),
            };
            Some(Entry {
                seq,
                ts: record.ts_ms,
                bytes: event.stored_bytes(),
                item: event,
            })
        });
        match entry {
            Some(entry) => out.push(entry),
            None => reader.skip(tree, &key, "undecodable trajectory event"),
        }
    }
    reader.scanned(scan);
    out
}

/// The history's chunks (their bodies stay in the store: pages read
/// them back) and the per-message records of the edgemq before chunked
/// history, which the broker deletes (docs/observability.md). Read one
/// record at a time: the history may be most of the store.
pub(super) fn history(trees: &Trees, reader: &mut Reader<'_>) -> RecoveredHistory {
    let tree = &trees.history;
    let mut out = RecoveredHistory::default();
    let mut scan = super::recover::scan(tree);
    for (key, value) in &mut scan {
        let Some(seq) = schema::split_seq_key(&key) else {
            reader.skip(tree, &key, "undecodable history key");
            continue;
        };
        if value.first() == Some(&HistoryV1::VERSION) && schema::decode::<HistoryV1>(&value).is_ok()
        {
            out.per_message.push(seq);
            continue;
        }
        match chunk_meta(seq, &value) {
            Some(meta) => out.chunks.push(meta),
            None => reader.skip(tree, &key, "undecodable history chunk"),
        }
    }
    reader.scanned(scan);
    out
}

/// A chunk's index entry, once its body is known to decode.
fn chunk_meta(first_seq: u64, value: &[u8]) -> Option<ChunkMeta> {
    let record = schema::decode::<HistoryChunkV2>(value).ok()?;
    let messages = history_chunk::decode(&record.body)?;
    if messages.len() != usize::try_from(record.count).ok()? || messages.is_empty() {
        return None;
    }
    Some(ChunkMeta {
        first_seq,
        count: record.count,
        min_ts: record.min_ts_ms,
        max_ts: record.max_ts_ms,
        bytes: CHUNK_OVERHEAD + record.body.len(),
    })
}

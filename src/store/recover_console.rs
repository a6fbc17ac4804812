//! Reading the device trajectories and the message history back at
//! startup (docs/observability.md, "Trajectories and message history"):
//! every record in sequence order, for the broker to apply its bounds to
//! (what falls out is deleted through the store ops as usual). An
//! undecodable record is skipped, counted and removed, like any other.

use crate::sys::history::HistoryMessage;
use crate::sys::timeline::Entry;
use crate::sys::trajectory::{TrajectoryEvent, TrajectoryKind};

use super::recover::Reader;
use super::schema::{self, HistoryV1, TrajectoryV1};
use super::Trees;

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

pub(super) fn history(trees: &Trees, reader: &mut Reader<'_>) -> Vec<Entry<HistoryMessage>> {
    let tree = &trees.history;
    let mut out = Vec::new();
    let mut scan = super::recover::scan(tree);
    for (key, value) in &mut scan {
        let entry = schema::split_seq_key(&key).and_then(|seq| {
            let record = schema::decode::<HistoryV1>(&value).ok()?;
            let message = HistoryMessage {
                topic: record.topic.into(),
                qos: record.qos,
                retain: record.retain,
                payload: record.payload.into(),
            };
            Some(Entry {
                seq,
                ts: record.ts_ms,
                bytes: message.stored_bytes(),
                item: message,
            })
        });
        match entry {
            Some(entry) => out.push(entry),
            None => reader.skip(tree, &key, "undecodable history message"),
        }
    }
    reader.scanned(scan);
    out
}

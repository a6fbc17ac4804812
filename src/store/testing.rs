//! Edits of a *stopped* store for the end-to-end tests of the recovery
//! rules: another clock in the previous run, a store from a newer edgemq,
//! one damaged record. Not used by the broker itself.

use std::path::Path;

use super::schema::{self, META_CLOCK, META_FORMAT};
use super::Trees;

fn open(dir: &Path) -> Result<Trees, String> {
    let db = sled::Config::new()
        .path(dir)
        .open()
        .map_err(|e| e.to_string())?;
    Trees::open(db).map_err(|e| e.to_string())
}

fn done(trees: &Trees) -> Result<(), String> {
    trees.db.flush().map(|_| ()).map_err(|e| e.to_string())
}

/// Shifts the last-flush clock and every session's offline time by
/// `seconds`, as if the previous run had had a different wall clock.
pub fn shift_stored_clocks(dir: &Path, seconds: i64) -> Result<(), String> {
    let trees = open(dir)?;
    let shift = |t: u64| t.saturating_add_signed(seconds);
    if let Some(bytes) = trees.meta.get(META_CLOCK).map_err(|e| e.to_string())? {
        let clock: u64 = schema::decode(&bytes).map_err(|e| format!("{e:?}"))?;
        trees
            .meta
            .insert(META_CLOCK, schema::encode_clock(shift(clock)))
            .map_err(|e| e.to_string())?;
    }
    for entry in trees.sessions.iter() {
        let (key, value) = entry.map_err(|e| e.to_string())?;
        let mut record = schema::decode_session(&value).map_err(|e| format!("{e:?}"))?;
        record.offline_since = record.offline_since.map(shift);
        trees
            .sessions
            .insert(key, schema::encode(&record))
            .map_err(|e| e.to_string())?;
    }
    done(&trees)
}

/// Marks the store as written by a future edgemq (format `format`).
pub fn set_store_format(dir: &Path, format: u8) -> Result<(), String> {
    let trees = open(dir)?;
    trees
        .meta
        .insert(META_FORMAT, schema::encode(&format))
        .map_err(|e| e.to_string())?;
    done(&trees)
}

/// Overwrites the retained record of `topic` with bytes no version reads.
pub fn damage_retained(dir: &Path, topic: &str) -> Result<(), String> {
    let trees = open(dir)?;
    trees
        .retained
        .insert(topic.as_bytes(), &[schema::RECORD_V1, 0xFF, 0xFF, 0xFF][..])
        .map_err(|e| e.to_string())?;
    done(&trees)
}

//! A store directory removed (or replaced) while sled has it open. sled's
//! files stay open, so its writes and flushes keep succeeding — into files
//! no path reaches any more, lost at the next start. The writer therefore
//! checks after each flush that the directory is still the one it opened
//! (device and inode); when it is not, the flush counts as failed (nothing
//! more is reported durable) and the old database is kept open as the
//! *orphan*. The retry opens a new store at the path (sled creates the
//! directory again), copies every record over from the orphan, replays
//! the writes since the last good flush and flushes: the new directory
//! holds the whole state, not only what changed since (docs/design.md,
//! "When the store fails").

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::Trees;

/// What identifies the directory a store was opened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirIdentity {
    dev: u64,
    ino: u64,
}

impl DirIdentity {
    /// `None` when the directory cannot be looked at (then nothing is
    /// checked: the writes themselves report such a store).
    pub fn of(dir: &Path) -> Option<DirIdentity> {
        std::fs::metadata(dir).ok().map(|m| DirIdentity {
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

/// Whether `dir` is no longer the directory `opened` identified.
pub fn replaced(dir: &Path, opened: Option<DirIdentity>) -> bool {
    opened.is_some_and(|opened| DirIdentity::of(dir) != Some(opened))
}

/// Copies every record of every tree of `from` into `to`; how many.
pub fn copy_all(from: &Trees, to: &Trees) -> sled::Result<u64> {
    let mut copied = 0u64;
    for (source, target) in from.each().into_iter().zip(to.each()) {
        for entry in source.iter() {
            let (key, value) = entry?;
            target.insert(key, value)?;
            copied += 1;
        }
    }
    Ok(copied)
}

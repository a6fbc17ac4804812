//! The writes applied since the last flush that succeeded, in order: what
//! the writer replays after reopening sled when a write or flush failed.
//!
//! sled reopens at a consistent prefix of what was flushed or more, and
//! every write here is idempotent when replayed in order from such a
//! prefix (a put sets, a remove removes), so replaying the whole list gives
//! exactly the state the broker asked for.
//!
//! Bounded by `max_bytes`: while the store works, reaching it makes the
//! writer flush early (the list empties); while it fails, sync mode keeps
//! everything (the broker stops reading the publishers that feed the store
//! at the same bound, so the list stops growing), batched mode *freezes*:
//! later writes are counted as lost and not kept, so what is replayed is
//! still a prefix of the broker's changes — a state it went through.

use sled::IVec;

use super::encode::{Tree, Write};

/// Bytes counted for a write besides its key and value.
const WRITE_OVERHEAD: usize = 32;

/// One write as applied: keys and values shared with sled, not copied.
#[derive(Debug, Clone)]
pub enum Logged {
    Put { tree: Tree, key: IVec, value: IVec },
    Remove { tree: Tree, key: IVec },
    RemovePrefix { tree: Tree, prefix: [u8; 8] },
}

impl From<Write> for Logged {
    fn from(write: Write) -> Logged {
        match write {
            Write::Put { tree, key, value } => Logged::Put {
                tree,
                key: key.into(),
                value: value.into(),
            },
            Write::Remove { tree, key } => Logged::Remove {
                tree,
                key: key.into(),
            },
            Write::RemovePrefix { tree, prefix } => Logged::RemovePrefix { tree, prefix },
        }
    }
}

impl Logged {
    fn cost(&self) -> usize {
        WRITE_OVERHEAD
            + match self {
                Logged::Put { key, value, .. } => key.len() + value.len(),
                Logged::Remove { key, .. } => key.len(),
                Logged::RemovePrefix { .. } => 8,
            }
    }
}

#[derive(Debug, Default)]
pub struct ReplayLog {
    writes: Vec<Logged>,
    bytes: usize,
    /// Batched mode, store failing, list full: later writes are dropped.
    frozen: bool,
    /// Writes dropped while frozen, since the last report.
    lost: u64,
}

impl ReplayLog {
    pub fn push(&mut self, write: Logged) {
        if self.frozen {
            self.lost += 1;
            return;
        }
        self.bytes += write.cost();
        self.writes.push(write);
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.writes.len()
    }

    pub fn writes(&self) -> &[Logged] {
        &self.writes
    }

    /// Stops keeping writes (batched mode at the bound while failing).
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// The flush succeeded: nothing to replay any more. Returns how many
    /// writes were lost while frozen.
    pub fn flushed(&mut self) -> u64 {
        self.writes.clear();
        if self.writes.capacity() > 4096 {
            self.writes = Vec::new();
        }
        self.bytes = 0;
        self.frozen = false;
        std::mem::take(&mut self.lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &[u8]) -> Logged {
        Logged::from(Write::Put {
            tree: Tree::Messages,
            key: key.to_vec(),
            value: vec![0; 100],
        })
    }

    #[test]
    fn counts_bytes_and_forgets_after_a_flush() {
        let mut log = ReplayLog::default();
        log.push(put(b"a"));
        log.push(put(b"b"));
        assert_eq!(log.len(), 2);
        assert_eq!(log.bytes(), 2 * (WRITE_OVERHEAD + 101));
        assert_eq!(log.flushed(), 0);
        assert_eq!((log.len(), log.bytes()), (0, 0));
    }

    #[test]
    fn a_frozen_log_keeps_its_prefix_and_counts_the_rest() {
        let mut log = ReplayLog::default();
        log.push(put(b"a"));
        log.freeze();
        log.push(put(b"b"));
        log.push(put(b"c"));
        assert_eq!(log.len(), 1, "only the prefix before the freeze");
        assert_eq!(log.flushed(), 2);
        assert!(!log.is_frozen());
        log.push(put(b"d"));
        assert_eq!(log.len(), 1);
    }
}

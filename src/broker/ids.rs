//! The handles of the broker's two tables, in a file of their own so that
//! the connection table and the session table, which point at each other's
//! slots, need not import each other.

use std::num::NonZeroU32;

/// A connection's handle: slot index plus the slot's generation (never 0,
/// so an `Option<ConnId>` is 8 bytes: the session table holds one a slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    pub(super) index: u32,
    pub(super) generation: NonZeroU32,
}

impl ConnId {
    /// The slot index, dense from 0: the network layer keys its own
    /// per-connection state by it.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// A session's slot index; stable for the session's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub(super) u32);

impl SessionId {
    /// The slot index, for tables kept beside the session table.
    pub(super) fn index(self) -> usize {
        self.0 as usize
    }
}

//! The session table: at most `max_sessions` sessions, online and offline
//! together (README.md ## Configuration), each findable by its client id. A
//! slot is a pointer and the id of the connection that has it; the
//! session's own state is allocated only when the session exists.
//!
//! The client-id index is open addressing over 8-byte buckets (slot index
//! and hash) that borrows the id from the session itself: a
//! `HashMap<ClientId, SessionId>` cost ~40 bytes a session plus a second
//! copy of the id (README.md ## Performance: RSS per idle connection).
//! Invariant: every occupied slot has exactly one bucket, found by probing
//! from its hash.

use std::hash::{BuildHasher, RandomState};

use crate::session::Session;

use super::ids::ConnId;
pub use super::ids::SessionId;

pub struct Slot {
    pub session: Box<Session>,
    /// The connection that has this session now; `None` while offline.
    pub connection: Option<ConnId>,
}

pub struct SessionTable {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// Open addressing, linear probing; a power of two long (or empty),
    /// at most 3/4 full.
    index: Vec<Bucket>,
    len: usize,
    /// Random keys: client ids come from the network (no chosen collisions).
    hasher: RandomState,
    capacity: usize,
}

#[derive(Clone, Copy)]
struct Bucket {
    /// `EMPTY`, or the slot of a session.
    slot: u32,
    /// The low 32 bits of the client id's hash: where probing starts, and
    /// a cheap check before comparing ids.
    hash: u32,
}

const EMPTY: u32 = u32::MAX;

const EMPTY_BUCKET: Bucket = Bucket {
    slot: EMPTY,
    hash: 0,
};

impl SessionTable {
    pub fn new(capacity: usize) -> SessionTable {
        SessionTable {
            slots: Vec::with_capacity(capacity),
            free: Vec::new(),
            index: Vec::new(),
            len: 0,
            hasher: RandomState::new(),
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }

    pub fn find(&self, client_id: &str) -> Option<SessionId> {
        let hash = self.hash(client_id);
        self.position(client_id, hash)
            .and_then(|at| self.index.get(at))
            .map(|bucket| SessionId(bucket.slot))
    }

    fn hash(&self, client_id: &str) -> u32 {
        // Truncation intended: the low bits pick the bucket.
        self.hasher.hash_one(client_id) as u32
    }

    fn mask(&self) -> usize {
        self.index.len().wrapping_sub(1)
    }

    /// The bucket holding `client_id`, if any.
    fn position(&self, client_id: &str, hash: u32) -> Option<usize> {
        let mask = self.mask();
        let mut at = hash as usize & mask;
        for _ in 0..self.index.len() {
            let bucket = self.index.get(at)?;
            if bucket.slot == EMPTY {
                return None;
            }
            if bucket.hash == hash && self.client_id_at(bucket.slot) == Some(client_id) {
                return Some(at);
            }
            at = (at + 1) & mask;
        }
        None
    }

    fn client_id_at(&self, slot: u32) -> Option<&str> {
        let slot = self.slots.get(slot as usize)?.as_ref()?;
        Some(slot.session.client_id.as_str())
    }

    /// Points a client id with `hash` at `slot`: in bucket `existing`
    /// when the id was indexed already, else in a new one.
    fn index_insert(&mut self, hash: u32, existing: Option<usize>, slot: u32) {
        if let Some(bucket) = existing.and_then(|at| self.index.get_mut(at)) {
            bucket.slot = slot;
            return;
        }
        if (self.len + 1) * 4 > self.index.len() * 3 {
            self.grow();
        }
        self.place(Bucket { slot, hash });
        self.len += 1;
    }

    /// Puts `bucket` in the first empty bucket from its home.
    fn place(&mut self, bucket: Bucket) {
        let mask = self.mask();
        let mut at = bucket.hash as usize & mask;
        for _ in 0..self.index.len() {
            match self.index.get_mut(at) {
                Some(free) if free.slot == EMPTY => {
                    *free = bucket;
                    return;
                }
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Room for `more` sessions (up to the capacity) without growing: a
    /// restore inserts them all at once, and each grown-out-of vector
    /// would stay resident (src/allocator.rs).
    pub fn reserve(&mut self, more: usize) {
        let more = more.min(self.capacity.saturating_sub(self.len));
        self.slots.reserve(more);
        let mut size = self.index.len().max(8);
        while (self.len + more) * 4 > size * 3 {
            size *= 2;
        }
        if size > self.index.len() {
            self.rehash(size);
        }
    }

    fn grow(&mut self) {
        self.rehash((self.index.len() * 2).max(8));
    }

    fn rehash(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.index, vec![EMPTY_BUCKET; size]);
        for bucket in old.into_iter().filter(|b| b.slot != EMPTY) {
            self.place(bucket);
        }
    }

    /// Empties bucket `hole`, shifting later buckets of its probe run back
    /// so that no lookup stops early at the hole.
    fn index_remove(&mut self, mut hole: usize) {
        let mask = self.mask();
        let mut at = hole;
        loop {
            at = (at + 1) & mask;
            let Some(&next) = self.index.get(at) else {
                break;
            };
            if next.slot == EMPTY || at == hole {
                break;
            }
            let home = next.hash as usize & mask;
            // `next` may move into the hole when its home is not in the
            // cyclic range (hole, at].
            let stays = if hole <= at {
                hole < home && home <= at
            } else {
                hole < home || home <= at
            };
            if !stays {
                if let Some(dst) = self.index.get_mut(hole) {
                    *dst = next;
                }
                hole = at;
            }
        }
        if let Some(dst) = self.index.get_mut(hole) {
            *dst = EMPTY_BUCKET;
        }
        self.len -= 1;
    }

    /// `None` when the table is at `max_sessions`.
    pub fn insert(&mut self, session: Session, connection: Option<ConnId>) -> Option<SessionId> {
        if self.is_full() {
            return None;
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(None);
                index
            }
        };
        let id = SessionId(index);
        let hash = self.hash(session.client_id.as_str());
        let existing = self.position(session.client_id.as_str(), hash);
        let slot = self.slots.get_mut(index as usize)?;
        *slot = Some(Slot {
            session: Box::new(session),
            connection,
        });
        self.index_insert(hash, existing, index);
        Some(id)
    }

    pub fn get(&self, id: SessionId) -> Option<&Slot> {
        self.slots.get(id.0 as usize)?.as_ref()
    }

    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Slot> {
        self.slots.get_mut(id.0 as usize)?.as_mut()
    }

    pub fn remove(&mut self, id: SessionId) -> Option<Slot> {
        let client_id = self.client_id_at(id.0)?;
        if let Some(at) = self.position(client_id, self.hash(client_id)) {
            self.index_remove(at);
        }
        let slot = self.slots.get_mut(id.0 as usize)?.take()?;
        self.free.push(id.0);
        Some(slot)
    }

    /// Every session's id, for periodic sweeps.
    pub fn ids(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.is_some())
            .filter_map(|(index, _)| u32::try_from(index).ok().map(SessionId))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::codec::ProtocolVersion;
    use crate::session::ClientId;

    fn session(name: &str) -> Session {
        let Ok(id) = ClientId::new(name, 64, false) else {
            panic!("{name}");
        };
        Session::new(id, false, ProtocolVersion::V3_1_1)
    }

    /// The table holds one per session (README.md ## Performance).
    #[test]
    fn slots_and_buckets_are_small() {
        assert!(std::mem::size_of::<Option<Slot>>() <= 16);
        assert!(std::mem::size_of::<Bucket>() <= 8);
    }

    /// A reserved table takes the sessions without growing its index,
    /// and finds each of them, the ones from before included.
    #[test]
    fn reserve_sizes_the_index_once() {
        let mut table = SessionTable::new(1000);
        let first = table.insert(session("before"), None);
        table.reserve(100);
        let size = table.index.len();
        assert!(size * 3 >= 101 * 4, "{size} buckets");
        for n in 0..100 {
            assert!(table.insert(session(&format!("c{n}")), None).is_some());
        }
        assert_eq!(table.index.len(), size);
        assert_eq!(table.find("before"), first);
        for n in 0..100 {
            assert!(table.find(&format!("c{n}")).is_some(), "c{n}");
        }
        // Never past the capacity.
        let mut small = SessionTable::new(10);
        small.reserve(1_000_000);
        assert!(small.index.len() <= 16);
    }

    proptest! {
        /// The index agrees with a HashMap through any inserts and removes
        /// (few distinct ids, so probe runs collide and wrap).
        #[test]
        fn index_agrees_with_a_map(ops in proptest::collection::vec((any::<bool>(), 0u8..40), 0..400)) {
            let mut table = SessionTable::new(1000);
            let mut model: HashMap<String, SessionId> = HashMap::new();
            for (insert, n) in ops {
                let name = format!("c{n}");
                if insert {
                    if model.contains_key(&name) {
                        continue;
                    }
                    let id = table.insert(session(&name), None);
                    prop_assert!(id.is_some());
                    model.insert(name, id.unwrap_or(SessionId(0)));
                } else if let Some(id) = model.remove(&name) {
                    prop_assert!(table.remove(id).is_some());
                }
                prop_assert_eq!(table.len(), model.len());
                for n in 0u8..40 {
                    let name = format!("c{n}");
                    prop_assert_eq!(table.find(&name), model.get(&name).copied());
                }
            }
        }
    }
}

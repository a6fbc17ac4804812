//! The session table: at most `max_sessions` sessions, online and offline
//! together (SPEC §3), each findable by its client id. A slot is a pointer
//! and the id of the connection that has it; the session's own state is
//! allocated only when the session exists.

use std::collections::HashMap;

use crate::session::{ClientId, Session};

use super::connections::ConnId;

/// A session's slot index; stable for the session's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u32);

pub struct Slot {
    pub session: Box<Session>,
    /// The connection that has this session now; `None` while offline.
    pub connection: Option<ConnId>,
}

pub struct SessionTable {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    by_client_id: HashMap<ClientId, SessionId>,
    capacity: usize,
}

impl SessionTable {
    pub fn new(capacity: usize) -> SessionTable {
        SessionTable {
            slots: Vec::with_capacity(capacity),
            free: Vec::new(),
            by_client_id: HashMap::new(),
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.by_client_id.len()
    }

    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }

    pub fn find(&self, client_id: &str) -> Option<SessionId> {
        self.by_client_id.get(client_id).copied()
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
        self.by_client_id.insert(session.client_id.clone(), id);
        let slot = self.slots.get_mut(index as usize)?;
        *slot = Some(Slot {
            session: Box::new(session),
            connection,
        });
        Some(id)
    }

    pub fn get(&self, id: SessionId) -> Option<&Slot> {
        self.slots.get(id.0 as usize)?.as_ref()
    }

    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Slot> {
        self.slots.get_mut(id.0 as usize)?.as_mut()
    }

    pub fn remove(&mut self, id: SessionId) -> Option<Slot> {
        let slot = self.slots.get_mut(id.0 as usize)?.take()?;
        self.by_client_id.remove(slot.session.client_id.as_str());
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

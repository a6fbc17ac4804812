//! Inbound QoS 2: the packet ids a client has sent PUBLISH for and not yet
//! released with PUBREL. A duplicate PUBLISH with such an id is answered
//! with PUBREC again and not routed twice [MQTT-4.3.3-2].
//!
//! Most sessions never have one: the ids live behind a pointer that is
//! `None` while there are none, so an idle session pays 8 bytes, not a
//! `Vec`'s 24 (README.md ## Performance: RSS per idle connection).

use crate::codec::PacketId;

/// Ceiling on unreleased inbound QoS 2 messages per session. 3.1.1 has no
/// receive maximum, so a client could otherwise pin up to 65,535 ids; real
/// clients keep far fewer in flight (mosquitto's 20, rumqttc's 100). Past
/// it the connection is closed as a protocol violation (5.0: 0x93).
pub const MAX_INBOUND_QOS2: usize = 1024;

#[derive(Debug, Default)]
pub struct InboundQos2 {
    /// Never `Some` and empty. Boxed on purpose: 8 bytes inline instead
    /// of a `Vec`'s 24, for the sessions (nearly all) that have none.
    #[allow(clippy::box_collection)]
    awaiting_release: Option<Box<Vec<PacketId>>>,
}

impl InboundQos2 {
    pub fn contains(&self, id: PacketId) -> bool {
        self.awaiting_release
            .as_ref()
            .is_some_and(|ids| ids.contains(&id))
    }

    /// Records `id` as awaiting PUBREL; `false` when the ceiling is reached.
    pub fn insert(&mut self, id: PacketId) -> bool {
        if self.contains(id) {
            return true;
        }
        if self.len() >= MAX_INBOUND_QOS2 {
            return false;
        }
        self.awaiting_release
            .get_or_insert_with(Box::default)
            .push(id);
        true
    }

    /// Releases `id`; `false` when it was not awaiting release.
    pub fn release(&mut self, id: PacketId) -> bool {
        let Some(ids) = self.awaiting_release.as_mut() else {
            return false;
        };
        let Some(index) = ids.iter().position(|&x| x == id) else {
            return false;
        };
        ids.swap_remove(index);
        if ids.is_empty() {
            self.awaiting_release = None;
        }
        true
    }

    pub fn clear(&mut self) {
        self.awaiting_release = None;
    }

    pub fn len(&self) -> usize {
        self.awaiting_release.as_ref().map_or(0, |ids| ids.len())
    }

    pub fn is_empty(&self) -> bool {
        self.awaiting_release.is_none()
    }
}

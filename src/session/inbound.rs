//! Inbound QoS 2: the packet ids a client has sent PUBLISH for and not yet
//! released with PUBREL. A duplicate PUBLISH with such an id is answered
//! with PUBREC again and not routed twice [MQTT-4.3.3-2].

use crate::codec::PacketId;

/// Ceiling on unreleased inbound QoS 2 messages per session. 3.1.1 has no
/// receive maximum, so a client could otherwise pin up to 65,535 ids; real
/// clients keep far fewer in flight (mosquitto's 20, rumqttc's 100). Past
/// it the connection is closed as a protocol violation (5.0: 0x93).
pub const MAX_INBOUND_QOS2: usize = 1024;

#[derive(Debug, Default)]
pub struct InboundQos2 {
    awaiting_release: Vec<PacketId>,
}

impl InboundQos2 {
    pub fn contains(&self, id: PacketId) -> bool {
        self.awaiting_release.contains(&id)
    }

    /// Records `id` as awaiting PUBREL; `false` when the ceiling is reached.
    pub fn insert(&mut self, id: PacketId) -> bool {
        if self.contains(id) {
            return true;
        }
        if self.awaiting_release.len() >= MAX_INBOUND_QOS2 {
            return false;
        }
        self.awaiting_release.push(id);
        true
    }

    /// Releases `id`; `false` when it was not awaiting release.
    pub fn release(&mut self, id: PacketId) -> bool {
        match self.awaiting_release.iter().position(|&x| x == id) {
            Some(index) => {
                self.awaiting_release.swap_remove(index);
                if self.awaiting_release.is_empty() {
                    self.awaiting_release = Vec::new();
                }
                true
            }
            None => false,
        }
    }

    pub fn clear(&mut self) {
        self.awaiting_release = Vec::new();
    }

    pub fn len(&self) -> usize {
        self.awaiting_release.len()
    }

    pub fn is_empty(&self) -> bool {
        self.awaiting_release.is_empty()
    }
}

//! PUBACK, PUBREC, PUBREL and PUBCOMP from a client: they free the
//! session's window (and so release paused publishers) or complete an
//! inbound QoS 2 exchange.

use std::time::Instant;

use crate::codec::{Ack, AckKind, Packet, ReasonCode};

use super::connections::ConnId;
use super::Broker;

impl Broker {
    pub(super) fn handle_ack(&mut self, now: Instant, conn: ConnId, ack: Ack) {
        let Some(session_id) = self.connections.get(conn).and_then(|c| c.session()) else {
            return;
        };
        let limits = self.queue_limits(Some(conn));
        let (Some(slot), Some(connection)) = (
            self.sessions.get_mut(session_id),
            self.connections.get_mut(conn),
        ) else {
            return;
        };
        if ack.kind == AckKind::PubRel {
            // PUBCOMP answers every PUBREL, known id or not [MQTT-4.3.3-2]:
            // the client may be retrying after our PUBCOMP was lost.
            let known = slot.session.inbound.release(ack.packet_id);
            let mut pubcomp = Ack::new(AckKind::PubComp, ack.packet_id);
            if !known && connection.version.is_v5() {
                pubcomp.reason = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
            }
            if known {
                self.persist_inbound(session_id, ack.packet_id, false);
            }
            return self.send(conn, &Packet::Ack(pubcomp));
        }
        let version = connection.version;
        let result =
            slot.session
                .outbound
                .handle_ack(now, &ack, &mut connection.outbox, version, &limits);
        match result {
            Ok(true) => {
                self.stats.deliveries += slot.session.outbound.take_sent_from_queue();
                if connection.outbox.has_frames() {
                    self.wake(conn);
                }
                self.note_expired(now, session_id);
                self.persist_journal(session_id);
                self.release_if_room(session_id);
            }
            Ok(false) => log::debug!(
                "{} for unknown packet id {} ignored",
                ack.kind.name(),
                ack.packet_id.get()
            ),
            Err(error) => log::error!("cannot encode for {}: {error}", slot.session.client_id),
        }
    }
}

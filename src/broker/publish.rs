//! Inbound PUBLISH and routing: topic checks, the QoS 1/2 receive flows,
//! retained messages, and fan-out to every matching session at the highest
//! QoS among its matching subscriptions, one copy each.

use std::time::Instant;

use crate::codec::{Ack, AckKind, Packet, Publish, PublishBody, QoS};
use crate::session::{Delivery, Message};
use crate::topic::validate_topic_name;

use super::connections::{CloseReason, ConnId};
use super::retained::RetainOutcome;
use super::sessions::SessionId;
use super::stats::LogKind;
use super::Broker;

impl Broker {
    pub(super) fn handle_publish(&mut self, now: Instant, conn: ConnId, publish: Publish) {
        let Some(session_id) = self.connections.get(conn).and_then(|c| c.session()) else {
            return;
        };
        // 5.0: topic alias resolved, Receive Maximum enforced (`mqtt5.rs`).
        let Some(publish) = self.v5_inbound(now, conn, publish) else {
            return;
        };
        let topic = publish.body.topic();
        if let Err(error) = validate_topic_name(topic, &self.settings.topics) {
            // 3.1.1 has no way to refuse one PUBLISH: the connection closes.
            let client = self.client_label(conn);
            let shown: String = topic.chars().take(64).collect();
            self.logs.warn(LogKind::Topic, now, || {
                format!("closing {client}: PUBLISH to invalid topic {shown:?}: {error}")
            });
            self.stats.protocol_errors += 1;
            return self.close(now, conn, CloseReason::ProtocolError);
        }
        if self.over_memory_limit {
            // QoS 0 is dropped; QoS 1/2 cannot be refused in 3.x except by
            // closing, so the client keeps the message and retries later.
            self.stats.refused_memory_limit += 1;
            let client = self.client_label(conn);
            let limit = self.settings.memory_limit;
            self.logs.warn(LogKind::Memory, now, || {
                format!("refusing a PUBLISH from {client}: over memory_limit {limit}")
            });
            if publish.qos != QoS::AtMostOnce {
                self.close(now, conn, CloseReason::ProtocolError);
            }
            return;
        }
        if publish.qos == QoS::ExactlyOnce {
            let Some(packet_id) = publish.packet_id else {
                return self.protocol_error(now, conn, "QoS 2 PUBLISH without packet id");
            };
            let Some(slot) = self.sessions.get_mut(session_id) else {
                return;
            };
            // A resent QoS 2 PUBLISH not yet released is acknowledged again
            // but not delivered again [MQTT-4.3.3-2].
            if slot.session.inbound.contains(packet_id) {
                return self.send(conn, &Packet::Ack(Ack::new(AckKind::PubRec, packet_id)));
            }
            if !slot.session.inbound.insert(packet_id) {
                return self.protocol_error(now, conn, "too many unreleased QoS 2 messages");
            }
            self.persist_inbound(session_id, packet_id, true);
        }
        self.stats.messages_received += 1;
        self.stats.bytes_received += publish.body.len() as u64;
        // Refused by the access rules: dropped, neither routed nor
        // retained, and acknowledged all the same (3.1.1 has no negative
        // acknowledgement; docs/security.md, "Access control").
        if self.may_publish(now, session_id, topic) {
            self.route(now, &publish.body, publish.qos, publish.retain, Some(conn));
        }
        match (publish.qos, publish.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => {
                self.send(conn, &Packet::Ack(Ack::new(AckKind::PubAck, id)))
            }
            (QoS::ExactlyOnce, Some(id)) => {
                self.send(conn, &Packet::Ack(Ack::new(AckKind::PubRec, id)))
            }
            _ => {}
        }
    }

    /// Stores a retained message and delivers `body` to every matching
    /// session. `publisher` is paused if a target's queue fills up.
    pub(super) fn route(
        &mut self,
        now: Instant,
        body: &PublishBody,
        qos: QoS,
        retain: bool,
        publisher: Option<ConnId>,
    ) {
        if retain {
            self.retain(now, body, qos);
        }
        let mut matches = std::mem::take(&mut self.matches);
        matches.clear();
        self.subscriptions
            .for_each_match(body.topic(), |session, options| {
                matches.push((session, options.qos))
            });
        // One copy per session, at the highest QoS its matching
        // subscriptions granted [MQTT-3.3.5-1].
        matches.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        matches.dedup_by_key(|m| m.0);
        self.forward_to_bridges(now, body, qos, retain);
        let echo_guard = self.echo_guard(publisher);
        for &(session_id, granted) in &matches {
            if self.is_echo(session_id, echo_guard)
                || !self.may_deliver(now, session_id, body.topic())
            {
                continue;
            }
            // Delivery QoS is the lower of the two [MQTT-3.8.4-6]; the
            // retain flag is cleared on live delivery [MQTT-3.3.1-9].
            let message = Message {
                body: body.clone(),
                qos: qos.min(granted),
                retain: false,
            };
            if self.deliver(now, session_id, message) == Some(Delivery::QueuedFull) {
                if let Some(publisher) = publisher {
                    self.block_publisher(session_id, publisher);
                }
            }
        }
        self.matches = matches;
    }

    fn retain(&mut self, now: Instant, body: &PublishBody, qos: QoS) {
        if self.store_full() && !body.payload().is_empty() {
            self.stats.retained_refused += 1;
            let topic: String = body.topic().chars().take(64).collect();
            self.logs.warn(LogKind::StoreFull, now, || {
                format!("not retaining a message on {topic:?}: the store is at max_store_bytes")
            });
            return;
        }
        let outcome = self.retained.set(body, qos);
        if outcome != RetainOutcome::Refused {
            self.persist_retained(body, qos, outcome == RetainOutcome::Stored);
        }
        if outcome == RetainOutcome::Refused {
            self.stats.retained_refused += 1;
            let max = self.settings.max_retained_messages;
            let topic: String = body.topic().chars().take(64).collect();
            self.logs.warn(LogKind::Retained, now, || {
                format!("not retaining a message on {topic:?}: max_retained_messages {max} reached")
            });
        }
    }

    /// Hands one message to one session; counts and logs what is dropped.
    pub(super) fn deliver(
        &mut self,
        now: Instant,
        session_id: SessionId,
        message: Message,
    ) -> Option<Delivery> {
        let store_full = self.store_full();
        let online = self.sessions.get(session_id)?.connection;
        if self.over_client_packet_size(now, online, &message) {
            return None;
        }
        let limits = self.queue_limits(online);
        let slot = self.sessions.get_mut(session_id)?;
        if store_full && slot.connection.is_none() && slot.session.store_id.is_some() {
            self.stats.dropped_store_full += 1;
            let client = slot.session.client_id.clone();
            self.logs.warn(LogKind::StoreFull, now, || {
                format!("dropped a message for offline client {client}: the store is at max_store_bytes")
            });
            return None;
        }
        let connection = slot
            .connection
            .and_then(|id| self.connections.get_mut(id))
            .filter(|c| c.closing.is_none());
        let conn_id = slot.connection;
        let out = connection.map(|c| {
            let version = c.version;
            (&mut c.outbox, version)
        });
        let outcome = match slot.session.outbound.deliver(message, now, out, &limits) {
            Ok(outcome) => outcome,
            Err(error) => {
                log::error!(
                    "cannot encode a message for {}: {error}",
                    slot.session.client_id
                );
                return None;
            }
        };
        self.persist_journal(session_id);
        let Some(slot) = self.sessions.get(session_id) else {
            return Some(outcome);
        };
        let client = &slot.session.client_id;
        match outcome {
            Delivery::Sent => {
                self.stats.deliveries += 1;
                if let Some(id) = conn_id {
                    self.wake(id);
                }
            }
            Delivery::Queued | Delivery::QueuedFull | Delivery::NotQueued => {}
            Delivery::DroppedOutboundFull => {
                self.stats.dropped_qos0_outbound_full += 1;
                let max = self.settings.queue.max_outbound_bytes;
                self.logs.warn(LogKind::DropOutbound, now, || {
                    format!("dropped a QoS 0 message for {client}: over max_outbound_bytes {max}")
                });
            }
            Delivery::DroppedOldestOffline => {
                self.stats.dropped_offline_queue_full += 1;
                let max = self.settings.queue.max_queued;
                self.logs.warn(LogKind::DropOffline, now, || {
                    format!("dropped the oldest queued message of offline client {client}: max_queued_messages {max}")
                });
            }
            Delivery::DroppedOldestLagging => {
                self.stats.dropped_lagging += 1;
                self.logs.warn(LogKind::DropLagging, now, || {
                    format!("dropped the oldest queued message of lagging client {client}")
                });
            }
        }
        Some(outcome)
    }
}

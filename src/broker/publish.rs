//! Inbound PUBLISH and routing: topic checks, the QoS 1/2 receive flows,
//! the MQTT 5 checks and reason codes (docs/mqtt5.md, "Message
//! properties"), retained messages, and fan-out to every matching session
//! at the highest QoS among its matching subscriptions, one copy each,
//! carrying every matching subscription identifier.

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::codec::{
    forwarded_block, Ack, AckKind, Packet, PacketId, Properties, Publish, PublishBody, QoS,
    ReasonCode,
};
use crate::session::{Delivery, Message, MessageMeta, Subscription};
use crate::sys::trajectory::DropReason;
use crate::topic::validate_topic_name;

use super::connections::{CloseReason, ConnId};
use super::retained::RetainOutcome;
use super::sessions::SessionId;
use super::stats::LogKind;
use super::Broker;

/// Where a message handed to [`Broker::deliver`] comes from: how far past
/// `max_queued_messages` it may take a full online queue.
#[derive(Debug, Clone, Copy)]
pub(super) enum Source {
    /// New to the broker, from this connection (`None`: a bridge, a will,
    /// the broker itself, none of which back-pressure can pause). The
    /// queue may go one past its cap per paused publisher.
    Published(Option<ConnId>),
    /// Taken from another session's queue (shared subscriptions): no
    /// new message, so no cap of its own.
    Moved,
}

/// One message being routed: what every copy shares.
#[derive(Debug, Clone, Copy)]
pub(super) struct Routed<'a> {
    pub body: &'a PublishBody,
    pub qos: QoS,
    pub retain: bool,
    pub meta: Option<&'a Rc<MessageMeta>>,
}

impl<'a> Routed<'a> {
    /// A message without MQTT 5 properties or expiry: what comes down a
    /// bridge, the broker's own `$SYS` values and events.
    pub fn plain(body: &'a PublishBody, qos: QoS, retain: bool) -> Routed<'a> {
        Routed {
            body,
            qos,
            retain,
            meta: None,
        }
    }
}

/// The most targets (and matched subscriptions) whose room routing keeps
/// between messages (a few tens of KB).
const TARGETS_KEPT: usize = 1024;

/// What one session gets of a routed message: the highest granted QoS,
/// whether any matching subscription keeps the retain flag, and every
/// matching subscription's identifier.
#[derive(Debug)]
pub(super) struct Target {
    session: SessionId,
    qos: QoS,
    retain_as_published: bool,
    ids: Vec<u32>,
}

impl Target {
    /// What one subscription alone gives its session (a shared group's
    /// member).
    pub(super) fn new(session: SessionId, subscription: Subscription) -> Target {
        Target {
            session,
            qos: subscription.options.qos,
            retain_as_published: subscription.options.retain_as_published,
            ids: subscription
                .identifier
                .map(|id| id.get())
                .into_iter()
                .collect(),
        }
    }
}

impl Broker {
    pub(super) fn handle_publish(&mut self, now: Instant, conn: ConnId, publish: Publish) {
        let Some(session_id) = self.connections.get(conn).and_then(|c| c.session()) else {
            return;
        };
        // 5.0: topic alias resolved, Receive Maximum enforced (`mqtt5.rs`).
        let Some(publish) = self.v5_inbound(now, conn, publish) else {
            return;
        };
        if !self.admit_publish(now, conn, &publish) {
            return;
        }
        let topic = publish.body.topic();
        if publish.qos == QoS::ExactlyOnce {
            let Some(packet_id) = publish.packet_id else {
                return self.protocol_error(now, conn, "QoS 2 PUBLISH without packet id");
            };
            let Some(slot) = self.sessions.get(session_id) else {
                return;
            };
            // A resent QoS 2 PUBLISH not yet released is acknowledged again
            // but not delivered again [MQTT-4.3.3-2].
            if slot.session.inbound.contains(packet_id) {
                return self.send(conn, &Packet::Ack(Ack::new(AckKind::PubRec, packet_id)));
            }
        }
        self.stats.messages_received += 1;
        self.stats.bytes_received += publish.body.len() as u64;
        // Refused by the access rules: dropped, neither routed nor
        // retained, acknowledged with 0x87 in 5.0 and plainly in 3.1.1,
        // which has no negative acknowledgement (docs/security.md,
        // "Access control"). A refused QoS 2 id is not recorded: the
        // exchange ends at the PUBREC [MQTT-4.3.3-4].
        if !self.may_publish(now, session_id, topic) {
            return self.acknowledge(conn, &publish, ReasonCode::NOT_AUTHORIZED);
        }
        if let (QoS::ExactlyOnce, Some(packet_id)) = (publish.qos, publish.packet_id) {
            let Some(slot) = self.sessions.get_mut(session_id) else {
                return;
            };
            if !slot.session.inbound.insert(packet_id) {
                return self.protocol_error(now, conn, "too many unreleased QoS 2 messages");
            }
            self.persist_inbound(session_id, packet_id, true);
        }
        let meta = self.message_meta(now, &publish.properties);
        let routed = Routed {
            body: &publish.body,
            qos: publish.qos,
            retain: publish.retain,
            meta: meta.as_ref(),
        };
        let reason = if self.route(now, routed, Some(conn)) {
            ReasonCode::SUCCESS
        } else {
            ReasonCode::NO_MATCHING_SUBSCRIBERS
        };
        self.acknowledge(conn, &publish, reason);
    }

    /// The checks a PUBLISH passes before anything else happens to it: a
    /// valid topic, the memory limit, no Subscription Identifier, a payload
    /// that matches its format indicator. `false`: refused, and the refusal
    /// (a close, or a 5.0 acknowledgement) already sent.
    fn admit_publish(&mut self, now: Instant, conn: ConnId, publish: &Publish) -> bool {
        let topic = publish.body.topic();
        if let Err(error) = validate_topic_name(topic, &self.settings.topics) {
            // 3.1.1 has no way to refuse one PUBLISH: the connection closes.
            let client = self.client_label(conn);
            let shown: String = topic.chars().take(64).collect();
            self.logs.warn(LogKind::Topic, now, || {
                format!("closing {client}: PUBLISH to invalid topic {shown:?}: {error}")
            });
            self.stats.protocol_errors += 1;
            self.close(now, conn, CloseReason::ProtocolError);
            return false;
        }
        if self.over_memory_limit {
            // QoS 0 is dropped; QoS 1/2 cannot be refused in 3.x except by
            // closing, so the client keeps the message and retries later.
            self.stats.refused_memory_limit += 1;
            self.note_conn_drop(conn, DropReason::MemoryLimit);
            let client = self.client_label(conn);
            let limit = self.settings.memory_limit;
            self.logs.warn(LogKind::Memory, now, || {
                format!("refusing a PUBLISH from {client}: over memory_limit {limit}")
            });
            if publish.qos != QoS::AtMostOnce {
                self.close(now, conn, CloseReason::ProtocolError);
            }
            return false;
        }
        if publish
            .properties
            .subscription_identifiers()
            .next()
            .is_some()
        {
            self.protocol_error(
                now,
                conn,
                "Subscription Identifier in a PUBLISH from a client [MQTT-3.3.4-6]",
            );
            return false;
        }
        if publish.properties.payload_format_indicator() == Some(1)
            && std::str::from_utf8(publish.body.payload()).is_err()
        {
            self.refuse_payload_format(now, conn, publish.qos, publish.packet_id);
            return false;
        }
        true
    }

    /// PUBACK or PUBREC with `reason` (written only in 5.0); nothing for
    /// QoS 0.
    fn acknowledge(&mut self, conn: ConnId, publish: &Publish, reason: ReasonCode) {
        let kind = match publish.qos {
            QoS::AtMostOnce => return,
            QoS::AtLeastOnce => AckKind::PubAck,
            QoS::ExactlyOnce => AckKind::PubRec,
        };
        if let Some(packet_id) = publish.packet_id {
            let mut ack = Ack::new(kind, packet_id);
            ack.reason = reason;
            self.send(conn, &Packet::Ack(ack));
        }
    }

    /// Payload Format Indicator 1 with a payload that is not UTF-8: PUBACK
    /// or PUBREC 0x99 for QoS 1/2, DISCONNECT 0x99 for QoS 0, which has no
    /// acknowledgement (MQTT 5 §3.3.2.3.2 lets a server check). Counted
    /// and logged.
    fn refuse_payload_format(
        &mut self,
        now: Instant,
        conn: ConnId,
        qos: QoS,
        packet_id: Option<PacketId>,
    ) {
        self.stats.payload_format_invalid += 1;
        let client = self.client_label(conn);
        self.logs.warn(LogKind::PayloadFormat, now, || {
            format!("refusing a PUBLISH from {client} (0x99): payload format 1 but not UTF-8")
        });
        let reason = ReasonCode::PAYLOAD_FORMAT_INVALID;
        match (qos, packet_id) {
            (QoS::AtLeastOnce, Some(id)) | (QoS::ExactlyOnce, Some(id)) => {
                let kind = if qos == QoS::AtLeastOnce {
                    AckKind::PubAck
                } else {
                    AckKind::PubRec
                };
                let mut ack = Ack::new(kind, id);
                ack.reason = reason;
                self.send(conn, &Packet::Ack(ack));
            }
            // `close` sends DISCONNECT 0x99 (`CloseReason::disconnect_code`).
            _ => self.close(now, conn, CloseReason::PayloadFormatInvalid),
        }
    }

    /// What every copy of a message from a 5.0 client shares: its forwarded
    /// properties and its expiry deadline. `None` for a 3.x PUBLISH and a
    /// 5.0 one with neither.
    pub(super) fn message_meta(
        &self,
        now: Instant,
        properties: &Properties,
    ) -> Option<Rc<MessageMeta>> {
        if properties.is_empty() {
            return None;
        }
        let expires_at = properties
            .message_expiry_interval()
            .map(|secs| now + Duration::from_secs(u64::from(secs)));
        // The block re-encodes what was decoded from a packet that fit our
        // limits, so it always fits; should it not, the message goes on
        // without properties rather than not at all.
        let block = forwarded_block(properties).unwrap_or_default();
        MessageMeta::shared(block, expires_at)
    }

    /// Stores a retained message and delivers it to every matching
    /// session; `true` when it reached anyone (a session or a bridge).
    /// `publisher` is paused if a target's queue fills up.
    pub(super) fn route(
        &mut self,
        now: Instant,
        message: Routed<'_>,
        publisher: Option<ConnId>,
    ) -> bool {
        self.tail_message(now, &message);
        self.note_history(now, &message);
        // Addressed to one client: no subscription, no retained copy
        // (`p2p.rs`).
        if let Some(client_id) = self.p2p_recipient(message.body.topic()) {
            return self.route_p2p(now, message, client_id, publisher);
        }
        if message.retain {
            self.retain(now, message);
        }
        let topic = message.body.topic();
        let mut targets = std::mem::take(&mut self.targets);
        self.find_targets(topic, publisher, &mut targets);
        // One member of each shared group, a copy of its own beside any
        // the session gets from its ordinary subscriptions (MQTT 5 §4.8.2).
        let shared_bridged = self.add_shared_targets(now, message, publisher, &mut targets);
        // Several targets: give a plain message a meta, so that its 5.0
        // QoS 0 copies share one frame (session/message.rs).
        let fan_out;
        let meta = match message.meta {
            None if targets.len() > 1 => {
                fan_out = MessageMeta::for_fan_out();
                Some(&fan_out)
            }
            meta => meta,
        };
        let bridged = self.forward_to_bridges(now, message);
        let echo_guard = self.echo_guard(publisher);
        let mut reached = bridged || shared_bridged;
        for target in targets.drain(..) {
            if self.is_echo(target.session, echo_guard)
                || !self.may_deliver(now, target.session, topic)
            {
                continue;
            }
            reached = true;
            // Delivery QoS is the lower of the two [MQTT-3.8.4-6]; the
            // retain flag is cleared on live delivery [MQTT-3.3.1-9]
            // unless a subscription asked to keep it [MQTT-3.3.1-12].
            let delivered = Message {
                body: message.body.clone(),
                qos: message.qos.min(target.qos),
                retain: message.retain && target.retain_as_published,
                meta: meta.cloned(),
                subscription_ids: target.ids.into_boxed_slice(),
            };
            self.deliver(now, target.session, delivered, Source::Published(publisher));
        }
        // Kept for the next message, but not at the size of a rare huge
        // fan-out: that memory goes back.
        targets.shrink_to(TARGETS_KEPT);
        self.targets = targets;
        reached
    }

    /// Every session `topic` reaches, once each: the highest QoS its
    /// matching subscriptions granted [MQTT-3.3.5-1] and all their
    /// identifiers [MQTT-3.3.4-3]. A subscription with no-local does not
    /// match its own client's messages [MQTT-3.8.3-3].
    fn find_targets(&mut self, topic: &str, publisher: Option<ConnId>, targets: &mut Vec<Target>) {
        let own = publisher
            .and_then(|c| self.connections.get(c))
            .and_then(|c| c.session());
        let mut matches = std::mem::take(&mut self.matches);
        matches.clear();
        self.subscriptions
            .for_each_match(topic, |session, subscription| {
                if !(subscription.options.no_local && Some(session) == own) {
                    matches.push((session, *subscription));
                }
            });
        // A session matched by several filters gets one copy: grouped by
        // session below. Sorted only when needed: one filter's subscribers
        // are distinct sessions, mostly already in order, and a size-built
        // std sorts by heapsort (a fan-out to 100 spent 9 % of its time
        // here when it sorted every time).
        if !matches.is_sorted_by_key(|m| m.0) {
            matches.sort_unstable_by_key(|m| m.0);
        }
        targets.clear();
        for &(
            session,
            Subscription {
                options,
                identifier,
            },
        ) in &matches
        {
            let target = match targets.last_mut() {
                Some(last) if last.session == session => last,
                _ => {
                    targets.push(Target {
                        session,
                        qos: options.qos,
                        retain_as_published: false,
                        ids: Vec::new(),
                    });
                    match targets.last_mut() {
                        Some(target) => target,
                        None => continue,
                    }
                }
            };
            target.qos = target.qos.max(options.qos);
            target.retain_as_published |= options.retain_as_published;
            if let Some(id) = identifier {
                target.ids.push(id.get());
            }
        }
        for target in targets.iter_mut() {
            target.ids.sort_unstable();
            target.ids.dedup();
        }
        matches.shrink_to(TARGETS_KEPT);
        self.matches = matches;
    }

    fn retain(&mut self, now: Instant, message: Routed<'_>) {
        let body = message.body;
        if self.store_full() && !body.payload().is_empty() {
            self.stats.retained_refused += 1;
            let topic: String = body.topic().chars().take(64).collect();
            self.logs.warn(LogKind::StoreFull, now, || {
                format!("not retaining a message on {topic:?}: the store is at max_store_bytes")
            });
            return;
        }
        let outcome = self.retained.set(body, message.qos, message.meta.cloned());
        if outcome != RetainOutcome::Refused {
            let meta = message.meta.cloned();
            self.persist_retained(body, message.qos, meta, outcome == RetainOutcome::Stored);
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

    /// Hands one message to one session; counts and logs what is dropped,
    /// and pauses the publisher of a message that filled the queue
    /// (`backpressure.rs`).
    pub(super) fn deliver(
        &mut self,
        now: Instant,
        session_id: SessionId,
        message: Message,
        source: Source,
    ) -> Option<Delivery> {
        let store_full = self.store_full();
        let (online, queued) = self
            .sessions
            .get(session_id)
            .map(|slot| (slot.connection, slot.session.outbound.queued_len()))?;
        if self.over_client_packet_size(now, online, &message) {
            return None;
        }
        let limits = self.queue_limits(online);
        // Looked up only for a queue at its cap: not on the way of every
        // delivery.
        let over_cap = match source {
            Source::Moved => usize::MAX,
            Source::Published(publisher) if queued >= limits.max_queued => {
                self.over_cap_allowed(session_id, publisher)
            }
            Source::Published(_) => 0,
        };
        let slot = self.sessions.get_mut(session_id)?;
        if store_full && slot.connection.is_none() && slot.session.store_id.is_some() {
            self.stats.dropped_store_full += 1;
            let client = slot.session.client_id.clone();
            self.console
                .note_drop(client.as_str(), DropReason::StoreFull, 1);
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
        let outcome = match slot
            .session
            .outbound
            .deliver(message, now, out, &limits, over_cap)
        {
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
            Delivery::Queued | Delivery::NotQueued => {}
            Delivery::QueuedFull => self.pause_publisher(session_id, source),
            Delivery::DroppedOldestOverCap => {
                self.stats.dropped_online_queue_full += 1;
                self.console
                    .note_drop(client.as_str(), DropReason::QueueFull, 1);
                let max = self.settings.queue.max_queued;
                self.logs.warn(LogKind::DropOverCap, now, || {
                    format!("dropped the oldest queued message of client {client}: its queue is at max_queued_messages {max} plus one per paused publisher, and this message's source was not paused (a bridge, a will, or a publisher that reconnected)")
                });
                self.pause_publisher(session_id, source);
            }
            Delivery::DroppedOutboundFull => {
                self.stats.dropped_qos0_outbound_full += 1;
                self.console
                    .note_drop(client.as_str(), DropReason::OutboundFull, 1);
                let max = self.settings.queue.max_outbound_bytes;
                self.logs.warn(LogKind::DropOutbound, now, || {
                    format!("dropped a QoS 0 message for {client}: over max_outbound_bytes {max}")
                });
            }
            Delivery::DroppedOldestOffline => {
                self.stats.dropped_offline_queue_full += 1;
                self.console
                    .note_drop(client.as_str(), DropReason::QueueFull, 1);
                let max = self.settings.queue.max_queued;
                self.logs.warn(LogKind::DropOffline, now, || {
                    format!("dropped the oldest queued message of offline client {client}: max_queued_messages {max}")
                });
            }
            Delivery::DroppedOldestLagging => {
                self.stats.dropped_lagging += 1;
                self.console
                    .note_drop(client.as_str(), DropReason::Lagging, 1);
                self.logs.warn(LogKind::DropLagging, now, || {
                    format!("dropped the oldest queued message of lagging client {client}")
                });
            }
        }
        Some(outcome)
    }
}

//! SUBSCRIBE and UNSUBSCRIBE: filter checks, the per-client cap, the trie
//! (or a shared group, `shared.rs`) kept in step with the session, the
//! MQTT 5 subscription options and identifier (docs/mqtt5.md,
//! "Subscriptions"), and retained messages on subscribe.

use std::num::NonZeroU32;
use std::time::Instant;

use crate::codec::{
    Packet, Properties, ReasonCode, RetainHandling, SubAck, Subscribe, SubscriptionRequest,
    UnsubAck, Unsubscribe,
};
use crate::session::{Message, Subscription};
use crate::topic::{
    is_shared, parse_shared, validate_topic_filter, TopicError, TopicFilter, TopicLimits,
};

use super::connections::ConnId;
use super::publish::Source;
use super::sessions::SessionId;
use super::stats::LogKind;
use super::Broker;

/// A subscription granted by one SUBSCRIBE, for its retained messages.
struct Granted {
    filter: TopicFilter,
    subscription: Subscription,
    is_new: bool,
}

impl Broker {
    pub(super) fn handle_subscribe(&mut self, now: Instant, conn: ConnId, subscribe: Subscribe) {
        let Some(session_id) = self.connections.get(conn).and_then(|c| c.session()) else {
            return;
        };
        let filters = subscribe.requests.iter().map(|r| r.filter.as_str());
        if let Some(why) = self.filter_violation(conn, filters) {
            return self.protocol_error(now, conn, why);
        }
        // The codec refuses an identifier of 0 (MQTT 5 §3.8.2.1.2); one
        // per SUBSCRIBE, for every filter in it.
        let identifier = subscribe
            .properties
            .subscription_identifiers()
            .next()
            .and_then(NonZeroU32::new);
        // No Local on a shared subscription is a Protocol Error
        // [MQTT-3.8.3-4] (3.x has no such option).
        if subscribe
            .requests
            .iter()
            .any(|r| r.options.no_local && is_shared(&r.filter))
        {
            return self.protocol_error(now, conn, "No Local on a shared subscription");
        }
        let mut codes = Vec::with_capacity(subscribe.requests.len());
        let mut granted = Vec::new();
        for request in subscribe.requests {
            match self.subscribe_one(now, session_id, request, identifier) {
                Ok(one) => {
                    codes.push(ReasonCode(one.subscription.options.qos as u8));
                    granted.push(one);
                }
                Err(code) => codes.push(code),
            }
        }
        let suback = SubAck {
            packet_id: subscribe.packet_id,
            codes,
            properties: Properties::default(),
        };
        self.send(conn, &Packet::SubAck(suback));
        self.persist_session(session_id);
        let events = granted
            .iter()
            .map(|one| (one.filter.as_str(), one.subscription.options.qos));
        self.note_subscribed(now, conn, session_id, events);
        let joined_a_group = granted.iter().any(|one| is_shared(one.filter.as_str()));
        for one in granted {
            self.send_retained(now, session_id, one);
        }
        // A new member takes over what its groups queued for members
        // that are away (`shared.rs`).
        if joined_a_group {
            self.gather_for_returning_member(now, session_id);
        }
    }

    /// One filter of a SUBSCRIBE: granted, or the SUBACK reason code that
    /// refuses it (written as 0x80 in 3.x by the codec).
    fn subscribe_one(
        &mut self,
        now: Instant,
        session_id: SessionId,
        request: SubscriptionRequest,
        identifier: Option<NonZeroU32>,
    ) -> Result<Granted, ReasonCode> {
        let slot = self
            .sessions
            .get_mut(session_id)
            .ok_or(ReasonCode::UNSPECIFIED_ERROR)?;
        let client = slot.session.client_id.clone();
        let checked = TopicFilter::new(&request.filter, &self.settings.topics).and_then(|filter| {
            match parse_shared(filter.as_str()) {
                Some(Err(error)) => Err(error),
                _ => Ok(filter),
            }
        });
        let filter = match checked {
            Ok(filter) => filter,
            Err(error) => {
                self.stats.subscriptions_refused += 1;
                let shown: String = request.filter.chars().take(64).collect();
                self.logs.warn(LogKind::Subscription, now, || {
                    format!("refusing subscription of {client} to {shown:?}: {error}")
                });
                return Err(ReasonCode::TOPIC_FILTER_INVALID);
            }
        };
        let matched = parse_shared(filter.as_str())
            .and_then(Result::ok)
            .map_or(filter.as_str(), |shared| shared.filter);
        if self.p2p_forbids(matched, client.as_str()) {
            self.stats.p2p_subscriptions_refused += 1;
            let shown: String = filter.as_str().chars().take(64).collect();
            self.logs.warn(LogKind::P2p, now, || {
                format!(
                    "refusing subscription of {client} to {shown:?}: another client's p2p topic"
                )
            });
            return Err(ReasonCode::NOT_AUTHORIZED);
        }
        if self
            .may_subscribe(now, session_id, filter.as_str())
            .is_none()
        {
            return Err(ReasonCode::NOT_AUTHORIZED);
        }
        let slot = self
            .sessions
            .get_mut(session_id)
            .ok_or(ReasonCode::UNSPECIFIED_ERROR)?;
        let is_new = slot.session.subscription(filter.as_str()).is_none();
        let max = self.settings.max_subscriptions_per_client;
        if is_new && slot.session.subscriptions.len() >= max {
            self.stats.subscriptions_refused += 1;
            self.logs.warn(LogKind::Subscription, now, || {
                format!(
                    "refusing subscription of {client}: max_subscriptions_per_client {max} reached"
                )
            });
            return Err(ReasonCode::QUOTA_EXCEEDED);
        }
        let subscription = Subscription {
            options: request.options,
            identifier,
        };
        slot.session.add_subscription(&filter, subscription);
        self.index_subscription(&filter, session_id, subscription);
        Ok(Granted {
            filter,
            subscription,
            is_new,
        })
    }

    /// Retained messages follow the SUBACK, flagged as retained, for a new
    /// or replaced subscription alike [MQTT-3.3.1-6, MQTT-3.8.4-3] —
    /// unless its Retain Handling says only when new (1) or never (2)
    /// [MQTT-3.3.1-9, MQTT-3.3.1-10, MQTT-3.3.1-11].
    fn send_retained(&mut self, now: Instant, session_id: SessionId, granted: Granted) {
        // Not on a shared subscription: a group's members are one
        // consumer, not each a new subscriber (MQTT 5 §4.8.2).
        if is_shared(granted.filter.as_str()) {
            return;
        }
        let options = granted.subscription.options;
        match options.retain_handling {
            RetainHandling::SendAtSubscribe => {}
            RetainHandling::SendIfNew if granted.is_new => {}
            RetainHandling::SendIfNew | RetainHandling::DoNotSend => return,
        }
        let (found, expired) = self.retained.matching(granted.filter.as_str(), now);
        self.drop_expired_retained(now, expired);
        let ids: Box<[u32]> = granted
            .subscription
            .identifier
            .map(NonZeroU32::get)
            .into_iter()
            .collect();
        for retained in found {
            if !self.may_deliver(now, session_id, retained.body.topic()) {
                continue;
            }
            // A publisher that fills a queue is paused; a SUBSCRIBE pauses
            // no one, and a client re-subscribing without acknowledging
            // would grow its queue without bound: past the cap its
            // retained messages are dropped, counted and logged.
            if self.queue_at_cap(session_id) {
                self.drop_retained(now, session_id);
                continue;
            }
            let message = Message {
                body: retained.body,
                qos: retained.qos.min(options.qos),
                retain: true,
                meta: retained.meta,
                subscription_ids: ids.clone(),
            };
            self.deliver(now, session_id, message, Source::Published(None));
        }
    }

    /// The session's queue holds `max_queued_messages` or more.
    fn queue_at_cap(&self, session_id: SessionId) -> bool {
        let Some(slot) = self.sessions.get(session_id) else {
            return false;
        };
        let limits = self.queue_limits(slot.connection);
        slot.session.outbound.queued_len() >= limits.max_queued
    }

    fn drop_retained(&mut self, now: Instant, session_id: SessionId) {
        self.stats.dropped_retained_queue_full += 1;
        let Some(slot) = self.sessions.get(session_id) else {
            return;
        };
        let client = &slot.session.client_id;
        let max = self.settings.queue.max_queued;
        self.logs.warn(LogKind::DropRetained, now, || {
            format!("dropped a retained message for {client} at SUBSCRIBE: its queue is at max_queued_messages {max}")
        });
    }

    pub(super) fn handle_unsubscribe(
        &mut self,
        now: Instant,
        conn: ConnId,
        unsubscribe: Unsubscribe,
    ) {
        let Some(session_id) = self.connections.get(conn).and_then(|c| c.session()) else {
            return;
        };
        let filters = unsubscribe.filters.iter().map(String::as_str);
        if let Some(why) = self.filter_violation(conn, filters) {
            return self.protocol_error(now, conn, why);
        }
        let mut codes = Vec::with_capacity(unsubscribe.filters.len());
        let mut removed = Vec::new();
        for filter in &unsubscribe.filters {
            let Some(slot) = self.sessions.get_mut(session_id) else {
                return;
            };
            let existed = slot.session.remove_subscription(filter);
            if existed {
                self.unindex_subscription(filter, session_id);
                removed.push(filter.clone());
            }
            codes.push(if existed {
                ReasonCode::SUCCESS
            } else {
                ReasonCode::NO_SUBSCRIPTION_EXISTED
            });
        }
        let Some(slot) = self.sessions.get(session_id) else {
            return;
        };
        let version = slot.session.version;
        if !version.is_v5() {
            codes.clear();
        }
        let unsuback = UnsubAck {
            packet_id: unsubscribe.packet_id,
            codes,
            properties: Properties::default(),
        };
        self.send(conn, &Packet::UnsubAck(unsuback));
        self.persist_session(session_id);
        self.note_unsubscribed(now, Some(conn), session_id, &removed);
    }

    /// A 3.x SUBSCRIBE or UNSUBSCRIBE with a filter that breaks the
    /// protocol's syntax (empty, or a wildcard that is not a whole level):
    /// a protocol violation, which closes the connection [MQTT-4.8.0-1],
    /// as mosquitto does, checked for every filter before any is acted on.
    /// Configured bounds (length, levels, strict characters) and the
    /// access rules stay per-filter refusals (SUBACK 0x80); 5.0 answers
    /// every refusal in its SUBACK or UNSUBACK.
    fn filter_violation<'f>(
        &self,
        conn: ConnId,
        mut filters: impl Iterator<Item = &'f str>,
    ) -> Option<&'static str> {
        let v5 = self.connections.get(conn).is_none_or(|c| c.version.is_v5());
        if v5 {
            return None;
        }
        // The protocol's own ceilings only: every error left is syntax.
        filters.find_map(
            |f| match validate_topic_filter(f, &TopicLimits::UNBOUNDED) {
                Ok(()) => None,
                Err(TopicError::Empty) => Some("empty topic filter [MQTT-4.7.3-1]"),
                Err(_) => Some("wildcard that is not a whole level [MQTT-4.7.1-2] [MQTT-4.7.1-3]"),
            },
        )
    }
}

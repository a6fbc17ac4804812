//! SUBSCRIBE and UNSUBSCRIBE: filter checks, the per-client cap, the trie
//! kept in step with the session, the MQTT 5 subscription options and
//! identifier (docs/mqtt5.md, "Subscriptions"), and retained messages on
//! subscribe.

use std::num::NonZeroU32;
use std::time::Instant;

use crate::codec::{
    Packet, Properties, ReasonCode, RetainHandling, SubAck, Subscribe, SubscriptionRequest,
    UnsubAck, Unsubscribe,
};
use crate::session::{Message, Subscription};
use crate::topic::TopicFilter;

use super::connections::ConnId;
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
        // The codec refuses an identifier of 0 (MQTT 5 §3.8.2.1.2); one
        // per SUBSCRIBE, for every filter in it.
        let identifier = subscribe
            .properties
            .subscription_identifiers()
            .next()
            .and_then(NonZeroU32::new);
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
        for one in granted {
            self.send_retained(now, session_id, one);
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
        let filter = match TopicFilter::new(&request.filter, &self.settings.topics) {
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
        self.subscriptions.insert(&filter, session_id, subscription);
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
            self.deliver(now, session_id, message);
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
        let Some(slot) = self.sessions.get_mut(session_id) else {
            return;
        };
        let mut codes = Vec::with_capacity(unsubscribe.filters.len());
        let mut removed = Vec::new();
        for filter in &unsubscribe.filters {
            let existed = slot.session.remove_subscription(filter);
            self.subscriptions.remove(filter, session_id);
            if existed {
                removed.push(filter.clone());
            }
            codes.push(if existed {
                ReasonCode::SUCCESS
            } else {
                ReasonCode::NO_SUBSCRIPTION_EXISTED
            });
        }
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
}

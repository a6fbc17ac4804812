//! SUBSCRIBE and UNSUBSCRIBE: filter checks, the per-client cap, the trie
//! kept in step with the session, and retained messages on subscribe.

use std::time::Instant;

use crate::codec::{Packet, Properties, ReasonCode, SubAck, Subscribe, UnsubAck, Unsubscribe};
use crate::session::Message;
use crate::topic::TopicFilter;

use super::connections::ConnId;
use super::stats::LogKind;
use super::Broker;

impl Broker {
    pub(super) fn handle_subscribe(&mut self, now: Instant, conn: ConnId, subscribe: Subscribe) {
        let Some(session_id) = self.connections.get(conn).and_then(|c| c.session()) else {
            return;
        };
        let mut codes = Vec::with_capacity(subscribe.requests.len());
        let mut granted = Vec::new();
        for request in subscribe.requests {
            let Some(slot) = self.sessions.get_mut(session_id) else {
                return;
            };
            let client = slot.session.client_id.clone();
            let filter = match TopicFilter::new(&request.filter, &self.settings.topics) {
                Ok(filter) => filter,
                Err(error) => {
                    self.stats.subscriptions_refused += 1;
                    let shown: String = request.filter.chars().take(64).collect();
                    self.logs.warn(LogKind::Subscription, now, || {
                        format!("refusing subscription of {client} to {shown:?}: {error}")
                    });
                    codes.push(ReasonCode::UNSPECIFIED_ERROR);
                    continue;
                }
            };
            if self
                .may_subscribe(now, session_id, filter.as_str())
                .is_none()
            {
                // 0x87 for 5.0 clients; the codec writes it as 0x80 in 3.x.
                codes.push(ReasonCode::NOT_AUTHORIZED);
                continue;
            }
            let Some(slot) = self.sessions.get_mut(session_id) else {
                return;
            };
            let is_new = slot.session.subscription(filter.as_str()).is_none();
            let max = self.settings.max_subscriptions_per_client;
            if is_new && slot.session.subscriptions.len() >= max {
                self.stats.subscriptions_refused += 1;
                self.logs.warn(LogKind::Subscription, now, || {
                    format!("refusing subscription of {client}: max_subscriptions_per_client {max} reached")
                });
                codes.push(ReasonCode::UNSPECIFIED_ERROR);
                continue;
            }
            let options = request.options;
            slot.session.add_subscription(&filter, options);
            self.subscriptions.insert(&filter, session_id, options);
            codes.push(ReasonCode(options.qos as u8));
            granted.push((filter, options.qos));
        }
        let suback = SubAck {
            packet_id: subscribe.packet_id,
            codes,
            properties: Properties::default(),
        };
        self.send(conn, &Packet::SubAck(suback));
        self.persist_session(session_id);
        self.note_subscribed(now, conn, session_id, &granted);
        // Retained messages follow the SUBACK, flagged as retained, for a
        // new or replaced subscription alike [MQTT-3.3.1-6, MQTT-3.8.4-3].
        for (filter, qos) in granted {
            for retained in self.retained.matching(filter.as_str()) {
                if !self.may_deliver(now, session_id, retained.body.topic()) {
                    continue;
                }
                let message = Message {
                    body: retained.body,
                    qos: retained.qos.min(qos),
                    retain: true,
                };
                self.deliver(now, session_id, message);
            }
        }
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

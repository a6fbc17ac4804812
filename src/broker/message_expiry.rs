//! MQTT 5 message expiry in the broker: counting and logging what a
//! session's queue dropped as expired, and retained messages that expired
//! (docs/mqtt5.md, "Message expiry"). The session drops expired messages
//! itself (session/outbound.rs); the deadlines are `Instant`s from the
//! `now` of the PUBLISH, never the clock.

use std::time::Instant;

use crate::sys::trajectory::DropReason;

use super::sessions::SessionId;
use super::stats::LogKind;
use super::Broker;

impl Broker {
    /// Counts and logs the queued messages `session_id` dropped as expired
    /// since it was last asked.
    pub(super) fn note_expired(&mut self, now: Instant, session_id: SessionId) {
        let Some(slot) = self.sessions.get_mut(session_id) else {
            return;
        };
        let expired = slot.session.outbound.take_expired();
        if expired == 0 {
            return;
        }
        self.stats.messages_expired += expired;
        let client = slot.session.client_id.clone();
        self.console
            .note_drop(client.as_str(), DropReason::Expired, expired);
        self.logs.warn(LogKind::Expired, now, || {
            format!(
                "dropped {expired} expired queued messages of {client} (message expiry interval)"
            )
        });
    }

    /// Retained messages found expired while matching a subscription:
    /// removed from the store too, counted and logged.
    pub(super) fn drop_expired_retained(&mut self, now: Instant, topics: Vec<String>) {
        if topics.is_empty() {
            return;
        }
        let count = topics.len();
        self.stats.messages_expired += count as u64;
        self.logs.warn(LogKind::Expired, now, || {
            format!("dropped {count} expired retained messages (message expiry interval)")
        });
        for topic in topics {
            self.persist_retained_removed(topic);
        }
    }
}

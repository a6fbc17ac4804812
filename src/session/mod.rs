//! One client's session: its subscriptions, its outbound inflight window
//! and queue, and the QoS 2 packet ids it still owes a PUBREL for.
//!
//! Owns the per-client half of the QoS state machines; it never touches
//! sockets, the clock (every call that needs time takes `now`), other
//! sessions or the subscription trie (the broker keeps that in step with
//! `subscriptions`). State is allocated as it fills: an idle session holds
//! its id, its subscriptions and empty queues.

mod client_id;
mod inbound;
mod message;
mod outbound;
mod outbox;
mod subscriptions;

pub use client_id::{ClientId, ClientIdError};
pub use inbound::{InboundQos2, MAX_INBOUND_QOS2};
pub use message::{Message, MessageMeta};
pub use outbound::{AwaitingAck, Delivery, JournalEntry, Outbound, QueueLimits, RestoredMessage};
pub use outbox::Outbox;
pub use subscriptions::{Subscription, Subscriptions};

use std::time::{Duration, Instant};

use crate::codec::ProtocolVersion;
use crate::topic::TopicFilter;

#[derive(Debug)]
pub struct Session {
    pub client_id: ClientId,
    /// Clean session 0: kept after disconnect until it expires.
    pub persistent: bool,
    /// The version of the last connection, for encoding queued messages.
    pub version: ProtocolVersion,
    /// Mirrors the broker's trie entries for this session, for UNSUBSCRIBE,
    /// the per-client cap and removal when the session ends.
    pub subscriptions: Subscriptions,
    pub outbound: Outbound,
    pub inbound: InboundQos2,
    /// When the last connection ended; `None` while connected.
    pub disconnected_at: Option<Instant>,
    /// Whole seconds offline before `disconnected_at`: a session restored
    /// at startup was already offline this long (downtime included). The
    /// store keeps whole seconds; 8 bytes instead of a `Duration`'s 16 keep
    /// an idle session in a 128-byte allocation (README.md ## Performance).
    offline_before_secs: u64,
    /// Its key prefix in the store; `None` unless persisted.
    pub store_id: Option<u64>,
}

impl Session {
    pub fn new(client_id: ClientId, persistent: bool, version: ProtocolVersion) -> Session {
        Session {
            client_id,
            persistent,
            version,
            subscriptions: Subscriptions::default(),
            outbound: Outbound::default(),
            inbound: InboundQos2::default(),
            disconnected_at: None,
            offline_before_secs: 0,
            store_id: None,
        }
    }

    /// How long the session has been offline at `now`; `None` while online.
    pub fn offline_for(&self, now: Instant) -> Option<Duration> {
        self.disconnected_at.map(|at| {
            now.saturating_duration_since(at)
                .saturating_add(Duration::from_secs(self.offline_before_secs))
        })
    }

    /// Sets the time offline before `disconnected_at` (whole seconds kept).
    pub fn set_offline_before(&mut self, offline: Duration) {
        self.offline_before_secs = offline.as_secs();
    }

    /// This session's subscription to exactly `filter`.
    pub fn subscription(&self, filter: &str) -> Option<Subscription> {
        self.subscriptions.get(filter)
    }

    /// Records a subscription; `true` when it replaced one to the same filter.
    pub fn add_subscription(&mut self, filter: &TopicFilter, subscription: Subscription) -> bool {
        self.subscriptions.insert(filter, subscription)
    }

    /// Forgets a subscription; `true` when there was one.
    pub fn remove_subscription(&mut self, filter: &str) -> bool {
        self.subscriptions.remove(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every session pays for one (README.md ## Performance): an idle
    /// session's window, queue and inbound ids are empty pointers.
    #[test]
    fn an_idle_session_is_small() {
        assert!(std::mem::size_of::<Outbound>() <= 24);
        assert!(std::mem::size_of::<InboundQos2>() <= 8);
        // 120 bytes is a 128-byte malloc chunk.
        assert!(std::mem::size_of::<Session>() <= 120);
    }
}

//! Ending connections and sessions: the will, the session going offline
//! (kept when persistent, discarded when clean), and the slot's release once
//! the network layer has let go of the socket.

use std::time::Instant;

use log::{debug, info};

use crate::sys::trajectory::DropReason;
use crate::topic::is_shared;

use super::connections::{CloseReason, ConnId, ConnState, WillMessage};
use super::publish::Routed;
use super::sessions::SessionId;
use super::stats::LogKind;
use super::Broker;

impl Broker {
    /// Decides that `conn` ends: publishes its will unless the reason rules
    /// it out, takes its session offline, and asks the network layer to
    /// write what is queued and close the socket.
    pub fn close(&mut self, now: Instant, conn: ConnId, reason: CloseReason) {
        let Some(connection) = self.connections.get_mut(conn) else {
            return;
        };
        if connection.closing.is_some() {
            return;
        }
        connection.closing = Some(reason);
        if matches!(connection.state, ConnState::Active { .. }) && connection.version.is_v5() {
            self.send_disconnect(conn, reason);
        }
        let Some(connection) = self.connections.get_mut(conn) else {
            return;
        };
        let state = std::mem::replace(
            &mut connection.state,
            ConnState::AwaitingConnect { handshake: None },
        );
        let peer = self.listeners.peer_name(connection.origin);
        let paused = connection.pause_count > 0;
        let released = std::mem::take(&mut connection.released);
        let store_waiting = std::mem::take(&mut connection.store_waiting);
        connection.pause_count = 0;
        self.wake(conn);
        if paused {
            self.forget_publisher(conn);
        } else if released {
            self.released.retain(|&(c, _)| c != conn);
        }
        if store_waiting {
            self.forget_store_waiter(conn);
        }
        let ConnState::Active {
            session,
            will,
            keep_alive,
            ..
        } = state
        else {
            debug!("closing {peer} before CONNECT: {reason}");
            return;
        };
        if let Some(slot) = self.sessions.get(session) {
            info!(
                "client {} ({peer}) disconnected: {reason}",
                slot.session.client_id
            );
        }
        self.note_disconnected(now, conn, session, reason, keep_alive);
        if let Some(will) = will.filter(|_| reason.publishes_will()) {
            self.will_at_close(now, session, will);
        }
        self.session_offline(now, session, conn);
    }

    /// The socket is gone: closes if the broker had not already decided to,
    /// then frees the connection's slot.
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId) {
        self.close(now, conn, CloseReason::PeerGone);
        self.take_certificate_username(conn);
        self.forget_publish_rate(conn);
        self.identities.remove(&conn);
        self.v5.remove(&conn);
        if let Some(mut connection) = self.connections.remove(conn) {
            connection.outbox.clear();
            self.listeners.closed(connection.origin.listener());
        }
    }

    pub(super) fn publish_will(&mut self, now: Instant, will: WillMessage) {
        self.stats.wills_published += 1;
        debug!("publishing will on {}", will.body.topic());
        let meta = self.message_meta(now, &will.properties);
        let routed = Routed {
            body: &will.body,
            qos: will.qos,
            retain: will.retain,
            meta: meta.as_ref(),
        };
        self.route(now, routed, None);
    }

    /// The session's connection ended: a clean session ends with it
    /// [MQTT-3.1.2-6]; a persistent one stays, its queue under the offline
    /// rule (drop oldest) from now on.
    fn session_offline(&mut self, now: Instant, session_id: SessionId, conn: ConnId) {
        let Some(slot) = self.sessions.get_mut(session_id) else {
            return;
        };
        if slot.connection != Some(conn) {
            return;
        }
        slot.connection = None;
        if !slot.session.persistent {
            self.discard_session(now, session_id);
            return;
        }
        slot.session.disconnected_at = Some(now);
        let dropped = slot.session.outbound.go_offline(&self.settings.queue);
        self.persist_session(session_id);
        self.persist_journal(session_id);
        let Some(slot) = self.sessions.get_mut(session_id) else {
            return;
        };
        if dropped > 0 {
            let client = slot.session.client_id.clone();
            self.stats.dropped_offline_queue_full += dropped as u64;
            self.console
                .note_drop(client.as_str(), DropReason::QueueFull, dropped as u64);
            self.logs.warn(LogKind::DropOffline, now, || {
                format!("client {client} went offline over its queue cap: dropped its {dropped} oldest messages")
            });
        }
        self.release_publishers(session_id);
    }

    /// Removes a session and its subscriptions; what it holds for its
    /// shared subscriptions goes to other members (`shared.rs`).
    pub(super) fn discard_session(&mut self, now: Instant, session_id: SessionId) {
        self.release_publishers(session_id);
        self.session_acls.remove(session_id);
        self.session_expiry.remove(&session_id);
        self.delayed_wills.retain(|w| w.session() != session_id);
        let Some(mut slot) = self.sessions.remove(session_id) else {
            return;
        };
        let mut shared_filters = Vec::new();
        for (filter, _) in slot.session.subscriptions.iter() {
            self.unindex_subscription(filter, session_id);
            if is_shared(filter) {
                shared_filters.push(filter.to_owned());
            }
        }
        self.persist_discard(&slot.session);
        if !shared_filters.is_empty() {
            let held = slot.session.outbound.take_unreceived();
            self.hand_off(now, session_id, &shared_filters, held);
        }
    }
}

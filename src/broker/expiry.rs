//! When a session and its will end, for MQTT 5 (docs/mqtt5.md): the
//! Session Expiry Interval each 5.0 session was granted, and wills held
//! back for their Will Delay Interval.
//!
//! A will waits its delay only while its session lives: it goes at once
//! when the session ends with the connection (Session Expiry 0), when the
//! session expires first, and at shutdown (wills are not stored, so one
//! still waiting would otherwise be lost); a new connection to the
//! session before the delay passes cancels it (MQTT 5 §3.1.3.2.2). At most one
//! waits per session, so `max_sessions` bounds the list.
//!
//! 3.x sessions have no entry in either table: they expire after
//! `persistent_client_expiration` and their wills go at once, as before.

use std::time::{Duration, Instant};

use log::{debug, info};

use crate::session::ClientId;

use super::connections::WillMessage;
use super::sessions::SessionId;
use super::Broker;

/// A will waiting for its delay.
#[derive(Debug)]
pub(super) struct DelayedWill {
    session: SessionId,
    due: Instant,
    will: Box<WillMessage>,
}

impl DelayedWill {
    pub fn session(&self) -> SessionId {
        self.session
    }
}

impl Broker {
    /// The connection of `session` ended with `will` to publish: now, or
    /// after its delay if the session outlives the connection.
    pub(super) fn will_at_close(
        &mut self,
        now: Instant,
        session: SessionId,
        will: Box<WillMessage>,
    ) {
        let persistent = self
            .sessions
            .get(session)
            .is_some_and(|slot| slot.session.persistent);
        if will.delay_secs == 0 || !persistent || self.shutting_down {
            return self.publish_session_will(now, session, *will);
        }
        self.stats.wills_delayed += 1;
        let due = now + Duration::from_secs(u64::from(will.delay_secs));
        self.delayed_wills.retain(|w| w.session != session);
        self.delayed_wills.push(DelayedWill { session, due, will });
    }

    /// A new connection for `client_id`: its delayed will is not sent
    /// (MQTT 5 §3.1.3.2.2).
    pub(super) fn cancel_delayed_will(&mut self, client_id: &ClientId) {
        let Some(session) = self.sessions.find(client_id.as_str()) else {
            return;
        };
        let before = self.delayed_wills.len();
        self.delayed_wills.retain(|w| w.session != session);
        if self.delayed_wills.len() != before {
            debug!("{client_id} reconnected within its will delay: will cancelled");
        }
    }

    /// A clean start for `client_id` is about to end its old session.
    pub(super) fn will_before_clean_start(&mut self, now: Instant, client_id: &ClientId) {
        if let Some(session) = self.sessions.find(client_id.as_str()) {
            self.will_at_session_end(now, session);
        }
    }

    /// `session` is ending: a will still waiting for it goes now.
    pub(super) fn will_at_session_end(&mut self, now: Instant, session: SessionId) {
        let Some(index) = self.delayed_wills.iter().position(|w| w.session == session) else {
            return;
        };
        let delayed = self.delayed_wills.swap_remove(index);
        self.publish_session_will(now, session, *delayed.will);
    }

    /// Wills whose delay has passed; at shutdown every one still waiting.
    pub(super) fn sweep_delayed_wills(&mut self, now: Instant) {
        if self.delayed_wills.is_empty() {
            return;
        }
        let all = self.shutting_down;
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.delayed_wills)
            .into_iter()
            .partition(|w| all || w.due <= now);
        self.delayed_wills = waiting;
        for delayed in due {
            self.publish_session_will(now, delayed.session, *delayed.will);
        }
    }

    /// Publishes a will, checked against the access rules again (a reload
    /// may have taken the right away since CONNECT).
    fn publish_session_will(&mut self, now: Instant, session: SessionId, will: WillMessage) {
        if self.may_publish_will(now, session, will.body.topic()) {
            self.publish_will(now, will);
        }
    }

    /// How long `session` may stay offline: its own granted expiry under
    /// the global cap, else the cap; `None`: never expires.
    pub(super) fn expiry_of(&self, session: SessionId) -> Option<Duration> {
        let global = self.settings.persistent_client_expiration;
        match self.session_expiry.get(&session) {
            Some(&own) => Some(global.map_or(own, |cap| cap.min(own))),
            None => global,
        }
    }

    /// Offline persistent sessions past their expiry; a delayed will goes
    /// with its session.
    pub(super) fn sweep_expired_sessions(&mut self, now: Instant) {
        if self.settings.persistent_client_expiration.is_none() && self.session_expiry.is_empty() {
            return;
        }
        let expired: Vec<SessionId> = self
            .sessions
            .ids()
            .filter(|&id| {
                let expiry = self.expiry_of(id);
                self.sessions.get(id).is_some_and(|slot| {
                    slot.connection.is_none()
                        && expiry.is_some_and(|expiry| {
                            slot.session
                                .offline_for(now)
                                .is_some_and(|offline| offline >= expiry)
                        })
                })
            })
            .collect();
        for session_id in expired {
            if let Some(slot) = self.sessions.get(session_id) {
                info!("session of {} expired", slot.session.client_id);
            }
            self.stats.sessions_expired += 1;
            self.will_at_session_end(now, session_id);
            self.discard_session(session_id);
        }
    }
}

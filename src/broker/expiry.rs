//! When a session and its will end, for MQTT 5 (docs/mqtt5.md): the
//! Session Expiry Interval each 5.0 session was granted, and wills held
//! back for their Will Delay Interval.
//!
//! A will waits its delay only while its session lives: it goes at once
//! when the session ends with the connection (Session Expiry 0) or when
//! the session expires first; a new connection to the session before the
//! delay passes cancels it (MQTT 5 §3.1.3.2.2). A waiting will is kept in
//! its session's store record (`stored_will`), so a restart neither loses
//! nor hastens it; at shutdown one whose session has no record (no store)
//! goes at once rather than be lost. At most one waits per session, so
//! `max_sessions` bounds the list.
//!
//! A 5.0 session's granted expiry is kept in its record too
//! (`stored_session_expiry`) and back in the table after a restart.
//!
//! 3.x sessions have no entry in either table: they expire after
//! `persistent_client_expiration` and their wills go at once, as before.

use std::time::{Duration, Instant};

use log::{debug, info};

use crate::codec::{forwarded_block, read_forwarded_block, Property};
use crate::session::ClientId;

use super::connections::WillMessage;
use super::sessions::SessionId;
use super::store_op::StoredWill;
use super::Broker;

/// A will waiting for its delay.
#[derive(Debug)]
pub(super) struct DelayedWill {
    session: SessionId,
    due: Instant,
    will: Box<WillMessage>,
}

/// A stored will as the broker holds one (its properties were checked
/// when the store was read).
fn will_message(stored: StoredWill) -> WillMessage {
    WillMessage {
        body: stored.body,
        qos: stored.qos,
        retain: stored.retain,
        delay_secs: stored.delay_secs,
        properties: read_forwarded_block(&stored.properties).unwrap_or_default(),
    }
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
        let slot = self.sessions.get(session);
        let persistent = slot.is_some_and(|slot| slot.session.persistent);
        // At shutdown only a stored session keeps its will for later.
        let stored = slot.is_some_and(|slot| slot.session.store_id.is_some());
        if will.delay_secs == 0 || !persistent || (self.shutting_down && !stored) {
            return self.publish_session_will(now, session, *will);
        }
        self.stats.wills_delayed += 1;
        let due = now + Duration::from_secs(u64::from(will.delay_secs));
        self.delayed_wills.retain(|w| w.session != session);
        self.delayed_wills.push(DelayedWill { session, due, will });
    }

    /// A new connection for `client_id` and a will waiting for its delay:
    /// a clean start ends the old session, so the will goes now
    /// (MQTT 5 §3.1.4, session takeover); otherwise the session lives on
    /// and the will is not sent (MQTT 5 §3.1.3.2.2).
    pub(super) fn will_at_reconnect(&mut self, now: Instant, client_id: &ClientId, clean: bool) {
        if clean {
            self.will_before_clean_start(now, client_id);
        } else {
            self.cancel_delayed_will(client_id);
        }
    }

    /// A new connection for `client_id`: its delayed will is not sent.
    fn cancel_delayed_will(&mut self, client_id: &ClientId) {
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
    fn will_before_clean_start(&mut self, now: Instant, client_id: &ClientId) {
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

    /// Wills whose delay has passed; at shutdown every one still waiting
    /// that its session's store record does not keep.
    pub(super) fn sweep_delayed_wills(&mut self, now: Instant) {
        if self.delayed_wills.is_empty() {
            return;
        }
        let shutting_down = self.shutting_down;
        let sessions = &self.sessions;
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.delayed_wills)
            .into_iter()
            .partition(|w| {
                let stored = sessions
                    .get(w.session)
                    .is_some_and(|slot| slot.session.store_id.is_some());
                w.due <= now || (shutting_down && !stored)
            });
        self.delayed_wills = waiting;
        for delayed in due {
            self.publish_session_will(now, delayed.session, *delayed.will);
            // Its record no longer keeps it.
            if !shutting_down {
                self.persist_session(delayed.session);
            }
        }
    }

    /// Publishes a will, checked against the access rules again (a reload
    /// may have taken the right away since CONNECT).
    fn publish_session_will(&mut self, now: Instant, session: SessionId, will: WillMessage) {
        if self.may_publish_will(now, session, will.body.topic()) {
            self.publish_will(now, will);
        }
    }

    /// The Session Expiry Interval a stored session record keeps: the
    /// granted one for a 5.0 session (`u32::MAX`: never), `None` for 3.x.
    pub(super) fn stored_session_expiry(&self, session: SessionId) -> Option<u32> {
        let slot = self.sessions.get(session)?;
        if !slot.session.version.is_v5() {
            return None;
        }
        let own = self.session_expiry.get(&session);
        Some(own.map_or(u32::MAX, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)))
    }

    /// The will `session` waits to publish, as its record keeps it.
    pub(super) fn stored_will(&self, session: SessionId) -> Option<Box<StoredWill>> {
        let delayed = self.delayed_wills.iter().find(|w| w.session == session)?;
        let will = &delayed.will;
        let mut properties = forwarded_block(&will.properties).ok()?;
        if let Some(expiry) = will.properties.message_expiry_interval() {
            Property::MessageExpiryInterval(expiry)
                .write_to(&mut properties)
                .ok()?;
        }
        Some(Box::new(StoredWill {
            body: will.body.clone(),
            qos: will.qos,
            retain: will.retain,
            properties,
            delay_secs: will.delay_secs,
            publish_at: delayed.due,
        }))
    }

    /// How long a stored session may have been offline: its own expiry
    /// under the global cap.
    pub(super) fn stored_expiry(&self, session_expiry: Option<u32>) -> Option<Duration> {
        let global = self.settings.persistent_client_expiration;
        let own = session_expiry
            .filter(|&secs| secs != u32::MAX)
            .map(|secs| Duration::from_secs(u64::from(secs)));
        match (global, own) {
            (Some(cap), Some(own)) => Some(cap.min(own)),
            (global, own) => global.or(own),
        }
    }

    /// A restored session's expiry and waiting will, back in their tables.
    pub(super) fn restore_expiry_and_will(
        &mut self,
        session: SessionId,
        session_expiry: Option<u32>,
        will: Option<StoredWill>,
    ) {
        if let Some(secs) = session_expiry.filter(|&s| s != 0 && s != u32::MAX) {
            let expiry = Duration::from_secs(u64::from(secs));
            self.session_expiry.insert(session, expiry);
        }
        if let Some(stored) = will {
            let due = stored.publish_at;
            let will = Box::new(will_message(stored));
            self.delayed_wills.push(DelayedWill { session, due, will });
        }
    }

    /// A stored will whose session is gone: published now.
    pub(super) fn publish_stored_will(&mut self, now: Instant, stored: StoredWill) {
        self.publish_will(now, will_message(stored));
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
            self.note_session_expired(now, session_id);
            self.will_at_session_end(now, session_id);
            self.discard_session(now, session_id);
        }
    }
}

//! Device trajectories and message history, the broker's side
//! (docs/observability.md, "Trajectories and message history"): what
//! each client id went through (connect, subscriptions, resumes,
//! disconnects, takeovers, expiry, drops) and the messages of the
//! `history_topic` filters, kept in memory in bounded timelines and
//! written through to the store as ordinary store ops, so the batched
//! path and its flash budget apply; the admin API reads the timelines.
//!
//! Invariants: a timeline never holds more than its `*_max_bytes` nor,
//! after the once-a-second sweep, anything older than its `*_max_age`;
//! every record that falls out is deleted from the store too. Drops are
//! tallied per client and written once a second (one record per client),
//! never one per message. With history off a message costs one branch.

use std::time::{Duration, Instant};

use crate::sys::history::{HistoryFilters, HistoryMessage};
use crate::sys::json::Object;
use crate::sys::timeline::{Entry, Page, Timeline, Window};
use crate::sys::trajectory::{DropReason, DropTally, TrajectoryEvent, TrajectoryKind};
use crate::topic::{validate_topic_filter, TopicError};

use super::publish::Routed;
use super::sessions::SessionId;
use super::store_op::StoreOp;
use super::Broker;

/// How often drop tallies are written and the age bounds applied.
const CONSOLE_TICK: Duration = Duration::from_secs(1);

/// `trajectory_*` and `history_*` (config/console.rs), set once at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleSettings {
    pub trajectory_max_age: Duration,
    /// 0: no trajectories.
    pub trajectory_max_bytes: usize,
    /// Empty: no history.
    pub history_filters: Vec<String>,
    pub history_max_age: Duration,
    pub history_max_bytes: usize,
}

pub(super) struct Console {
    trajectory: Timeline<TrajectoryEvent>,
    /// `None` while no `history_topic` is set: the one check per message.
    history: Option<(HistoryFilters, Timeline<HistoryMessage>)>,
    drops: DropTally,
    last_tick: Option<Instant>,
    /// Scratch for what falls out, kept to avoid an allocation per record.
    evicted: Vec<u64>,
}

impl Default for Console {
    fn default() -> Console {
        Console {
            trajectory: Timeline::new(0, 0),
            history: None,
            drops: DropTally::default(),
            last_tick: None,
            evicted: Vec::new(),
        }
    }
}

impl Console {
    /// Counts `count` drops for `client_id` (a cheap lookup; written at
    /// the next tick).
    pub(super) fn note_drop(&mut self, client_id: &str, reason: DropReason, count: u64) {
        if self.trajectory.is_enabled() && count > 0 {
            self.drops.add(client_id, reason, count);
        }
    }

    pub(super) fn trajectory_on(&self) -> bool {
        self.trajectory.is_enabled()
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Broker {
    /// Turns trajectories and history on with their bounds.
    pub fn install_console(&mut self, settings: &ConsoleSettings) {
        self.console.trajectory = Timeline::new(
            ms(settings.trajectory_max_age),
            settings.trajectory_max_bytes,
        );
        self.console.history =
            (!settings.history_filters.is_empty() && settings.history_max_bytes > 0).then(|| {
                (
                    HistoryFilters(settings.history_filters.clone()),
                    Timeline::new(ms(settings.history_max_age), settings.history_max_bytes),
                )
            });
    }

    /// Puts back what the store held, oldest first; what the bounds
    /// no longer allow is deleted from the store (the age bound at the
    /// first tick, once the wall clock is known).
    pub fn restore_console(
        &mut self,
        trajectory: Vec<Entry<TrajectoryEvent>>,
        history: Vec<Entry<HistoryMessage>>,
    ) {
        let mut evicted = std::mem::take(&mut self.console.evicted);
        let (mut events, mut messages) = (0usize, 0usize);
        for entry in trajectory {
            self.console.trajectory.restore(entry, &mut evicted);
        }
        for seq in evicted.drain(..) {
            self.push_op(StoreOp::DeleteTrajectory { seq });
        }
        events += self.console.trajectory.len();
        match self.console.history.as_mut() {
            Some((_, timeline)) => {
                for entry in history {
                    timeline.restore(entry, &mut evicted);
                }
                messages += timeline.len();
            }
            // History turned off: what it kept goes.
            None => evicted.extend(history.iter().map(|e| e.seq)),
        }
        for seq in evicted.drain(..) {
            self.push_op(StoreOp::DeleteHistory { seq });
        }
        self.console.evicted = evicted;
        log::info!(
            "restored {events} trajectory events and {messages} history messages from the store"
        );
    }

    /// Records one trajectory event of `client_id` (the hooks in
    /// observe.rs and connect.rs call this).
    pub(super) fn note_trajectory(
        &mut self,
        now: Instant,
        client_id: &str,
        kind: TrajectoryKind,
        details: String,
    ) {
        if !self.console.trajectory.is_enabled() {
            return;
        }
        let ts = self.observe.wall_ms_at(now).unwrap_or(0);
        let event = TrajectoryEvent {
            client_id: client_id.into(),
            kind,
            details: details.into_boxed_str(),
        };
        let bytes = event.stored_bytes();
        let stored = self.persistence.is_some().then(|| event.clone());
        let mut evicted = std::mem::take(&mut self.console.evicted);
        let seq = self.console.trajectory.push(ts, bytes, event, &mut evicted);
        if let (Some(seq), Some(event)) = (seq, stored) {
            self.push_op(StoreOp::PutTrajectory { seq, ts, event });
        }
        for seq in evicted.drain(..) {
            self.push_op(StoreOp::DeleteTrajectory { seq });
        }
        self.console.evicted = evicted;
    }

    /// A CONNECT took up a kept session.
    pub(super) fn note_resumed(&mut self, now: Instant, session_id: SessionId) {
        if !self.console.trajectory_on() {
            return;
        }
        let Some(slot) = self.sessions.get(session_id) else {
            return;
        };
        let mut details = String::with_capacity(64);
        Object::new(&mut details)
            .u64("queued", slot.session.outbound.queued_len() as u64)
            .u64("inflight", slot.session.outbound.inflight_len() as u64)
            .u64("subscriptions", slot.session.subscriptions.len() as u64)
            .end();
        let client = slot.session.client_id.clone();
        self.note_trajectory(now, client.as_str(), TrajectoryKind::Resumed, details);
    }

    /// A kept session is about to be thrown away (`why`: clean start, the
    /// admin API).
    pub(super) fn note_discarded(&mut self, now: Instant, session_id: SessionId, why: &str) {
        if !self.console.trajectory_on() {
            return;
        }
        let Some(slot) = self.sessions.get(session_id) else {
            return;
        };
        let mut details = String::with_capacity(64);
        Object::new(&mut details)
            .str("reason", why)
            .u64("queued", slot.session.outbound.queued_len() as u64)
            .u64("subscriptions", slot.session.subscriptions.len() as u64)
            .end();
        let client = slot.session.client_id.clone();
        self.note_trajectory(now, client.as_str(), TrajectoryKind::Discarded, details);
    }

    /// Counts drops for a session's client.
    pub(super) fn note_session_drop(&mut self, session_id: SessionId, reason: DropReason, n: u64) {
        if let Some(slot) = self.sessions.get(session_id) {
            self.console
                .note_drop(slot.session.client_id.as_str(), reason, n);
        }
    }

    /// Counts a drop for the client on `conn`.
    pub(super) fn note_conn_drop(&mut self, conn: super::connections::ConnId, reason: DropReason) {
        if !self.console.trajectory_on() {
            return;
        }
        if let Some(super::connections::ConnState::Active { session, .. }) =
            self.connections.get(conn).map(|c| &c.state)
        {
            let session = *session;
            self.note_session_drop(session, reason, 1);
        }
    }

    /// Once a second (the sweep): the drop tallies become records, and
    /// what is older than the age bounds goes.
    pub(super) fn sweep_console(&mut self, now: Instant) {
        if self
            .console
            .last_tick
            .is_some_and(|last| now.saturating_duration_since(last) < CONSOLE_TICK)
        {
            return;
        }
        self.console.last_tick = Some(now);
        if !self.console.drops.is_empty() {
            for (client, details) in self.console.drops.take() {
                self.note_trajectory(now, &client, TrajectoryKind::Dropped, details);
            }
        }
        let Some(wall) = self.observe.wall_ms_at(now) else {
            return;
        };
        let mut evicted = std::mem::take(&mut self.console.evicted);
        self.console.trajectory.expire(wall, &mut evicted);
        for seq in evicted.drain(..) {
            self.push_op(StoreOp::DeleteTrajectory { seq });
        }
        if let Some((_, timeline)) = self.console.history.as_mut() {
            timeline.expire(wall, &mut evicted);
        }
        for seq in evicted.drain(..) {
            self.push_op(StoreOp::DeleteHistory { seq });
        }
        self.console.evicted = evicted;
    }

    /// Keeps `message` if a `history_topic` filter matches it; called for
    /// every routed message, one branch while history is off.
    pub(super) fn note_history(&mut self, now: Instant, message: &Routed<'_>) {
        let Some((filters, _)) = self.console.history.as_ref() else {
            return;
        };
        let topic = message.body.topic();
        if !filters.matches(topic) {
            return;
        }
        let ts = self.observe.wall_ms_at(now).unwrap_or(0);
        let kept = HistoryMessage {
            topic: topic.into(),
            qos: message.qos as u8,
            retain: message.retain,
            payload: message.body.payload().into(),
        };
        let bytes = kept.stored_bytes();
        let stored = self.persistence.is_some().then(|| kept.clone());
        let mut evicted = std::mem::take(&mut self.console.evicted);
        let seq = match self.console.history.as_mut() {
            Some((_, timeline)) => timeline.push(ts, bytes, kept, &mut evicted),
            None => None,
        };
        if let (Some(seq), Some(message)) = (seq, stored) {
            self.push_op(StoreOp::PutHistory { seq, ts, message });
        }
        for seq in evicted.drain(..) {
            self.push_op(StoreOp::DeleteHistory { seq });
        }
        self.console.evicted = evicted;
    }

    /// `GET /api/v1/clients/{id}/trajectory`: newest first.
    pub fn trajectory_page(&self, client_id: &str, window: Window) -> Page<'_, TrajectoryEvent> {
        self.console
            .trajectory
            .query(window, |e| &*e.client_id == client_id)
    }

    /// `GET /api/v1/messages`: newest first, the messages `filter` (any
    /// filter, wildcards included; none: all) matches. `Err` for a filter
    /// that is not valid; `Ok(None)` while history is off.
    pub fn history_page(
        &self,
        filter: Option<&str>,
        window: Window,
    ) -> Result<Option<Page<'_, HistoryMessage>>, TopicError> {
        if let Some(filter) = filter {
            validate_topic_filter(filter, &self.settings.topics)?;
        }
        let Some((_, timeline)) = self.console.history.as_ref() else {
            return Ok(None);
        };
        Ok(Some(timeline.query(window, |m| {
            filter.is_none_or(|f| crate::topic::matches(f, &m.topic))
        })))
    }

    /// Bytes the timelines hold (trajectories, history), for `/stats`.
    pub fn console_bytes(&self) -> (usize, Option<usize>) {
        (
            self.console.trajectory.bytes(),
            self.console.history.as_ref().map(|(_, t)| t.bytes()),
        )
    }
}

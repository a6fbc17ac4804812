//! Device trajectories and message history, the broker's side
//! (docs/observability.md, "Trajectories and message history"): what
//! each client id went through (connect, subscriptions, resumes,
//! disconnects, takeovers, expiry, drops) and the messages of the
//! `history_topic` filters. Trajectories are kept in memory in a bounded
//! timeline and written through as one store op per event; the history is
//! packed into chunks (sys/history_log.rs), one store op per chunk: the
//! chunk being filled is sealed when a store batch is handed over (or when
//! it is full), so a flush writes one record for all the messages since
//! the last, and pages of older messages are read back from the store.
//!
//! Invariants: neither holds more than its `*_max_bytes` nor, after the
//! once-a-second sweep, anything older than its `*_max_age` (history: a
//! chunk goes when its newest message is that old); every record that
//! falls out is deleted from the store too. Drops are tallied per client
//! and written once a second (one record per client), never one per
//! message. With history off a message costs one branch.

use std::time::{Duration, Instant};

use crate::store::RecoveredHistory;
use crate::sys::history::HistoryFilters;
use crate::sys::history_chunk::HistoryView;
use crate::sys::history_log::{ChunkSource, HistoryLog, HistoryPage, SealedChunk};
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
    history: Option<(HistoryFilters, HistoryLog)>,
    /// Where sealed chunks are read back from (the store; `None` without).
    history_source: Option<Box<dyn ChunkSource>>,
    /// Scratch for chunks sealed by a push.
    sealed: Vec<SealedChunk>,
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
            history_source: None,
            sealed: Vec::new(),
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
                    HistoryLog::new(ms(settings.history_max_age), settings.history_max_bytes),
                )
            });
    }

    /// Puts back what the store held, oldest first; what the bounds
    /// no longer allow is deleted from the store (the age bound at the
    /// first tick, once the wall clock is known).
    pub fn restore_console(
        &mut self,
        trajectory: Vec<Entry<TrajectoryEvent>>,
        history: RecoveredHistory,
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
        // Records of one message each, from the edgemq before chunked
        // history: not read, deleted (their numbers are not reused).
        let per_message = history.per_message.len();
        if per_message > 0 {
            log::warn!(
                "deleting {per_message} history messages stored one record each by an older edgemq (history is now stored in chunks)"
            );
        }
        evicted.extend(history.per_message.iter().copied());
        match self.console.history.as_mut() {
            Some((_, log)) => {
                if let Some(&last) = history.per_message.last() {
                    log.skip_to(last.saturating_add(1));
                }
                for meta in history.chunks {
                    log.restore(meta, &mut evicted);
                }
                messages += usize::try_from(log.len()).unwrap_or(usize::MAX);
            }
            // History turned off: what it kept goes.
            None => evicted.extend(history.chunks.iter().map(|c| c.first_seq)),
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
        self.seal_history_on_tick(now);
        let Some(wall) = self.observe.wall_ms_at(now) else {
            return;
        };
        let mut evicted = std::mem::take(&mut self.console.evicted);
        self.console.trajectory.expire(wall, &mut evicted);
        for seq in evicted.drain(..) {
            self.push_op(StoreOp::DeleteTrajectory { seq });
        }
        if let Some((_, log)) = self.console.history.as_mut() {
            log.expire(wall, &mut evicted);
        }
        for seq in evicted.drain(..) {
            self.push_op(StoreOp::DeleteHistory { seq });
        }
        self.console.evicted = evicted;
    }

    /// Keeps `message` if a `history_topic` filter matches it; called for
    /// every routed message, one branch while history is off. The message
    /// is appended to the filling chunk: no allocation and no store op of
    /// its own.
    pub(super) fn note_history(&mut self, now: Instant, message: &Routed<'_>) {
        let Some((filters, _)) = self.console.history.as_ref() else {
            return;
        };
        let topic = message.body.topic();
        if !filters.matches(topic) {
            return;
        }
        let ts = self.observe.wall_ms_at(now).unwrap_or(0);
        let view = HistoryView {
            topic,
            qos: message.qos as u8,
            retain: message.retain,
            payload: message.body.payload(),
        };
        let batch = self.history_batch();
        let mut evicted = std::mem::take(&mut self.console.evicted);
        let mut sealed = std::mem::take(&mut self.console.sealed);
        if let Some((_, log)) = self.console.history.as_mut() {
            log.push(now, ts, &view, batch, &mut sealed, &mut evicted);
        }
        self.store_history(&mut sealed, &mut evicted);
        self.console.evicted = evicted;
        self.console.sealed = sealed;
    }

    /// The store batch an op pushed now goes into (`None` without a store).
    fn history_batch(&self) -> Option<u64> {
        self.persistence.as_ref().map(|p| p.next_batch())
    }

    /// Sealed chunks become puts and evicted ones deletes, in that order
    /// (a chunk sealed and evicted at once cancels out in the batch).
    fn store_history(&mut self, sealed: &mut Vec<SealedChunk>, evicted: &mut Vec<u64>) {
        if self.persistence.is_none() {
            sealed.clear();
            evicted.clear();
            return;
        }
        for chunk in sealed.drain(..) {
            self.push_op(StoreOp::PutHistoryChunk { chunk });
        }
        for seq in evicted.drain(..) {
            self.push_op(StoreOp::DeleteHistory { seq });
        }
    }

    /// Seals the filling chunk into the batch about to be handed over
    /// (persist.rs); whether it did.
    pub(super) fn seal_history(&mut self) -> bool {
        let batch = self.history_batch();
        let Some(chunk) = self
            .console
            .history
            .as_mut()
            .and_then(|(_, log)| log.seal(batch))
        else {
            return false;
        };
        let mut sealed = vec![chunk];
        let mut evicted = Vec::new();
        self.store_history(&mut sealed, &mut evicted);
        true
    }

    /// When the filling chunk must be sealed in batched mode: one
    /// `interval` after its first message.
    pub(super) fn history_seal_due(&self, interval: Duration) -> Option<Instant> {
        let (_, log) = self.console.history.as_ref()?;
        log.filling_since().map(|since| since + interval)
    }

    /// Without a store or in sync mode, where no batch schedule seals the
    /// filling chunk, the once-a-second tick does.
    fn seal_history_on_tick(&mut self, now: Instant) {
        if self.persistence.as_ref().is_some_and(|p| !p.is_sync()) {
            return;
        }
        if self
            .history_seal_due(CONSOLE_TICK)
            .is_some_and(|due| due <= now)
        {
            self.seal_history();
        }
    }

    /// Every store batch up to `durable` is on disk: sealed chunks in them
    /// are read from the store from now on.
    pub(super) fn release_history(&mut self, durable: u64) {
        if let Some((_, log)) = self.console.history.as_mut() {
            log.release(durable);
        }
    }

    /// Where pages read sealed chunks from (main.rs, with the store).
    pub fn install_history_source(&mut self, source: Box<dyn ChunkSource>) {
        self.console.history_source = Some(source);
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
    ) -> Result<Option<HistoryPage>, TopicError> {
        if let Some(filter) = filter {
            validate_topic_filter(filter, &self.settings.topics)?;
        }
        let Some((_, log)) = self.console.history.as_ref() else {
            return Ok(None);
        };
        let page = log.query(
            window,
            |topic| filter.is_none_or(|f| crate::topic::matches(f, topic)),
            self.console.history_source.as_deref(),
        );
        if page.unreadable > 0 {
            log::warn!(
                "a history page skipped {} chunks the store did not give back",
                page.unreadable
            );
        }
        Ok(Some(page))
    }

    /// Bytes the timelines hold (trajectories, history), for `/stats`.
    pub fn console_bytes(&self) -> (usize, Option<usize>) {
        (
            self.console.trajectory.bytes(),
            self.console.history.as_ref().map(|(_, log)| log.bytes()),
        )
    }
}

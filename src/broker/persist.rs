//! The broker's side of persistence: it describes every change to what must
//! survive a restart as a [`StoreOp`] (sessions, their messages and delivery
//! states, inbound QoS 2 ids, retained messages), hands the ops over in
//! numbered batches, and rebuilds its tables from what the store recovered.
//!
//! Sans-IO like the rest of the broker: the store (store/) applies batches
//! and reports which batch is durable. In sync mode (`persistence_sync
//! true`) a connection whose packets caused ops, or that is about to be sent
//! a stored message, is *held*: its frames (PUBACK, PUBREC, PUBREL, PUBLISH)
//! stay in its outbox until the flush covering those ops has finished — the
//! group commit of docs/design.md, ## Durability. In batched mode nothing
//! is held.

use std::time::{Duration, Instant};

use log::{info, warn};

use crate::codec::{PacketId, ProtocolVersion, PublishBody, QoS};
use crate::session::{ClientId, JournalEntry, MessageMeta, RestoredMessage, Session, Subscription};
use crate::topic::TopicFilter;

use super::connections::ConnId;
use super::retained::RetainedMessage;
use super::sessions::SessionId;
use super::settings::Settings;
use super::store_backlog::StoreBacklog;
use super::store_batch::{ReadyBatch, StoreBatch};
pub use super::store_op::{StoreOp, StoredWill};
use super::Broker;

/// The bridges' queue journal: their changes join the broker's store ops
/// (shared because the bridge queues own their journal).
#[derive(Debug, Default, Clone)]
pub struct BridgeStoreJournal(std::rc::Rc<std::cell::RefCell<Vec<StoreOp>>>);

#[cfg(feature = "bridge")]
impl crate::bridge::QueueJournal for BridgeStoreJournal {
    fn pushed(&mut self, bridge: &str, seq: u64, entry: &crate::bridge::QueuedMessage) {
        self.0.borrow_mut().push(StoreOp::PutBridgeMessage {
            bridge: bridge.to_owned(),
            seq,
            topic: entry.topic.clone(),
            payload: entry.payload.clone(),
            qos: entry.qos,
            retain: entry.retain,
            properties: entry.properties.clone(),
            expires_at: entry.expires_at,
        });
    }

    fn removed(&mut self, bridge: &str, seq: u64) {
        self.0.borrow_mut().push(StoreOp::DeleteBridgeMessage {
            bridge: bridge.to_owned(),
            seq,
        });
    }
}

/// A persistent session as the store recovered it.
#[derive(Debug, Clone)]
pub struct RestoredSession {
    pub client_id: String,
    pub store_id: u64,
    pub protocol: ProtocolVersion,
    pub subscriptions: Vec<(String, Subscription)>,
    /// How long it has been offline, downtime included by the
    /// plausible-wall-clock rule (the store applies it).
    pub offline_for: Duration,
    pub messages: Vec<RestoredMessage>,
    pub inbound: Vec<PacketId>,
    /// MQTT 5: the Session Expiry Interval in force; `None` for 3.x.
    pub session_expiry: Option<u32>,
    /// MQTT 5: a will that was waiting for its delay.
    pub will: Option<StoredWill>,
}

/// The broker's persistence state; absent with `persistence false`.
#[derive(Debug, Default)]
pub(super) struct Persistence {
    ops: StoreBatch,
    /// The number the next batch handed out will carry.
    next_batch: u64,
    /// Every batch up to this one is on disk.
    durable: u64,
    sync: bool,
    /// Batched mode: how long ops may wait before they are handed over.
    autosave_interval: Duration,
    /// Bytes of held ops past which they are handed over early.
    max_held_bytes: usize,
    /// Connections held until a batch is durable.
    held: Vec<(ConnId, u64)>,
    /// Batches handed over and not yet reported back.
    pub(super) backlog: StoreBacklog,
    /// SIGUSR1: hand everything over with a flush at the next chance.
    flush_requested: bool,
    next_store_id: u64,
    /// The store reached `max_store_bytes`.
    store_full: bool,
    journal: Vec<JournalEntry>,
    bridge_journal: BridgeStoreJournal,
}

impl Persistence {
    pub(super) fn new(settings: &Settings) -> Persistence {
        let max_held_bytes =
            usize::try_from(settings.persistence_cache_bytes / 2).unwrap_or(usize::MAX);
        Persistence {
            sync: settings.persistence_sync,
            autosave_interval: settings.autosave_interval,
            max_held_bytes,
            backlog: StoreBacklog::new(max_held_bytes),
            next_batch: 1,
            ..Persistence::default()
        }
    }
}

impl Persistence {
    /// The number the next batch handed out will carry: an op pushed now
    /// goes into it.
    pub(super) fn next_batch(&self) -> u64 {
        self.next_batch
    }

    pub(super) fn is_sync(&self) -> bool {
        self.sync
    }
}

impl Broker {
    /// Hands out the ops gathered so far as the next numbered batch once
    /// they are due (store_batch.rs): at once in sync mode and at
    /// shutdown, after `autosave_interval` in batched mode, early when they
    /// grow past half of `persistence_cache_bytes`. `None` otherwise.
    pub fn take_store_batch(&mut self, now: Instant) -> Option<ReadyBatch> {
        self.seal_history_for_batch(now);
        let shutting_down = self.shutting_down;
        let persistence = self.persistence.as_mut()?;
        let force = shutting_down || std::mem::take(&mut persistence.flush_requested);
        for op in persistence.bridge_journal.0.borrow_mut().drain(..) {
            persistence.ops.push(op);
        }
        let interval = (!persistence.sync).then_some(persistence.autosave_interval);
        let Some((ops, flush, bytes)) =
            persistence
                .ops
                .take_due(now, interval, persistence.max_held_bytes, force)
        else {
            self.release_if_cancelled();
            return None;
        };
        let persistence = self.persistence.as_mut()?;
        let batch = persistence.next_batch;
        persistence.next_batch += 1;
        if persistence.backlog.handed_over(batch, bytes) {
            self.note_store_behind(now);
        }
        Some(ReadyBatch {
            batch,
            ops,
            flush,
            bytes,
        })
    }

    /// The history's filling chunk goes into the batch when one is handed
    /// over with a flush (batched mode: one record per flush, not one per
    /// message), or when it is one interval old, taking the batch along;
    /// sync mode seals it on the console's tick instead (console.rs).
    fn seal_history_for_batch(&mut self, now: Instant) {
        let Some(persistence) = self.persistence.as_ref() else {
            return;
        };
        let interval = persistence.autosave_interval;
        let flushing = self.shutting_down || persistence.flush_requested;
        let batch_due = !persistence.sync
            && persistence
                .ops
                .due_at(interval)
                .is_some_and(|due| due <= now);
        let chunk_due = !persistence.sync
            && self
                .history_seal_due(interval)
                .is_some_and(|due| due <= now);
        if !(flushing || batch_due || chunk_due) {
            return;
        }
        let sealed = self.seal_history();
        // Sealed for its age alone: the batch goes now, not one interval
        // after the chunk's op joined it.
        if sealed && chunk_due && !batch_due {
            if let Some(persistence) = self.persistence.as_mut() {
                persistence.flush_requested = true;
            }
        }
    }

    /// SIGUSR1: what is gathered goes to the writer with a flush at the
    /// next `take_store_batch`, whatever the mode's schedule.
    pub fn request_store_flush(&mut self) {
        if let Some(persistence) = self.persistence.as_mut() {
            persistence.flush_requested = true;
        }
    }

    /// Sync mode: connections held for the batch being gathered, whose ops
    /// all cancelled out (a message put and dropped by the same packet),
    /// wait only for the batches before it.
    fn release_if_cancelled(&mut self) {
        let Some(persistence) = self.persistence.as_mut() else {
            return;
        };
        let gathering = persistence.next_batch;
        let mut moved = false;
        for entry in persistence.held.iter_mut().filter(|e| e.1 == gathering) {
            entry.1 = gathering - 1;
            moved = true;
        }
        if moved {
            let durable = persistence.durable;
            self.handle_persisted(durable);
        }
    }

    /// When gathered ops fall due (batched mode), for the sweep timer.
    pub(super) fn store_batch_due(&self) -> Option<Instant> {
        let persistence = self.persistence.as_ref()?;
        if persistence.sync {
            return None;
        }
        let ops = persistence.ops.due_at(persistence.autosave_interval);
        let history = self.history_seal_due(persistence.autosave_interval);
        ops.into_iter().chain(history).min()
    }

    /// Every batch up to `batch` is durable: held connections covered by
    /// it may write again.
    pub fn handle_persisted(&mut self, batch: u64) {
        let Some(persistence) = self.persistence.as_mut() else {
            return;
        };
        persistence.durable = persistence.durable.max(batch);
        let durable = persistence.durable;
        self.settle_store_backlog(durable);
        self.release_history(durable);
        let Some(persistence) = self.persistence.as_mut() else {
            return;
        };
        let mut released = Vec::new();
        persistence.held.retain(|&(conn, until)| {
            let done = until <= durable;
            if done {
                released.push(conn);
            }
            !done
        });
        for conn in released {
            if let Some(connection) = self.connections.get_mut(conn) {
                connection.held = false;
            }
            self.wake(conn);
        }
        if self.persistence.as_ref().is_some_and(|p| p.sync) {
            // Bridge links may hold acknowledgements to their remotes.
            self.wake_bridges();
        }
    }

    /// Every batch up to this one is durable (0 before the first).
    pub fn store_durable(&self) -> u64 {
        self.persistence.as_ref().map_or(0, |p| p.durable)
    }

    /// Sync mode: the batch now being gathered, which an acknowledgement
    /// of what changed the store must wait for; `None` in batched mode.
    pub(super) fn store_hold_batch(&self) -> Option<u64> {
        self.persistence
            .as_ref()
            .filter(|p| p.sync)
            .map(|p| p.next_batch)
    }

    /// Whether the store is at `max_store_bytes` (reported after flushes).
    pub fn handle_store_full(&mut self, _now: Instant, full: bool) {
        let Some(persistence) = self.persistence.as_mut() else {
            return;
        };
        // Transitions are rare and each is said; the drops they cause are
        // rate-limited under LogKind::StoreFull.
        if full && !persistence.store_full {
            warn!("the store reached max_store_bytes: new retained and offline messages are refused until it shrinks");
        } else if !full && persistence.store_full {
            info!("the store is below max_store_bytes again");
        }
        persistence.store_full = full;
    }

    pub(super) fn store_full(&self) -> bool {
        self.persistence.as_ref().is_some_and(|p| p.store_full)
    }

    /// Whether a connection's frames wait for a flush.
    pub(super) fn is_held(&self, conn: ConnId) -> bool {
        self.connections.get(conn).is_some_and(|c| c.held)
    }

    /// Ops gathered so far, ever: a packet made ops if this moved.
    pub(super) fn ops_pushed(&self) -> u64 {
        self.persistence.as_ref().map_or(0, |p| {
            p.ops.pushed() + p.bridge_journal.0.borrow().len() as u64
        })
    }

    /// The journal the bridges' uplink queues write through to the store;
    /// `None` without persistence.
    pub fn bridge_store_journal(&self) -> Option<BridgeStoreJournal> {
        self.persistence.as_ref().map(|p| p.bridge_journal.clone())
    }

    /// Sync mode: holds `conn`'s frames until the batch now being
    /// gathered is durable.
    pub(super) fn hold_for_store(&mut self, conn: ConnId) {
        let Some(until) = self.store_hold_batch() else {
            return;
        };
        let Some(persistence) = self.persistence.as_mut() else {
            return;
        };
        if let Some(connection) = self.connections.get_mut(conn) {
            if !connection.held {
                persistence.held.push((conn, until));
            } else {
                // Already held for an earlier batch: extend it.
                for entry in persistence.held.iter_mut().filter(|e| e.0 == conn) {
                    entry.1 = until;
                }
            }
            connection.held = true;
        }
    }

    pub(super) fn push_op(&mut self, op: StoreOp) {
        if let Some(persistence) = self.persistence.as_mut() {
            persistence.ops.push(op);
        }
    }

    /// A session became persistent (new, with clean session 0): give it a
    /// store id and start journaling its messages.
    pub(super) fn persist_new_session(&mut self, session_id: SessionId) {
        let Some(persistence) = self.persistence.as_mut() else {
            return;
        };
        let Some(slot) = self.sessions.get_mut(session_id) else {
            return;
        };
        if !slot.session.persistent || slot.session.store_id.is_some() {
            return;
        }
        slot.session.store_id = Some(persistence.next_store_id);
        persistence.next_store_id += 1;
        slot.session.outbound.enable_journal();
    }

    /// Rewrites a persistent session's own record (connect, disconnect,
    /// subscription changes).
    pub(super) fn persist_session(&mut self, session_id: SessionId) {
        let Some(slot) = self.sessions.get(session_id) else {
            return;
        };
        let Some(store_id) = slot.session.store_id else {
            return;
        };
        let op = StoreOp::PutSession {
            client_id: slot.session.client_id.clone(),
            store_id,
            protocol: slot.session.version,
            subscriptions: slot
                .session
                .subscriptions
                .iter()
                .map(|(filter, options)| (filter.to_owned(), options))
                .collect(),
            online: slot.connection.is_some(),
            session_expiry: self.stored_session_expiry(session_id),
            will: self.stored_will(session_id),
        };
        self.push_op(op);
    }

    /// Removes a session from the store.
    pub(super) fn persist_discard(&mut self, session: &Session) {
        if let Some(store_id) = session.store_id {
            self.push_op(StoreOp::DeleteSession {
                client_id: session.client_id.clone(),
                store_id,
            });
        }
    }

    /// Turns the session's journal into ops; in sync mode holds its
    /// connection until they are durable.
    pub(super) fn persist_journal(&mut self, session_id: SessionId) {
        let Some(persistence) = self.persistence.as_mut() else {
            return;
        };
        let Some(slot) = self.sessions.get_mut(session_id) else {
            return;
        };
        let Some(store_id) = slot.session.store_id else {
            return;
        };
        let mut journal = std::mem::take(&mut persistence.journal);
        slot.session.outbound.take_journal(&mut journal);
        if journal.is_empty() {
            persistence.journal = journal;
            return;
        }
        let holder = slot.connection;
        for entry in journal.drain(..) {
            persistence.ops.push(match entry {
                JournalEntry::Added { seq, message } => StoreOp::PutMessage {
                    store_id,
                    seq,
                    message,
                },
                JournalEntry::Sent {
                    seq,
                    packet_id,
                    awaiting,
                } => StoreOp::PutDelivery {
                    store_id,
                    seq,
                    packet_id,
                    awaiting,
                },
                JournalEntry::Removed { seq } => StoreOp::DeleteMessage { store_id, seq },
            });
        }
        persistence.journal = journal;
        if let Some(conn) = holder {
            self.hold_for_store(conn);
        }
    }

    /// An inbound QoS 2 id was recorded (`true`) or released.
    pub(super) fn persist_inbound(
        &mut self,
        session_id: SessionId,
        packet_id: PacketId,
        add: bool,
    ) {
        let Some(store_id) = self
            .sessions
            .get(session_id)
            .and_then(|s| s.session.store_id)
        else {
            return;
        };
        self.push_op(if add {
            StoreOp::PutInbound {
                store_id,
                packet_id,
            }
        } else {
            StoreOp::DeleteInbound {
                store_id,
                packet_id,
            }
        });
    }

    pub(super) fn persist_retained(
        &mut self,
        body: &PublishBody,
        qos: QoS,
        meta: Option<std::rc::Rc<MessageMeta>>,
        stored: bool,
    ) {
        self.push_op(if stored {
            StoreOp::PutRetained {
                body: body.clone(),
                qos,
                meta,
            }
        } else {
            StoreOp::DeleteRetained {
                topic: body.topic().to_owned(),
            }
        });
    }

    /// A retained message is gone (expired).
    pub(super) fn persist_retained_removed(&mut self, topic: String) {
        self.push_op(StoreOp::DeleteRetained { topic });
    }

    /// Rebuilds sessions and retained messages from the store at startup.
    /// Sessions that expired while the broker was down, that no longer fit
    /// `max_sessions`, or whose client id or filters the current config
    /// refuses, are dropped (and deleted from the store) with a log line.
    /// The store hands sessions over one at a time as it reads them
    /// ([`Broker::restore_one`]); this is the same for sessions at hand.
    pub fn restore(
        &mut self,
        now: Instant,
        sessions: Vec<RestoredSession>,
        retained: Vec<RetainedMessage>,
    ) {
        let mut restore = Restore::new(now);
        self.reserve_sessions(sessions.len());
        for stored in sessions {
            self.restore_one(&mut restore, stored);
        }
        self.finish_restore(restore, retained);
    }

    /// Room for `more` sessions in the session table, before a restore.
    pub fn reserve_sessions(&mut self, more: usize) {
        self.sessions.reserve(more);
    }

    /// Puts one stored session back (or drops it), counting it in
    /// `restore`.
    pub fn restore_one(&mut self, restore: &mut Restore, stored: RestoredSession) {
        match self.restore_session(restore.now, stored, &mut restore.late_wills) {
            SessionRestore::Restored => restore.restored += 1,
            SessionRestore::Expired => restore.expired += 1,
            SessionRestore::Refused => restore.refused += 1,
            SessionRestore::Skipped => {}
        }
    }

    /// Once every session is back: the late wills, the retained messages,
    /// the log line.
    pub fn finish_restore(&mut self, restore: Restore, retained: Vec<RetainedMessage>) {
        let Restore {
            now,
            restored,
            expired,
            refused,
            late_wills,
        } = restore;
        let mut retained_count = 0usize;
        // Wills of sessions that ended while the broker was down: late,
        // but not lost; once every session is back to receive them.
        for will in late_wills {
            self.publish_stored_will(now, will);
        }
        for message in retained {
            if message
                .meta
                .as_ref()
                .and_then(|m| m.expires_at)
                .is_some_and(|at| now > at)
            {
                self.drop_expired_retained(now, vec![message.body.topic().to_owned()]);
                continue;
            }
            // Over a lowered max_retained_messages: not loaded, but kept
            // in the store (raising the cap again brings it back).
            let outcome = self.retained.set(&message.body, message.qos, message.meta);
            if outcome == super::retained::RetainOutcome::Stored {
                retained_count += 1;
            }
        }
        info!(
            "restored {restored} persistent sessions and {retained_count} retained messages from the store \
             ({expired} expired while the broker was down, {refused} refused by the current config)"
        );
    }

    /// Puts one stored session back in the tables, or deletes it from the
    /// store when it expired or the current config refuses it.
    fn restore_session(
        &mut self,
        now: Instant,
        mut stored: RestoredSession,
        late_wills: &mut Vec<StoredWill>,
    ) -> SessionRestore {
        if let Some(persistence) = self.persistence.as_mut() {
            persistence.next_store_id = persistence.next_store_id.max(stored.store_id + 1);
        }
        let discard = StoreOp::DeleteSession {
            client_id: match ClientId::new(&stored.client_id, usize::MAX, false) {
                Ok(id) => id,
                Err(_) => return SessionRestore::Skipped,
            },
            store_id: stored.store_id,
        };
        let session_expiry = stored.session_expiry;
        let will = stored.will.take();
        if self
            .stored_expiry(session_expiry)
            .is_some_and(|limit| stored.offline_for >= limit)
        {
            self.stats.sessions_expired += 1;
            self.push_op(discard);
            late_wills.extend(will);
            return SessionRestore::Expired;
        }
        let client_id = match ClientId::new(
            &stored.client_id,
            self.settings.max_client_id_length,
            self.settings.strict_identifiers,
        ) {
            Ok(id) => id,
            Err(error) => {
                warn!(
                    "dropping the stored session of {:?}: {error}",
                    stored.client_id
                );
                self.push_op(discard);
                return SessionRestore::Refused;
            }
        };
        let (session, filters) = self.rebuild_session(now, client_id, stored);
        let Some(session_id) = self.sessions.insert(session, None) else {
            self.push_op(discard);
            return SessionRestore::Refused;
        };
        for (filter, options) in filters {
            self.index_subscription(&filter, session_id, options);
        }
        self.restore_expiry_and_will(session_id, session_expiry, will);
        self.mark_restored(session_id);
        // Enforces a smaller max_queued_messages than the store was
        // written with; what it drops is journaled.
        if let Some(slot) = self.sessions.get_mut(session_id) {
            slot.session.outbound.go_offline(&self.settings.queue);
        }
        self.note_expired(now, session_id);
        self.persist_journal(session_id);
        SessionRestore::Restored
    }

    /// The offline session as stored, and the subscriptions whose filters
    /// the current topic limits accept (the others are dropped with a log
    /// line).
    fn rebuild_session(
        &self,
        now: Instant,
        client_id: ClientId,
        stored: RestoredSession,
    ) -> (Session, Vec<(TopicFilter, Subscription)>) {
        let mut session = Session::new(client_id, true, stored.protocol);
        session.store_id = Some(stored.store_id);
        session.disconnected_at = Some(now);
        session.set_offline_before(stored.offline_for);
        session.outbound.enable_journal();
        session.outbound.restore(now, stored.messages);
        for packet_id in stored.inbound {
            session.inbound.insert(packet_id);
        }
        let mut filters = Vec::new();
        for (filter, options) in stored.subscriptions {
            match TopicFilter::new(&filter, &self.settings.topics) {
                Ok(filter) => {
                    session.add_subscription(&filter, options);
                    filters.push((filter, options));
                }
                Err(error) => warn!(
                    "dropping the stored subscription of {} to {filter:?}: {error}",
                    session.client_id
                ),
            }
        }
        (session, filters)
    }
}

/// A restore under way: what it counted so far, and the wills of the
/// sessions that expired while the broker was down.
#[derive(Debug)]
pub struct Restore {
    now: Instant,
    restored: usize,
    expired: usize,
    refused: usize,
    late_wills: Vec<StoredWill>,
}

impl Restore {
    pub fn new(now: Instant) -> Restore {
        Restore {
            now,
            restored: 0,
            expired: 0,
            refused: 0,
            late_wills: Vec::new(),
        }
    }
}

/// What [`Broker::restore_one`] did with one stored session.
enum SessionRestore {
    Restored,
    /// Offline for longer than `persistent_client_expiration`; deleted.
    Expired,
    /// Refused by the current config (client id, `max_sessions`); deleted.
    Refused,
    /// A client id no config accepts: left alone, not counted.
    Skipped,
}

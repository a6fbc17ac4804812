//! Outbound delivery for one session: the inflight window of QoS 1/2
//! messages awaiting acknowledgement, and behind it the queue
//! (docs/design.md ## Queues and back-pressure).
//!
//! Invariants: messages leave in the order they arrived (the queue only
//! feeds the window from its front, and nothing is sent past a non-empty
//! queue); a packet id is used by at most one inflight message; the queue
//! holds at most `max_queued` messages except while back-pressure is in
//! force, where each paused publisher may overflow it by one.
//!
//! Every message that enters gets the next sequence number of the session.
//! A persistent session keeps a journal of what changed (added, sent with a
//! packet id, removed), which the broker turns into store operations: the
//! store follows the session by operations, never by snapshots.
//!
//! An idle session (nothing inflight, queued or journaled) keeps only its
//! counters and one empty pointer: the window, the queue and their
//! bookkeeping live in a [`Window`] allocated when the first message comes
//! and freed when the last one is gone (README.md ## Performance: RSS per
//! idle connection).

use std::collections::VecDeque;
use std::time::Instant;

use crate::codec::{Ack, AckKind, EncodeError, Frame, Packet, PacketId, ProtocolVersion, QoS};

use super::{Message, Outbox};

/// What an inflight message waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwaitingAck {
    PubAck,
    PubRec,
    /// PUBREL sent; the message itself has been received by the client.
    PubComp,
}

#[derive(Debug)]
struct Inflight {
    seq: u64,
    packet_id: PacketId,
    message: Message,
    state: AwaitingAck,
}

#[derive(Debug)]
struct Queued {
    seq: u64,
    message: Message,
}

/// One change to a persistent session's messages, for the store.
#[derive(Debug, Clone)]
pub enum JournalEntry {
    /// A message entered the session (queued, or about to be sent).
    Added { seq: u64, message: Message },
    /// It was sent with `packet_id` (or PUBREC moved it on to PUBCOMP).
    Sent {
        seq: u64,
        packet_id: PacketId,
        awaiting: AwaitingAck,
    },
    /// Acknowledged, dropped, or a queued QoS 0 message sent.
    Removed { seq: u64 },
}

/// A stored message handed back to [`Outbound::restore`] at startup.
#[derive(Debug, Clone)]
pub struct RestoredMessage {
    pub seq: u64,
    pub message: Message,
    /// Sent before the restart: its packet id and what it waits for.
    pub sent: Option<(PacketId, AwaitingAck)>,
}

/// The caps that govern one session's queue, from config.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    pub max_inflight: usize,
    pub max_queued: usize,
    pub max_outbound_bytes: usize,
    pub queue_qos0: bool,
}

/// What became of one message handed to [`Outbound::deliver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Written to the connection's outbox.
    Sent,
    /// Waiting in the queue.
    Queued,
    /// Queued, and the queue is now at its cap: pause the publisher.
    QueuedFull,
    /// QoS 0 for an offline session without `queue_qos0_messages`: not kept,
    /// as MQTT allows [MQTT-3.1.2-5].
    NotQueued,
    /// QoS 0 past `max_outbound_bytes`: dropped.
    DroppedOutboundFull,
    /// The offline queue was full: its oldest message was dropped.
    DroppedOldestOffline,
    /// The session is lagging: its oldest queued message was dropped.
    DroppedOldestLagging,
    /// Queued, but the queue was past its cap by as many messages as
    /// paused publishers account for: its oldest message was dropped.
    /// Pause the publisher as for `QueuedFull`.
    DroppedOldestOverCap,
}

#[derive(Debug, Default)]
pub struct Outbound {
    /// `None` while it would be empty (see [`Window::is_idle`]).
    window: Option<Box<Window>>,
    /// The sequence number of the next message.
    next_seq: u64,
    last_packet_id: Option<PacketId>,
    /// Persistent with a store: changes are journaled for the broker.
    journaling: bool,
}

#[derive(Debug, Default)]
struct Window {
    inflight: VecDeque<Inflight>,
    queue: VecDeque<Queued>,
    /// Changes not yet taken by the broker; always empty unless journaling.
    journal: Vec<JournalEntry>,
    /// Since when the queue has been at its cap while online.
    full_since: Option<Instant>,
    /// Full for longer than `backpressure_timeout`: drops its oldest instead
    /// of pausing publishers, until it drains below half.
    lagging: bool,
    /// Queued messages sent since the broker last asked, for its counters.
    sent_from_queue: u64,
    /// Queued messages dropped as expired since the broker last asked.
    expired: u64,
}

impl Window {
    /// Holds nothing a default one would not.
    fn is_idle(&self) -> bool {
        self.inflight.is_empty()
            && self.queue.is_empty()
            && self.journal.is_empty()
            && self.full_since.is_none()
            && !self.lagging
            && self.sent_from_queue == 0
            && self.expired == 0
    }
}

impl Outbound {
    fn window(&mut self) -> &mut Window {
        self.window.get_or_insert_with(Box::default)
    }

    /// Frees the window once it holds nothing; every `&mut` entry point
    /// ends here.
    fn settle(&mut self) {
        if self.window.as_deref().is_some_and(Window::is_idle) {
            self.window = None;
        }
    }

    /// Hands `message` to this session. `out` is the connection's outbox,
    /// `None` while the session is offline. While online and pushing back,
    /// the queue may hold `over_cap` messages past `max_queued` (one per
    /// paused publisher, each of which overflowed it by one; `usize::MAX`
    /// for a message moved from another queue rather than published).
    pub fn deliver(
        &mut self,
        message: Message,
        now: Instant,
        out: Option<(&mut Outbox, ProtocolVersion)>,
        limits: &QueueLimits,
        over_cap: usize,
    ) -> Result<Delivery, EncodeError> {
        let Some((outbox, version)) = out else {
            return Ok(self.deliver_offline(message, limits));
        };
        if message.qos == QoS::AtMostOnce {
            let frame = message.frame(now, false, None, version)?;
            if outbox.bytes().saturating_add(frame.len()) > limits.max_outbound_bytes {
                return Ok(Delivery::DroppedOutboundFull);
            }
            outbox.push(frame);
            return Ok(Delivery::Sent);
        }
        let result = self.deliver_online(message, now, outbox, version, limits, over_cap);
        self.settle();
        result
    }

    fn deliver_online(
        &mut self,
        message: Message,
        now: Instant,
        outbox: &mut Outbox,
        version: ProtocolVersion,
        limits: &QueueLimits,
        over_cap: usize,
    ) -> Result<Delivery, EncodeError> {
        let seq = self.add(&message);
        let window = self.window();
        if window.queue.is_empty() && window.inflight.len() < limits.max_inflight {
            self.send_new(now, seq, message, outbox, version)?;
            return Ok(Delivery::Sent);
        }
        window.queue.push_back(Queued { seq, message });
        if window.queue.len() > limits.max_queued && window.lagging {
            self.drop_oldest();
            return Ok(Delivery::DroppedOldestLagging);
        }
        if window.queue.len() >= limits.max_queued {
            window.full_since.get_or_insert(now);
            if window.queue.len() > limits.max_queued.saturating_add(over_cap) {
                self.drop_oldest();
                return Ok(Delivery::DroppedOldestOverCap);
            }
            return Ok(Delivery::QueuedFull);
        }
        Ok(Delivery::Queued)
    }

    fn deliver_offline(&mut self, message: Message, limits: &QueueLimits) -> Delivery {
        if message.qos == QoS::AtMostOnce && !limits.queue_qos0 {
            return Delivery::NotQueued;
        }
        let seq = self.add(&message);
        let window = self.window();
        window.queue.push_back(Queued { seq, message });
        if window.queue.len() > limits.max_queued {
            self.drop_oldest();
            self.settle();
            return Delivery::DroppedOldestOffline;
        }
        Delivery::Queued
    }

    /// Numbers a message entering the session and journals it.
    fn add(&mut self, message: &Message) -> u64 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        if self.journaling {
            self.window().journal.push(JournalEntry::Added {
                seq,
                message: message.clone(),
            });
        }
        seq
    }

    fn drop_oldest(&mut self) {
        let dropped = self.window.as_deref_mut().and_then(|w| w.queue.pop_front());
        if let Some(dropped) = dropped {
            self.journal_push(JournalEntry::Removed { seq: dropped.seq });
        }
    }

    fn journal_push(&mut self, entry: JournalEntry) {
        if self.journaling {
            self.window().journal.push(entry);
        }
    }

    /// Starts journaling changes (a persistent session with a store).
    pub fn enable_journal(&mut self) {
        self.journaling = true;
    }

    /// Changes since the last call; empty unless journaling.
    pub fn take_journal(&mut self, dst: &mut Vec<JournalEntry>) {
        if let Some(window) = self.window.as_deref_mut() {
            dst.append(&mut window.journal);
        }
        self.settle();
    }

    /// Rebuilds the window and queue from the store at startup: sent
    /// messages go back into the window (resent with DUP on reconnect), the
    /// rest into the queue, each in sequence order. A queued message that
    /// expired meanwhile is dropped (journaled, counted in `take_expired`).
    pub fn restore(&mut self, now: Instant, mut messages: Vec<RestoredMessage>) {
        messages.sort_by_key(|m| m.seq);
        // The queue sized once: grown push by push it would end at the
        // next power of two, with the smaller blocks it outgrew left
        // behind (src/allocator.rs).
        let queued = messages.iter().filter(|m| m.sent.is_none()).count();
        if queued > 0 {
            self.window().queue.reserve_exact(queued);
        }
        for restored in messages {
            self.next_seq = self.next_seq.max(restored.seq.wrapping_add(1));
            if restored.sent.is_none() && restored.message.is_expired(now) {
                self.journal_push(JournalEntry::Removed { seq: restored.seq });
                self.window().expired += 1;
                continue;
            }
            let window = self.window();
            match restored.sent {
                Some((packet_id, state)) => window.inflight.push_back(Inflight {
                    seq: restored.seq,
                    packet_id,
                    message: restored.message,
                    state,
                }),
                None => window.queue.push_back(Queued {
                    seq: restored.seq,
                    message: restored.message,
                }),
            }
        }
        self.settle();
    }

    /// A PUBACK (`kind` PubAck), PUBREC or PUBCOMP from the client. Returns
    /// whether it matched an inflight message; unknown ids are ignored.
    pub fn handle_ack(
        &mut self,
        now: Instant,
        ack: &Ack,
        outbox: &mut Outbox,
        version: ProtocolVersion,
        limits: &QueueLimits,
    ) -> Result<bool, EncodeError> {
        let result = self.ack(now, ack, outbox, version, limits);
        self.settle();
        result
    }

    fn ack(
        &mut self,
        now: Instant,
        received: &Ack,
        outbox: &mut Outbox,
        version: ProtocolVersion,
        limits: &QueueLimits,
    ) -> Result<bool, EncodeError> {
        let (kind, packet_id) = (received.kind, received.packet_id);
        let reason_is_error = received.reason.is_error();
        let expected = match kind {
            AckKind::PubAck => AwaitingAck::PubAck,
            AckKind::PubRec => AwaitingAck::PubRec,
            AckKind::PubComp => AwaitingAck::PubComp,
            AckKind::PubRel => return Ok(false),
        };
        let Some(window) = self.window.as_deref_mut() else {
            return Ok(false);
        };
        let Some(index) = window
            .inflight
            .iter()
            .position(|m| m.packet_id == packet_id && m.state == expected)
        else {
            return Ok(false);
        };
        // A PUBREC with an error reason (5.0) ends the exchange [MQTT-4.3.3-4].
        let finished = kind != AckKind::PubRec || reason_is_error;
        if finished {
            if let Some(done) = window.inflight.remove(index) {
                self.journal_push(JournalEntry::Removed { seq: done.seq });
            }
            self.fill_window(now, outbox, version, limits)?;
        } else if let Some(entry) = window.inflight.get_mut(index) {
            entry.state = AwaitingAck::PubComp;
            let changed = JournalEntry::Sent {
                seq: entry.seq,
                packet_id,
                awaiting: AwaitingAck::PubComp,
            };
            self.journal_push(changed);
            outbox.push(Frame::packet(
                &Packet::Ack(Ack::new(AckKind::PubRel, packet_id)),
                version,
            )?);
        }
        Ok(true)
    }

    /// On reconnect: resend the window in order, PUBLISH with DUP set for
    /// what was not acknowledged and PUBREL for what was received
    /// [MQTT-4.4.0-1], then feed the window from the queue.
    pub fn resume(
        &mut self,
        now: Instant,
        outbox: &mut Outbox,
        version: ProtocolVersion,
        limits: &QueueLimits,
    ) -> Result<(), EncodeError> {
        let result = self.resend(now, outbox, version, limits);
        self.settle();
        result
    }

    fn resend(
        &mut self,
        now: Instant,
        outbox: &mut Outbox,
        version: ProtocolVersion,
        limits: &QueueLimits,
    ) -> Result<(), EncodeError> {
        let Some(window) = self.window.as_deref_mut() else {
            return Ok(());
        };
        for entry in &window.inflight {
            let frame = match entry.state {
                AwaitingAck::PubComp => Frame::packet(
                    &Packet::Ack(Ack::new(AckKind::PubRel, entry.packet_id)),
                    version,
                )?,
                // An inflight message is resent even past its expiry
                // (MQTT 5 §4.4: only queued ones are dropped).
                _ => entry
                    .message
                    .frame(now, true, Some(entry.packet_id), version)?,
            };
            outbox.push(frame);
        }
        window.full_since = None;
        window.lagging = false;
        self.fill_window(now, outbox, version, limits)
    }

    /// Moves queued messages into the window while it has room; expired
    /// ones are dropped on the way [MQTT-3.3.2-5].
    fn fill_window(
        &mut self,
        now: Instant,
        outbox: &mut Outbox,
        version: ProtocolVersion,
        limits: &QueueLimits,
    ) -> Result<(), EncodeError> {
        loop {
            let Some(window) = self.window.as_deref_mut() else {
                return Ok(());
            };
            if window.inflight.len() >= limits.max_inflight {
                break;
            }
            let Some(Queued { seq, message }) = window.queue.pop_front() else {
                break;
            };
            if message.is_expired(now) {
                window.expired += 1;
                self.journal_push(JournalEntry::Removed { seq });
                continue;
            }
            window.sent_from_queue += 1;
            if message.qos == QoS::AtMostOnce {
                self.journal_push(JournalEntry::Removed { seq });
                // Queued while offline with queue_qos0_messages.
                outbox.push(message.frame(now, false, None, version)?);
            } else {
                self.send_new(now, seq, message, outbox, version)?;
            }
        }
        if let Some(window) = self.window.as_deref_mut() {
            if window.queue.len() < limits.max_queued {
                window.full_since = None;
            }
            if window.lagging && window.queue.len() < limits.max_queued / 2 {
                window.lagging = false;
            }
        }
        Ok(())
    }

    fn send_new(
        &mut self,
        now: Instant,
        seq: u64,
        message: Message,
        outbox: &mut Outbox,
        version: ProtocolVersion,
    ) -> Result<(), EncodeError> {
        let packet_id = self.allocate_packet_id();
        outbox.push(message.frame(now, false, Some(packet_id), version)?);
        let state = if message.qos == QoS::ExactlyOnce {
            AwaitingAck::PubRec
        } else {
            AwaitingAck::PubAck
        };
        self.journal_push(JournalEntry::Sent {
            seq,
            packet_id,
            awaiting: state,
        });
        self.window().inflight.push_back(Inflight {
            seq,
            packet_id,
            message,
            state,
        });
        Ok(())
    }

    /// The next id after the last one that no inflight message holds. The
    /// window is at most 65,535 long, so one is always free when it has room.
    fn allocate_packet_id(&mut self) -> PacketId {
        let mut candidate = self.last_packet_id.map_or(PacketId::MIN, PacketId::next);
        if let Some(window) = self.window.as_deref() {
            for _ in 0..u16::MAX {
                if !window.inflight.iter().any(|m| m.packet_id == candidate) {
                    break;
                }
                candidate = candidate.next();
            }
        }
        self.last_packet_id = Some(candidate);
        candidate
    }

    /// Queued messages sent since the last call.
    pub fn take_sent_from_queue(&mut self) -> u64 {
        let sent = self
            .window
            .as_deref_mut()
            .map_or(0, |w| std::mem::take(&mut w.sent_from_queue));
        self.settle();
        sent
    }

    /// Queued messages dropped as expired since the last call.
    pub fn take_expired(&mut self) -> u64 {
        let expired = self
            .window
            .as_deref_mut()
            .map_or(0, |w| std::mem::take(&mut w.expired));
        self.settle();
        expired
    }

    /// Queue at its cap while online, and for how long.
    pub fn full_since(&self) -> Option<Instant> {
        self.window.as_deref().and_then(|w| w.full_since)
    }

    /// Back-pressure has timed out: drop oldest from now on.
    pub fn mark_lagging(&mut self) {
        let window = self.window();
        window.lagging = true;
        window.full_since = None;
    }

    pub fn is_lagging(&self) -> bool {
        self.window.as_deref().is_some_and(|w| w.lagging)
    }

    /// The queue is below its cap: paused publishers may resume.
    pub fn has_room(&self, limits: &QueueLimits) -> bool {
        self.is_lagging() || self.queued_len() < limits.max_queued
    }

    /// The session went offline: back-pressure no longer applies (the
    /// offline rule, drop oldest, takes over), and the offline cap is
    /// enforced at once.
    pub fn go_offline(&mut self, limits: &QueueLimits) -> usize {
        if let Some(window) = self.window.as_deref_mut() {
            window.full_since = None;
            window.lagging = false;
        }
        let mut dropped = 0;
        while self.queued_len() > limits.max_queued {
            self.drop_oldest();
            dropped += 1;
        }
        self.settle();
        dropped
    }

    pub fn inflight_len(&self) -> usize {
        self.window.as_deref().map_or(0, |w| w.inflight.len())
    }

    pub fn queued_len(&self) -> usize {
        self.window.as_deref().map_or(0, |w| w.queue.len())
    }

    /// Takes every message the client has not acknowledged receiving — in
    /// flight awaiting its PUBACK or PUBREC, or queued — in the order they
    /// entered, for another session to deliver (a shared subscription's
    /// member is gone). Messages awaiting PUBCOMP stay: their client has
    /// them.
    pub fn take_unreceived(&mut self) -> Vec<Message> {
        let Some(window) = self.window.as_deref_mut() else {
            return Vec::new();
        };
        let mut taken: Vec<(u64, Message)> = Vec::new();
        let inflight = std::mem::take(&mut window.inflight);
        for entry in inflight {
            if entry.state == AwaitingAck::PubComp {
                window.inflight.push_back(entry);
            } else {
                taken.push((entry.seq, entry.message));
            }
        }
        taken.extend(window.queue.drain(..).map(|q| (q.seq, q.message)));
        taken.sort_by_key(|(seq, _)| *seq);
        for &(seq, _) in &taken {
            self.journal_push(JournalEntry::Removed { seq });
        }
        self.settle();
        taken.into_iter().map(|(_, message)| message).collect()
    }

    /// Takes the queued (never sent) messages `wanted` picks, in order, for
    /// another session to deliver (a shared group's member came back while
    /// this one is away).
    pub fn take_queued(&mut self, wanted: impl Fn(&Message) -> bool) -> Vec<Message> {
        let Some(window) = self.window.as_deref_mut() else {
            return Vec::new();
        };
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(window.queue.len());
        for queued in window.queue.drain(..) {
            if wanted(&queued.message) {
                taken.push(queued);
            } else {
                kept.push_back(queued);
            }
        }
        window.queue = kept;
        for queued in &taken {
            self.journal_push(JournalEntry::Removed { seq: queued.seq });
        }
        self.settle();
        taken.into_iter().map(|q| q.message).collect()
    }

    /// Drops a non-persistent session's messages.
    pub fn clear(&mut self) {
        if let Some(window) = self.window.as_deref_mut() {
            window.inflight = VecDeque::new();
            window.queue = VecDeque::new();
            window.journal.clear();
            window.full_since = None;
            window.lagging = false;
        }
        self.settle();
    }
}

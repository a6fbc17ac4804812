//! Outbound delivery for one session: the inflight window of QoS 1/2
//! messages awaiting acknowledgement, and behind it the queue (SPEC §3).
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

use std::collections::VecDeque;
use std::time::Instant;

use crate::codec::{
    Ack, AckKind, EncodeError, Frame, Packet, PacketId, ProtocolVersion, PublishBody, QoS,
};

use super::Outbox;

/// One message as it will be delivered to this session.
#[derive(Debug, Clone)]
pub struct Message {
    pub body: PublishBody,
    /// Delivery QoS: the lower of the publish QoS and the subscription's.
    pub qos: QoS,
    pub retain: bool,
}

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
}

#[derive(Debug, Default)]
pub struct Outbound {
    inflight: VecDeque<Inflight>,
    queue: VecDeque<Queued>,
    /// The sequence number of the next message.
    next_seq: u64,
    /// Changes not yet taken by the broker; `None` unless persistent.
    journal: Option<Vec<JournalEntry>>,
    last_packet_id: Option<PacketId>,
    /// Since when the queue has been at its cap while online.
    full_since: Option<Instant>,
    /// Full for longer than `backpressure_timeout`: drops its oldest instead
    /// of pausing publishers, until it drains below half.
    lagging: bool,
    /// Queued messages sent since the broker last asked, for its counters.
    sent_from_queue: u64,
}

impl Outbound {
    /// Hands `message` to this session. `out` is the connection's outbox,
    /// `None` while the session is offline.
    pub fn deliver(
        &mut self,
        message: Message,
        now: Instant,
        out: Option<(&mut Outbox, ProtocolVersion)>,
        limits: &QueueLimits,
    ) -> Result<Delivery, EncodeError> {
        let Some((outbox, version)) = out else {
            return Ok(self.deliver_offline(message, limits));
        };
        if message.qos == QoS::AtMostOnce {
            let frame = Frame::publish(
                &message.body,
                QoS::AtMostOnce,
                message.retain,
                false,
                None,
                None,
                version,
            )?;
            if outbox.bytes().saturating_add(frame.len()) > limits.max_outbound_bytes {
                return Ok(Delivery::DroppedOutboundFull);
            }
            outbox.push(frame);
            return Ok(Delivery::Sent);
        }
        let seq = self.add(&message);
        if self.queue.is_empty() && self.inflight.len() < limits.max_inflight {
            self.send_new(seq, message, outbox, version)?;
            return Ok(Delivery::Sent);
        }
        self.queue.push_back(Queued { seq, message });
        if self.queue.len() > limits.max_queued && self.lagging {
            self.drop_oldest();
            return Ok(Delivery::DroppedOldestLagging);
        }
        if self.queue.len() >= limits.max_queued {
            self.full_since.get_or_insert(now);
            return Ok(Delivery::QueuedFull);
        }
        Ok(Delivery::Queued)
    }

    fn deliver_offline(&mut self, message: Message, limits: &QueueLimits) -> Delivery {
        if message.qos == QoS::AtMostOnce && !limits.queue_qos0 {
            return Delivery::NotQueued;
        }
        let seq = self.add(&message);
        self.queue.push_back(Queued { seq, message });
        if self.queue.len() > limits.max_queued {
            self.drop_oldest();
            return Delivery::DroppedOldestOffline;
        }
        Delivery::Queued
    }

    /// Numbers a message entering the session and journals it.
    fn add(&mut self, message: &Message) -> u64 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        if let Some(journal) = &mut self.journal {
            journal.push(JournalEntry::Added {
                seq,
                message: message.clone(),
            });
        }
        seq
    }

    fn drop_oldest(&mut self) {
        if let Some(dropped) = self.queue.pop_front() {
            self.journal_push(JournalEntry::Removed { seq: dropped.seq });
        }
    }

    fn journal_push(&mut self, entry: JournalEntry) {
        if let Some(journal) = &mut self.journal {
            journal.push(entry);
        }
    }

    /// Starts journaling changes (a persistent session with a store).
    pub fn enable_journal(&mut self) {
        self.journal.get_or_insert_with(Vec::new);
    }

    /// Changes since the last call; empty unless journaling.
    pub fn take_journal(&mut self, dst: &mut Vec<JournalEntry>) {
        if let Some(journal) = &mut self.journal {
            dst.append(journal);
        }
    }

    /// Rebuilds the window and queue from the store at startup: sent
    /// messages go back into the window (resent with DUP on reconnect), the
    /// rest into the queue, each in sequence order.
    pub fn restore(&mut self, mut messages: Vec<RestoredMessage>) {
        messages.sort_by_key(|m| m.seq);
        for restored in messages {
            self.next_seq = self.next_seq.max(restored.seq.wrapping_add(1));
            match restored.sent {
                Some((packet_id, state)) => self.inflight.push_back(Inflight {
                    seq: restored.seq,
                    packet_id,
                    message: restored.message,
                    state,
                }),
                None => self.queue.push_back(Queued {
                    seq: restored.seq,
                    message: restored.message,
                }),
            }
        }
    }

    /// A PUBACK (`kind` PubAck), PUBREC or PUBCOMP from the client. Returns
    /// whether it matched an inflight message; unknown ids are ignored.
    pub fn handle_ack(
        &mut self,
        kind: AckKind,
        packet_id: PacketId,
        reason_is_error: bool,
        outbox: &mut Outbox,
        version: ProtocolVersion,
        limits: &QueueLimits,
    ) -> Result<bool, EncodeError> {
        let expected = match kind {
            AckKind::PubAck => AwaitingAck::PubAck,
            AckKind::PubRec => AwaitingAck::PubRec,
            AckKind::PubComp => AwaitingAck::PubComp,
            AckKind::PubRel => return Ok(false),
        };
        let Some(index) = self
            .inflight
            .iter()
            .position(|m| m.packet_id == packet_id && m.state == expected)
        else {
            return Ok(false);
        };
        // A PUBREC with an error reason (5.0) ends the exchange [MQTT-4.3.3-4].
        let finished = kind != AckKind::PubRec || reason_is_error;
        if finished {
            if let Some(done) = self.inflight.remove(index) {
                self.journal_push(JournalEntry::Removed { seq: done.seq });
            }
            self.fill_window(outbox, version, limits)?;
        } else if let Some(entry) = self.inflight.get_mut(index) {
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
        outbox: &mut Outbox,
        version: ProtocolVersion,
        limits: &QueueLimits,
    ) -> Result<(), EncodeError> {
        for entry in &self.inflight {
            let frame = match entry.state {
                AwaitingAck::PubComp => Frame::packet(
                    &Packet::Ack(Ack::new(AckKind::PubRel, entry.packet_id)),
                    version,
                )?,
                _ => Frame::publish(
                    &entry.message.body,
                    entry.message.qos,
                    entry.message.retain,
                    true,
                    Some(entry.packet_id),
                    None,
                    version,
                )?,
            };
            outbox.push(frame);
        }
        self.full_since = None;
        self.lagging = false;
        self.fill_window(outbox, version, limits)
    }

    /// Moves queued messages into the window while it has room.
    fn fill_window(
        &mut self,
        outbox: &mut Outbox,
        version: ProtocolVersion,
        limits: &QueueLimits,
    ) -> Result<(), EncodeError> {
        while self.inflight.len() < limits.max_inflight {
            let Some(Queued { seq, message }) = self.queue.pop_front() else {
                break;
            };
            self.sent_from_queue += 1;
            if message.qos == QoS::AtMostOnce {
                self.journal_push(JournalEntry::Removed { seq });
                // Queued while offline with queue_qos0_messages.
                outbox.push(Frame::publish(
                    &message.body,
                    QoS::AtMostOnce,
                    message.retain,
                    false,
                    None,
                    None,
                    version,
                )?);
            } else {
                self.send_new(seq, message, outbox, version)?;
            }
        }
        if self.queue.len() < limits.max_queued {
            self.full_since = None;
        }
        if self.lagging && self.queue.len() < limits.max_queued / 2 {
            self.lagging = false;
        }
        Ok(())
    }

    fn send_new(
        &mut self,
        seq: u64,
        message: Message,
        outbox: &mut Outbox,
        version: ProtocolVersion,
    ) -> Result<(), EncodeError> {
        let packet_id = self.allocate_packet_id();
        outbox.push(Frame::publish(
            &message.body,
            message.qos,
            message.retain,
            false,
            Some(packet_id),
            None,
            version,
        )?);
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
        self.inflight.push_back(Inflight {
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
        for _ in 0..u16::MAX {
            if !self.inflight.iter().any(|m| m.packet_id == candidate) {
                break;
            }
            candidate = candidate.next();
        }
        self.last_packet_id = Some(candidate);
        candidate
    }

    /// Queued messages sent since the last call.
    pub fn take_sent_from_queue(&mut self) -> u64 {
        std::mem::take(&mut self.sent_from_queue)
    }

    /// Queue at its cap while online, and for how long.
    pub fn full_since(&self) -> Option<Instant> {
        self.full_since
    }

    /// Back-pressure has timed out: drop oldest from now on.
    pub fn mark_lagging(&mut self) {
        self.lagging = true;
        self.full_since = None;
    }

    pub fn is_lagging(&self) -> bool {
        self.lagging
    }

    /// The queue is below its cap: paused publishers may resume.
    pub fn has_room(&self, limits: &QueueLimits) -> bool {
        self.lagging || self.queue.len() < limits.max_queued
    }

    /// The session went offline: back-pressure no longer applies (the
    /// offline rule, drop oldest, takes over), and the offline cap is
    /// enforced at once.
    pub fn go_offline(&mut self, limits: &QueueLimits) -> usize {
        self.full_since = None;
        self.lagging = false;
        let mut dropped = 0;
        while self.queue.len() > limits.max_queued {
            self.drop_oldest();
            dropped += 1;
        }
        dropped
    }

    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// Drops a non-persistent session's messages.
    pub fn clear(&mut self) {
        self.inflight = VecDeque::new();
        self.queue = VecDeque::new();
        if let Some(journal) = &mut self.journal {
            journal.clear();
        }
        self.full_since = None;
        self.lagging = false;
    }
}

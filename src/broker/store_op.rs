//! What the broker asks the store to change: one [`StoreOp`] per change to
//! what must survive a restart. persist.rs produces them, store_batch.rs
//! gathers them, store/encode.rs turns them into sled writes.

use std::rc::Rc;
use std::time::Instant;

use crate::codec::{PacketId, ProtocolVersion, PublishBody, QoS};
use crate::session::{ClientId, Message, MessageMeta, Subscription};
use crate::sys::history_log::SealedChunk;
use crate::sys::trajectory::TrajectoryEvent;

/// A will waiting for its Will Delay Interval, kept with its offline
/// session so that a restart neither loses nor hastens it (docs/mqtt5.md,
/// "Will delay").
#[derive(Debug, Clone)]
pub struct StoredWill {
    pub body: PublishBody,
    pub qos: QoS,
    pub retain: bool,
    /// Its properties as a stored message keeps them
    /// (`codec::forwarded_block`), its Message Expiry Interval included.
    pub properties: Vec<u8>,
    pub delay_secs: u32,
    /// When it is to be published.
    pub publish_at: Instant,
}

/// One change for the store to apply, in order.
#[derive(Debug, Clone)]
pub enum StoreOp {
    /// Creates or rewrites a persistent session's own record.
    PutSession {
        client_id: ClientId,
        store_id: u64,
        protocol: ProtocolVersion,
        subscriptions: Vec<(String, Subscription)>,
        online: bool,
        /// MQTT 5: the Session Expiry Interval in force (`u32::MAX`:
        /// never); `None` for a 3.x session.
        session_expiry: Option<u32>,
        /// MQTT 5: a will waiting for its delay while the session is
        /// offline (`broker/expiry.rs`).
        will: Option<Box<StoredWill>>,
    },
    /// Removes a session with all its messages, delivery states and
    /// inbound ids.
    DeleteSession {
        client_id: ClientId,
        store_id: u64,
    },
    /// A message entered a session's queue or window.
    PutMessage {
        store_id: u64,
        seq: u64,
        message: Message,
    },
    /// It was sent with `packet_id` and waits for `awaiting`.
    PutDelivery {
        store_id: u64,
        seq: u64,
        packet_id: PacketId,
        awaiting: crate::session::AwaitingAck,
    },
    /// It was acknowledged or dropped.
    DeleteMessage {
        store_id: u64,
        seq: u64,
    },
    /// An inbound QoS 2 message was received and awaits PUBREL.
    PutInbound {
        store_id: u64,
        packet_id: PacketId,
    },
    DeleteInbound {
        store_id: u64,
        packet_id: PacketId,
    },
    PutRetained {
        body: PublishBody,
        qos: QoS,
        meta: Option<Rc<MessageMeta>>,
    },
    DeleteRetained {
        topic: String,
    },
    /// A QoS 1/2 message entered a bridge's uplink queue.
    PutBridgeMessage {
        bridge: String,
        seq: u64,
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
        /// Its MQTT 5 forwarded properties (a 5.0 link's message).
        properties: Box<[u8]>,
        expires_at: Option<Instant>,
    },
    /// The remote acknowledged it (or the queue's caps dropped it).
    DeleteBridgeMessage {
        bridge: String,
        seq: u64,
    },
    /// An event of a client's trajectory (`console.rs`).
    PutTrajectory {
        seq: u64,
        ts: u64,
        event: TrajectoryEvent,
    },
    /// It fell out for `trajectory_max_age` or `trajectory_max_bytes`.
    DeleteTrajectory {
        seq: u64,
    },
    /// The messages kept for `history_topic` since the last flush, as one
    /// record (sys/history_log.rs).
    PutHistoryChunk {
        chunk: SealedChunk,
    },
    /// The chunk (or an older per-message record) under this first
    /// sequence number fell out for `history_max_age` or
    /// `history_max_bytes`.
    DeleteHistory {
        seq: u64,
    },
}

impl StoreOp {
    /// A device trajectory or message history record: what happened, kept
    /// for operators, not a state any acknowledgement promises.
    pub(super) fn is_record_of_events(&self) -> bool {
        matches!(
            self,
            StoreOp::PutTrajectory { .. }
                | StoreOp::DeleteTrajectory { .. }
                | StoreOp::PutHistoryChunk { .. }
                | StoreOp::DeleteHistory { .. }
        )
    }
}

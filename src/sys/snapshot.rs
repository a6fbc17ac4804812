//! What the broker is doing at one moment, as plain numbers: the source of
//! the `$SYS/broker/...` topics (`topics.rs`), the admin API's `/stats` and
//! `/metrics` (src/admin/), and systemd's STATUS= line.
//!
//! Plain data: filled by the broker (`broker/observe.rs`) with the facts
//! only the edge knows (memory, the store's size and errors) handed in.

use super::load::Loads;

/// Facts the network layer measures for a snapshot; `None`: not known here
/// (no /proc, persistence off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EdgeFacts {
    pub resident_bytes: Option<u64>,
    pub store_bytes: Option<u64>,
    pub store_write_errors: Option<u64>,
    /// The wall clock, ms since the epoch; `None` when it is not set.
    pub wall_ms: Option<u64>,
}

/// One listener's numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerNumbers {
    pub label: String,
    pub connections: u64,
    /// Refused at the listener's own `max_connections`.
    pub refused: u64,
    /// Closed over its `max_connection_rate`.
    pub rate_limited: u64,
}

/// One bridge's numbers (`$SYS/broker/connection/{remote_clientid}/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeNumbers {
    pub name: String,
    pub client_id: String,
    pub up: bool,
    /// Messages in its uplink queue now.
    pub queue_len: u64,
    pub queue_bytes: u64,
    /// Messages queued for the remote since the start.
    pub queued: u64,
    /// Messages taken off the queue: acknowledged by the remote (QoS 1/2)
    /// or written to it (QoS 0).
    pub sent: u64,
    /// Dropped past the queue caps, and QoS 0 while the link was down.
    pub dropped: u64,
    pub received: u64,
    /// Times the link came up or went down.
    pub state_changes: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub uptime_secs: u64,
    pub clients_connected: u64,
    /// Persistent sessions whose client is offline.
    pub clients_disconnected: u64,
    /// The most clients connected at once since the start.
    pub clients_maximum: u64,
    /// Sessions, online and offline.
    pub clients_total: u64,
    pub clients_expired: u64,
    /// Sockets open, handshakes and CONNECTs under way included.
    pub connections: u64,
    pub messages_received: u64,
    pub messages_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// Every message the broker dropped (limits, lagging, store full).
    pub publish_dropped: u64,
    pub subscriptions: u64,
    /// Shared-subscription groups, and their members in all (also counted
    /// in `subscriptions`).
    pub shared_groups: u64,
    pub shared_subscriptions: u64,
    pub retained: u64,
    /// Messages waiting in session queues (online and offline).
    pub queued: u64,
    /// QoS 1/2 messages sent and not yet acknowledged.
    pub inflight: u64,
    /// Bytes the device trajectories and the message history hold (as
    /// stored); `None` for history while it is off.
    pub trajectory_bytes: u64,
    pub history_bytes: Option<u64>,
    pub loads: Loads,
    pub facts: EdgeFacts,
    /// Every counter of `broker::Stats`, by name.
    pub counters: Vec<(&'static str, u64)>,
    pub listeners: Vec<ListenerNumbers>,
    pub bridges: Vec<BridgeNumbers>,
}

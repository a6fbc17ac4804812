//! Bridges to a cloud broker: `connection` blocks forward local
//! publishes upstream through an uplink queue, and bring the remote's
//! publishes home.
//!
//! Owns: topic remapping (`rules`), the uplink queue and its journal hook
//! (`queue`), the MQTT client side of a link, sans-IO (`link`), reconnect
//! backoff (`backoff`) and which failed connects are logged (`failures`) —
//! all sans-IO. The driver task that connects,
//! speaks TLS and moves bytes is I/O and lives with the other I/O in
//! `net::bridge`. The broker's side — which local publishes go to which
//! queue, and routing what comes down — is `broker::bridges`.
//!
//! Loop prevention: what came down a bridge is never queued back up the
//! same bridge; with `try_private` a 3.x remote is told we are a bridge
//! (protocol level | 0x80), and a 5.0 link subscribes with no-local
//! [MQTT-3.8.3-3], so mosquitto and edgemq do not echo our own publishes
//! back to us.

pub mod backoff;
pub mod failures;
pub mod link;
pub mod queue;
pub mod rules;

pub use link::{Link, LinkDrops, LinkError, LinkEvent, LinkSettings, LinkStats};
pub use queue::{BridgeQueue, NoJournal, QueueJournal, QueuedMessage};
pub use rules::{Rules, TopicRule};

/// Unacknowledged QoS ≥ 1 messages per link: enough to keep a loopback or
/// LAN link busy (≥ 5,000 msg/s when draining), small enough that a
/// reconnect resends little.
pub const WINDOW: usize = 64;

/// mosquitto's default remote client id: `hostname.NAME`.
pub fn default_client_id(name: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    if host.is_empty() {
        name.to_owned()
    } else {
        format!("{host}.{name}")
    }
}

/// mosquitto's default notification topic.
pub fn default_notification_topic(client_id: &str) -> String {
    format!("$SYS/broker/connection/{client_id}/state")
}

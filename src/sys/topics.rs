//! The `$SYS/broker/...` tree (README.md, "Operating edgemq"): mosquitto's
//! topic names and meanings, then ours, then one subtree per bridge beside
//! its `state` notification. Values are decimal text, as mosquitto's.

use super::load::{two_decimals, Loads};
use super::snapshot::Snapshot;

/// The load topics' middle parts, in [`Loads`] order.
const LOAD_NAMES: [&str; 4] = [
    "messages/received",
    "messages/sent",
    "bytes/received",
    "bytes/sent",
];
const WINDOW_NAMES: [&str; 3] = ["1min", "5min", "15min"];

/// Every topic and its payload for one publication.
pub fn broker_topics(version: &str, s: &Snapshot) -> Vec<(String, String)> {
    let mut topics: Vec<(String, String)> = Vec::with_capacity(48 + 8 * s.bridges.len());
    let mut put = |name: &str, value: String| topics.push((format!("$SYS/broker/{name}"), value));
    put("version", format!("edgemq version {version}"));
    put("uptime", format!("{} seconds", s.uptime_secs));
    put("clients/connected", s.clients_connected.to_string());
    // mosquitto's older name for the same number.
    put("clients/active", s.clients_connected.to_string());
    put("clients/disconnected", s.clients_disconnected.to_string());
    put("clients/inactive", s.clients_disconnected.to_string());
    put("clients/maximum", s.clients_maximum.to_string());
    put("clients/total", s.clients_total.to_string());
    put("clients/expired", s.clients_expired.to_string());
    put("messages/received", s.messages_received.to_string());
    put("messages/sent", s.messages_sent.to_string());
    put("bytes/received", s.bytes_received.to_string());
    put("bytes/sent", s.bytes_sent.to_string());
    put("publish/messages/dropped", s.publish_dropped.to_string());
    put("publish/messages/received", s.messages_received.to_string());
    put("publish/messages/sent", s.messages_sent.to_string());
    put("subscriptions/count", s.subscriptions.to_string());
    put(
        "subscriptions/shared/count",
        s.shared_subscriptions.to_string(),
    );
    put("subscriptions/shared/groups", s.shared_groups.to_string());
    put("retained messages/count", s.retained.to_string());
    put_loads(&mut put, &s.loads);
    if let Some(rss) = s.facts.resident_bytes {
        put("heap/current", rss.to_string());
        put("memory/resident", rss.to_string());
    }
    // Ours.
    put("messages/queued", s.queued.to_string());
    put("messages/inflight", s.inflight.to_string());
    put("connections/open", s.connections.to_string());
    if let Some(bytes) = s.facts.store_bytes {
        put("store/bytes", bytes.to_string());
    }
    if let Some(errors) = s.facts.store_write_errors {
        put("store/write_errors", errors.to_string());
    }
    for b in &s.bridges {
        let base = format!("connection/{}", b.client_id);
        put(&format!("{base}/queued"), b.queue_len.to_string());
        put(&format!("{base}/messages/queued"), b.queued.to_string());
        put(&format!("{base}/messages/sent"), b.sent.to_string());
        put(&format!("{base}/messages/dropped"), b.dropped.to_string());
        put(&format!("{base}/messages/received"), b.received.to_string());
        put(
            &format!("{base}/state_changes"),
            b.state_changes.to_string(),
        );
    }
    topics
}

fn put_loads(put: &mut impl FnMut(&str, String), loads: &Loads) {
    for (name, windows) in LOAD_NAMES.iter().zip(loads.0) {
        for (window, value) in WINDOW_NAMES.iter().zip(windows) {
            put(&format!("load/{name}/{window}"), two_decimals(value));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::snapshot::{BridgeNumbers, EdgeFacts};
    use super::*;

    #[test]
    fn names_follow_mosquitto_and_bridges_sit_under_connection() {
        let s = Snapshot {
            uptime_secs: 5,
            clients_connected: 2,
            facts: EdgeFacts {
                resident_bytes: Some(4096),
                ..EdgeFacts::default()
            },
            bridges: vec![BridgeNumbers {
                name: "cloud".into(),
                client_id: "edge.cloud".into(),
                up: true,
                queue_len: 3,
                queue_bytes: 30,
                queued: 9,
                sent: 6,
                dropped: 0,
                received: 1,
                state_changes: 1,
            }],
            ..Snapshot::default()
        };
        let topics = broker_topics("0.1.0", &s);
        let get = |t: &str| topics.iter().find(|(n, _)| n == t).map(|(_, v)| v.as_str());
        assert_eq!(get("$SYS/broker/uptime"), Some("5 seconds"));
        assert_eq!(get("$SYS/broker/clients/connected"), Some("2"));
        assert_eq!(
            get("$SYS/broker/load/messages/received/15min"),
            Some("0.00")
        );
        assert_eq!(get("$SYS/broker/heap/current"), Some("4096"));
        assert_eq!(get("$SYS/broker/store/bytes"), None);
        assert_eq!(get("$SYS/broker/connection/edge.cloud/queued"), Some("3"));
        assert_eq!(
            get("$SYS/broker/connection/edge.cloud/messages/sent"),
            Some("6")
        );
        assert!(topics.iter().all(|(t, _)| t.starts_with("$SYS/broker/")));
    }
}

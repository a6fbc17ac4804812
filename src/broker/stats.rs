//! Counters for everything the broker refuses, drops or closes, and the
//! rate limiter that keeps their log lines from flooding the log daemon
//! (docs/design.md ## Limits: the first event is logged, then a summary per
//! interval).

use std::time::{Duration, Instant};

use log::warn;

use crate::logging::RateLimitedLog;

/// What is counted; `$SYS` and the admin API read these later.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub connections_accepted: u64,
    pub refused_max_connections: u64,
    pub refused_max_sessions: u64,
    pub refused_client_id: u64,
    pub refused_not_authorized: u64,
    pub refused_duplicate_client_id: u64,
    pub takeovers: u64,
    pub malformed_packets: u64,
    pub protocol_errors: u64,
    pub connect_timeouts: u64,
    pub keepalive_timeouts: u64,
    pub messages_received: u64,
    pub bytes_received: u64,
    /// Messages written to a subscriber's outbox, at routing or later from its queue.
    pub deliveries: u64,
    pub dropped_qos0_outbound_full: u64,
    pub dropped_offline_queue_full: u64,
    /// Messages for offline sessions not queued: the store was full.
    pub dropped_store_full: u64,
    pub dropped_lagging: u64,
    /// Oldest messages dropped from an online queue that was past its cap
    /// by one per paused publisher when a message came from a source that
    /// was not paused (docs/design.md, "Queues and back-pressure").
    pub dropped_online_queue_full: u64,
    /// Retained messages not sent for a SUBSCRIBE: the subscriber's queue
    /// was already at `max_queued_messages` (a SUBSCRIBE pauses no
    /// publisher, so its retained messages may not overflow the queue).
    pub dropped_retained_queue_full: u64,
    pub lagging_events: u64,
    pub retained_refused: u64,
    pub subscriptions_refused: u64,
    pub sessions_expired: u64,
    pub wills_published: u64,
    pub refused_memory_limit: u64,
    /// TLS handshakes refused or failed (wrong CA, expired or revoked
    /// certificate, none where one is required, not TLS at all).
    pub tls_handshake_failures: u64,
    /// Credential checks that failed: a wrong password, an unknown user, a
    /// bad, expired or misdirected token or JWT (each also counted in
    /// `refused_not_authorized`).
    pub auth_failures: u64,
    /// CONNECTs refused unchecked because their address is blocked by the
    /// login throttle.
    pub auth_throttled: u64,
    /// Times an address was blocked (reached `auth_fail_limit`).
    pub auth_blocks: u64,
    /// Connections `connect_timeout` closed before their TLS handshake
    /// ended (also counted in `connect_timeouts`).
    pub tls_handshake_timeouts: u64,
    /// WebSocket upgrades answered with an HTTP error: another path, not
    /// a GET, no `mqtt` subprotocol, a missing or bad header, too large.
    pub websocket_upgrades_refused: u64,
    /// Connections `connect_timeout` closed before their WebSocket upgrade
    /// was answered (also counted in `connect_timeouts`).
    pub websocket_upgrade_timeouts: u64,
    /// WebSocket connections closed on a frame that broke a rule:
    /// unmasked, text, too long, bad fragmentation.
    pub websocket_frame_errors: u64,
    /// PUBLISHes the access rules refused: dropped, still acknowledged.
    pub acl_denied_publish: u64,
    /// SUBSCRIBE filters the access rules refused (SUBACK 0x80).
    pub acl_denied_subscribe: u64,
    /// Messages not delivered (live or retained) because the subscriber
    /// may not read their topic.
    pub acl_denied_delivery: u64,
    /// Wills refused at CONNECT or not published: their topic is not the
    /// client's to write.
    pub acl_denied_will: u64,
    /// Subscriptions removed because a reloaded ACL file, or the identity
    /// of a reconnect, no longer allows them.
    pub acl_revoked_subscriptions: u64,
    /// Connections closed at accept: their listener was over its
    /// `max_connection_rate`.
    pub connections_rate_limited: u64,
    /// Times a client went over `max_publish_rate` or
    /// `max_publish_bytes_rate` and its reading was paused.
    pub publish_rate_pauses: u64,
    /// Milliseconds clients' reading was paused for their publish rate, in
    /// all.
    pub publish_rate_paused_ms: u64,
    /// MQTT 5 clients disconnected (0x96) after `rate_limit_disconnect_after`.
    pub publish_rate_disconnects: u64,
    /// MQTT 5 clients sent DISCONNECT 0x93: more unacknowledged QoS 2
    /// PUBLISHes than the Receive Maximum we gave them.
    pub receive_maximum_exceeded: u64,
    /// MQTT 5 clients sent DISCONNECT 0x94: a Topic Alias of 0, above our
    /// `max_topic_alias`, or never set.
    pub topic_alias_invalid: u64,
    /// Messages not sent to an MQTT 5 client because they exceed the
    /// Maximum Packet Size its CONNECT set (dropped for it alone).
    pub dropped_client_packet_size: u64,
    /// MQTT 5 CONNECTs refused with 0x8C: an Authentication Method no one
    /// configured.
    pub refused_auth_method: u64,
    /// `edgemq-token` re-authentications (AUTH 0x19) accepted.
    pub reauthentications: u64,
    /// MQTT 5 clients sent DISCONNECT 0x87: their `edgemq-token` expired
    /// unrenewed, or a re-authentication failed.
    pub token_expiry_disconnects: u64,
    /// Wills held back for their Will Delay Interval (published later,
    /// or cancelled by a reconnect).
    pub wills_delayed: u64,
    /// Messages past their MQTT 5 Message Expiry Interval, dropped from a
    /// session's queue (also at restart) or from the retained store.
    pub messages_expired: u64,
    /// MQTT 5 PUBLISHes refused (0x99): payload format 1 but not UTF-8.
    pub payload_format_invalid: u64,
    /// Bytes written to client sockets (every packet, as mosquitto's
    /// `$SYS/broker/bytes/sent`).
    pub bytes_sent: u64,
    /// Client events published on `$SYS/events/client/...`.
    pub events_published: u64,
    /// Admin API requests read whole and answered by the router (any
    /// status).
    pub admin_requests: u64,
    /// Admin API requests refused 401: no token or a wrong one.
    pub admin_unauthorized: u64,
    /// Admin API requests refused 413 (body over 16 KiB) or 431 (head
    /// over 8 KiB).
    pub admin_too_large: u64,
    /// Admin API connections closed with 408 after 5 s without a whole
    /// request.
    pub admin_timeouts: u64,
    /// Admin API connections refused 503 beyond 8 at once.
    pub admin_busy: u64,
    /// Clients closed through the admin API (`DELETE /clients/{id}`).
    pub admin_kicks: u64,
    /// Messages a 5.0 bridge link dropped: larger than the Maximum Packet
    /// Size the remote's CONNACK set (docs/mqtt5.md, "Bridges").
    pub bridge_dropped_packet_size: u64,
    /// Messages a bridge dropped from its uplink queue: their Message
    /// Expiry Interval ran out before they could be sent.
    pub bridge_messages_expired: u64,
    /// Messages a 5.0 bridge link sent at a lower QoS: the remote's
    /// Maximum QoS [MQTT-3.2.2-11].
    pub bridge_qos_downgraded: u64,
    /// Messages a 5.0 bridge link sent without their retain flag: the
    /// remote said Retain Available 0 [MQTT-3.2.2-14].
    pub bridge_retain_stripped: u64,
    /// Messages a 5.0 remote refused with a PUBACK or PUBREC reason code
    /// of 0x80 or above: taken off the uplink queue, not retried.
    pub bridge_refused_by_remote: u64,
    /// QoS 1/2 messages a shared-subscription member held unreceived when
    /// its session ended, handed to another member of the group.
    pub shared_handoffs: u64,
    /// Such messages no other member could take (the group had no one
    /// left): dropped.
    pub shared_handoffs_dropped: u64,
    /// Point-to-point messages handed to their client's session.
    pub p2p_delivered: u64,
    /// Point-to-point messages for a client without a session that no
    /// bridge took: dropped.
    pub p2p_dropped_no_session: u64,
    /// Subscriptions refused: they named another client's p2p topic.
    pub p2p_subscriptions_refused: u64,
}

impl Stats {
    /// Every counter with its name, for the SIGUSR1 report: one line per
    /// counter, as long as the counters are many.
    pub fn named(&self) -> [(&'static str, u64); 70] {
        [
            ("connections_accepted", self.connections_accepted),
            ("refused_max_connections", self.refused_max_connections),
            ("refused_max_sessions", self.refused_max_sessions),
            ("refused_client_id", self.refused_client_id),
            ("refused_not_authorized", self.refused_not_authorized),
            (
                "refused_duplicate_client_id",
                self.refused_duplicate_client_id,
            ),
            ("takeovers", self.takeovers),
            ("malformed_packets", self.malformed_packets),
            ("protocol_errors", self.protocol_errors),
            ("connect_timeouts", self.connect_timeouts),
            ("keepalive_timeouts", self.keepalive_timeouts),
            ("messages_received", self.messages_received),
            ("bytes_received", self.bytes_received),
            ("deliveries", self.deliveries),
            (
                "dropped_qos0_outbound_full",
                self.dropped_qos0_outbound_full,
            ),
            (
                "dropped_offline_queue_full",
                self.dropped_offline_queue_full,
            ),
            ("dropped_store_full", self.dropped_store_full),
            ("dropped_lagging", self.dropped_lagging),
            ("dropped_online_queue_full", self.dropped_online_queue_full),
            (
                "dropped_retained_queue_full",
                self.dropped_retained_queue_full,
            ),
            ("lagging_events", self.lagging_events),
            ("retained_refused", self.retained_refused),
            ("subscriptions_refused", self.subscriptions_refused),
            ("sessions_expired", self.sessions_expired),
            ("wills_published", self.wills_published),
            ("refused_memory_limit", self.refused_memory_limit),
            ("tls_handshake_failures", self.tls_handshake_failures),
            ("auth_failures", self.auth_failures),
            ("auth_throttled", self.auth_throttled),
            ("auth_blocks", self.auth_blocks),
            ("tls_handshake_timeouts", self.tls_handshake_timeouts),
            (
                "websocket_upgrades_refused",
                self.websocket_upgrades_refused,
            ),
            (
                "websocket_upgrade_timeouts",
                self.websocket_upgrade_timeouts,
            ),
            ("websocket_frame_errors", self.websocket_frame_errors),
            ("acl_denied_publish", self.acl_denied_publish),
            ("acl_denied_subscribe", self.acl_denied_subscribe),
            ("acl_denied_delivery", self.acl_denied_delivery),
            ("acl_denied_will", self.acl_denied_will),
            ("acl_revoked_subscriptions", self.acl_revoked_subscriptions),
            ("connections_rate_limited", self.connections_rate_limited),
            ("publish_rate_pauses", self.publish_rate_pauses),
            ("publish_rate_paused_ms", self.publish_rate_paused_ms),
            ("publish_rate_disconnects", self.publish_rate_disconnects),
            ("receive_maximum_exceeded", self.receive_maximum_exceeded),
            ("topic_alias_invalid", self.topic_alias_invalid),
            (
                "dropped_client_packet_size",
                self.dropped_client_packet_size,
            ),
            ("refused_auth_method", self.refused_auth_method),
            ("reauthentications", self.reauthentications),
            ("token_expiry_disconnects", self.token_expiry_disconnects),
            ("wills_delayed", self.wills_delayed),
            ("messages_expired", self.messages_expired),
            ("payload_format_invalid", self.payload_format_invalid),
            ("bytes_sent", self.bytes_sent),
            ("events_published", self.events_published),
            ("admin_requests", self.admin_requests),
            ("admin_unauthorized", self.admin_unauthorized),
            ("admin_too_large", self.admin_too_large),
            ("admin_timeouts", self.admin_timeouts),
            ("admin_busy", self.admin_busy),
            ("admin_kicks", self.admin_kicks),
            (
                "bridge_dropped_packet_size",
                self.bridge_dropped_packet_size,
            ),
            ("bridge_messages_expired", self.bridge_messages_expired),
            ("bridge_qos_downgraded", self.bridge_qos_downgraded),
            ("bridge_retain_stripped", self.bridge_retain_stripped),
            ("bridge_refused_by_remote", self.bridge_refused_by_remote),
            ("shared_handoffs", self.shared_handoffs),
            ("shared_handoffs_dropped", self.shared_handoffs_dropped),
            ("p2p_delivered", self.p2p_delivered),
            ("p2p_dropped_no_session", self.p2p_dropped_no_session),
            ("p2p_subscriptions_refused", self.p2p_subscriptions_refused),
        ]
    }
}

/// One rate-limited log line kind each.
#[derive(Debug, Clone, Copy)]
pub enum LogKind {
    MaxConnections,
    /// A listener's own `max_connections`.
    ListenerMaxConnections,
    MaxSessions,
    ClientId,
    NotAuthorized,
    Duplicate,
    Malformed,
    Protocol,
    Timeout,
    Topic,
    Subscription,
    DropOutbound,
    DropOffline,
    DropLagging,
    /// An online queue past its cap by what paused publishers account for.
    DropOverCap,
    /// Retained messages a SUBSCRIBE found no queue room for.
    DropRetained,
    Lagging,
    Retained,
    StoreFull,
    StoreBehind,
    Memory,
    Handshake,
    WebSocketUpgrade,
    WebSocketFrame,
    AclPublish,
    AclSubscribe,
    AclDelivery,
    AclWill,
    AclRevoked,
    /// A listener over its `max_connection_rate`.
    ConnectionRate,
    /// A client over its publish rate.
    PublishRate,
    /// An MQTT 5 client over it for `rate_limit_disconnect_after`.
    PublishRateDisconnect,
    /// A failed credential check.
    AuthFailure,
    /// A CONNECT refused by the login throttle.
    AuthThrottle,
    /// An address blocked by the login throttle.
    AuthBlock,
    /// MQTT 5: Receive Maximum exceeded, Topic Alias invalid.
    Mqtt5Limit,
    /// MQTT 5: a message over a client's Maximum Packet Size, dropped.
    DropPacketSize,
    /// MQTT 5 enhanced authentication refused, or a token expired.
    EnhancedAuth,
    /// Messages dropped past their MQTT 5 expiry.
    Expired,
    /// A PUBLISH refused with 0x99 (payload format invalid).
    PayloadFormat,
    /// A point-to-point message dropped, or a subscription refused.
    P2p,
    /// An admin API request refused (401, 408, 413, 431, 503).
    Admin,
}

const KINDS: usize = LogKind::Admin as usize + 1;

/// The first line of a kind is logged; later ones within this interval are
/// counted and summarised with the next line logged.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

pub struct LimitLogs {
    limiters: [RateLimitedLog; KINDS],
}

impl Default for LimitLogs {
    fn default() -> LimitLogs {
        LimitLogs {
            limiters: std::array::from_fn(|_| RateLimitedLog::new(LOG_INTERVAL)),
        }
    }
}

impl LimitLogs {
    /// Logs `line()` at warn level unless this kind logged within the
    /// interval; `line` is only built when it is logged.
    pub fn warn(&mut self, kind: LogKind, now: Instant, line: impl FnOnce() -> String) {
        let Some(limiter) = self.limiters.get_mut(kind as usize) else {
            return;
        };
        match limiter.should_log(now) {
            Some(0) => warn!("{}", line()),
            Some(suppressed) => warn!("{} ({suppressed} more like it suppressed)", line()),
            None => {}
        }
    }
}

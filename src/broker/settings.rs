//! The broker's view of the configuration: the caps and switches the core
//! enforces, taken from the validated `Config` once at startup.

use std::time::Duration;

use crate::auth::ThrottleSettings;
use crate::config::{Config, DuplicateClientId, SharedStrategy};
use crate::session::QueueLimits;
use crate::topic::TopicLimits;

use super::listeners::ListenerSettings;
use super::rate_limits::PublishLimits;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `auth_fail_limit`, `auth_fail_window`, `auth_fail_delay`.
    pub auth_throttle: ThrottleSettings,
    /// The global cap; a listener may have its own below it.
    pub max_connections: usize,
    /// In config order: a `ListenerId` is an index here.
    pub listeners: Vec<ListenerSettings>,
    pub max_sessions: usize,
    pub max_packet_size: usize,
    pub queue: QueueLimits,
    pub backpressure_timeout: Duration,
    pub persistent_client_expiration: Option<Duration>,
    pub duplicate_client_id: DuplicateClientId,
    pub shared_strategy: SharedStrategy,
    pub p2p: bool,
    pub max_client_id_length: usize,
    pub strict_identifiers: bool,
    pub topics: TopicLimits,
    pub max_subscriptions_per_client: usize,
    pub connect_timeout: Duration,
    pub max_retained_messages: usize,
    pub allow_zero_length_clientid: bool,
    pub auto_id_prefix: String,
    pub max_keepalive: u16,
    /// Topic Alias Maximum announced to MQTT 5 clients (docs/mqtt5.md).
    pub max_topic_alias: u16,
    /// Resident memory in bytes past which PUBLISHes are refused; 0 = none.
    pub memory_limit: u64,
    /// Sessions and retained messages go to the store.
    pub persistence: bool,
    /// Acknowledge stored messages only after the flush that covers them.
    pub persistence_sync: bool,
    /// Batched mode: changes reach the disk within this.
    pub autosave_interval: Duration,
    /// Memory for the store; half of it bounds the ops held for a batch.
    pub persistence_cache_bytes: u64,
    /// `max_publish_rate`, `max_publish_bytes_rate`,
    /// `rate_limit_disconnect_after`.
    pub publish_limits: PublishLimits,
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            auth_throttle: ThrottleSettings {
                limit: config.auth_throttle.fail_limit,
                window: config.auth_throttle.fail_window,
                delay: config.auth_throttle.fail_delay,
            },
            max_connections: config.max_connections,
            listeners: ListenerSettings::from_config(config),
            max_sessions: config.max_sessions,
            max_packet_size: config.max_packet_size,
            queue: QueueLimits {
                max_inflight: usize::from(config.max_inflight_messages),
                max_queued: config.max_queued_messages,
                max_outbound_bytes: config.max_outbound_bytes,
                queue_qos0: config.queue_qos0_messages,
            },
            backpressure_timeout: config.backpressure_timeout,
            persistent_client_expiration: config.persistent_client_expiration,
            duplicate_client_id: config.duplicate_client_id,
            shared_strategy: config.shared_subscription_strategy,
            p2p: config.p2p,
            max_client_id_length: config.max_client_id_length,
            strict_identifiers: config.strict_identifiers,
            topics: TopicLimits {
                max_length: config.max_topic_length,
                max_levels: config.max_topic_levels,
                strict: config.strict_identifiers,
            },
            max_subscriptions_per_client: config.max_subscriptions_per_client,
            connect_timeout: config.connect_timeout,
            max_retained_messages: config.max_retained_messages,
            allow_zero_length_clientid: config.allow_zero_length_clientid,
            auto_id_prefix: config.auto_id_prefix.clone(),
            max_keepalive: config.max_keepalive,
            max_topic_alias: config.max_topic_alias,
            memory_limit: config.memory_limit,
            persistence: config.persistence,
            persistence_sync: config.persistence_sync,
            autosave_interval: config.autosave_interval,
            persistence_cache_bytes: config.persistence_cache_bytes,
            publish_limits: PublishLimits::new(
                config.max_publish_rate,
                config.max_publish_bytes_rate,
                config.rate_limit_disconnect_after,
            ),
        }
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings::from_config(&Config::default())
    }
}

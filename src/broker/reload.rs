//! SIGHUP: applying a re-read configuration to the running broker.
//!
//! Owns the split of every setting into "applied now" and "needs a restart".
//! The rule: a setting that only bounds or switches what later packets may
//! do (limits, timeouts, switches) is applied; one that sized a table, a
//! queue or a socket at startup (max_connections, max_sessions, the session
//! queue caps, retained capacity, listeners, the store) is kept and reported.
//!
//! Invariants: a reload never drops a client and never changes what an
//! existing allocation holds. Already-accepted state stays valid under the
//! new limits (a topic subscribed under a longer limit keeps its
//! subscription; only new packets meet the new limit). [`Broker::apply_reload`]
//! destructures [`Settings`] without `..`, naming each field under the
//! function that applies or keeps it: a new setting does not compile until
//! it is classified here.

use crate::config::{rate_limits, Config};
use crate::session::QueueLimits;
use crate::topic::TopicLimits;

use super::{Broker, PublishLimits, Settings};

/// What a reload changed, and what it left for a restart, by config key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Keys whose new value is in force.
    pub applied: Vec<&'static str>,
    /// Keys whose value changed in the file but keeps its old value until
    /// the broker restarts.
    pub needs_restart: Vec<&'static str>,
}

impl ReloadReport {
    /// Adds the restart-only keys that live outside [`Settings`]
    /// (listeners, store, pid file): see [`restart_only_changes`].
    pub fn merge_restart_only(&mut self, keys: Vec<&'static str>) {
        self.needs_restart.extend(keys);
    }
}

/// Applies one value when it changed and records its key.
fn apply<T: PartialEq + Clone>(
    current: &mut T,
    new: &T,
    key: &'static str,
    report: &mut ReloadReport,
) {
    if current != new {
        current.clone_from(new);
        report.applied.push(key);
    }
}

/// Records a changed restart-only key; the running value stays.
fn keep<T: PartialEq>(current: &T, new: &T, key: &'static str, report: &mut ReloadReport) {
    if current != new {
        report.needs_restart.push(key);
    }
}

impl Broker {
    /// Applies the settings of a re-read config file that can change while
    /// clients are connected, and reports the rest.
    pub fn apply_reload(&mut self, new: &Settings) -> ReloadReport {
        // Every setting is named here under the function that applies or
        // keeps it; the pattern has no `..`, so a new setting does not
        // compile until it is classified.
        let Settings {
            // apply_packet_limits
            max_packet_size: _,
            max_client_id_length: _,
            strict_identifiers: _,
            topics:
                TopicLimits {
                    max_length: _,
                    max_levels: _,
                    // Mirrors strict_identifiers (Settings::from_config).
                    strict: _,
                },
            max_subscriptions_per_client: _,
            max_keepalive: _,
            // Told to each client in its CONNACK: connected ones keep theirs.
            max_topic_alias: _,
            // apply_timeouts
            connect_timeout: _,
            backpressure_timeout: _,
            persistent_client_expiration: _,
            memory_limit: _,
            // apply_connect_switches
            auth_throttle: _,
            duplicate_client_id: _,
            // Decides each message as it is routed: the next one follows
            // the new value.
            shared_strategy: _,
            p2p: _,
            allow_zero_length_clientid: _,
            auto_id_prefix: _,
            // apply_publish_limits
            publish_limits:
                PublishLimits {
                    messages: _,
                    bytes: _,
                    disconnect_after: _,
                },
            // keep_sized_at_startup
            max_connections: _,
            max_sessions: _,
            max_retained_messages: _,
            queue:
                QueueLimits {
                    max_inflight: _,
                    max_queued: _,
                    max_outbound_bytes: _,
                    queue_qos0: _,
                },
            // The store is opened and the listeners bound at startup
            // (restart_only_changes reports these keys from the config
            // files).
            listeners: _,
            persistence: _,
            persistence_sync: _,
            autosave_interval: _,
            persistence_cache_bytes: _,
        } = new;
        let mut report = ReloadReport::default();
        let s = &mut self.settings;
        apply_packet_limits(s, new, &mut report);
        apply_timeouts(s, new, &mut report);
        apply_connect_switches(s, new, &mut report);
        apply_publish_limits(s, new, &mut report);
        keep_sized_at_startup(s, new, &mut report);
        self.throttle.set_settings(s.auth_throttle);
        if s.memory_limit == 0 {
            // No limit any more: nothing can be over it.
            self.over_memory_limit = false;
        }
        report
    }
}

/// Limits on what later packets may carry, checked per packet.
fn apply_packet_limits(s: &mut Settings, new: &Settings, r: &mut ReloadReport) {
    apply(
        &mut s.max_packet_size,
        &new.max_packet_size,
        "max_packet_size",
        r,
    );
    apply(
        &mut s.max_client_id_length,
        &new.max_client_id_length,
        "max_client_id_length",
        r,
    );
    apply(
        &mut s.topics.max_length,
        &new.topics.max_length,
        "max_topic_length",
        r,
    );
    apply(
        &mut s.topics.max_levels,
        &new.topics.max_levels,
        "max_topic_levels",
        r,
    );
    apply(
        &mut s.strict_identifiers,
        &new.strict_identifiers,
        "strict_identifiers",
        r,
    );
    s.topics.strict = new.topics.strict;
    apply(
        &mut s.max_subscriptions_per_client,
        &new.max_subscriptions_per_client,
        "max_subscriptions_per_client",
        r,
    );
    apply(&mut s.max_keepalive, &new.max_keepalive, "max_keepalive", r);
    apply(
        &mut s.max_topic_alias,
        &new.max_topic_alias,
        "max_topic_alias",
        r,
    );
}

/// Timeouts and the memory limit: the next sweep measures against the new
/// values.
fn apply_timeouts(s: &mut Settings, new: &Settings, r: &mut ReloadReport) {
    apply(
        &mut s.connect_timeout,
        &new.connect_timeout,
        "connect_timeout",
        r,
    );
    apply(
        &mut s.backpressure_timeout,
        &new.backpressure_timeout,
        "backpressure_timeout",
        r,
    );
    apply(
        &mut s.persistent_client_expiration,
        &new.persistent_client_expiration,
        "persistent_client_expiration",
        r,
    );
    apply(&mut s.memory_limit, &new.memory_limit, "memory_limit", r);
}

/// Switches read at CONNECT time.
fn apply_connect_switches(s: &mut Settings, new: &Settings, r: &mut ReloadReport) {
    let (t, n) = (&mut s.auth_throttle, &new.auth_throttle);
    apply(&mut t.limit, &n.limit, "auth_fail_limit", r);
    apply(&mut t.window, &n.window, "auth_fail_window", r);
    apply(&mut t.delay, &n.delay, "auth_fail_delay", r);
    apply(
        &mut s.duplicate_client_id,
        &new.duplicate_client_id,
        "duplicate_client_id",
        r,
    );
    apply(
        &mut s.shared_strategy,
        &new.shared_strategy,
        "shared_subscription_strategy",
        r,
    );
    apply(&mut s.p2p, &new.p2p, "p2p", r);
    apply(
        &mut s.allow_zero_length_clientid,
        &new.allow_zero_length_clientid,
        "allow_zero_length_clientid",
        r,
    );
    apply(
        &mut s.auto_id_prefix,
        &new.auto_id_prefix,
        "auto_id_prefix",
        r,
    );
}

/// Per-client publish rates: later PUBLISHes are charged at the new rates
/// (a client paused now waits out its pause; a bucket keeps what it owes).
fn apply_publish_limits(s: &mut Settings, new: &Settings, r: &mut ReloadReport) {
    let (p, n) = (&mut s.publish_limits, &new.publish_limits);
    apply(&mut p.messages, &n.messages, "max_publish_rate", r);
    apply(&mut p.bytes, &n.bytes, "max_publish_bytes_rate", r);
    apply(
        &mut p.disconnect_after,
        &n.disconnect_after,
        "rate_limit_disconnect_after",
        r,
    );
}

/// Sized at startup: tables, per-session queues, the retained store. The
/// running value stays; a changed one is reported.
fn keep_sized_at_startup(s: &Settings, new: &Settings, r: &mut ReloadReport) {
    keep(
        &s.max_connections,
        &new.max_connections,
        "max_connections",
        r,
    );
    keep(&s.max_sessions, &new.max_sessions, "max_sessions", r);
    keep(
        &s.max_retained_messages,
        &new.max_retained_messages,
        "max_retained_messages",
        r,
    );
    let (q, n) = (&s.queue, &new.queue);
    keep(&q.max_inflight, &n.max_inflight, "max_inflight_messages", r);
    keep(&q.max_queued, &n.max_queued, "max_queued_messages", r);
    keep(
        &q.max_outbound_bytes,
        &n.max_outbound_bytes,
        "max_outbound_bytes",
        r,
    );
    keep(&q.queue_qos0, &n.queue_qos0, "queue_qos0_messages", r);
}

/// Restart-only keys outside [`Settings`] whose value differs between the
/// running config and a re-read one: listeners, the store, the pid file,
/// the bridges. One comparison per key, a list and long like one.
pub fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    // A listener is its port and address; where it was written is not.
    let addresses = |c: &Config| -> Vec<(u16, Option<String>)> {
        c.listeners
            .iter()
            .map(|l| (l.port, l.address.clone()))
            .collect()
    };
    if addresses(old) != addresses(new) {
        keys.push("listener");
    }
    // Unix socket listeners and per-listener caps (config/unix_socket.rs).
    for key in unix_socket_changes(old, new) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut differs = |changed: bool, key: &'static str| {
        if changed {
            keys.push(key);
        }
    };
    differs(old.persistence != new.persistence, "persistence");
    differs(
        old.persistence_location != new.persistence_location,
        "persistence_location",
    );
    differs(
        old.autosave_interval != new.autosave_interval,
        "autosave_interval",
    );
    differs(
        old.persistence_sync != new.persistence_sync,
        "persistence_sync",
    );
    differs(
        old.persistence_cache_bytes != new.persistence_cache_bytes,
        "persistence_cache_bytes",
    );
    differs(
        old.max_store_bytes != new.max_store_bytes,
        "max_store_bytes",
    );
    // What each listener speaks is set when it starts serving.
    let transports = |c: &Config| -> Vec<_> {
        c.listeners
            .iter()
            .map(|l| (l.protocol, l.websockets_path.clone()))
            .collect()
    };
    differs(
        transports(old) != transports(new),
        "protocol / websockets_path",
    );
    differs(
        old.websockets_headers_size != new.websockets_headers_size,
        "websockets_headers_size",
    );
    // Each listener's bucket is made when it starts serving.
    let connection_rates = |c: &Config| -> Vec<u32> {
        c.listeners
            .iter()
            .map(|l| rate_limits::listener_connection_rate(c, l))
            .collect()
    };
    differs(
        old.listeners.len() == new.listeners.len()
            && connection_rates(old) != connection_rates(new),
        "max_connection_rate",
    );
    differs(old.pid_file != new.pid_file, "pid_file");
    differs(old.user != new.user, "user");
    // Bridge links are started once; a changed `connection` block is taken
    // up at the next start (reloading bridges live is future work).
    differs(old.bridges != new.bridges, "connection (bridges)");
    // The $SYS publisher and the admin API are set up at start
    // (docs/observability.md).
    differs(old.sys_interval != new.sys_interval, "sys_interval");
    differs(old.event_topics != new.event_topics, "event_topics");
    differs(old.admin_listener != new.admin_listener, "admin_listener");
    differs(
        old.admin_token_file != new.admin_token_file,
        "admin_token_file",
    );
    // Trajectories and history are bounded once, at start.
    differs(
        old.trajectory_max_age != new.trajectory_max_age,
        "trajectory_max_age",
    );
    differs(
        old.trajectory_max_bytes != new.trajectory_max_bytes,
        "trajectory_max_bytes",
    );
    differs(old.history_topics != new.history_topics, "history_topic");
    differs(
        old.history_max_age != new.history_max_age,
        "history_max_age",
    );
    differs(
        old.history_max_bytes != new.history_max_bytes,
        "history_max_bytes",
    );
    keys
}

/// Which unix socket listener keys, and per-listener `max_connections`,
/// differ between two configs with as many listeners (a different count
/// is reported as `listener` already).
fn unix_socket_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.listeners.len() != new.listeners.len() {
        return keys;
    }
    for (a, b) in old.listeners.iter().zip(&new.listeners) {
        match (&a.unix, &b.unix) {
            (Some(x), Some(y)) => {
                let changes = [
                    (x.path != y.path, "listener"),
                    (x.mode != y.mode, "unix_socket_mode"),
                    (x.group != y.group, "unix_socket_group"),
                ];
                keys.extend(changes.iter().filter(|c| c.0).map(|c| c.1));
            }
            (None, None) => {}
            _ => keys.push("listener"),
        }
        // A listener's TLS files are re-read live; turning TLS on or off
        // changes what it speaks.
        if a.tls.is_some() != b.tls.is_some() {
            keys.push("certfile / keyfile");
        }
        if a.max_connections != b.max_connections {
            keys.push("max_connections");
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use std::time::Duration;

    use super::*;

    #[test]
    fn unchanged_settings_report_nothing() {
        let mut broker = Broker::new(Settings::default(), 1);
        let report = broker.apply_reload(&Settings::default());
        assert_eq!(report, ReloadReport::default());
    }

    #[test]
    fn limits_are_applied_and_sizes_kept() {
        let mut broker = Broker::new(Settings::default(), 1);
        let defaults = Settings::default();
        let new = Settings {
            max_packet_size: 1000,
            topics: TopicLimits {
                max_levels: 3,
                ..defaults.topics
            },
            connect_timeout: Duration::from_secs(3),
            max_connections: 7,
            queue: QueueLimits {
                max_queued: 5,
                ..defaults.queue
            },
            ..defaults.clone()
        };
        let report = broker.apply_reload(&new);
        assert_eq!(
            report.applied,
            ["max_packet_size", "max_topic_levels", "connect_timeout"]
        );
        assert_eq!(
            report.needs_restart,
            ["max_connections", "max_queued_messages"]
        );
        let s = broker.settings();
        assert_eq!(s.max_packet_size, 1000);
        assert_eq!(s.topics.max_levels, 3);
        assert_eq!(s.connect_timeout, Duration::from_secs(3));
        assert_eq!(s.max_connections, Settings::default().max_connections);
        assert_eq!(s.queue.max_queued, Settings::default().queue.max_queued);
    }

    #[test]
    fn publish_rates_are_applied_connection_rates_need_a_restart() {
        let parse = |text: &str| Config::parse_str(text, "t.conf").unwrap().0;
        let old = parse("max_connection_rate 10\nlistener 1883\nlistener 1884\n");
        let new = parse(
            "max_connection_rate 10\nmax_publish_rate 5\nrate_limit_disconnect_after 3\n\
             listener 1883\nlistener 1884\nmax_connection_rate 2\n",
        );
        let mut broker = Broker::new(Settings::from_config(&old), 1);
        let report = broker.apply_reload(&Settings::from_config(&new));
        assert_eq!(
            report.applied,
            ["max_publish_rate", "rate_limit_disconnect_after"]
        );
        assert_eq!(
            broker.settings().publish_limits,
            PublishLimits::new(5, 0, Duration::from_secs(3))
        );
        assert_eq!(restart_only_changes(&old, &new), ["max_connection_rate"]);
        // The default moving moves every listener that has none of its own.
        let moved = parse("max_connection_rate 11\nlistener 1883\nlistener 1884\n");
        assert_eq!(restart_only_changes(&old, &moved), ["max_connection_rate"]);
    }

    #[test]
    fn strict_identifiers_also_switches_topic_rules() {
        let mut broker = Broker::new(Settings::default(), 1);
        let mut config = Config::default();
        config.strict_identifiers = !config.strict_identifiers;
        let report = broker.apply_reload(&Settings::from_config(&config));
        assert_eq!(report.applied, ["strict_identifiers"]);
        assert_eq!(broker.settings().topics.strict, config.strict_identifiers);
    }

    #[test]
    fn listener_and_store_changes_need_a_restart() {
        let old = Config::default();
        let mut new = Config::default();
        assert!(restart_only_changes(&old, &new).is_empty());
        new.persistence_location = "/elsewhere".into();
        new.max_store_bytes = old.max_store_bytes.wrapping_add(1);
        if let Some(listener) = new.listeners.first_mut() {
            listener.port = listener.port.wrapping_add(1);
        }
        assert_eq!(
            restart_only_changes(&old, &new),
            ["listener", "persistence_location", "max_store_bytes"]
        );
    }

    #[test]
    fn unix_socket_and_listener_cap_changes_need_a_restart() {
        let parse = |text: &str| Config::parse_str(text, "t.conf").unwrap().0;
        let old = parse("listener 0 /run/a.sock\nlistener 1883");
        assert!(restart_only_changes(&old, &old).is_empty());
        let new = parse(
            "listener 0 /run/b.sock\nunix_socket_mode 0600\nunix_socket_group dialout\n\
             listener 1883\nmax_connections 5",
        );
        assert_eq!(
            restart_only_changes(&old, &new),
            [
                "listener",
                "unix_socket_mode",
                "unix_socket_group",
                "max_connections"
            ]
        );
    }
}

//! A mosquitto.conf-style file → a typed, validated [`Config`]
//! (README.md ## Configuration).
//!
//! Owns: the file format, every key's default, ceiling and meaning. It reads
//! files (the config and its `include_dir`s) and nothing else; it never
//! logs: warnings are returned for the caller to log.
//!
//! Invariants of a returned `Config`: `listeners` is not empty, every value
//! is within its `limits` ceiling, and the cross-key checks of `parser`
//! hold. Parsing never panics, whatever the input.
//!
//! Format: `key value...` lines; `#` starts a comment only at the start of a
//! line (a `#` inside a value is a topic wildcard in mosquitto's syntax);
//! blank lines are skipped; values are separated by whitespace. A later line
//! overrides an earlier one for single-valued keys. A key nobody knows is an
//! error with file and line. A mosquitto key edgemq does not implement is a
//! [`Warning`] when it only tunes, and an error when ignoring it would lower
//! security (TLS, authentication, ACLs, exposure): `mosquitto` says which.

pub mod auth;
pub mod bridge;
pub mod console;
mod error;
pub mod limits;
mod line;
mod listener;
mod logging;
mod mosquitto;
pub mod observe;
mod parser;
pub mod per_listener;
pub mod rate_limits;
mod secrets;
mod source;
pub mod tls;
pub mod unix_socket;
mod values;
mod websocket;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::logging::LogSettings;
use log::LevelFilter;

pub use auth::{AuthFiles, AuthThrottle};
pub use bridge::BridgeConfig;
pub use error::{ConfigError, Warning};
pub use listener::ListenerConfig;
pub use per_listener::DomainConfig;
pub(crate) use source::read_bounded;
pub use unix_socket::UnixSocket;
pub use values::log_level as parse_log_level;
pub use websocket::ListenerProtocol;

/// A duration as config files write them (`N[s|h|d|w|m|y]`, `m` a month,
/// a bare number in seconds), at most `max`: for command-line options.
pub fn parse_duration(v: &str, max: Duration) -> Result<Duration, String> {
    values::duration(v, values::Bare::Seconds, max)
}

/// The port of the built-in listener, MQTT's registered port.
pub const DEFAULT_PORT: u16 = 1883;

/// What to do when a client connects with the id of a connected client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateClientId {
    /// Close the old connection, the new one takes the session (MQTT
    /// [MQTT-3.1.4-3], the default).
    Takeover,
    /// Refuse the new connection, as the cloud seeds do.
    Reject,
}

/// Which member of a shared-subscription group gets the next message
/// (docs/shared.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedStrategy {
    /// Each member in turn (the default).
    RoundRobin,
    Random,
    /// The same member for as long as it can take messages.
    Sticky,
    /// The member the publisher's client id hashes to: one publisher's
    /// messages stay in order at one member.
    HashClientId,
}

/// The broker's configuration. Field docs give the config key's meaning
/// where it is not obvious; README.md ## Configuration has the defaults and
/// the differences from mosquitto.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Never empty: without a `listener` line, one on 127.0.0.1:1883.
    pub listeners: Vec<ListenerConfig>,
    /// False when the default listener was used.
    pub listeners_from_file: bool,
    /// Defaults to true without a listener in the file, false with one
    /// (the mosquitto 2.0 rule).
    pub allow_anonymous: bool,
    /// `password_file`, `auth_token_secret_file`, `auth_jwt_key_file`:
    /// read by `auth::load`, not by the parser.
    pub auth_files: AuthFiles,
    /// `auth_fail_limit`, `auth_fail_window`, `auth_fail_delay`.
    pub auth_throttle: AuthThrottle,
    /// The global ceiling: `max_connections` before the first `listener`
    /// line (one after it caps that listener, `ListenerConfig`); `-1` maps
    /// to the ceiling.
    pub max_connections: usize,
    /// Online and offline sessions together; a CONNECT needing a new session
    /// beyond it gets "server unavailable".
    pub max_sessions: usize,
    pub max_packet_size: usize,
    /// mosquitto's `0` (unlimited) maps to 65535.
    pub max_inflight_messages: u16,
    pub max_queued_messages: usize,
    /// 0 marks a full client lagging at once (publishers are never paused).
    pub backpressure_timeout: Duration,
    pub max_outbound_bytes: usize,
    pub queue_qos0_messages: bool,
    /// `None` = sessions never expire (`persistent_client_expiration never`).
    /// Written with a unit; a bare number or 0 is an error, as in mosquitto.
    pub persistent_client_expiration: Option<Duration>,
    pub duplicate_client_id: DuplicateClientId,
    pub shared_subscription_strategy: SharedStrategy,
    /// `{first-level}/p2p/{clientId}` reaches that client alone, without a
    /// subscription (docs/shared.md).
    pub p2p: bool,
    pub max_client_id_length: usize,
    pub max_topic_length: usize,
    pub max_topic_levels: usize,
    pub max_subscriptions_per_client: usize,
    /// Client ids `[A-Za-z0-9_@.:-]`, topics `[A-Za-z0-9_/-]`.
    pub strict_identifiers: bool,
    pub connect_timeout: Duration,
    pub persistence: bool,
    pub persistence_location: PathBuf,
    /// The batched flush period; at least 1 s (per-change flushing is what
    /// `persistence_sync` does, with group commits).
    pub autosave_interval: Duration,
    pub persistence_sync: bool,
    pub persistence_cache_bytes: u64,
    pub max_store_bytes: u64,
    pub max_retained_messages: usize,
    /// 0 = no limit.
    pub memory_limit: u64,
    /// `log_level`, else the most verbose `log_type`, else info. The CLI's
    /// `--log-level` overrides it.
    pub log_level: LevelFilter,
    /// Where log lines go and how they look (docs/logging.md).
    pub log: LogSettings,
    pub allow_zero_length_clientid: bool,
    pub auto_id_prefix: String,
    /// mosquitto's meaning: MQTT 5 clients asking for more get this as
    /// Server Keep Alive; 3.1/3.1.1 clients asking for more (or for 0 when
    /// this is not 0) are refused with "identifier rejected". 0 allows
    /// keepalive 0.
    pub max_keepalive: u16,
    /// Topic Alias Maximum sent to MQTT 5 clients in CONNACK: aliases
    /// 1..=this may be set towards us; 0 allows none (docs/mqtt5.md).
    pub max_topic_alias: u16,
    pub pid_file: Option<PathBuf>,
    /// The account a broker started as root runs as once its listeners are
    /// bound (src/privileges/). `None`: it stays as started.
    pub user: Option<String>,
    /// `connection` blocks, in file order.
    pub bridges: Vec<BridgeConfig>,
    /// How much of a WebSocket upgrade request is read before it is
    /// refused (431); global, as in mosquitto.
    pub websockets_headers_size: usize,
    /// mosquitto's ACL file (docs/security.md, "Access control"), read by
    /// the caller with `acl::Acl::load` at startup and on SIGHUP; global
    /// unless `per_listener_settings`.
    pub acl_file: Option<PathBuf>,
    /// `allow_anonymous`, the credential files and `acl_file` belong to
    /// each listener (config/per_listener.rs); read them through
    /// [`Config::security_domains`].
    pub per_listener_settings: bool,
    // --- Rate limits (config/rate_limits.rs); 0 = no limit ---
    /// `max_connection_rate` before any `listener` line: new connections
    /// per second of every listener without its own.
    pub max_connection_rate: u32,
    /// PUBLISH packets per second per client.
    pub max_publish_rate: u32,
    /// Bytes (topic and payload) of PUBLISH packets per second per client.
    pub max_publish_bytes_rate: u32,
    /// An MQTT 5 client over a publish rate this long is disconnected
    /// (0x96); zero: never.
    pub rate_limit_disconnect_after: Duration,
    // --- Observability (config/observe.rs) ---
    /// How often `$SYS/broker/...` is published; zero: never.
    pub sys_interval: Duration,
    /// Client events on `$SYS/events/client/...`.
    pub event_topics: bool,
    /// The admin HTTP API's address; `None`: no API.
    pub admin_listener: Option<std::net::SocketAddr>,
    /// The API's bearer token; `None`: `admin.token` in
    /// `persistence_location`, created once.
    pub admin_token_file: Option<PathBuf>,
    // --- Trajectories and history (config/console.rs) ---
    pub trajectory_max_age: Duration,
    /// 0: no trajectories.
    pub trajectory_max_bytes: usize,
    /// `history_topic` filters; empty: no history.
    pub history_topics: Vec<String>,
    pub history_max_age: Duration,
    pub history_max_bytes: usize,
}

impl Default for Config {
    /// The configuration without a config file (the defaults of
    /// README.md ## Configuration).
    fn default() -> Self {
        Config {
            listeners: vec![default_listener()],
            listeners_from_file: false,
            allow_anonymous: true,
            auth_files: AuthFiles::default(),
            auth_throttle: AuthThrottle::default(),
            max_connections: 1024,
            max_sessions: 2048,
            max_packet_size: 131_072,
            max_inflight_messages: 20,
            max_queued_messages: 10,
            backpressure_timeout: Duration::from_secs(5),
            max_outbound_bytes: 262_144,
            queue_qos0_messages: false,
            persistent_client_expiration: Some(Duration::from_secs(2 * 3600)),
            duplicate_client_id: DuplicateClientId::Takeover,
            shared_subscription_strategy: SharedStrategy::RoundRobin,
            p2p: false,
            max_client_id_length: 128,
            max_topic_length: 1024,
            max_topic_levels: 32,
            max_subscriptions_per_client: 100,
            strict_identifiers: false,
            connect_timeout: Duration::from_secs(10),
            persistence: true,
            persistence_location: PathBuf::from("./edgemq-data/"),
            autosave_interval: Duration::from_secs(1),
            persistence_sync: false,
            persistence_cache_bytes: 2_097_152,
            max_store_bytes: 67_108_864,
            max_retained_messages: 10_000,
            memory_limit: 0,
            log_level: LevelFilter::Info,
            log: LogSettings::default(),
            allow_zero_length_clientid: true,
            auto_id_prefix: "auto-".to_owned(),
            max_keepalive: u16::MAX,
            max_topic_alias: 10,
            pid_file: None,
            user: None,
            bridges: Vec::new(),
            websockets_headers_size: websocket::DEFAULT_WEBSOCKETS_HEADERS_SIZE,
            acl_file: None,
            per_listener_settings: false,
            max_connection_rate: 0,
            max_publish_rate: 0,
            max_publish_bytes_rate: 0,
            rate_limit_disconnect_after: Duration::ZERO,
            sys_interval: observe::DEFAULT_SYS_INTERVAL,
            event_topics: false,
            admin_listener: None,
            admin_token_file: None,
            trajectory_max_age: console::DEFAULT_TRAJECTORY_MAX_AGE,
            trajectory_max_bytes: console::DEFAULT_TRAJECTORY_MAX_BYTES,
            history_topics: Vec::new(),
            history_max_age: console::DEFAULT_HISTORY_MAX_AGE,
            history_max_bytes: console::DEFAULT_HISTORY_MAX_BYTES,
        }
    }
}

/// 127.0.0.1:1883: without a config edgemq is reachable from the box only.
fn default_listener() -> ListenerConfig {
    ListenerConfig::new(DEFAULT_PORT, Some("127.0.0.1".to_owned()), "", 0)
}

impl Config {
    /// Reads and validates a config file and the files it includes.
    /// Errors and warnings name the file as `path` is written.
    pub fn from_file(path: &Path) -> Result<(Config, Vec<Warning>), ConfigError> {
        let name = path.display().to_string();
        let text = source::read_file(path, &name)?;
        let mut parser = parser::Parser::new(&name);
        parser.visit(path, &name, 0)?;
        parser.parse(&text, &name, 0)?;
        parser.finish()
    }

    /// Parses config text; `source_name` stands for the file in messages.
    /// `include_dir` lines still read the filesystem.
    pub fn parse_str(text: &str, source_name: &str) -> Result<(Config, Vec<Warning>), ConfigError> {
        let mut parser = parser::Parser::new(source_name);
        parser.parse(
            text.strip_prefix('\u{feff}').unwrap_or(text),
            source_name,
            0,
        )?;
        parser.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_text_gives_the_defaults() {
        let (c, w) = Config::parse_str("", "empty.conf").unwrap();
        assert_eq!(c, Config::default());
        assert!(w.is_empty());
        assert_eq!(
            c.listeners[0].socket_addrs(),
            vec!["127.0.0.1:1883".parse().unwrap()]
        );
    }

    #[test]
    fn default_is_within_every_ceiling() {
        let c = Config::default();
        assert!(c.max_connections <= limits::MAX_CONNECTIONS_CEILING);
        assert!(c.max_sessions <= limits::MAX_SESSIONS_CEILING);
        assert!(c.max_packet_size <= limits::MAX_PACKET_SIZE_CEILING);
        assert!(c.max_queued_messages <= limits::MAX_QUEUED_CEILING);
        assert!(c.max_outbound_bytes <= limits::MAX_OUTBOUND_BYTES_CEILING);
        assert!(c.max_topic_levels <= limits::MAX_TOPIC_LEVELS_CEILING);
        assert!(c.max_subscriptions_per_client <= limits::MAX_SUBSCRIPTIONS_CEILING);
        assert!(c.persistence_cache_bytes <= limits::PERSISTENCE_CACHE_CEILING);
        assert!(c.max_store_bytes <= limits::MAX_STORE_BYTES_CEILING);
        assert!(c.max_retained_messages <= limits::MAX_RETAINED_CEILING);
    }

    #[test]
    fn max_topic_alias_is_mosquittos_key_up_to_its_ceiling() {
        let (c, w) = Config::parse_str("max_topic_alias 0\n", "a.conf").unwrap();
        assert_eq!(c.max_topic_alias, 0);
        assert!(w.is_empty(), "{w:?}");
        let (c, _) = Config::parse_str("max_topic_alias 1024\n", "a.conf").unwrap();
        assert_eq!(c.max_topic_alias, limits::MAX_TOPIC_ALIAS_CEILING);
        assert!(Config::parse_str("max_topic_alias 1025\n", "a.conf").is_err());
        assert!(Config::parse_str("max_topic_alias -1\n", "a.conf").is_err());
        assert_eq!(Config::default().max_topic_alias, 10);
    }

    #[test]
    fn user_takes_one_name() {
        let (c, w) = Config::parse_str("user mosquitto\n", "u.conf").unwrap();
        assert_eq!(c.user.as_deref(), Some("mosquitto"));
        assert!(w.is_empty(), "{w:?}");
        assert!(Config::parse_str("user\n", "u.conf").is_err());
        assert!(Config::parse_str("user a b\n", "u.conf").is_err());
        let (old, new) = (Config::default(), c);
        assert_eq!(
            crate::broker::reload::restart_only_changes(&old, &new),
            vec!["user"]
        );
    }

    /// Lines built from real keys and plausible values reach deeper than
    /// random text: every branch of the value parsers.
    fn line() -> impl Strategy<Value = String> {
        let keys = prop::sample::select(vec![
            "listener",
            "allow_anonymous",
            "password_file",
            "auth_fail_limit",
            "auth_fail_window",
            "max_connections",
            "max_sessions",
            "max_packet_size",
            "max_inflight_messages",
            "max_queued_messages",
            "backpressure_timeout",
            "persistent_client_expiration",
            "duplicate_client_id",
            "shared_subscription_strategy",
            "p2p",
            "max_topic_levels",
            "connect_timeout",
            "autosave_interval",
            "log_level",
            "log_type",
            "log_dest",
            "log_timestamp",
            "log_facility",
            "connection_messages",
            "auto_id_prefix",
            "max_keepalive",
            "max_topic_alias",
            "memory_limit",
            "acl_file",
            "sys_interval",
            "protocol",
            "per_listener_settings",
            "strict_identifiers",
            "unix_socket_mode",
            "unix_socket_group",
            "max_connection_rate",
            "max_publish_rate",
            "max_publish_bytes_rate",
            "rate_limit_disconnect_after",
            "bogus",
            "#",
        ]);
        let value =
            prop::string::string_regex("-?[0-9]{0,22}[a-z]?|[a-z:.\\[\\]0-9/]{0,12}").unwrap();
        (keys, prop::collection::vec(value, 0..4))
            .prop_map(|(k, vs)| format!("{k} {}", vs.join(" ")))
    }

    proptest! {
        #[test]
        fn random_text_never_panics(text in "\\PC{0,200}") {
            let _ = Config::parse_str(&text, "fuzz.conf");
        }

        #[test]
        fn random_lines_never_panic(lines in prop::collection::vec(line(), 0..12)) {
            // No include_dir here: a random "." or ".." would read real files.
            if let Ok((c, _)) = Config::parse_str(&lines.join("\n"), "fuzz.conf") {
                prop_assert!(!c.listeners.is_empty());
            }
        }
    }
}

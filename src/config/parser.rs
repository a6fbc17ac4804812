//! The line loop: splits lines into key and values, applies each key to a
//! [`Config`] under construction, follows `include_dir`, and runs the
//! cross-key checks at the end.
//!
//! Invariants: every key is handled by exactly one arm of [`Parser::apply`];
//! every error carries the file and line it comes from; each file is read at
//! most once (a second visit is an include loop), at most
//! `MAX_CONFIG_FILES` files and `MAX_INCLUDE_DEPTH` levels deep.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use log::LevelFilter;

use super::error::{ConfigError, Warning};
use super::limits::*;
use super::line::Line;
use super::listener::{parse_address, ListenerConfig};
use super::mosquitto::Verdict;
use super::per_listener;
use super::values::{self, Bare};
use super::{
    auth, bridge, console, default_listener, logging, mosquitto, observe, rate_limits, source, tls,
    unix_socket, websocket, Config, DuplicateClientId, SharedStrategy,
};

/// Where a key was last set, for messages about combinations of keys.
#[derive(Clone)]
struct Origin {
    file: String,
    line: usize,
}

pub(crate) struct Parser {
    config: Config,
    listeners: Vec<ListenerConfig>,
    allow_anonymous: Option<bool>,
    /// A `listener` line or a per-listener security key was read
    /// (`per_listener_settings` must come before both).
    seen_listener_or_security_key: bool,
    log_level: Option<LevelFilter>,
    log_type: Option<LevelFilter>,
    warnings: Vec<Warning>,
    origins: HashMap<&'static str, Origin>,
    /// Canonical paths of the files read so far.
    visited: Vec<PathBuf>,
    /// The name of the main file, for messages that belong to no line.
    main: String,
}

impl Parser {
    pub(crate) fn new(main: &str) -> Self {
        Parser {
            config: Config::default(),
            listeners: Vec::new(),
            allow_anonymous: None,
            seen_listener_or_security_key: false,
            log_level: None,
            log_type: None,
            warnings: Vec::new(),
            origins: HashMap::new(),
            visited: Vec::new(),
            main: main.to_owned(),
        }
    }

    /// Records that `path` is being read; refuses loops and too many files.
    /// `line` is the `include_dir` line that led here (0 for the main file).
    pub(crate) fn visit(
        &mut self,
        path: &Path,
        from: &str,
        line: usize,
    ) -> Result<(), ConfigError> {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if self.visited.contains(&canonical) {
            return Err(ConfigError::new(
                from,
                line,
                format!(
                    "include_dir: '{}' is already being read (include loop)",
                    path.display()
                ),
            ));
        }
        if self.visited.len() >= MAX_CONFIG_FILES {
            return Err(ConfigError::new(
                from,
                line,
                format!("include_dir: more than {MAX_CONFIG_FILES} config files in total"),
            ));
        }
        self.visited.push(canonical);
        Ok(())
    }

    /// Applies every line of `text`, which came from `file`.
    pub(crate) fn parse(
        &mut self,
        text: &str,
        file: &str,
        depth: usize,
    ) -> Result<(), ConfigError> {
        for (index, raw) in text.lines().enumerate() {
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let mut words = trimmed.split_whitespace();
            let Some(key) = words.next() else { continue };
            let line = Line {
                file,
                number: index.saturating_add(1),
                key,
                args: words.collect(),
            };
            self.apply(&line, depth)?;
        }
        Ok(())
    }

    fn set(&mut self, key: &'static str, line: &Line<'_>) {
        let origin = Origin {
            file: line.file.to_owned(),
            line: line.number,
        };
        self.origins.insert(key, origin);
    }

    /// The single dispatch: one arm per key, so no key can be handled twice.
    /// An arm reads a plain value inline and calls the function named after
    /// the key when the value has rules of its own. Long by design: a
    /// flat table of keys reads better whole than cut into groups.
    fn apply(&mut self, line: &Line<'_>, depth: usize) -> Result<(), ConfigError> {
        if line.key == "listener" || per_listener::claims(line.key) {
            self.seen_listener_or_security_key = true;
        }
        let c = &mut self.config;
        match line.key {
            "per_listener_settings" => {
                per_listener::switch(c, self.seen_listener_or_security_key, line)?;
            }
            key if c.per_listener_settings && per_listener::claims(key) => {
                per_listener::apply(self.listeners.last_mut(), line)?;
            }
            "listener" => self.listener(line)?,
            "include_dir" => self.include_dir(line, depth)?,
            // Keys of the listener above them (unix_socket.rs); a
            // `max_connections` after a `listener` line is that listener's.
            "unix_socket_mode" | "unix_socket_group" => {
                unix_socket::apply(self.listeners.last_mut(), line)?;
            }
            "max_connections" if !self.listeners.is_empty() => {
                if let Some(listener) = self.listeners.last_mut() {
                    unix_socket::listener_max_connections(listener, line)?;
                }
                // Not TRACKED: cross-key messages are about the global value.
                return Ok(());
            }
            "max_connection_rate" => {
                rate_limits::connection_rate(c, self.listeners.last_mut(), line)?;
            }
            "allow_anonymous" => self.allow_anonymous = Some(line.boolean()?),
            "max_connections" => c.max_connections = max_connections(line)?,
            "max_sessions" => c.max_sessions = line.size(1, MAX_SESSIONS_CEILING)?,
            "max_packet_size" => {
                c.max_packet_size = line.size(MAX_PACKET_SIZE_FLOOR, MAX_PACKET_SIZE_CEILING)?;
            }
            "max_inflight_messages" => c.max_inflight_messages = max_inflight_messages(line)?,
            "max_queued_messages" => c.max_queued_messages = max_queued_messages(line)?,
            "backpressure_timeout" => {
                c.backpressure_timeout =
                    line.duration(Bare::Seconds, Duration::ZERO, BACKPRESSURE_TIMEOUT_CEILING)?;
            }
            "max_outbound_bytes" => {
                c.max_outbound_bytes = line.size(1, MAX_OUTBOUND_BYTES_CEILING)?;
            }
            "queue_qos0_messages" => c.queue_qos0_messages = line.boolean()?,
            "persistent_client_expiration" => {
                c.persistent_client_expiration = persistent_client_expiration(line)?;
            }
            "duplicate_client_id" => c.duplicate_client_id = duplicate_client_id(line)?,
            "shared_subscription_strategy" => {
                c.shared_subscription_strategy = shared_subscription_strategy(line)?;
            }
            "p2p" => c.p2p = line.boolean()?,
            "max_client_id_length" => {
                c.max_client_id_length = line.size(1, MAX_STRING_LENGTH_CEILING)?;
            }
            "max_topic_length" => c.max_topic_length = line.size(1, MAX_STRING_LENGTH_CEILING)?,
            "max_topic_levels" => c.max_topic_levels = line.size(1, MAX_TOPIC_LEVELS_CEILING)?,
            "max_subscriptions_per_client" => {
                c.max_subscriptions_per_client = line.size(1, MAX_SUBSCRIPTIONS_CEILING)?;
            }
            "strict_identifiers" => c.strict_identifiers = line.boolean()?,
            "connect_timeout" => {
                c.connect_timeout = line.duration(
                    Bare::Seconds,
                    Duration::from_secs(1),
                    CONNECT_TIMEOUT_CEILING,
                )?;
            }
            "persistence" => c.persistence = line.boolean()?,
            "persistence_location" => c.persistence_location = PathBuf::from(line.one()?),
            "autosave_interval" => c.autosave_interval = autosave_interval(line)?,
            "persistence_sync" => c.persistence_sync = line.boolean()?,
            "persistence_cache_bytes" => {
                c.persistence_cache_bytes =
                    line.number(PERSISTENCE_CACHE_FLOOR, PERSISTENCE_CACHE_CEILING)?;
            }
            "max_store_bytes" => {
                c.max_store_bytes = line.number(MAX_STORE_BYTES_FLOOR, MAX_STORE_BYTES_CEILING)?;
            }
            "max_retained_messages" => {
                c.max_retained_messages = line.size(1, MAX_RETAINED_CEILING)?;
            }
            "memory_limit" => c.memory_limit = line.number(0, MEMORY_LIMIT_CEILING)?,
            "log_level" => {
                self.log_level = Some(values::log_level(line.one()?).map_err(|m| line.error(m))?);
            }
            "log_type" => self.log_type(line)?,
            "allow_zero_length_clientid" => c.allow_zero_length_clientid = line.boolean()?,
            "auto_id_prefix" => c.auto_id_prefix = auto_id_prefix(line)?,
            "max_keepalive" => c.max_keepalive = max_keepalive(line)?,
            "max_topic_alias" => {
                let max = line.number(0, u64::from(MAX_TOPIC_ALIAS_CEILING))?;
                c.max_topic_alias = u16::try_from(max).unwrap_or(MAX_TOPIC_ALIAS_CEILING);
            }
            "pid_file" => c.pid_file = Some(PathBuf::from(line.one()?)),
            "user" => c.user = Some(line.one()?.to_owned()),
            "acl_file" => c.acl_file = Some(line.path()?),
            "protocol" => websocket::protocol(self.listeners.last_mut(), line)?,
            "websockets_path" => websocket::path(self.listeners.last_mut(), line)?,
            "websockets_headers_size" => c.websockets_headers_size = websocket::headers_size(line)?,
            "connection" => bridge::connection(&mut c.bridges, line)?,
            key if bridge::is_bridge_key(key) => {
                bridge::apply(&mut c.bridges, line, &mut self.warnings)?;
            }
            key if rate_limits::claims(key) => rate_limits::apply(c, line)?,
            key if observe::claims(key) => observe::apply(c, line)?,
            key if console::claims(key) => console::apply(c, line)?,
            key if tls::claims(key) => tls::apply(self.listeners.last_mut(), line)?,
            key if logging::claims(key) => logging::apply(&mut c.log, line, &mut self.warnings)?,
            key if auth::claims(key) => auth::apply(&mut c.auth_files, &mut c.auth_throttle, line)?,
            _ => self.not_ours(line)?,
        }
        if let Some(key) = TRACKED.iter().find(|k| **k == line.key) {
            self.set(key, line);
        }
        Ok(())
    }

    /// A key none of the arms above knows: a mosquitto key edgemq does not
    /// implement (a warning or an error, see `mosquitto.rs`) or a typo.
    fn not_ours(&mut self, line: &Line<'_>) -> Result<(), ConfigError> {
        match mosquitto::unimplemented(line)? {
            Verdict::Ignored(message) => {
                self.warnings
                    .push(Warning::new(line.file, line.number, message))
            }
            Verdict::Unknown => {
                return Err(ConfigError::new(
                    line.file,
                    line.number,
                    format!("unknown key '{}'", line.key.escape_debug()),
                ))
            }
        }
        Ok(())
    }

    /// `listener PORT [ADDRESS]`, `listener 0 PATH`.
    fn listener(&mut self, line: &Line<'_>) -> Result<(), ConfigError> {
        let (port, address) = match line.args.as_slice() {
            [port] => (port, None),
            [port, address] => (port, Some(address)),
            [] => return Err(line.error("expected PORT [ADDRESS]")),
            [_, _, extra, ..] => {
                return Err(line.error(format!(
                    "unexpected extra value '{}'; expected PORT [ADDRESS]",
                    extra.escape_debug()
                )))
            }
        };
        let port = values::bounded(port, 0, u64::from(u16::MAX))
            .map_err(|m| line.error(format!("port: {m}")))?;
        let (address, unix) = match address {
            Some(path) if unix_socket::is_path(path) => {
                let socket = unix_socket::socket(port, path).map_err(|m| line.error(m))?;
                (None, Some(socket))
            }
            _ => (address, None),
        };
        let address = address
            .map(|a| parse_address(a))
            .transpose()
            .map_err(|m| line.error(m))?;
        let port = u16::try_from(port).unwrap_or(u16::MAX);
        let listener = ListenerConfig {
            unix,
            ..ListenerConfig::new(port, address, line.file, line.number)
        };
        if let Some(earlier) = self.listeners.iter().find(|l| l.overlaps(&listener)) {
            return Err(line.error(format!(
                "{listener} clashes with the listener {earlier} at {}:{}",
                earlier.file, earlier.line
            )));
        }
        if self.listeners.len() >= MAX_LISTENERS {
            return Err(line.error(format!("more than {MAX_LISTENERS} listeners")));
        }
        self.listeners.push(listener);
        Ok(())
    }

    /// `include_dir DIR`: every `*.conf` in DIR, in name order, as if its
    /// lines stood here.
    fn include_dir(&mut self, line: &Line<'_>, depth: usize) -> Result<(), ConfigError> {
        let dir = Path::new(line.one()?);
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(line.error(format!("nested more than {MAX_INCLUDE_DEPTH} levels deep")));
        }
        let files = source::conf_files(dir)
            .map_err(|e| line.error(format!("cannot read directory '{}': {e}", dir.display())))?;
        for path in files {
            let name = path.display().to_string();
            self.visit(&path, line.file, line.number)?;
            let text = source::read_file(&path, &name)?;
            self.parse(&text, &name, depth.saturating_add(1))?;
        }
        Ok(())
    }

    /// `log_type TYPE...`: the most verbose type given wins over all lines.
    fn log_type(&mut self, line: &Line<'_>) -> Result<(), ConfigError> {
        if line.args.is_empty() {
            return Err(line.error("missing value"));
        }
        for v in &line.args {
            let level = mosquitto::log_type_level(v).ok_or_else(|| {
                line.error(format!(
                    "expected none, error, warning, notice, information, subscribe, \
                     unsubscribe, websockets, debug or all, got '{}'",
                    v.escape_debug()
                ))
            })?;
            self.log_type = Some(self.log_type.map_or(level, |l| l.max(level)));
        }
        Ok(())
    }

    fn origin(&self, keys: &[&str]) -> Origin {
        keys.iter()
            .find_map(|k| self.origins.get(k).cloned())
            .unwrap_or(Origin {
                file: self.main.clone(),
                line: 0,
            })
    }

    /// Defaults that depend on the whole file, then cross-key checks.
    pub(crate) fn finish(mut self) -> Result<(Config, Vec<Warning>), ConfigError> {
        let from_file = !self.listeners.is_empty();
        let mut c = std::mem::take(&mut self.config);
        c.listeners = if from_file {
            std::mem::take(&mut self.listeners)
        } else {
            vec![default_listener()]
        };
        c.listeners_from_file = from_file;
        // mosquitto 2.0: a config that opens a listener must allow
        // anonymous access explicitly.
        c.allow_anonymous = self.allow_anonymous.unwrap_or(!from_file);
        per_listener::finish(&mut c, from_file, &self.main)?;
        c.log_level = match (self.log_level, self.log_type) {
            (Some(level), Some(_)) => {
                let o = self.origin(&["log_type"]);
                self.warnings.push(Warning::new(
                    &o.file,
                    o.line,
                    "log_type is ignored because log_level is set",
                ));
                level
            }
            (Some(level), None) | (None, Some(level)) => level,
            (None, None) => LevelFilter::Info,
        };

        if c.strict_identifiers && !c.auto_id_prefix.bytes().all(strict_client_id_byte) {
            let o = self.origin(&["auto_id_prefix", "strict_identifiers"]);
            return Err(ConfigError::new(
                &o.file,
                o.line,
                format!(
                    "auto_id_prefix '{}' has characters that strict_identifiers refuses \
                     (allowed: A-Z a-z 0-9 _ @ . : -)",
                    c.auto_id_prefix.escape_debug()
                ),
            ));
        }
        if c.auto_id_prefix.len() >= c.max_client_id_length {
            let o = self.origin(&["auto_id_prefix", "max_client_id_length"]);
            return Err(ConfigError::new(
                &o.file,
                o.line,
                format!(
                    "auto_id_prefix ({} bytes) leaves no room for generated ids under \
                     max_client_id_length {}",
                    c.auto_id_prefix.len(),
                    c.max_client_id_length
                ),
            ));
        }
        if c.max_connections > c.max_sessions {
            let o = self.origin(&["max_connections", "max_sessions"]);
            self.warnings.push(Warning::new(
                &o.file,
                o.line,
                format!(
                    "max_connections {} exceeds max_sessions {}: every client needs a session, \
                     so at most {} can be connected",
                    c.max_connections, c.max_sessions, c.max_sessions
                ),
            ));
        }
        if c.persistence_sync && !c.persistence {
            let o = self.origin(&["persistence_sync", "persistence"]);
            self.warnings.push(Warning::new(
                &o.file,
                o.line,
                "persistence_sync has no effect with persistence false",
            ));
        }
        unix_socket::check_caps(&c.listeners, c.max_connections, &mut self.warnings);
        bridge::finish(&c.bridges, &mut self.warnings)?;
        tls::finish(&c.listeners, &mut self.warnings)?;
        Ok((c, self.warnings))
    }
}

/// The keys whose line [`Parser::finish`] names when a combination of keys
/// is wrong; [`Parser::apply`] records where each was last set.
const TRACKED: [&str; 8] = [
    "max_connections",
    "max_sessions",
    "max_client_id_length",
    "strict_identifiers",
    "persistence",
    "persistence_sync",
    "log_type",
    "auto_id_prefix",
];

/// `max_connections N`; mosquitto's -1 (unlimited) means the ceiling.
fn max_connections(line: &Line<'_>) -> Result<usize, ConfigError> {
    match line.one()? {
        "-1" => Ok(MAX_CONNECTIONS_CEILING),
        _ => line.size(1, MAX_CONNECTIONS_CEILING),
    }
}

/// `max_inflight_messages N`; mosquitto's 0 (unlimited) means the ceiling.
fn max_inflight_messages(line: &Line<'_>) -> Result<u16, ConfigError> {
    match line.one()? {
        "0" => Ok(MAX_INFLIGHT_CEILING),
        _ => {
            let n = line.number(1, u64::from(MAX_INFLIGHT_CEILING))?;
            Ok(u16::try_from(n).unwrap_or(MAX_INFLIGHT_CEILING))
        }
    }
}

/// `max_queued_messages N`; mosquitto's 0 (unlimited) is refused because
/// every queue has a bound (docs/design.md, ## Queues and back-pressure).
fn max_queued_messages(line: &Line<'_>) -> Result<usize, ConfigError> {
    if line.one()? == "0" {
        return Err(line.error(format!(
            "0 (unlimited in mosquitto) is not supported; \
             use a number from 1 to the ceiling of {MAX_QUEUED_CEILING}"
        )));
    }
    line.size(1, MAX_QUEUED_CEILING)
}

/// `persistent_client_expiration DURATION|never`; `None` is never.
fn persistent_client_expiration(line: &Line<'_>) -> Result<Option<Duration>, ConfigError> {
    match line.one()? {
        "never" => Ok(None),
        v => {
            let d = values::duration(v, Bare::Refused, SESSION_EXPIRY_CEILING)
                .map_err(|m| line.error(format!("{m}, or 'never'")))?;
            if d.is_zero() {
                return Err(line.error("must be longer than 0 (or 'never')"));
            }
            Ok(Some(d))
        }
    }
}

/// `duplicate_client_id takeover|reject`.
fn duplicate_client_id(line: &Line<'_>) -> Result<DuplicateClientId, ConfigError> {
    match line.one()? {
        "takeover" => Ok(DuplicateClientId::Takeover),
        "reject" => Ok(DuplicateClientId::Reject),
        v => Err(line.error(format!(
            "expected takeover or reject, got '{}'",
            v.escape_debug()
        ))),
    }
}

/// `shared_subscription_strategy round_robin|random|sticky|hash_clientid`.
fn shared_subscription_strategy(line: &Line<'_>) -> Result<SharedStrategy, ConfigError> {
    match line.one()? {
        "round_robin" => Ok(SharedStrategy::RoundRobin),
        "random" => Ok(SharedStrategy::Random),
        "sticky" => Ok(SharedStrategy::Sticky),
        "hash_clientid" => Ok(SharedStrategy::HashClientId),
        v => Err(line.error(format!(
            "expected round_robin, random, sticky or hash_clientid, got '{}'",
            v.escape_debug()
        ))),
    }
}

/// `autosave_interval DURATION`, at least a second.
fn autosave_interval(line: &Line<'_>) -> Result<Duration, ConfigError> {
    let d = line.duration(Bare::Seconds, Duration::ZERO, AUTOSAVE_INTERVAL_CEILING)?;
    if d.is_zero() {
        return Err(line.error(
            "must be at least 1s (mosquitto's 0 has no meaning here; \
             for a flush before every acknowledgement use persistence_sync true)",
        ));
    }
    Ok(d)
}

/// `auto_id_prefix PREFIX`, at most `AUTO_ID_PREFIX_CEILING` bytes.
fn auto_id_prefix(line: &Line<'_>) -> Result<String, ConfigError> {
    let v = line.one()?;
    if v.len() > AUTO_ID_PREFIX_CEILING {
        return Err(line.error(format!(
            "{} bytes is above the ceiling of {AUTO_ID_PREFIX_CEILING}",
            v.len()
        )));
    }
    Ok(v.to_owned())
}

/// `max_keepalive SECONDS`, 0 to 65535 (the CONNECT field is 16 bits).
fn max_keepalive(line: &Line<'_>) -> Result<u16, ConfigError> {
    let n = line.number(0, u64::from(u16::MAX))?;
    Ok(u16::try_from(n).unwrap_or(u16::MAX))
}

/// The client id characters `strict_identifiers` allows: `[A-Za-z0-9_@.:-]`
/// (README.md, ## Configuration).
fn strict_client_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@' | b'.' | b':' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Config, Vec<Warning>), ConfigError> {
        Config::parse_str(text, "t.conf")
    }

    #[test]
    fn comments_blank_lines_and_whitespace() {
        let (c, w) =
            parse("# a comment\n\n   \t\n  max_topic_levels   7  \r\n\t# indented comment\n")
                .unwrap();
        assert_eq!(c.max_topic_levels, 7);
        assert!(w.is_empty());
    }

    #[test]
    fn trailing_comment_is_an_error() {
        let e = parse("persistence true # keep it").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("extra value '#'"), "{e}");
    }

    #[test]
    fn missing_value() {
        let e = parse("\nmax_sessions\n").unwrap_err();
        assert_eq!(e.to_string(), "t.conf:2: max_sessions: missing value");
    }

    #[test]
    fn later_lines_override() {
        let (c, _) = parse("max_sessions 7\nmax_sessions 9").unwrap();
        assert_eq!(c.max_sessions, 9);
    }

    #[test]
    fn log_type_and_log_level() {
        let (c, _) = parse("log_type error\nlog_type warning").unwrap();
        assert_eq!(c.log_level, LevelFilter::Warn);
        let (c, _) = parse("log_type none").unwrap();
        assert_eq!(c.log_level, LevelFilter::Off);
        let (c, _) = parse("log_type none\nlog_type all").unwrap();
        assert_eq!(c.log_level, LevelFilter::Debug);
        let (c, w) = parse("log_type all\nlog_level error").unwrap();
        assert_eq!(c.log_level, LevelFilter::Error);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].line, 1);
        assert!(parse("log_type loud").is_err());
    }

    #[test]
    fn log_keys() {
        use crate::logging::{Facility, LogDest};
        let (c, w) = parse(
            "log_dest stderr\nlog_dest syslog\nlog_dest file /var/log/edgemq.log\n\
             log_dest stderr\nlog_timestamp false\nlog_timestamp_format %F %T\n\
             log_facility 5\nconnection_messages false",
        )
        .unwrap();
        assert!(w.is_empty());
        let file = LogDest::File("/var/log/edgemq.log".into());
        assert_eq!(c.log.dests, vec![LogDest::Stderr, LogDest::Syslog, file]);
        assert_eq!(c.log.timestamp, Some(false));
        assert_eq!(c.log.facility, Facility::parse("local5").unwrap());
        assert!(!c.log.connection_messages);
        let mut stamp = String::new();
        c.log.timestamp_format.write(0, &mut stamp);
        assert_eq!(stamp, "1970-01-01 00:00:00");
        assert!(parse("log_dest none")
            .unwrap()
            .0
            .log
            .effective_dests()
            .is_empty());
        assert_eq!(parse("log_dest topic").unwrap().1.len(), 1);
        assert!(parse("log_dest file").is_err());
        assert!(parse("log_dest file a b").is_err());
        assert!(parse("log_dest journal").is_err());
        assert!(parse("log_facility 8").is_err());
        assert!(parse("log_timestamp_format %Q").is_err());
    }

    #[test]
    fn cross_checks() {
        let e = parse("strict_identifiers true\nauto_id_prefix auto#").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("max_client_id_length 5\nauto_id_prefix abcde").unwrap_err();
        assert_eq!(e.line, 2);
        let (_, w) = parse("max_connections 4000").unwrap();
        assert_eq!((w.len(), w[0].line), (1, 1));
        let (_, w) = parse("persistence false\npersistence_sync true").unwrap();
        assert_eq!((w.len(), w[0].line), (1, 2));
    }
}

//! Bridge `connection` blocks in mosquitto's syntax and with its defaults
//! (README.md, ## Bridge).
//!
//! Owns: the bridge keys, their defaults and the checks on a whole block.
//! A `connection NAME` line starts a block; every bridge key after it, up to
//! the next `connection`, belongs to it (as in mosquitto, whatever other
//! keys stand between). A bridge key before any `connection` is an error.
//! mosquitto's bridge keys edgemq does not implement are `mosquitto`'s: the
//! ones that secure the link (`bridge_psk`, `bridge_require_ocsp`, ...) are
//! refused there, because ignoring them would leave the link plain or
//! unchecked. The TLS files are read by the bridge at each connect
//! (`net::tls::Connector`), never here.
//!
//! Defaults that need the machine (the host name in mosquitto's default
//! `remote_clientid`, `hostname.NAME`) are left `None` here and resolved by
//! the bridge when it starts: the config reads nothing but its files.

use std::time::Duration;

use super::error::{ConfigError, Warning};
use super::line::Line;
use super::secrets;
use super::tls::{PathSetting, TlsVersion};
use super::values;
use crate::codec::QoS;

/// Ceiling of `bridge_max_queued_messages`: every queued message is also a
/// record in the store.
pub const MAX_QUEUED_MESSAGES_CEILING: usize = 1_000_000;
/// Ceiling of `bridge_max_queued_bytes`: 1 GiB is more flash than most
/// target devices have.
pub const MAX_QUEUED_BYTES_CEILING: usize = 1 << 30;
/// At most this many bridges, addresses per bridge and topic rules per
/// bridge: a config is not a place for thousands of lines of one kind.
pub const MAX_BRIDGES: usize = 64;
pub const MAX_ADDRESSES: usize = 16;
pub const MAX_TOPIC_RULES: usize = 1024;

/// Which way a topic rule forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Local publishes go to the remote.
    Out,
    /// The remote's publishes come to local subscribers.
    In,
    Both,
}

impl Direction {
    pub fn outbound(self) -> bool {
        matches!(self, Direction::Out | Direction::Both)
    }

    pub fn inbound(self) -> bool {
        matches!(self, Direction::In | Direction::Both)
    }
}

/// `topic PATTERN [out|in|both] [QOS] [LOCAL_PREFIX] [REMOTE_PREFIX]`.
/// The local side is `local_prefix + pattern`, the remote side
/// `remote_prefix + pattern` (mosquitto's remapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRuleConfig {
    /// May be empty (`""`): then the prefixes are whole topics.
    pub pattern: String,
    pub direction: Direction,
    /// The highest QoS forwarded (a message keeps the lower of its own and
    /// this), and the QoS of the remote subscription for `in`.
    pub qos: QoS,
    pub local_prefix: String,
    pub remote_prefix: String,
}

/// `bridge_protocol_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeProtocol {
    /// `mqttv31`.
    V3_1,
    /// `mqttv311`, the default.
    V3_1_1,
    /// `mqttv50` (docs/mqtt5.md, "Bridges").
    V5,
}

/// Default of `bridge_session_expiry_interval`: as long as edgemq keeps a 3.x
/// persistent session (`persistent_client_expiration`), so that a remote
/// edgemq and a 5.0 edge agree on what an outage may last.
pub const DEFAULT_BRIDGE_SESSION_EXPIRY: u32 = 2 * 3600;
/// `bridge_session_expiry_interval never`: the Session Expiry Interval that never
/// expires (0xFFFFFFFF, MQTT 5 §3.1.2.11.2).
pub const SESSION_NEVER_EXPIRES: u32 = u32::MAX;

/// `address HOST:PORT`; the port defaults to 1883 as in mosquitto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeAddress {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for BridgeAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Longest `bridge_alpn`: an ALPN protocol name is at most 255 bytes
/// (RFC 7301 §3.1).
pub const MAX_ALPN_BYTES: usize = 255;

/// The TLS keys of a bridge; TLS is on when `cafile` or `capath` is set (as
/// in mosquitto: a bridge without `bridge_cafile`/`bridge_capath` is
/// plain), or with `insecure`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BridgeTls {
    pub cafile: Option<PathSetting>,
    /// A directory of CA files (`/etc/ssl/certs`: the system's).
    pub capath: Option<PathSetting>,
    pub certfile: Option<PathSetting>,
    pub keyfile: Option<PathSetting>,
    /// Skip the server certificate and host name checks (a lab only).
    pub insecure: bool,
    /// `bridge_tls_version`: the lowest version offered.
    pub min_version: TlsVersion,
    /// `bridge_alpn`: the one protocol name offered.
    pub alpn: Option<String>,
}

/// One `connection` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    pub name: String,
    /// Tried in order; the next one after a failure (mosquitto's
    /// `round_robin false`).
    pub addresses: Vec<BridgeAddress>,
    /// `None`: mosquitto's default, `hostname.NAME`, resolved at start.
    pub remote_clientid: Option<String>,
    pub remote_username: Option<String>,
    pub remote_password: Option<String>,
    /// `keepalive_interval`, seconds (default 60).
    pub keepalive: u16,
    /// `cleansession` (default false: the remote keeps our subscriptions
    /// and the QoS 1/2 messages for us while the link is down).
    pub clean_session: bool,
    pub protocol: BridgeProtocol,
    /// Announce ourselves as a bridge (protocol level | 0x80), so a
    /// mosquitto or edgemq remote does not echo our own publishes back.
    /// 3.x only: a 5.0 link asks for no-local instead.
    pub try_private: bool,
    /// Where `try_private` was given, to warn that 5.0 ignores it.
    pub try_private_line: Option<usize>,
    /// `bridge_session_expiry_interval`: the Session Expiry Interval (seconds) a
    /// 5.0 link with `cleansession false` asks for; `u32::MAX` never
    /// expires. A clean session asks for 0.
    pub session_expiry: u32,
    /// `restart_timeout BASE [CAP]`: reconnect backoff from BASE doubling to
    /// CAP, with jitter; one value is a constant delay.
    pub restart_base: Duration,
    pub restart_cap: Duration,
    pub topics: Vec<TopicRuleConfig>,
    pub notifications: bool,
    /// `None`: `$SYS/broker/connection/<remote_clientid>/state`.
    pub notification_topic: Option<String>,
    pub max_queued_messages: usize,
    pub max_queued_bytes: usize,
    pub tls: BridgeTls,
    /// Where the block starts, for messages about the whole block.
    pub file: String,
    pub line: usize,
}

impl BridgeConfig {
    fn new(name: &str, file: &str, line: usize) -> BridgeConfig {
        BridgeConfig {
            name: name.to_owned(),
            addresses: Vec::new(),
            remote_clientid: None,
            remote_username: None,
            remote_password: None,
            keepalive: 60,
            clean_session: false,
            protocol: BridgeProtocol::V3_1_1,
            try_private: true,
            try_private_line: None,
            session_expiry: DEFAULT_BRIDGE_SESSION_EXPIRY,
            restart_base: Duration::from_secs(5),
            restart_cap: Duration::from_secs(30),
            topics: Vec::new(),
            notifications: true,
            notification_topic: None,
            max_queued_messages: 10_000,
            max_queued_bytes: 16 * 1024 * 1024,
            tls: BridgeTls::default(),
            file: file.to_owned(),
            line,
        }
    }

    /// TLS is used toward the remote.
    pub fn uses_tls(&self) -> bool {
        self.tls.cafile.is_some() || self.tls.capath.is_some() || self.tls.insecure
    }
}

/// Whether `key` belongs in a `connection` block (and is implemented).
pub(super) fn is_bridge_key(key: &str) -> bool {
    matches!(
        key,
        "address"
            | "addresses"
            | "remote_clientid"
            | "remote_username"
            | "remote_password"
            | "remote_password_file"
            | "keepalive_interval"
            | "cleansession"
            | "bridge_protocol_version"
            | "try_private"
            | "bridge_session_expiry_interval"
            | "restart_timeout"
            | "topic"
            | "notifications"
            | "notification_topic"
            | "bridge_max_queued_messages"
            | "bridge_max_queued_bytes"
            | "bridge_alpn"
            | "bridge_cafile"
            | "bridge_capath"
            | "bridge_certfile"
            | "bridge_keyfile"
            | "bridge_insecure"
            | "bridge_tls_version"
    )
}

/// `connection NAME`: starts a block.
pub(super) fn connection(
    bridges: &mut Vec<BridgeConfig>,
    line: &Line<'_>,
) -> Result<(), ConfigError> {
    let name = line.one()?;
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(line.error(format!(
            "bridge name '{}' may only have A-Z a-z 0-9 _ - .",
            name.escape_debug()
        )));
    }
    if let Some(earlier) = bridges.iter().find(|b| b.name == name) {
        return Err(line.error(format!(
            "a bridge named '{name}' already exists at {}:{}",
            earlier.file, earlier.line
        )));
    }
    if bridges.len() >= MAX_BRIDGES {
        return Err(line.error(format!("more than {MAX_BRIDGES} bridges")));
    }
    bridges.push(BridgeConfig::new(name, line.file, line.number));
    Ok(())
}

/// One bridge key, applied to the current (last) block. One arm per key:
/// a plain value is read inline, one with rules of its own by the function
/// named after the key.
pub(super) fn apply(
    bridges: &mut [BridgeConfig],
    line: &Line<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    let Some(b) = bridges.last_mut() else {
        return Err(
            line.error("bridge key outside a connection block (start one with 'connection NAME')")
        );
    };
    match line.key {
        "address" | "addresses" => addresses(b, line)?,
        "remote_clientid" => b.remote_clientid = Some(remote_clientid(line)?),
        "remote_username" => b.remote_username = Some(line.one()?.to_owned()),
        "remote_password" => remote_password(b, line, None)?,
        "remote_password_file" => {
            let path = line.path()?;
            let password = secrets::read_password_file(&path).map_err(|m| line.error(m))?;
            remote_password(b, line, Some(password))?;
        }
        "keepalive_interval" => b.keepalive = keepalive_interval(line)?,
        "cleansession" => b.clean_session = line.boolean()?,
        "bridge_protocol_version" => b.protocol = bridge_protocol_version(line)?,
        "try_private" => {
            b.try_private = line.boolean()?;
            b.try_private_line = Some(line.number);
        }
        "bridge_session_expiry_interval" => {
            b.session_expiry = bridge_session_expiry_interval(line)?
        }
        "restart_timeout" => (b.restart_base, b.restart_cap) = restart_timeout(line)?,
        "topic" => topic(b, line)?,
        "notifications" => b.notifications = line.boolean()?,
        "notification_topic" => b.notification_topic = Some(notification_topic(line)?),
        "bridge_max_queued_messages" => {
            b.max_queued_messages = line.size(1, MAX_QUEUED_MESSAGES_CEILING)?;
        }
        "bridge_max_queued_bytes" => {
            b.max_queued_bytes = line.size(1024, MAX_QUEUED_BYTES_CEILING)?;
        }
        "bridge_alpn" => b.tls.alpn = Some(bridge_alpn(line)?),
        "bridge_cafile" => b.tls.cafile = Some(PathSetting::of(line)?),
        "bridge_capath" => b.tls.capath = Some(PathSetting::of(line)?),
        "bridge_certfile" => b.tls.certfile = Some(PathSetting::of(line)?),
        "bridge_keyfile" => b.tls.keyfile = Some(PathSetting::of(line)?),
        "bridge_insecure" => bridge_insecure(b, line, warnings)?,
        "bridge_tls_version" => b.tls.min_version = bridge_tls_version(line)?,
        key => return Err(line.error(format!("'{key}' is not a bridge key"))),
    }
    Ok(())
}

/// `address HOST[:PORT] [HOST[:PORT]...]`, tried in order; `addresses` is
/// mosquitto's other spelling.
fn addresses(b: &mut BridgeConfig, line: &Line<'_>) -> Result<(), ConfigError> {
    if line.args.is_empty() {
        return Err(line.error("expected HOST[:PORT] [HOST[:PORT]...]"));
    }
    for arg in &line.args {
        if b.addresses.len() >= MAX_ADDRESSES {
            return Err(line.error(format!("more than {MAX_ADDRESSES} addresses")));
        }
        b.addresses
            .push(parse_address(arg).map_err(|m| line.error(m))?);
    }
    Ok(())
}

/// `remote_password VALUE`, or `remote_password_file PATH`'s content
/// (`file`): one of the two, once per bridge, so that a password left in
/// the config cannot silently win over the file, or the other way round.
fn remote_password(
    b: &mut BridgeConfig,
    line: &Line<'_>,
    file: Option<String>,
) -> Result<(), ConfigError> {
    if b.remote_password.is_some() {
        return Err(line.error(format!(
            "bridge '{}' already has a password: give remote_password or \
             remote_password_file, once",
            b.name
        )));
    }
    b.remote_password = Some(match file {
        Some(password) => password,
        None => line.one()?.to_owned(),
    });
    Ok(())
}

/// `remote_clientid ID`: 1 to 65535 bytes, what a CONNECT can carry.
fn remote_clientid(line: &Line<'_>) -> Result<String, ConfigError> {
    let v = line.one()?;
    if v.is_empty() || v.len() > usize::from(u16::MAX) {
        return Err(line.error("must be 1 to 65535 bytes"));
    }
    Ok(v.to_owned())
}

/// `keepalive_interval SECONDS`, 1 to 65535 (the CONNECT field is 16 bits).
fn keepalive_interval(line: &Line<'_>) -> Result<u16, ConfigError> {
    let n = line.number(1, u64::from(u16::MAX))?;
    Ok(u16::try_from(n).unwrap_or(u16::MAX))
}

/// `bridge_protocol_version mqttv311|mqttv31|mqttv50`.
fn bridge_protocol_version(line: &Line<'_>) -> Result<BridgeProtocol, ConfigError> {
    match line.one()? {
        "mqttv311" => Ok(BridgeProtocol::V3_1_1),
        "mqttv31" => Ok(BridgeProtocol::V3_1),
        "mqttv50" => Ok(BridgeProtocol::V5),
        v => Err(line.error(format!(
            "expected mqttv311, mqttv31 or mqttv50, got '{}'",
            v.escape_debug()
        ))),
    }
}

/// `bridge_session_expiry_interval DURATION|never` (a bare number is
/// seconds, as in mosquitto 2.1): how long the remote keeps a 5.0 link's
/// session while it is down. `never`, or mosquitto's `0xFFFFFFFF` /
/// `4294967295`, never expires; below it, any interval 32 bits hold.
fn bridge_session_expiry_interval(line: &Line<'_>) -> Result<u32, ConfigError> {
    match line.one()? {
        "never" | "0xFFFFFFFF" | "0xffffffff" | "4294967295" => Ok(SESSION_NEVER_EXPIRES),
        v => {
            let max = Duration::from_secs(u64::from(SESSION_NEVER_EXPIRES - 1));
            let d = values::duration(v, values::Bare::Seconds, max)
                .map_err(|m| line.error(format!("{m}, or 'never'")))?;
            Ok(u32::try_from(d.as_secs()).unwrap_or(SESSION_NEVER_EXPIRES - 1))
        }
    }
}

/// `restart_timeout BASE [CAP]` in seconds: the reconnect backoff, from
/// BASE up to CAP (CAP is BASE when not given).
fn restart_timeout(line: &Line<'_>) -> Result<(Duration, Duration), ConfigError> {
    let secs = |v: &str| {
        values::bounded(v, 1, 86_400)
            .map(Duration::from_secs)
            .map_err(|m| line.error(m))
    };
    let (base, cap) = match line.args.as_slice() {
        [base] => (secs(base)?, secs(base)?),
        [base, cap] => (secs(base)?, secs(cap)?),
        _ => return Err(line.error("expected BASE [CAP] in seconds")),
    };
    if cap < base {
        return Err(line.error("CAP must not be below BASE"));
    }
    Ok((base, cap))
}

/// `topic ...`: one more rule, at most `MAX_TOPIC_RULES` per bridge.
fn topic(b: &mut BridgeConfig, line: &Line<'_>) -> Result<(), ConfigError> {
    if b.topics.len() >= MAX_TOPIC_RULES {
        return Err(line.error(format!("more than {MAX_TOPIC_RULES} topic rules")));
    }
    b.topics.push(parse_topic(line)?);
    Ok(())
}

/// `notification_topic TOPIC`: a topic name, so no wildcards.
fn notification_topic(line: &Line<'_>) -> Result<String, ConfigError> {
    let v = line.one()?;
    if v.contains(['+', '#']) || v.is_empty() {
        return Err(line.error("must be a topic name without wildcards"));
    }
    Ok(v.to_owned())
}

/// `bridge_insecure true|false`; true is warned about, every time.
fn bridge_insecure(
    b: &mut BridgeConfig,
    line: &Line<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    b.tls.insecure = line.boolean()?;
    if b.tls.insecure {
        warnings.push(Warning::new(
            line.file,
            line.number,
            format!(
                "bridge '{}': bridge_insecure true: the remote's certificate and \
                 host name are NOT checked; anyone on the path can read and change \
                 this link",
                b.name
            ),
        ));
    }
    Ok(())
}

/// `bridge_tls_version tlsv1.2|tlsv1.3`: the lowest version offered
/// (tlsv1.2 by default; 1.1 and older are not implemented by rustls).
fn bridge_tls_version(line: &Line<'_>) -> Result<TlsVersion, ConfigError> {
    match line.one()? {
        "tlsv1.2" => Ok(TlsVersion::V1_2),
        "tlsv1.3" => Ok(TlsVersion::V1_3),
        v => Err(line.error(format!(
            "expected tlsv1.2 or tlsv1.3, got '{}'",
            v.escape_debug()
        ))),
    }
}

/// `bridge_alpn PROTOCOL`: the ALPN protocol name offered (AWS IoT on
/// port 443 wants `x-amzn-mqtt-ca`).
fn bridge_alpn(line: &Line<'_>) -> Result<String, ConfigError> {
    let v = line.one()?;
    if v.is_empty() || v.len() > MAX_ALPN_BYTES {
        return Err(line.error(format!(
            "an ALPN protocol name is 1 to {MAX_ALPN_BYTES} bytes"
        )));
    }
    Ok(v.to_owned())
}

/// `HOST[:PORT]`, `[V6]:PORT` or a bare IPv6 literal.
fn parse_address(v: &str) -> Result<BridgeAddress, String> {
    let bad = || format!("expected HOST[:PORT], got '{}'", v.escape_debug());
    let (host, port) = if let Some(rest) = v.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(bad()),
        }
    } else if v.matches(':').count() > 1 {
        (v, None)
    } else {
        match v.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (v, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        Some(p) => values::bounded(p, 1, u64::from(u16::MAX))
            .map_err(|m| format!("port: {m}"))
            .and_then(|n| u16::try_from(n).map_err(|_| bad()))?,
        None => super::DEFAULT_PORT,
    };
    Ok(BridgeAddress {
        host: host.to_owned(),
        port,
    })
}

/// `""` stands for an empty value, as in mosquitto.
fn unquote(v: &str) -> &str {
    if v == "\"\"" {
        ""
    } else {
        v
    }
}

fn parse_topic(line: &Line<'_>) -> Result<TopicRuleConfig, ConfigError> {
    let args = line.args.as_slice();
    if args.is_empty() || args.len() > 5 {
        return Err(
            line.error("expected PATTERN [out|in|both] [QOS] [LOCAL_PREFIX] [REMOTE_PREFIX]")
        );
    }
    let pattern = unquote(args.first().copied().unwrap_or_default());
    let direction = match args.get(1).copied() {
        None | Some("out") => Direction::Out,
        Some("in") => Direction::In,
        Some("both") => Direction::Both,
        Some(v) => {
            return Err(line.error(format!(
                "expected out, in or both, got '{}'",
                v.escape_debug()
            )))
        }
    };
    let qos = match args.get(2).copied() {
        None => QoS::AtMostOnce,
        Some(v) => values::bounded(v, 0, 2)
            .ok()
            .and_then(|n| QoS::from_u8(u8::try_from(n).ok()?))
            .ok_or_else(|| {
                line.error(format!("QoS must be 0, 1 or 2, got '{}'", v.escape_debug()))
            })?,
    };
    let local_prefix = unquote(args.get(3).copied().unwrap_or(""));
    let remote_prefix = unquote(args.get(4).copied().unwrap_or(""));
    for (what, prefix) in [
        ("local prefix", local_prefix),
        ("remote prefix", remote_prefix),
    ] {
        if prefix.contains(['+', '#']) {
            return Err(line.error(format!("{what} '{prefix}' must not contain wildcards")));
        }
    }
    if pattern.is_empty() && (local_prefix.is_empty() || remote_prefix.is_empty()) {
        return Err(line.error(
            "an empty pattern (\"\") needs both prefixes, which are then the whole topics",
        ));
    }
    if let Err(e) = crate::topic::validate_topic_filter(
        &format!("{local_prefix}{pattern}"),
        &crate::topic::TopicLimits::UNBOUNDED,
    ) {
        return Err(line.error(format!("'{local_prefix}{pattern}': {e}")));
    }
    Ok(TopicRuleConfig {
        pattern: pattern.to_owned(),
        direction,
        qos,
        local_prefix: local_prefix.to_owned(),
        remote_prefix: remote_prefix.to_owned(),
    })
}

/// Checks on whole blocks, once the file is read.
pub(super) fn finish(
    bridges: &[BridgeConfig],
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    for b in bridges {
        let error =
            |m: String| ConfigError::new(&b.file, b.line, format!("connection {}: {m}", b.name));
        if b.addresses.is_empty() {
            return Err(error("no address (address HOST:PORT)".to_owned()));
        }
        if b.tls.certfile.is_some() != b.tls.keyfile.is_some() {
            return Err(error(
                "bridge_certfile and bridge_keyfile go together".to_owned(),
            ));
        }
        if b.tls.certfile.is_some() && !b.uses_tls() {
            return Err(error(
                "bridge_certfile needs bridge_cafile or bridge_capath (or bridge_insecure true)"
                    .to_owned(),
            ));
        }
        if (b.tls.alpn.is_some() || b.tls.min_version != TlsVersion::default()) && !b.uses_tls() {
            return Err(error(
                "bridge_alpn and bridge_tls_version need bridge_cafile or bridge_capath: \
                 without them the link is plain TCP"
                    .to_owned(),
            ));
        }
        if b.remote_password.is_some() && b.remote_username.is_none() {
            return Err(error(
                "remote_password without remote_username [MQTT-3.1.2-22]".to_owned(),
            ));
        }
        if b.uses_tls() && !cfg!(feature = "bridge-tls") {
            return Err(error(
                "TLS bridge keys, but this edgemq was built without the bridge-tls feature"
                    .to_owned(),
            ));
        }
        if !cfg!(feature = "bridge") {
            warnings.push(Warning::new(
                &b.file,
                b.line,
                format!(
                    "connection {}: this edgemq was built without the bridge feature; \
                     the bridge will not run",
                    b.name
                ),
            ));
        }
        if let (BridgeProtocol::V5, Some(line)) = (b.protocol, b.try_private_line) {
            warnings.push(Warning::new(
                &b.file,
                line,
                format!(
                    "connection {}: try_private does not apply to mqttv50: a 5.0 link \
                     subscribes with no-local instead (docs/mqtt5.md, Bridges)",
                    b.name
                ),
            ));
        }
        if b.topics.is_empty() {
            warnings.push(Warning::new(
                &b.file,
                b.line,
                format!(
                    "connection {}: no topic rules: nothing will be bridged",
                    b.name
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<(Config, Vec<Warning>), ConfigError> {
        Config::parse_str(text, "b.conf")
    }

    #[test]
    fn defaults_are_mosquittos() {
        let (c, w) = parse("connection cloud\naddress 10.0.0.1\ntopic #").unwrap();
        assert!(w.is_empty(), "{w:?}");
        let b = &c.bridges[0];
        assert_eq!(b.name, "cloud");
        assert_eq!(
            b.addresses,
            [BridgeAddress {
                host: "10.0.0.1".into(),
                port: 1883
            }]
        );
        assert_eq!(
            (b.keepalive, b.clean_session, b.try_private, b.notifications),
            (60, false, true, true)
        );
        assert_eq!((b.restart_base.as_secs(), b.restart_cap.as_secs()), (5, 30));
        assert_eq!(b.protocol, BridgeProtocol::V3_1_1);
        assert_eq!(
            (b.max_queued_messages, b.max_queued_bytes),
            (10_000, 16 << 20)
        );
        let t = &b.topics[0];
        assert_eq!(
            (t.pattern.as_str(), t.direction, t.qos),
            ("#", Direction::Out, QoS::AtMostOnce)
        );
        assert!(!b.uses_tls());
    }

    #[test]
    fn full_block_and_two_bridges() {
        let text = "\
connection a
addresses 127.0.0.1:1884 [::1]:1885 ::1 host.example:99
remote_clientid edge-1
remote_username u
remote_password p
keepalive_interval 5
cleansession true
bridge_protocol_version mqttv31
try_private false
restart_timeout 2
topic sensors/# out 1 edge/ site1/
topic cmd/+ in 2 \"\" devices/
topic \"\" both 1 local/state remote/state
notifications false
notification_topic bridges/a
bridge_max_queued_messages 50
bridge_max_queued_bytes 4096
connection b
address 10.0.0.2:8883
bridge_cafile /etc/ca.pem
bridge_certfile /etc/c.pem
bridge_keyfile /etc/k.pem
bridge_tls_version tlsv1.3
topic # both 2
";
        let (c, _) = parse(text).unwrap();
        let a = &c.bridges[0];
        assert_eq!(a.addresses.len(), 4);
        assert_eq!(a.addresses[1].to_string(), "[::1]:1885");
        assert_eq!(a.addresses[2].port, 1883);
        assert_eq!(a.addresses[3].host, "host.example");
        assert_eq!(a.remote_clientid.as_deref(), Some("edge-1"));
        assert_eq!(
            (a.keepalive, a.clean_session, a.try_private),
            (5, true, false)
        );
        assert_eq!(a.protocol, BridgeProtocol::V3_1);
        assert_eq!((a.restart_base.as_secs(), a.restart_cap.as_secs()), (2, 2));
        assert_eq!(a.topics[0].local_prefix, "edge/");
        assert_eq!(a.topics[0].remote_prefix, "site1/");
        assert_eq!(a.topics[1].local_prefix, "");
        assert_eq!(a.topics[1].direction, Direction::In);
        assert_eq!(a.topics[2].pattern, "");
        assert_eq!(a.notification_topic.as_deref(), Some("bridges/a"));
        assert_eq!((a.max_queued_messages, a.max_queued_bytes), (50, 4096));
        let b = &c.bridges[1];
        assert!(b.uses_tls());
        assert_eq!(b.topics[0].qos, QoS::ExactlyOnce);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("topic # out").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("outside a connection"), "{e}");
        let e = parse("connection a\naddress x:99999").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("connection a\naddress x\ntopic # sideways").unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse("connection a\naddress x\ntopic # out 3").unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse("connection a\naddress x\ntopic # out 1 a/+/").unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse("connection a\naddress x\nbridge_protocol_version mqttv5").unwrap_err();
        assert!(e.message.contains("mqttv50"), "{e}");
        let e = parse("connection a\naddress x\nbridge_session_expiry_interval 1x").unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse("connection a\naddress x\nrestart_timeout 30 5").unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse("connection a\n\nconnection a").unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse("connection a\ntopic #").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("no address"), "{e}");
        let e =
            parse("connection a\naddress x\nbridge_certfile c.pem\nbridge_cafile ca").unwrap_err();
        assert!(e.message.contains("go together"), "{e}");
    }

    #[test]
    fn mqttv50_session_expiry_and_try_private() {
        let block = "connection a\naddress x\ntopic #\nbridge_protocol_version mqttv50\n";
        let (c, w) = parse(block).unwrap();
        assert!(w.is_empty(), "{w:?}");
        let b = &c.bridges[0];
        assert_eq!(b.protocol, BridgeProtocol::V5);
        assert_eq!(b.session_expiry, DEFAULT_BRIDGE_SESSION_EXPIRY);
        for (v, secs) in [
            ("600", 600),
            ("1d", 86_400),
            ("0", 0),
            ("never", u32::MAX),
            ("0xFFFFFFFF", u32::MAX),
            ("4294967295", u32::MAX),
        ] {
            let (c, _) = parse(&format!("{block}bridge_session_expiry_interval {v}")).unwrap();
            assert_eq!(c.bridges[0].session_expiry, secs, "{v}");
        }
        let (_, w) = parse(&format!("{block}try_private true")).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].message.contains("no-local"), "{w:?}");
        assert_eq!(w[0].line, 5);
    }

    #[test]
    fn unimplemented_security_keys_are_refused_not_ignored() {
        // Ignored, each would leave the link plain or unchecked.
        for (key, line) in [
            ("bridge_psk 0123abcd", "certificates"),
            ("bridge_identity edge-1", "certificates"),
            ("bridge_require_ocsp true", "revocation"),
        ] {
            let e = parse(&format!("connection a\naddress x:8883\ntopic #\n{key}")).unwrap_err();
            assert_eq!(e.line, 4, "{e}");
            assert!(e.message.contains("not available yet"), "{e}");
            assert!(e.message.contains(line), "{e}");
        }
    }

    #[test]
    fn tls_keys() {
        let block = "connection a\naddress cloud.example:8883\ntopic #\n";
        let (c, _) = parse(&format!("{block}bridge_capath /etc/ssl/certs")).unwrap();
        let tls = &c.bridges[0].tls;
        assert!(c.bridges[0].uses_tls());
        assert_eq!(tls.capath.as_ref().unwrap().line, 4);
        assert_eq!(tls.min_version, TlsVersion::V1_2, "the default");
        let (c, _) = parse(&format!(
            "{block}bridge_cafile ca.pem\nbridge_tls_version tlsv1.3\nbridge_alpn x-amzn-mqtt-ca"
        ))
        .unwrap();
        let tls = &c.bridges[0].tls;
        assert_eq!(tls.min_version, TlsVersion::V1_3);
        assert_eq!(tls.alpn.as_deref(), Some("x-amzn-mqtt-ca"));
        let (c, _) = parse(&format!(
            "{block}bridge_cafile ca.pem\nbridge_tls_version tlsv1.2"
        ))
        .unwrap();
        assert_eq!(c.bridges[0].tls.min_version, TlsVersion::V1_2);
        // Anything else names the key and the value.
        for v in ["tlsv1.1", "tlsv1", "TLSv1.3", "1.3"] {
            let e = parse(&format!(
                "{block}bridge_cafile ca.pem\nbridge_tls_version {v}"
            ))
            .unwrap_err();
            assert_eq!(e.line, 5, "{e}");
            assert!(e.message.contains("bridge_tls_version"), "{e}");
            assert!(e.message.contains(&format!("'{v}'")), "{e}");
        }
        let long = "x".repeat(MAX_ALPN_BYTES + 1);
        let e = parse(&format!("{block}bridge_cafile ca.pem\nbridge_alpn {long}")).unwrap_err();
        assert!(e.message.contains("bridge_alpn"), "{e}");
        // Without a CA the link would be plain: these keys would mean nothing.
        for key in ["bridge_alpn mqtt", "bridge_tls_version tlsv1.3"] {
            let e = parse(&format!("{block}{key}")).unwrap_err();
            assert!(e.message.contains("plain TCP"), "{e}");
        }
    }

    #[test]
    fn insecure_is_loud_and_unimplemented_keys_warn() {
        let (_, w) =
            parse("connection a\naddress x\ntopic #\nbridge_insecure true\nstart_type lazy")
                .unwrap();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].message.contains("NOT checked"));
        assert_eq!(w[1].line, 5);
    }
}

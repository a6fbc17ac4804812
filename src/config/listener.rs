//! `listener PORT [ADDRESS]`: where edgemq accepts connections.
//!
//! Addresses are IP literals only (plus `localhost`, read as 127.0.0.1): a
//! name would need a resolver at startup, and on a router at boot DNS is
//! often not up yet. Without an address a listener takes every interface, as
//! in mosquitto. `listener 0 PATH` is a unix socket (unix_socket.rs).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::unix_socket::UnixSocket;
use super::websocket::{ListenerProtocol, DEFAULT_WEBSOCKETS_PATH};

/// One listening socket (or, without an address, one per address family).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// TCP port; 0 asks the OS for an ephemeral port (tests use it).
    pub port: u16,
    /// An IP literal in canonical form; `None` = all interfaces.
    pub address: Option<String>,
    /// The file that defined it; empty for the built-in default listener.
    pub file: String,
    /// The line that defined it; 0 for the built-in default listener.
    pub line: usize,
    // Unix socket listeners and per-listener caps (unix_socket.rs).
    /// `listener 0 PATH`: a unix socket; `port` is 0 and `address` `None`.
    pub unix: Option<UnixSocket>,
    /// `max_connections` after this `listener` line; the global cap
    /// applies too.
    pub max_connections: Option<usize>,
    /// `max_connection_rate` after this `listener` line (rate_limits.rs);
    /// `None`: the default from before the first listener line.
    pub max_connection_rate: Option<u32>,
    // --- WebSocket (config/websocket.rs) ---
    /// `protocol`: MQTT, or MQTT over WebSocket.
    pub protocol: ListenerProtocol,
    /// `websockets_path`: where a WebSocket listener takes upgrades.
    pub websockets_path: String,
    /// TLS keys after the `listener` line (config/tls.rs); `None`: plain TCP.
    pub tls: Option<Box<super::tls::TlsListenerConfig>>,
    /// Its own security keys, with `per_listener_settings true`
    /// (config/per_listener.rs).
    pub security: super::per_listener::ListenerSecurity,
}

impl ListenerConfig {
    /// What to bind, in order.
    ///
    /// Without an address: `[::]:port` first, then `0.0.0.0:port`. On Linux a
    /// `[::]` socket is dual-stack by default (net.ipv6.bindv6only = 0), so
    /// the second bind then fails with `AddrInUse` and can be ignored; on a
    /// kernel without IPv6 the first fails and the second serves IPv4. With
    /// an address: exactly that address. A unix socket: none.
    pub fn socket_addrs(&self) -> Vec<SocketAddr> {
        if self.unix.is_some() {
            return Vec::new();
        }
        match &self.address {
            None => vec![
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), self.port),
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), self.port),
            ],
            Some(a) => match a.parse::<IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, self.port)],
                // Only reachable if a caller built the struct by hand with a
                // name in it; the parser stores literals only.
                Err(_) => Vec::new(),
            },
        }
    }

    /// A listener on `port` (and `address`) speaking MQTT, defined at
    /// `file`:`line`.
    pub(crate) fn new(port: u16, address: Option<String>, file: &str, line: usize) -> Self {
        ListenerConfig {
            port,
            address,
            file: file.to_owned(),
            line,
            unix: None,
            max_connections: None,
            max_connection_rate: None,
            protocol: ListenerProtocol::Mqtt,
            websockets_path: DEFAULT_WEBSOCKETS_PATH.to_owned(),
            tls: None,
            security: Default::default(),
        }
    }

    /// Whether two listeners would bind the same socket.
    pub(crate) fn overlaps(&self, other: &ListenerConfig) -> bool {
        match (&self.unix, &other.unix) {
            (Some(a), Some(b)) => return a.path == b.path,
            (None, None) => {}
            _ => return false,
        }
        if self.port == 0 || self.port != other.port {
            return false;
        }
        match (&self.address, &other.address) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

impl std::fmt::Display for ListenerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(unix) = &self.unix {
            return write!(f, "unix:{}", unix.path.display());
        }
        match &self.address {
            None => write!(f, "*:{}", self.port),
            Some(a) if a.contains(':') => write!(f, "[{a}]:{}", self.port),
            Some(a) => write!(f, "{a}:{}", self.port),
        }
    }
}

/// The ADDRESS argument: an IPv4 literal, an IPv6 literal with or without
/// brackets, or `localhost`. Returns the canonical text of the address.
pub(crate) fn parse_address(v: &str) -> Result<String, String> {
    if v.eq_ignore_ascii_case("localhost") {
        return Ok(Ipv4Addr::LOCALHOST.to_string());
    }
    let literal = v
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(v);
    literal
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| {
            format!(
                "expected an IPv4 or IPv6 address literal, got '{v}' (host names are not resolved)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(port: u16, address: Option<&str>) -> ListenerConfig {
        ListenerConfig::new(port, address.map(str::to_owned), "", 1)
    }

    fn unix(path: &str) -> ListenerConfig {
        ListenerConfig {
            unix: Some(super::super::unix_socket::socket(0, path).unwrap()),
            ..listener(0, None)
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_address("127.0.0.1").as_deref(), Ok("127.0.0.1"));
        assert_eq!(parse_address("::1").as_deref(), Ok("::1"));
        assert_eq!(parse_address("[::1]").as_deref(), Ok("::1"));
        assert_eq!(parse_address("0:0::1").as_deref(), Ok("::1"));
        assert_eq!(parse_address("localhost").as_deref(), Ok("127.0.0.1"));
        assert!(parse_address("example.com").is_err());
        assert!(parse_address("[::1").is_err());
        assert!(parse_address("1.2.3.4:1883").is_err());
    }

    #[test]
    fn socket_addrs() {
        let any = listener(1883, None).socket_addrs();
        assert_eq!(any.len(), 2);
        assert_eq!(
            any.first().map(|a| a.to_string()).as_deref(),
            Some("[::]:1883")
        );
        assert_eq!(
            any.get(1).map(|a| a.to_string()).as_deref(),
            Some("0.0.0.0:1883")
        );
        let one = listener(0, Some("::1")).socket_addrs();
        assert_eq!(one, vec!["[::1]:0".parse().unwrap()]);
        assert!(listener(1, Some("not an ip")).socket_addrs().is_empty());
        assert!(unix("/run/edgemq.sock").socket_addrs().is_empty());
    }

    #[test]
    fn overlap() {
        assert!(listener(1883, None).overlaps(&listener(1883, Some("10.0.0.1"))));
        assert!(listener(1883, Some("::1")).overlaps(&listener(1883, Some("::1"))));
        assert!(!listener(1883, Some("::1")).overlaps(&listener(1883, Some("127.0.0.1"))));
        assert!(!listener(1883, None).overlaps(&listener(1884, None)));
        assert!(!listener(0, None).overlaps(&listener(0, None)));
        assert!(unix("/run/a.sock").overlaps(&unix("/run/a.sock")));
        assert!(!unix("/run/a.sock").overlaps(&unix("/run/b.sock")));
        assert!(!unix("/run/a.sock").overlaps(&listener(0, None)));
        assert!(!listener(0, None).overlaps(&unix("/run/a.sock")));
    }

    #[test]
    fn display() {
        assert_eq!(listener(1883, None).to_string(), "*:1883");
        assert_eq!(listener(1883, Some("::1")).to_string(), "[::1]:1883");
        assert_eq!(
            listener(1883, Some("10.0.0.1")).to_string(),
            "10.0.0.1:1883"
        );
        assert_eq!(unix("/run/a.sock").to_string(), "unix:/run/a.sock");
    }
}

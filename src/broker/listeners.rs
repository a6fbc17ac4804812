//! The listeners as the broker sees them: which listener each connection
//! came through, each listener's `max_connections` (under the global cap),
//! live count and `max_connection_rate` bucket, and the name a unix socket
//! peer goes by in log lines.
//!
//! A connection keeps its [`ListenerId`] in the padding of its peer's
//! address (`connections::Origin`), so the listener costs it nothing; a
//! unix socket peer has no address (`PeerAddr::Unix`), and its listener's
//! path, shared by every connection through it, names it in log lines
//! ([`PeerName`]). Built once from `Settings::listeners`; listeners change
//! only with a restart.

use std::fmt;
use std::rc::Rc;

use std::time::Instant;

use crate::config::{limits::MAX_LISTENERS, rate_limits, Config, ListenerProtocol};

use super::connections::{Origin, PeerAddr};
use super::handshake::HandshakeStage;
use super::token_bucket::{Rate, TokenBucket};

// A listener's index must fit the byte a connection keeps.
const _: () = assert!(MAX_LISTENERS <= u8::MAX as usize + 1);

/// Which configured listener (its index in the config, in file order) a
/// connection came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerId(u8);

impl ListenerId {
    /// `None` past the 256th listener (the config allows `MAX_LISTENERS`).
    pub fn new(index: usize) -> Option<ListenerId> {
        u8::try_from(index).ok().map(ListenerId)
    }

    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// One listener's part of the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSettings {
    /// As the config names it: `192.168.1.1:1883`, `*:1883`,
    /// `unix:/run/edgemq/edgemq.sock`.
    pub label: String,
    pub unix: bool,
    /// `None`: only the global `max_connections`.
    pub max_connections: Option<usize>,
    /// Its connections start with a TLS handshake.
    pub tls: bool,
    /// Its connections speak MQTT over WebSocket (after TLS, if any).
    pub websocket: bool,
    /// New connections per second (its own or the default); 0: no limit.
    pub max_connection_rate: u32,
}

impl ListenerSettings {
    pub fn from_config(config: &Config) -> Vec<ListenerSettings> {
        config
            .listeners
            .iter()
            .map(|l| ListenerSettings {
                label: l.to_string(),
                unix: l.unix.is_some(),
                max_connections: l.max_connections,
                tls: l.tls.is_some(),
                websocket: l.protocol == ListenerProtocol::WebSockets,
                max_connection_rate: rate_limits::listener_connection_rate(config, l),
            })
            .collect()
    }
}

struct Entry {
    /// Shared with the [`PeerName`]s of its unix socket peers.
    label: Rc<str>,
    unix: bool,
    max_connections: Option<usize>,
    tls: bool,
    websocket: bool,
    live: usize,
    /// Refused at this listener's own cap since the start.
    refused: u64,
    /// `None`: no `max_connection_rate`.
    connection_rate: Option<Rate>,
    accepts: TokenBucket,
    /// Closed over the rate since the start.
    rate_limited: u64,
}

/// The listener table; a [`ListenerId`] it does not know (a broker built
/// without listeners, as in unit tests) has no cap of its own.
pub(super) struct ListenerTable {
    entries: Vec<Entry>,
}

/// Why a listener will not take another connection.
pub(super) struct ListenerFull {
    pub(super) label: Rc<str>,
    pub(super) max_connections: usize,
    pub(super) refused: u64,
}

/// A listener over its `max_connection_rate`.
pub(super) struct ListenerOverRate {
    pub(super) label: Rc<str>,
    pub(super) rate: u32,
    /// Closed over the rate on this listener so far, this one included.
    pub(super) closed: u64,
}

impl ListenerTable {
    pub(super) fn new(settings: &[ListenerSettings]) -> ListenerTable {
        let entries = settings
            .iter()
            .map(|s| Entry {
                label: Rc::from(s.label.as_str()),
                unix: s.unix,
                max_connections: s.max_connections,
                tls: s.tls,
                websocket: s.websocket,
                live: 0,
                refused: 0,
                connection_rate: Rate::per_second(s.max_connection_rate),
                accepts: TokenBucket::default(),
                rate_limited: 0,
            })
            .collect();
        ListenerTable { entries }
    }

    /// Refuses (and counts) a connection over the listener's own cap.
    pub(super) fn check_room(&mut self, id: ListenerId) -> Result<(), ListenerFull> {
        let Some(entry) = self.entries.get_mut(id.index()) else {
            return Ok(());
        };
        match entry.max_connections {
            Some(max) if entry.live >= max => {
                entry.refused += 1;
                Err(ListenerFull {
                    label: entry.label.clone(),
                    max_connections: max,
                    refused: entry.refused,
                })
            }
            _ => Ok(()),
        }
    }

    /// Takes a token from the listener's `max_connection_rate` bucket for
    /// a socket just accepted; refuses (and counts) it when there is none.
    pub(super) fn admit(&mut self, now: Instant, id: ListenerId) -> Result<(), ListenerOverRate> {
        let Some(entry) = self.entries.get_mut(id.index()) else {
            return Ok(());
        };
        let Some(rate) = entry.connection_rate else {
            return Ok(());
        };
        if entry.accepts.try_take(now, 1, rate) {
            return Ok(());
        }
        entry.rate_limited += 1;
        Err(ListenerOverRate {
            label: entry.label.clone(),
            rate: rate.get(),
            closed: entry.rate_limited,
        })
    }

    pub(super) fn opened(&mut self, id: ListenerId) {
        if let Some(entry) = self.entries.get_mut(id.index()) {
            entry.live += 1;
        }
    }

    pub(super) fn closed(&mut self, id: ListenerId) {
        if let Some(entry) = self.entries.get_mut(id.index()) {
            entry.live = entry.live.saturating_sub(1);
        }
    }

    /// The handshake a new connection of this listener starts in.
    pub(super) fn first_handshake(&self, id: ListenerId) -> Option<HandshakeStage> {
        let entry = self.entries.get(id.index())?;
        if entry.tls {
            return Some(HandshakeStage::Tls);
        }
        entry.websocket.then_some(HandshakeStage::WebSocketUpgrade)
    }

    /// The handshake that follows TLS on this listener: the WebSocket
    /// upgrade of `wss://`, or none.
    pub(super) fn handshake_after_tls(&self, id: ListenerId) -> Option<HandshakeStage> {
        let entry = self.entries.get(id.index())?;
        entry.websocket.then_some(HandshakeStage::WebSocketUpgrade)
    }

    /// How a peer is named in log lines.
    pub(super) fn peer_name(&self, origin: Origin) -> PeerName {
        let unix_label = match origin {
            Origin::Unix { listener } => self
                .entries
                .get(listener.index())
                .filter(|e| e.unix)
                .map(|e| e.label.clone()),
            Origin::Ip { .. } => None,
        };
        PeerName {
            addr: origin.peer(),
            unix_label,
        }
    }

    /// How a listener is named (its config line's address).
    pub(super) fn label(&self, id: ListenerId) -> String {
        self.entries
            .get(id.index())
            .map_or_else(String::new, |e| e.label.to_string())
    }

    /// Each listener's numbers (`$SYS`, the admin API).
    pub(super) fn numbers(&self) -> Vec<crate::sys::ListenerNumbers> {
        self.entries
            .iter()
            .map(|e| crate::sys::ListenerNumbers {
                label: e.label.to_string(),
                connections: e.live as u64,
                refused: e.refused,
                rate_limited: e.rate_limited,
            })
            .collect()
    }

    /// One line per listener: live connections, cap, refusals, and with a
    /// `max_connection_rate` the connections closed over it (SIGUSR1).
    pub(super) fn report(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| {
                let cap = e
                    .max_connections
                    .map_or_else(String::new, |max| format!(" of max_connections {max}"));
                let rate = e.connection_rate.map_or_else(String::new, |rate| {
                    format!(
                        ", {} closed over max_connection_rate {}/s",
                        e.rate_limited,
                        rate.get()
                    )
                });
                format!(
                    "listener {}: {} connections{cap}, {} refused at its cap{rate}",
                    e.label, e.live, e.refused
                )
            })
            .collect()
    }
}

/// A peer as log lines name it: its IP address and port, or its unix
/// socket listener (`unix:/run/edgemq/edgemq.sock`).
#[derive(Debug, Clone)]
pub struct PeerName {
    addr: PeerAddr,
    unix_label: Option<Rc<str>>,
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.unix_label {
            Some(label) => f.write_str(label),
            None => fmt::Display::fmt(&self.addr, f),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn table() -> ListenerTable {
        ListenerTable::new(&[
            ListenerSettings {
                label: "127.0.0.1:1883".to_owned(),
                unix: false,
                max_connections: Some(1),
                tls: false,
                websocket: false,
                max_connection_rate: 0,
            },
            ListenerSettings {
                label: "unix:/run/edgemq/edgemq.sock".to_owned(),
                unix: true,
                max_connections: None,
                tls: false,
                websocket: false,
                max_connection_rate: 2,
            },
        ])
    }

    #[test]
    fn a_listener_cap_counts_its_own_connections() {
        let mut t = table();
        let (tcp, unix) = (ListenerId::new(0).unwrap(), ListenerId::new(1).unwrap());
        assert!(t.check_room(tcp).is_ok());
        t.opened(tcp);
        let full = t.check_room(tcp).err().unwrap();
        assert_eq!((full.max_connections, full.refused), (1, 1));
        assert_eq!(t.check_room(tcp).err().unwrap().refused, 2);
        // The other listener has no cap of its own.
        for _ in 0..3 {
            assert!(t.check_room(unix).is_ok());
            t.opened(unix);
        }
        t.closed(tcp);
        assert!(t.check_room(tcp).is_ok());
        // An unknown listener (no listener table) has no cap.
        assert!(t.check_room(ListenerId::new(9).unwrap()).is_ok());
        assert_eq!(
            t.report()[0],
            "listener 127.0.0.1:1883: 0 connections of max_connections 1, 2 refused at its cap"
        );
    }

    #[test]
    fn a_listener_rate_admits_its_burst_then_its_rate() {
        let mut t = table();
        let (tcp, unix) = (ListenerId::new(0).unwrap(), ListenerId::new(1).unwrap());
        let t0 = Instant::now();
        // Burst 2, then one every 500 ms.
        assert!(t.admit(t0, unix).is_ok());
        assert!(t.admit(t0, unix).is_ok());
        let over = t.admit(t0, unix).err().unwrap();
        assert_eq!((over.rate, over.closed), (2, 1));
        assert_eq!(t.admit(t0, unix).err().unwrap().closed, 2);
        let half = std::time::Duration::from_millis(500);
        assert!(t.admit(t0 + half, unix).is_ok());
        assert!(t.admit(t0 + half, unix).is_err());
        // No rate: every accept is admitted.
        assert!((0..100).all(|_| t.admit(t0, tcp).is_ok()));
        assert_eq!(
            t.report()[1],
            "listener unix:/run/edgemq/edgemq.sock: 0 connections, 0 refused at its cap, \
             3 closed over max_connection_rate 2/s"
        );
    }

    #[test]
    fn peers_are_named_by_address_or_socket_path() {
        let t = table();
        let ip: PeerAddr = "192.0.2.1:40000"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into();
        let name = |index, peer| t.peer_name(Origin::new(ListenerId::new(index).unwrap(), peer));
        assert_eq!(name(0, ip).to_string(), "192.0.2.1:40000");
        let unix = name(1, PeerAddr::Unix);
        assert_eq!(unix.to_string(), "unix:/run/edgemq/edgemq.sock");
        let unknown = name(7, PeerAddr::Unix);
        assert_eq!(unknown.to_string(), "unix");
    }
}

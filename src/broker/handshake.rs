//! What a transport's handshake tells the broker about a connection before
//! its CONNECT: how far the handshake got (TLS, then on a `wss://`
//! listener the WebSocket upgrade), the username a client certificate
//! gives (TLS listeners with `use_identity_as_username` /
//! `use_subject_as_username`), or why the handshake was refused.
//!
//! The stage lives in the connection's `AwaitingConnect` state (no bytes
//! of its own), so a `connect_timeout` that strikes mid-handshake is
//! counted and logged as such (`timeouts.rs`). Refusals are counted and
//! logged rate-limited with the peer's address (README.md ## Limits and
//! refusals); the network layer closes the connection.
//!
//! The names wait in a side table, not in `Connection`: plain connections,
//! the many, pay nothing for them, and each is taken by the CONNECT it
//! belongs to (or dropped with its connection).

use std::collections::HashMap;
use std::fmt;
use std::time::Instant;

use super::connections::{ConnId, ConnState};
use super::stats::LogKind;
use super::Broker;

/// A transport handshake a connection has not finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeStage {
    Tls,
    WebSocketUpgrade,
}

impl fmt::Display for HandshakeStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandshakeStage::Tls => "in the TLS handshake",
            HandshakeStage::WebSocketUpgrade => "in the WebSocket upgrade",
        })
    }
}

impl Broker {
    /// The connection's TLS handshake ended; on a `wss://` listener the
    /// WebSocket upgrade comes next.
    pub fn handle_tls_established(&mut self, conn: ConnId) {
        let Some(connection) = self.connections.get(conn) else {
            return;
        };
        let next = self
            .listeners
            .handshake_after_tls(connection.origin.listener());
        self.advance_handshake(conn, HandshakeStage::Tls, next);
    }

    /// The connection's WebSocket upgrade was answered 101.
    pub fn handle_websocket_upgraded(&mut self, conn: ConnId) {
        self.advance_handshake(conn, HandshakeStage::WebSocketUpgrade, None);
    }

    fn advance_handshake(
        &mut self,
        conn: ConnId,
        done: HandshakeStage,
        next: Option<HandshakeStage>,
    ) {
        if let Some(connection) = self.connections.get_mut(conn) {
            if let ConnState::AwaitingConnect { handshake } = &mut connection.state {
                if *handshake == Some(done) {
                    *handshake = next;
                }
            }
        }
    }

    /// The connection's listener takes usernames from client certificates:
    /// this is its client's (`None`: no certificate, or no usable name in
    /// it, and the CONNECT will be refused). Comes before CONNECT.
    pub fn handle_certificate_username(&mut self, conn: ConnId, name: Option<Box<str>>) {
        if self.connections.get(conn).is_some() {
            self.certificate_usernames.insert(conn, name);
        }
    }

    /// The TLS handshake failed: counted and logged (rate-limited) with the
    /// peer's address; the network layer closes the connection.
    pub fn handle_handshake_failure(&mut self, now: Instant, conn: ConnId, why: &str) {
        self.stats.tls_handshake_failures += 1;
        let peer = self.peer_label(conn);
        self.logs.warn(LogKind::Handshake, now, || {
            format!("TLS handshake with {peer} failed: {why}")
        });
    }

    /// The WebSocket upgrade was refused with this HTTP status (the
    /// network layer has written it and closes): counted and logged
    /// (rate-limited) with the peer's address.
    pub fn handle_websocket_refused(&mut self, now: Instant, conn: ConnId, status: u16, why: &str) {
        self.stats.websocket_upgrades_refused += 1;
        let peer = self.peer_label(conn);
        self.logs.warn(LogKind::WebSocketUpgrade, now, || {
            format!("WebSocket upgrade from {peer} refused: {status} {why}")
        });
    }

    /// A WebSocket frame broke a rule (unmasked, text, too long, ...): the
    /// network layer sends a Close with `close_code` and ends the
    /// connection. Counted and logged (rate-limited) with the peer's address.
    pub fn handle_websocket_frame_error(
        &mut self,
        now: Instant,
        conn: ConnId,
        close_code: u16,
        why: &str,
    ) {
        self.stats.websocket_frame_errors += 1;
        let peer = self.peer_label(conn);
        let client = self.client_label(conn);
        let who = if client == peer {
            peer
        } else {
            format!("{client} ({peer})")
        };
        self.logs.warn(LogKind::WebSocketFrame, now, || {
            format!("closing WebSocket of {who} with {close_code}: {why}")
        });
    }

    fn peer_label(&self, conn: ConnId) -> String {
        self.peer_name(conn)
            .map_or_else(String::new, |p| p.to_string())
    }

    /// The username a certificate gave this connection: `None` when its
    /// listener does not take them (CONNECT's username counts), `Some(None)`
    /// when it does and the client has none.
    pub(super) fn take_certificate_username(&mut self, conn: ConnId) -> Option<Option<Box<str>>> {
        let name = self.certificate_usernames.remove(&conn);
        if self.certificate_usernames.is_empty() && self.certificate_usernames.capacity() > 0 {
            // A burst of handshakes grew the table; none waits now, so it
            // holds nothing past the burst.
            self.certificate_usernames = HashMap::new();
        }
        name
    }
}

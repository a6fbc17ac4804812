//! What a transport's handshake tells the broker about a connection before
//! its CONNECT: the username a client certificate gives (TLS listeners with
//! `use_identity_as_username` / `use_subject_as_username`), or that the
//! handshake failed.
//!
//! The names wait in a side table, not in `Connection`: plain connections,
//! the many, pay nothing for them, and each is taken by the CONNECT it
//! belongs to (or dropped with its connection).

use std::time::Instant;

use super::connections::ConnId;
use super::stats::LogKind;
use super::Broker;

impl Broker {
    /// The connection's listener takes usernames from client certificates:
    /// this is its client's (`None`: no certificate, or no usable name in
    /// it, and the CONNECT will be refused). Comes before CONNECT.
    pub fn handle_certificate_username(&mut self, conn: ConnId, name: Option<Box<str>>) {
        if self.connections.get(conn).is_some() {
            self.certificate_usernames.insert(conn, name);
        }
    }

    /// The transport's handshake failed: counted and logged (rate-limited)
    /// with the peer's address; the network layer closes the connection.
    pub fn handle_handshake_failure(&mut self, now: Instant, conn: ConnId, why: &str) {
        self.stats.tls_handshake_failures += 1;
        let peer = self
            .peer_name(conn)
            .map_or_else(String::new, |p| p.to_string());
        self.logs.warn(LogKind::Handshake, now, || {
            format!("TLS handshake with {peer} failed: {why}")
        });
    }

    /// The username a certificate gave this connection: `None` when its
    /// listener does not take them (CONNECT's username counts), `Some(None)`
    /// when it does and the client has none.
    pub(super) fn take_certificate_username(&mut self, conn: ConnId) -> Option<Option<Box<str>>> {
        self.certificate_usernames.remove(&conn)
    }
}

//! TLS with rustls and ring, for listeners (feature `tls`) and bridges
//! (feature `bridge-tls`): one record layer for both, [`TlsStream`], a
//! TCP socket with a rustls connection on it, driven sans-IO style
//! (rustls never touches the socket: we hand it bytes and take its output)
//! behind the same [`ByteStream`] the connection task drives for plain TCP
//! (docs/transports.md).
//!
//! Owns: the record layer of one connection (`stream.rs`), reading PEM
//! certificates and keys (`pem.rs`), the listener's side ([`Acceptor`] in
//! `acceptor.rs`, its rustls configuration built by `server_config.rs`
//! from the config's TLS keys, and what its handshake tells the broker:
//! the certificate's name as username, or why the handshake failed) and
//! the bridge's side ([`Connector`] in `connector.rs`, built from the
//! bridge's keys at each connect, and how it checks the remote's
//! certificate, `server_check.rs`). It must not buffer plaintext of its
//! own: decrypted bytes go straight into the reader's buffer (a
//! connection task's shared scratch buffer, a bridge's read buffer).
//!
//! A listener's handshake runs inside the connection's own task, with the
//! broker's connection slot taken at accept: `max_connections` bounds
//! handshakes in progress like connections, and `connect_timeout` (no
//! CONNECT in time) closes a handshake that stalls, as no CONNECT can come
//! before it ends. A bridge runs its handshake to the end
//! (`poll_handshake`) before its session starts, within the connect
//! timeout.
//!
//! Invariants: `read` returns plaintext before it reads the socket again,
//! and never calls `read_tls` while plaintext is waiting (rustls' plaintext
//! buffer stays below one record); `poll_readable` is ready while rustls
//! holds plaintext, an unreported close or an error; TLS output (handshake
//! flights, alerts, records) is flushed before any wait, and while some is
//! left the task also waits for the socket to be writable. What rustls
//! buffers per connection is capped by `set_buffer_limit` (`TLS_BUFFER_LIMIT`).
//!
//! [`ByteStream`]: super::connection::ByteStream

mod pem;
mod stream;

#[cfg(feature = "tls")]
mod acceptor;
#[cfg(feature = "tls")]
mod server_config;
#[cfg(feature = "tls")]
pub(crate) mod subject;

#[cfg(feature = "bridge-tls")]
mod connector;
#[cfg(feature = "bridge-tls")]
mod server_check;

#[cfg(feature = "tls")]
pub(in crate::net) use acceptor::{check, Acceptor};
#[cfg(feature = "bridge-tls")]
pub(in crate::net) use connector::{check as check_bridges, describe, Connector};
#[cfg(feature = "bridge-tls")]
pub(in crate::net) use stream::TlsStream;

// clippy.toml's test allowances do not reach a module gated on
// `all(test, ...)`: its helper functions need the allowance here.
#[cfg(all(test, feature = "tls"))]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;

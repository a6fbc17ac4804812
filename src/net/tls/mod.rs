//! TLS on a listener: [`TlsStream`] is a TCP socket with a rustls
//! `ServerConnection` on it, driven sans-IO style (rustls never touches
//! the socket: we hand it bytes and take its output) behind the same
//! [`ByteStream`] the connection task drives for plain TCP
//! (docs/transports.md).
//!
//! Owns: the listener's rustls configuration ([`Acceptor`], built by
//! `server_config.rs` from the config's TLS keys), the record layer of one
//! connection, and what its handshake tells the broker (the certificate's
//! name as username, or why the handshake failed). It must not buffer
//! plaintext of its own: decrypted bytes go straight into the task's
//! shared scratch buffer.
//!
//! The handshake runs inside the connection's own task, with the broker's
//! connection slot taken at accept: `max_connections` bounds handshakes in
//! progress like connections, and `connect_timeout` (no CONNECT in time)
//! closes a handshake that stalls, as no CONNECT can come before it ends.
//!
//! Invariants: `read` returns plaintext before it reads the socket again,
//! and never calls `read_tls` while plaintext is waiting (rustls' plaintext
//! buffer stays below one record); `poll_readable` is ready while rustls
//! holds plaintext, an unreported close or an error; TLS output (handshake
//! flights, alerts, records) is flushed before any wait, and while some is
//! left the task also waits for the socket to be writable. What rustls
//! buffers per connection is capped by `set_buffer_limit` (`TLS_BUFFER_LIMIT`).

mod server_config;
pub(crate) mod subject;

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::task::{Context, Poll};

use async_io::Async;
use rustls::{ServerConfig, ServerConnection};

use crate::config::tls::{CertUsername, TlsListenerConfig};
use crate::config::{ConfigError, ListenerConfig};

use super::connection::{ByteStream, Handshake};
use super::TlsCheckError;

/// What rustls may buffer per connection in each direction, in bytes of
/// unsent TLS output and of plaintext waiting for the handshake to end.
/// The task writes only when rustls' output is empty, so this is also the
/// most plaintext one `write_vectored` takes: one full record (16 KiB)
/// keeps bulk transfers at full-size records, and bounds a slow reader's
/// cost to one record's ciphertext (rustls' default is 64 KiB).
const TLS_BUFFER_LIMIT: usize = 16 * 1024;

/// A TLS listener's shared configuration.
pub(crate) struct Acceptor {
    config: Arc<ServerConfig>,
    username: CertUsername,
}

impl Acceptor {
    /// Reads the listener's certificate, key, CAs and CRLs; a file that
    /// cannot be read or parsed is an error naming its config line.
    pub(crate) fn new(tls: &TlsListenerConfig) -> Result<Acceptor, ConfigError> {
        Ok(Acceptor {
            config: server_config::build(tls)?,
            username: tls.username,
        })
    }

    /// Wraps an accepted socket; the handshake starts with the first read.
    pub(super) fn accept(&self, socket: Async<TcpStream>) -> Result<TlsStream, rustls::Error> {
        let mut tls = ServerConnection::new(self.config.clone())?;
        tls.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Ok(TlsStream {
            socket,
            tls: RefCell::new(tls),
            username: self.username,
            established: Cell::new(false),
            news: Cell::new(None),
        })
    }
}

/// Reads every TLS listener's files as a start would, for `edgemq
/// check-config`; a file it cannot open is told apart from one that does
/// not parse.
pub(super) fn check(listeners: &[ListenerConfig]) -> Result<(), TlsCheckError> {
    for listener in listeners {
        let Some(tls) = listener.tls.as_deref() else {
            continue;
        };
        let files = [
            ("certfile", &tls.certfile),
            ("keyfile", &tls.keyfile),
            ("cafile", &tls.cafile),
            ("crlfile", &tls.crlfile),
        ];
        for (key, setting) in files {
            let Some(setting) = setting else { continue };
            if let Err(e) = std::fs::File::open(&setting.path) {
                let why = format!("cannot read '{}': {e}", setting.path.display());
                return Err(TlsCheckError::Unreadable(setting.error(key, why)));
            }
        }
        if let Some(capath) = &tls.capath {
            if let Err(e) = std::fs::read_dir(&capath.path) {
                let why = format!("cannot read directory '{}': {e}", capath.path.display());
                return Err(TlsCheckError::Unreadable(capath.error("capath", why)));
            }
        }
        Acceptor::new(tls).map_err(TlsCheckError::Invalid)?;
    }
    Ok(())
}

/// One TLS connection (see the module docs).
pub(super) struct TlsStream {
    socket: Async<TcpStream>,
    tls: RefCell<ServerConnection>,
    username: CertUsername,
    /// The handshake has ended and been reported.
    established: Cell<bool>,
    /// What the task has yet to tell the broker.
    news: Cell<Option<Handshake>>,
}

impl TlsStream {
    /// Writes what rustls has for the socket until it would block.
    fn flush_tls(&self, tls: &mut ServerConnection) -> io::Result<()> {
        while tls.wants_write() {
            match tls.write_tls(&mut self.socket.get_ref()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Decrypts what rustls holds; notes the end of the handshake, or why
    /// it failed, for the broker.
    fn process(&self, tls: &mut ServerConnection) -> io::Result<rustls::IoState> {
        let handshaking = tls.is_handshaking();
        let result = tls.process_new_packets();
        // Handshake replies, or the alert that says why we give up.
        let flushed = self.flush_tls(tls);
        match result {
            Ok(state) => {
                flushed?;
                if !self.established.get() && !tls.is_handshaking() {
                    self.established.set(true);
                    self.news.set(self.username_news(tls));
                }
                Ok(state)
            }
            Err(error) => {
                if handshaking {
                    self.news.set(Some(Handshake::Failed(error.to_string())));
                }
                Err(io::Error::new(io::ErrorKind::InvalidData, error))
            }
        }
    }

    /// The end of the handshake, with the certificate's name when the
    /// listener takes usernames from it.
    fn username_news(&self, tls: &ServerConnection) -> Option<Handshake> {
        let certificate = tls.peer_certificates().and_then(|chain| chain.first());
        let name = match self.username {
            CertUsername::Connect => return Some(Handshake::TlsEstablished),
            CertUsername::CommonName => certificate.and_then(|c| subject::common_name(c)),
            CertUsername::Subject => certificate.and_then(|c| subject::rfc2253(c)),
        };
        Some(Handshake::CertificateUsername(
            name.map(String::into_boxed_str),
        ))
    }
}

impl ByteStream for TlsStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut tls = self.tls.borrow_mut();
        let mut end_of_stream = false;
        loop {
            let state = self.process(&mut tls)?;
            if state.plaintext_bytes_to_read() > 0 {
                return match tls.reader().read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                    other => other,
                };
            }
            if state.peer_has_closed() || end_of_stream {
                return Ok(0);
            }
            match tls.read_tls(&mut self.socket.get_ref()) {
                Ok(0) => end_of_stream = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut tls = self.tls.borrow_mut();
        self.flush_tls(&mut tls)?;
        if tls.wants_write() {
            // The socket has not taken the last records yet.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let taken = tls.writer().write_vectored(bufs)?;
        self.flush_tls(&mut tls)?;
        if taken == 0 && bufs.iter().any(|b| !b.is_empty()) {
            // Only while handshaking, with TLS_BUFFER_LIMIT bytes waiting
            // for it to end (the broker writes nothing before CONNECT).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(taken)
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut tls = self.tls.borrow_mut();
        match self.process(&mut tls) {
            Ok(state) if state.plaintext_bytes_to_read() == 0 && !state.peer_has_closed() => {}
            // Plaintext, a close or an error for `read` to report.
            _ => return Poll::Ready(Ok(())),
        }
        if tls.wants_write() && self.socket.poll_writable(cx).is_ready() {
            // Output left over: `read` flushes it (the peer may wait for it).
            return Poll::Ready(Ok(()));
        }
        drop(tls);
        self.socket.poll_readable(cx)
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut tls = self.tls.borrow_mut();
        if let Err(e) = self.flush_tls(&mut tls) {
            return Poll::Ready(Err(e));
        }
        if tls.wants_write() {
            return self.socket.poll_writable(cx);
        }
        if tls.is_handshaking() {
            // Plaintext can wait only for the handshake, which waits for
            // the peer.
            return self.socket.poll_readable(cx);
        }
        Poll::Ready(Ok(()))
    }

    fn shutdown(&self) {
        let mut tls = self.tls.borrow_mut();
        if !tls.is_handshaking() {
            tls.send_close_notify();
        }
        let _ = self.flush_tls(&mut tls);
        let _ = self.socket.get_ref().shutdown(Shutdown::Both);
    }

    fn has_pending_output(&self) -> bool {
        self.tls.borrow().wants_write()
    }

    fn take_handshake(&self) -> Option<Handshake> {
        self.news.take()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;

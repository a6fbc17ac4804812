//! [`TlsStream`]: a TCP socket with a rustls connection on it, a listener's
//! (server) or a bridge's (client), driven sans-IO style. The record layer
//! is the same for both sides; only what the end of the handshake tells
//! the broker differs ([`Side`]). The invariants are in mod.rs.

use std::cell::{Cell, Ref, RefCell};
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::ops::DerefMut;
use std::task::{Context, Poll};

use async_io::Async;
use rustls::ConnectionCommon;

use crate::net::connection::{ByteStream, Handshake};

/// What rustls may buffer per connection in each direction, in bytes of
/// unsent TLS output and of plaintext waiting for the handshake to end.
/// The task writes only when rustls' output is empty, so this is also the
/// most plaintext one `write_vectored` takes: one full record (16 KiB)
/// keeps bulk transfers at full-size records, and bounds a slow reader's
/// cost to one record's ciphertext (rustls' default is 64 KiB).
pub(super) const TLS_BUFFER_LIMIT: usize = 16 * 1024;

/// One side of a TLS connection: rustls' `ServerConnection` or
/// `ClientConnection`, each a `ConnectionCommon` underneath.
pub(in crate::net) trait Side:
    DerefMut<Target = ConnectionCommon<Self::Data>> + Unpin + 'static
{
    /// rustls' per-side state.
    type Data;
    /// What the side needs to say its news (a listener: where usernames
    /// come from).
    type Report: Copy + Unpin + 'static;

    /// The news for the broker once the handshake has ended.
    fn established(&self, report: Self::Report) -> Option<Handshake>;
}

/// One TLS connection (see the module docs).
pub(in crate::net) struct TlsStream<C: Side> {
    socket: Async<TcpStream>,
    tls: RefCell<C>,
    report: C::Report,
    /// The handshake has ended and been reported.
    established: Cell<bool>,
    /// What the task has yet to tell the broker.
    news: Cell<Option<Handshake>>,
}

impl<C: Side> TlsStream<C> {
    /// Wraps a connected socket; the handshake starts with the first read
    /// (or `poll_handshake`).
    pub(super) fn new(socket: Async<TcpStream>, mut tls: C, report: C::Report) -> TlsStream<C> {
        tls.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        TlsStream {
            socket,
            tls: RefCell::new(tls),
            report,
            established: Cell::new(false),
            news: Cell::new(None),
        }
    }

    /// The rustls connection, to ask what the handshake agreed on. Not to
    /// be held across a wait. (A bridge's: a listener has no use for it.)
    #[cfg_attr(not(feature = "bridge-tls"), allow(dead_code))]
    pub(in crate::net) fn connection(&self) -> Ref<'_, C> {
        self.tls.borrow()
    }

    /// Drives the handshake to its end without plaintext either way: a
    /// client's first step, so that a failure is told apart from a broken
    /// session. Ready with an error when it fails or the peer closes.
    #[cfg_attr(not(feature = "bridge-tls"), allow(dead_code))]
    pub(in crate::net) fn poll_handshake(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut tls = self.tls.borrow_mut();
            let state = self.process(&mut tls)?;
            if !tls.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            if state.peer_has_closed() {
                return Poll::Ready(Err(closed_in_handshake()));
            }
            if tls.wants_write() {
                // Our flight is not all on the socket yet.
                drop(tls);
                if self.socket.poll_writable(cx)?.is_pending() {
                    return Poll::Pending;
                }
                continue;
            }
            match tls.read_tls(&mut self.socket.get_ref()) {
                Ok(0) => return Poll::Ready(Err(closed_in_handshake())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(tls);
                    if self.socket.poll_readable(cx)?.is_pending() {
                        return Poll::Pending;
                    }
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Writes what rustls has for the socket until it would block.
    fn flush_tls(&self, tls: &mut C) -> io::Result<()> {
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
    fn process(&self, tls: &mut C) -> io::Result<rustls::IoState> {
        let handshaking = tls.is_handshaking();
        let result = tls.process_new_packets();
        // Handshake replies, or the alert that says why we give up.
        let flushed = self.flush_tls(tls);
        match result {
            Ok(state) => {
                flushed?;
                if !self.established.get() && !tls.is_handshaking() {
                    self.established.set(true);
                    self.news.set(tls.established(self.report));
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
}

#[cfg_attr(not(feature = "bridge-tls"), allow(dead_code))]
fn closed_in_handshake() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the remote closed the connection during the handshake",
    )
}

impl<C: Side> ByteStream for TlsStream<C> {
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
            // for it to end (a listener writes nothing before CONNECT, a
            // bridge nothing before `poll_handshake` is done).
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

//! MQTT over WebSocket on an accepted socket: [`WsStream`] is a
//! [`ByteStream`] over any inner `ByteStream` — plain TCP today, a TLS
//! stream the same way (WSS) — so the connection task, the framer and the
//! broker see the MQTT bytes and nothing of WebSocket (docs/transports.md).
//!
//! The upgrade runs inside the stream: a WebSocket connection is a broker
//! connection from accept on, so `max_connections` counts it and
//! `connect_timeout` bounds the upgrade and the CONNECT together. Until the
//! upgrade is answered `read` collects the request head (at most
//! `websockets_headers_size`) and yields no bytes.
//!
//! Reads decode frames in the caller's buffer (`websocket::Decoder`), so a
//! read holds no buffer of its own. Each `write_vectored` is one binary
//! frame: its header and the caller's slices in one vectored write, the
//! header's unwritten rest and the payload still owed kept across partial
//! writes. Our own bytes — the upgrade's answer, a Pong, a Close — go out
//! between data frames, never inside one; while they wait, reading stops
//! (`poll_readable` waits for the socket to take them), so they stay a few
//! hundred bytes at most.
//!
//! What the broker must hear — the upgrade answered or refused, a frame
//! rule broken — waits in a few bytes of state for `take_handshake`, after
//! the inner stream's own news (TLS ends before the upgrade starts); the
//! broker counts and logs it (README.md ## Limits and refusals).
//!
//! An idle upgraded connection holds no heap memory (the decoder's control
//! buffer and our own bytes are freed once sent); `size_of` is checked.

use crate::broker::PeerAddr;
use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::rc::Rc;
use std::task::{Context, Poll};

use heapless::Vec as HVec;
use log::debug;

use crate::websocket::frame::{self, MAX_SERVER_HEADER};
use crate::websocket::handshake::{self, Refusal, Status};
use crate::websocket::{Decoder, Stop};

use super::connection::{ByteStream, Handshake};

/// Room above `max_packet_size` in a client's data frame: a frame may
/// carry a whole packet plus small ones batched with it [MQTT-6.0.0-2].
/// Frames are not buffered, so this bounds nothing in memory; it refuses a
/// length no MQTT client sends, from the frame header.
const FRAME_SLACK: usize = 16 * 1024;

/// The largest frame we send: a write offering more is cut, and the rest
/// goes in the next frame. Clients take any frame size in principle; 64 KiB
/// is under every library's default receive cap.
const MAX_SERVER_FRAME: usize = 64 * 1024;

/// Slices per frame: the header and up to 256 of the caller's (its own
/// `MAX_IOV`; more are left for the next frame).
const MAX_SLICES: usize = 257;

/// What every connection of one WebSocket listener shares.
pub(super) struct WsListener {
    /// `websockets_path`.
    pub(super) path: Box<str>,
    /// `websockets_headers_size`.
    pub(super) head_bytes: usize,
    /// The broker's `max_packet_size`, kept current on reload.
    pub(super) max_packet_size: Rc<Cell<usize>>,
}

impl WsListener {
    fn max_frame(&self) -> u64 {
        let max = self.max_packet_size.get().saturating_add(FRAME_SLACK);
        u64::try_from(max).unwrap_or(u64::MAX)
    }
}

/// The answer a socket over `max_connections` gets on a WebSocket
/// listener, where the MQTT refusal (CONNACK 3) cannot be spoken before an
/// upgrade.
pub(super) fn over_capacity_response() -> Vec<u8> {
    Refusal::new(Status::ServiceUnavailable, "too many connections").response()
}

/// How reads end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The peer's Close: end of stream once its data is read.
    Closed,
    /// A refused upgrade or a frame rule broken: an error.
    Failed,
}

pub(super) struct WsStream<S> {
    inner: S,
    listener: Rc<WsListener>,
    peer: PeerAddr,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    /// The request head so far; `Some` until the upgrade is answered.
    head: Option<Vec<u8>>,
    decoder: Decoder,
    /// The data frame being written: its header's unwritten rest and the
    /// payload bytes it still owes.
    header_rest: HVec<u8, MAX_SERVER_HEADER>,
    payload_left: usize,
    /// Our own bytes, written between data frames.
    own: Vec<u8>,
    close_sent: bool,
    ended: Option<End>,
    /// A read used bytes and yielded none: poll again after a yield.
    again: bool,
    /// What the broker has yet to hear (`take_handshake`): the upgrade
    /// answered, or refused, or a frame rule broken (the decoder's stop).
    upgrade_unreported: bool,
    refusal_unreported: Option<Refusal>,
    frame_error_unreported: bool,
}

impl<S: ByteStream> WsStream<S> {
    pub(super) fn new(inner: S, listener: Rc<WsListener>, peer: PeerAddr) -> Self {
        WsStream {
            inner,
            listener,
            peer,
            state: RefCell::new(State {
                head: Some(Vec::new()),
                ..State::default()
            }),
        }
    }
}

impl<S: ByteStream> ByteStream for WsStream<S> {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut st = self.state.borrow_mut();
        st.again = false;
        st.write_own(&self.inner)?;
        if let Some(end) = st.ended {
            return end_result(end);
        }
        let n = self.inner.read(buf)?;
        let Some(raw) = buf.get_mut(..n).filter(|r| !r.is_empty()) else {
            return Ok(0);
        };
        let max_frame = self.listener.max_frame();
        let data = if st.head.is_some() {
            st.read_head(raw, &self.listener, self.peer, max_frame)
        } else {
            st.decoder.decode(raw, max_frame)
        };
        st.after_decode(self.peer);
        // Best effort now; what the socket does not take waits (reads stop).
        match st.write_own(&self.inner) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
            _ => {}
        }
        if data > 0 {
            return Ok(data);
        }
        if let Some(end) = st.ended {
            return end_result(end);
        }
        st.again = true;
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut st = self.state.borrow_mut();
        if st.head.is_some() {
            // The broker answers CONNECT, which comes after the upgrade.
            return Err(io::Error::other("a write before the WebSocket upgrade"));
        }
        if st.at_frame_boundary() {
            st.write_own(&self.inner)?;
            if st.close_sent {
                // RFC 6455 §5.5.1: no data frame after our Close.
                return Err(io::ErrorKind::BrokenPipe.into());
            }
        }
        st.write_frame(&self.inner, bufs)
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.state.borrow_mut();
        if !st.own.is_empty() {
            if st.at_frame_boundary() {
                // `read` writes them first.
                return self.inner.poll_writable(cx);
            }
            // They follow the frame the task is writing; its own wait for
            // the socket gets it there.
            let _ = self.inner.poll_writable(cx);
            return Poll::Pending;
        }
        if st.ended.is_some() {
            return Poll::Ready(Ok(()));
        }
        if st.again {
            st.again = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        drop(st);
        self.inner.poll_readable(cx)
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_writable(cx)
    }

    /// TLS records under a `wss://` stream.
    fn has_pending_output(&self) -> bool {
        self.inner.has_pending_output()
    }

    /// The inner stream's news first (TLS ends before the upgrade starts),
    /// then the upgrade's and the frames'.
    fn take_handshake(&self) -> Option<Handshake> {
        if let Some(news) = self.inner.take_handshake() {
            return Some(news);
        }
        self.state.try_borrow_mut().ok()?.take_news()
    }

    /// Says goodbye where it can without waiting: the answer still owed,
    /// or a Close (1000) between frames; then ends the inner stream.
    fn shutdown(&self) {
        if let Ok(mut st) = self.state.try_borrow_mut() {
            if st.head.is_none() && !st.close_sent && st.at_frame_boundary() {
                st.queue_close(Some(frame::CLOSE_NORMAL));
            }
            let _ = st.write_own(&self.inner);
        }
        self.inner.shutdown();
    }
}

fn end_result(end: End) -> io::Result<usize> {
    match end {
        End::Closed => Ok(0),
        End::Failed => Err(io::ErrorKind::InvalidData.into()),
    }
}

impl State {
    fn at_frame_boundary(&self) -> bool {
        self.payload_left == 0 && self.header_rest.is_empty()
    }

    fn take_news(&mut self) -> Option<Handshake> {
        if std::mem::take(&mut self.upgrade_unreported) {
            return Some(Handshake::Upgraded);
        }
        if let Some(refusal) = self.refusal_unreported.take() {
            return Some(Handshake::UpgradeRefused {
                status: refusal.status.code(),
                reason: refusal.reason,
            });
        }
        if std::mem::take(&mut self.frame_error_unreported) {
            if let Some(Stop::Failed(error)) = self.decoder.stop() {
                return Some(Handshake::FrameRefused {
                    close_code: error.close_code(),
                    why: error.to_string(),
                });
            }
        }
        None
    }

    /// Adds `raw` to the request head; once it is whole, answers it and
    /// decodes the bytes after it as frames (a client may send its first
    /// frame without waiting for the answer). Returns the data bytes now
    /// at the front of `raw`.
    fn read_head(
        &mut self,
        raw: &mut [u8],
        listener: &WsListener,
        peer: PeerAddr,
        max_frame: u64,
    ) -> usize {
        let Some(head) = self.head.as_mut() else {
            return 0;
        };
        let old = head.len();
        let take = raw.len().min(listener.head_bytes.saturating_sub(old));
        head.reserve_exact(take);
        head.extend_from_slice(raw.get(..take).unwrap_or(&[]));
        if !handshake::may_be_upgrade(head) {
            let not_get = "not a WebSocket upgrade request (plain MQTT on a WebSocket listener?)";
            self.refuse(Refusal::new(Status::BadRequest, not_get), peer);
            return 0;
        }
        let Some(end) = handshake::head_end(head, old) else {
            if head.len() >= listener.head_bytes {
                self.refuse(
                    Refusal::new(Status::HeadTooLarge, "the request head is too large"),
                    peer,
                );
            }
            return 0;
        };
        let parsed = handshake::parse(head.get(..end).unwrap_or(&[]), &listener.path);
        self.head = None;
        match parsed {
            Ok(upgrade) => {
                debug!(
                    "websocket upgrade from {peer} (subprotocol {})",
                    upgrade.protocol.name().unwrap_or("none offered")
                );
                self.upgrade_unreported = true;
                self.own.extend_from_slice(&upgrade.response());
                let used = end - old;
                raw.copy_within(used.., 0);
                let rest = raw.len() - used;
                self.decoder
                    .decode(raw.get_mut(..rest).unwrap_or(&mut []), max_frame)
            }
            Err(refusal) => {
                self.refuse(refusal, peer);
                0
            }
        }
    }

    fn refuse(&mut self, refusal: Refusal, peer: PeerAddr) {
        debug!(
            "websocket upgrade from {peer} refused: {} {}",
            refusal.status.code(),
            refusal.reason
        );
        self.head = None;
        self.own.extend_from_slice(&refusal.response());
        self.ended = Some(End::Failed);
        self.refusal_unreported = Some(refusal);
    }

    /// Queues what the decoder owes the peer: a Pong, a Close.
    fn after_decode(&mut self, peer: PeerAddr) {
        if let Some(pong) = self.decoder.take_pong() {
            if !self.close_sent {
                let pong = frame::control_frame(frame::OPCODE_PONG, &pong);
                self.own.extend_from_slice(&pong);
            }
        }
        if self.ended.is_some() {
            return;
        }
        match self.decoder.stop() {
            None => {}
            Some(Stop::Closed(code)) => {
                // RFC 6455 §5.5.1: answer a Close with a Close, echoing its code.
                if !self.close_sent {
                    self.queue_close(code.map(echoable));
                }
                self.ended = Some(End::Closed);
            }
            Some(Stop::Failed(error)) => {
                debug!("websocket from {peer}: closing on {error}");
                self.frame_error_unreported = true;
                if !self.close_sent {
                    self.queue_close(Some(error.close_code()));
                }
                self.ended = Some(End::Failed);
            }
        }
    }

    fn queue_close(&mut self, code: Option<u16>) {
        let close = match code {
            Some(code) => frame::close_frame(code),
            None => frame::control_frame(frame::OPCODE_CLOSE, &[]),
        };
        self.own.extend_from_slice(&close);
        self.close_sent = true;
    }

    /// Writes our own bytes, all of them or `WouldBlock` (also while a data
    /// frame is half written: they wait for its end).
    fn write_own(&mut self, inner: &impl ByteStream) -> io::Result<()> {
        while !self.own.is_empty() {
            if !self.at_frame_boundary() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            match inner.write_vectored(&[IoSlice::new(&self.own)]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.own.drain(..n.min(self.own.len()));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.own.capacity() > 0 {
            self.own = Vec::new();
        }
        Ok(())
    }

    /// Writes (part of) one binary frame of the caller's bytes; returns
    /// how many of them went out. A frame once started is finished with
    /// the bytes the caller offers next (it offers its unwritten bytes
    /// again, in order, as with any stream).
    fn write_frame(&mut self, inner: &impl ByteStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.at_frame_boundary() {
            let offered = bufs
                .iter()
                .take(MAX_SLICES - 1)
                .map(|b| b.len())
                .sum::<usize>();
            let length = offered.min(MAX_SERVER_FRAME);
            if length == 0 {
                return Ok(0);
            }
            self.header_rest = frame::server_header(frame::OPCODE_BINARY, length);
            self.payload_left = length;
        }
        let mut slices: HVec<IoSlice<'_>, MAX_SLICES> = HVec::new();
        if !self.header_rest.is_empty() {
            let _ = slices.push(IoSlice::new(&self.header_rest));
        }
        let mut room = self.payload_left;
        for buf in bufs {
            if room == 0 {
                break;
            }
            let part = buf.get(..room.min(buf.len())).unwrap_or(&[]);
            if part.is_empty() {
                continue;
            }
            if slices.push(IoSlice::new(part)).is_err() {
                break;
            }
            room -= part.len();
        }
        let written = inner.write_vectored(&slices)?;
        drop(slices);
        let header_written = written.min(self.header_rest.len());
        let rest: HVec<u8, MAX_SERVER_HEADER> = self
            .header_rest
            .get(header_written..)
            .and_then(|r| HVec::from_slice(r).ok())
            .unwrap_or_default();
        self.header_rest = rest;
        let payload = written - header_written;
        self.payload_left = self.payload_left.saturating_sub(payload);
        if self.at_frame_boundary() && !self.own.is_empty() {
            match self.write_own(inner) {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
        match (written, payload) {
            (0, _) => Ok(0),
            // Only header bytes went: nothing of the caller's is written yet.
            (_, 0) => Err(io::ErrorKind::WouldBlock.into()),
            (_, n) => Ok(n),
        }
    }
}

/// A received status code we may send back; the codes that must not
/// appear on the wire (RFC 6455 §7.4.1: 1005, 1006, 1015) and unassigned
/// ones become 1002.
fn echoable(code: u16) -> u16 {
    match code {
        1000..=1003 | 1007..=1014 | 3000..=4999 => code,
        _ => frame::CLOSE_PROTOCOL_ERROR,
    }
}

#[cfg(test)]
#[path = "websocket_tests.rs"]
mod tests;

//! One connection's task: read into the shared scratch buffer, turn the
//! bytes into packets with the codec's [`Framer`], hand them to the broker,
//! write what the broker queued with vectored writes, and close when the
//! broker or the peer says so.
//!
//! The task is generic over its [`ByteStream`], the seam where a transport
//! plugs in (docs/transports.md); framing, back-pressure, writing and
//! closing are the same for every transport.
//!
//! The task is a hand-written future rather than an `async fn`: an async
//! frame keeps every awaited sub-future (readable, writable, notified, the
//! close timer) and the locals around them, ~400 bytes for every connection
//! whether busy or not, while this one is 40 bytes (RSS per idle connection
//! is measured). It waits with `poll_readable`/`poll_writable`, which keep
//! their waker in the socket's reactor entry, not in the task.
//!
//! Between wake-ups an idle task holds its socket, its id and nothing else:
//! the framer's bytes of a partial packet, the frames the socket has not
//! taken yet, a closing connection's drain timer and the timer of a pause
//! for the publish rate live in [`Busy`], allocated while there is such
//! state and freed as soon as there is none.
//! The broker is borrowed only inside synchronous sections, never across a
//! wait.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::TcpStream;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use async_io::Timer;
use futures_lite::future;

use crate::broker::ConnId;
use crate::codec::{Frame, Framer, Packet};

use super::Shared;

/// Slices per `write_vectored` call; a PUBLISH frame takes up to five.
/// Linux's IOV_MAX is 1024; 256 keeps the array on the stack small.
const MAX_IOV: usize = 256;

/// How long a closing connection may take to drain what is queued for it.
const CLOSE_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection's byte stream as its task drives it: non-blocking reads and
/// vectored writes, readiness from the reactor. A transport's handshake
/// runs before the task starts; what it leaves is one of these.
pub(super) trait ByteStream: Unpin + 'static {
    /// Reads what is there without blocking; `Ok(0)` is the end of the
    /// stream, `WouldBlock` means nothing yet.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes what it can without blocking.
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Ready when a read may make progress; otherwise registers `cx`.
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Ready when a write may make progress; otherwise registers `cx`.
    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Ends both directions; the peer sees the close at once.
    fn shutdown(&self);
    /// Whether a read that returned less than it asked for means there is
    /// nothing more to read for now: true of a plain socket, whose read
    /// hands over everything the kernel holds; not of a stream that
    /// buffers above the socket (TLS, WebSocket). The task then waits for
    /// readiness without the read that would only say `WouldBlock`.
    fn short_read_drains(&self) -> bool {
        false
    }
    /// Bytes the stream itself still has to write (TLS records the socket
    /// has not taken): the task waits for writability for them too, even
    /// with nothing of its own to write or while it does not read.
    fn has_pending_output(&self) -> bool {
        false
    }
    /// What the transport's handshake learnt that the broker must hear
    /// before the first packet; each item once. TCP has no handshake.
    fn take_handshake(&self) -> Option<Handshake> {
        None
    }
}

/// `ByteStream::read` awaited: what is there once something is; `Ok(0)`
/// is the end of the stream. For code that drives a stream from an async
/// fn (a refusal, a bridge link) rather than a hand-written future.
pub(super) async fn read_some(stream: &dyn ByteStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                future::poll_fn(|cx| stream.poll_readable(cx)).await?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Writes all of `bytes`, awaited, then waits until the stream has passed
/// on what it buffered of them (TLS records) to the socket.
pub(super) async fn write_all(stream: &dyn ByteStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() || stream.has_pending_output() {
        let written = if bytes.is_empty() {
            // Only the stream's own output is left.
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            stream.write_vectored(&[IoSlice::new(bytes)])
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                future::poll_fn(|cx| stream.poll_writable(cx)).await?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// News from a transport's handshake (TLS, the WebSocket upgrade) for the
/// broker, which counts what it refuses and bounds what stalls.
#[derive(Debug)]
// Only TLS and WebSocket streams have a handshake.
#[cfg_attr(not(all(feature = "tls", feature = "websocket")), allow(dead_code))]
pub(super) enum Handshake {
    /// The TLS handshake ended.
    TlsEstablished,
    /// The TLS handshake ended, on a listener that takes usernames from
    /// client certificates: this client's (`None`: it sent no
    /// certificate, or one without a usable name).
    CertificateUsername(Option<Box<str>>),
    /// The TLS handshake failed, for this reason; the connection ends.
    Failed(String),
    /// The WebSocket upgrade was answered 101.
    Upgraded,
    /// The WebSocket upgrade was refused with this HTTP status; the
    /// connection ends.
    UpgradeRefused { status: u16, reason: &'static str },
    /// A WebSocket frame broke a rule; the connection ends with this Close.
    FrameRefused { close_code: u16, why: String },
}

/// `ByteStream` for a socket of the reactor: the five calls are the same
/// for every std socket type (TCP here, a Unix socket in unix.rs).
macro_rules! byte_stream_for_async_socket {
    ($socket:ty) => {
        impl $crate::net::connection::ByteStream for ::async_io::Async<$socket> {
            fn read(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                ::std::io::Read::read(&mut self.get_ref(), buf)
            }

            fn write_vectored(&self, bufs: &[::std::io::IoSlice<'_>]) -> ::std::io::Result<usize> {
                ::std::io::Write::write_vectored(&mut self.get_ref(), bufs)
            }

            fn poll_readable(
                &self,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::async_io::Async::poll_readable(self, cx)
            }

            fn poll_writable(
                &self,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::async_io::Async::poll_writable(self, cx)
            }

            fn shutdown(&self) {
                let _ = self.get_ref().shutdown(::std::net::Shutdown::Both);
            }

            fn short_read_drains(&self) -> bool {
                true
            }
        }
    };
}
pub(super) use byte_stream_for_async_socket;

byte_stream_for_async_socket!(TcpStream);

/// Any transport's stream, boxed: the connection task, the WebSocket
/// layer, a refusal and a bridge session are each compiled once rather
/// than once per transport (TCP, unix, TLS, WebSocket over each): 6
/// copies of the connection task before (README, "Cross builds and
/// size"). A call through the vtable costs nothing next to the syscall
/// behind it.
pub(super) type AnyStream = Box<dyn ByteStream>;

impl ByteStream for AnyStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read(buf)
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (**self).write_vectored(bufs)
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        (**self).poll_readable(cx)
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        (**self).poll_writable(cx)
    }

    fn shutdown(&self) {
        (**self).shutdown()
    }

    fn short_read_drains(&self) -> bool {
        (**self).short_read_drains()
    }

    fn has_pending_output(&self) -> bool {
        (**self).has_pending_output()
    }

    fn take_handshake(&self) -> Option<Handshake> {
        (**self).take_handshake()
    }
}

/// A connection's task; spawned once per accepted socket, resolves after
/// the broker has been told the connection is gone.
pub(super) struct ConnectionTask {
    /// `None` once the connection has ended.
    stream: Option<AnyStream>,
    state: TaskState,
}

struct TaskState {
    shared: Rc<Shared>,
    conn: ConnId,
    /// `None` while idle.
    busy: Option<Box<Busy>>,
}

/// What a connection holds between wake-ups only while it has it.
#[derive(Default)]
struct Busy {
    /// Bytes of an incomplete packet (or, while paused, unprocessed ones).
    framer: Framer,
    /// Frames taken from the broker, not yet fully written.
    pending: VecDeque<Frame>,
    /// Bytes of `pending.front()` already written.
    offset: usize,
    /// Closing: when the drain of `pending` gives up.
    close_timer: Option<Timer>,
    /// Paused for its publish rate: when the broker reads it again.
    resume_timer: Option<Timer>,
}

/// When a turn reads the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadPlan {
    /// Read at once: bytes are likely there (a first poll, a full read,
    /// a readiness just reported).
    Now,
    /// A wake-up of a plain socket: read only if the reactor says it is
    /// readable (the broker wakes a subscriber to write, and a read then
    /// would only say `WouldBlock`).
    IfReady,
    /// The last read drained a plain socket: do not read, wait.
    Skip,
}

/// What one turn of the loop decided.
enum Step {
    /// Look again at once (something happened).
    Again,
    /// Look again at once, but the stream is known to be empty: wait for
    /// readiness without reading first.
    Drained,
    /// Wait for a wake-up.
    Wait,
    /// The connection is over.
    End,
}

impl ConnectionTask {
    pub(super) fn new(shared: Rc<Shared>, stream: AnyStream, conn: ConnId) -> Self {
        ConnectionTask {
            stream: Some(stream),
            state: TaskState {
                shared,
                conn,
                busy: None,
            },
        }
    }
}

impl Future for ConnectionTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // A task that waited before may be woken by the broker rather than
        // its socket: a plain socket is then read only once readable.
        let waited = this.state.shared.wakers.has_waited(this.state.conn.index());
        let mut plan = match &this.stream {
            Some(stream) if waited && stream.short_read_drains() => ReadPlan::IfReady,
            _ => ReadPlan::Now,
        };
        loop {
            let Some(stream) = &this.stream else {
                return Poll::Ready(());
            };
            match this.state.step(stream, cx, plan) {
                Step::Again => plan = ReadPlan::Now,
                Step::Drained => plan = ReadPlan::Skip,
                Step::Wait => return Poll::Pending,
                Step::End => {
                    if let Some(stream) = this.stream.take() {
                        stream.shutdown();
                    }
                    this.state.end();
                    return Poll::Ready(());
                }
            }
        }
    }
}

impl TaskState {
    /// One turn: write what is queued, then read as `plan` says, or wait.
    fn step(&mut self, stream: &dyn ByteStream, cx: &mut Context<'_>, plan: ReadPlan) -> Step {
        let result = self.flush(stream);
        self.settle();
        if result.is_err() {
            return Step::End;
        }
        let (closing, read_allowed, resumes_at) = {
            let mut broker = self.shared.broker.borrow_mut();
            let read_allowed = broker.may_read(Instant::now(), self.conn);
            (
                broker.closing(self.conn).is_some(),
                read_allowed,
                broker.read_resumes_at(self.conn),
            )
        };
        if closing {
            return self.drain_before_close(stream, cx);
        }
        if read_allowed {
            if self
                .busy
                .as_ref()
                .is_some_and(|b| b.framer.may_hold_packets())
            {
                self.process(&[]);
                return Step::Again;
            }
            let read = match plan {
                ReadPlan::Now => true,
                ReadPlan::IfReady => stream.poll_readable(cx).is_ready(),
                ReadPlan::Skip => false,
            };
            match self.read_once(stream, read) {
                ReadOutcome::Drained => {
                    let result = self.flush(stream);
                    self.settle();
                    if result.is_err() {
                        return Step::End;
                    }
                    return Step::Drained;
                }
                ReadOutcome::Data => {
                    // Answer first (acknowledgements, the messages a freed
                    // window lets out), then let other connections run
                    // between batches.
                    let result = self.flush(stream);
                    self.settle();
                    if result.is_err() {
                        return Step::End;
                    }
                    // More is likely there: the next poll reads at once
                    // (a task without a waker in the table reads first),
                    // and registers again before it waits.
                    self.shared.wakers.forget(self.conn.index());
                    cx.waker().wake_by_ref();
                    return Step::Wait;
                }
                ReadOutcome::Closed => return Step::End,
                ReadOutcome::WouldBlock => {}
            }
        }
        self.shared.wakers.register_waker(self.conn.index(), cx);
        // After a draining read, the readiness that woke this task is still
        // unconsumed: the first poll reports it, the second registers (and
        // is ready only if bytes arrived since, which the reactor reports
        // again at registration anyway).
        if read_allowed
            && stream.poll_readable(cx).is_ready()
            && (plan != ReadPlan::Skip || stream.poll_readable(cx).is_ready())
        {
            return Step::Again;
        }
        if self.resume_at(resumes_at, cx).is_ready() {
            return Step::Again;
        }
        let want_write = self.busy.as_ref().is_some_and(|b| !b.pending.is_empty())
            || stream.has_pending_output();
        if want_write && stream.poll_writable(cx).is_ready() {
            return Step::Again;
        }
        Step::Wait
    }

    /// Paused for its publish rate until `at`: wake then (one timer, no
    /// polling). `None` drops the timer of an earlier pause.
    fn resume_at(&mut self, at: Option<Instant>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(at) = at else {
            if let Some(busy) = self.busy.as_deref_mut() {
                busy.resume_timer = None;
            }
            return Poll::Pending;
        };
        let busy = self.busy.get_or_insert_with(Box::default);
        let timer = match &mut busy.resume_timer {
            Some(timer) => {
                timer.set_at(at);
                timer
            }
            empty => empty.insert(Timer::at(at)),
        };
        Pin::new(timer).poll(cx).map(|_| ())
    }

    /// Closing: write what is still queued, for at most
    /// `CLOSE_DRAIN_TIMEOUT`, then end.
    fn drain_before_close(&mut self, stream: &dyn ByteStream, cx: &mut Context<'_>) -> Step {
        let pending = self.busy.as_ref().is_some_and(|b| !b.pending.is_empty());
        if !pending && !stream.has_pending_output() {
            return Step::End;
        }
        let busy = self.busy.get_or_insert_with(Box::default);
        let timer = busy
            .close_timer
            .get_or_insert_with(|| Timer::after(CLOSE_DRAIN_TIMEOUT));
        if stream.poll_writable(cx).is_ready() {
            return Step::Again;
        }
        if Pin::new(timer).poll(cx).is_ready() {
            return Step::End;
        }
        Step::Wait
    }

    /// Tells the broker the connection is gone.
    fn end(&mut self) {
        self.busy = None;
        self.shared
            .broker
            .borrow_mut()
            .handle_closed(Instant::now(), self.conn);
        self.shared.forget_connection(self.conn);
        self.shared.dispatch_wakeups();
    }

    /// Frees what an idle connection does not need.
    fn settle(&mut self) {
        let Some(busy) = self.busy.as_deref_mut() else {
            return;
        };
        if busy.pending.is_empty()
            && busy.close_timer.is_none()
            && busy.resume_timer.is_none()
            && busy.framer.is_empty()
        {
            self.busy = None;
            return;
        }
        if busy.pending.is_empty() && busy.pending.capacity() > 0 {
            // Even four slots are ~300 bytes, a third of what mosquitto
            // spends on a whole idle client.
            busy.pending = VecDeque::new();
        }
    }

    /// One non-blocking read into the shared scratch buffer, processed at
    /// once; `WouldBlock` without a read when `read` is false.
    fn read_once(&mut self, stream: &dyn ByteStream, read: bool) -> ReadOutcome {
        if !read {
            return ReadOutcome::WouldBlock;
        }
        let shared = self.shared.clone();
        let mut scratch = shared.scratch.borrow_mut();
        let result = loop {
            match stream.read(&mut scratch) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        // A read may finish TLS, then answer the upgrade behind it.
        while let Some(news) = stream.take_handshake() {
            self.report_handshake(news);
        }
        match result {
            Ok(0) => ReadOutcome::Closed,
            Ok(n) => {
                let drained = n < scratch.len() && stream.short_read_drains();
                self.process(scratch.get(..n).unwrap_or(&[]));
                if drained {
                    ReadOutcome::Drained
                } else {
                    ReadOutcome::Data
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ReadOutcome::WouldBlock,
            Err(_) => ReadOutcome::Closed,
        }
    }

    /// Tells the broker what the handshake learnt, before any packet.
    fn report_handshake(&self, news: Handshake) {
        let mut broker = self.shared.broker.borrow_mut();
        let (now, conn) = (Instant::now(), self.conn);
        match news {
            Handshake::TlsEstablished => broker.handle_tls_established(conn),
            Handshake::CertificateUsername(name) => {
                broker.handle_tls_established(conn);
                broker.handle_certificate_username(conn, name);
            }
            Handshake::Failed(why) => broker.handle_handshake_failure(now, conn, &why),
            Handshake::Upgraded => broker.handle_websocket_upgraded(conn),
            Handshake::UpgradeRefused { status, reason } => {
                broker.handle_websocket_refused(now, conn, status, reason);
            }
            Handshake::FrameRefused { close_code, why } => {
                broker.handle_websocket_frame_error(now, conn, close_code, &why);
            }
        }
    }

    /// Hands the broker every whole packet the framer completes with
    /// `data`; the framer keeps the rest. Stops early, leaving the rest in
    /// the framer, when the broker pauses this connection, so a paused
    /// publisher overflows a queue by at most one message.
    fn process(&mut self, data: &[u8]) {
        let shared = self.shared.clone();
        let mut broker = shared.broker.borrow_mut();
        let now = Instant::now();
        let max = broker.settings().max_packet_size;
        // Taken out of `Busy` (an empty framer costs no allocation), so a
        // read that leaves nothing over never allocates a `Busy`.
        let mut framer = self
            .busy
            .as_deref_mut()
            .map(|b| std::mem::take(&mut b.framer))
            .unwrap_or_default();
        let mut packets = framer.feed(data);
        loop {
            let version = broker.version(self.conn);
            match packets.next_packet(version, max) {
                Ok(Some(packet)) => {
                    // Token and JWT expiry need the wall clock; read once
                    // per CONNECT or AUTH, not per packet.
                    if matches!(packet, Packet::Connect(_) | Packet::Auth(_)) {
                        broker.handle_wall_clock(unix_now());
                    }
                    broker.handle_packet(now, self.conn, packet);
                    if broker.closing(self.conn).is_some() {
                        packets.discard();
                        break;
                    }
                    if !broker.read_allowed(self.conn) {
                        break;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    broker.handle_decode_error(now, self.conn, &error);
                    break;
                }
            }
        }
        drop(packets);
        drop(broker);
        if !framer.is_empty() {
            self.busy.get_or_insert_with(Box::default).framer = framer;
        }
        self.settle();
        shared.dispatch_wakeups();
    }

    /// Takes the broker's frames for this connection and writes as many as
    /// the socket accepts without blocking.
    fn flush(&mut self, stream: &dyn ByteStream) -> io::Result<()> {
        {
            let mut broker = self.shared.broker.borrow_mut();
            match self.busy.as_deref_mut() {
                Some(busy) => broker.take_outbound(self.conn, &mut busy.pending),
                None => {
                    let mut taken = VecDeque::new();
                    broker.take_outbound(self.conn, &mut taken);
                    if !taken.is_empty() {
                        self.busy = Some(Box::new(Busy {
                            pending: taken,
                            ..Busy::default()
                        }));
                    }
                }
            }
        }
        let Some(busy) = self.busy.as_deref_mut() else {
            return Ok(());
        };
        let mut written_total = 0;
        let result = loop {
            if busy.pending.is_empty() {
                break Ok(());
            }
            let mut slices: heapless::Vec<IoSlice<'_>, MAX_IOV> = heapless::Vec::new();
            let mut skip = busy.offset;
            'frames: for frame in &busy.pending {
                for part in frame.slices() {
                    let part = if skip >= part.len() {
                        skip -= part.len();
                        continue;
                    } else {
                        let rest = part.get(skip..).unwrap_or(&[]);
                        skip = 0;
                        rest
                    };
                    if slices.push(IoSlice::new(part)).is_err() {
                        break 'frames;
                    }
                }
            }
            let result = stream.write_vectored(&slices);
            drop(slices);
            match result {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    written_total += n;
                    busy.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        if written_total > 0 {
            // Room in the outbox may let this connection be read again.
            self.shared
                .broker
                .borrow_mut()
                .handle_written(self.conn, written_total);
        }
        result
    }
}

impl Busy {
    fn advance(&mut self, mut n: usize) {
        while let Some(front) = self.pending.front() {
            let left = front.len().saturating_sub(self.offset);
            if n >= left {
                n -= left;
                self.offset = 0;
                self.pending.pop_front();
            } else {
                self.offset += n;
                return;
            }
        }
    }
}

enum ReadOutcome {
    /// Bytes were read and processed; there may be more.
    Data,
    /// Bytes were read and processed, and the stream has no more for now.
    Drained,
    WouldBlock,
    Closed,
}

/// Unix seconds, or `None` while the clock reads earlier than this
/// binary's build: a router that booted without a clock would otherwise
/// take every expired token (the store's plausible-clock rule,
/// docs/design.md ## Durability).
fn unix_now() -> Option<u64> {
    let secs = crate::wall_clock::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs();
    (secs >= crate::store::BUILD_EPOCH).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_io::Async;

    /// Every connection pays for this future while it is idle, and for
    /// its boxed stream.
    #[test]
    fn an_idle_connection_task_is_small() {
        assert!(std::mem::size_of::<ConnectionTask>() <= 40);
        assert!(std::mem::size_of::<Async<TcpStream>>() <= 16);
        type Unix = Async<std::os::unix::net::UnixStream>;
        assert!(std::mem::size_of::<Unix>() <= 16);
        assert!(std::mem::size_of::<Option<Box<Busy>>>() <= 8);
    }
}

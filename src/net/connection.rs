//! One connection's task: read into the shared scratch buffer, decode whole
//! packets, hand them to the broker, write what the broker queued with
//! vectored writes, and close when the broker or the peer says so.
//!
//! Between wake-ups the task holds only the bytes of a partial packet (none
//! when idle) and the frames the socket has not taken yet. The broker is
//! borrowed only inside synchronous sections, never across an `.await`.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use futures_lite::future;

use crate::broker::ConnId;
use crate::codec::{self, Decoded, Frame};

use super::notify::Notify;
use super::Shared;

/// Slices per `write_vectored` call; a PUBLISH frame takes up to five.
/// Linux's IOV_MAX is 1024; 256 keeps the array on the stack small.
const MAX_IOV: usize = 256;

/// How long a closing connection may take to drain what is queued for it.
const CLOSE_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) async fn run(
    shared: Rc<Shared>,
    stream: Async<TcpStream>,
    conn: ConnId,
    notify: Rc<Notify>,
) {
    let mut task = ConnectionTask {
        shared: shared.clone(),
        conn,
        partial: Vec::new(),
        partial_has_packets: false,
        pending: VecDeque::new(),
        offset: 0,
    };
    task.serve(&stream, &notify).await;
    let _ = stream.get_ref().shutdown(Shutdown::Both);
    drop(stream);
    shared
        .broker
        .borrow_mut()
        .handle_closed(Instant::now(), conn);
    shared.forget_notifier(conn);
    shared.dispatch_wakeups();
}

struct ConnectionTask {
    shared: Rc<Shared>,
    conn: ConnId,
    /// Bytes of an incomplete packet (or, while paused, unprocessed ones).
    partial: Vec<u8>,
    /// `partial` may hold whole packets left unprocessed by a pause.
    partial_has_packets: bool,
    /// Frames taken from the broker, not yet fully written.
    pending: VecDeque<Frame>,
    /// Bytes of `pending.front()` already written.
    offset: usize,
}

impl ConnectionTask {
    async fn serve(&mut self, stream: &Async<TcpStream>, notify: &Notify) {
        let mut close_deadline: Option<Instant> = None;
        loop {
            if self.flush(stream).is_err() {
                return;
            }
            let (closing, read_allowed) = {
                let broker = self.shared.broker.borrow();
                (
                    broker.closing(self.conn).is_some(),
                    broker.read_allowed(self.conn),
                )
            };
            if closing {
                if self.pending.is_empty() {
                    return;
                }
                let deadline =
                    *close_deadline.get_or_insert_with(|| Instant::now() + CLOSE_DRAIN_TIMEOUT);
                let writable = async {
                    let _ = stream.writable().await;
                    true
                };
                let timed_out = async {
                    Timer::at(deadline).await;
                    false
                };
                if !future::or(writable, timed_out).await {
                    return;
                }
                continue;
            }
            if read_allowed {
                if self.partial_has_packets {
                    self.partial_has_packets = false;
                    self.process(&[]);
                    continue;
                }
                match self.read_once(stream) {
                    ReadOutcome::Data => {
                        // Answer first (acknowledgements, the messages a
                        // freed window lets out), then let other
                        // connections run between batches.
                        if self.flush(stream).is_err() {
                            return;
                        }
                        future::yield_now().await;
                        continue;
                    }
                    ReadOutcome::Closed => return,
                    ReadOutcome::WouldBlock => {}
                }
            }
            let want_write = !self.pending.is_empty();
            let readable = async {
                if read_allowed {
                    let _ = stream.readable().await;
                } else {
                    future::pending::<()>().await;
                }
            };
            let writable = async {
                if want_write {
                    let _ = stream.writable().await;
                } else {
                    future::pending::<()>().await;
                }
            };
            future::or(notify.notified(), future::or(readable, writable)).await;
        }
    }

    /// One non-blocking read into the shared scratch buffer, processed at once.
    fn read_once(&mut self, stream: &Async<TcpStream>) -> ReadOutcome {
        let shared = self.shared.clone();
        let mut scratch = shared.scratch.borrow_mut();
        let result = loop {
            match stream.get_ref().read(&mut scratch) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match result {
            Ok(0) => ReadOutcome::Closed,
            Ok(n) => {
                self.process(scratch.get(..n).unwrap_or(&[]));
                ReadOutcome::Data
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ReadOutcome::WouldBlock,
            Err(_) => ReadOutcome::Closed,
        }
    }

    /// Decodes and dispatches every whole packet in `partial` + `data`;
    /// keeps the rest. Stops early, keeping the rest, when the broker pauses
    /// this connection, so a paused publisher overflows a queue by at most
    /// one message (SPEC §3).
    fn process(&mut self, data: &[u8]) {
        let shared = self.shared.clone();
        let mut broker = shared.broker.borrow_mut();
        let now = Instant::now();
        let max = broker.settings().max_packet_size;
        let from_partial = !self.partial.is_empty();
        if from_partial {
            self.partial.extend_from_slice(data);
        }
        let buf: &[u8] = if from_partial { &self.partial } else { data };
        let mut consumed = 0;
        let mut paused = false;
        while let Some(rest) = buf.get(consumed..).filter(|rest| !rest.is_empty()) {
            let version = broker.version(self.conn);
            match codec::decode(rest, version, max) {
                Ok(Decoded::Packet(packet, used)) => {
                    consumed += used;
                    broker.handle_packet(now, self.conn, packet);
                    if broker.closing(self.conn).is_some() {
                        consumed = buf.len();
                        break;
                    }
                    if !broker.read_allowed(self.conn) {
                        paused = true;
                        break;
                    }
                }
                Ok(Decoded::Incomplete) => break,
                Err(error) => {
                    broker.handle_decode_error(now, self.conn, &error);
                    consumed = buf.len();
                    break;
                }
            }
        }
        drop(broker);
        if from_partial {
            self.partial.drain(..consumed.min(self.partial.len()));
        } else if let Some(rest) = data.get(consumed..) {
            self.partial.extend_from_slice(rest);
        }
        if self.partial.is_empty() {
            // An idle connection holds no read buffer.
            self.partial = Vec::new();
        }
        self.partial_has_packets = paused && !self.partial.is_empty();
        shared.dispatch_wakeups();
    }

    /// Takes the broker's frames for this connection and writes as many as
    /// the socket accepts without blocking.
    fn flush(&mut self, stream: &Async<TcpStream>) -> io::Result<()> {
        self.shared
            .broker
            .borrow_mut()
            .take_outbound(self.conn, &mut self.pending);
        let mut written_total = 0;
        let result = loop {
            if self.pending.is_empty() {
                break Ok(());
            }
            let mut slices: heapless::Vec<IoSlice<'_>, MAX_IOV> = heapless::Vec::new();
            let mut skip = self.offset;
            'frames: for frame in &self.pending {
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
            let result = stream.get_ref().write_vectored(&slices);
            drop(slices);
            match result {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    written_total += n;
                    self.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        if written_total > 0 {
            let mut broker = self.shared.broker.borrow_mut();
            broker.handle_written(self.conn, written_total);
            drop(broker);
            // Room in the outbox may let this connection be read again.
        }
        if self.pending.is_empty() && self.pending.capacity() > 0 {
            // An idle connection holds no frame queue either: even four
            // slots are ~300 bytes, a third of what mosquitto spends on a
            // whole idle client (measured with 10k clients, issue 6).
            self.pending = VecDeque::new();
        }
        result
    }

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
    Data,
    WouldBlock,
    Closed,
}

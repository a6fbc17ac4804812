//! One publisher thread: stamped messages written many per `write` from one
//! reused buffer, QoS 1 and 2 kept to an honest inflight window the way a
//! real client does, optionally paced to a fixed rate.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::client::{is_timeout, Client};
use crate::payload::{Stamp, STAMP_LEN};
use crate::wire::{self, Incoming, PublishTemplate};

pub struct PublisherConfig {
    pub id: u32,
    pub topic: String,
    pub qos: u8,
    pub count: u64,
    pub size: usize,
    /// Messages per `write` at most.
    pub batch: usize,
    /// Unacknowledged QoS 1/2 messages allowed at once.
    pub inflight: usize,
    /// Messages per second, or as fast as the broker takes them.
    pub rate: Option<f64>,
    /// Give up (and report what was sent) after this long.
    pub deadline: Instant,
}

#[derive(Debug, Default)]
pub struct PublisherResult {
    pub sent: u64,
    pub completed: u64,
    pub elapsed: Duration,
    pub error: Option<String>,
}

/// Packet ids not yet acknowledged, and the next one to hand out.
struct Window {
    busy: Vec<bool>,
    next: u16,
    open: usize,
}

impl Window {
    fn new() -> Window {
        Window {
            busy: vec![false; 65_536],
            next: 0,
            open: 0,
        }
    }

    /// A free packet id; callers keep `open` below 65,535.
    fn take(&mut self) -> u16 {
        loop {
            self.next = if self.next == u16::MAX {
                1
            } else {
                self.next + 1
            };
            if let Some(slot) = self.busy.get_mut(usize::from(self.next)) {
                if !*slot {
                    *slot = true;
                    self.open += 1;
                    return self.next;
                }
            }
        }
    }

    /// Frees `id`; false if it was not in flight.
    fn release(&mut self, id: u16) -> bool {
        match self.busy.get_mut(usize::from(id)) {
            Some(slot) if *slot => {
                *slot = false;
                self.open -= 1;
                true
            }
            _ => false,
        }
    }
}

pub fn run(mut client: Client, cfg: &PublisherConfig, epoch: Instant) -> PublisherResult {
    let started = Instant::now();
    let mut result = PublisherResult::default();
    if let Err(e) = publish_all(&mut client, cfg, epoch, started, &mut result) {
        result.error = Some(e.to_string());
    }
    result.elapsed = started.elapsed();
    result
}

fn publish_all(
    client: &mut Client,
    cfg: &PublisherConfig,
    epoch: Instant,
    started: Instant,
    result: &mut PublisherResult,
) -> std::io::Result<()> {
    let window_cap = cfg.inflight.clamp(1, 65_000);
    let v5 = client.protocol.is_v5();
    let mut template = PublishTemplate::new(&cfg.topic, cfg.qos, cfg.size.max(STAMP_LEN), v5);
    let batch = cfg.batch.max(1);
    let mut out = Vec::with_capacity(batch * template.bytes.len());
    let mut replies = Vec::new();
    let mut window = Window::new();
    let mut unexpected = 0u64;
    client
        .stream
        .set_read_timeout(Some(Duration::from_millis(200)))?;
    while result.sent < cfg.count || window.open > 0 {
        let now = Instant::now();
        if now > cfg.deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("deadline with {} unacknowledged", window.open),
            ));
        }
        let room = if cfg.qos == 0 {
            batch
        } else {
            batch.min(window_cap - window.open)
        };
        let left = usize::try_from(cfg.count - result.sent).unwrap_or(usize::MAX);
        let mut n = room.min(left);
        if let Some(rate) = cfg.rate {
            let due = (now.duration_since(started).as_secs_f64() * rate) as u64;
            let due = usize::try_from(due.saturating_sub(result.sent)).unwrap_or(usize::MAX);
            n = n.min(due);
            if n == 0 && left > 0 && window.open == 0 {
                let next = started + Duration::from_secs_f64((result.sent + 1) as f64 / rate);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                continue;
            }
        }
        if n > 0 {
            out.clear();
            let sent_ns = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
            for _ in 0..n {
                let stamp = Stamp {
                    publisher: cfg.id,
                    seq: result.sent,
                    sent_ns,
                };
                append_publish(&mut out, &mut template, &mut window, stamp);
                result.sent += 1;
            }
            client.stream.write_all(&out)?;
            if cfg.qos == 0 {
                result.completed = result.sent;
            }
        }
        // Wait for acknowledgements only when the window is full or nothing
        // is left to send: a real client keeps the window busy.
        let must_wait = window.open > 0 && (window.open >= window_cap || result.sent >= cfg.count);
        if must_wait {
            read_acks(client, &mut window, &mut replies, result, &mut unexpected)?;
        }
    }
    if unexpected > 0 {
        eprintln!(
            "publisher {}: {unexpected} unexpected acknowledgements",
            cfg.id
        );
    }
    Ok(())
}

/// Appends one PUBLISH to `out`: the template with `stamp` in its payload
/// and, at QoS 1 and 2, a packet id taken from `window`.
fn append_publish(
    out: &mut Vec<u8>,
    template: &mut PublishTemplate,
    window: &mut Window,
    stamp: Stamp,
) {
    if let Some(payload) = template.bytes.get_mut(template.payload_at..) {
        stamp.write(payload);
    }
    if let Some(at) = template.packet_id_at {
        let id = window.take().to_be_bytes();
        if let Some(slot) = template.bytes.get_mut(at..at + 2) {
            slot.copy_from_slice(&id);
        }
    }
    out.extend_from_slice(&template.bytes);
}

/// One read of acknowledgements: PUBACK and PUBCOMP free their packet id
/// and complete a message, PUBREC is answered with PUBREL, anything else
/// is counted as unexpected. A read that times out reads nothing.
fn read_acks(
    client: &mut Client,
    window: &mut Window,
    replies: &mut Vec<u8>,
    result: &mut PublisherResult,
    unexpected: &mut u64,
) -> std::io::Result<()> {
    match client.read_more() {
        Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
        Ok(_) => {}
        Err(e) if is_timeout(&e) => return Ok(()),
        Err(e) => return Err(e),
    }
    replies.clear();
    client.drain(|packet| {
        if let Incoming::Ack { kind, packet_id } = packet {
            match kind {
                4 | 7 => {
                    if window.release(packet_id) {
                        result.completed += 1;
                    } else {
                        *unexpected += 1;
                    }
                }
                5 => wire::put_ack(replies, wire::PUBREL, packet_id),
                _ => *unexpected += 1,
            }
        }
    })?;
    if !replies.is_empty() {
        client.stream.write_all(replies)?;
    }
    Ok(())
}

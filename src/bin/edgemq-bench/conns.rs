//! Connections: open C clients with H handshakes in flight, optionally one
//! subscription each, and read the broker's RSS idle, with C connections,
//! and with C subscriptions (settled each time), to give bytes per idle
//! connection and per subscription.

//!
//! Handshakes run on one thread with async-io (one epoll, no thread per
//! handshake), so the generator costs little per connection and the
//! broker's accept path is what is measured. With `--tls` each connection
//! is a TLS 1.3 handshake first.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use argh::FromArgs;
use async_io::Timer;
use edgemq::codec::{
    self, Connect, Disconnect, Packet, PacketId, Properties, ProtocolVersion, QoS, Subscribe,
    SubscriptionOptions, SubscriptionRequest,
};
use futures_lite::future;
use smol::LocalExecutor;

use crate::report::{cpu_seconds, rss_kib, CpuMeter, Json};
use crate::stream::AsyncStream;
use crate::Common;

/// An open connection and the index it was opened as.
type Held = (usize, AsyncStream);

/// Longest wait for one CONNACK or SUBACK.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest wait for the broker to close a connection after DISCONNECT.
const DISCONNECT_WAIT: Duration = Duration::from_secs(2);

/// C connections (and subscriptions), connect rate and broker memory
#[derive(FromArgs)]
#[argh(subcommand, name = "conns")]
pub struct Args {
    /// connections (default 10000)
    #[argh(option, default = "10_000")]
    count: usize,
    /// handshakes in flight (default 64)
    #[argh(option, default = "64")]
    inflight: usize,
    /// also subscribe each connection to its own topic
    #[argh(switch)]
    subscribe: bool,
    /// wait before each RSS reading, in ms (default 1000)
    #[argh(option, default = "1000")]
    settle_ms: u64,
}

pub struct Phase {
    pub ok: usize,
    failed: usize,
    pub seconds: f64,
    pub first_error: Option<String>,
}

pub fn run(common: &Common, args: &Args) -> io::Result<String> {
    let settle = Duration::from_millis(args.settle_ms);
    let mut json = Json::new("conns", &common.label);
    json.int("count", args.count as u64);
    json.int("inflight", args.inflight as u64);
    let idle = rss(common, &mut json, "rss_idle_kib");
    let workers = args.inflight.clamp(1, args.count.max(1));

    let (held, connected) = connect_all(common, args.count, workers, &mut json);
    thread::sleep(settle);
    let with_conns = rss(common, &mut json, "rss_conns_kib");
    if let (Some(a), Some(b)) = (idle, with_conns) {
        let per = b.saturating_sub(a).saturating_mul(1024) / connected.max(1) as u64;
        json.int("bytes_per_conn", per);
    }

    let streams: Vec<RefCell<Option<Held>>> =
        held.into_iter().map(|s| RefCell::new(Some(s))).collect();
    if args.subscribe {
        let subscribed = subscribe_all(common, workers, &streams, &mut json);
        thread::sleep(settle);
        let with_subs = rss(common, &mut json, "rss_subs_kib");
        if let (Some(a), Some(b)) = (with_conns, with_subs) {
            let per = b.saturating_sub(a).saturating_mul(1024) / subscribed.max(1) as u64;
            json.int("bytes_per_sub", per);
        }
    }
    // Leave no TIME_WAIT on our side: 10k of them make the kernel's choice
    // of the next run's ephemeral ports cost more than the handshake, and
    // the next connect rate measured would depend on the run before it.
    disconnect_all(common, workers, &streams);
    json.int("lost", 0);
    json.int("duplicated", 0);
    json.int("out_of_order", 0);
    Ok(json.finish())
}

/// The broker's RSS in KiB, also written to `json` under `key`; `None`
/// without a broker pid.
fn rss(common: &Common, json: &mut Json, key: &str) -> Option<u64> {
    let kib = common.pid.and_then(rss_kib);
    if let Some(kib) = kib {
        json.int(key, kib);
    }
    kib
}

/// Opens `count` connections with `workers` handshakes in flight and
/// reports the phase with its CPU cost; returns the open connections and
/// how many handshakes succeeded.
fn connect_all(
    common: &Common,
    count: usize,
    workers: usize,
    json: &mut Json,
) -> (Vec<Held>, usize) {
    let held: RefCell<Vec<Held>> = RefCell::new(Vec::new());
    let cpu = CpuMeter::start(common.pid);
    let connect = phase(workers, count, common.deadline, |i| {
        let id = common.client_id("c", i);
        let held = &held;
        async move {
            let stream = handshake(common, &id).await?;
            held.borrow_mut().push((i, stream));
            Ok(())
        }
    });
    put_cpu(json, &cpu, common.pid, &connect);
    put_phase(json, "connect", &connect);
    (held.into_inner(), connect.ok)
}

/// The broker's and the generator's CPU over a connecting phase, and the
/// broker's CPU per connection it accepted: its own cost, independent of
/// whether the generator or the kernel's loopback handshake limited the
/// rate.
pub fn put_cpu(json: &mut Json, cpu: &CpuMeter, pid: Option<u32>, phase: &Phase) {
    cpu.stop(phase.seconds, json);
    let broker_cpu_after = pid.and_then(|p| cpu_seconds(&p.to_string()));
    if let (Some(a), Some(b)) = (cpu.broker_start(), broker_cpu_after) {
        json.float("broker_us_per_conn", (b - a) * 1e6 / phase.ok.max(1) as f64);
    }
}

/// Subscribes each open connection to its own topic and reports the
/// phase; returns how many subscriptions succeeded.
fn subscribe_all(
    common: &Common,
    workers: usize,
    streams: &[RefCell<Option<Held>>],
    json: &mut Json,
) -> usize {
    let sub = phase(workers, streams.len(), common.deadline, |k| {
        let slot = streams.get(k);
        async move {
            let Some((i, mut stream)) = slot.and_then(|s| s.borrow_mut().take()) else {
                return Err(io::ErrorKind::NotFound.into());
            };
            let result = subscribe(&mut stream, &format!("bench/c/{i}"), common.protocol).await;
            if let Some(slot) = slot {
                *slot.borrow_mut() = Some((i, stream));
            }
            result
        }
    });
    put_phase(json, "subscribe", &sub);
    sub.ok
}

/// Sends DISCONNECT on every open connection and waits for the broker to
/// close it.
fn disconnect_all(common: &Common, workers: usize, streams: &[RefCell<Option<Held>>]) {
    phase(workers, streams.len(), common.deadline, |k| {
        let slot = streams.get(k);
        async move {
            if let Some((_, stream)) = slot.and_then(|s| s.borrow_mut().take()) {
                disconnect(stream, common.protocol).await;
            }
            Ok(())
        }
    });
}

/// Runs `step(0..count)` with `workers` steps in flight on this thread;
/// counts successes and failures and times the whole.
pub fn phase<'a, F, Fut>(workers: usize, count: usize, deadline: Instant, step: F) -> Phase
where
    F: Fn(usize) -> Fut + 'a,
    Fut: std::future::Future<Output = io::Result<()>> + 'a,
{
    let next = Cell::new(0usize);
    let ok = Cell::new(0usize);
    let failed = Cell::new(0usize);
    let first_error = RefCell::new(None::<String>);
    let executor = LocalExecutor::new();
    let started = Instant::now();
    let step = Rc::new(step);
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (step, next, ok, failed, first_error) =
                (step.clone(), &next, &ok, &failed, &first_error);
            executor.spawn(async move {
                loop {
                    let i = next.get();
                    if i >= count || Instant::now() > deadline {
                        return;
                    }
                    next.set(i + 1);
                    let timed = future::or(step(i), async {
                        Timer::after(REPLY_TIMEOUT).await;
                        Err(io::ErrorKind::TimedOut.into())
                    });
                    match timed.await {
                        Ok(()) => ok.set(ok.get() + 1),
                        Err(e) => {
                            first_error
                                .borrow_mut()
                                .get_or_insert_with(|| e.to_string());
                            failed.set(failed.get() + 1);
                        }
                    }
                }
            })
        })
        .collect();
    async_io::block_on(executor.run(async {
        for task in tasks {
            task.await;
        }
    }));
    Phase {
        ok: ok.get(),
        failed: failed.get(),
        seconds: started.elapsed().as_secs_f64(),
        first_error: first_error.take(),
    }
}

fn encode(packet: &Packet, protocol: ProtocolVersion) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    codec::encode(packet, protocol, &mut out)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    Ok(out)
}

/// One whole control packet (small ones only: CONNACK, SUBACK).
async fn read_packet(stream: &mut AsyncStream) -> io::Result<Vec<u8>> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await?;
    let mut packet = head.to_vec();
    let [_, mut byte] = head;
    let mut len = usize::from(byte & 0x7f);
    let mut shift = 7;
    while byte & 0x80 != 0 && shift < 28 {
        let mut next = [0u8; 1];
        stream.read_exact(&mut next).await?;
        packet.push(next[0]);
        byte = next[0];
        len |= usize::from(byte & 0x7f) << shift;
        shift += 7;
    }
    if len > 4096 {
        return Err(io::Error::other(format!("a {len}-byte control packet")));
    }
    let at = packet.len();
    packet.resize(at + len, 0);
    stream
        .read_exact(packet.get_mut(at..).unwrap_or(&mut []))
        .await?;
    Ok(packet)
}

/// TCP connect, TLS handshake with `--tls`, CONNECT (clean session),
/// CONNACK 0.
pub async fn handshake(common: &Common, client_id: &str) -> io::Result<AsyncStream> {
    let mut stream = AsyncStream::connect(common.addr, common.tls.as_ref()).await?;
    let connect = Connect {
        protocol: common.protocol,
        bridge: false,
        clean_start: true,
        keep_alive: 600,
        client_id: client_id.to_string(),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    };
    stream
        .write_all(&encode(
            &Packet::Connect(Box::new(connect)),
            common.protocol,
        )?)
        .await?;
    // CONNACK: 20 len flags code (5.0: then properties).
    let connack = read_packet(&mut stream).await?;
    match connack.as_slice() {
        [0x20, _, _, 0, ..] => Ok(stream),
        other => Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("CONNACK {other:02x?}"),
        )),
    }
}

/// SUBSCRIBE to one filter at QoS 0, SUBACK granted.
async fn subscribe(
    stream: &mut AsyncStream,
    filter: &str,
    protocol: ProtocolVersion,
) -> io::Result<()> {
    let subscribe = Subscribe {
        packet_id: PacketId::MIN,
        requests: vec![SubscriptionRequest {
            filter: filter.to_string(),
            options: SubscriptionOptions {
                qos: QoS::AtMostOnce,
                ..SubscriptionOptions::default()
            },
        }],
        properties: Properties::default(),
    };
    stream
        .write_all(&encode(&Packet::Subscribe(subscribe), protocol)?)
        .await?;
    // SUBACK for one filter: 90 len id id (5.0: properties) code.
    let suback = read_packet(stream).await?;
    match suback.as_slice() {
        [0x90, _, .., code] if *code < 0x80 => Ok(()),
        other => Err(io::Error::other(format!("SUBACK {other:02x?}"))),
    }
}

/// DISCONNECT, then wait (briefly) for the broker to close first, so that
/// the TIME_WAIT state stays on its side, keyed to its listening port.
pub async fn disconnect(mut stream: AsyncStream, protocol: ProtocolVersion) {
    let Ok(packet) = encode(&Packet::Disconnect(Disconnect::default()), protocol) else {
        return;
    };
    if stream.write_all(&packet).await.is_err() {
        return;
    }
    let mut sink = [0u8; 64];
    let closed = async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    future::or(closed, async {
        Timer::after(DISCONNECT_WAIT).await;
    })
    .await;
}

pub fn put_phase(json: &mut Json, name: &str, phase: &Phase) {
    json.int(&format!("{name}_ok"), phase.ok as u64);
    json.int(&format!("{name}_failed"), phase.failed as u64);
    json.float(&format!("{name}_s"), phase.seconds);
    let rate = if phase.seconds > 0.0 {
        phase.ok as f64 / phase.seconds
    } else {
        0.0
    };
    json.float(&format!("{name}_per_s"), rate);
    if let Some(e) = &phase.first_error {
        json.text(&format!("{name}_error"), e);
    }
}

//! The driver of each bridge: one task per `connection` block on the
//! broker's executor. It resolves and connects (addresses in order, the
//! next after a failure), wraps TLS when configured, and runs a session
//! over the resulting [`ByteStream`] (a TCP socket or a `TlsStream`, the
//! streams client connections use): a reader loop (bytes → the codec's
//! `Framer` → packets → link → broker) and a writer loop (queue → link →
//! bytes, keepalive timer) side by side, so neither waits for the other.
//! Between sessions it waits `restart_timeout` with jitter; failed
//! connects are logged as `bridge::failures` decides.
//!
//! The broker and the link are borrowed only inside synchronous sections,
//! never across an `.await`.

// The TLS transport is a child: this module calls it for TLS bridges, and
// it uses this module's connect timeout and `Failure`.
#[cfg(feature = "bridge-tls")]
mod tls;

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use futures_lite::future;
use log::{debug, error, info, warn};
use smol::{LocalExecutor, Task};

use crate::bridge::backoff::Backoff;
use crate::bridge::failures::ConnectFailures;
use crate::bridge::link::{Link, LinkEvent};
use crate::bridge::WINDOW;
use crate::broker::Broker;
use crate::codec::{Framer, Packets};
use crate::config::bridge::BridgeAddress;
use crate::config::BridgeConfig;

use super::connection::{read_some, write_all, ByteStream};
use super::{Notify, Shared};

/// How long a TCP connect (and a TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Read buffer per live link.
const READ_BYTES: usize = 16 * 1024;

/// The bridge tasks' wake-up flags, by bridge index.
#[derive(Default)]
pub(crate) struct BridgeWakers {
    notifiers: RefCell<Vec<Rc<BridgeSignals>>>,
    scratch: RefCell<Vec<usize>>,
}

/// What wakes one bridge's loops.
#[derive(Default)]
pub(super) struct BridgeSignals {
    /// The writer: its queue got something, or acknowledgements it holds
    /// may go out.
    woken: Notify,
    /// The reader, stopped while the store was behind: it caught up.
    store_caught_up: Notify,
}

impl BridgeWakers {
    /// Wakes every bridge the broker has news for.
    pub(crate) fn dispatch(&self, broker: &mut Broker) {
        let mut woken = self.scratch.borrow_mut();
        broker.poll_bridge_wakeups(&mut woken);
        let notifiers = self.notifiers.borrow();
        for index in woken.drain(..) {
            if let Some(signals) = notifiers.get(index) {
                signals.woken.notify();
            }
        }
        if broker.take_bridges_may_read() {
            for signals in notifiers.iter() {
                signals.store_caught_up.notify();
            }
        }
    }
}

/// Starts one task per bridge the broker has; dropping them stops the
/// bridges (the remote then publishes our will).
pub(crate) fn spawn_all(
    executor: &Rc<LocalExecutor<'static>>,
    shared: &Rc<Shared>,
) -> Vec<Task<()>> {
    let count = shared.broker.borrow().bridge_count();
    (0..count)
        .map(|index| {
            let notify = Rc::new(BridgeSignals::default());
            shared
                .bridge_wakers
                .notifiers
                .borrow_mut()
                .push(notify.clone());
            super::spawn::spawn(executor, run(shared.clone(), index, notify))
        })
        .collect()
}

async fn run(shared: Rc<Shared>, index: usize, notify: Rc<BridgeSignals>) {
    let (config, settings) = {
        let broker = shared.broker.borrow();
        match (
            broker.bridge_config(index),
            broker.bridge_link_settings(index, WINDOW),
        ) {
            (Some(c), Some(s)) => (c.clone(), s),
            _ => return,
        }
    };
    let name = config.name.clone();
    info!(
        "bridge {name}: remote client id {}, {} address(es), {}",
        settings.client_id,
        config.addresses.len(),
        if config.uses_tls() {
            "TLS"
        } else {
            "plain TCP"
        }
    );
    let link = RefCell::new(Link::new(settings, Instant::now()));
    let mut backoff = Backoff::new(config.restart_base, config.restart_cap, seed(index));
    let mut next_address = 0usize;
    let mut failures = ConnectFailures::default();
    let mut capath_said = String::new();
    loop {
        let Some(address) = config
            .addresses
            .get(next_address % config.addresses.len().max(1))
        else {
            error!("bridge {name}: no address");
            return;
        };
        let outcome = attempt(
            &shared,
            index,
            &config,
            address,
            &link,
            &notify,
            &mut capath_said,
        )
        .await;
        {
            link.borrow_mut().disconnected();
            shared
                .broker
                .borrow_mut()
                .handle_bridge_state(Instant::now(), index, false);
        }
        shared.dispatch_wakeups();
        let (was_up, why) = match outcome {
            Ok(()) => (true, "the session ended".to_owned()),
            Err(Failure { was_up, why }) => (was_up, why),
        };
        if was_up {
            backoff.reset();
        } else {
            next_address = next_address.wrapping_add(1);
        }
        let logged = log_failure(&name, address, was_up, &why, &mut failures);
        let delay = backoff.next_delay();
        if logged {
            info!("bridge {name}: reconnecting in {:.1}s", delay.as_secs_f32());
        } else {
            debug!(
                "bridge {name}: cannot connect to {address}: {why}; reconnecting in {:.1}s",
                delay.as_secs_f32()
            );
        }
        Timer::after(delay).await;
    }
}

/// Logs a lost link, or a failed connect as `failures` decides (a repeat
/// of the last reason may stay quiet); whether anything was logged.
fn log_failure(
    name: &str,
    address: &BridgeAddress,
    was_up: bool,
    why: &str,
    failures: &mut ConnectFailures,
) -> bool {
    if was_up {
        // Repeats not logged before the link came up.
        if let Some(line) = failures.succeeded() {
            warn!("bridge {name}: before the link came up: cannot connect to {line}");
        }
        warn!("bridge {name}: link to {address} lost: {why}");
        return true;
    }
    let lines = failures.failed(Instant::now(), &format!("{address}: {why}"));
    for line in &lines {
        warn!("bridge {name}: cannot connect to {line}");
    }
    !lines.is_empty()
}

/// Why a session ended.
pub(super) struct Failure {
    was_up: bool,
    why: String,
}

impl Failure {
    pub(super) fn before_up(why: impl std::fmt::Display) -> Failure {
        Failure {
            was_up: false,
            why: why.to_string(),
        }
    }
}

fn seed(index: usize) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(index);
    h.finish()
}

async fn connect(address: &BridgeAddress) -> io::Result<Async<TcpStream>> {
    let addrs: Vec<SocketAddr> = smol::net::resolve((address.host.as_str(), address.port)).await?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address");
    for addr in addrs {
        match Async::<TcpStream>::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn with_timeout<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    future::or(f, async {
        Timer::after(CONNECT_TIMEOUT).await;
        Err(format!("{what} timed out after {CONNECT_TIMEOUT:?}"))
    })
    .await
}

/// One connection: TCP, TLS if configured, then the MQTT session.
/// `capath_said` is the TLS side's memory of what it logged.
async fn attempt(
    shared: &Rc<Shared>,
    index: usize,
    config: &BridgeConfig,
    address: &BridgeAddress,
    link: &RefCell<Link>,
    notify: &BridgeSignals,
    capath_said: &mut String,
) -> Result<(), Failure> {
    let stream = with_timeout("connect", async {
        connect(address).await.map_err(|e| e.to_string())
    })
    .await
    .map_err(Failure::before_up)?;
    let _ = stream.get_ref().set_nodelay(true);
    if config.uses_tls() {
        #[cfg(feature = "bridge-tls")]
        {
            let stream = tls::open(config, address, stream, capath_said).await?;
            return session(shared, index, link, notify, &stream).await;
        }
        #[cfg(not(feature = "bridge-tls"))]
        {
            let _ = capath_said;
            return Err(Failure::before_up("built without the bridge-tls feature"));
        }
    }
    session(shared, index, link, notify, &stream).await
}

/// The MQTT session over an open transport, until it fails; then the
/// stream is closed (a TLS close_notify first).
async fn session(
    shared: &Rc<Shared>,
    index: usize,
    link: &RefCell<Link>,
    notify: &BridgeSignals,
    stream: &dyn ByteStream,
) -> Result<(), Failure> {
    link.borrow_mut()
        .start(Instant::now())
        .map_err(Failure::before_up)?;
    let was_up = Cell::new(false);
    // The reader tells the writer that acknowledgements opened the window.
    let kick = Notify::default();
    let max_packet = shared.broker.borrow().settings().max_packet_size;
    let read_loop = async {
        let mut buf = vec![0u8; READ_BYTES];
        let mut framer = Framer::new();
        loop {
            // What comes down may have to be stored: while the store is
            // behind, the remote waits (TCP back-pressure), like a local
            // publisher that feeds the store.
            while shared.broker.borrow_mut().bridge_waits_for_store() {
                notify.store_caught_up.notified().await;
            }
            let n = read_some(stream, &mut buf)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed by the remote".to_owned());
            }
            let data = buf.get(..n).unwrap_or(&[]);
            process(shared, index, link, framer.feed(data), max_packet, &was_up)?;
            shared.dispatch_wakeups();
            kick.notify();
        }
    };
    let write_loop = async {
        let mut out = Vec::new();
        loop {
            let deadline = {
                let now = Instant::now();
                let mut link = link.borrow_mut();
                link.handle_timeout(now).map_err(|e| e.to_string())?;
                let mut broker = shared.broker.borrow_mut();
                link.release_acks(broker.store_durable(), now)
                    .map_err(|e| e.to_string())?;
                if let Some((queue, journal)) = broker.bridge_queue(index) {
                    link.poll_transmit(now, queue, journal)
                        .map_err(|e| e.to_string())?;
                }
                broker.handle_bridge_link_drops(now, index, link.take_drops());
                link.swap_output(&mut out);
                link.poll_timeout()
            };
            if !out.is_empty() {
                write_all(stream, &out).await.map_err(|e| e.to_string())?;
                out.clear();
                continue;
            }
            let timer = async {
                match deadline {
                    Some(at) => {
                        Timer::at(at).await;
                    }
                    None => future::pending::<()>().await,
                }
            };
            future::or(kick.notified(), future::or(notify.woken.notified(), timer)).await;
        }
    };
    let result: Result<(), String> = future::or(read_loop, write_loop).await;
    stream.shutdown();
    Err(Failure {
        was_up: was_up.get(),
        why: result.err().unwrap_or_default(),
    })
}

/// Handles every whole packet the framer completes; a link never pauses
/// its reader, so the framer keeps only a split packet's bytes.
fn process(
    shared: &Shared,
    index: usize,
    link: &RefCell<Link>,
    mut packets: Packets<'_>,
    max_packet: usize,
    was_up: &Cell<bool>,
) -> Result<(), String> {
    let mut link = link.borrow_mut();
    let mut broker = shared.broker.borrow_mut();
    let version = link.settings().protocol;
    let mut events = Vec::new();
    let now = Instant::now();
    while let Some(packet) = packets
        .next_packet(version, max_packet)
        .map_err(|e| format!("undecodable bytes from the remote: {e}"))?
    {
        let Some((queue, journal)) = broker.bridge_queue(index) else {
            return Err("no such bridge".to_owned());
        };
        link.handle_packet(now, packet, queue, journal, &mut events)
            .map_err(|e| e.to_string())?;
        for event in events.drain(..) {
            match event {
                LinkEvent::Up { session_present } => {
                    was_up.set(true);
                    if let Some(c) = broker.bridge_config(index) {
                        info!(
                            "bridge {}: connected (session present: {session_present})",
                            c.name
                        );
                    }
                    broker.handle_bridge_state(now, index, true);
                }
                LinkEvent::Publish {
                    body,
                    qos,
                    retain,
                    properties,
                    ack,
                } => {
                    let until =
                        broker.handle_bridge_publish(now, index, &body, (qos, retain), &properties);
                    if let Some(ack) = ack {
                        link.acknowledge(ack, until, now)
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
        }
    }
    // Acknowledgements can drop (refusals): count them now.
    broker.handle_bridge_link_drops(now, index, link.take_drops());
    Ok(())
}

//! The event loop's edge: listeners, connection tasks, bridge links, the
//! sweep timer and the one shutdown path. Everything that awaits lives here;
//! the broker is called synchronously and polled for what to wake.
//!
//! One thread, one `LocalExecutor`: the broker is a single value behind a
//! `RefCell`, borrowed only between awaits.

mod admin;
#[cfg(feature = "bridge")]
mod bridge;
mod connection;
mod listener;
mod notify;
mod refuse;
mod spawn;
#[cfg(any(feature = "tls", feature = "bridge-tls"))]
mod tls;
mod transport;
mod unix;
#[cfg(feature = "websocket")]
mod websocket;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::future;
use log::{error, info, warn};
use smol::LocalExecutor;

use crate::broker::reload::ReloadReport;
use crate::broker::{
    Broker, ConnId, ListenerId, OpenRefused, PeerAddr, SecurityInstalled, Settings, Stats,
};
use crate::config::ListenerConfig;
use crate::privileges::Account;
use crate::store::{Event, StoreHandle};
use crate::systemd::{self, Notifier};

pub use admin::AdminListener;
pub use listener::BindError;
pub(crate) use notify::Notify;
use notify::WakeTable;

/// The shared read buffer: every connection reads into it and keeps only a
/// partial packet's leftover. 16 KiB: a few hundred small PUBLISHes per
/// read at full load, nothing per idle connection.
const SCRATCH_BYTES: usize = 16 * 1024;

/// How long shutdown waits for connections to write what they owe.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(3);

/// How long shutdown waits for the store's last flush.
const STORE_SHUTDOWN: Duration = Duration::from_secs(10);

/// The store's writer, as the event loop sees it.
pub struct StoreLink {
    pub handle: StoreHandle,
    pub events: smol::channel::Receiver<Event>,
}

pub(crate) struct Shared {
    pub(crate) broker: RefCell<Broker>,
    scratch: RefCell<Box<[u8]>>,
    /// Each live connection task's waker, by `ConnId::index`.
    wakers: WakeTable,
    /// Scratch list for `dispatch_wakeups`.
    woken: RefCell<Vec<ConnId>>,
    live_tasks: Cell<usize>,
    refusals_in_progress: Cell<usize>,
    timer: Notify,
    /// Wakes the admin API's waiting tail requests (`admin.rs`).
    tail_news: notify::Broadcast,
    store: RefCell<Option<StoreHandle>>,
    /// The store's size at its last flush (`$SYS`, the admin API).
    store_bytes: Cell<Option<u64>>,
    #[cfg(feature = "bridge")]
    pub(crate) bridge_wakers: bridge::BridgeWakers,
    /// The broker's `max_packet_size` for WebSocket streams, which check a
    /// frame's length before the framer sees its bytes; kept on reload.
    #[cfg(feature = "websocket")]
    max_packet_size: Rc<Cell<usize>>,
    /// Each TLS listener's certificates, by the listener they serve, for
    /// SIGHUP to re-read.
    #[cfg(feature = "tls")]
    tls_listeners: RefCell<Vec<(ListenerId, Rc<tls::Acceptor>)>>,
}

impl Shared {
    /// Hands the broker's store ops to the writer, then wakes every
    /// connection the broker has news for. Called after each piece of
    /// broker work.
    pub(crate) fn dispatch_wakeups(&self) {
        if let Some(store) = self.store.borrow().as_ref() {
            let mut broker = self.broker.borrow_mut();
            while let Some(ready) = broker.take_store_batch(Instant::now()) {
                store.apply(ready);
            }
        }
        let mut woken = self.woken.borrow_mut();
        self.broker.borrow_mut().poll_wakeups(&mut woken);
        if self.broker.borrow_mut().take_tail_news() {
            self.tail_news.notify_all();
        }
        #[cfg(feature = "bridge")]
        self.bridge_wakers.dispatch(&mut self.broker.borrow_mut());
        for id in woken.drain(..) {
            self.wakers.notify(id.index());
        }
    }

    /// What only the edge can measure, for a `$SYS` tick or an API answer.
    fn edge_facts(&self) -> crate::sys::EdgeFacts {
        let store = self.store.borrow();
        crate::sys::EdgeFacts {
            resident_bytes: resident_bytes(),
            store_bytes: store.as_ref().and(self.store_bytes.get()),
            store_write_errors: store.as_ref().map(|s| s.counters().status().write_errors),
            wall_ms: unix_ms(),
        }
    }

    fn register_connection(&self, conn: ConnId) {
        self.wakers.register(conn.index());
        self.live_tasks.set(self.live_tasks.get() + 1);
    }

    fn forget_connection(&self, conn: ConnId) {
        self.wakers.forget(conn.index());
        self.live_tasks.set(self.live_tasks.get().saturating_sub(1));
    }
}

/// The configured listeners, bound (or waiting for their address) but not
/// yet served: bound before root is dropped, served after (main.rs).
pub struct Listeners {
    /// Each with the listener it was configured as (its index) and what
    /// it speaks.
    bound: Vec<(ListenerId, listener::Bound, transport::TransportConfig)>,
    /// The admin API's listener (`admin_listener`).
    admin: Option<AdminListener>,
}

/// Why a TLS listener's files cannot be used, as `edgemq check-config`
/// tells it; each error names the config line of the file.
#[derive(Debug)]
pub enum TlsCheckError {
    /// A file or directory that cannot be opened here: the config may be
    /// checked on a build machine that lacks the device's files.
    Unreadable(crate::config::ConfigError),
    /// A file that is there and is not what its key needs.
    Invalid(crate::config::ConfigError),
}

/// Reads every TLS listener's files as a start would (`edgemq
/// check-config`).
pub fn check_tls(configs: &[ListenerConfig]) -> Result<(), TlsCheckError> {
    #[cfg(feature = "tls")]
    tls::check(configs)?;
    let _ = configs;
    Ok(())
}

/// Reads every TLS bridge's files as a connect would (`edgemq
/// check-config`): why each bridge that could not connect with them
/// would fail.
pub fn check_bridge_tls(
    bridges: &[crate::config::BridgeConfig],
) -> Vec<crate::config::ConfigError> {
    #[cfg(feature = "bridge-tls")]
    return tls::check_bridges(bridges);
    #[cfg(not(feature = "bridge-tls"))]
    {
        let _ = bridges;
        Vec::new()
    }
}

impl Listeners {
    /// Binds every configured listener with std's sockets: no thread is
    /// started (src/privileges/ needs a single thread). A listener whose
    /// address does not exist yet is retried in the background once
    /// served; any other bind error fails, as does a TLS listener whose
    /// files cannot be used (read here, as root: key files are often
    /// root's alone). Unix socket files go to `owner`, the account a root
    /// process is about to become. `websockets_headers_size` bounds the
    /// upgrade requests of WebSocket listeners.
    pub fn bind(
        configs: &[ListenerConfig],
        owner: Option<&Account>,
        websockets_headers_size: usize,
    ) -> Result<Listeners, BindError> {
        let mut bound = Vec::new();
        for (index, config) in configs.iter().enumerate() {
            let Some(id) = ListenerId::new(index) else {
                return Err(BindError::Internal(
                    "more listeners than a ListenerId holds",
                ));
            };
            let transport = transport::TransportConfig::new(config, websockets_headers_size)?;
            for b in listener::bind(config, owner)? {
                bound.push((id, b, transport.clone()));
            }
        }
        Ok(Listeners { bound, admin: None })
    }

    /// Serves the admin API on `admin` too.
    pub fn with_admin(mut self, admin: AdminListener) -> Listeners {
        self.admin = Some(admin);
        self
    }

    /// Addresses still to be bound in the background on a port below
    /// 1024, which a process that dropped root cannot take.
    pub fn retried_privileged(&self) -> Vec<std::net::SocketAddr> {
        self.bound
            .iter()
            .filter_map(|(_, b, _)| match b {
                listener::Bound::Retry(address) if listener::is_privileged(*address) => {
                    Some(*address)
                }
                _ => None,
            })
            .collect()
    }
}

/// What SIGHUP did to the TLS listeners' certificates.
#[derive(Debug, Default)]
pub struct TlsReload {
    /// Listeners whose files were read again.
    pub reloaded: usize,
    /// Why a listener keeps the files it had, one per listener.
    pub errors: Vec<String>,
}

/// The running broker, as the signal handler sees it: between awaits it may
/// apply a reloaded configuration (SIGHUP).
pub struct BrokerHandle {
    shared: Rc<Shared>,
}

impl BrokerHandle {
    /// Applies what can change at run time (see `Broker::apply_reload`) and
    /// re-arms the sweep timer, whose deadlines may have moved.
    pub fn apply_reload(&self, settings: &Settings) -> ReloadReport {
        let report = self.shared.broker.borrow_mut().apply_reload(settings);
        #[cfg(feature = "websocket")]
        self.shared.max_packet_size.set(settings.max_packet_size);
        self.shared.timer.notify();
        report
    }

    /// SIGHUP's `alert` rules; `true` when they changed.
    pub fn install_alerts(&self, rules: Vec<crate::sys::alerts::AlertRule>) -> bool {
        self.shared.broker.borrow_mut().install_alerts(rules)
    }

    /// SIGHUP: reads every TLS listener's certificate, key, CA and CRL
    /// files again, as `configs` (the reloaded config) names them. A
    /// listener whose files cannot be used keeps the ones it has. A
    /// listener that gained or lost TLS is left alone: that needs a
    /// restart (`restart_only_changes`).
    pub fn reload_tls(&self, configs: &[ListenerConfig]) -> TlsReload {
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut outcome = TlsReload::default();
        #[cfg(feature = "tls")]
        for (id, acceptor) in self.shared.tls_listeners.borrow().iter() {
            let Some(config) = configs.get(id.index()) else {
                continue;
            };
            let Some(tls) = config.tls.as_deref() else {
                continue;
            };
            match acceptor.reload(tls) {
                Ok(()) => outcome.reloaded += 1,
                Err(error) => outcome.errors.push(error.to_string()),
            }
        }
        #[cfg(not(feature = "tls"))]
        let _ = configs;
        outcome
    }

    /// Installs who may connect and what they may touch (the re-read
    /// credential and ACL files, `allow_anonymous`), for the CONNECTs to
    /// come; connected clients stay, and lose the subscriptions the new
    /// rules refuse (`Broker::install_security`).
    pub fn install_security(&self, security: crate::broker::Security) -> SecurityInstalled {
        let installed = self
            .shared
            .broker
            .borrow_mut()
            .install_security(std::time::Instant::now(), security);
        self.shared.dispatch_wakeups();
        installed
    }

    /// SIGUSR1: hands the store what is gathered, with a flush (whatever
    /// the mode's schedule), and logs every counter and the store's state.
    pub fn flush_and_report(&self) {
        self.shared.broker.borrow_mut().request_store_flush();
        self.shared.dispatch_wakeups();
        let broker = self.shared.broker.borrow();
        for line in broker.listener_report() {
            info!("SIGUSR1: {line}");
        }
        let counters: Vec<String> = broker
            .stats()
            .named()
            .iter()
            .map(|(name, value)| format!("{name} {value}"))
            .collect();
        info!(
            "SIGUSR1: {} connections, {} sessions; {}",
            broker.connection_count(),
            broker.session_count(),
            counters.join(", ")
        );
        match (self.shared.store.borrow().as_ref(), broker.store_backlog()) {
            (Some(store), Some((bytes, batches))) => info!(
                "SIGUSR1: {}; {bytes} bytes in {batches} batches handed to the writer and not yet written; flush requested",
                store.counters().status()
            ),
            _ => info!("SIGUSR1: persistence is off: nothing to flush"),
        }
    }
}

/// Serves MQTT on `listeners` until the future `control` builds resolves,
/// then closes every client and returns the broker's final counters.
/// `control` gets a [`BrokerHandle`] for reloads; it is the signal loop.
///
/// A listener whose address did not exist yet is retried in the
/// background; a listener the reactor refuses fails the start. Under systemd
/// (`NOTIFY_SOCKET`) READY=1 follows the binding, WATCHDOG=1 comes from a
/// task on this executor, STOPPING=1 starts the shutdown.
pub async fn serve<F: Future<Output = ()> + 'static>(
    executor: &Rc<LocalExecutor<'static>>,
    broker: Broker,
    listeners: Listeners,
    store: Option<StoreLink>,
    control: impl FnOnce(BrokerHandle) -> F,
) -> Result<Stats, BindError> {
    let (store_handle, store_events) = match store {
        Some(link) => (Some(link.handle), Some(link.events)),
        None => (None, None),
    };
    #[cfg(feature = "websocket")]
    let max_packet_size = Rc::new(Cell::new(broker.settings().max_packet_size));
    let shared = Rc::new(Shared {
        broker: RefCell::new(broker),
        scratch: RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice()),
        wakers: WakeTable::default(),
        woken: RefCell::new(Vec::new()),
        live_tasks: Cell::new(0),
        refusals_in_progress: Cell::new(0),
        timer: Notify::default(),
        tail_news: notify::Broadcast::default(),
        store: RefCell::new(store_handle),
        store_bytes: Cell::new(None),
        #[cfg(feature = "bridge")]
        bridge_wakers: Default::default(),
        #[cfg(feature = "websocket")]
        max_packet_size,
        #[cfg(feature = "tls")]
        tls_listeners: RefCell::new(Vec::new()),
    });
    let background = start(executor, &shared, listeners, store_events)?;
    // A task of its own, polled when a signal comes: this future is polled
    // whenever any task is woken, and the signal stream tries a read of its
    // pipe at every poll (a wasted syscall per routed message).
    spawn::spawn(
        executor,
        control(BrokerHandle {
            shared: shared.clone(),
        }),
    )
    .await;
    shut_down(&shared, background).await;
    let stats = shared.broker.borrow().stats().clone();
    Ok(stats)
}

/// The tasks that run beside the connection tasks, and the systemd
/// notifier. Dropping a task cancels it.
struct Background {
    accept: Vec<smol::Task<()>>,
    admin: Option<smol::Task<()>>,
    /// Removed when accepting stops.
    unix_files: Vec<unix::SocketFile>,
    timer: smol::Task<()>,
    store: Option<smol::Task<()>>,
    #[cfg(feature = "bridge")]
    bridges: Vec<smol::Task<()>>,
    watchdog: Option<smol::Task<()>>,
    notifier: Notifier,
}

/// Spawns the accept loops, the sweep timer, the store's event loop, the
/// bridges and the watchdog, and tells systemd the broker is ready.
fn start(
    executor: &Rc<LocalExecutor<'static>>,
    shared: &Rc<Shared>,
    listeners: Listeners,
    store_events: Option<smol::channel::Receiver<Event>>,
) -> Result<Background, BindError> {
    let mut accept = Vec::new();
    let mut unix_files = Vec::new();
    let admin = listeners
        .admin
        .and_then(|admin| admin::start(executor, shared, admin));
    for (id, bound, transport) in listeners.bound {
        let (served, local) = match bound {
            listener::Bound::Ready(bound) => {
                let served = listener::serve(bound)?;
                let local = served.get_ref().local_addr().map(|a| a.to_string());
                (Served::Tcp(served), local.unwrap_or_default())
            }
            listener::Bound::Retry(address) => (Served::Retry(address), address.to_string()),
            listener::Bound::Unix(bound) => {
                let (listener, file) = unix::serve(bound)?;
                let local = format!("unix:{}", file.path.display());
                unix_files.push(file);
                (Served::Unix(listener), local)
            }
        };
        #[cfg(feature = "tls")]
        if let Some(acceptor) = transport.acceptor() {
            let mut tls = shared.tls_listeners.borrow_mut();
            // One listener may serve several addresses with one acceptor.
            if !tls.iter().any(|(served, _)| *served == id) {
                tls.push((id, acceptor.clone()));
            }
        }
        let transport = transport::Transport::start(&transport, shared, &local);
        let accepting = accept_loop(executor.clone(), shared.clone(), id, served, transport);
        accept.push(spawn::spawn(executor, accepting));
    }
    let timer = spawn::spawn(executor, sweep_loop(shared.clone()));
    let store =
        store_events.map(|events| spawn::spawn(executor, store_loop(shared.clone(), events)));
    #[cfg(feature = "bridge")]
    let bridges = bridge::spawn_all(executor, shared);
    let notifier = Notifier::from_env();
    notifier.ready("serving MQTT");
    let watchdog = notifier.is_enabled().then(|| {
        let status_of = shared.clone();
        let status = move || status_of.broker.borrow().status_line();
        let pings = systemd::watchdog_loop(notifier.clone(), notifier.watchdog_interval(), status);
        spawn::spawn(executor, pings)
    });
    Ok(Background {
        accept,
        admin,
        unix_files,
        timer,
        store,
        #[cfg(feature = "bridge")]
        bridges,
        watchdog,
        notifier,
    })
}

/// The one shutdown path (docs/design.md, ## Durability): stop accepting
/// and stop the bridges, close every client and give the sockets
/// `SHUTDOWN_DRAIN` to take what they are owed, then the store's last
/// flush.
async fn shut_down(shared: &Rc<Shared>, background: Background) {
    let Background {
        accept,
        admin,
        unix_files,
        timer,
        store,
        #[cfg(feature = "bridge")]
        bridges,
        watchdog,
        notifier,
    } = background;
    notifier.stopping();
    info!(
        "shutting down: closing {} connections",
        shared.broker.borrow().connection_count()
    );
    drop(accept);
    drop(admin);
    drop(unix_files);
    #[cfg(feature = "bridge")]
    {
        drop(bridges);
        shared.broker.borrow().log_bridge_totals();
    }
    shared.broker.borrow_mut().handle_shutdown(Instant::now());
    shared.dispatch_wakeups();
    let deadline = Instant::now() + SHUTDOWN_DRAIN;
    while shared.live_tasks.get() > 0 && Instant::now() < deadline {
        Timer::after(Duration::from_millis(20)).await;
    }
    if shared.live_tasks.get() > 0 {
        warn!(
            "{} connections did not close in time",
            shared.live_tasks.get()
        );
    }
    drop(timer);
    drop(store);
    // What the closes changed (sessions offline) goes in the last flush.
    shared.dispatch_wakeups();
    last_flush(shared);
    drop(watchdog);
}

/// Shuts the store writer down, waiting up to `STORE_SHUTDOWN` for its
/// last flush, and says how it went.
fn last_flush(shared: &Shared) {
    if let Some(store) = shared.store.borrow_mut().take() {
        let counters = store.counters().clone();
        if store.shutdown(STORE_SHUTDOWN) {
            let status = counters.status();
            info!(
                "store flushed ({} flushes and {} write errors in this run)",
                status.flushes, status.write_errors
            );
        } else {
            // Sync mode acknowledged none of what is not on disk.
            error!(
                "the store's last flush failed or did not finish in time: {}",
                counters.status()
            );
        }
    }
}

/// A listener as its accept loop gets it.
enum Served {
    Tcp(async_io::Async<std::net::TcpListener>),
    Retry(std::net::SocketAddr),
    Unix(async_io::Async<std::os::unix::net::UnixListener>),
}

async fn accept_loop(
    executor: Rc<LocalExecutor<'static>>,
    shared: Rc<Shared>,
    id: ListenerId,
    served: Served,
    transport: transport::Transport,
) {
    match served {
        Served::Tcp(listener) => accept_tcp(&executor, &shared, id, listener, &transport).await,
        Served::Retry(address) => {
            if let Some(listener) = listener::bind_with_retry(address).await {
                accept_tcp(&executor, &shared, id, listener, &transport).await;
            }
        }
        Served::Unix(listener) => accept_unix(&executor, &shared, id, listener, &transport).await,
    }
}

async fn accept_tcp(
    executor: &LocalExecutor<'static>,
    shared: &Rc<Shared>,
    id: ListenerId,
    listener: async_io::Async<std::net::TcpListener>,
    transport: &transport::Transport,
) {
    let mut nodelay = listener::NoDelay::default();
    loop {
        match listener::accept(&listener).await {
            Ok((stream, peer)) if !admit(shared, id, peer.into()) => drop(stream),
            Ok((stream, peer)) => {
                nodelay.apply(stream.get_ref());
                transport.open_tcp(executor, shared, id, stream, peer);
            }
            Err(error) => accept_failed(error).await,
        }
        // A flood of connects waits its turn behind the clients.
        future::yield_now().await;
    }
}

async fn accept_unix(
    executor: &LocalExecutor<'static>,
    shared: &Rc<Shared>,
    id: ListenerId,
    listener: async_io::Async<std::os::unix::net::UnixListener>,
    transport: &transport::Transport,
) {
    loop {
        match unix::accept(&listener).await {
            Ok(stream) if !admit(shared, id, PeerAddr::Unix) => drop(stream),
            Ok(stream) => open(
                executor,
                shared,
                id,
                Box::new(stream),
                PeerAddr::Unix,
                transport,
            ),
            Err(error) => accept_failed(error).await,
        }
        future::yield_now().await;
    }
}

/// Whether to keep a socket just accepted: over its listener's
/// `max_connection_rate` it is closed at once, before any read (no
/// CONNECT, no TLS handshake, no WebSocket upgrade).
fn admit(shared: &Shared, id: ListenerId, peer: PeerAddr) -> bool {
    shared
        .broker
        .borrow_mut()
        .admit_connection(Instant::now(), id, peer)
}

/// Out of file descriptors and the like: pause, do not spin.
async fn accept_failed(error: std::io::Error) {
    warn!("accept failed: {error}");
    Timer::after(Duration::from_millis(100)).await;
}

/// Hands an accepted stream to the broker, then to its transport's
/// connection task; over `max_connections` (the global one or the
/// listener's) to its transport's refusal.
fn open(
    executor: &LocalExecutor<'static>,
    shared: &Rc<Shared>,
    id: ListenerId,
    stream: connection::AnyStream,
    peer: PeerAddr,
    transport: &transport::Transport,
) {
    let opened = shared
        .broker
        .borrow_mut()
        .handle_open(Instant::now(), id, peer);
    match opened {
        Ok(conn) => {
            shared.register_connection(conn);
            transport.open(executor, shared, stream, peer, conn);
        }
        Err(OpenRefused::MaxConnections) => transport.refuse(executor, shared, stream),
        Err(OpenRefused::ShuttingDown) => drop(stream),
    }
}

/// Drives the broker's periodic sweeps (keepalive, timeouts, expiry).
async fn sweep_loop(shared: Rc<Shared>) {
    loop {
        let next = shared.broker.borrow().poll_timeout();
        if let Some(at) = next {
            future::or(
                async {
                    Timer::at(at).await;
                },
                shared.timer.notified(),
            )
            .await;
        }
        let now = Instant::now();
        let wants_memory = shared.broker.borrow().wants_memory_usage();
        if wants_memory {
            if let Some(resident) = resident_bytes() {
                shared
                    .broker
                    .borrow_mut()
                    .handle_memory_usage(now, resident);
            }
        }
        shared.broker.borrow_mut().handle_timeout(now);
        let sys_due = {
            let mut broker = shared.broker.borrow_mut();
            broker.handle_wall_clock_ms(now, unix_ms());
            broker.sys_due(now)
        };
        if sys_due {
            let facts = shared.edge_facts();
            shared.broker.borrow_mut().handle_sys(now, facts);
        }
        shared.dispatch_wakeups();
    }
}

/// The wall clock in ms since the epoch; `None` before the build time (a
/// router whose clock is not set yet).
fn unix_ms() -> Option<u64> {
    let since = crate::wall_clock::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .ok()?;
    (since.as_secs() >= crate::store::BUILD_EPOCH)
        .then(|| u64::try_from(since.as_millis()).ok())
        .flatten()
}

/// Tells the broker which store batches are durable (releasing sync-mode
/// acknowledgements) or taken (the backlog shrinks), and whether the store
/// is at `max_store_bytes`.
async fn store_loop(shared: Rc<Shared>, events: smol::channel::Receiver<Event>) {
    while let Ok(event) = events.recv().await {
        match event {
            Event::Durable { batch, store_bytes } => {
                let full = shared
                    .store
                    .borrow()
                    .as_ref()
                    .is_some_and(|store| store.is_full(store_bytes));
                shared.store_bytes.set(Some(store_bytes));
                let mut broker = shared.broker.borrow_mut();
                broker.handle_persisted(batch);
                broker.handle_store_full(Instant::now(), full);
            }
            Event::Taken { batch } => shared.broker.borrow_mut().handle_store_taken(batch),
        }
        shared.dispatch_wakeups();
    }
}

/// This process's resident set size, from /proc (Linux; `None` elsewhere).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // 4 KiB pages on every target we ship (x86_64, aarch64, armv7, MIPS).
    pages.checked_mul(4096)
}

//! The `edgemq` binary: parse the command line, load the config, start
//! logging, and run the event loop until SIGTERM or SIGINT.

#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: edgemq::allocator::EdgeAllocator = edgemq::allocator::EdgeAllocator;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use async_signal::Signal;
use futures_lite::StreamExt;
use log::{error, info, warn, LevelFilter};
use smol::LocalExecutor;

use edgemq::acl::Acl;
use edgemq::auth::{self, Credentials};
use edgemq::broker::reload::{restart_only_changes, ReloadReport};
use edgemq::broker::{Broker, Restore, RestoredSession, Security, SecurityDomain, Settings};
use edgemq::cli::{self, Action};
use edgemq::config::Config;
use edgemq::privileges::{self, Plan};
use edgemq::store::{Recovery, SessionSink, Store, StoreConfig};
use edgemq::{build_checks, logging, net};

fn main() -> ExitCode {
    edgemq::panic_line::install();
    match cli::parse_args() {
        Action::Version => {
            println!("{}", cli::version_line());
            ExitCode::SUCCESS
        }
        Action::CheckConfig { file } => exit_code(cli::check_config(&file)),
        Action::Passwd(request) => exit_code(edgemq::commands::passwd::run(&request)),
        Action::Token(request) => exit_code(edgemq::commands::token::run(&request)),
        Action::Ctl(args) => exit_code(edgemq::commands::ctl::run(&args)),
        Action::Usage(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
        Action::Run { config, log_level } => run(config.as_deref(), log_level),
    }
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn run(config_path: Option<&Path>, log_level: Option<LevelFilter>) -> ExitCode {
    let config = match load_config(config_path, log_level) {
        Ok(config) => config,
        Err(code) => return code,
    };
    // Read as root, before `user` drops it: the files may be root's alone.
    let credentials = match load_credentials(&config, "") {
        Ok(credentials) => credentials,
        Err(error) => {
            error!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let _pid_file = match config.pid_file.as_deref().map(PidFile::create).transpose() {
        Ok(pid_file) => pid_file,
        Err(error) => {
            error!("{error}");
            return ExitCode::FAILURE;
        }
    };
    // Before the signal handlers and the store: both start threads, and
    // dropping root (`user`) needs a single one (src/privileges/).
    let admin_socket = match bind_admin(&config) {
        Ok(socket) => socket,
        Err(code) => return code,
    };
    let mut listeners = match bind_and_drop(&config) {
        Ok(listeners) => listeners,
        Err(code) => return code,
    };
    if let Some(socket) = admin_socket {
        match admin_token(&config) {
            Ok(token) => listeners = listeners.with_admin(net::AdminListener::new(socket, token)),
            Err(code) => return code,
        }
    }
    let signals = match install_signals() {
        Ok(signals) => signals,
        Err(code) => return code,
    };
    let (broker, store) = match start_broker(&config, credentials) {
        Ok(started) => started,
        Err(code) => return code,
    };
    let executor = Rc::new(LocalExecutor::new());
    let reload_path = config_path.map(Path::to_path_buf);
    let control = move |broker: net::BrokerHandle| {
        control_loop(signals, reload_path, log_level, config, broker)
    };
    let served =
        async_io::block_on(executor.run(net::serve(&executor, broker, listeners, store, control)));
    stopped(served)
}

/// Reads the config file (or takes the defaults), starts logging and logs
/// the file's warnings. A file that does not parse fails the start; it is
/// said on stderr, as logging is not up yet.
fn load_config(
    config_path: Option<&Path>,
    log_level: Option<LevelFilter>,
) -> Result<Config, ExitCode> {
    let (config, warnings) = match config_path {
        Some(path) => match Config::from_file(path) {
            Ok(loaded) => loaded,
            Err(error) => {
                eprintln!("edgemq: {error}");
                return Err(ExitCode::FAILURE);
            }
        },
        None => (Config::default(), Vec::new()),
    };
    if let Err(error) = logging::init(log_level.unwrap_or(config.log_level), &config.log) {
        eprintln!("edgemq: {error}");
        return Err(ExitCode::FAILURE);
    }
    info!("{} starting", cli::version_line());
    edgemq::wall_clock::announce();
    if let Some(reason) = build_checks::refusal() {
        error!("{reason}");
        return Err(ExitCode::FAILURE);
    }
    for warning in build_checks::warnings() {
        warn!("{warning}");
    }
    for warning in &warnings {
        warn!("{warning}");
    }
    if config_path.is_none() {
        info!("no config file given: serving anonymous MQTT on 127.0.0.1:1883 with the built-in defaults");
    }
    Ok(config)
}

/// Reads the credential files (password file, token secret, JWT key) of
/// every security domain — the broker's, or each listener's with
/// `per_listener_settings true` — and says which methods are on. `when`
/// starts the log lines ("", "SIGHUP: ").
fn load_credentials(config: &Config, when: &str) -> Result<Vec<Credentials>, String> {
    let mut all = Vec::new();
    for domain in config.security_domains() {
        let credentials = auth::load(domain.auth_files).map_err(|e| e.to_string())?;
        let on = match domain.listener {
            Some(_) => format!(" on {}", domain.describe()),
            None => String::new(),
        };
        info!(
            "{when}authentication{on}: allow_anonymous {}; credentials: {}",
            domain.allow_anonymous,
            credentials.describe()
        );
        if !domain.allow_anonymous && !credentials.any() {
            warn!(
                "{when}allow_anonymous false without password_file, auth_token_secret_file or \
                 auth_jwt_key_file{on}: only clients named by a TLS client certificate can connect"
            );
        }
        all.push(credentials);
    }
    Ok(all)
}

/// Reads each security domain's `acl_file` and puts the domains together
/// with their `credentials` (from [`load_credentials`], same order).
fn load_security(
    config: &Config,
    credentials: Vec<Credentials>,
) -> Result<Security, edgemq::config::ConfigError> {
    let mut domains = Vec::new();
    for (domain, credentials) in config.security_domains().iter().zip(credentials) {
        domains.push(SecurityDomain {
            allow_anonymous: domain.allow_anonymous,
            credentials,
            acl: load_acl(domain.acl_file)?,
        });
    }
    Ok(if config.per_listener_settings {
        Security::per_listener(domains)
    } else {
        Security::global(domains.into_iter().next().unwrap_or_default())
    })
}

/// The signals the control loop handles (see [`control_loop`]).
fn install_signals() -> Result<async_signal::Signals, ExitCode> {
    async_signal::Signals::new([
        Signal::Term,
        Signal::Int,
        Signal::Hup,
        Signal::Usr1,
        Signal::Usr2,
    ])
    .map_err(|error| {
        error!("cannot install signal handlers: {error}");
        ExitCode::FAILURE
    })
}

/// Builds the broker: opens the store when `persistence` is on, installs
/// the bridges and puts back what the store held, session by session as
/// the store is read. The store link is `None` when the broker serves from
/// memory.
fn start_broker(
    config: &Config,
    credentials: Vec<Credentials>,
) -> Result<(Broker, Option<net::StoreLink>), ExitCode> {
    let mut store = if config.persistence {
        open_store(config)?
    } else {
        None
    };
    // A damaged store is salvaged once and read again into a fresh broker.
    let mut may_salvage = true;
    loop {
        let mut broker = new_broker(config, credentials.clone(), store.is_some())?;
        let Some(opened) = store.take() else {
            return Ok((broker, None));
        };
        let mut sink = RestoreSink {
            restore: Restore::new(std::time::Instant::now()),
            broker: &mut broker,
        };
        match opened.recover(&mut sink, may_salvage) {
            Recovery::Read(opened, recovered) => {
                let RestoreSink { restore, .. } = sink;
                broker.finish_restore(restore, recovered.retained);
                broker.install_history_source(Box::new(opened.history_reader()));
                broker.restore_console(recovered.trajectory, recovered.history);
                #[cfg(feature = "bridge")]
                restore_bridge_queues(&mut broker, recovered.bridge_queues);
                let link = start_store(config, opened);
                if link.is_none() {
                    // The writer did not start: serve from memory.
                    store = None;
                    continue;
                }
                return Ok((broker, link));
            }
            Recovery::Salvaged(salvaged) => store = Some(salvaged),
            Recovery::Unusable => store = None,
        }
        may_salvage = false;
    }
}

/// Hands the sessions the store reads to the broker as they come.
struct RestoreSink<'a> {
    broker: &'a mut Broker,
    restore: Restore,
}

impl SessionSink for RestoreSink<'_> {
    fn expect(&mut self, sessions: usize) {
        self.broker.reserve_sessions(sessions);
    }

    fn session(&mut self, session: RestoredSession) {
        self.broker.restore_one(&mut self.restore, session);
    }
}

/// A broker with its `$SYS`, alerts, security, console and bridges
/// installed, before anything is restored.
fn new_broker(
    config: &Config,
    credentials: Vec<Credentials>,
    persistence: bool,
) -> Result<Broker, ExitCode> {
    let mut settings = Settings::from_config(config);
    settings.persistence = persistence;
    let mut broker = Broker::new(settings, random_seed());
    broker.install_sys(
        std::time::Instant::now(),
        edgemq::sys::SysSettings {
            interval: config.sys_interval,
            events: config.event_topics,
        },
    );
    broker.install_alerts(config.alerts.clone());
    // Read after `user` took effect, as on SIGHUP: a file the broker's
    // user cannot read fails the start, not a later reload.
    let security = load_security(config, credentials).map_err(|error| {
        error!("{error}");
        ExitCode::FAILURE
    })?;
    broker.install_security(std::time::Instant::now(), security);
    broker.install_console(&edgemq::config::console::settings(config));
    #[cfg(feature = "bridge")]
    {
        let journal: Box<dyn edgemq::bridge::QueueJournal> = match broker.bridge_store_journal() {
            Some(journal) => Box::new(journal),
            None => Box::new(edgemq::bridge::NoJournal),
        };
        broker.install_bridges(std::time::Instant::now(), &config.bridges, journal);
    }
    Ok(broker)
}

/// The signal loop: SIGHUP reloads, SIGUSR1 flushes the store and logs
/// the counters (what mosquitto operators send to save the database),
/// SIGUSR2 is logged and ignored (mosquitto's subscription-tree dump),
/// SIGTERM / SIGINT end `serve`. `started_with` is the config the process
/// started with, which is what restart-only keys still run with.
async fn control_loop(
    mut signals: async_signal::Signals,
    reload_path: Option<PathBuf>,
    log_level: Option<LevelFilter>,
    started_with: Config,
    broker: net::BrokerHandle,
) {
    while let Some(Ok(signal)) = signals.next().await {
        match signal {
            Signal::Hup => reload(reload_path.as_deref(), log_level, &started_with, &broker),
            Signal::Usr1 => broker.flush_and_report(),
            Signal::Usr2 => info!("SIGUSR2: ignored (edgemq has no debug dump)"),
            _ => {
                info!("received {}", signal_name(signal));
                break;
            }
        }
    }
}

/// A stopping signal's name, for the log line.
fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Term => "SIGTERM",
        Signal::Int => "SIGINT",
        _ => "a signal",
    }
}

/// The exit code of a finished `serve`, with the run's totals.
fn stopped(served: Result<edgemq::broker::Stats, net::BindError>) -> ExitCode {
    match served {
        Ok(stats) => {
            // The drop lines are rate-limited; the totals are said here.
            let dropped = stats
                .dropped_lagging
                .saturating_add(stats.dropped_online_queue_full)
                .saturating_add(stats.dropped_qos0_outbound_full)
                .saturating_add(stats.dropped_offline_queue_full);
            info!(
                "stopped: {} connections accepted, {} messages received, {} deliveries, \
                 {dropped} dropped (lagging {}, online queue full {}, QoS 0 over max_outbound_bytes {}, offline queue full {})",
                stats.connections_accepted,
                stats.messages_received,
                stats.deliveries,
                stats.dropped_lagging,
                stats.dropped_online_queue_full,
                stats.dropped_qos0_outbound_full,
                stats.dropped_offline_queue_full
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            error!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// Puts each bridge's stored uplink queue back; a queue of a bridge the
/// config no longer has stays in the store, untouched.
#[cfg(feature = "bridge")]
fn restore_bridge_queues(
    broker: &mut Broker,
    queues: std::collections::BTreeMap<String, Vec<(u64, edgemq::store::StoredBridgeMessage)>>,
) {
    for (name, entries) in queues {
        let count = entries.len();
        let entries = entries
            .into_iter()
            .map(|(seq, m)| {
                let message = edgemq::bridge::QueuedMessage {
                    topic: m.topic,
                    payload: m.payload,
                    qos: m.qos,
                    retain: m.retain,
                    properties: m.properties.into_boxed_slice(),
                    expires_at: m.expires_at,
                };
                (seq, message)
            })
            .collect();
        if broker.restore_bridge_queue(&name, entries) {
            info!("bridge {name}: {count} queued uplink messages restored from the store");
        } else {
            warn!("the store holds {count} uplink messages of bridge {name}, which the config no longer has: kept, not sent");
        }
    }
}

/// Binds the listeners, then, started as root with `user`, becomes that
/// user and checks that it can write the store directory: mosquitto's
/// order (bind, drop, open the store), so that ports below 1024 work and
/// the store belongs to the user that writes it. The pid file is already
/// written, as root (it may then outlive a clean exit, as mosquitto's does).
fn bind_and_drop(config: &Config) -> Result<net::Listeners, ExitCode> {
    let plan = privileges::plan(config.user.as_deref()).map_err(|e| {
        error!("{e}: started as root, edgemq runs as the configured `user` or not at all");
        ExitCode::FAILURE
    })?;
    let owner = match &plan {
        Plan::DropTo(account) => Some(account),
        Plan::Stay | Plan::StayRoot => None,
    };
    let listeners = net::Listeners::bind(&config.listeners, owner, config.websockets_headers_size)
        .map_err(|e| {
            error!("{e}");
            ExitCode::FAILURE
        })?;
    if let Plan::DropTo(account) = &plan {
        let store_dir = config
            .persistence
            .then_some(config.persistence_location.as_path());
        privileges::drop_to(account, store_dir).map_err(|e| {
            error!("{e}");
            ExitCode::FAILURE
        })?;
        for address in listeners.retried_privileged() {
            warn!(
                "listener {address} waits for its address, but as user {} it cannot bind a \
                 port below 1024 when the address appears: use a port from 1024 up",
                account.name
            );
        }
    }
    Ok(listeners)
}

/// Binds `admin_listener`, if set, before root is dropped.
fn bind_admin(config: &Config) -> Result<Option<std::net::TcpListener>, ExitCode> {
    let Some(address) = config.admin_listener else {
        return Ok(None);
    };
    net::AdminListener::bind(address).map(Some).map_err(|e| {
        error!("admin_listener {address}: {e}");
        ExitCode::FAILURE
    })
}

/// The admin API's token (docs/observability.md, "The token"), read or
/// created as the running user; says where it is. A token that cannot be
/// read or made fails the start: the API would refuse every request.
fn admin_token(config: &Config) -> Result<String, ExitCode> {
    let resolved = edgemq::admin::token::resolve(
        config.admin_token_file.as_deref(),
        &config.persistence_location,
    )
    .map_err(|e| {
        error!("{e}");
        ExitCode::FAILURE
    })?;
    let how = if resolved.created { "created" } else { "read" };
    info!(
        "admin API token {how}: {} (send it as Authorization: Bearer TOKEN)",
        resolved.path.display()
    );
    Ok(resolved.token)
}

/// Opens the store. `Ok(None)`: the directory cannot be used and the
/// broker serves from memory (the store logs why). A lock held by another
/// process fails the start.
fn open_store(config: &Config) -> Result<Option<Store>, ExitCode> {
    match Store::open(&StoreConfig::from_config(config)) {
        Ok(opened) => Ok(opened),
        Err(error) => {
            error!("{error}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Starts the writer of the store read back; `None` (logged) when it
/// cannot start.
fn start_store(config: &Config, store: Store) -> Option<net::StoreLink> {
    let store_config = StoreConfig::from_config(config);
    let mode = if store_config.sync {
        "sync: acknowledged after the flush that covers it".to_owned()
    } else {
        format!(
            "batched: flushed every {:?} when changed",
            store_config.autosave_interval
        )
    };
    info!("store at {} ({mode})", store_config.dir.display());
    match store.start() {
        Ok((handle, events)) => Some(net::StoreLink { handle, events }),
        Err(e) => {
            error!("cannot start the store writer: {e}: serving from memory");
            None
        }
    }
}

/// SIGHUP: re-reads the config file and applies what does not size an
/// allocation (limits, timeouts, switches, the log level — a `--log-level`
/// flag still wins); logs what it applied and which changed keys wait for a
/// restart. A file that no longer parses is logged and the running
/// configuration kept. Restart-only keys are compared with the config the
/// process started with, which is what still runs.
fn reload(
    config_path: Option<&Path>,
    flag_level: Option<LevelFilter>,
    started_with: &Config,
    broker: &net::BrokerHandle,
) {
    // logrotate sends SIGHUP once it moved a log file away: reopen the
    // files even when the new config turns out to be unusable.
    let running_log = logging::settings();
    if let Some(running) = &running_log {
        if let Err(error) = logging::reconfigure(running) {
            error!("SIGHUP: {error}");
        }
    }
    let Some(path) = config_path else {
        info!("SIGHUP: no config file to reload");
        return;
    };
    let (config, warnings) = match Config::from_file(path) {
        Ok(loaded) => loaded,
        Err(error) => {
            error!("SIGHUP: keeping the running configuration: {error}");
            return;
        }
    };
    for warning in &warnings {
        warn!("{warning}");
    }
    // Read as the running user: a file only root can read fails here. A
    // bad credential or ACL file keeps the running configuration whole.
    let security = match load_credentials(&config, "SIGHUP: ")
        .and_then(|credentials| load_security(&config, credentials).map_err(|e| e.to_string()))
    {
        Ok(security) => security,
        Err(error) => {
            error!("SIGHUP: keeping the running configuration: {error}");
            return;
        }
    };
    let mut report = broker.apply_reload(&Settings::from_config(&config));
    if broker.install_alerts(config.alerts.clone()) {
        report.applied.push("alert");
    }
    let tls = broker.reload_tls(&config.listeners);
    if tls.reloaded > 0 {
        report.applied.push("TLS certificates");
    }
    for error in &tls.errors {
        error!("SIGHUP: a TLS listener keeps the certificates it has: {error}");
    }
    install_reloaded_security(broker, security, &config, started_with, &mut report);
    if running_log.as_ref() != Some(&config.log) {
        match logging::reconfigure(&config.log) {
            Ok(_) => report.applied.push("log destinations"),
            Err(error) => error!("SIGHUP: {error}"),
        }
    }
    let level = flag_level.unwrap_or(config.log_level);
    if level != log::max_level() {
        logging::set_level(level);
        report.applied.push("log_level");
    }
    report.merge_restart_only(restart_only_changes(started_with, &config));
    if report.applied.is_empty() {
        info!("SIGHUP: reloaded {}: nothing to apply", path.display());
    } else {
        info!(
            "SIGHUP: reloaded {}: applied {} (log level {level})",
            path.display(),
            report.applied.join(", ")
        );
    }
    if !report.needs_restart.is_empty() {
        warn!(
            "SIGHUP: {} changed in {} but needs a restart; the running values stay",
            report.needs_restart.join(", "),
            path.display()
        );
    }
}

/// SIGHUP: the re-read credentials and ACLs take over for the CONNECTs
/// to come; connected clients stay, and lose the subscriptions the new
/// rules refuse. Per-listener rules wait for a restart when the listeners
/// changed: a listener's rules are found by its place in the file.
fn install_reloaded_security(
    broker: &net::BrokerHandle,
    security: Security,
    config: &Config,
    started_with: &Config,
    report: &mut ReloadReport,
) {
    let listeners_moved = restart_only_changes(started_with, config).contains(&"listener");
    if (config.per_listener_settings || started_with.per_listener_settings) && listeners_moved {
        warn!(
            "SIGHUP: the listeners changed: allow_anonymous, the credential files and the \
             ACL files keep their running values until a restart (per_listener_settings)"
        );
        return;
    }
    info!("SIGHUP: credentials re-read (connected clients stay connected)");
    let installed = broker.install_security(security);
    let with_acl = |c: &Config| c.security_domains().iter().any(|d| d.acl_file.is_some());
    if installed.anonymous_changed {
        report.applied.push("allow_anonymous");
    }
    if config.per_listener_settings != started_with.per_listener_settings {
        report.applied.push("per_listener_settings");
    }
    if with_acl(config) || with_acl(started_with) {
        report.applied.push("acl_file");
    }
    if installed.revoked > 0 {
        warn!(
            "SIGHUP: the access rules removed {} subscriptions they no longer allow",
            installed.revoked
        );
    }
}

/// Reads and compiles an `acl_file`, if there is one, and logs its
/// warnings and size (docs/security.md, "Access control").
fn load_acl(path: Option<&Path>) -> Result<Option<Acl>, edgemq::config::ConfigError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let (acl, warnings) = Acl::load(path)?;
    for warning in &warnings {
        warn!("{warning}");
    }
    info!(
        "access control: {} rules from {}",
        acl.rule_count(),
        path.display()
    );
    Ok(Some(acl))
}

/// A seed for assigned client ids, from std's randomly keyed hasher: no
/// extra crate for a few random bits.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// `pid_file`: written at start, removed at a clean exit (as mosquitto does).
struct PidFile(PathBuf);

impl PidFile {
    fn create(path: &Path) -> Result<PidFile, String> {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .map_err(|e| format!("cannot write pid_file {}: {e}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

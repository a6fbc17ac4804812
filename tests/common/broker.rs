//! One `edgemq` process under test: its temporary directory, config file,
//! captured log and listening addresses.
//!
//! Owns the child process; the invariant is that the process is killed (by its
//! PID, never by name) when the `Broker` is dropped, so a panicking test does
//! not leave brokers behind. The log is captured by two reader threads
//! (stdout and stderr) into a shared buffer with a condition variable, so that
//! waits wake up on new lines instead of polling, and end early when the
//! process closes its output (exited).

use super::{runner, scaled};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a native broker may take to print its listening line(s).
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What to start. `Broker::start(text)` covers the common case; build this for
/// the rest.
#[derive(Clone, Debug)]
pub struct BrokerOptions {
    /// Config file text; `None` runs the binary without `-c` (the embedded
    /// default: 127.0.0.1:1883, store in `./edgemq-data/`, here the temporary
    /// directory). Such tests use a fixed port: they must not run in parallel
    /// with each other.
    pub config: Option<String>,
    /// Append `listener 0 127.0.0.1` when the text has no `listener` line.
    pub auto_listener: bool,
    /// Append `allow_anonymous true` when the text does not set it (a config
    /// with a listener defaults to `false`, the mosquitto 2.0 rule).
    pub auto_anonymous: bool,
    /// Append `persistence_location <tmp>/data` when the text does not set it.
    pub auto_persistence_location: bool,
    /// Extra command-line arguments, after `-c FILE`.
    pub args: Vec<String>,
    /// Extra environment variables for the broker.
    pub env: Vec<(String, String)>,
    /// How many "listening on" lines to wait for; `None` counts the config's
    /// `listener` lines (at least 1). 0 waits for none (e.g. a test of a
    /// listener whose address does not exist yet).
    pub expect_listeners: Option<usize>,
}

impl BrokerOptions {
    pub fn new(config_text: &str) -> Self {
        BrokerOptions {
            config: Some(config_text.to_owned()),
            auto_listener: true,
            auto_anonymous: true,
            auto_persistence_location: true,
            args: Vec::new(),
            env: Vec::new(),
            expect_listeners: None,
        }
    }

    /// No config file at all: the binary's embedded default.
    pub fn without_config() -> Self {
        BrokerOptions {
            config: None,
            ..BrokerOptions::new("")
        }
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_owned());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn expect_listeners(mut self, n: usize) -> Self {
        self.expect_listeners = Some(n);
        self
    }

    pub fn start(self) -> Broker {
        Broker::start_with(self)
    }
}

#[derive(Default)]
struct LogState {
    text: String,
    /// Output streams (stdout, stderr) that reached end of file.
    closed_streams: u8,
}

type SharedLog = Arc<(Mutex<LogState>, Condvar)>;

fn lock(log: &SharedLog) -> MutexGuard<'_, LogState> {
    // A reader thread cannot panic while holding the lock, but a test thread
    // can; the text is still valid then.
    log.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running (or stopped) `edgemq` process. See the module docs.
pub struct Broker {
    dir: tempfile::TempDir,
    opts: BrokerOptions,
    conf_path: Option<PathBuf>,
    child: Option<Child>,
    log: SharedLog,
    /// Logs of earlier processes of this broker (before `restart`).
    previous_logs: String,
    listeners: Vec<String>,
    addrs: Vec<SocketAddr>,
}

impl Broker {
    /// Start the broker with `config_text` plus the harness defaults (see
    /// [`BrokerOptions`]): a listener on 127.0.0.1 port 0, anonymous access,
    /// the store in the temporary directory. Panics, with the broker's log,
    /// if it does not print its listening line(s) in time.
    pub fn start(config_text: &str) -> Broker {
        Broker::start_with(BrokerOptions::new(config_text))
    }

    pub fn start_with(opts: BrokerOptions) -> Broker {
        let mut dir = tempfile::Builder::new()
            .prefix("edgemq-test-")
            .tempdir()
            .expect("create a temporary directory");
        if std::env::var_os("EDGEMQ_TEST_KEEP").is_some() {
            dir.disable_cleanup(true);
            eprintln!("[harness] keeping {}", dir.path().display());
        }
        let mut broker = Broker {
            dir,
            opts,
            conf_path: None,
            child: None,
            log: Arc::default(),
            previous_logs: String::new(),
            listeners: Vec::new(),
            addrs: Vec::new(),
        };
        broker.write_config(None);
        broker.spawn();
        broker
    }

    /// The temporary directory (config file, `data/` store).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The default store directory the harness configured: `<dir>/data`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn config_path(&self) -> Option<&Path> {
        self.conf_path.as_deref()
    }

    /// The config text as written to the file (with the harness additions).
    pub fn config_text(&self) -> String {
        self.conf_path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// The first address the broker reported listening on.
    pub fn addr(&self) -> SocketAddr {
        *self
            .addrs
            .first()
            .expect("the broker reported no TCP listening address")
    }

    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// Every socket address the broker reported, in log order.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Every "listening on X" token, socket address or not (Unix sockets).
    pub fn listeners(&self) -> &[String] {
        &self.listeners
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A snapshot of the current process's log (stderr and stdout).
    pub fn log(&self) -> String {
        lock(&self.log).text.clone()
    }

    /// Logs of all processes of this broker, earlier ones first.
    pub fn all_logs(&self) -> String {
        format!("{}{}", self.previous_logs, self.log())
    }

    /// Wait until the current process's log contains `needle`. Returns false
    /// at the deadline, or as soon as the process has closed its output.
    /// The timeout is taken as given: wrap it in `scaled()` for emulators.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        self.wait_log(timeout, |t| t.contains(needle))
    }

    /// Sends SIGUSR1 and returns the counters its report logs, by name
    /// (`connect_timeouts`, ...), with the live `connections` and `sessions`.
    pub fn report(&self, timeout: Duration) -> std::collections::HashMap<String, u64> {
        const MARK: &str = " sessions; ";
        let before = self.log().matches(MARK).count();
        self.signal("USR1");
        assert!(
            self.wait_for_log_count(MARK, before + 1, timeout),
            "no SIGUSR1 report:\n{}",
            self.log()
        );
        let log = self.log();
        let line = log.lines().rev().find(|l| l.contains(MARK)).unwrap();
        let (head, counters) = line.split_once(MARK).unwrap();
        let head = head.rsplit("SIGUSR1: ").next().unwrap();
        let (connections, sessions) = head.split_once(" connections, ").unwrap();
        let mut named = std::collections::HashMap::new();
        named.insert("connections".to_owned(), connections.parse().unwrap());
        named.insert("sessions".to_owned(), sessions.parse().unwrap());
        for counter in counters.split(", ") {
            let (name, value) = counter.rsplit_once(' ').unwrap();
            named.insert(name.to_owned(), value.trim().parse().unwrap());
        }
        named
    }

    /// Wait until the log contains `needle` at least `n` times.
    pub fn wait_for_log_count(&self, needle: &str, n: usize, timeout: Duration) -> bool {
        self.wait_log(timeout, |t| t.matches(needle).count() >= n)
    }

    /// Wait until `pred(log)` holds; false at the deadline or when the
    /// process's output is closed and `pred` still fails.
    pub fn wait_log(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.log);
        loop {
            if pred(&state.text) {
                return true;
            }
            if state.closed_streams >= 2 {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .log
                .1
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// SIGKILL the process and reap it (a crash, power loss for the store).
    pub fn kill9(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Send SIGTERM (a clean shutdown request); does not wait.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Send a signal by name (`TERM`, `INT`, `HUP`, ...) to the process, by PID.
    pub fn signal(&self, name: &str) {
        let Some(pid) = self.pid() else { return };
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -{name} {pid} failed: {status}");
    }

    /// Wait up to `timeout` for the process to exit; `None` if it is still
    /// running then (it is left running).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => {}
                Err(_) => return None,
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// Stop the current process if it still runs (SIGKILL), then start a new
    /// one with the same config file and store.
    ///
    /// Ports: when the harness added the listener line, the new process binds
    /// the same port again (clients keep their address; std sets SO_REUSEADDR
    /// so TIME_WAIT does not block it). A `listener 0` written by the test
    /// itself gets a new port: read `addr()` again.
    pub fn restart(&mut self) {
        self.kill9();
        let port = self.addrs.first().map(SocketAddr::port);
        self.previous_logs.push_str(&self.log());
        self.previous_logs.push_str("---- [harness] restart ----\n");
        self.write_config(port);
        self.spawn();
    }

    /// Build the config file: the test's text plus the harness defaults.
    /// `auto_port` replaces port 0 in the harness's own listener line.
    fn write_config(&mut self, auto_port: Option<u16>) {
        let Some(text) = self.opts.config.clone() else {
            self.conf_path = None;
            return;
        };
        let mut conf = text.clone();
        if !conf.is_empty() && !conf.ends_with('\n') {
            conf.push('\n');
        }
        let mut added = Vec::new();
        if self.opts.auto_listener && !has_key(&text, "listener") {
            added.push(format!("listener {} 127.0.0.1", auto_port.unwrap_or(0)));
        }
        if self.opts.auto_anonymous && !has_key(&text, "allow_anonymous") {
            added.push("allow_anonymous true".to_owned());
        }
        if self.opts.auto_persistence_location && !has_key(&text, "persistence_location") {
            added.push(format!(
                "persistence_location {}/",
                self.dir.path().join("data").display()
            ));
        }
        if !added.is_empty() {
            conf.push_str("# added by the test harness\n");
            for line in added {
                conf.push_str(&line);
                conf.push('\n');
            }
        }
        let path = self.dir.path().join("edgemq.conf");
        std::fs::write(&path, conf).expect("write edgemq.conf");
        self.conf_path = Some(path);
    }

    /// Like [`Broker::restart`], as a supervisor (systemd, procd) would
    /// run it: a start that panics before it listens is started once more.
    /// For a store that makes sled itself panic while it opens, which the
    /// next start moves aside (src/store/open.rs). `true` if it panicked.
    pub fn restart_supervised(&mut self) -> bool {
        self.kill9();
        let port = self.addrs.first().map(SocketAddr::port);
        self.previous_logs.push_str(&self.log());
        self.previous_logs.push_str("---- [harness] restart ----\n");
        self.write_config(port);
        self.spawn_child();
        let panicked = |t: &str| t.contains("panicked at") || t.contains("edgemq: panic in");
        self.wait_log(scaled(START_TIMEOUT), |t| {
            !listening_tokens(t).is_empty() || panicked(t)
        });
        if !panicked(&self.log()) {
            self.wait_listening();
            return false;
        }
        let _ = self.wait_exit(scaled(Duration::from_secs(5)));
        self.kill9();
        self.previous_logs.push_str(&self.log());
        self.previous_logs
            .push_str("---- [harness] started again after the panic ----\n");
        self.spawn();
        true
    }

    fn spawn(&mut self) {
        self.spawn_child();
        self.wait_listening();
    }

    fn spawn_child(&mut self) {
        let mut cmd = edgemq_command();
        if let Some(conf) = &self.conf_path {
            cmd.arg("-c").arg(conf);
        }
        cmd.args(&self.opts.args)
            .current_dir(self.dir.path())
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        self.log = Arc::default();
        let forward = std::env::var_os("EDGEMQ_TEST_LOG").is_some();
        if let Some(out) = child.stdout.take() {
            capture(out, self.log.clone(), forward);
        }
        if let Some(err) = child.stderr.take() {
            capture(err, self.log.clone(), forward);
        }
        self.child = Some(child);
        self.listeners.clear();
        self.addrs.clear();
    }

    fn wait_listening(&mut self) {
        let want = self.opts.expect_listeners.unwrap_or_else(|| {
            let text = self.config_text();
            text.lines()
                .filter(|l| first_word(l) == Some("listener"))
                .count()
                .max(1)
        });
        let ok = self.wait_log(scaled(START_TIMEOUT), |t| listening_tokens(t).len() >= want);
        self.listeners = listening_tokens(&self.log());
        self.addrs = self
            .listeners
            .iter()
            .filter_map(|t| t.parse::<SocketAddr>().ok())
            .collect();
        if !ok {
            let state = match self.wait_exit(Duration::from_millis(100)) {
                Some(status) => format!("it exited: {status}"),
                None => format!("still running after {:?}", scaled(START_TIMEOUT)),
            };
            let config = self.config_text();
            self.kill9();
            // Drop prints the log, since we are panicking.
            panic!(
                "edgemq did not report {want} listening address(es); {state}\n\
                 --- config ---\n{config}--- end of config ---"
            );
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- edgemq log (test failed) ----\n{}", self.all_logs());
        }
    }
}

/// Copy one output stream of the broker into the shared log, line by line.
fn capture(stream: impl Read + Send + 'static, log: SharedLog, forward: bool) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    if forward {
                        eprint!("[edgemq] {line}");
                    }
                    let mut state = lock(&log);
                    state.text.push_str(&line);
                    if !line.ends_with('\n') {
                        state.text.push('\n');
                    }
                    drop(state);
                    log.1.notify_all();
                }
            }
        }
        lock(&log).closed_streams += 1;
        log.1.notify_all();
    });
}

fn first_word(line: &str) -> Option<&str> {
    let w = line.split_whitespace().next()?;
    (!w.starts_with('#')).then_some(w)
}

/// Whether the config text sets `key` (a non-comment line starting with it).
fn has_key(text: &str, key: &str) -> bool {
    text.lines().any(|l| first_word(l) == Some(key))
}

/// The distinct "listening on X" tokens of a log, in order. Lenient about the
/// log format: a `scheme://` prefix and trailing punctuation are dropped.
/// The `edgemq` binary under test (`EDGEMQ_BIN`, else cargo's) behind the
/// `EDGEMQ_RUNNER` prefix: for the broker and for its subcommands
/// (`passwd`, `token`, `check-config`).
pub fn edgemq_command() -> Command {
    let bin =
        std::env::var("EDGEMQ_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_edgemq").to_owned());
    match runner().split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&bin);
            c
        }
        None => Command::new(&bin),
    }
}

pub fn listening_tokens(log: &str) -> Vec<String> {
    const MARK: &str = "listening on ";
    let mut out: Vec<String> = Vec::new();
    for line in log.lines() {
        let Some(pos) = line.find(MARK) else { continue };
        let rest = &line[pos + MARK.len()..];
        let Some(tok) = rest.split_whitespace().next() else {
            continue;
        };
        let tok = tok.rsplit("://").next().unwrap_or(tok);
        let tok = tok.trim_end_matches([',', ';', '.', ')', '"', '\'']);
        let tok = tok.trim_start_matches(['(', '"', '\'']);
        if !tok.is_empty() && !out.iter().any(|t| t == tok) {
            out.push(tok.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_lines() {
        let log = "2026-01-01 INFO [edgemq::net] listening on 127.0.0.1:41234\n\
                   INFO [edgemq::net] listening on [::1]:1883, tcp\n\
                   INFO [edgemq::net] listening on tcp://0.0.0.0:8883\n\
                   INFO listening on 127.0.0.1:41234\n\
                   WARN something else\n";
        let toks = listening_tokens(log);
        assert_eq!(toks, vec!["127.0.0.1:41234", "[::1]:1883", "0.0.0.0:8883"]);
        let addrs: Vec<SocketAddr> = toks.iter().filter_map(|t| t.parse().ok()).collect();
        assert_eq!(addrs.len(), 3);
    }

    #[test]
    fn detects_keys() {
        assert!(has_key("  listener 1883\n", "listener"));
        assert!(!has_key("# listener 1883\n", "listener"));
        assert!(!has_key("listener_x 1\n", "listener"));
    }
}

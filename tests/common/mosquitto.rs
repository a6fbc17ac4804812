//! `mosquitto_pub` / `mosquitto_sub` (Debian's `mosquitto-clients`) as a
//! second opinion, and the only ready-made MQTT 3.1 client (`-V mqttv31`).
//!
//! Every process is bounded in time and killed by its PID at the deadline or
//! when its handle is dropped. `MosquittoSub::start` runs `mosquitto_sub -d`
//! (line-buffered through coreutils' `stdbuf`) and waits for its "received
//! SUBACK" line, so a test can publish right after it without racing the
//! subscription.

use super::scaled;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Default deadline for one mosquitto_pub / mosquitto_sub run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

fn missing_tool(name: &str, e: std::io::Error) -> ! {
    panic!("cannot run {name}: {e}. Install mosquitto-clients (`make deps`).")
}

/// Run `cmd` to completion, killing it (SIGKILL, by PID) at `timeout`. A killed
/// process's status reports signal 9. stdout and stderr are collected.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    let name = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| missing_tool(&name, e));
    let out = child.stdout.take().map(drain);
    let err = child.stderr.take().map(drain);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                break child.wait().unwrap_or_else(|_| ExitStatus::from_raw(9));
            }
        }
    };
    Output {
        status,
        stdout: out.and_then(|h| h.join().ok()).unwrap_or_default(),
        stderr: err.and_then(|h| h.join().ok()).unwrap_or_default(),
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

fn host_port(addr: SocketAddr) -> [String; 4] {
    [
        "-h".into(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
    ]
}

/// `--unix PATH`: the arguments that point the clients at a unix socket
/// listener (mosquitto-clients 2.0), for the `_at` functions.
pub fn unix_socket(path: &Path) -> Vec<String> {
    vec!["--unix".into(), path.display().to_string()]
}

/// `mosquitto_pub TARGET ARGS...`, TARGET being e.g. [`unix_socket`].
pub fn mosquitto_pub_at(target: &[String], args: &[&str]) -> Output {
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(target).args(args);
    run_with_timeout(cmd, scaled(CLIENT_TIMEOUT))
}

/// `mosquitto_pub -h HOST -p PORT ARGS...`, bounded by 10 s (scaled).
/// Example: `mosquitto_pub(b.addr(), &["-V", "mqttv31", "-t", "a/b", "-m", "hi", "-q", "1"])`.
pub fn mosquitto_pub(addr: SocketAddr, args: &[&str]) -> Output {
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(host_port(addr)).args(args);
    run_with_timeout(cmd, scaled(CLIENT_TIMEOUT))
}

/// `mosquitto_sub -h HOST -p PORT ARGS...` run to completion, bounded by
/// `timeout` (scaled). Give it `-C N` and/or `-W SECS` so it ends by itself
/// (e.g. reading retained messages).
pub fn mosquitto_sub(addr: SocketAddr, args: &[&str], timeout: Duration) -> Output {
    let mut cmd = Command::new("mosquitto_sub");
    cmd.args(host_port(addr)).args(args);
    run_with_timeout(cmd, scaled(timeout))
}

#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    closed: bool,
}

/// A running `mosquitto_sub -d`, its output split into debug lines and
/// message lines.
pub struct MosquittoSub {
    child: Child,
    id: String,
    out: Arc<(Mutex<Lines>, Condvar)>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl MosquittoSub {
    /// Start `mosquitto_sub -d -h HOST -p PORT [-i ID] ARGS...` and wait
    /// (10 s, scaled) for its SUBACK. Adds `-i` with a unique id unless
    /// `args` has `-i`/`--id`. Panics if no SUBACK comes, with the output.
    ///
    /// Message lines are told from `-d` debug lines by their prefix
    /// (`Client ID ...`, `Subscribed (mid: ...`): payloads must not start so.
    pub fn start(addr: SocketAddr, args: &[&str]) -> MosquittoSub {
        Self::start_at(&host_port(addr), args)
    }

    /// [`start`](Self::start) with TARGET instead of `-h HOST -p PORT`,
    /// e.g. [`unix_socket`].
    pub fn start_at(target: &[String], args: &[&str]) -> MosquittoSub {
        let id = args
            .iter()
            .position(|a| *a == "-i" || *a == "--id")
            .and_then(|i| args.get(i + 1))
            .map(|s| (*s).to_owned());
        // mosquitto_sub block-buffers stdout into a pipe; stdbuf (coreutils)
        // makes it line-buffered so the SUBACK line arrives when it happens.
        let mut cmd = Command::new("stdbuf");
        cmd.args(["-oL", "mosquitto_sub", "-d"]).args(target);
        let id = id.unwrap_or_else(|| {
            let id = super::unique_id("msub");
            cmd.arg("-i").arg(&id);
            id
        });
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| missing_tool("mosquitto_sub", e));
        let out: Arc<(Mutex<Lines>, Condvar)> = Arc::default();
        if let Some(stdout) = child.stdout.take() {
            let out = out.clone();
            std::thread::spawn(move || {
                let reader = BufReader::new(stdout);
                for line in reader.split(b'\n') {
                    let Ok(line) = line else { break };
                    let line = String::from_utf8_lossy(&line).into_owned();
                    out.0
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .lines
                        .push(line);
                    out.1.notify_all();
                }
                out.0.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
                out.1.notify_all();
            });
        }
        let stderr = child.stderr.take().map(drain);
        let sub = MosquittoSub {
            child,
            id,
            out,
            stderr,
        };
        let suback = format!("Client {} received SUBACK", sub.id);
        if !sub.wait(scaled(CLIENT_TIMEOUT), |l| {
            l.iter().any(|x| x.starts_with(&suback))
        }) {
            let lines = sub.all_lines().join("\n");
            panic!("mosquitto_sub got no SUBACK; output:\n{lines}");
        }
        sub
    }

    /// Wait until `pred(lines)` holds; false at the deadline or when the
    /// process ended without it.
    fn wait(&self, timeout: Duration, pred: impl Fn(&[String]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.out.0.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if pred(&st.lines) {
                return true;
            }
            let now = Instant::now();
            if st.closed || now >= deadline {
                return false;
            }
            st = self
                .out
                .1
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn is_debug(&self, line: &str) -> bool {
        line.strip_prefix("Client ")
            .and_then(|r| r.strip_prefix(self.id.as_str()))
            .is_some_and(|r| r.starts_with(' '))
            || line.starts_with("Subscribed (mid:")
    }

    /// The `mosquitto_sub` process's id (stdbuf execs it), to signal it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every stdout line, debug lines included.
    pub fn all_lines(&self) -> Vec<String> {
        self.out
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .lines
            .clone()
    }

    /// The message lines so far (what mosquitto_sub prints per message:
    /// the payload, or `topic payload` with `-v`).
    pub fn messages(&self) -> Vec<String> {
        self.all_lines()
            .into_iter()
            .filter(|l| !self.is_debug(l))
            .collect()
    }

    /// Wait until at least `n` message lines arrived (timeout taken as
    /// given); returns the message lines so far either way.
    pub fn wait_messages(&self, n: usize, timeout: Duration) -> Vec<String> {
        self.wait(timeout, |lines| {
            lines.iter().filter(|l| !self.is_debug(l)).count() >= n
        });
        self.messages()
    }

    /// Wait up to `timeout` for the process to exit by itself (`-C`, `-W`).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kill it (by PID) and return its stderr.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for MosquittoSub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

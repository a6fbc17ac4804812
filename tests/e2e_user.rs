//! `user NAME` (src/privileges/): a broker started as root binds, becomes
//! NAME, then opens its store; a store directory NAME cannot write, or a
//! NAME that does not exist, stops the start; without `user` it stays root
//! and warns; started as someone else, `user` is ignored.
//!
//! Every test needs root (it starts the broker as root, or drops to nobody
//! itself) and is skipped, saying so, otherwise. The config file is read
//! before the drop, so the harness's private temporary directory is fine
//! for it; the store lives in a directory of its own that nobody can reach.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{mosquitto_pub, mosquitto_sub, scaled, Broker, BrokerOptions, MosquittoSub};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const NOBODY: &str = "nobody";

fn is_root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: the `user` tests need root (they start the broker as root)");
    false
}

/// Root, and no emulator: qemu-user runs a thread of its own next to the
/// emulated one, so /proc/self/task shows two and the broker refuses to
/// drop (src/privileges/drop.rs) — on the device there is no such thread.
fn can_drop() -> bool {
    if !is_root() {
        return false;
    }
    if !common::runner().is_empty() {
        eprintln!("skipped: under EDGEMQ_RUNNER the emulator's own thread stops the drop");
        return false;
    }
    true
}

/// nobody's uid and gid, read from /etc/passwd here (a second opinion on
/// the broker's own parser).
fn nobody() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .expect("no nobody in /etc/passwd");
    let fields: Vec<&str> = line.split(':').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

/// A directory every user can enter (tempdir makes it 0700).
fn open_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("edgemq-user-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn config(user: &str, store: &Path) -> String {
    format!("user {user}\npersistence_location {}/\n", store.display())
}

/// The four ids of the `Uid:` or `Gid:` line of /proc/PID/status.
fn status_ids(pid: u32, key: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line[key.len()..]
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

#[test]
fn drops_to_nobody_serves_and_keeps_its_store() {
    if !can_drop() {
        return;
    }
    let (uid, gid) = nobody();
    let dir = open_dir();
    let store = dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    std::os::unix::fs::chown(&store, Some(uid), Some(gid)).unwrap();

    let mut broker = Broker::start(&config(NOBODY, &store));
    let dropped = format!("dropped privileges to user nobody (uid {uid}, gid {gid})");
    assert!(
        broker.wait_for_log(&dropped, scaled(Duration::from_secs(5))),
        "no '{dropped}' line"
    );
    let pid = broker.pid().unwrap();
    assert_eq!(
        status_ids(pid, "Uid:"),
        vec![uid; 4],
        "real, effective, saved, fs uid"
    );
    assert_eq!(
        status_ids(pid, "Gid:"),
        vec![gid; 4],
        "real, effective, saved, fs gid"
    );
    assert!(
        !status_ids(pid, "Groups:").contains(&0),
        "root's group is left in the supplementary groups"
    );

    // It serves: a round trip, and a retained message into the store.
    let sub = MosquittoSub::start(broker.addr(), &["-t", "user/t", "-q", "1", "-v"]);
    let out = mosquitto_pub(broker.addr(), &["-t", "user/t", "-m", "hi", "-q", "1"]);
    assert!(out.status.success(), "mosquitto_pub: {out:?}");
    assert_eq!(
        sub.wait_messages(1, scaled(Duration::from_secs(5))),
        vec!["user/t hi".to_owned()]
    );
    let out = mosquitto_pub(
        broker.addr(),
        &["-t", "user/kept", "-m", "stored", "-q", "1", "-r"],
    );
    assert!(out.status.success(), "mosquitto_pub -r: {out:?}");

    // SIGTERM flushes the store; the restarted broker (root again, then
    // nobody) reads it back.
    broker.terminate();
    let status = broker.wait_exit(scaled(Duration::from_secs(10)));
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");
    assert!(!broker.log().contains("serving from memory"));
    for entry in std::fs::read_dir(&store).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(
            entry.metadata().unwrap().uid(),
            uid,
            "{} is not nobody's",
            entry.path().display()
        );
    }
    broker.restart();
    let out = mosquitto_sub(
        broker.addr(),
        &["-t", "user/kept", "-C", "1", "-W", "5", "-v"],
        Duration::from_secs(10),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "user/kept stored\n");
}

/// Starts a broker that should stop right after binding; returns its log.
fn failed_start(config_text: &str) -> String {
    let mut broker = BrokerOptions::new(config_text).expect_listeners(0).start();
    let status = broker
        .wait_exit(scaled(Duration::from_secs(10)))
        .expect("the broker kept running");
    assert!(!status.success(), "exit status {status}");
    // Until its output is closed: then the whole log is in.
    broker.wait_log(scaled(Duration::from_secs(2)), |_| false);
    broker.log()
}

#[test]
fn a_store_directory_nobody_cannot_write_stops_the_start() {
    if !can_drop() {
        return;
    }
    let (uid, gid) = nobody();
    let dir = open_dir();
    // Root's, as an init script's `mkdir` as root leaves it.
    let store = dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let log = failed_start(&config(NOBODY, &store));
    let expected = format!(
        "the store directory {}/ is not writable by user nobody (uid {uid}, gid {gid})",
        store.display()
    );
    assert!(log.contains(&expected), "no '{expected}' in:\n{log}");
    assert!(
        log.contains(&format!("chown -R nobody {}/", store.display())),
        "{log}"
    );
    assert!(!log.contains("serving from memory"), "{log}");

    // nobody's directory, but a file of an earlier run as root in it.
    std::os::unix::fs::chown(&store, Some(uid), Some(gid)).unwrap();
    std::fs::write(store.join("db"), b"").unwrap();
    let log = failed_start(&config(NOBODY, &store));
    let culprit = format!("({}/db is not)", store.display());
    assert!(log.contains(&culprit), "no '{culprit}' in:\n{log}");
}

#[test]
fn an_unknown_user_stops_the_start_before_binding() {
    if !is_root() {
        return;
    }
    let dir = open_dir();
    let log = failed_start(&config("edgemq-no-such-user", &dir.path().join("store")));
    assert!(
        log.contains("user 'edgemq-no-such-user' is not in /etc/passwd"),
        "{log}"
    );
    assert!(!log.contains("listening on"), "{log}");
}

#[test]
fn without_user_root_stays_root_and_warns() {
    if !is_root() {
        return;
    }
    let broker = Broker::start("");
    let warning = "running as root: set `user NAME` in the config file";
    assert!(
        broker.wait_for_log(warning, scaled(Duration::from_secs(5))),
        "no warning '{warning}'"
    );
    assert_eq!(status_ids(broker.pid().unwrap(), "Uid:"), vec![0; 4]);
    assert_eq!(broker.log().matches(warning).count(), 1);
}

/// Started as nobody (setpriv, util-linux), `user root` is ignored.
#[test]
fn user_is_ignored_when_not_started_as_root() {
    if !is_root() {
        return;
    }
    let dir = open_dir();
    let conf = dir.path().join("edgemq.conf");
    std::fs::write(
        &conf,
        "user root\nlistener 0 127.0.0.1\nallow_anonymous true\npersistence false\n",
    )
    .unwrap();
    let (uid, gid) = nobody();
    let mut command = Command::new("setpriv");
    command
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
        ])
        .args(common::runner())
        .arg(binary())
        .arg("-c")
        .arg(&conf);
    let Some(mut broker) = Logged::spawn(command, dir.path()) else {
        return;
    };
    assert!(broker.wait_for("listening on"), "{}", broker.log);
    let ignored = format!("user root: ignored, edgemq was started as uid {uid} (not root)");
    assert!(
        broker.log.contains(&ignored),
        "no '{ignored}' in:\n{}",
        broker.log
    );
    assert!(!broker.log.contains("running as root"), "{}", broker.log);
}

/// A listener on a port below 1024 whose address appears after the drop
/// cannot bind: warned about at start, and said clearly when it fails. Run
/// in a network namespace of its own (unshare and nsenter, util-linux;
/// `ip`, iproute2) so that the address can appear without touching the
/// machine's network.
#[test]
fn a_retried_listener_below_1024_fails_after_the_drop_and_says_why() {
    if !can_drop() {
        return;
    }
    let (uid, gid) = nobody();
    let dir = open_dir();
    let store = dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    std::os::unix::fs::chown(&store, Some(uid), Some(gid)).unwrap();
    let conf = dir.path().join("edgemq.conf");
    // 192.0.2.7 is TEST-NET-1 (RFC 5737), and only ever in this namespace.
    std::fs::write(
        &conf,
        format!(
            "listener 883 192.0.2.7\nlistener 0 127.0.0.1\nallow_anonymous true\n{}",
            config(NOBODY, &store)
        ),
    )
    .unwrap();
    // unshare and sh exec: the child's PID is the broker's.
    let script = format!(
        "ip link set lo up && exec {} '{}' -c '{}'",
        common::runner().join(" "),
        binary(),
        conf.display()
    );
    let mut command = Command::new("unshare");
    command.args(["-n", "sh", "-c", &script]);
    let Some(mut broker) = Logged::spawn(command, dir.path()) else {
        return;
    };
    let warned = "listener 192.0.2.7:883 waits for its address, but as user nobody it cannot \
                  bind a port below 1024";
    if !broker.wait_for(warned) {
        // No namespaces (a container without CAP_SYS_ADMIN) or no `ip`.
        if broker.log.contains("unshare: ") || broker.log.contains("not found") {
            eprintln!(
                "skipped: cannot make a network namespace here: {}",
                broker.log
            );
            return;
        }
        panic!("no '{warned}' in:\n{}", broker.log);
    }
    let added = Command::new("nsenter")
        .args(["-t", &broker.child.id().to_string(), "-n"])
        .args(["ip", "addr", "add", "192.0.2.7/32", "dev", "lo"])
        .status();
    let Ok(added) = added else {
        eprintln!("skipped: cannot run nsenter: {added:?}");
        return;
    };
    assert!(added.success(), "nsenter ... ip addr add: {added}");
    let failed = format!(
        "giving up listening on 192.0.2.7:883: Permission denied (os error 13): a port below \
         1024 needs root or CAP_NET_BIND_SERVICE, and edgemq runs as uid {uid}"
    );
    assert!(
        broker.wait_for(&failed),
        "no '{failed}' in:\n{}",
        broker.log
    );
}

fn binary() -> String {
    std::env::var("EDGEMQ_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_edgemq").into())
}

/// A process started outside the harness (which cannot wrap it in setpriv
/// or unshare), its stderr collected; killed by its PID when dropped.
struct Logged {
    child: Child,
    lines: Receiver<String>,
    log: String,
}

impl Logged {
    /// `None`, with a printed reason, when `command` cannot run here.
    fn spawn(mut command: Command, dir: &Path) -> Option<Logged> {
        command
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                eprintln!("skipped: cannot run {:?}: {e}", command.get_program());
                return None;
            }
        };
        let (tx, lines) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Some(Logged {
            child,
            lines,
            log: String::new(),
        })
    }

    /// Reads stderr until a line has `needle` (10 s, scaled) or it ends.
    fn wait_for(&mut self, needle: &str) -> bool {
        let deadline = Instant::now() + scaled(Duration::from_secs(10));
        while !self.log.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push_str(&line);
                    self.log.push('\n');
                }
                Err(_) => return false,
            }
        }
        true
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! systemd's notify protocol, end to end: the test plays the service
//! manager. It binds the datagram socket named by `NOTIFY_SOCKET`, starts the
//! real broker with `WATCHDOG_USEC`, and checks READY=1 after the listener is
//! bound, a steady WATCHDOG=1, STOPPING=1 on SIGTERM, and that the pings stop
//! while the process is stopped (SIGSTOP): they come from the running event
//! loop, not from a thread that would outlive a stall.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{scaled, Broker, BrokerOptions, RawClient};

/// 200 ms: the broker pings every 100 ms.
const WATCHDOG_USEC: &str = "200000";

/// The test's end of NOTIFY_SOCKET.
struct Manager {
    socket: UnixDatagram,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Manager {
    fn new() -> Manager {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).expect("bind NOTIFY_SOCKET");
        Manager {
            socket,
            _dir: dir,
            path,
        }
    }

    fn address(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }

    /// The next notification, or `None` after `timeout`.
    fn recv(&self, timeout: Duration) -> Option<String> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .expect("set_read_timeout");
        let mut buf = [0u8; 1024];
        let len = self.socket.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(buf.get(..len)?).into_owned())
    }

    /// Waits for a notification containing the line `line`, skipping others.
    fn wait_for(&self, line: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let message = self.recv(left)?;
            if message.lines().any(|l| l == line) {
                return Some(message);
            }
        }
        None
    }

    /// Counts WATCHDOG=1 notifications during `period`.
    fn count_watchdogs(&self, period: Duration) -> usize {
        let deadline = Instant::now() + period;
        let mut n = 0;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.recv(left) {
                Some(m) if m.lines().any(|l| l == "WATCHDOG=1") => n += 1,
                Some(_) => {}
                None => break,
            }
        }
        n
    }
}

fn start(manager: &Manager) -> Broker {
    BrokerOptions::new("")
        .env("NOTIFY_SOCKET", manager.address())
        .env("WATCHDOG_USEC", WATCHDOG_USEC)
        .start()
}

#[test]
fn ready_watchdog_and_stopping_reach_the_notify_socket() {
    let manager = Manager::new();
    let broker = start(&manager);

    // READY=1 is the first notification, and it means the listener accepts.
    let first = manager
        .recv(scaled(Duration::from_secs(5)))
        .expect("a first notification");
    assert!(
        first.lines().any(|l| l == "READY=1"),
        "first notification {first:?}, log:\n{}",
        broker.log()
    );
    assert!(broker.log().contains("listening on"));
    let mut client = RawClient::connect(broker.addr());
    assert_eq!(client.handshake(&common::raw::connect("sd-ready")), Some(0));

    // Every 100 ms (half of WATCHDOG_USEC): at least a few in a second,
    // even under an emulator.
    let pings = manager.count_watchdogs(Duration::from_secs(1));
    assert!(pings >= 3, "{pings} WATCHDOG=1 in 1 s");

    broker.terminate();
    let stopping = manager.wait_for("STOPPING=1", scaled(Duration::from_secs(5)));
    assert!(stopping.is_some(), "no STOPPING=1; log:\n{}", broker.log());
}

#[test]
fn watchdog_pings_stop_while_the_process_is_stopped() {
    let manager = Manager::new();
    let broker = start(&manager);
    assert!(manager
        .wait_for("READY=1", scaled(Duration::from_secs(5)))
        .is_some());
    assert!(manager.count_watchdogs(Duration::from_millis(500)) >= 1);

    broker.signal("STOP");
    // Drop what was sent before the stop took effect.
    let _ = manager.count_watchdogs(Duration::from_millis(300));
    let while_stopped = manager.count_watchdogs(Duration::from_secs(1));
    broker.signal("CONT");
    assert_eq!(while_stopped, 0, "WATCHDOG=1 while stopped");

    // Alive again: the pings resume.
    assert!(
        manager
            .wait_for("WATCHDOG=1", scaled(Duration::from_secs(2)))
            .is_some(),
        "no WATCHDOG=1 after SIGCONT; log:\n{}",
        broker.log()
    );
}

#[test]
fn abstract_notify_socket_and_no_watchdog_without_watchdog_usec() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("edgemq-e2e-notify-{}", std::process::id());
    let address =
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract name");
    let socket = UnixDatagram::bind_addr(&address).expect("bind abstract socket");
    socket
        .set_read_timeout(Some(scaled(Duration::from_secs(5))))
        .expect("set_read_timeout");
    let broker = BrokerOptions::new("")
        .env("NOTIFY_SOCKET", &format!("@{name}"))
        .start();
    let mut buf = [0u8; 1024];
    let len = socket
        .recv(&mut buf)
        .expect("READY=1 on the abstract socket");
    assert!(buf[..len].starts_with(b"READY=1\n"), "{:?}", &buf[..len]);

    // No WATCHDOG_USEC: no pings.
    socket
        .set_read_timeout(Some(Duration::from_millis(700)))
        .expect("set_read_timeout");
    assert!(socket.recv(&mut buf).is_err(), "unexpected notification");
    drop(broker);
}

/// STATUS= carries live numbers with each watchdog ping
/// (docs/observability.md).
#[test]
fn status_shows_live_numbers() {
    let manager = Manager::new();
    let broker = start(&manager);
    let mut client = RawClient::connect(broker.addr());
    assert_eq!(
        client.handshake(&common::raw::connect("sd-status")),
        Some(0)
    );
    let deadline = Instant::now() + scaled(Duration::from_secs(5));
    let mut last = String::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(message) = manager.recv(left) else {
            break;
        };
        if let Some(status) = message.lines().find_map(|l| l.strip_prefix("STATUS=")) {
            last = status.to_owned();
            if status.starts_with("1 clients, ") && message.lines().any(|l| l == "WATCHDOG=1") {
                break;
            }
        }
    }
    assert!(last.starts_with("1 clients, "), "last STATUS={last:?}");
    assert!(
        last.contains(" msg/s in, ") && last.ends_with(" queued"),
        "{last}"
    );
}

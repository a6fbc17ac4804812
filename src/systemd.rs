//! systemd's notify protocol (sd_notify(3)), written by hand: one datagram
//! of `KEY=VALUE` lines to the socket named by `$NOTIFY_SOCKET`.
//!
//! Owns: reading `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` once at
//! startup, and sending `READY=1`, `WATCHDOG=1`, `STOPPING=1` and `STATUS=`.
//!
//! Invariants: without `NOTIFY_SOCKET` (not started by systemd as
//! `Type=notify`, or under procd) every call is a no-op; a failed send is
//! logged at debug level and never stops the broker — the service manager,
//! not us, decides what a missing notification means. `WATCHDOG=1` must come
//! from the event loop itself ([`watchdog_loop`] runs on the broker's
//! executor): a stalled loop then stops pinging and systemd restarts it.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use async_io::Timer;
use log::debug;

/// Where and how to notify the service manager, read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifier {
    socket: Option<String>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
    pub fn from_env() -> Notifier {
        let var = |name: &str| std::env::var(name).ok();
        Notifier::from_vars(
            var("NOTIFY_SOCKET").as_deref(),
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
            std::process::id(),
        )
    }

    /// [`Notifier::from_env`] without the environment (for tests).
    pub fn from_vars(
        socket: Option<&str>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        own_pid: u32,
    ) -> Notifier {
        let socket = socket.filter(|s| !s.is_empty()).map(str::to_owned);
        Notifier {
            watchdog: socket
                .as_ref()
                .and_then(|_| watchdog_interval(watchdog_usec, watchdog_pid, own_pid)),
            socket,
        }
    }

    /// Whether a service manager listens at all.
    pub fn is_enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, as
    /// sd_watchdog_enabled(3) recommends; `None` without a watchdog.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// The listeners are bound: the service is up.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// The event loop is alive.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// Shutdown has begun.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=shutting down");
    }

    /// Sends one notification; errors are logged, never returned.
    pub fn send(&self, message: &str) {
        let Some(socket) = self.socket.as_deref() else {
            return;
        };
        if let Err(error) = send_datagram(socket, message.as_bytes()) {
            debug!("sd_notify to {socket} failed: {error}");
        }
    }
}

/// Half of `WATCHDOG_USEC`, when it is a positive number and `WATCHDOG_PID`
/// (if set) names this process.
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(own_pid) {
            return None;
        }
    }
    let usec = usec?.trim().parse::<u64>().ok().filter(|u| *u > 0)?;
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

/// One datagram to a filesystem socket path, or to an abstract socket for
/// a name starting with `@` (Linux).
fn send_datagram(socket: &str, message: &[u8]) -> std::io::Result<()> {
    let sender = UnixDatagram::unbound()?;
    if let Some(name) = socket.strip_prefix('@') {
        return send_abstract(&sender, name.as_bytes(), message);
    }
    sender.send_to(message, socket).map(|_| ())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(sender: &UnixDatagram, name: &[u8], message: &[u8]) -> std::io::Result<()> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sender.send_to_addr(message, &address).map(|_| ())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(_sender: &UnixDatagram, _name: &[u8], _message: &[u8]) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract sockets exist only on Linux",
    ))
}

/// How often STATUS= is refreshed without a watchdog.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(10);

/// Sends `WATCHDOG=1` every `interval` with a fresh `STATUS=` line from
/// `status` (live numbers: docs/observability.md), forever; without a
/// watchdog (`interval` `None`) only the STATUS= line, every
/// [`STATUS_INTERVAL`]. Spawn it on the broker's own executor: if the
/// event loop stops running tasks, the pings stop.
pub async fn watchdog_loop(
    notifier: Notifier,
    interval: Option<Duration>,
    status: impl Fn() -> String,
) {
    loop {
        // Without a watchdog READY=1's STATUS= stands until the first
        // refresh.
        if interval.is_none() {
            Timer::after(STATUS_INTERVAL).await;
        }
        // One line: a newline would end the STATUS= value.
        let line = status().replace('\n', " ");
        match interval {
            Some(interval) => {
                notifier.send(&format!("WATCHDOG=1\nSTATUS={line}"));
                Timer::after(interval).await;
            }
            None => notifier.send(&format!("STATUS={line}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_socket_means_disabled_and_no_watchdog() {
        let n = Notifier::from_vars(None, Some("2000000"), None, 7);
        assert!(!n.is_enabled());
        assert_eq!(n.watchdog_interval(), None);
        n.ready("x"); // no-op, no panic
        let n = Notifier::from_vars(Some(""), Some("2000000"), None, 7);
        assert!(!n.is_enabled());
    }

    #[test]
    fn watchdog_is_half_of_watchdog_usec() {
        let n = Notifier::from_vars(Some("/run/x"), Some("3000000"), None, 7);
        assert_eq!(n.watchdog_interval(), Some(Duration::from_millis(1500)));
        let n = Notifier::from_vars(Some("/run/x"), Some("3000000"), Some("7"), 7);
        assert_eq!(n.watchdog_interval(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn watchdog_ignored_for_another_pid_or_garbage() {
        let other = Notifier::from_vars(Some("/run/x"), Some("3000000"), Some("8"), 7);
        assert_eq!(other.watchdog_interval(), None);
        for bad in ["", "0", "-5", "12s", "99999999999999999999999"] {
            let n = Notifier::from_vars(Some("/run/x"), Some(bad), None, 7);
            assert_eq!(n.watchdog_interval(), None, "{bad:?}");
        }
        let none = Notifier::from_vars(Some("/run/x"), None, None, 7);
        assert_eq!(none.watchdog_interval(), None);
    }

    #[test]
    fn sends_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::from_vars(path.to_str(), None, None, 7);
        n.watchdog();
        let mut buf = [0u8; 256];
        let len = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("edgemq-test-{}", std::process::id());
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&address).unwrap();
        let n = Notifier::from_vars(Some(&format!("@{name}")), None, None, 7);
        n.stopping();
        let mut buf = [0u8; 256];
        let len = receiver.recv(&mut buf).unwrap();
        assert!(buf[..len].starts_with(b"STOPPING=1\n"));
    }
}

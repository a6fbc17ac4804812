//! Listeners: unix sockets (`listener 0 PATH`, `unix_socket_mode`,
//! `unix_socket_group`; the file replaced when stale, refused when live or
//! not a socket, removed at exit, bound before root is dropped), several
//! listeners in one broker (IPv4, IPv6 and a unix socket), a listener's
//! own `max_connections`, and handshakes that cost only their own
//! connection (a slowloris of half-open connections on every listener kind
//! while another client's round trips stay fast).
//!
//! Unix socket clients are Debian's mosquitto-clients (`--unix`, 2.0) and
//! a raw `UnixStream`. Socket files live in a temporary directory of the
//! test's own, made before the broker starts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::probe::round_trip;
use common::raw::{self, RawPublish};
use common::{
    mosquitto_pub_at, scaled, unix_socket, Broker, BrokerOptions, MosquittoSub, RawClient,
};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ACCEPTED: u8 = 0x00;
const SERVER_UNAVAILABLE: u8 = 0x03;

fn secs(n: u64) -> Duration {
    scaled(Duration::from_secs(n))
}

/// A directory for socket files, and the path of one in it.
fn socket_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("edgemq-sock-")
        .tempdir()
        .unwrap();
    let path = dir.path().join("edgemq.sock");
    (dir, path)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A group's gid from /etc/group, read here (a second opinion on the
/// broker's own reader).
fn gid_of(group: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() == 4 && f[0] == group).then(|| f[2].parse().ok())?
    })
}

/// A raw MQTT client over a unix socket: CONNECT, then the CONNACK's code.
fn unix_handshake(path: &Path, id: &str) -> (UnixStream, Option<u8>) {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(secs(5))).unwrap();
    s.write_all(&raw::connect(id)).unwrap();
    let mut connack = [0u8; 4];
    let code = s.read_exact(&mut connack).ok().map(|()| connack[3]);
    (s, code)
}

/// Whether the broker closes `s` within `timeout`.
fn unix_closed(s: &mut UnixStream, timeout: Duration) -> bool {
    s.set_read_timeout(Some(timeout)).unwrap();
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn connected(addr: SocketAddr, id: &str) -> RawClient {
    let (c, code) = RawClient::connect_mqtt(addr, id);
    assert_eq!(code, Some(ACCEPTED), "CONNACK for {id} on {addr}");
    c
}

fn subscribe(c: &mut RawClient, filter: &str, qos: u8) {
    c.send(&raw::subscribe(1, &[(filter, qos)]));
    let p = c.read_packet(secs(5)).expect("a SUBACK");
    assert_eq!(raw::parse_suback(&p), Some((1, vec![qos])));
}

/// The next PUBLISH on `c`; QoS 1 ones are acknowledged.
fn next_publish(c: &mut RawClient, timeout: Duration) -> RawPublish {
    let p = c.read_packet(timeout).expect("a PUBLISH");
    let publish = raw::parse_publish(&p).unwrap_or_else(|| panic!("not a PUBLISH: {p:?}"));
    if let (1, Some(id)) = (publish.qos, publish.pkid) {
        c.send(&raw::puback(id));
    }
    publish
}

fn assert_logged(broker: &Broker, needle: &str) {
    assert!(
        broker.wait_for_log(needle, secs(3)),
        "the broker did not log {needle:?}"
    );
}

/// SIGTERM and a clean exit.
fn stop(broker: &mut Broker) {
    broker.terminate();
    let status = broker.wait_exit(secs(10)).expect("the broker did not exit");
    assert!(status.success(), "exit status {status}");
}

#[test]
fn a_unix_socket_serves_mosquitto_clients_and_is_removed_at_exit() {
    let (_dir, path) = socket_dir();
    let mut broker = Broker::start(&format!(
        "listener 0 127.0.0.1\nlistener 0 {}\n",
        path.display()
    ));
    let label = format!("unix:{}", path.display());
    assert!(
        broker.listeners().contains(&label),
        "{:?}",
        broker.listeners()
    );
    assert!(std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_socket());

    let sub = MosquittoSub::start_at(&unix_socket(&path), &["-t", "u/#", "-q", "1", "-v"]);
    let out = mosquitto_pub_at(
        &unix_socket(&path),
        &["-t", "u/a", "-m", "over unix", "-q", "1"],
    );
    assert!(out.status.success(), "mosquitto_pub --unix: {out:?}");
    // A TCP client reaches the unix one, and the other way round.
    let mut tcp = connected(broker.addr(), "tcp-sub");
    subscribe(&mut tcp, "u/c", 0);
    tcp.send(&raw::publish("u/b", b"over tcp", 0, false, false, None));
    assert_eq!(
        sub.wait_messages(2, secs(5)),
        ["u/a over unix", "u/b over tcp"]
    );
    let out = mosquitto_pub_at(&unix_socket(&path), &["-t", "u/c", "-m", "to tcp"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(next_publish(&mut tcp, secs(5)).payload, b"to tcp");
    // A unix peer is named by its socket in the log.
    assert_logged(&broker, &format!("connected from {label}"));

    stop(&mut broker);
    assert!(!path.exists(), "the socket file outlived the broker");
    assert_logged(&broker, &format!("removed {label}"));
}

#[test]
fn mode_and_group_are_applied() {
    let (_dir, path) = socket_dir();
    // As root any group can be given; otherwise only the mode is checked.
    let group = ["dialout", "users", "nogroup"]
        .into_iter()
        .find_map(|g| gid_of(g).map(|gid| (g, gid)))
        .filter(|_| is_root());
    let group_line = group.map_or_else(String::new, |(g, _)| format!("unix_socket_group {g}\n"));
    if group.is_none() {
        eprintln!("not root (or no usual group in /etc/group): checking the mode only");
    }
    let broker = Broker::start(&format!(
        "listener 0 {}\nunix_socket_mode 0620\n{group_line}",
        path.display()
    ));
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o620, "mode {:o}", meta.mode());
    if let Some((name, gid)) = group {
        assert_eq!(meta.gid(), gid, "the socket's group is not {name}");
    }
    drop(broker);

    // The default mode: owner and group.
    let (_dir, path) = socket_dir();
    let _broker = Broker::start(&format!("listener 0 {}", path.display()));
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o660);
}

#[test]
fn a_stale_socket_is_replaced() {
    let (_dir, path) = socket_dir();
    // A broker that was killed leaves its file, and nobody listens on it.
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let broker = Broker::start(&format!("listener 0 {}", path.display()));
    assert_logged(&broker, "removed a stale socket");
    let (_client, code) = unix_handshake(&path, "after-stale");
    assert_eq!(code, Some(ACCEPTED));
}

#[test]
fn a_live_socket_or_another_file_is_refused_and_kept() {
    let (_dir, path) = socket_dir();
    let other = UnixListener::bind(&path).unwrap();
    let mut broker = BrokerOptions::new(&format!("listener 0 {}", path.display()))
        .expect_listeners(0)
        .start();
    let status = broker.wait_exit(secs(10)).expect("the broker kept running");
    assert!(!status.success());
    assert_logged(&broker, "another process accepts connections on it");
    // Never stolen: the other listener still gets its connections.
    let _client = UnixStream::connect(&path).unwrap();
    other.accept().unwrap();
    drop(other);

    let (_dir, path) = socket_dir();
    std::fs::write(&path, b"precious").unwrap();
    let mut broker = BrokerOptions::new(&format!("listener 0 {}", path.display()))
        .expect_listeners(0)
        .start();
    let status = broker.wait_exit(secs(10)).expect("the broker kept running");
    assert!(!status.success());
    assert_logged(&broker, "is not a socket");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn the_socket_belongs_to_user_and_user_removes_it() {
    if !is_root() || !common::runner().is_empty() {
        eprintln!("skipped: dropping to `user` needs root and no emulator (see e2e_user.rs)");
        return;
    }
    let (dir, path) = socket_dir();
    let text = std::fs::read_to_string("/etc/passwd").unwrap();
    let nobody: Vec<u32> = text
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .map(|l| {
            l.split(':')
                .skip(2)
                .take(2)
                .map(|v| v.parse().unwrap())
                .collect()
        })
        .expect("nobody in /etc/passwd");
    // The runtime directory is the user's (RuntimeDirectory=, the init
    // script): the user removes the file at exit.
    std::os::unix::fs::chown(dir.path(), Some(nobody[0]), Some(nobody[1])).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut broker = Broker::start(&format!(
        "user nobody\npersistence false\nlistener 0 {}\n",
        path.display()
    ));
    assert_logged(&broker, "dropped privileges to user nobody");
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (nobody[0], nobody[1]));
    assert_eq!(meta.mode() & 0o7777, 0o660);
    let (_client, code) = unix_handshake(&path, "as-root");
    assert_eq!(code, Some(ACCEPTED));
    stop(&mut broker);
    assert!(!path.exists(), "the user could not remove its socket");
}

#[test]
fn several_listeners_ipv4_ipv6_and_unix_serve_one_broker() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    let (_dir, path) = socket_dir();
    let broker = Broker::start(&format!(
        "listener 0 127.0.0.1\nlistener 0 ::1\nlistener 0 {}\n",
        path.display()
    ));
    let addrs = broker.addrs().to_vec();
    assert_eq!(addrs.len(), 2, "{:?}", broker.listeners());
    assert!(addrs[0].is_ipv4() && addrs[1].is_ipv6(), "{addrs:?}");
    let mut v4 = connected(addrs[0], "v4");
    let mut v6 = connected(addrs[1], "v6");
    subscribe(&mut v4, "m/#", 1);
    subscribe(&mut v6, "m/#", 1);
    let unix_sub = MosquittoSub::start_at(&unix_socket(&path), &["-t", "m/#", "-v"]);

    v4.send(&raw::publish("m/4", b"from v4", 0, false, false, None));
    v6.send(&raw::publish("m/6", b"from v6", 1, false, false, Some(6)));
    let out = mosquitto_pub_at(&unix_socket(&path), &["-t", "m/u", "-m", "from unix"]);
    assert!(out.status.success(), "{out:?}");
    let wanted = ["m/4", "m/6", "m/u"];
    for client in [&mut v4, &mut v6] {
        let mut topics = Vec::new();
        while topics.len() < wanted.len() {
            let p = client.read_packet(secs(5)).expect("a packet");
            if let Some(publish) = raw::parse_publish(&p) {
                if let Some(id) = publish.pkid {
                    client.send(&raw::puback(id));
                }
                topics.push(publish.topic);
            }
        }
        topics.sort();
        assert_eq!(topics, wanted);
    }
    let mut lines = unix_sub.wait_messages(3, secs(5));
    lines.sort();
    assert_eq!(lines, ["m/4 from v4", "m/6 from v6", "m/u from unix"]);
}

#[test]
fn a_listener_cap_refuses_like_the_global_one_and_spares_the_others() {
    let (_dir, path) = socket_dir();
    let broker = Broker::start(&format!(
        "max_connections 50\n\
         listener 0 127.0.0.1\nmax_connections 2\n\
         listener 0 127.0.0.1\n\
         listener 0 {}\nmax_connections 1\n",
        path.display()
    ));
    let (capped, free) = (broker.addrs()[0], broker.addrs()[1]);
    let _a = connected(capped, "cap-a");
    let _b = connected(capped, "cap-b");
    // Over the listener's cap: CONNACK 3, then close, as over the global one.
    for id in ["cap-c", "cap-d"] {
        let (mut c, code) = RawClient::connect_mqtt(capped, id);
        assert_eq!(code, Some(SERVER_UNAVAILABLE), "{id}");
        assert!(
            c.expect_closed(secs(3)),
            "{id} stays open after its refusal"
        );
    }
    assert_logged(
        &broker,
        "listener 127.0.0.1:0 is at its max_connections 2 (1 refused on this listener so far)",
    );
    // The other listeners are not counted against it.
    let _e = connected(free, "free-e");
    let _f = connected(free, "free-f");
    let (_u, code) = unix_handshake(&path, "unix-g");
    assert_eq!(code, Some(ACCEPTED));
    let (mut u2, code) = unix_handshake(&path, "unix-h");
    assert_eq!(code, Some(SERVER_UNAVAILABLE));
    assert!(unix_closed(&mut u2, secs(3)));
    // Counted per listener: SIGUSR1 says how many each refused.
    broker.signal("USR1");
    assert_logged(
        &broker,
        "listener 127.0.0.1:0: 2 connections of max_connections 2, 2 refused at its cap",
    );
    let unix_line = format!(
        "listener unix:{}: 1 connections of max_connections 1, 1 refused at its cap",
        path.display()
    );
    assert_logged(&broker, &unix_line);
    assert_logged(&broker, "refused_max_connections 3");
    // A slot freed on the capped listener is taken again.
    drop(_a);
    let deadline = Instant::now() + secs(5);
    loop {
        let (_c, code) = RawClient::connect_mqtt(capped, "cap-again");
        if code == Some(ACCEPTED) {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------- slowloris

/// A connection the slowloris holds half-open.
trait HalfOpen: Read + Write + Send {
    fn set_nonblocking(&self, on: bool) -> std::io::Result<()>;
}

impl HalfOpen for std::net::TcpStream {
    fn set_nonblocking(&self, on: bool) -> std::io::Result<()> {
        std::net::TcpStream::set_nonblocking(self, on)
    }
}

impl HalfOpen for UnixStream {
    fn set_nonblocking(&self, on: bool) -> std::io::Result<()> {
        UnixStream::set_nonblocking(self, on)
    }
}

/// A listener kind the slowloris runs against: its `listener` line (given
/// a directory for socket files) and how to open a connection to it
/// (given its "listening on" token).
struct Kind {
    listener: fn(&Path) -> String,
    open: fn(&str) -> Box<dyn HalfOpen>,
}

/// Every listener kind; a transport joins the slowloris with one line.
const KINDS: &[Kind] = &[
    Kind {
        listener: |_| "listener 0 127.0.0.1".to_owned(),
        open: |token| Box::new(std::net::TcpStream::connect(token).unwrap()),
    },
    Kind {
        listener: |dir| format!("listener 0 {}", dir.join("slow.sock").display()),
        open: |token| Box::new(UnixStream::connect(token.trim_start_matches("unix:")).unwrap()),
    },
];

const HALF_OPEN: usize = 200;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Every other connection sends one byte of a CONNECT a second, the rest
/// nothing; none may outlive `connect_timeout` (by more than a sweep and
/// some scheduling) or be closed before it. Returns when each closed,
/// measured from its connect.
fn hold_half_open(mut conns: Vec<(Box<dyn HalfOpen>, Instant)>) -> Vec<Duration> {
    let connect = raw::connect("slowloris");
    let mut closed: Vec<Option<Duration>> = vec![None; conns.len()];
    let deadline = Instant::now() + CONNECT_TIMEOUT + secs(5);
    let mut sent = 0;
    let mut next_byte = Instant::now();
    let mut buf = [0u8; 16];
    while closed.iter().any(Option::is_none) && Instant::now() < deadline {
        let dribble = Instant::now() >= next_byte;
        for (i, (conn, opened)) in conns.iter_mut().enumerate() {
            if closed[i].is_some() {
                continue;
            }
            if dribble && i % 2 == 0 && sent < connect.len() {
                // A closed socket says EPIPE here; the read below sees it.
                let _ = conn.write_all(&connect[sent..sent + 1]);
            }
            match conn.read(&mut buf) {
                Ok(0) => closed[i] = Some(opened.elapsed()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    closed[i] = Some(opened.elapsed());
                }
                other => panic!("half-open connection {i}: {other:?}"),
            }
        }
        if dribble {
            sent += 1;
            next_byte += Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    closed
        .into_iter()
        .enumerate()
        .map(|(i, c)| c.unwrap_or_else(|| panic!("half-open connection {i} was never closed")))
        .collect()
}

#[test]
fn half_open_connections_cost_only_themselves() {
    let dir = tempfile::Builder::new()
        .prefix("edgemq-sock-")
        .tempdir()
        .unwrap();
    let listeners: Vec<String> = KINDS.iter().map(|k| (k.listener)(dir.path())).collect();
    let mut broker = Broker::start(&format!(
        "connect_timeout {}\n{}\n",
        CONNECT_TIMEOUT.as_secs(),
        listeners.join("\n")
    ));
    let tokens = broker.listeners().to_vec();
    assert_eq!(tokens.len(), KINDS.len(), "{tokens:?}");
    let mut observer = connected(broker.addr(), "observer");
    subscribe(&mut observer, "rt/#", 1);

    let conns: Vec<(Box<dyn HalfOpen>, Instant)> = (0..HALF_OPEN)
        .map(|i| {
            let kind = i % KINDS.len();
            let conn = (KINDS[kind].open)(&tokens[kind]);
            conn.set_nonblocking(true).unwrap();
            (conn, Instant::now())
        })
        .collect();
    let holder = std::thread::spawn(move || hold_half_open(conns));

    // Round trips at QoS 0 and 1 all along, until every half-open
    // connection is gone.
    let limit = scaled(Duration::from_millis(100));
    let mut slowest = Duration::ZERO;
    let mut n = 0u16;
    while !holder.is_finished() {
        n = n.wrapping_add(1).max(1);
        for qos in [0, 1] {
            let took = round_trip(&mut observer, "rt/self", qos, n);
            slowest = slowest.max(took);
            assert!(
                took < limit,
                "a QoS {qos} round trip took {took:?} (limit {limit:?})"
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let closed = holder.join().unwrap();
    let (first, last) = (closed.iter().min().unwrap(), closed.iter().max().unwrap());
    eprintln!("{n} round trips, slowest {slowest:?}; half-open closed after {first:?} to {last:?}");
    assert!(
        *first >= CONNECT_TIMEOUT - Duration::from_millis(100),
        "closed before connect_timeout: {first:?}"
    );
    assert!(
        *last <= CONNECT_TIMEOUT + secs(2),
        "closed long after connect_timeout: {last:?}"
    );
    // Counted, and logged rate-limited: the first, then a summary.
    broker.signal("USR1");
    assert_logged(&broker, &format!("connect_timeouts {HALF_OPEN}"));
    let lines = broker.log().matches(": connect timeout").count();
    assert!(
        lines <= 2,
        "{lines} connect timeout lines for {HALF_OPEN} connections"
    );
    stop(&mut broker);
}

/// Bytes that are no CONNECT, each refused as soon as it is read (bytes
/// that form no whole packet yet wait for `connect_timeout`, as the
/// slowloris above does).
const GARBAGE: &[&[u8]] = &[
    // An HTTP request: "GE" is a PUBACK with bad flags and 69 bytes more.
    b"GET / HTTP/1.1\r\nHost: broker.example\r\nUser-Agent: edgemq-test/1.0\r\nAccept: */*\r\n\r\n",
    // Packet type 0 is reserved.
    &[0x00, 0x00],
    // A remaining length of five bytes.
    &[0x10, 0xff, 0xff, 0xff, 0xff, 0x7f],
    // A whole packet, but not CONNECT [MQTT-3.1.0-1].
    &[0xc0, 0x00],
];

#[test]
fn garbage_before_connect_is_closed_at_once_on_every_listener_kind() {
    let dir = tempfile::Builder::new()
        .prefix("edgemq-sock-")
        .tempdir()
        .unwrap();
    let listeners: Vec<String> = KINDS.iter().map(|k| (k.listener)(dir.path())).collect();
    let broker = Broker::start(&format!("connect_timeout 10\n{}\n", listeners.join("\n")));
    for (kind, token) in KINDS.iter().zip(broker.listeners()) {
        for i in 0..20 {
            let mut conn = (kind.open)(token);
            let start = Instant::now();
            conn.write_all(GARBAGE[i % GARBAGE.len()]).unwrap();
            conn.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 64];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) => break,
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    other => panic!("{token}: {other:?}"),
                }
                assert!(
                    start.elapsed() < secs(2),
                    "{token}: garbage {i} kept its connection"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    // Counted, and logged rate-limited.
    broker.signal("USR1");
    let refused = 20 * KINDS.len();
    let (malformed, protocol) = (refused * 3 / 4, refused / 4);
    assert_logged(&broker, &format!("malformed_packets {malformed}"));
    assert_logged(&broker, &format!("protocol_errors {protocol}"));
    let log = broker.log();
    let closes = log.matches("closing ").count();
    assert!(
        closes <= 4,
        "{closes} lines for 40 garbage connections:\n{log}"
    );
}

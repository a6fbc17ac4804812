//! The log keys end to end (docs/logging.md): the real broker writes to
//! stderr, a file and a syslog socket the test binds (as busybox syslogd
//! and OpenWrt's logd bind /dev/log), with the facility and priorities
//! asked for; a SIGHUP after the file was moved away (logrotate) reopens
//! it; `connection_messages false` leaves connects and disconnects out;
//! under systemd (`JOURNAL_STREAM` naming the stream) lines carry `<N>`
//! priority prefixes instead of timestamps; connect and disconnect lines
//! name the protocol and the reason in words.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::mqtt5_raw::{disconnect5, parse_connack5, Connect5, Props};
use common::{edgemq_command, raw, scaled, Broker, BrokerOptions, RawClient};

/// Datagrams received on the fake syslog socket within `timeout`, until
/// one contains `needle` (bounded by the deadline and by 1000 datagrams).
fn syslog_until(socket: &UnixDatagram, needle: &str, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if got.len() >= 1000 {
            break;
        }
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let Ok(n) = socket.recv(&mut buf) else { break };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = text.contains(needle);
        got.push(text);
        if done {
            break;
        }
    }
    got
}

/// Polls `path` until it holds `needle` (bounded in time).
fn file_until(path: &Path, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `2026-12-07T06:38:07Z ` at the start of a line.
fn has_iso_timestamp(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 21
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[19] == b'Z'
        && b[20] == b' '
        && line[..4].bytes().all(|c| c.is_ascii_digit())
}

#[test]
fn stderr_file_and_syslog_with_facility_and_priorities() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("log");
    let syslog = UnixDatagram::bind(&socket_path).unwrap();
    let file = dir.path().join("edgemq.log");
    let config = format!(
        "log_dest stderr\nlog_dest syslog\nlog_dest file {}\nlog_facility 5\n",
        file.display()
    );
    let broker = BrokerOptions::new(&config)
        .env("EDGEMQ_SYSLOG_SOCKET", socket_path.to_str().unwrap())
        .start();
    let pid = broker.pid().unwrap();

    // local5 (21 * 8) + info (6) = 174; the RFC 3164 header as syslog(3)
    // writes it: "<PRI>Mmm dd hh:mm:ss edgemq[PID]: ".
    let got = syslog_until(&syslog, "listening on", scaled(Duration::from_secs(5)));
    let listening = got
        .iter()
        .find(|d| d.contains("listening on"))
        .unwrap_or_else(|| panic!("no listening line on the syslog socket: {got:?}"));
    assert!(listening.starts_with("<174>"), "{listening:?}");
    let header = &listening[5..];
    assert_eq!(&header[3..4], " ", "{listening:?}");
    assert_eq!(&header[9..10], ":", "{listening:?}");
    assert!(
        header[16..].starts_with(&format!("edgemq[{pid}]: ")),
        "{listening:?}"
    );

    // The connect line, at info, to the same facility.
    let mut client = RawClient::connect(broker.addr());
    assert_eq!(client.handshake(&raw::connect("log-client")), Some(0));
    let got = syslog_until(&syslog, "log-client", scaled(Duration::from_secs(5)));
    assert!(
        got.iter()
            .any(|d| d.starts_with("<174>") && d.contains("log-client")),
        "{got:?}"
    );

    // The file and stderr: the same lines, each with a UTC timestamp.
    let text = file_until(&file, "log-client", scaled(Duration::from_secs(5)));
    let line = text
        .lines()
        .find(|l| l.contains("log-client"))
        .unwrap_or_else(|| panic!("no connect line in the file:\n{text}"));
    assert!(has_iso_timestamp(line), "{line:?}");
    assert!(line[21..].starts_with("INFO  ["), "{line:?}");
    let log = broker.log();
    let stderr_line = log.lines().find(|l| l.contains("listening on")).unwrap();
    assert!(has_iso_timestamp(stderr_line), "{stderr_line:?}");
}

#[test]
fn sighup_reopens_a_moved_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edgemq.log");
    let rotated = dir.path().join("edgemq.log.1");
    let config = format!("log_dest stderr\nlog_dest file {}\n", file.display());
    let broker = Broker::start(&config);
    assert!(
        file_until(&file, "listening on", scaled(Duration::from_secs(5))).contains("listening on")
    );

    // logrotate: move the file away, then SIGHUP.
    std::fs::rename(&file, &rotated).unwrap();
    broker.signal("HUP");
    let text = file_until(&file, "SIGHUP: reloaded", scaled(Duration::from_secs(5)));
    assert!(text.contains("SIGHUP: reloaded"), "new file:\n{text}");
    let mut client = RawClient::connect(broker.addr());
    assert_eq!(client.handshake(&raw::connect("after-rotate")), Some(0));
    let text = file_until(&file, "after-rotate", scaled(Duration::from_secs(5)));
    assert!(text.contains("after-rotate"), "new file:\n{text}");
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(
        old.contains("listening on") && !old.contains("after-rotate"),
        "old file:\n{old}"
    );
}

#[test]
fn connection_messages_false_leaves_connects_out() {
    let broker = Broker::start("connection_messages false\n");
    let mut client = RawClient::connect(broker.addr());
    assert_eq!(client.handshake(&raw::connect("quiet-client")), Some(0));
    client.send(&raw::disconnect());
    drop(client);
    // Something logged after the connect, to know the log has caught up.
    broker.signal("HUP");
    assert!(broker.wait_for_log("SIGHUP: reloaded", scaled(Duration::from_secs(5))));
    let log = broker.log();
    assert!(!log.contains("quiet-client"), "{log}");
    assert!(log.contains("listening on"));

    // And with the default, the same client is named.
    let broker = Broker::start("");
    let mut client = RawClient::connect(broker.addr());
    assert_eq!(client.handshake(&raw::connect("loud-client")), Some(0));
    assert!(broker.wait_for_log("loud-client", scaled(Duration::from_secs(5))));
}

/// The one line of `log` that contains all of `needles`.
fn line_with<'a>(log: &'a str, needles: &[&str]) -> &'a str {
    let found: Vec<&str> = log
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .collect();
    assert_eq!(found.len(), 1, "one line with {needles:?} in:\n{log}");
    found[0]
}

/// Connect and disconnect lines say the protocol and why the client left
/// in words (docs/logging.md, "Connection messages"), never the names the
/// code gives them (`V3_1_1`, `V5`, `ClientDisconnect`, `PeerGone`).
#[test]
fn connect_and_disconnect_lines_are_in_words() {
    let wait = scaled(Duration::from_secs(5));
    let broker = Broker::start("");

    let mut v311 = RawClient::connect(broker.addr());
    assert_eq!(v311.handshake(&raw::connect("words-311")), Some(0));
    v311.send(&raw::disconnect());
    assert!(broker.wait_for_log("words-311 (", wait), "{}", broker.log());

    let v31 = raw::Connect::new("words-31").v31().to_bytes();
    let mut client = RawClient::connect(broker.addr());
    assert_eq!(client.handshake(&v31), Some(0));
    drop(client);
    assert!(broker.wait_for_log("words-31 (", wait), "{}", broker.log());

    let mut v5 = RawClient::connect(broker.addr());
    v5.send(&Connect5::new("words-5").to_bytes());
    let connack = v5.read_packet(wait).expect("a CONNACK");
    assert_eq!(parse_connack5(&connack).map(|(_, code, _)| code), Some(0));
    v5.send(&disconnect5(0, Props::new()));
    assert!(broker.wait_for_log("words-5 (", wait), "{}", broker.log());

    let log = broker.log();
    let lines = [
        line_with(
            &log,
            &["client words-311 connected from", "(MQTT 3.1.1, clean true"],
        ),
        line_with(
            &log,
            &["client words-311 (", ") disconnected: client disconnected"],
        ),
        line_with(
            &log,
            &["client words-31 connected from", "(MQTT 3.1, clean true"],
        ),
        line_with(
            &log,
            &["client words-31 (", ") disconnected: connection lost"],
        ),
        line_with(
            &log,
            &["client words-5 connected from", "(MQTT 5.0, clean true"],
        ),
        line_with(
            &log,
            &["client words-5 (", ") disconnected: client disconnected"],
        ),
    ];
    for line in lines {
        for name in [
            "V3_1",
            "V5",
            "ClientDisconnect",
            "PeerGone",
            "Some(",
            "None",
        ] {
            assert!(!line.contains(name), "{name:?} in {line:?}");
        }
    }
}

/// Runs the broker with its stdout on a file, `JOURNAL_STREAM` set as
/// systemd would for that file (or for another one), until it says it
/// listens; returns what it wrote.
fn run_with_journal_stream(matching: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("edgemq.conf");
    std::fs::write(
        &conf,
        "listener 0 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stdout\n",
    )
    .unwrap();
    let out_path = dir.path().join("stdout");
    let out = std::fs::File::create(&out_path).unwrap();
    let meta = if matching {
        out.metadata().unwrap()
    } else {
        std::fs::metadata(&conf).unwrap()
    };
    let mut child = edgemq_command()
        .arg("-c")
        .arg(&conf)
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let text = file_until(&out_path, "listening on", scaled(Duration::from_secs(5)));
    let _ = child.kill();
    let _ = child.wait();
    text
}

#[test]
fn journal_stream_gets_priority_prefixes_instead_of_timestamps() {
    let text = run_with_journal_stream(true);
    let line = text
        .lines()
        .find(|l| l.contains("listening on"))
        .unwrap_or_else(|| panic!("no listening line:\n{text}"));
    assert!(line.starts_with("<6>INFO  ["), "{line:?}");
    assert!(text.lines().all(|l| l.starts_with('<')), "{text}");

    // JOURNAL_STREAM naming another file: not the journal, timestamps.
    let text = run_with_journal_stream(false);
    let line = text.lines().find(|l| l.contains("listening on")).unwrap();
    assert!(has_iso_timestamp(line), "{line:?}");
}

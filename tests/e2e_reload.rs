//! SIGHUP, end to end: a re-read config file changes the limits later
//! packets meet while connected clients stay connected; a file that does not
//! parse (or asks for security edgemq does not have yet) keeps the running
//! configuration; a key that sized something at startup is reported as
//! needing a restart and keeps its value.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use common::raw::{self, ReadEvent};
use common::{scaled, Broker, RawClient};

fn secs(n: u64) -> Duration {
    scaled(Duration::from_secs(n))
}

/// Replaces the line starting with `key ` in the broker's config file (or
/// appends it), then sends SIGHUP and waits for the reload's log line.
fn reload_with(broker: &Broker, key: &str, line: &str, wait_for: &str) {
    let path = broker.config_path().expect("a config file").to_path_buf();
    let mut text: Vec<String> = std::fs::read_to_string(&path)
        .expect("read the config")
        .lines()
        .filter(|l| !l.starts_with(&format!("{key} ")))
        .map(str::to_owned)
        .collect();
    text.push(line.to_owned());
    std::fs::write(&path, text.join("\n") + "\n").expect("write the config");
    let before = broker.log().matches(wait_for).count();
    broker.signal("HUP");
    assert!(
        broker.wait_for_log_count(wait_for, before + 1, secs(5)),
        "no {wait_for:?} after SIGHUP; log:\n{}",
        broker.log()
    );
}

fn connected(broker: &Broker, id: &str) -> RawClient {
    let mut client = RawClient::connect(broker.addr());
    assert_eq!(
        client.handshake(&raw::connect(id)),
        Some(0),
        "CONNACK for {id}"
    );
    client
}

/// A QoS 0 PUBLISH from a fresh client: `true` when the broker took it (the
/// connection stays open), `false` when it closed the connection.
fn publish_is_accepted(broker: &Broker, id: &str, topic: &str, payload: &[u8]) -> bool {
    let mut publisher = connected(broker, id);
    publisher.send(&raw::publish(topic, payload, 0, false, false, None));
    publisher.send(&raw::pingreq());
    match publisher.read_event(secs(3)) {
        ReadEvent::Packet(p) => {
            assert_eq!(p, vec![0xD0, 0x00], "expected PINGRESP");
            true
        }
        _ => false,
    }
}

fn still_connected(client: &mut RawClient) {
    client.send(&raw::pingreq());
    assert_eq!(
        client.read_event(secs(3)),
        ReadEvent::Packet(vec![0xD0, 0x00]),
        "a client connected before the reload lost its connection"
    );
}

#[test]
fn sighup_applies_new_limits_without_dropping_clients() {
    let broker = Broker::start("max_packet_size 4096\nmax_topic_levels 8\n");
    let mut subscriber = connected(&broker, "reload-sub");
    subscriber.send(&raw::subscribe(1, &[("#", 0)]));
    assert!(subscriber.read_packet(secs(3)).is_some(), "SUBACK");

    let big = vec![b'x'; 2000];
    assert!(publish_is_accepted(&broker, "reload-p1", "a/b/c/d", &big));
    assert!(subscriber.read_packet(secs(3)).is_some(), "first delivery");

    reload_with(
        &broker,
        "max_packet_size",
        "max_packet_size 1000",
        "applied max_packet_size",
    );
    reload_with(
        &broker,
        "max_topic_levels",
        "max_topic_levels 3",
        "applied max_topic_levels",
    );
    still_connected(&mut subscriber);

    // The new limits hold for later packets.
    assert!(
        !publish_is_accepted(&broker, "reload-p2", "a/b", &big),
        "a 2000-byte PUBLISH over the reloaded max_packet_size 1000 was accepted"
    );
    assert!(
        !publish_is_accepted(&broker, "reload-p3", "a/b/c/d", b"small"),
        "a 4-level topic over the reloaded max_topic_levels 3 was accepted"
    );
    assert!(publish_is_accepted(&broker, "reload-p4", "a/b/c", b"small"));
    match subscriber.read_event(secs(3)) {
        ReadEvent::Packet(p) => assert_eq!(raw::packet_type(&p), 3, "PUBLISH"),
        other => panic!("the subscriber got {other:?} instead of the small PUBLISH"),
    }
    still_connected(&mut subscriber);
}

#[test]
fn a_bad_file_keeps_the_running_configuration() {
    let broker = Broker::start("max_packet_size 1000\n");
    let mut client = connected(&broker, "reload-bad");
    reload_with(
        &broker,
        "max_packet_size",
        "max_packet_size banana",
        "keeping the running configuration",
    );
    assert!(broker.log().contains("SIGHUP"), "{}", broker.log());
    still_connected(&mut client);
    // Still 1000: the bad value did not replace it, and nothing else moved.
    assert!(!publish_is_accepted(
        &broker,
        "reload-bad-p1",
        "t",
        &vec![b'x'; 2000]
    ));
    assert!(publish_is_accepted(&broker, "reload-bad-p2", "t", b"ok"));
}

#[test]
fn a_refused_security_key_keeps_the_running_configuration() {
    let broker = Broker::start("max_packet_size 1000\n");
    let mut client = connected(&broker, "reload-refused");
    // The new file raises max_packet_size and binds to an interface, which
    // edgemq cannot do yet: none of it may be applied.
    let path = broker.config_path().expect("a config file").to_path_buf();
    let text = broker
        .config_text()
        .replace("max_packet_size 1000", "max_packet_size 4000");
    std::fs::write(&path, text).unwrap();
    reload_with(
        &broker,
        "bind_interface",
        "bind_interface eth0",
        "keeping the running configuration",
    );
    let log = broker.log();
    assert!(
        log.contains("bind_interface: binding to an interface is not available yet"),
        "{log}"
    );
    still_connected(&mut client);
    assert!(
        !publish_is_accepted(&broker, "reload-refused-p1", "t", &vec![b'x'; 2000]),
        "max_packet_size 4000 from the refused file was applied"
    );
}

#[test]
fn restart_only_keys_are_reported_and_kept() {
    let broker = Broker::start("max_connections 50\nmax_queued_messages 10\n");
    let mut client = connected(&broker, "reload-restart");
    reload_with(
        &broker,
        "max_connections",
        "max_connections 2",
        "needs a restart",
    );
    let log = broker.log();
    let line = log
        .lines()
        .find(|l| l.contains("needs a restart"))
        .unwrap_or_default();
    assert!(line.contains("max_connections"), "{line}");
    still_connected(&mut client);
    // The running max_connections is still 50: a second and third client get in.
    let _second = connected(&broker, "reload-restart-2");
    let _third = connected(&broker, "reload-restart-3");
}

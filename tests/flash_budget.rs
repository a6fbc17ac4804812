//! The flash budget (README.md ## Durability and the store): block-level
//! bytes written per QoS 1 message queued for an offline persistent
//! session, at a steady 1,000 msg/s of 64-byte payloads, against the
//! record's encoded size; and per QoS 1 message forwarded over a bridge,
//! with the uplink down (every message queued on flash) and up (a Debian
//! mosquitto as the cloud); and per message kept for `history_topic`
//! (no subscriber). Read from /proc/PID/io `write_bytes`, so the
//! store must be on a real disk (the test's temporary directory; not
//! tmpfs). Measurements, not part of the default suite:
//!
//!   cargo test --release --test flash_budget -- --ignored --nocapture
//!
//! EDGEMQ_FLASH_SECONDS shortens or lengthens the run (default 30).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cloud::{free_port, Cloud};
use common::flow::{raw_subscribe, wait};
use common::raw::{self, Connect};
use common::{Broker, RawClient};
use std::time::{Duration, Instant};

use edgemq::store::schema::{self, BridgeMessageV2, MessageV2};
use edgemq::sys::history_chunk;

const TOPIC: &str = "flash/sensor/0001";
/// Forwarded by the bridge of `bridged_config` (to `site1/sensors/...`).
const BRIDGED_TOPIC: &str = "sensors/flash/0001";
const PAYLOAD: usize = 64;
const RATE: u64 = 1_000;

fn write_bytes(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("read /proc/PID/io");
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("write_bytes in /proc/PID/io")
}

/// What one queued message costs in the store: its key and its record.
fn record_size() -> usize {
    let record = MessageV2 {
        qos: 1,
        retain: false,
        topic: TOPIC.into(),
        payload: vec![0; PAYLOAD],
        properties: Vec::new(),
        expires_at_ms: None,
        subscription_ids: Vec::new(),
    };
    schema::message_key(0, 0).len() + schema::encode(&record).len()
}

/// What one message in a bridge's uplink queue costs in the store.
fn bridged_record_size() -> usize {
    let record = BridgeMessageV2 {
        topic: format!("site1/{BRIDGED_TOPIC}"),
        payload: vec![0; PAYLOAD],
        qos: 1,
        retain: false,
        properties: Vec::new(),
        expires_at_ms: None,
    };
    schema::bridge_key("cloud", 0).len() + schema::encode(&record).len()
}

/// What one message kept for `history_topic` costs in the store: its
/// share of a chunk (the chunk's own overhead, shared by a second's
/// messages, left out).
fn history_record_size() -> usize {
    history_chunk::entry_bytes(TOPIC, &[0; PAYLOAD])
}

/// An edge whose bridge forwards `sensors/#` at QoS 1 to `port`.
fn bridged_config(port: u16) -> String {
    format!(
        "connection cloud
address 127.0.0.1:{port}
remote_clientid flash-edge
restart_timeout 1 2
bridge_max_queued_messages 100000
topic sensors/# out 1 \"\" site1/
"
    )
}

/// Publishes `TOPIC` messages to a broker with an offline persistent
/// subscriber; bytes written per message.
fn measure(config: &str) -> (u64, f64) {
    let broker = Broker::start(config);
    let mut sub = RawClient::connect(broker.addr());
    sub.send(&Connect::new("flash-sub").clean(false).to_bytes());
    sub.read_packet(wait()).expect("CONNACK");
    raw_subscribe(&mut sub, 1, &[("flash/#", 1)]);
    sub.send(&raw::disconnect());
    assert!(sub.expect_closed(wait()));
    publish_and_measure(&broker, TOPIC)
}

/// Paced QoS 1 publishes of 64 bytes to `topic` for EDGEMQ_FLASH_SECONDS;
/// block-level bytes the broker wrote per message.
fn publish_and_measure(broker: &Broker, topic: &str) -> (u64, f64) {
    let seconds: u64 = std::env::var("EDGEMQ_FLASH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let pid = broker.pid().unwrap();

    let mut publisher = RawClient::connect(broker.addr());
    publisher.send(&Connect::new("flash-pub").to_bytes());
    publisher.read_packet(wait()).expect("CONNACK");
    std::thread::sleep(Duration::from_millis(1500));
    let before = write_bytes(pid);
    let started = Instant::now();
    let total = seconds * RATE;
    let payload = vec![0x5Au8; PAYLOAD];
    let mut acked = 0u64;
    for n in 0..total {
        // Paced in steps of 10 ms: 10 messages per step at 1,000 msg/s.
        let due = started + Duration::from_micros(n * 1_000_000 / RATE);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let pkid = (n % 60_000) as u16 + 1;
        publisher.send(&raw::publish(topic, &payload, 1, false, false, Some(pkid)));
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    assert!(rate > RATE as f64 * 0.95, "paced at only {rate:.0} msg/s");
    // The PUBACKs (4 bytes each) wait in the socket buffers meanwhile.
    while acked < total {
        let p = publisher.read_packet(wait()).expect("every PUBACK");
        if raw::packet_type(&p) == 4 {
            acked += 1;
        }
    }
    // Past the last autosave_interval, so every batch is on disk.
    std::thread::sleep(Duration::from_millis(2500));
    let written = write_bytes(pid) - before;
    (total, written as f64 / total as f64)
}

#[test]
#[ignore = "a 90-second measurement; run it by name (see the module docs)"]
fn flash_bytes_per_offline_qos1_message() {
    let record = record_size() as f64;
    // The budget's case: the default queue of 10, so of 1,000 messages a
    // second all but the newest 10 are dropped (oldest first) — and one
    // queued and dropped within the same autosave_interval never reaches
    // the flash. Beside it, the queue raised so that every message stays.
    let (n, batched) = measure("autosave_interval 1\n");
    let (_, kept) = measure("autosave_interval 1\nmax_queued_messages 100000\n");
    let (_, sync) = measure("persistence_sync true\nmax_queued_messages 100000\n");
    eprintln!(
        "flash: {n} QoS 1 messages of {PAYLOAD} B to an offline session at {RATE} msg/s; \
         record {record} B; default queue (10, oldest dropped): batched {batched:.0} \
         B/message = {:.2}x the record; every message kept: batched {kept:.0} B/message \
         = {:.2}x, sync {sync:.0} B/message = {:.2}x",
        batched / record,
        kept / record,
        sync / record
    );
    assert!(
        batched <= 4.0 * record,
        "batched mode wrote {batched:.0} B per message, over 4 x {record} B"
    );
}

#[test]
#[ignore = "a 60-second measurement; run it by name (see the module docs)"]
fn flash_bytes_per_bridged_qos1_message() {
    let record = bridged_record_size() as f64;
    // Uplink down: every message waits in the queue on flash.
    let edge = Broker::start(&bridged_config(free_port()));
    assert!(
        edge.wait_for_log("cannot connect to", wait()),
        "{}",
        edge.log()
    );
    let (n, down) = publish_and_measure(&edge, BRIDGED_TOPIC);
    drop(edge);
    // Uplink up: each message is acknowledged by the cloud within
    // milliseconds, before the batch that put it is flushed.
    let cloud = Cloud::start("");
    let edge = Broker::start(&bridged_config(cloud.port()));
    assert!(
        edge.wait_for_log("bridge cloud: connected", wait()),
        "{}",
        edge.log()
    );
    let (_, up) = publish_and_measure(&edge, BRIDGED_TOPIC);
    eprintln!(
        "flash: {n} bridged QoS 1 messages of {PAYLOAD} B at {RATE} msg/s (batched); \
         queue record {record} B; uplink down {down:.0} B/message = {:.2}x the record; \
         uplink up {up:.0} B/message",
        down / record
    );
}

#[test]
#[ignore = "a 60-second measurement; run it by name (see the module docs)"]
fn flash_bytes_per_history_message() {
    let record = history_record_size() as f64;
    // Every message kept (the default 16 MiB holds the whole run), and
    // history at its byte cap, where each message pushes the oldest out.
    let history = |extra: &str| {
        let broker = Broker::start(&format!("history_topic flash/#\n{extra}"));
        publish_and_measure(&broker, TOPIC)
    };
    let (n, kept) = history("");
    let (_, capped) = history("history_max_bytes 65536\n");
    eprintln!(
        "flash: {n} QoS 1 messages of {PAYLOAD} B kept for history_topic at {RATE} msg/s \
         (batched); record {record} B; every message kept {kept:.0} B/message = {:.2}x \
         the record; history at a 64 KiB cap {capped:.0} B/message = {:.2}x",
        kept / record,
        capped / record
    );
}

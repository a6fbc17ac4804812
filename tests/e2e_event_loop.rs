//! The broker's own thread drives its event loop, also after it idled.
//!
//! async-io's helper thread ("async-io") used to take the reactor over from
//! the broker's thread after every idle spell and relay each event to it:
//! two thread wake-ups and several futex calls per event, which a broker
//! on a quiet sensor LAN paid on every message (cross/patch-async-io.sh).
//! Counted here, not timed: the helper thread's context switches while
//! messages trickle in must not grow with their number. Checked when the
//! build has the patch (`make test`, `make cross-test` say so).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::raw::{self, RawClient};
use common::{scaled, Broker};
use std::time::Duration;

/// Messages sent one by one, each after an idle spell.
const MESSAGES: usize = 40;
/// Longer than the helper's back-off before it used to wait on the lock
/// (~20 ms).
const IDLE: Duration = Duration::from_millis(40);
/// Before counting: longer than the patched helper's back-off (~50 ms).
const SETTLE: Duration = Duration::from_millis(200);

/// Context switches so far of the broker thread named `name`, if any.
fn context_switches(pid: u32, name: &str) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).ok()?;
        let count = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        return Some(count("voluntary_ctxt_switches:") + count("nonvoluntary_ctxt_switches:"));
    }
    None
}

#[test]
fn sporadic_messages_do_not_go_through_the_helper_thread() {
    if std::env::var_os("EDGEMQ_ASYNC_IO_PATCHED").is_none() {
        // A plain `cargo test` builds against async-io as published.
        eprintln!("not checked: build through make (the async-io patch), see cross/README.md");
        return;
    }
    let broker = Broker::start("");
    let addr = broker.addr();
    let (mut subscriber, code) = RawClient::connect_mqtt(addr, "quiet-sub");
    assert_eq!(code, Some(0));
    subscriber.send(&raw::subscribe(1, &[("sensors/#", 0)]));
    let suback = subscriber.read_packet(scaled(Duration::from_secs(5)));
    assert!(suback.is_some_and(|p| raw::parse_suback(&p).is_some()));
    let (mut publisher, code) = RawClient::connect_mqtt(addr, "quiet-pub");
    assert_eq!(code, Some(0));

    let pid = broker.pid().expect("broker pid");
    // Let the helper finish any back-off the connects started (~50 ms).
    std::thread::sleep(SETTLE);
    let Some(before) = context_switches(pid, "async-io") else {
        // No thread of that name (an emulator may not pass thread names
        // on): nothing to count.
        eprintln!("no \"async-io\" thread in /proc/{pid}/task: not counted");
        return;
    };
    for i in 0..MESSAGES {
        let payload = format!("reading {i}");
        publisher.send(&raw::publish(
            "sensors/t",
            payload.as_bytes(),
            0,
            false,
            false,
            None,
        ));
        let delivered = subscriber
            .read_packet(scaled(Duration::from_secs(5)))
            .and_then(|p| raw::parse_publish(&p))
            .expect("message delivered");
        assert_eq!(delivered.payload, payload.as_bytes());
        std::thread::sleep(IDLE);
    }
    let after = context_switches(pid, "async-io").expect("helper thread still there");
    let switches = after - before;
    eprintln!("helper context switches: {switches} for {MESSAGES} messages");
    // Relaying costs 4-5 per message (~170 here). A helper that stays
    // parked costs nothing (0-1 natively and under qemu-mips); a rare
    // hand-over back to it (the broker thread gave the reactor up) ~10.
    assert!(
        switches < MESSAGES as u64,
        "the helper thread switched {switches} times for {MESSAGES} messages"
    );
}

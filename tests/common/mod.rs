//! End-to-end test harness: runs the real `edgemq` binary and talks to it
//! over real sockets.
//!
//! Every `tests/e2e_*.rs` file starts with `mod common;` and uses:
//! - [`Broker`]: start the binary on port 0 with a temporary config and state
//!   directory, wait for its "listening on ADDR" log line, read its log,
//!   SIGTERM / SIGKILL / restart it (`broker.rs`);
//! - [`MqttClient`]: rumqttc 0.25 (MQTT 3.1.1), the well-known client crate
//!   (`client.rs`);
//! - [`mosquitto_pub`] / [`MosquittoSub`]: Debian's `mosquitto-clients`, a
//!   second opinion and the only ready-made MQTT 3.1 client (`mosquitto.rs`);
//! - [`RawClient`] and the byte builders in [`raw`]: hand-written packets,
//!   independent of the crate's codec, for byte-level and abuse tests;
//! - [`pki::Pki`]: certificates made by `openssl` at test time, and rustls
//!   client streams that trust them (`pki.rs`);
//! - [`ws::WsClient`]: a byte-level WebSocket client over TCP or TLS (`ws.rs`);
//! - [`probe::round_trip`]: a PUBLISH to oneself, timed, over any of them
//!   (`probe.rs`).
//! - [`latency::LatencyProbe`]: that round trip in a loop on a thread of
//!   its own, the slowest one kept, while a test abuses the broker
//!   (`latency.rs`); [`http::counters`]: the admin API's counters.
//!
//! Invariants: every wait is bounded in time (scaled by [`time_scale`] when the
//! broker runs under an emulator), and a broker process is always killed, by
//! its own PID, when its [`Broker`] is dropped — even when a test panics.
//!
//! Environment:
//! - `EDGEMQ_BIN`: run this binary instead of the one cargo built (e.g. a
//!   cross-compiled one);
//! - `EDGEMQ_RUNNER`: a command prefix, split on whitespace (`qemu-mips`,
//!   `qemu-aarch64 -L /usr/aarch64-linux-gnu`);
//! - `EDGEMQ_TEST_TIME_SCALE`: multiply every harness timeout (default 1, or
//!   10 when `EDGEMQ_RUNNER` is set);
//! - `EDGEMQ_TEST_LOG`: forward the broker's log lines to the test's stderr
//!   (shown by `cargo test -- --nocapture`, or for failing tests);
//! - `EDGEMQ_TEST_KEEP`: keep the temporary directories (config, store) and
//!   print their paths.
//!
//! Async tests use `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`:
//! the `Broker` and mosquitto helpers block, and a second worker keeps the
//! rumqttc event loops running meanwhile.

#![allow(dead_code, unused_imports)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

pub mod broker;
pub mod client;
pub mod cloud;
pub mod flow;
pub mod http;
pub mod latency;
pub mod mosquitto;
pub mod mqtt5_raw;
pub mod pki;
pub mod probe;
pub mod raw;
pub mod ws;

pub use broker::{edgemq_command, Broker, BrokerOptions};
pub use client::{recv_publish, ClientEvent, MqttClient};
pub use mosquitto::{
    mosquitto_pub, mosquitto_pub_at, mosquitto_sub, run_with_timeout, unix_socket, MosquittoSub,
};
pub use raw::{RawClient, ReadEvent};

use std::time::Duration;

/// How much slower than native the broker is expected to run: the
/// `EDGEMQ_TEST_TIME_SCALE` variable, else 10 under `EDGEMQ_RUNNER` (qemu-user
/// on two slow cores), else 1.
pub fn time_scale() -> u32 {
    if let Some(n) = std::env::var("EDGEMQ_TEST_TIME_SCALE")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| *n > 0)
    {
        return n;
    }
    if runner().is_empty() {
        1
    } else {
        10
    }
}

/// `d` multiplied by [`time_scale`]: use it for every deadline a test waits on.
pub fn scaled(d: Duration) -> Duration {
    d.saturating_mul(time_scale())
}

/// The command prefix from `EDGEMQ_RUNNER`, split on whitespace (empty when unset).
pub fn runner() -> Vec<String> {
    std::env::var("EDGEMQ_RUNNER")
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A unique-enough client id for this test process: `prefix-PID-N`.
pub fn unique_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

//! A bystander that times its own round trips while a test abuses the
//! broker: a client subscribed to its own topic publishes to it in a loop
//! on a thread of its own (QoS 1, `probe::round_trip`), and reports how
//! many round trips it made and the slowest one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::probe::round_trip;
use super::raw::{self, Connect};
use super::{scaled, RawClient};

/// What the bystander measured.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub round_trips: u32,
    pub slowest: Duration,
}

pub struct LatencyProbe {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Measured>>,
}

/// Bounds of the loop: a test that forgets to stop it still ends.
const MAX_ROUND_TRIPS: u32 = 50_000;
const MAX_RUN: Duration = Duration::from_secs(120);
/// Between round trips: the probe samples, it does not load the broker.
const GAP: Duration = Duration::from_millis(2);

impl LatencyProbe {
    /// Connects `client_id` (3.1.1), subscribes it to `topic` at QoS 1 and
    /// starts timing.
    pub fn start(addr: SocketAddr, client_id: &str, topic: &str) -> LatencyProbe {
        let mut client = RawClient::connect(addr);
        assert_eq!(
            client.handshake(&Connect::new(client_id).to_bytes()),
            Some(0)
        );
        client.send(&raw::subscribe(1, &[(topic, 1)]));
        let ack = client.read_packet(scaled(Duration::from_secs(5)));
        assert_eq!(
            ack.as_deref().and_then(raw::parse_suback),
            Some((1, vec![1]))
        );
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let topic = topic.to_owned();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + scaled(MAX_RUN);
            let mut measured = Measured {
                round_trips: 0,
                slowest: Duration::ZERO,
            };
            while !stopped.load(Ordering::Relaxed)
                && measured.round_trips < MAX_ROUND_TRIPS
                && Instant::now() < deadline
            {
                // Packet ids 1..=65535, never 0.
                let n = (measured.round_trips % 65_535 + 1) as u16;
                let took = round_trip(&mut client, &topic, 1, n);
                measured.round_trips += 1;
                measured.slowest = measured.slowest.max(took);
                std::thread::sleep(GAP);
            }
            measured
        });
        LatencyProbe {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the loop; what it measured (a round trip that never came
    /// back panics the probe's thread, and so this).
    pub fn finish(mut self) -> Measured {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("finished once");
        thread.join().expect("the latency probe failed")
    }
}

impl Drop for LatencyProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

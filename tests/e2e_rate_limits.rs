//! Rate limits (README.md ## Limits and refusals): `max_connection_rate`
//! closes what a listener accepts over its rate before reading a byte;
//! `max_publish_rate` and `max_publish_bytes_rate` slow a publisher down
//! (its socket is not read while its allowance refills) without dropping
//! anything or slowing anyone else; an MQTT 5 client over its rate for
//! `rate_limit_disconnect_after` gets DISCONNECT 0x96, a 3.1.1 one stays
//! paused.
//!
//! Clients: raw TCP sockets for the connection storm and the MQTT 5
//! client (bytes written here, tests/common/raw.rs), rumqttc as the fast
//! publisher and the bystander, mosquitto_sub as the subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::raw::{self, ReadEvent};
use common::{scaled, Broker, MosquittoSub, MqttClient, RawClient};
use rumqttc::QoS;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn secs(n: u64) -> Duration {
    scaled(Duration::from_secs(n))
}

fn ms(n: u64) -> Duration {
    scaled(Duration::from_millis(n))
}

/// SIGUSR1, then the report line that holds `needle`.
fn report_has(broker: &Broker, needle: &str) -> bool {
    broker.signal("USR1");
    broker.wait_for_log(needle, secs(5))
}

/// What became of a socket the test connected and never wrote to.
enum Fate {
    /// Closed by the broker before we sent anything.
    Closed(Duration),
    /// Still open: the broker waits for its CONNECT.
    Open(RawClient),
}

/// Opens `n` TCP connections at once and watches each for `watch`.
fn storm(addr: SocketAddr, n: usize, watch: Duration) -> Vec<Fate> {
    let clients: Vec<(RawClient, Instant)> = (0..n)
        .map(|_| (RawClient::connect(addr), Instant::now()))
        .collect();
    let watchers: Vec<_> = clients
        .into_iter()
        .map(|(mut c, opened)| {
            std::thread::spawn(move || match c.read_event(watch) {
                ReadEvent::Closed => Fate::Closed(opened.elapsed()),
                ReadEvent::Timeout => Fate::Open(c),
                other => panic!("a silent client got {other:?}"),
            })
        })
        .collect();
    watchers.into_iter().map(|w| w.join().unwrap()).collect()
}

/// CONNECT on a socket that is still open: served like any other.
fn served(mut c: RawClient, id: &str) {
    let code = c.handshake(&raw::connect(id));
    assert_eq!(code, Some(0), "CONNACK for {id}");
}

#[test]
fn a_connection_storm_gets_the_rate_and_the_rest_are_closed_unread() {
    let broker = Broker::start("listener 0 127.0.0.1\nmax_connection_rate 5\n");
    let fates = storm(broker.addr(), 20, ms(700));
    let (open, closed): (Vec<_>, Vec<_>) =
        fates.into_iter().partition(|f| matches!(f, Fate::Open(_)));
    // The burst is the rate: 5 in the first instant (a 6th if the storm
    // took over 200 ms to arrive).
    assert!((5..=6).contains(&open.len()), "{} accepted", open.len());
    for fate in &closed {
        let Fate::Closed(after) = fate else {
            unreachable!()
        };
        // No CONNECT was read (none was sent), nothing was answered.
        assert!(*after < ms(300), "closed only after {after:?}");
    }
    for (i, fate) in open.into_iter().enumerate() {
        let Fate::Open(c) = fate else { unreachable!() };
        served(c, &format!("storm-{i}"));
    }
    let refused = closed.len();
    assert!(report_has(
        &broker,
        &format!("connections_rate_limited {refused}")
    ));
    assert!(broker.wait_for_log(
        &format!("{refused} closed over max_connection_rate 5/s"),
        secs(2)
    ));
    // Logged once for the whole storm (then once per 10 s at most).
    let log = broker.log();
    let lines = log.matches("over its max_connection_rate 5/s").count();
    assert_eq!(lines, 1, "{log}");

    // A second later the bucket is full again: five more are taken.
    std::thread::sleep(Duration::from_millis(1500));
    let later = storm(broker.addr(), 5, ms(300));
    for (i, fate) in later.into_iter().enumerate() {
        let Fate::Open(c) = fate else {
            panic!("connection {i} refused after the bucket refilled")
        };
        served(c, &format!("later-{i}"));
    }
}

/// One round trip of `c` to itself at QoS 0.
async fn round_trip(c: &mut MqttClient, topic: &str, n: u32) -> Duration {
    let start = Instant::now();
    c.publish(topic, QoS::AtMostOnce, false, n.to_be_bytes().to_vec())
        .await;
    while let Some(p) = c.recv_publish(secs(5)).await {
        if p.payload[..] == n.to_be_bytes() {
            return start.elapsed();
        }
    }
    panic!("round trip {n} did not come back");
}

/// A broker with `config`, and `count` QoS 0 messages of `size` bytes
/// published to it as fast as rumqttc sends them: mosquitto_sub gets all
/// of them, in order, no sooner than 2.7 s; another client's round trips
/// stay under 100 ms meanwhile; one pause is counted.
async fn paced(config: &str, count: usize, size: usize) -> Broker {
    let broker = Broker::start(config);
    let sub = MosquittoSub::start(broker.addr(), &["-t", "paced/t"]);
    let mut bystander = MqttClient::connect("bystander", broker.port()).await;
    bystander.subscribe("rt/bystander", QoS::AtMostOnce).await;
    let publisher = MqttClient::connect("fast", broker.port()).await;
    let start = Instant::now();
    for i in 0..count {
        let payload = format!("{i:05}{}", "x".repeat(size.saturating_sub(5)));
        publisher
            .publish("paced/t", QoS::AtMostOnce, false, payload)
            .await;
    }
    let mut slowest = Duration::ZERO;
    let mut n = 0;
    while sub.messages().len() < count && start.elapsed() < secs(20) {
        slowest = slowest.max(round_trip(&mut bystander, "rt/bystander", n).await);
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = sub.wait_messages(count, secs(1));
    let took = start.elapsed();
    assert_eq!(got.len(), count, "lost messages");
    for (i, line) in got.iter().enumerate() {
        assert!(line.starts_with(&format!("{i:05}")), "out of order at {i}");
        assert_eq!(line.len(), size.max(5), "message {i}");
    }
    assert!(n >= 10, "only {n} round trips");
    assert!(took >= Duration::from_millis(2700), "took {took:?}");
    assert!(
        slowest < ms(100),
        "a bystander's round trip took {slowest:?}"
    );
    assert!(report_has(&broker, "publish_rate_pauses 1,"));
    eprintln!(
        "{count} × {size} bytes, {}: {took:?}; slowest bystander round trip {slowest:?}",
        config.trim()
    );
    broker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_publish_rate_slows_a_publisher_and_drops_nothing() {
    // 50 at once, then 150 at 50 a second: the last is read 3 s in.
    let broker = paced("max_publish_rate 50\n", 200, 8).await;
    assert!(broker.log().contains("pausing fast"), "{}", broker.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_publish_bytes_rate_slows_big_payloads_and_drops_nothing() {
    // 20 × 4,009 bytes (payload and topic): 20,000 at once, and the 20th
    // is read once the 19 before it are paid for, 2.8 s in.
    paced("max_publish_bytes_rate 20000\n", 20, 4000).await;
}

/// MQTT 5 CONNECT (clean start, keepalive 60, no properties), written
/// here from the spec (MQTT 5.0 §3.1).
fn v5_connect(client_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    raw::put_str(&mut body, "MQTT");
    body.extend_from_slice(&[5, 0x02, 0, 60, 0]);
    raw::put_str(&mut body, client_id);
    raw::packet(0x10, &body)
}

/// MQTT 5 PUBLISH at QoS 0 without properties (MQTT 5.0 §3.3).
fn v5_publish(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    raw::put_str(&mut body, topic);
    body.push(0);
    body.extend_from_slice(payload);
    raw::packet(0x30, &body)
}

/// A client writing `packet` every 10 ms from a thread of its own until
/// its socket fails or it is stopped.
struct Flood {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<usize>,
}

impl Flood {
    fn start(client: &RawClient, packet: Vec<u8>) -> Flood {
        let mut stream = client.stream().try_clone().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut sent = 0;
            let deadline = Instant::now() + secs(10);
            while !stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
                if stream.write_all(&packet).is_err() {
                    break;
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            sent
        });
        Flood { stop, thread }
    }

    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

#[test]
fn an_mqtt5_client_over_its_rate_is_disconnected_with_0x96_and_3_1_1_stays_paused() {
    let broker = Broker::start("max_publish_rate 10\nrate_limit_disconnect_after 1\n");
    let mut five = RawClient::connect(broker.addr());
    five.send(&v5_connect("five"));
    let connack = five.read_packet(secs(5)).expect("a CONNACK");
    assert_eq!(raw::packet_type(&connack), 2);
    assert_eq!(raw::body(&connack)[1], 0, "accepted");
    let (old, code) = RawClient::connect_mqtt(broker.addr(), "old");
    assert_eq!(code, Some(0));

    // 100 a second against a rate of 10.
    let start = Instant::now();
    let flood_five = Flood::start(&five, v5_publish("flood/five", b"x"));
    let flood_old = Flood::start(&old, raw::publish("flood/old", b"x", 0, false, false, None));
    let disconnect = loop {
        match five.read_event(secs(5)) {
            ReadEvent::Packet(p) if raw::packet_type(&p) == 14 => break p,
            ReadEvent::Packet(_) => continue,
            other => panic!("no DISCONNECT, got {other:?} after {:?}", start.elapsed()),
        }
    };
    let after = start.elapsed();
    // Over from its 10th message (0.1 s in), out a second later.
    assert!(after >= Duration::from_millis(1000), "after {after:?}");
    assert!(after < secs(3), "after {after:?}");
    assert_eq!(
        raw::body(&disconnect).first(),
        Some(&0x96),
        "{disconnect:?}"
    );
    assert!(five.expect_closed(secs(2)), "still open after DISCONNECT");
    flood_five.stop();

    // The 3.1.1 client cannot be told why: it stays, paused.
    let mut old = old;
    assert_eq!(old.read_event(ms(500)), ReadEvent::Timeout);
    let sent = flood_old.stop();
    assert!(sent > 50, "{sent}");
    assert!(report_has(&broker, "publish_rate_disconnects 1"));
    assert!(broker.log().contains("0x96 message rate too high"));
}

//! The admin API under a flood of requests (docs/observability.md, "What
//! watching costs"): it shares the event loop with every MQTT client and
//! is paced to a share of it, so while eight loops request
//! `/api/v1/clients` without pause, QoS 1 messages still go through in
//! order and promptly, every API request is answered, and a dashboard
//! asking for `/api/v1/stats` now and then gets its answer promptly too.
//! Every loop here is bounded in count and in time; all on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::http::{admin_addr, admin_token, call};
use common::{scaled, unique_id, Broker, MqttClient};
use rumqttc::QoS;

/// The pollers: as many as the API serves at once.
const POLLERS: usize = 8;
/// Requests per poller at most (the flood's count bound).
const MAX_REQUESTS: usize = 3000;
/// QoS 1 round trips made while the flood runs.
const ROUND_TRIPS: usize = 100;

/// What one loop saw: each request's status and how long it took.
type Seen = Vec<(u16, Duration)>;

/// A loop requesting `path` until `stop`, `max` requests or `until`,
/// pausing `pause` after each answer.
fn poller(
    addr: SocketAddr,
    token: String,
    path: &'static str,
    pause: Duration,
    max: usize,
    until: Instant,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Seen> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        while seen.len() < max && !stop.load(Ordering::Relaxed) && Instant::now() < until {
            let started = Instant::now();
            let answer = call(addr, "GET", path, Some(&token));
            seen.push((answer.status, started.elapsed()));
            std::thread::sleep(pause);
        }
        seen
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_and_the_api_are_both_served_under_an_api_flood() {
    let broker = Broker::start("admin_listener 127.0.0.1:0\nsys_interval 1\nevent_topics true\n");
    let addr = admin_addr(&broker);
    let token = admin_token(&broker);
    let mut sub = MqttClient::connect(&unique_id("flood-sub"), broker.port()).await;
    sub.subscribe("flood/t", QoS::AtLeastOnce).await;
    let publisher = MqttClient::connect(&unique_id("flood-pub"), broker.port()).await;

    let stop = Arc::new(AtomicBool::new(false));
    let until = Instant::now() + scaled(Duration::from_secs(60));
    let flood: Vec<_> = (0..POLLERS)
        .map(|_| {
            let (token, stop) = (token.clone(), stop.clone());
            poller(
                addr,
                token,
                "/api/v1/clients",
                Duration::ZERO,
                MAX_REQUESTS,
                until,
                stop,
            )
        })
        .collect();
    let dashboard = poller(
        addr,
        token.clone(),
        "/api/v1/stats",
        Duration::from_millis(100),
        600,
        until,
        stop.clone(),
    );
    // The flood is under way before the first message.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut worst = Duration::ZERO;
    for i in 0..ROUND_TRIPS {
        let sent = Instant::now();
        publisher
            .publish("flood/t", QoS::AtLeastOnce, false, i.to_string())
            .await;
        let p = sub
            .recv_publish(scaled(Duration::from_secs(5)))
            .await
            .unwrap_or_else(|| panic!("message {i} not delivered within 5 s"));
        assert_eq!(p.payload.as_ref(), i.to_string().as_bytes(), "out of order");
        worst = worst.max(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);

    let flood: Vec<Seen> = flood.into_iter().map(|h| h.join().unwrap()).collect();
    let dashboard = dashboard.join().unwrap();
    let answered: usize = flood.iter().map(Vec::len).sum();
    let refused: Vec<u16> = flood
        .iter()
        .chain([&dashboard])
        .flatten()
        .map(|&(status, _)| status)
        .filter(|&status| status != 200)
        .collect();
    let slowest_dashboard = dashboard.iter().map(|&(_, d)| d).max().unwrap();
    eprintln!(
        "{answered} flood requests answered; {} dashboard requests, slowest {slowest_dashboard:?}; \
         slowest MQTT round trip {worst:?}",
        dashboard.len()
    );
    // Eight at once is what the API serves: none is refused.
    assert!(refused.is_empty(), "refused: {refused:?}");
    // Paced, every loop of the flood is still answered, again and again.
    assert!(
        flood.iter().all(|seen| seen.len() >= 2),
        "{answered} requests"
    );
    assert!(
        dashboard.len() >= 5,
        "{} dashboard requests",
        dashboard.len()
    );
    // Promptly: a paced API still answers within a second or two (behind
    // at most eight others in the kernel's backlog; a debug build's
    // requests cost more, so its pace is slower), and MQTT within one,
    // even on a loaded test machine.
    assert!(
        slowest_dashboard < scaled(Duration::from_secs(2)),
        "{slowest_dashboard:?}"
    );
    assert!(worst < scaled(Duration::from_secs(1)), "{worst:?}");
    drop(broker);
}

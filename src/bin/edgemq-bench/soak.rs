//! Soak: a mixed, paced workload held for a long time (tests/soak/soak.sh
//! samples the broker meanwhile and flaps the bridge's cloud). Live QoS
//! 0/1/2 streams, persistent sessions going offline and coming back,
//! retained updates, connection churn, and a stream up the bridge to a
//! subscriber at the cloud broker. At the end every tracked stream is
//! counted: sent, distinct received, lost, duplicated.
//!
//! Rates are fixed and modest: the soak looks for growth over time, not
//! for a ceiling.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use argh::FromArgs;

use crate::client::{Client, READ_BUFFER};
use crate::publisher::{self, PublisherConfig, PublisherResult};
use crate::report::Json;
use crate::soak_roles::{self, Finish, RoleResult};
use crate::subscriber::{self, SubscriberConfig};
use crate::tracker::Counts;
use crate::wire::PublishTemplate;
use crate::Common;

/// Live streams: (QoS, messages per second).
const LIVE: [(u8, u64); 3] = [(0, 200), (1, 100), (2, 50)];

/// Messages per second to each persistent session.
const PERSISTENT_RATE: u64 = 1;

/// Messages per second up the bridge.
const BRIDGE_RATE: u64 = 50;

/// Retained topics, and retained updates per second over them.
const RETAINED_TOPICS: u64 = 100;
const RETAINED_RATE: u64 = 20;

/// New churn connections per second.
const CHURN_RATE: u64 = 10;

/// After the publishers stop: how long the streams have to arrive.
const GRACE: Duration = Duration::from_secs(60);

/// mixed workload for a soak run (tests/soak/soak.sh)
#[derive(FromArgs)]
#[argh(subcommand, name = "soak")]
pub struct Args {
    /// seconds of publishing (default 120)
    #[argh(option, default = "120")]
    seconds: u64,
    /// persistent sessions going offline and back (default 20)
    #[argh(option, default = "20")]
    sessions: usize,
    /// port of the cloud broker on 127.0.0.1 the bridge forwards
    /// soak/up/# to (0: no bridge stream)
    #[argh(option, default = "0")]
    cloud_port: u16,
}

/// One stream's planned count and its publisher's settings.
fn paced(
    id: u32,
    topic: String,
    qos: u8,
    rate: u64,
    args: &Args,
    until: Instant,
) -> PublisherConfig {
    PublisherConfig {
        id,
        topic,
        qos,
        count: rate * args.seconds,
        size: 64,
        batch: 10,
        inflight: 10,
        rate: Some(rate as f64),
        deadline: until,
    }
}

pub fn run(common: &Common, args: &Args) -> std::io::Result<String> {
    let grace_deadline = Instant::now() + Duration::from_secs(args.seconds) + GRACE;
    let publish_deadline = grace_deadline - GRACE / 2;
    let cloud = (args.cloud_port > 0).then(|| Common {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], args.cloud_port)),
        pid: None,
        label: "cloud".into(),
        deadline: grace_deadline,
        epoch: common.epoch,
        run_id: common.run_id,
        tls: None,
        protocol: common.protocol,
    });
    // Subscriptions first, so that nothing is published before anyone
    // listens: live subscribers, each persistent session once, the cloud's.
    let mut live_subs = Vec::new();
    for (qos, _) in LIVE {
        let mut c = Client::connect_with(
            common,
            &common.client_id("live", qos.into()),
            READ_BUFFER,
            true,
        )?;
        c.subscribe(&format!("soak/live/q{qos}"), qos)?;
        live_subs.push(c);
    }
    for i in 0..args.sessions {
        let mut c = Client::connect_with(common, &session_id(common, i), 4096, false)?;
        c.subscribe(&format!("soak/persist/{i}"), session_qos(i))?;
    }
    if let Some(cloud) = &cloud {
        let mut c = Client::connect_with(cloud, &cloud.client_id("cloud", 0), 4096, false)?;
        c.subscribe("soak/up/#", 1)?;
    }
    let mut pubs = Vec::new();
    for (qos, rate) in LIVE {
        pubs.push(paced(
            0,
            format!("soak/live/q{qos}"),
            qos,
            rate,
            args,
            publish_deadline,
        ));
    }
    for i in 0..args.sessions {
        pubs.push(paced(
            0,
            format!("soak/persist/{i}"),
            session_qos(i),
            PERSISTENT_RATE,
            args,
            publish_deadline,
        ));
    }
    if cloud.is_some() {
        pubs.push(paced(
            0,
            "soak/up/0".into(),
            1,
            BRIDGE_RATE,
            args,
            publish_deadline,
        ));
    }
    let publishers_done = AtomicBool::new(false);
    let expected: Vec<AtomicU64> = pubs.iter().map(|p| AtomicU64::new(p.count)).collect();
    let started = Instant::now();
    let outcome = thread::scope(|s| {
        let pub_threads: Vec<_> = pubs
            .iter()
            .map(|cfg| {
                let client = Client::connect_with(
                    common,
                    &common.client_id("pub", pubs_index(&pubs, cfg)),
                    4096,
                    true,
                );
                s.spawn(move || match client {
                    Ok(c) => publisher::run(c, cfg, common.epoch),
                    Err(e) => PublisherResult {
                        error: Some(e.to_string()),
                        ..PublisherResult::default()
                    },
                })
            })
            .collect();
        let live_threads: Vec<_> = live_subs
            .into_iter()
            .zip(&pubs)
            .map(|(client, cfg)| {
                let sub_cfg = SubscriberConfig {
                    publishers: 1,
                    per_publisher: cfg.count,
                    idle: Duration::from_secs(5),
                    deadline: grace_deadline,
                    latency: false,
                    warmup: 0,
                };
                let done = &publishers_done;
                s.spawn(move || subscriber::run(client, &sub_cfg, done, common.epoch))
            })
            .collect();
        let session_threads: Vec<_> = (0..args.sessions)
            .zip(expected.iter().zip(&pubs).skip(LIVE.len()))
            .map(|(i, (expected, cfg))| {
                let finish = Finish {
                    publishers_done: &publishers_done,
                    expected,
                    planned: cfg.count,
                    grace_deadline,
                };
                s.spawn(move || {
                    soak_roles::persistent_session(
                        common,
                        &session_id(common, i),
                        i as u64 + 1,
                        &finish,
                    )
                })
            })
            .collect();
        let cloud_thread =
            cloud
                .as_ref()
                .zip(expected.last().zip(pubs.last()))
                .map(|(cloud, (expected, cfg))| {
                    let finish = Finish {
                        publishers_done: &publishers_done,
                        expected,
                        planned: cfg.count,
                        grace_deadline,
                    };
                    s.spawn(move || soak_roles::cloud_subscriber(cloud, &finish))
                });
        let until = started + Duration::from_secs(args.seconds);
        let churn = s.spawn(move || soak_roles::churn(common, CHURN_RATE, RETAINED_TOPICS, until));
        let retained = s.spawn(move || retained_updates(common, until));

        let pub_results: Vec<PublisherResult> = pub_threads
            .into_iter()
            .map(|t| t.join().unwrap_or_default())
            .collect();
        for (e, r) in expected.iter().zip(&pub_results) {
            e.store(r.sent, Ordering::Release);
        }
        publishers_done.store(true, Ordering::Release);
        let live: Vec<_> = live_threads.into_iter().map(|t| t.join().ok()).collect();
        let sessions: Vec<_> = session_threads
            .into_iter()
            .map(|t| t.join().unwrap_or_default())
            .collect();
        let cloud_result = cloud_thread.map(|t| t.join().unwrap_or_default());
        let churn = churn.join().unwrap_or_default();
        let retained = retained.join().unwrap_or(0);
        (pub_results, live, sessions, cloud_result, churn, retained)
    });
    let (pub_results, live, sessions, cloud_result, churn, retained) = outcome;
    let mut json = Json::new("soak", &common.label);
    json.int("seconds", args.seconds);
    json.float("elapsed_s", started.elapsed().as_secs_f64());
    for (i, (qos, _)) in LIVE.iter().enumerate() {
        let sent = pub_results.get(i).map_or(0, |r| r.sent);
        let counts = live
            .get(i)
            .and_then(|r| r.as_ref())
            .map(|r| r.tracker.counts(&[sent]))
            .unwrap_or_default();
        put_stream(&mut json, &format!("live_q{qos}"), sent, counts);
    }
    let mut persistent = Counts::default();
    let mut persistent_sent = 0;
    let mut reconnects = 0;
    for (i, r) in sessions.iter().enumerate() {
        let sent = pub_results.get(LIVE.len() + i).map_or(0, |r| r.sent);
        persistent_sent += sent;
        let c = role_counts(r, sent);
        if c.lost > 0 {
            eprintln!(
                "soak: session {i} (QoS {}): {} of {sent} lost, {} connects",
                session_qos(i),
                c.lost,
                r.connects
            );
        }
        persistent.add(c);
        reconnects += r.connects;
    }
    put_stream(&mut json, "persistent", persistent_sent, persistent);
    json.int("persistent_connects", reconnects);
    if let Some(r) = &cloud_result {
        let sent = pub_results.last().map_or(0, |r| r.sent);
        put_stream(&mut json, "bridge", sent, role_counts(r, sent));
        json.int("cloud_connects", r.connects);
    }
    json.int("churn_connects", churn.connects);
    json.int("churn_errors", churn.errors);
    json.int("retained_updates", retained);
    json.int("retained_checks", churn.retained_checks);
    json.int("retained_wrong", churn.retained_wrong);
    let errors = pub_results.iter().filter(|r| r.error.is_some()).count();
    json.int("publisher_errors", errors as u64);
    for e in pub_results.iter().filter_map(|r| r.error.as_deref()) {
        eprintln!("soak: publisher: {e}");
    }
    Ok(json.finish())
}

fn pubs_index(pubs: &[PublisherConfig], cfg: &PublisherConfig) -> usize {
    pubs.iter().position(|p| std::ptr::eq(p, cfg)).unwrap_or(0)
}

fn session_id(common: &Common, i: usize) -> String {
    common.client_id("persist", i)
}

/// Even sessions at QoS 1, odd ones at QoS 2.
fn session_qos(i: usize) -> u8 {
    if i.is_multiple_of(2) {
        1
    } else {
        2
    }
}

fn role_counts(r: &RoleResult, sent: u64) -> Counts {
    r.tracker
        .as_ref()
        .map(|t| t.counts(&[sent]))
        .unwrap_or_default()
}

fn put_stream(json: &mut Json, name: &str, sent: u64, c: Counts) {
    json.int(&format!("{name}_sent"), sent);
    json.int(&format!("{name}_received"), c.distinct);
    json.int(&format!("{name}_lost"), c.lost);
    json.int(&format!("{name}_duplicated"), c.duplicated);
    json.int(&format!("{name}_out_of_order"), c.out_of_order);
}

/// Retained QoS 0 updates round the fixed set of topics, paced, until
/// `until`; returns how many were written.
fn retained_updates(common: &Common, until: Instant) -> u64 {
    use std::io::Write;
    let Ok(mut client) = Client::connect_with(common, &common.client_id("retain", 0), 4096, true)
    else {
        return 0;
    };
    let v5 = client.protocol.is_v5();
    let mut templates: Vec<PublishTemplate> = (0..RETAINED_TOPICS)
        .map(|k| {
            let mut t = PublishTemplate::new(&format!("soak/retained/{k}"), 0, 64, v5);
            if let Some(first) = t.bytes.first_mut() {
                *first |= 0x01; // RETAIN
            }
            t
        })
        .collect();
    let started = Instant::now();
    let mut n = 0u64;
    while Instant::now() < until {
        let due = started + Duration::from_secs_f64(n as f64 / RETAINED_RATE as f64);
        thread::sleep(due.saturating_duration_since(Instant::now()));
        let k = usize::try_from(n % RETAINED_TOPICS).unwrap_or(0);
        let Some(t) = templates.get_mut(k) else { break };
        if let Some(p) = t.bytes.get_mut(t.payload_at..t.payload_at + 8) {
            p.copy_from_slice(&n.to_le_bytes());
        }
        if client.stream.write_all(&t.bytes).is_err() {
            break;
        }
        n += 1;
    }
    n
}

//! Shared subscriptions and point-to-point messages, end to end
//! (docs/shared.md): each strategy's fairness over a stream, with 3.1.1 and
//! 5.0 members in one group; a member leaving with messages in flight or
//! queued; all members offline, then one returning; a restart with
//! persistent members; the refusals; P2P to online, offline and unknown
//! clients. Members are hand-written clients (`common/raw.rs`,
//! `common/mqtt5_raw.rs`) read by threads, and `mosquitto_sub` as a second
//! opinion.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::mqtt5_raw::{self, id, parse_connack5, parse_publish5, subscribe5, Connect5, Props};
use common::raw::{self, Connect, ReadEvent};
use common::{scaled, Broker, MosquittoSub, RawClient};

fn secs(n: u64) -> Duration {
    scaled(Duration::from_secs(n))
}

/// Messages per stream: fewer under an emulator.
fn stream_len() -> usize {
    if common::runner().is_empty() {
        1000
    } else {
        200
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Version {
    V311,
    V5,
}

/// A client connected and subscribed, not yet read by a thread.
fn connect(b: &Broker, client_id: &str, version: Version, clean: bool) -> RawClient {
    let mut c = RawClient::connect(b.addr());
    match version {
        Version::V311 => {
            let code = c.handshake(&Connect::new(client_id).clean(clean).to_bytes());
            assert_eq!(code, Some(0), "CONNACK of {client_id}:\n{}", b.log());
        }
        Version::V5 => {
            let mut connect = Connect5::new(client_id).clean(clean);
            if !clean {
                connect = connect.props(Props::new().u32(id::SESSION_EXPIRY, 3600));
            }
            c.send(&connect.to_bytes());
            let p = c.read_packet(secs(5)).expect("CONNACK");
            let (_, code, props) = parse_connack5(&p).unwrap();
            assert_eq!(code, 0, "CONNACK of {client_id}:\n{}", b.log());
            assert_eq!(props.int(id::SHARED_AVAILABLE), Some(1));
        }
    }
    c
}

/// Subscribes `c` to `filter` at QoS 1; the SUBACK's code.
fn subscribe(c: &mut RawClient, version: Version, filter: &str) -> u8 {
    match version {
        Version::V311 => c.send(&raw::subscribe(1, &[(filter, 1)])),
        Version::V5 => c.send(&subscribe5(1, filter, 1)),
    }
    let p = c.read_packet(secs(5)).expect("SUBACK");
    let (_, codes) = raw::parse_suback(&p).unwrap_or_else(|| panic!("not a SUBACK: {p:?}"));
    // 5.0: the property length (0) comes before the codes.
    *codes.last().unwrap()
}

/// One member of a group: a thread reads its PUBLISHes, records their
/// payloads and acknowledges QoS 1 (unless told not to).
struct Member {
    got: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<RawClient>>,
}

impl Member {
    fn start(mut c: RawClient, version: Version, ack: bool) -> Member {
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let p = match c.read_event(Duration::from_millis(20)) {
                    ReadEvent::Packet(p) => p,
                    ReadEvent::Timeout => continue,
                    _ => break,
                };
                let (payload, qos, pkid) = match version {
                    Version::V311 => {
                        let p = raw::parse_publish(&p).unwrap_or_else(|| panic!("{p:?}"));
                        (p.payload, p.qos, p.pkid)
                    }
                    Version::V5 => {
                        let p = parse_publish5(&p).unwrap_or_else(|| panic!("{p:?}"));
                        (p.payload, p.qos, p.pkid)
                    }
                };
                g.lock().unwrap().push(String::from_utf8(payload).unwrap());
                if let (true, 1, Some(id)) = (ack, qos, pkid) {
                    c.send(&raw::puback(id));
                }
            }
            c
        });
        Member {
            got,
            stop,
            thread: Some(thread),
        }
    }

    fn got(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }

    /// Stops reading; the client, still connected.
    fn stop(mut self) -> RawClient {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Publishes `count` QoS 1 messages `{prefix}{i}` on `topic`, each after
/// the last one's PUBACK (so members are never at a cap).
fn publish_stream(c: &mut RawClient, topic: &str, prefix: &str, count: usize) {
    for i in 0..count {
        let pkid = (i % 60_000 + 1) as u16;
        let payload = format!("{prefix}{i}");
        c.send(&raw::publish(
            topic,
            payload.as_bytes(),
            1,
            false,
            false,
            Some(pkid),
        ));
        let p = c.read_packet(secs(5)).expect("PUBACK");
        assert_eq!(raw::parse_ack(&p), Some((4, pkid)), "{p:?}");
    }
}

/// Waits until the members hold `total` messages between them (or the
/// time is up), then returns what each got.
fn collect(members: &[&Member], total: usize) -> Vec<Vec<String>> {
    let deadline = Instant::now() + secs(10);
    loop {
        let got: Vec<Vec<String>> = members.iter().map(|m| m.got()).collect();
        let n: usize = got.iter().map(Vec::len).sum();
        if n >= total || Instant::now() > deadline {
            // A little longer: a duplicate would arrive now.
            std::thread::sleep(scaled(Duration::from_millis(200)));
            return members.iter().map(|m| m.got()).collect();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every one of `expected` arrived exactly once across the members.
fn assert_once_each(got: &[Vec<String>], expected: &BTreeSet<String>) {
    let mut seen = BTreeMap::new();
    for (member, payloads) in got.iter().enumerate() {
        for p in payloads {
            if let Some(first) = seen.insert(p.clone(), member) {
                panic!("{p} arrived twice: at member {first} and member {member}");
            }
        }
    }
    let arrived: BTreeSet<String> = seen.into_keys().collect();
    let missing: Vec<_> = expected.difference(&arrived).take(10).collect();
    let extra: Vec<_> = arrived.difference(expected).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, unexpected {extra:?}"
    );
}

fn payloads(prefix: &str, count: usize) -> BTreeSet<String> {
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

/// Four members, two 3.1.1 and two 5.0, in group `g`, under `strategy`.
fn group_of_four(strategy: &str) -> (Broker, Vec<Member>) {
    // Members acknowledge as they read, but a loaded machine may leave a
    // thread unscheduled for a while: a high inflight cap keeps them
    // ready, so the strategy alone decides.
    let b = Broker::start(&format!(
        "persistence false\nmax_inflight_messages 1000\n\
         shared_subscription_strategy {strategy}\n"
    ));
    let mut members = Vec::new();
    for (i, version) in [Version::V311, Version::V5, Version::V311, Version::V5]
        .into_iter()
        .enumerate()
    {
        let mut c = connect(&b, &format!("worker-{i}"), version, true);
        assert_eq!(subscribe(&mut c, version, "$share/g/work/#"), 1);
        members.push(Member::start(c, version, true));
    }
    (b, members)
}

#[test]
fn round_robin_deals_the_stream_out_evenly() {
    let (b, members) = group_of_four("round_robin");
    let n = stream_len();
    let mut publisher = connect(&b, "producer", Version::V311, true);
    publish_stream(&mut publisher, "work/jobs", "m", n);
    let got = collect(&members.iter().collect::<Vec<_>>(), n);
    assert_once_each(&got, &payloads("m", n));
    let counts: Vec<usize> = got.iter().map(Vec::len).collect();
    // One each in turn; a member is passed over only while it is at its
    // inflight cap, which acknowledging members never reach here.
    for c in &counts {
        assert!(
            c.abs_diff(n / 4) <= n / 40,
            "round robin over {n}: {counts:?}"
        );
    }
    // In turn: consecutive messages go to different members.
    let owner: BTreeMap<String, usize> = got
        .iter()
        .enumerate()
        .flat_map(|(m, ps)| ps.iter().map(move |p| (p.clone(), m)))
        .collect();
    let changes = (1..n)
        .filter(|i| owner[&format!("m{i}")] != owner[&format!("m{}", i - 1)])
        .count();
    assert!(changes >= n * 9 / 10, "{changes} changes of member in {n}");
    let report = b.report(secs(5));
    assert_eq!(report["shared_handoffs"], 0);
}

#[test]
fn random_spreads_the_stream() {
    let (b, members) = group_of_four("random");
    let n = stream_len();
    let mut publisher = connect(&b, "producer", Version::V311, true);
    publish_stream(&mut publisher, "work/jobs", "r", n);
    let got = collect(&members.iter().collect::<Vec<_>>(), n);
    assert_once_each(&got, &payloads("r", n));
    let counts: Vec<usize> = got.iter().map(Vec::len).collect();
    // Binomial(n, 1/4): within half of the mean is over 4 standard
    // deviations at n = 200, far more at 1,000.
    for c in &counts {
        assert!(c.abs_diff(n / 4) <= n / 8, "random over {n}: {counts:?}");
    }
}

#[test]
fn sticky_keeps_one_member_while_it_keeps_up() {
    let (_b, members) = group_of_four("sticky");
    let n = stream_len();
    let mut publisher = connect(&_b, "producer", Version::V311, true);
    publish_stream(&mut publisher, "work/jobs", "s", n);
    let got = collect(&members.iter().collect::<Vec<_>>(), n);
    assert_once_each(&got, &payloads("s", n));
    let max = got.iter().map(Vec::len).max().unwrap();
    assert!(
        max >= n * 9 / 10,
        "sticky: {:?}",
        got.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

#[test]
fn hash_clientid_keeps_each_publisher_at_one_member() {
    let (b, members) = group_of_four("hash_clientid");
    let n = stream_len() / 8;
    let mut expected = BTreeSet::new();
    // Eight publishers: their ids spread over the members.
    for p in 0..8 {
        let mut publisher = connect(&b, &format!("sensor-{p}"), Version::V311, true);
        let prefix = format!("p{p}-");
        publish_stream(&mut publisher, "work/readings", &prefix, n);
        expected.extend(payloads(&prefix, n));
    }
    let got = collect(&members.iter().collect::<Vec<_>>(), expected.len());
    assert_once_each(&got, &expected);
    let mut at_members = BTreeSet::new();
    for p in 0..8 {
        let prefix = format!("p{p}-");
        let per_member: Vec<usize> = got
            .iter()
            .map(|ps| ps.iter().filter(|x| x.starts_with(&prefix)).count())
            .collect();
        let (best, most) = per_member
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| **c)
            .unwrap();
        assert!(*most >= n * 9 / 10, "publisher {p}: {per_member:?}");
        at_members.insert(best);
    }
    assert!(
        at_members.len() >= 2,
        "eight publishers all hashed to one member"
    );
}

#[test]
fn a_member_that_leaves_hands_its_unacknowledged_messages_on() {
    let b = Broker::start("persistence false\nmax_inflight_messages 5\n");
    let mut a = connect(&b, "a", Version::V311, true);
    subscribe(&mut a, Version::V311, "$share/g/work/#");
    let a = Member::start(a, Version::V311, true);
    let mut five = connect(&b, "b", Version::V5, true);
    subscribe(&mut five, Version::V5, "$share/g/work/#");
    let five = Member::start(five, Version::V5, true);
    // c reads but never acknowledges: 5 in flight, then passed over.
    let mut c = connect(&b, "c", Version::V311, true);
    subscribe(&mut c, Version::V311, "$share/g/work/#");
    let c = Member::start(c, Version::V311, false);
    let n = 100;
    let mut publisher = connect(&b, "producer", Version::V311, true);
    publish_stream(&mut publisher, "work/x", "h", n);
    let deadline = Instant::now() + secs(5);
    while c.got().len() < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let held = c.got();
    assert_eq!(held.len(), 5, "c should hold its inflight cap");
    // c goes away mid-stream: its five go to a and b.
    drop(c.stop());
    let got = collect(&[&a, &five], n);
    assert_once_each(&got, &payloads("h", n));
    for p in &held {
        assert!(got.iter().any(|m| m.contains(p)), "{p} not handed on");
    }
    let report = b.report(secs(5));
    // Its five in flight, and any queued behind them: on a slow machine
    // (qemu) a and b are sometimes busy too, and c, ranked with them, gets
    // a few more to queue. Each was delivered once (above).
    assert!(
        report["shared_handoffs"] >= 5,
        "handed on: {}",
        report["shared_handoffs"]
    );
    assert_eq!(report["shared_handoffs_dropped"], 0);
}

#[test]
fn a_lone_member_s_queue_goes_to_the_next_member_in_order() {
    let b = Broker::start("persistence false\nmax_inflight_messages 2\n");
    let mut c = connect(&b, "slow", Version::V311, true);
    subscribe(&mut c, Version::V311, "$queue/jobs/#");
    let slow = Member::start(c, Version::V311, false);
    let mut publisher = connect(&b, "producer", Version::V311, true);
    // The only member: 2 in flight, 8 queued.
    publish_stream(&mut publisher, "jobs/a", "q", 10);
    let mut c = connect(&b, "fresh", Version::V5, true);
    subscribe(&mut c, Version::V5, "$queue/jobs/#");
    let fresh = Member::start(c, Version::V5, true);
    drop(slow.stop());
    let got = collect(&[&fresh], 10);
    let want: Vec<String> = (0..10).map(|i| format!("q{i}")).collect();
    assert_eq!(got[0], want, "all ten, in order");
}

#[test]
fn members_offline_queue_and_the_first_back_gets_the_backlog() {
    let b = Broker::start("persistence false\n");
    for (name, version) in [("p1", Version::V311), ("p2", Version::V5)] {
        let mut c = connect(&b, name, version, false);
        assert_eq!(subscribe(&mut c, version, "$share/g/jobs/#"), 1);
        c.send(&raw::disconnect());
        assert!(c.expect_closed(secs(5)));
    }
    let mut publisher = connect(&b, "producer", Version::V311, true);
    publish_stream(&mut publisher, "jobs/x", "o", 10);
    // p2 comes back first: its own share and p1's.
    let p2 = Member::start(connect(&b, "p2", Version::V5, false), Version::V5, true);
    let got = collect(&[&p2], 10);
    let want: BTreeSet<String> = payloads("o", 10);
    assert_eq!(got[0].iter().cloned().collect::<BTreeSet<_>>(), want);
    assert_eq!(got[0].len(), 10);
    let p1 = Member::start(connect(&b, "p1", Version::V311, false), Version::V311, true);
    std::thread::sleep(scaled(Duration::from_millis(500)));
    assert!(p1.got().is_empty(), "p1 got {:?}", p1.got());
    // Both online again: the group goes on.
    publish_stream(&mut publisher, "jobs/x", "again", 10);
    let got = collect(&[&p1, &p2], 20);
    assert_eq!(got[0].len(), 5, "{got:?}");
    assert_eq!(got[1].len(), 15, "{got:?}");
}

#[test]
fn a_new_member_takes_the_backlog_of_members_that_are_away() {
    let b = Broker::start("persistence false\n");
    let mut away = connect(&b, "away", Version::V311, false);
    assert_eq!(subscribe(&mut away, Version::V311, "$queue/jobs/#"), 1);
    away.send(&raw::disconnect());
    assert!(away.expect_closed(secs(5)));
    let mut publisher = connect(&b, "producer", Version::V311, true);
    publish_stream(&mut publisher, "jobs/x", "b", 5);
    let mut c = connect(&b, "newcomer", Version::V5, true);
    assert_eq!(subscribe(&mut c, Version::V5, "$queue/jobs/#"), 1);
    let newcomer = Member::start(c, Version::V5, true);
    let want: Vec<String> = (0..5).map(|i| format!("b{i}")).collect();
    assert_eq!(collect(&[&newcomer], 5)[0], want);
    let away = Member::start(
        connect(&b, "away", Version::V311, false),
        Version::V311,
        true,
    );
    std::thread::sleep(scaled(Duration::from_millis(300)));
    assert!(away.got().is_empty(), "{:?}", away.got());
}

#[test]
fn groups_of_persistent_members_survive_a_restart() {
    // Sync mode: what was acknowledged survives even a SIGKILL.
    let mut b = Broker::start("persistence true\npersistence_sync true\n");
    for name in ["p1", "p2"] {
        let mut c = connect(&b, name, Version::V311, false);
        assert_eq!(subscribe(&mut c, Version::V311, "$share/g/jobs/#"), 1);
        c.send(&raw::disconnect());
        assert!(c.expect_closed(secs(5)));
    }
    let mut publisher = connect(&b, "producer", Version::V311, true);
    publish_stream(&mut publisher, "jobs/x", "before", 6);
    drop(publisher);
    b.restart();
    let p1 = Member::start(connect(&b, "p1", Version::V311, false), Version::V311, true);
    let got = collect(&[&p1], 6);
    assert_eq!(
        got[0].iter().cloned().collect::<BTreeSet<_>>(),
        payloads("before", 6),
        "the backlog queued before the restart"
    );
    let p2 = Member::start(connect(&b, "p2", Version::V311, false), Version::V311, true);
    let mut publisher = connect(&b, "producer", Version::V311, true);
    publish_stream(&mut publisher, "jobs/x", "after", 20);
    let got = collect(&[&p1, &p2], 26);
    assert_once_each(
        &got,
        &payloads("before", 6)
            .union(&payloads("after", 20))
            .cloned()
            .collect(),
    );
    assert_eq!(
        got[1].len(),
        10,
        "the group, restored, deals to both: {got:?}"
    );
}

#[test]
fn shared_subscriptions_get_no_retained_messages_and_bad_ones_are_refused() {
    let b = Broker::start("persistence false\n");
    let mut publisher = connect(&b, "producer", Version::V311, true);
    publisher.send(&raw::publish("jobs/r", b"kept", 1, true, false, Some(1)));
    assert!(publisher.read_packet(secs(5)).is_some());
    let mut c = connect(&b, "m", Version::V311, true);
    assert_eq!(subscribe(&mut c, Version::V311, "$share/g/jobs/#"), 1);
    // Not a shared filter: the retained message comes.
    assert_eq!(subscribe(&mut c, Version::V311, "jobs/#"), 1);
    let p = c.read_packet(secs(5)).expect("the retained message");
    let p = raw::parse_publish(&p).unwrap();
    assert!(p.retain && p.payload == b"kept");
    assert!(c.read_packet(scaled(Duration::from_millis(300))).is_none());
    for bad in ["$share/+/a", "$share/g", "$share//a", "$queue/"] {
        assert_eq!(subscribe(&mut c, Version::V311, bad), 0x80, "{bad}");
    }
    let mut five = connect(&b, "m5", Version::V5, true);
    assert_eq!(subscribe(&mut five, Version::V5, "$share/#/a"), 0x8F);
    // No Local on a shared subscription: a Protocol Error [MQTT-3.8.3-4].
    five.send(&subscribe5(2, "$share/g/a", 0b0100 | 1));
    let p = five.read_packet(secs(5)).expect("DISCONNECT");
    assert_eq!(mqtt5_raw::parse_disconnect5(&p).map(|d| d.0), Some(0x82));
}

#[test]
fn mosquitto_sub_is_a_member_like_any_other() {
    let b = Broker::start("persistence false\n");
    let sub = MosquittoSub::start(
        b.addr(),
        &["-t", "$share/tools/sensors/#", "-q", "1", "-i", "tool"],
    );
    let mut c = connect(&b, "raw", Version::V311, true);
    subscribe(&mut c, Version::V311, "$share/tools/sensors/#");
    let raw_member = Member::start(c, Version::V311, true);
    let mut publisher = connect(&b, "producer", Version::V311, true);
    publish_stream(&mut publisher, "sensors/t", "x", 20);
    let lines = sub.wait_messages(10, secs(5));
    let got = collect(&[&raw_member], 10);
    let mut all: Vec<Vec<String>> = got;
    all.push(lines);
    assert_once_each(&all, &payloads("x", 20));
    assert_eq!(all[0].len(), 10, "round robin between the two: {all:?}");
}

// --- point-to-point ---

#[test]
fn p2p_reaches_one_client_online_offline_or_nobody() {
    let b = Broker::start("persistence false\np2p true\n");
    // dev1 online, without a subscription.
    let dev1 = Member::start(
        connect(&b, "dev1", Version::V311, true),
        Version::V311,
        true,
    );
    // dev2 offline with a persistent session.
    let mut c = connect(&b, "dev2", Version::V5, false);
    c.send(&raw::disconnect());
    assert!(c.expect_closed(secs(5)));
    // Ordinary subscriptions that would match see nothing.
    let mut snoop = connect(&b, "snoop", Version::V311, true);
    assert_eq!(subscribe(&mut snoop, Version::V311, "+/p2p/#"), 1);
    assert_eq!(subscribe(&mut snoop, Version::V311, "#"), 1);
    let snoop = Member::start(snoop, Version::V311, true);

    let mut app = connect(&b, "app", Version::V5, true);
    app.send(&mqtt5_raw::publish5(
        "app/p2p/dev1",
        b"to-dev1",
        1,
        1,
        Props::new(),
    ));
    let ack = app.read_packet(secs(5)).expect("PUBACK");
    assert_eq!(raw::packet_type(&ack), 4);
    app.send(&mqtt5_raw::publish5(
        "app/p2p/dev2",
        b"to-dev2",
        1,
        2,
        Props::new(),
    ));
    assert!(app.read_packet(secs(5)).is_some());
    // Nobody: dropped, counted, and the 5.0 PUBACK says so (0x10).
    app.send(&mqtt5_raw::publish5(
        "app/p2p/ghost",
        b"lost",
        1,
        3,
        Props::new(),
    ));
    let ack = app.read_packet(secs(5)).expect("PUBACK");
    assert_eq!(raw::body(&ack).get(2), Some(&0x10), "{ack:?}");
    // Not three levels: an ordinary topic.
    app.send(&mqtt5_raw::publish5(
        "app/p2p/dev1/x",
        b"plain",
        0,
        0,
        Props::new(),
    ));

    assert_eq!(collect(&[&dev1], 1)[0], ["to-dev1"]);
    let dev2 = Member::start(connect(&b, "dev2", Version::V5, false), Version::V5, true);
    assert_eq!(collect(&[&dev2], 1)[0], ["to-dev2"]);
    std::thread::sleep(scaled(Duration::from_millis(300)));
    assert_eq!(
        snoop.got(),
        ["plain"],
        "ordinary subscriptions see no P2P message"
    );
    assert_eq!(dev1.got(), ["to-dev1"]);
    let report = b.report(secs(5));
    assert_eq!(report["p2p_delivered"], 2);
    assert_eq!(report["p2p_dropped_no_session"], 1);
}

#[test]
fn p2p_arrives_at_the_qos_it_was_published_with() {
    let b = Broker::start("persistence false\np2p true\n");
    let mut dev = connect(&b, "dev1", Version::V311, true);
    let mut app = connect(&b, "app", Version::V311, true);
    for qos in [0u8, 1, 2] {
        let pkid = (qos > 0).then_some(u16::from(qos));
        app.send(&raw::publish("cmd/p2p/dev1", b"go", qos, true, false, pkid));
        let p = dev.read_packet(secs(5)).expect("the P2P message");
        let p = raw::parse_publish(&p).unwrap();
        assert_eq!(
            (p.topic.as_str(), p.qos, p.retain),
            ("cmd/p2p/dev1", qos, false)
        );
        match (qos, p.pkid) {
            (1, Some(id)) => dev.send(&raw::puback(id)),
            (2, Some(id)) => {
                dev.send(&raw::pubrec(id));
                assert!(dev.read_packet(secs(5)).is_some(), "PUBREL");
                dev.send(&raw::pubcomp(id));
            }
            _ => {}
        }
    }
}

#[test]
fn subscribing_under_another_client_s_p2p_topic_is_refused() {
    let b = Broker::start("persistence false\np2p true\n");
    let mut c = connect(&b, "dev1", Version::V311, true);
    assert_eq!(subscribe(&mut c, Version::V311, "app/p2p/dev2"), 0x80);
    assert_eq!(subscribe(&mut c, Version::V311, "+/p2p/dev2/#"), 0x80);
    assert_eq!(
        subscribe(&mut c, Version::V311, "$share/g/app/p2p/dev2"),
        0x80
    );
    assert_eq!(subscribe(&mut c, Version::V311, "app/p2p/dev1"), 1);
    assert_eq!(subscribe(&mut c, Version::V311, "app/p2p/+"), 1);
    let mut five = connect(&b, "dev5", Version::V5, true);
    assert_eq!(subscribe(&mut five, Version::V5, "app/p2p/dev1"), 0x87);
    let report = b.report(secs(5));
    assert_eq!(report["p2p_subscriptions_refused"], 4);
}

#[test]
fn without_p2p_the_topic_is_an_ordinary_one() {
    let b = Broker::start("persistence false\n");
    let mut dev = connect(&b, "dev1", Version::V311, true);
    let mut snoop = connect(&b, "snoop", Version::V311, true);
    assert_eq!(subscribe(&mut snoop, Version::V311, "+/p2p/#"), 1);
    assert_eq!(subscribe(&mut snoop, Version::V311, "app/p2p/dev1"), 1);
    let mut app = connect(&b, "app", Version::V311, true);
    app.send(&raw::publish("app/p2p/dev1", b"x", 0, false, false, None));
    let p = snoop.read_packet(secs(5)).expect("an ordinary message");
    assert_eq!(raw::parse_publish(&p).unwrap().topic, "app/p2p/dev1");
    assert!(dev
        .read_packet(scaled(Duration::from_millis(300)))
        .is_none());
}

#[test]
fn p2p_publishers_need_write_permission_when_acls_exist() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("edgemq.acl");
    // Anonymous clients: the rules before any `user` line.
    std::fs::write(&acl, "topic write app/p2p/dev1\ntopic read #\n").unwrap();
    let b = Broker::start(&format!(
        "persistence false\np2p true\nacl_file {}\n",
        acl.display()
    ));
    let dev1 = Member::start(
        connect(&b, "dev1", Version::V311, true),
        Version::V311,
        true,
    );
    let dev2 = Member::start(
        connect(&b, "dev2", Version::V311, true),
        Version::V311,
        true,
    );
    let mut app = connect(&b, "app", Version::V311, true);
    app.send(&raw::publish(
        "app/p2p/dev2",
        b"denied",
        0,
        false,
        false,
        None,
    ));
    app.send(&raw::publish(
        "app/p2p/dev1",
        b"allowed",
        0,
        false,
        false,
        None,
    ));
    assert_eq!(collect(&[&dev1], 1)[0], ["allowed"]);
    std::thread::sleep(scaled(Duration::from_millis(300)));
    assert!(dev2.got().is_empty());
}

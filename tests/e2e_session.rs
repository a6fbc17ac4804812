//! End-to-end sessions: clean and persistent sessions, the offline queue
//! (max_queued_messages, drop oldest, QoS 0 only with queue_qos0_messages),
//! zero-length client ids, takeover and `duplicate_client_id reject`, a
//! second CONNECT, and session expiry
//! (README.md ## Durability and the store, MQTT 3.1.1 §3.1-§3.2).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::flow::{collect, expect_alive, expect_silence, publish, quiet, raw_subscribe, wait};

use common::raw::{self, Connect, RawPublish};
use common::{Broker, RawClient, ReadEvent};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn id(prefix: &str) -> String {
    common::unique_id(prefix)
}

/// Sends `connect` on a new socket; the CONNACK's (session present, code).
fn try_connect(addr: SocketAddr, connect: &Connect) -> (RawClient, (bool, u8)) {
    let mut c = RawClient::connect(addr);
    c.send(&connect.to_bytes());
    let p = c.read_packet(wait()).expect("no CONNACK");
    let ack = raw::parse_connack(&p).unwrap_or_else(|| panic!("not a CONNACK: {p:02x?}"));
    (c, ack)
}

/// Connects, asserts CONNACK 0; returns the session-present flag.
fn raw_connect(addr: SocketAddr, connect: &Connect) -> (RawClient, bool) {
    let (c, (present, code)) = try_connect(addr, connect);
    assert_eq!(code, 0, "CONNACK return code for {:?}", connect.client_id);
    (c, present)
}

/// Sends DISCONNECT and waits for the broker to close the socket.
fn disconnect(mut c: RawClient) {
    c.send(&raw::disconnect());
    assert!(c.expect_closed(wait()), "closed after DISCONNECT");
}

fn payloads(msgs: &[RawPublish]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect()
}

#[test]
fn clean_session_keeps_nothing() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let (mut publ, _) = raw_connect(addr, &Connect::new(&id("pub")));
    let cid = id("clean");

    let (mut c, present) = raw_connect(addr, &Connect::new(&cid));
    assert!(!present, "clean session: session present 0 [MQTT-3.2.2-1]");
    assert_eq!(raw_subscribe(&mut c, 1, &[("cs/t", 1)]), vec![1]);
    disconnect(c);
    publish(&mut publ, "cs/t", "while away".as_bytes(), 1, false, 1);

    let (mut c, present) = raw_connect(addr, &Connect::new(&cid));
    assert!(!present, "clean session again: session present 0");
    expect_silence(
        &mut c,
        "a clean session gets nothing published while it was away",
    );
    publish(&mut publ, "cs/t", "live".as_bytes(), 1, false, 2);
    expect_silence(
        &mut c,
        "a clean session's subscriptions ended with it [MQTT-3.1.2-6]",
    );
    disconnect(c);

    // A persistent session, then clean session 1: the old session is
    // discarded [MQTT-3.1.2-6], so a later clean session 0 starts new.
    let (mut c, _) = raw_connect(addr, &Connect::new(&cid).clean(false));
    assert_eq!(raw_subscribe(&mut c, 1, &[("cs/t", 1)]), vec![1]);
    disconnect(c);
    let (c, present) = raw_connect(addr, &Connect::new(&cid));
    assert!(!present, "clean session 1 never reports a session present");
    disconnect(c);
    let (mut c, present) = raw_connect(addr, &Connect::new(&cid).clean(false));
    assert!(
        !present,
        "the persistent session was discarded by the clean one"
    );
    publish(&mut publ, "cs/t", "after discard".as_bytes(), 1, false, 3);
    expect_silence(&mut c, "the discarded subscription is gone");
}

#[test]
fn persistent_session_keeps_subscriptions_and_newest_ten_offline_messages() {
    let broker = Broker::start("max_queued_messages 10\n");
    let addr = broker.addr();
    let cid = id("persist");
    let (mut c, present) = raw_connect(addr, &Connect::new(&cid).clean(false));
    assert!(!present, "a new persistent session is not present");
    assert_eq!(raw_subscribe(&mut c, 1, &[("ps/#", 1)]), vec![1]);
    disconnect(c);

    let (mut publ, _) = raw_connect(addr, &Connect::new(&id("pub")));
    for i in 0..15u16 {
        publish(&mut publ, "ps/t", i.to_string().as_bytes(), 1, false, i + 1);
    }
    // The offline queue drops its oldest, logged with the client id.
    assert!(
        broker.wait_log(wait(), |log| log
            .lines()
            .any(|l| l.contains("dropped") && l.contains(&cid))),
        "the broker log names {cid} for the dropped message"
    );

    let (mut c, present) = raw_connect(addr, &Connect::new(&cid).clean(false));
    assert!(present, "session present 1 on resuming [MQTT-3.2.2-2]");
    let got = collect(&mut c, 10);
    let want: Vec<String> = (5..15).map(|i: i32| i.to_string()).collect();
    assert_eq!(payloads(&got), want, "the newest 10, in order");
    for m in &got {
        assert_eq!(
            (m.qos, m.retain, m.topic.as_str()),
            (1, false, "ps/t"),
            "{m:?}"
        );
        assert_ne!(m.pkid, Some(0));
    }
    expect_silence(&mut c, "nothing beyond the newest 10");

    // The subscription survived: live messages arrive without subscribing.
    publish(&mut publ, "ps/t", "live".as_bytes(), 1, false, 100);
    assert_eq!(payloads(&collect(&mut c, 1)), vec!["live"]);
}

fn offline_qos0(config: &str) -> Vec<RawPublish> {
    let broker = Broker::start(config);
    let addr = broker.addr();
    let cid = id("q0");
    let (mut c, _) = raw_connect(addr, &Connect::new(&cid).clean(false));
    assert_eq!(raw_subscribe(&mut c, 1, &[("q0/t", 1)]), vec![1]);
    disconnect(c);
    let (mut publ, _) = raw_connect(addr, &Connect::new(&id("pub")));
    publish(&mut publ, "q0/t", "a".as_bytes(), 0, false, 0);
    publish(&mut publ, "q0/t", "b".as_bytes(), 1, false, 1);
    publish(&mut publ, "q0/t", "c".as_bytes(), 0, false, 0);
    let (mut c, present) = raw_connect(addr, &Connect::new(&cid).clean(false));
    assert!(present);
    let mut got = Vec::new();
    while let Some(p) = c.read_packet(quiet()) {
        let m = raw::parse_publish(&p).unwrap_or_else(|| panic!("not a PUBLISH: {p:02x?}"));
        if let Some(id) = m.pkid {
            c.send(&raw::puback(id));
        }
        got.push(m);
    }
    got
}

#[test]
fn qos0_queued_offline_only_with_queue_qos0_messages() {
    // Default: QoS 0 is not kept for an offline session [MQTT-3.1.2-5].
    let got = offline_qos0("");
    assert_eq!(
        payloads(&got),
        vec!["b"],
        "default: only the QoS 1 message was queued"
    );
    assert_eq!(got[0].qos, 1);

    let got = offline_qos0("queue_qos0_messages true\n");
    assert_eq!(
        payloads(&got),
        vec!["a", "b", "c"],
        "queue_qos0_messages true: all three, in order"
    );
    let qos: Vec<u8> = got.iter().map(|m| m.qos).collect();
    assert_eq!(qos, vec![0, 1, 0], "each at its own QoS");
}

#[test]
fn zero_length_client_id() {
    let broker = Broker::start("");
    let addr = broker.addr();
    // 3.1.1 with clean session: accepted, an id is assigned [MQTT-3.1.3-6].
    let (mut a, (present, code)) = try_connect(addr, &Connect::new(""));
    assert_eq!(
        (present, code),
        (false, 0),
        "empty id with clean session is accepted"
    );
    let (mut b, (_, code)) = try_connect(addr, &Connect::new(""));
    assert_eq!(code, 0);
    // Two clients with empty ids get different ids: neither took over the other.
    expect_alive(&mut a, "first empty-id client still connected");
    expect_alive(&mut b, "second empty-id client connected");
    assert_eq!(raw_subscribe(&mut a, 1, &[("z/t", 0)]), vec![0]);
    publish(&mut b, "z/t", "to a".as_bytes(), 0, false, 0);
    let m = raw::parse_publish(&a.read_packet(wait()).expect("delivery")).unwrap();
    assert_eq!(m.payload, b"to a");

    // 3.1.1 without clean session: 0x02 identifier rejected, then closed
    // [MQTT-3.1.3-8].
    let (mut c, ack) = try_connect(addr, &Connect::new("").clean(false));
    assert_eq!(ack, (false, 0x02), "empty id with clean session 0");
    assert!(
        c.expect_closed(wait()),
        "closed after the refusal [MQTT-3.2.2-5]"
    );

    // MQTT 3.1 requires 1-23 characters: 0x02 even with clean session.
    let (mut c, ack) = try_connect(addr, &Connect::new("").v31());
    assert_eq!(ack, (false, 0x02), "empty id in MQTT 3.1");
    assert!(c.expect_closed(wait()));
}

#[test]
fn takeover_closes_the_old_connection_and_continues_the_session() {
    let broker = Broker::start("");
    let addr = broker.addr();
    let cid = id("dup");
    let (mut first, _) = raw_connect(addr, &Connect::new(&cid).clean(false));
    assert_eq!(raw_subscribe(&mut first, 1, &[("to/t", 1)]), vec![1]);

    // The same client id again: the existing connection is closed
    // [MQTT-3.1.4-2], the newcomer resumes the session.
    let (mut second, present) = raw_connect(addr, &Connect::new(&cid).clean(false));
    assert!(present, "the taken-over session is present");
    assert!(
        first.expect_closed(wait()),
        "the first connection is closed"
    );

    let (mut publ, _) = raw_connect(addr, &Connect::new(&id("pub")));
    publish(
        &mut publ,
        "to/t",
        "for the newcomer".as_bytes(),
        1,
        false,
        1,
    );
    let got = collect(&mut second, 1);
    assert_eq!(
        payloads(&got),
        vec!["for the newcomer"],
        "subscription carried over"
    );
    expect_alive(&mut second, "the newcomer works");
    assert!(
        broker.log().contains(&cid),
        "the takeover is logged with the client id"
    );
}

#[test]
fn duplicate_client_id_reject_keeps_the_first() {
    let broker = Broker::start("duplicate_client_id reject\n");
    let addr = broker.addr();
    let cid = id("rej");
    let (mut first, _) = raw_connect(addr, &Connect::new(&cid).clean(false));
    assert_eq!(raw_subscribe(&mut first, 1, &[("dr/t", 1)]), vec![1]);

    let (mut second, ack) = try_connect(addr, &Connect::new(&cid).clean(false));
    assert_eq!(ack, (false, 0x02), "newcomer refused: identifier rejected");
    assert!(second.expect_closed(wait()), "refused newcomer closed");

    expect_alive(&mut first, "the first connection stays");
    let (mut publ, _) = raw_connect(addr, &Connect::new(&id("pub")));
    publish(&mut publ, "dr/t", "still yours".as_bytes(), 1, false, 1);
    assert_eq!(payloads(&collect(&mut first, 1)), vec!["still yours"]);
}

#[test]
fn second_connect_on_one_connection_closes_it() {
    let broker = Broker::start("");
    let cid = id("twice");
    let (mut c, _) = raw_connect(broker.addr(), &Connect::new(&cid));
    c.send(&Connect::new(&cid).to_bytes());
    // A second CONNECT is a protocol violation [MQTT-3.1.0-2]: no CONNACK.
    match c.read_event(wait()) {
        ReadEvent::Closed => {}
        other => panic!("expected the connection closed, got {other:?}"),
    }
    // The broker still serves others.
    let (mut d, _) = raw_connect(broker.addr(), &Connect::new(&cid));
    expect_alive(&mut d, "a new connection works");
}

#[test]
fn persistent_session_expires() {
    let broker = Broker::start("persistent_client_expiration 2s\n");
    let addr = broker.addr();
    let gone = id("expires");
    let kept = id("kept");
    for cid in [&gone, &kept] {
        let (mut c, _) = raw_connect(addr, &Connect::new(cid).clean(false));
        assert_eq!(
            raw_subscribe(&mut c, 1, &[(&format!("ex/{cid}"), 1)]),
            vec![1]
        );
        disconnect(c);
    }
    let start = Instant::now();
    // Within the expiry: still present; an online session does not expire.
    // Broker time, not a harness wait: not scaled (an emulated broker
    // still expires sessions by the wall clock).
    std::thread::sleep(Duration::from_millis(500));
    let (mut kept_conn, present) = raw_connect(addr, &Connect::new(&kept).clean(false));
    assert!(present, "reconnected within persistent_client_expiration");

    std::thread::sleep(Duration::from_secs(3).saturating_sub(start.elapsed()));
    let (mut c, present) = raw_connect(addr, &Connect::new(&gone).clean(false));
    assert!(
        !present,
        "after 3 s offline with a 2 s expiry the session is gone"
    );
    let (mut publ, _) = raw_connect(addr, &Connect::new(&id("pub")));
    publish(
        &mut publ,
        &format!("ex/{gone}"),
        "x".as_bytes(),
        1,
        false,
        1,
    );
    expect_silence(&mut c, "the expired session's subscription is gone");
    assert!(
        broker.log().contains(&gone),
        "expiry logged with the client id"
    );

    expect_alive(&mut kept_conn, "online session");
    disconnect(kept_conn);
    let (_c, present) = raw_connect(addr, &Connect::new(&kept).clean(false));
    assert!(present, "the session that was online did not expire");
}

//! Every configured limit (README.md ## Limits and refusals) refuses with
//! the code MQTT 3.1.1 gives it — a CONNACK or SUBACK return code, or,
//! since 3.1.1 has no server DISCONNECT, closing the connection — and the
//! broker logs a line about it.
//!
//! Log lines are rate-limited per kind (the first is logged, later ones
//! within 10 s are only counted), so each test checks the first line of its
//! kind on its own broker, and one test checks that the limiter holds back
//! the repeats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::raw::{self, Connect, RawPublish};
use common::{scaled, Broker, BrokerOptions, RawClient, ReadEvent};
use std::time::{Duration, Instant};

/// CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3].
const ACCEPTED: u8 = 0x00;
const UNACCEPTABLE_PROTOCOL: u8 = 0x01;
const IDENTIFIER_REJECTED: u8 = 0x02;
const SERVER_UNAVAILABLE: u8 = 0x03;
const NOT_AUTHORIZED: u8 = 0x05;
/// SUBACK failure return code [MQTT-3.9.3].
const SUBACK_FAILURE: u8 = 0x80;

fn secs(n: u64) -> Duration {
    scaled(Duration::from_secs(n))
}

/// A connected raw client (3.1.1, clean session); panics unless accepted.
fn connected(addr: std::net::SocketAddr, id: &str) -> RawClient {
    let (c, code) = RawClient::connect_mqtt(addr, id);
    assert_eq!(code, Some(ACCEPTED), "CONNACK for {id}");
    c
}

/// SUBSCRIBE and return the SUBACK's return codes, checking its packet id.
fn subscribe(c: &mut RawClient, pkid: u16, filters: &[(&str, u8)]) -> Vec<u8> {
    c.send(&raw::subscribe(pkid, filters));
    let p = c.read_packet(secs(5)).expect("a SUBACK");
    let (id, codes) = raw::parse_suback(&p).unwrap_or_else(|| panic!("not a SUBACK: {p:?}"));
    assert_eq!(id, pkid, "SUBACK packet id [MQTT-3.8.4-2]");
    codes
}

/// The next PUBLISH (QoS 1 ones are acknowledged); panics on anything else.
fn next_publish(c: &mut RawClient, timeout: Duration) -> RawPublish {
    let p = c.read_packet(timeout).expect("a PUBLISH");
    let publish = raw::parse_publish(&p).unwrap_or_else(|| panic!("not a PUBLISH: {p:?}"));
    if let (1, Some(id)) = (publish.qos, publish.pkid) {
        c.send(&raw::puback(id));
    }
    publish
}

/// Nothing arrives on `c` for `d` (and it stays open).
fn assert_silent(c: &mut RawClient, d: Duration, what: &str) {
    match c.read_event(d) {
        ReadEvent::Timeout => {}
        other => panic!("{what}: expected nothing, got {other:?}"),
    }
}

/// The broker's log contains `needle` within a few seconds.
fn assert_logged(broker: &Broker, needle: &str) {
    assert!(
        broker.wait_for_log(needle, secs(3)),
        "the broker did not log {needle:?}; log:\n{}",
        broker.log()
    );
}

/// `sub` (subscribed to `topic` at QoS 0) still gets a message `publisher`
/// sends: both connections work.
fn assert_routes(publisher: &mut RawClient, sub: &mut RawClient, topic: &str, payload: &[u8]) {
    publisher.send(&raw::publish(topic, payload, 0, false, false, None));
    let got = next_publish(sub, secs(5));
    assert_eq!(
        (got.topic.as_str(), got.payload.as_slice()),
        (topic, payload)
    );
}

#[test]
fn max_connections_refuses_the_third_with_server_unavailable() {
    let broker = Broker::start("max_connections 2");
    let mut a = connected(broker.addr(), "mc-a");
    let mut b = connected(broker.addr(), "mc-b");
    assert_eq!(subscribe(&mut a, 1, &[("mc/t", 0)]), [0]);

    // Over max_connections the CONNECT is answered with 0x03
    // "server unavailable" [MQTT-3.2.2.3], then the connection is closed.
    let mut c = RawClient::connect(broker.addr());
    assert_eq!(c.handshake(&raw::connect("mc-c")), Some(SERVER_UNAVAILABLE));
    assert!(
        c.expect_closed(secs(3)),
        "the refused connection stays open"
    );
    assert_logged(&broker, "max_connections 2");

    // The two admitted clients are untouched.
    assert_routes(&mut b, &mut a, "mc/t", b"still here");
    b.send(&raw::pingreq());
    assert_eq!(b.read_packet(secs(5)), Some(vec![0xD0, 0x00]));

    // A slot freed by a DISCONNECT is usable again.
    b.send(&raw::disconnect());
    assert!(b.expect_closed(secs(3)));
    let deadline = Instant::now() + secs(5);
    loop {
        let (_c, code) = RawClient::connect_mqtt(broker.addr(), "mc-d");
        if code == Some(ACCEPTED) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the freed slot was never reused: {code:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn max_sessions_counts_offline_persistent_sessions() {
    let broker = Broker::start("max_sessions 2");
    for id in ["ms-a", "ms-b"] {
        let mut c = RawClient::connect(broker.addr());
        let code = c.handshake(&Connect::new(id).clean(false).to_bytes());
        assert_eq!(code, Some(ACCEPTED), "CONNACK for {id}");
        c.send(&raw::disconnect());
        assert!(c.expect_closed(secs(3)));
    }
    // Both sessions persist offline [MQTT-3.1.2-4] and fill the table:
    // a third client id needs a new session → 0x03.
    let mut c = RawClient::connect(broker.addr());
    let code = c.handshake(&Connect::new("ms-c").clean(false).to_bytes());
    assert_eq!(code, Some(SERVER_UNAVAILABLE), "a third session");
    assert!(c.expect_closed(secs(3)), "closed after the refusal");
    assert_logged(&broker, "max_sessions 2");

    // A clean session needs a session slot too while it is connected.
    let mut c = RawClient::connect(broker.addr());
    let code = c.handshake(&Connect::new("ms-d").to_bytes());
    assert_eq!(
        code,
        Some(SERVER_UNAVAILABLE),
        "a clean session with the table full"
    );

    // An existing id resumes its own session: no new slot needed.
    let mut a = RawClient::connect(broker.addr());
    a.send(&Connect::new("ms-a").clean(false).to_bytes());
    let p = a.read_packet(secs(5)).expect("CONNACK");
    assert_eq!(
        raw::parse_connack(&p),
        Some((true, ACCEPTED)),
        "ms-a resumes (session present)"
    );
    a.send(&raw::pingreq());
    assert_eq!(a.read_packet(secs(5)), Some(vec![0xD0, 0x00]));
}

#[test]
fn max_packet_size_closes_only_the_offender() {
    let broker = Broker::start("max_packet_size 1000");
    let mut sub = connected(broker.addr(), "mp-sub");
    assert_eq!(subscribe(&mut sub, 1, &[("mp/#", 0)]), [0]);
    let mut publisher = connected(broker.addr(), "mp-pub");

    // A 2000-byte PUBLISH: over the cap, that connection is closed.
    let mut big = connected(broker.addr(), "mp-big");
    big.send(&raw::publish(
        "mp/big",
        &[b'x'; 2000],
        0,
        false,
        false,
        None,
    ));
    assert!(
        big.expect_closed(secs(3)),
        "a 2000-byte packet was accepted"
    );
    assert_logged(&broker, "exceeds the cap of 1000");

    // Nothing of it was routed; the others still work.
    assert_routes(&mut publisher, &mut sub, "mp/small", &[b'y'; 900]);

    // The fixed header alone is enough to refuse: announce 100 MB and send
    // only a few bytes of the body. The broker must not wait for the rest.
    let mut huge = connected(broker.addr(), "mp-huge");
    let mut header = vec![0x30];
    header.extend_from_slice(&raw::remaining_length(100_000_000));
    header.extend_from_slice(&[0, 5, b'm', b'p', b'/']);
    huge.send(&header);
    let started = Instant::now();
    assert!(
        huge.expect_closed(secs(2)),
        "a 100 MB header was not refused"
    );
    assert!(started.elapsed() < secs(2));
    // Also before CONNECT: a huge "CONNECT" is refused from its header.
    let mut pre = RawClient::connect(broker.addr());
    let mut header = vec![0x10];
    header.extend_from_slice(&raw::remaining_length(100_000_000));
    pre.send(&header);
    assert!(
        pre.expect_closed(secs(2)),
        "a 100 MB CONNECT header was not refused"
    );

    assert_routes(&mut publisher, &mut sub, "mp/after", b"ok");
    assert_silent(&mut sub, Duration::from_millis(200), "the subscriber");
}

#[test]
fn max_client_id_length_rejects_longer_ids_and_rate_limits_its_log() {
    let broker = Broker::start("max_client_id_length 8");
    let mut ok = RawClient::connect(broker.addr());
    assert_eq!(
        ok.handshake(&raw::connect("abcdefgh")),
        Some(ACCEPTED),
        "8 characters"
    );

    // [MQTT-3.2.2.3] 0x02 "identifier rejected", then closed [MQTT-3.2.2-5].
    for round in 0..3 {
        let mut c = RawClient::connect(broker.addr());
        let code = c.handshake(&raw::connect("abcdefghi"));
        assert_eq!(
            code,
            Some(IDENTIFIER_REJECTED),
            "9 characters (round {round})"
        );
        assert!(c.expect_closed(secs(3)));
    }
    assert_logged(&broker, "max_client_id_length 8");
    // Three refusals within 10 s: one line, the repeats only counted.
    let log = broker.log();
    assert_eq!(
        log.matches("max_client_id_length 8").count(),
        1,
        "the refusal log line is not rate-limited:\n{log}"
    );
}

#[test]
fn strict_identifiers_refuse_ids_topics_and_filters() {
    let broker = Broker::start("strict_identifiers true");
    let mut c = RawClient::connect(broker.addr());
    assert_eq!(
        c.handshake(&raw::connect("a b")),
        Some(IDENTIFIER_REJECTED),
        "client id 'a b'"
    );
    assert!(c.expect_closed(secs(3)));
    assert_logged(&broker, "strict_identifiers");
    // The allowed set [A-Za-z0-9_@.:-] passes.
    let mut sub = connected(broker.addr(), "Group_1@@dev-1.a:b");

    // A filter with a forbidden character gets 0x80; the valid filter in the
    // same SUBSCRIBE is still granted [MQTT-3.9.3-1] (one code per filter).
    let codes = subscribe(&mut sub, 7, &[("a b/#", 1), ("ok/+/x", 1), ("x$y", 0)]);
    assert_eq!(codes, [SUBACK_FAILURE, 1, SUBACK_FAILURE]);
    assert_logged(&broker, "refusing subscription");

    // A PUBLISH to a topic with a space closes the publisher (3.1.1 has no
    // other way to refuse it).
    let mut bad = connected(broker.addr(), "bad-pub");
    bad.send(&raw::publish("a b", b"x", 0, false, false, None));
    assert!(bad.expect_closed(secs(3)), "PUBLISH to 'a b' was accepted");
    assert_logged(&broker, "invalid topic");

    let mut good = connected(broker.addr(), "good-pub");
    assert_routes(&mut good, &mut sub, "ok/1/x", b"fine");
}

#[test]
fn topic_length_and_levels_close_publishers_and_refuse_filters() {
    let broker = Broker::start("max_topic_length 16\nmax_topic_levels 3");
    let mut sub = connected(broker.addr(), "tl-sub");
    let long = "abcdefghij/klmnop"; // 17 bytes
    let at_cap = "abcdefghij/klmno"; // 16 bytes
    assert_eq!(long.len(), 17);
    assert_eq!(at_cap.len(), 16);

    // SUBSCRIBE over either limit: 0x80 for that filter only.
    let codes = subscribe(
        &mut sub,
        1,
        &[
            (long, 0),
            ("a/b/c/d", 0),
            ("a/+/#", 0),
            (at_cap, 0),
            ("t/u/v", 0),
        ],
    );
    assert_eq!(codes, [SUBACK_FAILURE, SUBACK_FAILURE, 0, 0, 0]);
    assert_logged(&broker, "refusing subscription");

    // PUBLISH over either limit closes that connection.
    for topic in [long, "a/b/c/d"] {
        let mut p = connected(broker.addr(), "tl-bad");
        p.send(&raw::publish(topic, b"x", 0, false, false, None));
        assert!(
            p.expect_closed(secs(3)),
            "PUBLISH to {topic:?} was accepted"
        );
    }
    assert_logged(&broker, "invalid topic");
    let log = broker.log();
    assert!(
        log.contains("too long") || log.contains("too many levels"),
        "the log does not say which limit:\n{log}"
    );

    // At the limits it works, and nothing of the refused ones arrived.
    let mut p = connected(broker.addr(), "tl-good");
    assert_routes(&mut p, &mut sub, "a/b/c", b"3 levels");
    assert_routes(&mut p, &mut sub, at_cap, b"16 bytes");
    assert_routes(&mut p, &mut sub, "t/u/v", b"exact");
}

#[test]
fn max_subscriptions_per_client_refuses_the_third_filter() {
    let broker = Broker::start("max_subscriptions_per_client 2");
    let mut c = connected(broker.addr(), "sp-a");
    assert_eq!(subscribe(&mut c, 1, &[("s/1", 0), ("s/2", 1)]), [0, 1]);
    assert_eq!(
        subscribe(&mut c, 2, &[("s/3", 0)]),
        [SUBACK_FAILURE],
        "a third filter"
    );
    assert_logged(&broker, "max_subscriptions_per_client 2");
    // Re-subscribing an existing filter replaces it [MQTT-3.8.4-3]: no new slot.
    assert_eq!(subscribe(&mut c, 3, &[("s/1", 1)]), [1], "re-subscribe s/1");
    // Unsubscribing frees a slot.
    c.send(&raw::unsubscribe(4, &["s/2"]));
    let p = c.read_packet(secs(5)).expect("UNSUBACK");
    assert_eq!(raw::parse_ack(&p), Some((11, 4)));
    assert_eq!(
        subscribe(&mut c, 5, &[("s/3", 0)]),
        [0],
        "s/3 after freeing s/2"
    );

    // The limit is per client: another client has its own two.
    let mut other = connected(broker.addr(), "sp-b");
    assert_eq!(subscribe(&mut other, 1, &[("s/1", 0), ("s/2", 0)]), [0, 0]);

    // What the limit refused is not routed: s/2 is gone, s/1 and s/3 remain.
    let mut p = connected(broker.addr(), "sp-pub");
    for topic in ["s/1", "s/2", "s/3"] {
        p.send(&raw::publish(
            topic,
            topic.as_bytes(),
            0,
            false,
            false,
            None,
        ));
    }
    let got: Vec<String> = (0..2)
        .map(|_| next_publish(&mut c, secs(5)).topic)
        .collect();
    assert_eq!(got, ["s/1", "s/3"]);
    assert_silent(&mut c, Duration::from_millis(300), "sp-a after s/1 and s/3");
}

#[test]
fn connect_timeout_closes_a_silent_socket_after_about_a_second() {
    let broker = Broker::start("connect_timeout 1s");
    let mut c = RawClient::connect(broker.addr());
    let started = Instant::now();
    match c.read_event(secs(3)) {
        ReadEvent::Closed => {}
        other => panic!("a silent socket was not closed within 3 s: {other:?}"),
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500),
        "closed too early: {took:?}"
    );
    assert_logged(&broker, ": connect timeout");

    // A client that does send its CONNECT in time is not affected.
    let mut ok = connected(broker.addr(), "ct-ok");
    std::thread::sleep(Duration::from_millis(1500));
    ok.send(&raw::pingreq());
    assert_eq!(ok.read_packet(secs(5)), Some(vec![0xD0, 0x00]));
}

#[test]
fn allow_anonymous_false_refuses_anonymous_and_unverifiable_clients() {
    let broker = Broker::start("listener 0 127.0.0.1\nallow_anonymous false");
    // No username: 0x05 "not authorized" [MQTT-3.2.2.3].
    let mut c = RawClient::connect(broker.addr());
    assert_eq!(c.handshake(&raw::connect("anon")), Some(NOT_AUTHORIZED));
    assert!(c.expect_closed(secs(3)));
    assert_logged(&broker, "allow_anonymous false");
    // A username and password nobody can check (no credential method):
    // 0x05 too, as mosquitto 2.0 answers (docs/security.md).
    let mut c = RawClient::connect(broker.addr());
    let connect = Connect::new("user").username("alice").password(b"secret");
    assert_eq!(c.handshake(&connect.to_bytes()), Some(NOT_AUTHORIZED));
    assert!(c.expect_closed(secs(3)));
}

#[test]
fn unsupported_protocol_level_gets_0x01_then_close() {
    let broker = Broker::start("");
    // [MQTT-3.1.2-2]: an unsupported level is answered with 0x01, then closed.
    let mut c = RawClient::connect(broker.addr());
    let code = c.handshake(&Connect::new("lvl7").level(7).to_bytes());
    assert_eq!(code, Some(UNACCEPTABLE_PROTOCOL));
    assert!(c.expect_closed(secs(3)));
    assert_logged(&broker, "unsupported protocol level 7");
    // The broker carries on.
    let mut ok = connected(broker.addr(), "lvl4");
    ok.send(&raw::pingreq());
    assert_eq!(ok.read_packet(secs(5)), Some(vec![0xD0, 0x00]));
}

#[test]
fn max_retained_messages_keeps_only_the_first_two_topics() {
    let broker = Broker::start("max_retained_messages 2");
    let mut p = connected(broker.addr(), "rt-pub");
    // QoS 1 so that the PUBACK tells us each was processed.
    for (i, topic) in ["rt/1", "rt/2", "rt/3"].iter().enumerate() {
        let id = u16::try_from(i + 1).unwrap();
        p.send(&raw::publish(
            topic,
            topic.as_bytes(),
            1,
            true,
            false,
            Some(id),
        ));
        let ack = p.read_packet(secs(5)).expect("PUBACK");
        assert_eq!(raw::parse_ack(&ack), Some((4, id)));
    }
    assert_logged(&broker, "max_retained_messages 2");
    // Replacing a stored topic's message needs no new slot.
    p.send(&raw::publish("rt/1", b"rt/1 v2", 1, true, false, Some(9)));
    assert_eq!(
        raw::parse_ack(&p.read_packet(secs(5)).expect("PUBACK")),
        Some((4, 9))
    );

    // A new subscriber to # gets exactly the two stored ones, retain set
    // [MQTT-3.3.1-8].
    let mut sub = connected(broker.addr(), "rt-sub");
    assert_eq!(subscribe(&mut sub, 1, &[("#", 1)]), [1]);
    let mut got: Vec<(String, Vec<u8>, bool)> = (0..2)
        .map(|_| {
            let m = next_publish(&mut sub, secs(5));
            (m.topic, m.payload, m.retain)
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("rt/1".to_owned(), b"rt/1 v2".to_vec(), true),
            ("rt/2".to_owned(), b"rt/2".to_vec(), true)
        ]
    );
    assert_silent(
        &mut sub,
        Duration::from_millis(300),
        "a third retained message",
    );
}

/// The max_connections refusal answers an MQTT 3.1 CONNECT too.
#[test]
fn max_connections_refusal_for_mqtt_31_uses_its_version() {
    let broker = BrokerOptions::new("max_connections 1").start();
    let _a = connected(broker.addr(), "m31-a");
    let mut c = RawClient::connect(broker.addr());
    let code = c.handshake(&Connect::new("m31-b").v31().to_bytes());
    // MQTT 3.1 has the same CONNACK layout and code 3 "server unavailable".
    assert_eq!(code, Some(SERVER_UNAVAILABLE));
    assert!(c.expect_closed(secs(3)));
}

#[test]
fn memory_limit_refuses_publishes_past_it() {
    // 1 MiB: the process is always past it, so every PUBLISH is refused.
    let broker = Broker::start("memory_limit 1048576");
    let mut sub = connected(broker.addr(), "mem-sub");
    assert_eq!(subscribe(&mut sub, 1, &[("m/#", 1)]), vec![1]);
    let mut publisher = connected(broker.addr(), "mem-pub");
    // Let the first sweep measure resident memory.
    std::thread::sleep(secs(1));
    publisher.send(&raw::publish("m/0", b"qos0", 0, false, false, None));
    assert_silent(&mut sub, secs(1), "a QoS 0 PUBLISH past memory_limit");
    // 3.1.1 has no code to refuse a QoS 1 PUBLISH: the connection closes,
    // unacknowledged, and the client keeps the message.
    publisher.send(&raw::publish("m/1", b"qos1", 1, false, false, Some(7)));
    assert!(
        publisher.expect_closed(secs(3)),
        "QoS 1 PUBLISH past memory_limit closes"
    );
    assert_silent(&mut sub, secs(1), "a QoS 1 PUBLISH past memory_limit");
    assert_logged(&broker, "memory_limit 1048576");
}

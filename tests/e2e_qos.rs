//! End-to-end QoS: the PUBLISH flows at QoS 0, 1 and 2 in both directions,
//! checked byte for byte with the raw client; the downgrade of every
//! publish QoS to every subscription QoS; ordering; exactly-once across a
//! publisher's reconnect; the broker's resend (DUP, PUBREL) to a subscriber
//! that reconnects; packet-id allocation; and MQTT 3.1 through mosquitto's
//! clients.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::flow::{collect_within, expect_packet, expect_silence, quiet, raw_subscribe, wait};

use common::raw::{self, Connect, RawPublish};
use common::{scaled, Broker, MosquittoSub, MqttClient, RawClient};
use rumqttc::QoS;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Connects with `connect`, asserts CONNACK 0; returns the session-present flag.
fn raw_connect(addr: SocketAddr, connect: &Connect) -> (RawClient, bool) {
    let mut c = RawClient::connect(addr);
    c.send(&connect.to_bytes());
    let p = c.read_packet(wait()).expect("no CONNACK");
    let (present, code) =
        raw::parse_connack(&p).unwrap_or_else(|| panic!("not a CONNACK: {p:02x?}"));
    assert_eq!(code, 0, "CONNACK return code for {}", connect.client_id);
    (c, present)
}

/// The next packet, which must be a PUBLISH.
fn expect_publish(c: &mut RawClient) -> RawPublish {
    let p = c.read_packet(wait()).expect("no PUBLISH arrived");
    raw::parse_publish(&p).unwrap_or_else(|| panic!("expected a PUBLISH, got {p:02x?}"))
}

/// Publishes at `qos` and completes the publisher's side of the flow.
fn raw_publish(c: &mut RawClient, topic: &str, payload: &[u8], qos: u8, pkid: u16) {
    match qos {
        0 => c.send(&raw::publish(topic, payload, 0, false, false, None)),
        1 => {
            c.send(&raw::publish(topic, payload, 1, false, false, Some(pkid)));
            expect_packet(c, &raw::puback(pkid), "PUBACK");
        }
        _ => {
            c.send(&raw::publish(topic, payload, 2, false, false, Some(pkid)));
            expect_packet(c, &raw::pubrec(pkid), "PUBREC");
            c.send(&raw::pubrel(pkid));
            expect_packet(c, &raw::pubcomp(pkid), "PUBCOMP");
        }
    }
}

fn id(prefix: &str) -> String {
    common::unique_id(prefix)
}

#[test]
fn qos_0_1_2_flows_in_both_directions_byte_level() {
    let broker = Broker::start("");
    let (mut sub, _) = raw_connect(broker.addr(), &Connect::new(&id("sub")));
    assert_eq!(raw_subscribe(&mut sub, 1, &[("q/t", 2)]), vec![2]);
    let (mut publ, _) = raw_connect(broker.addr(), &Connect::new(&id("pub")));

    // QoS 0: no acknowledgement at all [MQTT-4.3.1]: the next packet the
    // publisher sees is the answer to its PINGREQ.
    publ.send(&raw::publish("q/t", b"zero", 0, false, false, None));
    publ.send(&raw::pingreq());
    expect_packet(
        &mut publ,
        &[0xD0, 0x00],
        "PINGRESP right after a QoS 0 PUBLISH",
    );
    let m = expect_publish(&mut sub);
    assert_eq!(
        m,
        RawPublish {
            topic: "q/t".into(),
            payload: b"zero".to_vec(),
            qos: 0,
            retain: false,
            dup: false,
            pkid: None
        }
    );

    // QoS 1: PUBACK carrying the PUBLISH's packet id [MQTT-4.3.2-2].
    publ.send(&raw::publish("q/t", b"one", 1, false, false, Some(0x0101)));
    expect_packet(&mut publ, &[0x40, 0x02, 0x01, 0x01], "PUBACK");
    let m = expect_publish(&mut sub);
    assert_eq!(
        (m.payload.as_slice(), m.qos, m.dup, m.retain),
        (&b"one"[..], 1, false, false)
    );
    let sid = m.pkid.expect("QoS 1 PUBLISH has a packet id");
    assert_ne!(sid, 0, "packet id must be non-zero [MQTT-2.3.1-1]");
    sub.send(&raw::puback(sid));

    // QoS 2 inbound: PUBREC, then PUBCOMP for our PUBREL [MQTT-4.3.3-2].
    publ.send(&raw::publish("q/t", b"two", 2, false, false, Some(0x0202)));
    expect_packet(&mut publ, &[0x50, 0x02, 0x02, 0x02], "PUBREC");
    publ.send(&raw::pubrel(0x0202));
    expect_packet(&mut publ, &[0x70, 0x02, 0x02, 0x02], "PUBCOMP");

    // QoS 2 outbound: PUBLISH, our PUBREC, the broker's PUBREL (flags
    // 0b0010 [MQTT-3.6.1-1]), our PUBCOMP [MQTT-4.3.3-1].
    let m = expect_publish(&mut sub);
    assert_eq!(
        (m.payload.as_slice(), m.qos, m.dup, m.retain),
        (&b"two"[..], 2, false, false)
    );
    let sid2 = m.pkid.expect("QoS 2 PUBLISH has a packet id");
    assert_ne!(sid2, 0, "packet id must be non-zero [MQTT-2.3.1-1]");
    sub.send(&raw::pubrec(sid2));
    let [hi, lo] = sid2.to_be_bytes();
    expect_packet(&mut sub, &[0x62, 0x02, hi, lo], "PUBREL from the broker");
    sub.send(&raw::pubcomp(sid2));

    // Exactly one copy each, nothing left owed either way.
    expect_silence(&mut sub, "subscriber after the three flows");
    expect_silence(&mut publ, "publisher after the three flows");
}

#[test]
fn qos_downgraded_to_subscription_maximum_all_nine() {
    let broker = Broker::start("");
    let mut subs = Vec::new();
    for sq in 0..=2u8 {
        let (mut c, _) = raw_connect(broker.addr(), &Connect::new(&id(&format!("sub{sq}"))));
        assert_eq!(
            raw_subscribe(&mut c, 7, &[("dg/t", sq)]),
            vec![sq],
            "granted QoS"
        );
        subs.push((sq, c));
    }
    let (mut publ, _) = raw_connect(broker.addr(), &Connect::new(&id("pub")));
    for pq in 0..=2u8 {
        raw_publish(
            &mut publ,
            "dg/t",
            format!("p{pq}").as_bytes(),
            pq,
            100 + u16::from(pq),
        );
    }
    for (sq, c) in &mut subs {
        let got = collect_within(c, 3, wait());
        for m in &got {
            let pq = m.payload[1] - b'0';
            // Delivered at the lower of publish and granted QoS [MQTT-3.8.4-6].
            assert_eq!(
                m.qos,
                pq.min(*sq),
                "publish QoS {pq} to a QoS {sq} subscription: {m:?}"
            );
            assert!(!m.retain && !m.dup, "{m:?}");
            assert_eq!(
                m.pkid.is_some(),
                m.qos > 0,
                "packet id only at QoS > 0: {m:?}"
            );
        }
        let mut payloads: Vec<_> = got.iter().map(|m| m.payload.clone()).collect();
        payloads.sort();
        assert_eq!(
            payloads,
            vec![b"p0".to_vec(), b"p1".to_vec(), b"p2".to_vec()],
            "sub QoS {sq}"
        );
        expect_silence(c, "no second copy");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_messages_in_order_at_each_qos() {
    let broker = Broker::start("");
    let mut sub = MqttClient::connect(&id("sub"), broker.port()).await;
    sub.subscribe("order/#", QoS::ExactlyOnce).await;
    let publ = MqttClient::connect(&id("pub"), broker.port()).await;
    for (n, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let topic = format!("order/q{n}");
        for i in 0..200 {
            publ.publish(&topic, qos, false, format!("{i}")).await;
        }
        // Messages from one client on one topic arrive in the order sent
        // [MQTT-4.6.0-5].
        for i in 0..200 {
            let p = sub
                .recv_publish(scaled(Duration::from_secs(5)))
                .await
                .unwrap_or_else(|| panic!("QoS {n}: message {i} of 200 did not arrive"));
            assert_eq!(p.topic, topic);
            assert_eq!(
                std::str::from_utf8(&p.payload).unwrap(),
                i.to_string(),
                "QoS {n}: order"
            );
            assert_eq!(p.qos, qos, "delivered at the publish QoS");
            assert!(!p.dup && !p.retain);
            if n > 0 {
                assert_ne!(p.pkid, 0, "packet id non-zero [MQTT-2.3.1-1]");
            }
        }
    }
    assert!(
        sub.recv_publish(quiet()).await.is_none(),
        "no extra message"
    );
}

#[test]
fn qos2_exactly_once_across_publisher_reconnect() {
    let broker = Broker::start("");
    let (mut sub, _) = raw_connect(broker.addr(), &Connect::new(&id("sub")));
    assert_eq!(raw_subscribe(&mut sub, 1, &[("x1/t", 2)]), vec![2]);

    let pid = id("pub");
    let (mut publ, present) = raw_connect(broker.addr(), &Connect::new(&pid).clean(false));
    assert!(!present, "a new session is not present");
    publ.send(&raw::publish("x1/t", b"once", 2, false, false, Some(42)));
    expect_packet(&mut publ, &raw::pubrec(42), "PUBREC");
    // Dropped before PUBREL: the broker keeps the packet id as received.
    drop(publ);

    let got = collect_within(&mut sub, 1, wait());
    assert_eq!(got[0].payload, b"once");
    assert_eq!(got[0].qos, 2);

    let (mut publ, present) = raw_connect(broker.addr(), &Connect::new(&pid).clean(false));
    assert!(
        present,
        "session present after reconnect with clean session 0 [MQTT-3.2.2-2]"
    );
    // The client resends the PUBLISH with DUP set [MQTT-4.4.0-1]: it is
    // acknowledged again but not delivered again [MQTT-4.3.3-2].
    publ.send(&raw::publish("x1/t", b"once", 2, false, true, Some(42)));
    expect_packet(&mut publ, &raw::pubrec(42), "PUBREC for the resent PUBLISH");
    publ.send(&raw::pubrel(42));
    expect_packet(&mut publ, &raw::pubcomp(42), "PUBCOMP");
    expect_silence(
        &mut sub,
        "the resent QoS 2 PUBLISH must not be delivered twice",
    );

    // Released, the id is free again: a new message with it is new.
    raw_publish(&mut publ, "x1/t", b"again", 2, 42);
    let got = collect_within(&mut sub, 1, wait());
    assert_eq!(
        got[0].payload, b"again",
        "a released packet id may be reused"
    );
    expect_silence(&mut sub, "exactly one copy of the reused id");
}

#[test]
fn broker_resends_unacknowledged_with_dup_and_pubrel_on_reconnect() {
    let broker = Broker::start("");
    let sid = id("sub");
    let (mut sub, _) = raw_connect(broker.addr(), &Connect::new(&sid).clean(false));
    assert_eq!(raw_subscribe(&mut sub, 1, &[("dup/#", 2)]), vec![2]);
    let (mut publ, _) = raw_connect(broker.addr(), &Connect::new(&id("pub")));
    raw_publish(&mut publ, "dup/a", b"m1", 1, 1);
    raw_publish(&mut publ, "dup/a", b"m2", 2, 2);

    // First delivery: DUP 0 [MQTT-3.3.1-2]; not acknowledged.
    let m1 = expect_publish(&mut sub);
    let m2 = expect_publish(&mut sub);
    assert_eq!(
        (m1.payload.as_slice(), m1.qos, m1.dup),
        (&b"m1"[..], 1, false)
    );
    assert_eq!(
        (m2.payload.as_slice(), m2.qos, m2.dup),
        (&b"m2"[..], 2, false)
    );
    let (i1, i2) = (m1.pkid.unwrap(), m2.pkid.unwrap());
    assert!(
        i1 != 0 && i2 != 0 && i1 != i2,
        "distinct non-zero ids in flight: {i1} {i2}"
    );
    drop(sub);

    // Reconnect: both resent, in order, same ids, DUP 1 [MQTT-4.4.0-1].
    let (mut sub, present) = raw_connect(broker.addr(), &Connect::new(&sid).clean(false));
    assert!(present, "session present");
    let r1 = expect_publish(&mut sub);
    let r2 = expect_publish(&mut sub);
    assert_eq!(
        r1,
        RawPublish {
            topic: "dup/a".into(),
            payload: b"m1".to_vec(),
            qos: 1,
            retain: false,
            dup: true,
            pkid: Some(i1)
        }
    );
    assert_eq!(
        r2,
        RawPublish {
            topic: "dup/a".into(),
            payload: b"m2".to_vec(),
            qos: 2,
            retain: false,
            dup: true,
            pkid: Some(i2)
        }
    );
    sub.send(&raw::puback(i1));
    sub.send(&raw::pubrec(i2));
    expect_packet(&mut sub, &raw::pubrel(i2), "PUBREL after PUBREC");
    // No PUBCOMP: the broker owes a PUBREL on the next connection.
    drop(sub);

    let (mut sub, present) = raw_connect(broker.addr(), &Connect::new(&sid).clean(false));
    assert!(present, "session present");
    // Only the PUBREL is resent: the message itself was received
    // [MQTT-4.4.0-1]; the acknowledged QoS 1 message is not resent.
    expect_packet(&mut sub, &raw::pubrel(i2), "PUBREL resent on reconnect");
    sub.send(&raw::pubcomp(i2));
    expect_silence(&mut sub, "nothing else owed after PUBCOMP");

    // The window is empty: a new message is delivered fresh (DUP 0).
    raw_publish(&mut publ, "dup/a", b"m3", 1, 3);
    let m3 = expect_publish(&mut sub);
    assert_eq!((m3.payload.as_slice(), m3.dup), (&b"m3"[..], false));
    assert_ne!(m3.pkid, Some(0));
    sub.send(&raw::puback(m3.pkid.unwrap()));

    // And after a clean disconnect and reconnect nothing is resent.
    // Wait for the close: it proves the PUBACK before DISCONNECT was read
    // (a reconnect racing ahead would take over with the PUBACK unread).
    sub.send(&raw::disconnect());
    assert!(sub.expect_closed(wait()), "closed after DISCONNECT");
    let (mut sub, present) = raw_connect(broker.addr(), &Connect::new(&sid).clean(false));
    assert!(present);
    expect_silence(&mut sub, "all acknowledged: nothing resent");
}

#[test]
fn packet_ids_not_reused_while_in_flight() {
    let broker = Broker::start("max_inflight_messages 2\n");
    let (mut sub, _) = raw_connect(broker.addr(), &Connect::new(&id("sub")));
    assert_eq!(raw_subscribe(&mut sub, 1, &[("w/t", 2)]), vec![2]);
    let (mut publ, _) = raw_connect(broker.addr(), &Connect::new(&id("pub")));
    raw_publish(&mut publ, "w/t", b"A", 2, 1);
    raw_publish(&mut publ, "w/t", b"B", 1, 2);
    raw_publish(&mut publ, "w/t", b"C", 1, 3);
    raw_publish(&mut publ, "w/t", b"D", 1, 4);

    let a = expect_publish(&mut sub);
    let b = expect_publish(&mut sub);
    assert_eq!(
        (a.payload.as_slice(), b.payload.as_slice()),
        (&b"A"[..], &b"B"[..])
    );
    let (ia, ib) = (a.pkid.unwrap(), b.pkid.unwrap());
    assert!(ia != 0 && ib != 0 && ia != ib, "ids {ia} {ib}");
    // The window (max_inflight_messages 2) is full: C waits.
    expect_silence(&mut sub, "window of 2 full");

    // A is received but not complete: its id stays taken.
    sub.send(&raw::pubrec(ia));
    expect_packet(&mut sub, &raw::pubrel(ia), "PUBREL for A");
    // An acknowledgement for an id not in flight frees nothing.
    sub.send(&raw::puback(ia.wrapping_add(1000).max(1)));
    expect_silence(&mut sub, "unknown PUBACK must not open the window");
    sub.send(&raw::puback(ib));
    let c = expect_publish(&mut sub);
    assert_eq!(c.payload, b"C");
    let ic = c.pkid.unwrap();
    assert!(
        ic != 0 && ic != ia,
        "C got id {ic} while A ({ia}) awaits PUBCOMP [MQTT-2.3.1-2]"
    );
    expect_silence(&mut sub, "window full again (A, C)");
    sub.send(&raw::pubcomp(ia));
    let d = expect_publish(&mut sub);
    assert_eq!(d.payload, b"D");
    let id_d = d.pkid.unwrap();
    assert!(
        id_d != 0 && id_d != ic,
        "D got id {id_d} while C ({ic}) is in flight"
    );
    sub.send(&raw::puback(ic));
    sub.send(&raw::puback(id_d));
    expect_silence(&mut sub, "all delivered once");
}

fn mosquitto_debug_has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

#[test]
fn mosquitto_v31_qos1_and_qos2() {
    let broker = Broker::start("");
    let addr = broker.addr();
    for (sub_q, pub_q) in [("2", "1"), ("2", "2"), ("1", "2")] {
        let topic = format!("v31/s{sub_q}p{pub_q}");
        let sub = MosquittoSub::start(addr, &["-V", "mqttv31", "-t", &topic, "-q", sub_q, "-v"]);
        let out = common::mosquitto_pub(
            addr,
            &[
                "-d", "-V", "mqttv31", "-t", &topic, "-m", "hello 31", "-q", pub_q,
            ],
        );
        let pub_out = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "mosquitto_pub failed: {pub_out} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if pub_q == "1" {
            assert!(
                pub_out.contains("received PUBACK"),
                "QoS 1 publisher got PUBACK:\n{pub_out}"
            );
        } else {
            assert!(
                pub_out.contains("received PUBREC") && pub_out.contains("received PUBCOMP"),
                "QoS 2 publisher got PUBREC and PUBCOMP:\n{pub_out}"
            );
        }
        let got = sub.wait_messages(1, scaled(Duration::from_secs(5)));
        assert_eq!(got, vec![format!("{topic} hello 31")]);
        let want_q = sub_q.min(pub_q);
        let lines = sub.all_lines();
        assert!(
            mosquitto_debug_has(&lines, &format!("received PUBLISH (d0, q{want_q}, r0,")),
            "3.1 subscriber (QoS {sub_q}) gets a QoS {pub_q} message at QoS {want_q}:\n{}",
            lines.join("\n")
        );
        if want_q == "2" {
            // mosquitto_sub logs the PUBREL it received and PUBCOMP it sent.
            let deadline = Instant::now() + wait();
            while !mosquitto_debug_has(&sub.all_lines(), "received PUBREL")
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(
                mosquitto_debug_has(&sub.all_lines(), "received PUBREL"),
                "3.1 subscriber got PUBREL"
            );
        }
        std::thread::sleep(quiet());
        assert_eq!(sub.messages().len(), 1, "exactly once");
        sub.stop();
    }
}

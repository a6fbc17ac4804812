//! Raw-client steps the protocol tests share: bounded waits, SUBSCRIBE with
//! its SUBACK checked, "nothing arrives", "still alive", and collecting
//! PUBLISHes while completing each one's QoS 1/2 flow as a subscriber would.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::raw::{self, RawPublish};
use super::{scaled, RawClient, ReadEvent};

/// How long to wait for something that should arrive.
pub fn wait() -> Duration {
    scaled(Duration::from_secs(5))
}

/// How long to watch for something that should not arrive.
pub fn quiet() -> Duration {
    scaled(Duration::from_millis(400))
}

/// SUBSCRIBE; returns the SUBACK's codes after checking its packet id
/// [MQTT-3.8.4-2].
pub fn raw_subscribe(c: &mut RawClient, pkid: u16, filters: &[(&str, u8)]) -> Vec<u8> {
    c.send(&raw::subscribe(pkid, filters));
    let p = c.read_packet(wait()).expect("no SUBACK");
    let (id, codes) = raw::parse_suback(&p).unwrap_or_else(|| panic!("not a SUBACK: {p:02x?}"));
    assert_eq!(
        id, pkid,
        "SUBACK carries the SUBSCRIBE's packet id [MQTT-3.8.4-2]"
    );
    codes
}

pub fn expect_packet(c: &mut RawClient, expected: &[u8], what: &str) {
    let p = c
        .read_packet(wait())
        .unwrap_or_else(|| panic!("{what}: nothing arrived"));
    assert_eq!(p, expected, "{what}");
}

pub fn expect_silence(c: &mut RawClient, what: &str) {
    match c.read_event(quiet()) {
        ReadEvent::Timeout => {}
        other => panic!("{what}: expected nothing, got {other:?}"),
    }
}

/// PINGREQ answered by PINGRESP: the connection is open and served.
pub fn expect_alive(c: &mut RawClient, what: &str) {
    c.send(&raw::pingreq());
    expect_packet(c, &[0xD0, 0x00], what);
}

/// Reads until `n` PUBLISHes arrived, acknowledging each (PUBACK, or
/// PUBREC and PUBCOMP for the PUBREL), within `timeout`.
pub fn collect_within(c: &mut RawClient, n: usize, timeout: Duration) -> Vec<RawPublish> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut pending_rel: HashSet<u16> = HashSet::new();
    while got.len() < n || !pending_rel.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(p) = c.read_packet(left) else {
            panic!(
                "collect: {} of {n} PUBLISHes, PUBREL pending for {pending_rel:?}; got {got:?}",
                got.len()
            );
        };
        if let Some(m) = raw::parse_publish(&p) {
            match (m.qos, m.pkid) {
                (1, Some(id)) => c.send(&raw::puback(id)),
                (2, Some(id)) => {
                    c.send(&raw::pubrec(id));
                    pending_rel.insert(id);
                }
                _ => {}
            }
            got.push(m);
        } else if raw::packet_type(&p) == 6 {
            let (_, id) = raw::parse_ack(&p).expect("a PUBREL with a packet id");
            pending_rel.remove(&id);
            c.send(&raw::pubcomp(id));
        } else {
            panic!("collect: unexpected packet {p:02x?}");
        }
    }
    got
}

/// [`collect_within`] the usual wait.
pub fn collect(c: &mut RawClient, n: usize) -> Vec<RawPublish> {
    collect_within(c, n, wait())
}

/// Publishes and completes the publisher's side of the flow: PUBACK for
/// QoS 1, PUBREC / PUBREL / PUBCOMP for QoS 2, and for QoS 0 a PINGRESP, so
/// the broker has routed the message when this returns.
pub fn publish(c: &mut RawClient, topic: &str, payload: &[u8], qos: u8, retain: bool, pkid: u16) {
    match qos {
        0 => {
            c.send(&raw::publish(topic, payload, 0, retain, false, None));
            expect_alive(c, "PINGRESP after a QoS 0 PUBLISH");
        }
        1 => {
            c.send(&raw::publish(topic, payload, 1, retain, false, Some(pkid)));
            expect_packet(c, &raw::puback(pkid), "PUBACK");
        }
        _ => {
            c.send(&raw::publish(topic, payload, 2, retain, false, Some(pkid)));
            expect_packet(c, &raw::pubrec(pkid), "PUBREC");
            c.send(&raw::pubrel(pkid));
            expect_packet(c, &raw::pubcomp(pkid), "PUBCOMP");
        }
    }
}

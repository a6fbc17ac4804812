//! MQTT 5, the connection half, on the simulated clock: session expiry,
//! will delay, server DISCONNECTs (docs/mqtt5.md).

use super::*;
use crate::codec::{Disconnect, Property, ReasonCode};

fn connect5(client_id: &str, clean: bool, properties: Vec<Property>, will: Option<Will>) -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol: ProtocolVersion::V5,
        bridge: false,
        clean_start: clean,
        keep_alive: 0,
        client_id: client_id.to_string(),
        will,
        username: None,
        password: None,
        properties: Properties(properties),
    }))
}

fn will(topic: &str, delay: u32) -> Will {
    Will {
        topic: topic.to_string(),
        payload: b"gone".to_vec(),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties(vec![Property::WillDelayInterval(delay)]),
    }
}

impl Harness {
    fn connect5(&mut self, packet: Packet) -> (ConnId, bool) {
        let conn = self.open();
        self.send(conn, packet);
        match self.received(conn).as_slice() {
            [Packet::ConnAck(ack)] if ack.code == 0 => (conn, ack.session_present),
            other => panic!("expected CONNACK 0, got {other:?}"),
        }
    }

    fn drop_socket(&mut self, conn: ConnId) {
        self.broker.handle_closed(self.now, conn);
    }
}

fn expiry(secs: u32) -> Vec<Property> {
    vec![Property::SessionExpiryInterval(secs)]
}

#[test]
fn a_session_lives_its_expiry_and_its_delayed_will_goes_when_it_ends() {
    let mut h = Harness::new(Settings::default());
    let watcher = h.connect("watcher", true);
    h.subscribe(watcher, "will/#", QoS::AtMostOnce);
    // Will Delay 60 s, Session Expiry 3 s: the session ends first.
    let (c, _) = h.connect5(connect5("dev", true, expiry(3), Some(will("will/dev", 60))));
    h.drop_socket(c);
    h.advance(Duration::from_millis(2500));
    assert!(publishes(&h.received(watcher)).is_empty());
    h.advance(Duration::from_millis(750));
    let got = publishes(&h.received(watcher));
    assert_eq!(got.len(), 1, "the will at the session's end");
    assert_eq!(h.broker.stats().sessions_expired, 1);
    let (_c, present) = h.connect5(connect5("dev", false, expiry(3), None));
    assert!(!present);
}

#[test]
fn a_will_waits_its_delay_while_the_session_lives() {
    let mut h = Harness::new(Settings::default());
    let watcher = h.connect("watcher", true);
    h.subscribe(watcher, "will/#", QoS::AtMostOnce);
    let (c, _) = h.connect5(connect5(
        "dev",
        true,
        expiry(600),
        Some(will("will/dev", 5)),
    ));
    h.drop_socket(c);
    h.advance(Duration::from_millis(4750));
    assert!(publishes(&h.received(watcher)).is_empty());
    h.advance(Duration::from_millis(500));
    assert_eq!(publishes(&h.received(watcher)).len(), 1);
    // The session is still there, the will gone with its delay.
    let (_c, present) = h.connect5(connect5("dev", false, expiry(600), None));
    assert!(present);
    h.advance(Duration::from_secs(10));
    assert!(publishes(&h.received(watcher)).is_empty());
}

#[test]
fn a_5_0_client_taken_over_is_told_0x8e_and_a_3_1_1_one_nothing() {
    let mut h = Harness::new(Settings::default());
    let (old, _) = h.connect5(connect5("five", true, vec![], None));
    h.connect5(connect5("five", true, vec![], None));
    match h.received(old).as_slice() {
        [Packet::Disconnect(Disconnect { reason, .. })] => {
            assert_eq!(*reason, ReasonCode::SESSION_TAKEN_OVER)
        }
        other => panic!("{other:?}"),
    }
    let old = h.connect("three", true);
    h.connect("three", true);
    assert!(h.received(old).is_empty());
    assert_eq!(h.broker.closing(old), Some(CloseReason::TakenOver));
}

#[test]
fn session_expiry_cannot_rise_from_0_at_disconnect() {
    let mut h = Harness::new(Settings::default());
    let (c, _) = h.connect5(connect5("zero", true, vec![], None));
    let disconnect = Disconnect {
        reason: ReasonCode::SUCCESS,
        properties: Properties(expiry(60)),
    };
    h.send(c, Packet::Disconnect(disconnect));
    assert_eq!(h.broker.closing(c), Some(CloseReason::ProtocolError));
    match h.received(c).as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, ReasonCode::PROTOCOL_ERROR),
        other => panic!("{other:?}"),
    }
}

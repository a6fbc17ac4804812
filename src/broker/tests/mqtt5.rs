//! MQTT 5, the connection half, on the simulated clock: session expiry,
//! will delay, server DISCONNECTs (docs/mqtt5.md).

use super::*;
use crate::codec::{Disconnect, Property, ReasonCode};

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
    let (c, _) = h.connect5(connect5_packet(
        "dev",
        true,
        expiry(3),
        Some(will("will/dev", 60)),
    ));
    h.drop_socket(c);
    h.advance(Duration::from_millis(2500));
    assert!(publishes(&h.received(watcher)).is_empty());
    h.advance(Duration::from_millis(750));
    let got = publishes(&h.received(watcher));
    assert_eq!(got.len(), 1, "the will at the session's end");
    assert_eq!(h.broker.stats().sessions_expired, 1);
    let (_c, present) = h.connect5(connect5_packet("dev", false, expiry(3), None));
    assert!(!present);
}

#[test]
fn a_will_waits_its_delay_while_the_session_lives() {
    let mut h = Harness::new(Settings::default());
    let watcher = h.connect("watcher", true);
    h.subscribe(watcher, "will/#", QoS::AtMostOnce);
    let (c, _) = h.connect5(connect5_packet(
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
    let (_c, present) = h.connect5(connect5_packet("dev", false, expiry(600), None));
    assert!(present);
    h.advance(Duration::from_secs(10));
    assert!(publishes(&h.received(watcher)).is_empty());
}

#[test]
fn a_5_0_client_taken_over_is_told_0x8e_and_a_3_1_1_one_nothing() {
    let mut h = Harness::new(Settings::default());
    let (old, _) = h.connect5(connect5_packet("five", true, vec![], None));
    h.connect5(connect5_packet("five", true, vec![], None));
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

/// A connection with Session Expiry 0 ends its session when it closes, a
/// takeover included: Clean Start 0 then finds nothing to resume (as in
/// mosquitto). One with an interval keeps it across the takeover.
#[test]
fn a_takeover_resumes_only_a_session_that_outlives_its_connection() {
    let mut h = Harness::new(Settings::default());
    h.connect5(connect5_packet("brief", true, vec![], None));
    let (_, present) = h.connect5(connect5_packet("brief", false, expiry(60), None));
    assert!(!present, "expiry 0: the takeover ended the session");
    let (_, present) = h.connect5(connect5_packet("brief", false, vec![], None));
    assert!(present, "expiry 60: the takeover resumed it");
}

#[test]
fn session_expiry_cannot_rise_from_0_at_disconnect() {
    let mut h = Harness::new(Settings::default());
    let (c, _) = h.connect5(connect5_packet("zero", true, vec![], None));
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

/// `edgemq-token` on the simulated clock: the token's expiry is a deadline
/// the sweep keeps, a renewal moves it (docs/mqtt5.md).
#[test]
fn an_edgemq_token_expires_at_its_deadline_unless_renewed() {
    use crate::auth::{self, token, Credentials};
    use crate::broker::SecurityDomain;
    use crate::codec::Auth;

    let secret = auth::Secret::from_file_text(b"0123456789abcdef0123456789abcdef").unwrap();
    let mut h = Harness::new(Settings::default());
    let domain = SecurityDomain {
        allow_anonymous: true,
        credentials: Credentials {
            token_secret: Some(secret.clone()),
            ..Credentials::default()
        },
        acl: None,
    };
    h.broker
        .install_security(h.now, crate::broker::Security::global(domain));
    let wall = 1_800_000_000;
    h.broker.handle_wall_clock(Some(wall));
    let method = || Property::AuthenticationMethod("edgemq-token".into());
    let data = |id: &str, expiry: u64| {
        Property::AuthenticationData(token::make(&secret, id, "", expiry).into_bytes())
    };
    let (renewed, _) = h.connect5(connect5_packet(
        "renewed",
        true,
        vec![method(), data("renewed", wall + 10)],
        None,
    ));
    let (lapsed, _) = h.connect5(connect5_packet(
        "lapsed",
        true,
        vec![method(), data("lapsed", wall + 10)],
        None,
    ));
    h.advance(Duration::from_secs(5));
    h.broker.handle_wall_clock(Some(wall + 5));
    let renewal = Auth {
        reason: ReasonCode::RE_AUTHENTICATE,
        properties: Properties(vec![method(), data("renewed", wall + 3600)]),
    };
    h.send(renewed, Packet::Auth(renewal));
    match h.received(renewed).as_slice() {
        [Packet::Auth(a)] => assert_eq!(a.reason, ReasonCode::SUCCESS),
        other => panic!("{other:?}"),
    }
    h.advance(Duration::from_millis(4750));
    assert_eq!(h.broker.closing(lapsed), None);
    h.advance(Duration::from_millis(500));
    assert_eq!(h.broker.closing(lapsed), Some(CloseReason::NotAuthorized));
    match h.received(lapsed).as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, ReasonCode::NOT_AUTHORIZED),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.broker.closing(renewed), None);
    assert_eq!(h.broker.stats().token_expiry_disconnects, 1);
}

/// At shutdown a waiting will stays in its stored session's record (the
/// next start publishes it at its time); without a store it goes now.
#[test]
fn at_shutdown_a_waiting_will_goes_only_if_no_record_keeps_it() {
    for persistence in [true, false] {
        let mut h = Harness::new(Settings {
            persistence,
            ..Settings::default()
        });
        let (c, _) = h.connect5(connect5_packet(
            "dev",
            true,
            expiry(600),
            Some(will("will/dev", 60)),
        ));
        h.drop_socket(c);
        h.broker.handle_shutdown(h.now);
        let published = h.broker.stats().wills_published;
        assert_eq!(
            published,
            u64::from(!persistence),
            "persistence {persistence}"
        );
    }
}

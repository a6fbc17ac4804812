//! Rate limits on the simulated clock: connections per listener, PUBLISH
//! packets and bytes per client (docs/design.md ## Limits).

use super::*;
use crate::broker::PublishLimits;
use crate::codec::{Disconnect, Property, ReasonCode};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn limits(messages: u32, bytes: u32, disconnect_after: Duration) -> Settings {
    Settings {
        publish_limits: PublishLimits::new(messages, bytes, disconnect_after),
        ..Settings::default()
    }
}

fn v5_connect(client_id: &str, keep_alive: u16) -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol: ProtocolVersion::V5,
        bridge: false,
        clean_start: true,
        keep_alive,
        client_id: client_id.to_string(),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    }))
}

impl Harness {
    /// A connected client with the given CONNECT; its CONNACK is taken.
    fn connect_with(&mut self, connect: Packet) -> ConnId {
        let conn = self.open();
        self.send(conn, connect);
        assert!(matches!(
            self.received(conn).as_slice(),
            [Packet::ConnAck(_)]
        ));
        conn
    }

    /// Publishes on `t` whenever `conn` may be read, moving the clock to
    /// each resume time while it may not, until `until` or until the
    /// broker closes it. How many it published.
    fn publish_flat_out(&mut self, conn: ConnId, payload: &[u8], until: Instant) -> usize {
        let mut sent = 0;
        while self.now < until && self.broker.closing(conn).is_none() && sent < 100_000 {
            if self.broker.may_read(self.now, conn) {
                self.send(conn, publish_packet("t", payload, QoS::AtMostOnce, 0));
                sent += 1;
                continue;
            }
            let Some(at) = self.broker.read_resumes_at(conn) else {
                panic!("paused with no time to resume");
            };
            assert!(at > self.now, "a resume time in the past would spin");
            let step = at.min(until) - self.now;
            self.advance(step);
        }
        sent
    }
}

#[test]
fn a_listener_over_its_connection_rate_closes_new_sockets() {
    let mut settings = Settings::default();
    settings.listeners[0].max_connection_rate = 2;
    let mut h = Harness::new(settings);
    let listener = ListenerId::new(0).unwrap();
    let admitted = |h: &mut Harness| h.broker.admit_connection(h.now, listener, peer().into());
    assert!(admitted(&mut h) && admitted(&mut h));
    assert!(!admitted(&mut h));
    assert!(!admitted(&mut h));
    assert_eq!(h.broker.stats().connections_rate_limited, 2);
    h.now += ms(500);
    assert!(admitted(&mut h));
    assert!(!admitted(&mut h));
    assert!(h.broker.listener_report()[0].ends_with("3 closed over max_connection_rate 2/s"));
}

#[test]
fn over_max_publish_rate_reading_pauses_until_the_bucket_refills() {
    let mut h = Harness::new(limits(10, 0, Duration::ZERO));
    let sub = h.connect("sub", true);
    h.subscribe(sub, "t", QoS::AtMostOnce);
    let publisher = h.connect("pub", true);
    let other = h.connect("other", true);
    for i in 0..10u8 {
        assert!(h.broker.read_allowed(publisher), "burst of 10, at {i}");
        h.send(publisher, publish_packet("t", &[i], QoS::AtMostOnce, 0));
    }
    // The tenth emptied the bucket: not read until one token is back.
    assert!(!h.broker.read_allowed(publisher));
    assert_eq!(h.broker.read_resumes_at(publisher), Some(h.now + ms(100)));
    assert!(!h.broker.may_read(h.now + ms(99), publisher));
    // Nobody else is paused, and nothing was dropped.
    assert!(h.broker.may_read(h.now, other));
    let got = publishes(&h.received(sub));
    assert_eq!(got.len(), 10);
    assert!(got.iter().enumerate().all(|(i, p)| p.1 == [i as u8]));
    assert!(h.broker.may_read(h.now + ms(100), publisher));
    assert_eq!(h.broker.read_resumes_at(publisher), None);
    let s = h.broker.stats();
    assert_eq!((s.publish_rate_pauses, s.publish_rate_paused_ms), (1, 100));
}

#[test]
fn flat_out_a_client_gets_its_rate_and_one_pause_counted() {
    let mut h = Harness::new(limits(50, 0, Duration::ZERO));
    let publisher = h.connect("pub", true);
    let t0 = h.now;
    let sent = h.publish_flat_out(publisher, b"x", t0 + Duration::from_secs(3));
    // The burst of 50, then 50 a second for three seconds.
    assert!((199..=201).contains(&sent), "{sent}");
    let s = h.broker.stats();
    assert_eq!(s.publish_rate_pauses, 1, "one episode, however many pauses");
    assert!((2900..=3000).contains(&s.publish_rate_paused_ms), "{s:?}");
    assert_eq!(s.publish_rate_disconnects, 0);
}

#[test]
fn the_bytes_rate_charges_topic_and_payload_and_waits_out_a_debt() {
    let mut h = Harness::new(limits(0, 1000, Duration::ZERO));
    let publisher = h.connect("pub", true);
    // Topic part 3 bytes ("t" and its length), payload 1,997: 2,000 bytes,
    // a debt of 1,000 to pay back, then one byte's worth (1 ms).
    h.send(
        publisher,
        publish_packet("t", &[0; 1997], QoS::AtMostOnce, 0),
    );
    assert_eq!(h.broker.read_resumes_at(publisher), Some(h.now + ms(1001)));
    assert!(!h.broker.may_read(h.now + ms(1000), publisher));
    assert!(h.broker.may_read(h.now + ms(1001), publisher));
}

#[test]
fn a_paused_client_is_not_timed_out_for_our_silence() {
    // 10 bytes a second and 100 bytes read: paused for 9.1 s, six times
    // the 1.5 s a keepalive of 1 allows.
    let mut h = Harness::new(limits(0, 10, Duration::ZERO));
    let publisher = h.connect_with(connect_packet("pub", true, 1, None));
    h.send(publisher, publish_packet("t", &[0; 97], QoS::AtMostOnce, 0));
    for _ in 0..32 {
        h.advance(ms(250));
        assert_eq!(h.broker.closing(publisher), None);
    }
    assert!(!h.broker.may_read(h.now + ms(1099), publisher));
    assert!(h.broker.may_read(h.now + ms(1100), publisher));
    // Once read again, its silence counts.
    h.now += ms(1100);
    h.advance(ms(1600));
    assert_eq!(
        h.broker.closing(publisher),
        Some(CloseReason::KeepAliveTimeout)
    );
}

#[test]
fn an_mqtt5_client_over_its_rate_too_long_gets_disconnect_0x96() {
    let mut h = Harness::new(limits(10, 0, Duration::from_secs(1)));
    let v5 = h.connect_with(v5_connect("five", 0));
    let t0 = h.now;
    h.publish_flat_out(v5, b"x", t0 + Duration::from_secs(5));
    assert_eq!(h.broker.closing(v5), Some(CloseReason::RateLimited));
    // Over the rate from its 10th message (t0), out one second later.
    assert!(h.now >= t0 + Duration::from_secs(1), "{:?}", h.now - t0);
    assert!(h.now <= t0 + ms(1100), "{:?}", h.now - t0);
    // With a reason string: the client did not ask for none.
    let disconnect = Disconnect {
        reason: ReasonCode::MESSAGE_RATE_TOO_HIGH,
        properties: Properties(vec![Property::ReasonString("message rate too high".into())]),
    };
    assert_eq!(h.received(v5), [Packet::Disconnect(disconnect)]);
    assert_eq!(h.broker.stats().publish_rate_disconnects, 1);
}

#[test]
fn a_single_packet_debt_past_the_limit_disconnects_from_the_sweep() {
    // One PUBLISH worth 5 s of its bytes rate; out after 1 s of it.
    let mut h = Harness::new(limits(0, 100, Duration::from_secs(1)));
    let v5 = h.connect_with(v5_connect("five", 0));
    h.send(v5, publish_packet("t", &[0; 597], QoS::AtMostOnce, 0));
    h.advance(ms(750));
    assert_eq!(h.broker.closing(v5), None);
    h.advance(ms(250));
    assert_eq!(h.broker.closing(v5), Some(CloseReason::RateLimited));
}

#[test]
fn a_3_1_1_client_stays_paused_instead() {
    let mut h = Harness::new(limits(10, 0, Duration::from_secs(1)));
    let old = h.connect("old", true);
    let t0 = h.now;
    let sent = h.publish_flat_out(old, b"x", t0 + Duration::from_secs(3));
    assert_eq!(h.broker.closing(old), None);
    assert!((39..=41).contains(&sent), "{sent}");
    assert_eq!(h.broker.stats().publish_rate_disconnects, 0);
}

#[test]
fn an_episode_ends_once_the_buckets_fill_again() {
    let mut h = Harness::new(limits(10, 0, Duration::from_secs(2)));
    let v5 = h.connect_with(v5_connect("five", 0));
    let t0 = h.now;
    h.publish_flat_out(v5, b"x", t0 + ms(1500));
    // Quiet for a second: the bucket is full again, the client under its
    // rate; the next burst starts a new episode and a new count.
    h.advance(Duration::from_secs(1));
    let t1 = h.now;
    h.publish_flat_out(v5, b"x", t1 + ms(1500));
    assert_eq!(h.broker.closing(v5), None);
    assert_eq!(h.broker.stats().publish_rate_pauses, 2);
}

#[test]
fn without_limits_nothing_is_charged() {
    let mut h = Harness::new(Settings::default());
    let publisher = h.connect("pub", true);
    for _ in 0..1000 {
        h.send(publisher, publish_packet("t", b"x", QoS::AtMostOnce, 0));
    }
    assert!(h.broker.may_read(h.now, publisher));
    assert_eq!(h.broker.read_resumes_at(publisher), None);
}

//! Transport handshakes as the broker sees them: the stage a connection is
//! in until its CONNECT, a `connect_timeout` counted by that stage, and
//! refusals counted.

use super::*;
use crate::broker::ListenerSettings;

/// Listener 0 `wss://`, 1 `ws://`, 2 TLS, 3 plain TCP.
fn settings() -> Settings {
    let listener = |tls, websocket| ListenerSettings {
        label: "127.0.0.1:0".to_owned(),
        unix: false,
        max_connections: None,
        max_connection_rate: 0,
        tls,
        websocket,
    };
    Settings {
        listeners: vec![
            listener(true, true),
            listener(false, true),
            listener(true, false),
            listener(false, false),
        ],
        ..Settings::default()
    }
}

fn open_on(h: &mut Harness, index: usize) -> ConnId {
    let listener = ListenerId::new(index).unwrap();
    h.broker
        .handle_open(h.now, listener, peer().into())
        .unwrap()
}

#[test]
fn a_connect_timeout_is_counted_by_the_handshake_it_strikes() {
    let mut h = Harness::new(settings());
    // wss: stalled in TLS; wss: TLS done, stalled in the upgrade; ws:
    // stalled in the upgrade; TLS: stalled; plain: silent.
    let wss_tls = open_on(&mut h, 0);
    let wss_upgrade = open_on(&mut h, 0);
    h.broker.handle_tls_established(wss_upgrade);
    let ws = open_on(&mut h, 1);
    let tls = open_on(&mut h, 2);
    let plain = open_on(&mut h, 3);
    // Handshakes done, CONNECT still missing: a plain connect timeout.
    let wss_done = open_on(&mut h, 0);
    h.broker.handle_tls_established(wss_done);
    h.broker.handle_websocket_upgraded(wss_done);
    // Out of order news changes nothing: the upgrade is not TLS.
    let tls_early = open_on(&mut h, 2);
    h.broker.handle_websocket_upgraded(tls_early);
    h.advance(Duration::from_secs(11));
    for conn in [wss_tls, wss_upgrade, ws, tls, plain, wss_done, tls_early] {
        assert_eq!(h.broker.closing(conn), Some(CloseReason::ConnectTimeout));
    }
    let stats = h.broker.stats();
    assert_eq!(stats.connect_timeouts, 7);
    assert_eq!(stats.tls_handshake_timeouts, 3);
    assert_eq!(stats.websocket_upgrade_timeouts, 2);
}

#[test]
fn a_finished_handshake_then_connect_is_a_client() {
    let mut h = Harness::new(settings());
    let conn = open_on(&mut h, 0);
    h.broker.handle_tls_established(conn);
    h.broker.handle_websocket_upgraded(conn);
    h.send(conn, connect_packet("wss", true, 0, None));
    assert!(matches!(h.received(conn).as_slice(), [Packet::ConnAck(ack)] if ack.code == 0));
    h.advance(Duration::from_secs(11));
    assert_eq!(h.broker.closing(conn), None);
    assert_eq!(h.broker.stats().connect_timeouts, 0);
}

#[test]
fn refusals_are_counted() {
    let mut h = Harness::new(settings());
    let conn = open_on(&mut h, 1);
    h.broker
        .handle_websocket_refused(h.now, conn, 404, "no WebSocket endpoint at this path");
    let other = open_on(&mut h, 1);
    h.broker.handle_websocket_upgraded(other);
    h.broker
        .handle_websocket_frame_error(h.now, other, 1002, "an unmasked client frame");
    let tls = open_on(&mut h, 2);
    h.broker
        .handle_handshake_failure(h.now, tls, "no certificate");
    let stats = h.broker.stats();
    assert_eq!(stats.websocket_upgrades_refused, 1);
    assert_eq!(stats.websocket_frame_errors, 1);
    assert_eq!(stats.tls_handshake_failures, 1);
    let named = stats.named();
    for name in [
        "websocket_upgrades_refused",
        "websocket_frame_errors",
        "tls_handshake_timeouts",
        "websocket_upgrade_timeouts",
    ] {
        assert!(named.iter().any(|(n, _)| *n == name), "{name}");
    }
}

/// A burst of TLS clients with certificate names leaves no table behind
/// once they have connected or gone.
#[test]
fn certificate_names_are_not_kept_past_their_connections() {
    let mut h = Harness::new(settings());
    let conns: Vec<ConnId> = (0..100).map(|_| open_on(&mut h, 2)).collect();
    for (i, &conn) in conns.iter().enumerate() {
        h.broker.handle_tls_established(conn);
        h.broker
            .handle_certificate_username(conn, Some(format!("device-{i}").into()));
    }
    assert!(h.broker.certificate_usernames.capacity() >= 100);
    for &conn in &conns[..50] {
        h.send(conn, connect_packet("named", true, 0, None));
    }
    for &conn in &conns {
        h.broker.handle_closed(h.now, conn);
    }
    assert_eq!(h.broker.certificate_usernames.capacity(), 0);
    assert_eq!(h.broker.connection_count(), 0);
}

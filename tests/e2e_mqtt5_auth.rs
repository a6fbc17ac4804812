//! MQTT 5 enhanced authentication with `edgemq-token` (docs/mqtt5.md,
//! "Enhanced authentication"): the token in CONNECT or asked for with AUTH
//! 0x18, renewed with AUTH 0x19 without reconnecting, DISCONNECT 0x87 at
//! the expiry of one not renewed, CONNACK 0x8C for a method no one
//! configured. Raw 5.0 packets (`common/mqtt5_raw.rs`); the tokens are made
//! by `edgemq token`, as a provisioning service would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::mqtt5_raw::{
    auth5, id, parse_auth5, parse_connack5, parse_disconnect5, Connect5, Parsed, Props,
};
use common::raw::{self, ReadEvent};
use common::{edgemq_command, run_with_timeout, scaled, Broker, RawClient};
use std::path::Path;
use std::time::{Duration, Instant};

const METHOD: &str = "edgemq-token";

fn secs(n: u64) -> Duration {
    scaled(Duration::from_secs(n))
}

/// A broker taking signed tokens, and its secret file's path.
fn broker() -> (Broker, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("token.key");
    std::fs::write(&secret, "3f9a1c7e5b2d8046a1e9c3b7d5f2084e6c1a9b3d\n").unwrap();
    let b = Broker::start(&format!(
        "auth_token_secret_file {}\nauth_fail_limit 0\n",
        secret.display()
    ));
    (b, dir)
}

/// `edgemq token` for this client and user, valid for `ttl`.
fn token(dir: &Path, client: &str, user: &str, ttl: &str) -> Vec<u8> {
    let mut cmd = edgemq_command();
    cmd.args(["token", "-s"]).arg(dir.join("token.key")).args([
        "--clientid",
        client,
        "--username",
        user,
        "--ttl",
        ttl,
    ]);
    let out = run_with_timeout(cmd, secs(10));
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .as_bytes()
        .to_vec()
}

fn with_method(data: Option<&[u8]>) -> Props {
    let props = Props::new().str(id::AUTH_METHOD, METHOD);
    match data {
        Some(data) => props.bin(id::AUTH_DATA, data),
        None => props,
    }
}

/// Sends `c`; the first packet back.
fn first_answer(b: &Broker, c: &Connect5) -> (RawClient, Vec<u8>) {
    let mut client = RawClient::connect(b.addr());
    client.send(&c.to_bytes());
    let p = client
        .read_packet(secs(5))
        .unwrap_or_else(|| panic!("no answer:\n{}", b.log()));
    (client, p)
}

fn connack(p: &[u8]) -> (u8, Parsed) {
    let (_, code, props) = parse_connack5(p).unwrap_or_else(|| panic!("{p:?}"));
    (code, props)
}

/// Reads until the server's DISCONNECT; its reason code, and how long it
/// took.
fn disconnect_code(c: &mut RawClient, within: Duration) -> (u8, Duration) {
    let start = Instant::now();
    loop {
        let left = within.saturating_sub(start.elapsed());
        match c.read_event(left) {
            ReadEvent::Packet(p) if raw::packet_type(&p) == 14 => {
                let code = parse_disconnect5(&p).expect("DISCONNECT").0;
                assert!(c.expect_closed(secs(5)));
                return (code, start.elapsed());
            }
            ReadEvent::Packet(_) if !left.is_zero() => continue,
            other => panic!("no DISCONNECT: {other:?}"),
        }
    }
}

fn still_served(c: &mut RawClient) {
    c.send(&raw::pingreq());
    assert_eq!(c.read_packet(secs(5)), Some(vec![0xD0, 0]));
}

#[test]
fn a_token_renewed_by_auth_keeps_the_connection_and_one_left_to_expire_ends_it() {
    let (b, dir) = broker();
    let short = token(dir.path(), "renews", "alice", "2s");
    let c = Connect5::new("renews")
        .username("alice")
        .props(with_method(Some(&short)));
    let (mut renews, p) = first_answer(&b, &c);
    let (code, props) = connack(&p);
    assert_eq!(code, 0, "{}", b.log());
    // A successful CONNACK names the method (MQTT 5 §4.12).
    assert_eq!(props.str(id::AUTH_METHOD), Some(METHOD));

    let lapses = token(dir.path(), "lapses", "bob", "2s");
    let c = Connect5::new("lapses")
        .username("bob")
        .props(with_method(Some(&lapses)));
    let (mut lapsing, p) = first_answer(&b, &c);
    assert_eq!(connack(&p).0, 0);

    // Renewed with AUTH 0x19, answered AUTH 0x00 with the method.
    let fresh = token(dir.path(), "renews", "alice", "1h");
    renews.send(&auth5(0x19, with_method(Some(&fresh))));
    let p = renews.read_packet(secs(5)).expect("AUTH");
    let (reason, props) = parse_auth5(&p).unwrap_or_else(|| panic!("{p:?}"));
    assert_eq!((reason, props.str(id::AUTH_METHOD)), (0, Some(METHOD)));

    // The other is told 0x87 at its expiry, not before.
    let (code, after) = disconnect_code(&mut lapsing, secs(6));
    assert_eq!(code, 0x87);
    assert!(after >= Duration::from_millis(500), "{after:?}");
    still_served(&mut renews);
    let report = b.report(secs(5));
    assert_eq!(report["reauthentications"], 1);
    assert_eq!(report["token_expiry_disconnects"], 1);
    assert!(b.log().contains("expired and was not renewed"));
}

#[test]
fn a_connect_without_the_token_is_asked_for_it_with_auth_0x18() {
    let (b, dir) = broker();
    let c = Connect5::new("asked")
        .username("carol")
        .props(with_method(None));
    let (mut client, p) = first_answer(&b, &c);
    let (reason, props) = parse_auth5(&p).unwrap_or_else(|| panic!("{p:?}"));
    assert_eq!((reason, props.str(id::AUTH_METHOD)), (0x18, Some(METHOD)));
    let data = token(dir.path(), "asked", "carol", "1h");
    client.send(&auth5(0x18, with_method(Some(&data))));
    let p = client.read_packet(secs(5)).expect("CONNACK");
    let (code, props) = connack(&p);
    assert_eq!((code, props.str(id::AUTH_METHOD)), (0, Some(METHOD)));
    still_served(&mut client);
}

#[test]
fn bad_methods_tokens_and_renewals_are_refused() {
    let (b, dir) = broker();
    // A method no one configured: 0x8C (MQTT 5 §4.12).
    let scram = Props::new().str(id::AUTH_METHOD, "SCRAM-SHA-1");
    let (_c, p) = first_answer(&b, &Connect5::new("scram").props(scram));
    assert_eq!(connack(&p).0, 0x8C);
    // A token made for another client: 0x87.
    let other = token(dir.path(), "someone", "dave", "1h");
    let c = Connect5::new("forger")
        .username("dave")
        .props(with_method(Some(&other)));
    let (_c, p) = first_answer(&b, &c);
    assert_eq!(connack(&p).0, 0x87);
    // A renewal with a bad token: DISCONNECT 0x87 (MQTT 5 §4.12.1).
    let good = token(dir.path(), "erin", "erin", "1h");
    let c = Connect5::new("erin")
        .username("erin")
        .props(with_method(Some(&good)));
    let (mut erin, p) = first_answer(&b, &c);
    assert_eq!(connack(&p).0, 0);
    erin.send(&auth5(0x19, with_method(Some(b"v1:1:00"))));
    assert_eq!(disconnect_code(&mut erin, secs(5)).0, 0x87);
    // AUTH 0x18 after CONNACK is no exchange we started: 0x82.
    let c = Connect5::new("fred")
        .username("fred")
        .props(with_method(Some(&token(dir.path(), "fred", "fred", "1h"))));
    let (mut fred, p) = first_answer(&b, &c);
    assert_eq!(connack(&p).0, 0);
    fred.send(&auth5(0x18, with_method(None)));
    assert_eq!(disconnect_code(&mut fred, secs(5)).0, 0x82);
    assert_eq!(b.report(secs(5))["refused_auth_method"], 1);

    // Without auth_token_secret_file the method is not configured.
    let plain = Broker::start("");
    let c = Connect5::new("nosecret").props(with_method(Some(&good)));
    let (_c, p) = first_answer(&plain, &c);
    assert_eq!(connack(&p).0, 0x8C);
}

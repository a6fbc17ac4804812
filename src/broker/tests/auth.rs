//! Authentication at CONNECT on the simulated clock: return codes, the
//! identity kept per connection, the throttle's block and release, the
//! counters (docs/security.md).

use crate::auth::{self, AuthMethod, Credentials, PasswordFile, ThrottleSettings};
use crate::broker::{Security, SecurityDomain};

use super::*;

/// mosquitto_passwd 2.0.11: alice / secret.
const FILE: &str = "alice:$7$101$ENTtIy0JhtQOoMQa$I7BnvpkLC84dwMZCLJLM0wvvGmQs15rGgNlOqgIxCLOosLAlfEFoXISOXS4dEC3drK4M/cUvo4kTSoffvT2JhA==\n";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const NOT_AUTHORIZED: u8 = 5;

fn harness(allow_anonymous: bool, limit: u32) -> Harness {
    let settings = Settings {
        auth_throttle: ThrottleSettings {
            limit,
            window: Duration::from_secs(60),
            delay: Duration::from_secs(10),
        },
        ..Settings::default()
    };
    let mut h = Harness::new(settings);
    // The update fills `jwt_key` in a build with the `jwt` feature.
    #[allow(clippy::needless_update)]
    let credentials = Credentials {
        password_file: Some(PasswordFile::parse(FILE).unwrap()),
        token_secret: Some(auth::Secret::from_file_text(SECRET).unwrap()),
        ..Credentials::default()
    };
    install(&mut h, allow_anonymous, credentials);
    h.broker.handle_wall_clock(Some(1_800_000_000));
    h
}

fn install(h: &mut Harness, allow_anonymous: bool, credentials: Credentials) {
    let domain = SecurityDomain {
        allow_anonymous,
        credentials,
        acl: None,
    };
    h.broker.install_security(h.now, Security::global(domain));
}

fn login(client_id: &str, user: Option<&str>, password: Option<&[u8]>) -> Packet {
    let Packet::Connect(mut connect) = connect_packet(client_id, true, 0, None) else {
        unreachable!()
    };
    connect.username = user.map(str::to_owned);
    connect.password = password.map(<[u8]>::to_vec);
    Packet::Connect(connect)
}

impl Harness {
    /// The CONNACK code `packet` gets on a new connection, and the
    /// connection.
    fn try_login(&mut self, packet: Packet) -> (u8, ConnId) {
        let conn = self.open();
        self.send(conn, packet);
        match self.received(conn).as_slice() {
            [Packet::ConnAck(ack)] => (ack.code, conn),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
}

#[test]
fn every_credential_refusal_is_not_authorized() {
    let mut h = harness(true, 0);
    let (code, conn) = h.try_login(login("c1", Some("alice"), Some(b"secret")));
    assert_eq!(code, 0);
    let id = h.broker.identity(conn).unwrap();
    assert_eq!(
        (id.method, id.username.as_deref()),
        (AuthMethod::PasswordFile, Some("alice"))
    );
    for (user, password) in [
        (Some("alice"), Some(&b"wrong"[..])),
        (Some("mallory"), Some(b"secret")),
        (Some("alice"), None),
        (Some("alice"), Some(b"v1:1:00")),
    ] {
        let (code, conn) = h.try_login(login("c2", user, password));
        assert_eq!(code, NOT_AUTHORIZED, "{user:?} {password:?}");
        assert_eq!(h.broker.closing(conn), Some(CloseReason::Refused));
    }
    assert_eq!(h.broker.stats().auth_failures, 4);
    assert_eq!(h.broker.stats().refused_not_authorized, 4);
    // allow_anonymous true: no user name, no identity kept.
    let (code, conn) = h.try_login(login("c3", None, None));
    assert_eq!((code, h.broker.identity(conn)), (0, None));
}

#[test]
fn tokens_use_the_wall_clock_the_network_layer_gives() {
    let mut h = harness(false, 0);
    let secret = auth::Secret::from_file_text(SECRET).unwrap();
    let token = auth::token::make(&secret, "dev-1", "alice", 1_800_000_060);
    let (code, conn) = h.try_login(login("dev-1", Some("alice"), Some(token.as_bytes())));
    assert_eq!(code, 0);
    assert_eq!(h.broker.identity(conn).unwrap().method, AuthMethod::Token);
    h.broker.handle_wall_clock(Some(1_800_000_060));
    let (code, _) = h.try_login(login("dev-1", Some("alice"), Some(token.as_bytes())));
    assert_eq!(code, NOT_AUTHORIZED, "expired");
    h.broker.handle_wall_clock(None);
    let (code, _) = h.try_login(login("dev-1", Some("alice"), Some(token.as_bytes())));
    assert_eq!(code, NOT_AUTHORIZED, "no clock");
    assert_eq!(
        h.broker.stats().auth_failures,
        1,
        "a clock not set is no failed guess"
    );
}

#[test]
fn the_throttle_blocks_then_lets_go() {
    let mut h = harness(false, 3);
    for _ in 0..3 {
        let (code, _) = h.try_login(login("c", Some("alice"), Some(b"guess")));
        assert_eq!(code, NOT_AUTHORIZED);
    }
    assert_eq!(h.broker.stats().auth_blocks, 1);
    // Blocked: the right password is refused unchecked.
    let (code, _) = h.try_login(login("c", Some("alice"), Some(b"secret")));
    assert_eq!(code, NOT_AUTHORIZED);
    assert_eq!(h.broker.stats().auth_throttled, 1);
    assert_eq!(h.broker.stats().auth_failures, 3);
    h.advance(Duration::from_secs(9));
    assert_eq!(
        h.try_login(login("c", Some("alice"), Some(b"secret"))).0,
        NOT_AUTHORIZED
    );
    h.advance(Duration::from_secs(2));
    assert_eq!(h.try_login(login("c", Some("alice"), Some(b"secret"))).0, 0);
    assert_eq!(h.broker.stats().auth_throttled, 2);
}

#[test]
fn reload_changes_the_throttle_and_credentials_stay_until_replaced() {
    let mut h = harness(false, 2);
    let mut settings = h.broker.settings().clone();
    settings.auth_throttle.limit = 0;
    let report = h.broker.apply_reload(&settings);
    assert_eq!(report.applied, ["auth_fail_limit"]);
    for _ in 0..5 {
        assert_eq!(
            h.try_login(login("c", Some("alice"), Some(b"guess"))).0,
            NOT_AUTHORIZED
        );
    }
    assert_eq!(h.try_login(login("c", Some("alice"), Some(b"secret"))).0, 0);
    // New credentials: the old password file is gone.
    install(&mut h, false, Credentials::default());
    let (code, _) = h.try_login(login("c", Some("alice"), Some(b"secret")));
    assert_eq!(code, NOT_AUTHORIZED, "allow_anonymous false and no method");
}

//! MQTT 5 enhanced authentication (MQTT 5 §4.12), the state machine and
//! its one method, `edgemq-token` (docs/mqtt5.md, "Enhanced
//! authentication"; the tokens are those of docs/security.md, "Signed
//! tokens").
//!
//! CONNECT with Authentication Method `edgemq-token`: with Authentication
//! Data (the token) it is checked at once; without, the broker answers
//! AUTH 0x18 (continue) naming the method, keeps the CONNECT, and takes
//! the token from the client's AUTH 0x18 — then CONNACK. Any other method,
//! or this one without `auth_token_secret_file`, is refused with CONNACK
//! 0x8C (MQTT 5 §4.12). Once connected the client renews its token with
//! AUTH 0x19 (re-authenticate) and gets AUTH 0x00 back; a token that
//! expires unrenewed, or a renewal that fails, ends the connection with
//! DISCONNECT 0x87, at its expiry (swept with the other timeouts).
//!
//! The wall clock comes from the network layer before each CONNECT and
//! AUTH (`handle_wall_clock`); a token's expiry becomes a deadline on the
//! monotonic clock there, so the sweep needs only `now`.

use std::time::{Duration, Instant};

use crate::auth::{self, token, Attempt, AuthMethod, Identity};
use crate::codec::{Auth, Connect, ConnectReturn, Packet, Properties, Property, ReasonCode};
use crate::session::ClientId;

use super::connections::{CloseReason, ConnId, ConnState, PeerAddr};
use super::stats::LogKind;
use super::Broker;

/// The one Authentication Method edgemq serves.
pub const TOKEN_METHOD: &str = "edgemq-token";

/// One connection's enhanced authentication.
#[derive(Debug)]
pub(super) struct EnhancedAuth {
    /// The CONNECT waiting for the client's token (AUTH 0x18).
    pending: Option<Box<Connect>>,
    /// The user name the token is for.
    username: Option<Box<str>>,
    /// When the token stops being valid; `None` until one is accepted.
    deadline: Option<Instant>,
}

impl EnhancedAuth {
    pub fn method(&self) -> &'static str {
        TOKEN_METHOD
    }
}

/// How far a CONNECT with an Authentication Method got.
pub(super) enum AuthStep {
    Done(Identity),
    /// AUTH 0x18 sent; the CONNECT waits for the client's answer.
    Continue,
}

impl Broker {
    /// Checks a 5.0 CONNECT that names an Authentication Method.
    pub(super) fn enhanced_connect(
        &mut self,
        now: Instant,
        conn: ConnId,
        connect: &Connect,
        client_id: &ClientId,
        method: &str,
    ) -> Result<AuthStep, ConnectReturn> {
        let certificate = self.certificate_usernames.contains_key(&conn);
        if method != TOKEN_METHOD || self.token_secret(conn).is_none() || certificate {
            self.stats.refused_auth_method += 1;
            let peer = self.client_label(conn);
            let shown: String = method.chars().take(64).collect();
            self.logs.warn(LogKind::EnhancedAuth, now, || {
                format!("refusing {client_id} from {peer} (0x8C): authentication method {shown:?} is not configured")
            });
            return Err(ConnectReturn::BadAuthenticationMethod);
        }
        self.throttle_check(now, conn, client_id, connect.username.as_deref())?;
        let username = connect.username.as_deref().map(Box::<str>::from);
        let Some(data) = connect.properties.authentication_data() else {
            self.set_auth(conn, username, None);
            let ask = Auth {
                reason: ReasonCode::CONTINUE_AUTHENTICATION,
                properties: Properties(vec![Property::AuthenticationMethod(TOKEN_METHOD.into())]),
            };
            self.send(conn, &Packet::Auth(ask));
            return Ok(AuthStep::Continue);
        };
        let deadline = self
            .check_token(now, conn, client_id.as_str(), username.as_deref(), data)
            .ok_or(ConnectReturn::NotAuthorized)?;
        let identity = Identity {
            method: AuthMethod::Token,
            username: username.clone(),
            acl: None,
        };
        self.set_auth(conn, username, Some(deadline));
        Ok(AuthStep::Done(identity))
    }

    /// The `auth_token_secret_file` secret that holds on `conn`'s listener
    /// (`per_listener_settings`, `security.rs`).
    fn token_secret(&self, conn: ConnId) -> Option<&auth::Secret> {
        let listener = self.connections.get(conn)?.origin.listener();
        let domain = self.security.index_of(listener);
        self.security
            .domain(domain)
            .credentials
            .token_secret
            .as_ref()
    }

    fn set_auth(&mut self, conn: ConnId, username: Option<Box<str>>, deadline: Option<Instant>) {
        if let Some(state) = self.v5.get_mut(&conn) {
            state.auth = Some(Box::new(EnhancedAuth {
                pending: None,
                username,
                deadline,
            }));
        }
    }

    /// Keeps the CONNECT until the client's AUTH brings its token.
    pub(super) fn stash_connect(&mut self, conn: ConnId, connect: Connect) {
        if let Some(auth) = self.v5.get_mut(&conn).and_then(|s| s.auth.as_mut()) {
            auth.pending = Some(Box::new(connect));
        }
    }

    /// The token's deadline on our clock, or `None`: refused as a wrong
    /// password is (counted, logged, the login throttle told).
    fn check_token(
        &mut self,
        now: Instant,
        conn: ConnId,
        client_id: &str,
        username: Option<&str>,
        data: &[u8],
    ) -> Option<Instant> {
        let secret = self.token_secret(conn)?;
        let checked = match self.wall_clock {
            Some(unix_now) => {
                token::verify(secret, client_id, username.unwrap_or(""), data, unix_now)
                    .map(|expiry| now + Duration::from_secs(expiry.saturating_sub(unix_now)))
                    .map_err(auth::Refusal::Token)
            }
            None => Err(auth::Refusal::ClockNotSet),
        };
        let refusal = match checked {
            Ok(deadline) => return Some(deadline),
            Err(refusal) => refusal,
        };
        let origin = self.connections.get(conn)?.origin;
        let ip = match origin.peer() {
            PeerAddr::Ip { ip, .. } => Some(ip),
            PeerAddr::Unix => None,
        };
        let peer = self.listeners.peer_name(origin);
        let attempt = Attempt {
            client_id,
            username,
            password: Some(data),
            unix_now: self.wall_clock,
        };
        self.refuse_credentials(now, ip, &peer, &attempt, &refusal);
        None
    }

    /// AUTH from a client: the token a waiting CONNECT asked for, or a
    /// re-authentication. Anything else is a protocol error: AUTH without
    /// a method at CONNECT, another method, a reason the exchange does not
    /// expect (MQTT 5 §4.12, §4.12.1).
    pub(super) fn handle_auth(&mut self, now: Instant, conn: ConnId, auth: Auth) {
        let connected = self
            .connections
            .get(conn)
            .is_some_and(|c| matches!(c.state, ConnState::Active { .. }));
        let method_ok = auth.properties.authentication_method() == Some(TOKEN_METHOD);
        let Some(state) = self.v5.get_mut(&conn).and_then(|s| s.auth.as_mut()) else {
            return self.protocol_error(
                now,
                conn,
                "AUTH without an Authentication Method at CONNECT (MQTT 5 §4.12)",
            );
        };
        if !method_ok {
            return self.protocol_error(
                now,
                conn,
                "AUTH with another Authentication Method (MQTT 5 §4.12)",
            );
        }
        if !connected {
            let pending = state.pending.take();
            let (Some(mut connect), ReasonCode::CONTINUE_AUTHENTICATION) = (pending, auth.reason)
            else {
                return self.protocol_error(now, conn, "AUTH before CONNACK other than 0x18");
            };
            if let Some(data) = auth.properties.authentication_data() {
                connect
                    .properties
                    .push(Property::AuthenticationData(data.to_vec()));
            }
            return self.handle_connect(now, conn, *connect);
        }
        if auth.reason != ReasonCode::RE_AUTHENTICATE {
            return self.protocol_error(now, conn, "AUTH after CONNACK other than 0x19");
        }
        self.reauthenticate(now, conn, &auth);
    }

    /// AUTH 0x19 with a fresh token: AUTH 0x00 back and a new deadline, or
    /// DISCONNECT 0x87 (MQTT 5 §4.12.1).
    fn reauthenticate(&mut self, now: Instant, conn: ConnId, auth: &Auth) {
        let client_id = self.client_label(conn);
        let username = self
            .v5
            .get(&conn)
            .and_then(|s| s.auth.as_ref())
            .and_then(|a| a.username.clone());
        let data = auth.properties.authentication_data().unwrap_or(&[]);
        let Some(deadline) = self.check_token(now, conn, &client_id, username.as_deref(), data)
        else {
            self.stats.token_expiry_disconnects += 1;
            self.close_why = Some((conn, "re-authentication failed"));
            return self.close(now, conn, CloseReason::NotAuthorized);
        };
        if let Some(auth) = self.v5.get_mut(&conn).and_then(|s| s.auth.as_mut()) {
            auth.deadline = Some(deadline);
        }
        self.stats.reauthentications += 1;
        let done = Auth {
            reason: ReasonCode::SUCCESS,
            properties: Properties(vec![Property::AuthenticationMethod(TOKEN_METHOD.into())]),
        };
        self.send(conn, &Packet::Auth(done));
    }

    /// Connected clients whose token expired unrenewed: DISCONNECT 0x87.
    pub(super) fn sweep_auth_deadlines(&mut self, now: Instant) {
        let expired: Vec<ConnId> = self
            .v5
            .iter()
            .filter(|(_, s)| {
                s.auth
                    .as_ref()
                    .and_then(|a| a.deadline)
                    .is_some_and(|deadline| deadline <= now)
            })
            .map(|(&conn, _)| conn)
            .collect();
        for conn in expired {
            let active = self.connections.get(conn).is_some_and(|c| {
                c.closing.is_none() && matches!(c.state, ConnState::Active { .. })
            });
            if let Some(auth) = self.v5.get_mut(&conn).and_then(|s| s.auth.as_mut()) {
                auth.deadline = None;
            }
            if !active {
                continue;
            }
            self.stats.token_expiry_disconnects += 1;
            let client = self.client_label(conn);
            self.logs.warn(LogKind::EnhancedAuth, now, || {
                format!(
                    "disconnecting {client} (0x87): its {TOKEN_METHOD} expired and was not renewed"
                )
            });
            self.close_why = Some((conn, "token expired"));
            self.close(now, conn, CloseReason::NotAuthorized);
        }
    }
}

//! Authentication at CONNECT, as the broker sees it (docs/security.md):
//! the certificate name a TLS listener gave, the login throttle, then
//! `auth::authenticate` with the loaded credentials; the answer becomes
//! the identity the connection keeps, or a CONNACK refusal, a counter and
//! a rate-limited log line with the client id, user name and peer address
//! (never the password or token).
//!
//! Return codes, as mosquitto 2.0 answers (checked against 2.0.11): every
//! refusal of credentials is "not authorised" (5 in 3.1/3.1.1, 0x87 in
//! 5.0), wrong password and unknown user included, so a client cannot
//! tell which it got wrong; only a TLS listener's missing certificate name
//! is "bad user name or password" (4), as there.

use std::net::IpAddr;
use std::time::Instant;

use crate::auth::{self, throttle::AfterFailure, Attempt, AuthMethod, Identity};
use crate::codec::{Connect, ConnectReturn};
use crate::session::ClientId;

use super::connections::{ConnId, PeerAddr};
use super::listeners::PeerName;
use super::stats::LogKind;
use super::Broker;

impl Broker {
    /// The wall clock, Unix seconds, for the expiry of tokens and JWTs:
    /// the network layer sets it before it hands over a CONNECT (`None`
    /// when the system clock is not set).
    pub fn handle_wall_clock(&mut self, unix_secs: Option<u64>) {
        self.wall_clock = unix_secs;
    }

    /// How `conn`'s client got in, for the ACL checks; `None` for an
    /// anonymous client and before CONNECT.
    pub fn identity(&self, conn: ConnId) -> Option<&Identity> {
        self.identities.get(&conn)
    }

    /// Decides whether this CONNECT may go on. `from_certificate` is
    /// `Some` on a listener that takes user names from certificates.
    pub(super) fn authenticate(
        &mut self,
        now: Instant,
        conn: ConnId,
        connect: &Connect,
        client_id: &ClientId,
        from_certificate: Option<Option<&str>>,
    ) -> Result<Identity, ConnectReturn> {
        let Some(connection) = self.connections.get(conn) else {
            return Err(ConnectReturn::ServerUnavailable);
        };
        let origin = connection.origin;
        let peer = self.listeners.peer_name(origin);
        let domain = self.security.index_of(origin.listener());
        match from_certificate {
            Some(Some(name)) => {
                return Ok(Identity {
                    method: AuthMethod::Certificate,
                    username: Some(name.into()),
                    acl: None,
                });
            }
            Some(None) => {
                self.stats.refused_not_authorized += 1;
                self.logs.warn(LogKind::NotAuthorized, now, || {
                    format!(
                        "refusing {client_id} from {peer}: no client certificate with a usable \
                         name, and this listener takes usernames from certificates"
                    )
                });
                return Err(ConnectReturn::BadUsernameOrPassword);
            }
            None => {}
        }
        let ip = match origin.peer() {
            PeerAddr::Ip { ip, .. } => Some(ip),
            PeerAddr::Unix => None,
        };
        if let Some(remaining) = ip.and_then(|ip| self.throttle.blocked(now, ip)) {
            self.stats.refused_not_authorized += 1;
            self.stats.auth_throttled += 1;
            let user = user_label(connect.username.as_deref());
            self.logs.warn(LogKind::AuthThrottle, now, || {
                format!(
                    "refusing {client_id}{user} from {peer} unchecked: too many failed logins \
                     from its address ({}s of auth_fail_delay left)",
                    remaining.as_secs().max(1)
                )
            });
            return Err(ConnectReturn::NotAuthorized);
        }
        let attempt = Attempt {
            client_id: client_id.as_str(),
            username: connect.username.as_deref(),
            password: connect.password.as_deref(),
            unix_now: self.wall_clock,
        };
        let rules = self.security.domain(domain);
        auth::authenticate(&rules.credentials, rules.allow_anonymous, &attempt)
            .map_err(|refusal| self.refuse_credentials(now, ip, &peer, &attempt, &refusal))
    }

    /// Counts, logs and throttles one refusal; the code for the CONNACK.
    fn refuse_credentials(
        &mut self,
        now: Instant,
        ip: Option<IpAddr>,
        peer: &PeerName,
        attempt: &Attempt<'_>,
        refusal: &auth::Refusal,
    ) -> ConnectReturn {
        self.stats.refused_not_authorized += 1;
        let client_id = attempt.client_id;
        let user = user_label(attempt.username);
        if !refusal.is_failed_guess() {
            self.logs.warn(LogKind::NotAuthorized, now, || {
                format!(
                    "refusing {client_id}{user} from {peer}: {}",
                    refusal.describe()
                )
            });
            return ConnectReturn::NotAuthorized;
        }
        self.stats.auth_failures += 1;
        self.logs.warn(LogKind::AuthFailure, now, || {
            format!(
                "refusing {client_id}{user} from {peer}: {}",
                refusal.describe()
            )
        });
        let Some(ip) = ip else {
            return ConnectReturn::NotAuthorized;
        };
        if self.throttle.record_failure(now, ip) == AfterFailure::Blocked {
            self.stats.auth_blocks += 1;
            let s = self.settings.auth_throttle;
            // Its own kind: the refusals' lines must not hide it.
            self.logs.warn(LogKind::AuthBlock, now, || {
                format!(
                    "blocking logins from {peer} for {}s: {} failed logins within {}s \
                     (auth_fail_limit, auth_fail_window, auth_fail_delay)",
                    s.delay.as_secs(),
                    s.limit,
                    s.window.as_secs()
                )
            });
        }
        ConnectReturn::NotAuthorized
    }
}

/// How the connected line names an identity: `, username 'NAME'
/// (password file)`, plus the size of a JWT's ACL.
pub(super) fn identity_label(identity: &Identity) -> String {
    let mut label = match (&identity.username, identity.method) {
        // Its CA vouches for it; printed as mosquitto prints subjects.
        (Some(name), AuthMethod::Certificate) => {
            format!(", username '{name}' from its certificate")
        }
        (Some(name), method) => format!(
            ", username '{}' ({})",
            name.escape_debug(),
            method.describe()
        ),
        (None, _) => String::new(),
    };
    if let Some(acl) = &identity.acl {
        label.push_str(&format!(
            ", JWT acl: {} pub / {} sub filters",
            acl.publish.len(),
            acl.subscribe.len()
        ));
    }
    label
}

/// ` (user 'NAME')` for log lines, escaped: the name is the client's.
fn user_label(username: Option<&str>) -> String {
    username.map_or_else(String::new, |u| format!(" (user '{}')", u.escape_debug()))
}

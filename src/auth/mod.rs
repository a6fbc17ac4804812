//! Who may connect: the credential checks of a CONNECT
//! (docs/security.md; README.md, "Securing edgemq").
//!
//! Owns: the credential formats (mosquitto password files, `v1:` signed
//! tokens, JWTs), the choice of method for a CONNECT ([`authenticate`]),
//! the per-address login throttle, and what an accepted client's identity
//! holds. The broker (src/broker/authenticate.rs) calls in with a
//! CONNECT's fields and turns the answer into a CONNACK, counters and a
//! log line; the TLS listeners' certificate names are checked before
//! anything here is asked.
//!
//! Sans-IO except [`load`], the one file that reads the credential files
//! (at start, at SIGHUP, in `edgemq check-config`): checks take bytes and
//! the time as numbers. Must not log: refusals are returned with a reason
//! for the broker to log, rate-limited, without the password or token.

pub mod base64;
pub mod identity;
/// Also `edgemq ctl`'s reader of the admin API's answers.
pub mod json;
#[cfg(feature = "jwt")]
pub mod jwt;
#[cfg(feature = "jwt")]
pub mod jwt_key;
pub mod load;
pub mod password_file;
pub mod password_hash;
pub mod secret;
pub mod throttle;
pub mod token;

pub use identity::{AuthMethod, Identity, TokenAcl};
pub use load::{load, LoadError};
pub use password_file::PasswordFile;
pub use secret::Secret;
pub use throttle::{LoginThrottle, ThrottleSettings};

use password_file::Verdict;

/// The credential methods configured, loaded from their files. Replaced
/// whole at SIGHUP.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub password_file: Option<PasswordFile>,
    pub token_secret: Option<Secret>,
    #[cfg(feature = "jwt")]
    pub jwt_key: Option<jwt_key::JwtKey>,
}

impl Credentials {
    /// Whether any method is configured; without one a user name cannot be
    /// checked.
    pub fn any(&self) -> bool {
        #[cfg(feature = "jwt")]
        if self.jwt_key.is_some() {
            return true;
        }
        self.password_file.is_some() || self.token_secret.is_some()
    }

    /// "password file (3 users), signed tokens", for the start and reload
    /// log lines.
    pub fn describe(&self) -> String {
        let mut methods = Vec::new();
        if let Some(file) = &self.password_file {
            methods.push(format!("password file ({} users)", file.len()));
        }
        if self.token_secret.is_some() {
            methods.push("signed tokens".to_owned());
        }
        #[cfg(feature = "jwt")]
        if let Some(key) = &self.jwt_key {
            methods.push(format!("{} JWTs", key.alg()));
        }
        if methods.is_empty() {
            return "none".to_owned();
        }
        methods.join(", ")
    }
}

/// One CONNECT's claim to an identity.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
    /// Unix seconds; `None` when the system clock is not set (earlier than
    /// this binary's build), and expiry times cannot be checked.
    pub unix_now: Option<u64>,
}

/// Why a CONNECT was refused; for the log, never for the client (who
/// gets "not authorised", whatever the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No user name, and `allow_anonymous false`.
    Anonymous,
    /// A user name but no credential method to check it, and
    /// `allow_anonymous false`.
    NoMethod,
    /// A user name without a password.
    NoPassword,
    UnknownUser,
    WrongPassword,
    /// The password is no token the configured methods take, and no
    /// password file is configured to try it against.
    NoMatchingMethod,
    Token(token::TokenError),
    #[cfg(feature = "jwt")]
    Jwt(jwt::JwtError),
    /// A token or JWT, but the clock cannot tell whether it expired.
    ClockNotSet,
}

impl Refusal {
    pub fn describe(&self) -> String {
        match self {
            Refusal::Anonymous => "no user name, and allow_anonymous false".to_owned(),
            Refusal::NoMethod => "allow_anonymous false, and no password_file, \
                auth_token_secret_file or auth_jwt_key_file to check the user name"
                .to_owned(),
            Refusal::NoPassword => "no password".to_owned(),
            Refusal::UnknownUser => "unknown user".to_owned(),
            Refusal::WrongPassword => "wrong password".to_owned(),
            Refusal::NoMatchingMethod => {
                "the password is not a token the configured methods take".to_owned()
            }
            Refusal::Token(e) => e.describe().to_owned(),
            #[cfg(feature = "jwt")]
            Refusal::Jwt(e) => e.describe(),
            Refusal::ClockNotSet => {
                "the system clock is not set, so token expiry cannot be checked".to_owned()
            }
        }
    }

    /// Whether this was a wrong guess at a credential, which the login
    /// throttle counts. Anonymous refusals and a clock not set are not.
    pub fn is_failed_guess(&self) -> bool {
        !matches!(
            self,
            Refusal::Anonymous | Refusal::NoMethod | Refusal::ClockNotSet
        )
    }
}

/// Decides whether `attempt` gets in, and as whom (docs/security.md,
/// "Which method applies"). A certificate name is the caller's to check
/// before this. With a user name: a `v1:` password goes to the token
/// check when a token secret is configured, a password shaped like a JWT
/// to the JWT check when a JWT key is, anything else to the password file.
/// Without a user name the client is anonymous. Once any method is
/// configured, a user name must pass one of them, `allow_anonymous true`
/// or not: it would otherwise be a name anyone could claim.
pub fn authenticate(
    credentials: &Credentials,
    allow_anonymous: bool,
    attempt: &Attempt<'_>,
) -> Result<Identity, Refusal> {
    let Some(username) = attempt.username else {
        if allow_anonymous {
            return Ok(identity(AuthMethod::Anonymous, None));
        }
        return Err(Refusal::Anonymous);
    };
    if !credentials.any() {
        if allow_anonymous {
            return Ok(identity(AuthMethod::Unverified, Some(username)));
        }
        return Err(Refusal::NoMethod);
    }
    let password = attempt.password.ok_or(Refusal::NoPassword)?;
    if let Some(secret) = &credentials.token_secret {
        if password.starts_with(token::PREFIX.as_bytes()) {
            let now = attempt.unix_now.ok_or(Refusal::ClockNotSet)?;
            token::verify(secret, attempt.client_id, username, password, now)
                .map_err(Refusal::Token)?;
            return Ok(identity(AuthMethod::Token, Some(username)));
        }
    }
    #[cfg(feature = "jwt")]
    if let Some(key) = &credentials.jwt_key {
        if jwt::looks_like_jwt(password) {
            let now = attempt.unix_now.ok_or(Refusal::ClockNotSet)?;
            let claims = jwt::verify(key, attempt.client_id, username, password, now)
                .map_err(Refusal::Jwt)?;
            let mut id = identity(AuthMethod::Jwt, Some(username));
            id.acl = claims.acl.map(Box::new);
            return Ok(id);
        }
    }
    let file = credentials
        .password_file
        .as_ref()
        .ok_or(Refusal::NoMatchingMethod)?;
    match file.check(username, password) {
        Verdict::Accepted => Ok(identity(AuthMethod::PasswordFile, Some(username))),
        Verdict::WrongPassword => Err(Refusal::WrongPassword),
        Verdict::UnknownUser => Err(Refusal::UnknownUser),
    }
}

fn identity(method: AuthMethod, username: Option<&str>) -> Identity {
    Identity {
        method,
        username: username.map(Box::from),
        acl: None,
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

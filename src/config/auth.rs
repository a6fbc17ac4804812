//! The keys that decide who may connect, beside `allow_anonymous`:
//! `password_file` (mosquitto's), `auth_token_secret_file`,
//! `auth_jwt_key_file`, and the login throttle's `auth_fail_limit`,
//! `auth_fail_window`, `auth_fail_delay` (README.md, "Securing edgemq").
//!
//! Owns the keys' syntax only. The files are read by `auth::load` at start
//! (as root, before `user` drops it), at SIGHUP and by `edgemq
//! check-config`, with the config line each path came from.
//!
//! In a build without the `jwt` feature `auth_jwt_key_file` is refused: a
//! broker that ignored it would refuse every JWT client, or, with
//! `allow_anonymous true`, let them in unchecked.

use std::time::Duration;

use super::error::ConfigError;
use super::limits::{AUTH_FAIL_DURATION_CEILING, AUTH_FAIL_LIMIT_CEILING};
use super::line::Line;
use super::tls::PathSetting;
use super::values::Bare;

/// The credential files; `None` where the method is not used.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthFiles {
    pub password_file: Option<PathSetting>,
    pub token_secret_file: Option<PathSetting>,
    pub jwt_key_file: Option<PathSetting>,
}

impl AuthFiles {
    /// Whether any credential method is configured.
    pub fn any(&self) -> bool {
        self.password_file.is_some()
            || self.token_secret_file.is_some()
            || self.jwt_key_file.is_some()
    }
}

/// The login throttle's keys as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthThrottle {
    /// 0 turns throttling off.
    pub fail_limit: u32,
    pub fail_window: Duration,
    pub fail_delay: Duration,
}

impl Default for AuthThrottle {
    fn default() -> Self {
        AuthThrottle {
            fail_limit: 5,
            fail_window: Duration::from_secs(60),
            fail_delay: Duration::from_secs(10),
        }
    }
}

const KEYS: &[&str] = &[
    "auth_fail_delay",
    "auth_fail_limit",
    "auth_fail_window",
    "auth_jwt_key_file",
    "auth_token_secret_file",
    "password_file",
];

/// Whether `key` is read here.
pub(super) fn claims(key: &str) -> bool {
    KEYS.contains(&key)
}

/// Applies one of the keys.
pub(super) fn apply(
    files: &mut AuthFiles,
    throttle: &mut AuthThrottle,
    line: &Line<'_>,
) -> Result<(), ConfigError> {
    let path = || -> Result<PathSetting, ConfigError> {
        Ok(PathSetting {
            path: line.path()?,
            file: line.file.to_owned(),
            line: line.number,
        })
    };
    let duration = || line.duration(Bare::Seconds, Duration::ZERO, AUTH_FAIL_DURATION_CEILING);
    match line.key {
        "password_file" => files.password_file = Some(path()?),
        "auth_token_secret_file" => files.token_secret_file = Some(path()?),
        "auth_jwt_key_file" if cfg!(feature = "jwt") => files.jwt_key_file = Some(path()?),
        "auth_jwt_key_file" => {
            return Err(line.error(
                "this build of edgemq has no JWT support (built without the cargo feature \
                 `jwt`): use a build with it, or signed tokens (auth_token_secret_file)",
            ))
        }
        "auth_fail_limit" => {
            let n = line.number(0, AUTH_FAIL_LIMIT_CEILING)?;
            throttle.fail_limit = u32::try_from(n).unwrap_or(u32::MAX);
        }
        "auth_fail_window" => throttle.fail_window = positive(line, duration()?)?,
        "auth_fail_delay" => throttle.fail_delay = positive(line, duration()?)?,
        _ => return Err(line.error("internal error: not an authentication key")),
    }
    Ok(())
}

/// A window or delay of 0 would make the throttle a no-op in disguise;
/// `auth_fail_limit 0` is the way to turn it off.
fn positive(line: &Line<'_>, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        return Err(line.error("must be at least 1s (auth_fail_limit 0 turns throttling off)"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn reads_the_keys_with_their_lines() {
        let text = "listener 1883\npassword_file /etc/edgemq/passwd\n\
                    auth_token_secret_file /etc/edgemq/token.key\n\
                    auth_fail_limit 3\nauth_fail_window 120s\nauth_fail_delay 30\n";
        let (c, w) = Config::parse_str(text, "a.conf").unwrap();
        assert!(w.is_empty(), "{w:?}");
        let pw = c.auth_files.password_file.as_ref().unwrap();
        assert_eq!((pw.path.to_str(), pw.line), (Some("/etc/edgemq/passwd"), 2));
        assert_eq!(c.auth_files.token_secret_file.as_ref().unwrap().line, 3);
        assert!(c.auth_files.any());
        assert_eq!(c.auth_throttle.fail_limit, 3);
        assert_eq!(c.auth_throttle.fail_window.as_secs(), 120);
        assert_eq!(c.auth_throttle.fail_delay.as_secs(), 30);
        let (d, _) = Config::parse_str("", "a.conf").unwrap();
        assert!(!d.auth_files.any());
        assert_eq!(d.auth_throttle, super::AuthThrottle::default());
    }

    #[test]
    fn bad_values_are_errors() {
        for (text, expected) in [
            ("password_file", "missing value"),
            ("password_file a b", "extra value"),
            ("auth_fail_limit 1001", "ceiling of 1000"),
            ("auth_fail_limit -1", "whole number"),
            ("auth_fail_window 0", "at least 1s"),
            ("auth_fail_delay 2d", "ceiling of 86400s"),
            // `m` is a month, as in mosquitto.
            ("auth_fail_window 2m", "a month"),
        ] {
            let e = Config::parse_str(text, "a.conf").unwrap_err();
            assert!(e.message.contains(expected), "{text}: {e}");
        }
        let (c, _) = Config::parse_str("auth_fail_limit 0", "a.conf").unwrap();
        assert_eq!(c.auth_throttle.fail_limit, 0);
    }

    #[test]
    fn jwt_key_file_needs_the_feature() {
        let parsed = Config::parse_str("auth_jwt_key_file /k.pem", "a.conf");
        if cfg!(feature = "jwt") {
            assert_eq!(parsed.unwrap().0.auth_files.jwt_key_file.unwrap().line, 1);
        } else {
            assert!(parsed.unwrap_err().message.contains("no JWT support"));
        }
    }
}

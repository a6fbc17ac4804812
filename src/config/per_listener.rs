//! `per_listener_settings true`, as in mosquitto 2.0: `allow_anonymous`,
//! `password_file`, `auth_token_secret_file`, `auth_jwt_key_file` and
//! `acl_file` belong to the `listener` line above them, and each listener
//! checks its clients with its own (README.md, "Per-listener settings").
//!
//! Owns the keys' placement and [`Config::security_domains`], the one view
//! main.rs loads the files from. The files themselves are read by
//! `auth::load` and `Acl::load`.
//!
//! Stricter than mosquitto where it would be silent: `per_listener_settings`
//! must come before the first `listener` line and before any of these
//! keys, and with it one of them before the first listener is an error
//! (mosquitto gives it to a default listener edgemq does not have).

use std::path::{Path, PathBuf};

use super::auth::{self, AuthFiles, AuthThrottle};
use super::error::ConfigError;
use super::line::Line;
use super::listener::ListenerConfig;
use super::Config;

/// A listener's own security keys (used with `per_listener_settings
/// true` only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListenerSecurity {
    /// `None` after parsing means false (mosquitto 2.0's default for a
    /// listener); the parser settles it.
    pub allow_anonymous: Option<bool>,
    pub auth_files: AuthFiles,
    pub acl_file: Option<PathBuf>,
}

/// The keys that belong to a listener with `per_listener_settings true`.
const KEYS: &[&str] = &[
    "acl_file",
    "allow_anonymous",
    "auth_jwt_key_file",
    "auth_token_secret_file",
    "password_file",
];

/// Whether `key` is a per-listener key (when the setting is on).
pub(super) fn claims(key: &str) -> bool {
    KEYS.contains(&key)
}

/// `per_listener_settings BOOL`; `seen_listener_or_key`: a `listener` line
/// or one of [`KEYS`] came before it.
pub(super) fn switch(
    config: &mut Config,
    seen_listener_or_key: bool,
    line: &Line<'_>,
) -> Result<(), ConfigError> {
    let on = line.boolean()?;
    if on != config.per_listener_settings && seen_listener_or_key {
        return Err(line.error(
            "must come before the first listener line and before allow_anonymous, \
             password_file, auth_token_secret_file, auth_jwt_key_file and acl_file \
             (it decides where they belong)",
        ));
    }
    config.per_listener_settings = on;
    Ok(())
}

/// One of [`KEYS`] with `per_listener_settings true`: the listener
/// above it takes it.
pub(super) fn apply(
    listener: Option<&mut ListenerConfig>,
    line: &Line<'_>,
) -> Result<(), ConfigError> {
    let Some(listener) = listener else {
        return Err(line.error(
            "with per_listener_settings true this key belongs to a listener: put it after \
             the listener line it is for",
        ));
    };
    let security = &mut listener.security;
    match line.key {
        "allow_anonymous" => security.allow_anonymous = Some(line.boolean()?),
        "acl_file" => security.acl_file = Some(line.path()?),
        // The throttle's keys stay global; these three are files.
        _ => auth::apply(&mut security.auth_files, &mut AuthThrottle::default(), line)?,
    }
    Ok(())
}

/// What `finish` checks once the whole file is read.
pub(super) fn finish(config: &mut Config, from_file: bool, main: &str) -> Result<(), ConfigError> {
    if !config.per_listener_settings {
        return Ok(());
    }
    if !from_file {
        return Err(ConfigError::new(
            main,
            0,
            "per_listener_settings true needs listener lines: the security settings belong \
             to them",
        ));
    }
    for listener in &mut config.listeners {
        listener.security.allow_anonymous =
            Some(listener.security.allow_anonymous.unwrap_or(false));
    }
    Ok(())
}

/// One set of security keys: the whole broker's, or one listener's.
#[derive(Debug, Clone, Copy)]
pub struct DomainConfig<'a> {
    /// The listener it belongs to; `None`: every listener.
    pub listener: Option<&'a ListenerConfig>,
    pub allow_anonymous: bool,
    pub auth_files: &'a AuthFiles,
    pub acl_file: Option<&'a Path>,
}

impl DomainConfig<'_> {
    /// `listener 8883 (edgemq.conf:12)` or `every listener`, for log lines.
    pub fn describe(&self) -> String {
        let Some(l) = self.listener else {
            return "every listener".to_owned();
        };
        let at = match (&l.unix, &l.address) {
            (Some(unix), _) => format!("0 {}", unix.path.display()),
            (None, Some(address)) => format!("{} {address}", l.port),
            (None, None) => l.port.to_string(),
        };
        format!("listener {at} ({}:{})", l.file, l.line)
    }
}

impl Config {
    /// The security keys to load: one set for every listener, or with
    /// `per_listener_settings true` one per listener, in the listeners'
    /// order (the broker finds a client's by its listener's index).
    pub fn security_domains(&self) -> Vec<DomainConfig<'_>> {
        if !self.per_listener_settings {
            return vec![DomainConfig {
                listener: None,
                allow_anonymous: self.allow_anonymous,
                auth_files: &self.auth_files,
                acl_file: self.acl_file.as_deref(),
            }];
        }
        self.listeners
            .iter()
            .map(|l| DomainConfig {
                listener: Some(l),
                allow_anonymous: l.security.allow_anonymous.unwrap_or(false),
                auth_files: &l.security.auth_files,
                acl_file: l.security.acl_file.as_deref(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn each_listener_takes_the_keys_below_it() {
        let text = "per_listener_settings true\nauth_fail_limit 3\n\
                    listener 1883 127.0.0.1\nallow_anonymous true\n\
                    listener 8883\npassword_file /etc/edgemq/passwd\nacl_file /etc/edgemq/acl\n\
                    listener 0 /run/edgemq/mqtt.sock\n";
        let (c, w) = Config::parse_str(text, "p.conf").unwrap();
        assert!(w.is_empty(), "{w:?}");
        let d = c.security_domains();
        assert_eq!(d.len(), 3);
        assert!(d[0].allow_anonymous && !d[0].auth_files.any() && d[0].acl_file.is_none());
        assert!(!d[1].allow_anonymous);
        assert_eq!(d[1].auth_files.password_file.as_ref().unwrap().line, 6);
        assert_eq!(d[1].acl_file.unwrap().to_str(), Some("/etc/edgemq/acl"));
        assert!(!d[2].allow_anonymous && !d[2].auth_files.any());
        // The throttle stays global; the globals are untouched.
        assert_eq!(c.auth_throttle.fail_limit, 3);
        assert!(!c.auth_files.any() && c.acl_file.is_none());
        assert!(
            d[1].describe().starts_with("listener 8883"),
            "{}",
            d[1].describe()
        );
    }

    #[test]
    fn off_is_one_domain_for_every_listener() {
        let text = "listener 1883\nlistener 8883\nallow_anonymous true\nacl_file /a\n";
        let (c, _) = Config::parse_str(text, "p.conf").unwrap();
        let d = c.security_domains();
        assert_eq!(d.len(), 1);
        assert!(d[0].listener.is_none() && d[0].allow_anonymous);
        assert_eq!(d[0].acl_file.unwrap().to_str(), Some("/a"));
        assert_eq!(d[0].describe(), "every listener");
    }

    #[test]
    fn misplaced_keys_are_errors() {
        for (text, expected) in [
            ("listener 1883\nper_listener_settings true\n", "p.conf:2: "),
            (
                "allow_anonymous true\nper_listener_settings true\n",
                "must come before",
            ),
            (
                "per_listener_settings true\nacl_file /a\nlistener 1883\n",
                "belongs to a listener",
            ),
            ("per_listener_settings true\n", "needs listener lines"),
            ("per_listener_settings maybe\n", "p.conf:1"),
        ] {
            let e = Config::parse_str(text, "p.conf").unwrap_err();
            assert!(e.to_string().contains(expected), "{text:?}: {e}");
        }
        // Saying false again, or after listeners, changes nothing.
        assert!(
            Config::parse_str("listener 1883\nper_listener_settings false\n", "p.conf").is_ok()
        );
    }
}

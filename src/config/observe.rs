//! The observability keys (README.md, "Operating edgemq"): `sys_interval`
//! (how often `$SYS/broker/...` is published; 0 = never), `event_topics`
//! (client events on `$SYS/events/client/...`), `admin_listener` (the
//! admin HTTP API's `ADDRESS:PORT`; unset = no API) and `admin_token_file`
//! (its bearer token; unset = `admin.token` in `persistence_location`),
//! and `alert NAME METRIC OP VALUE [for DURATION]`, repeatable (the rules
//! are `sys/alerts.rs`'s).
//!
//! Owns the values' rules only; the publisher is `src/sys/`, the API
//! `src/admin/` and `src/net/admin.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::ConfigError;
use super::line::Line;
use super::values::{self, Bare};
use super::Config;
use crate::sys::alerts::{self, AlertRule};

/// mosquitto's default `sys_interval`.
pub const DEFAULT_SYS_INTERVAL: Duration = Duration::from_secs(10);

/// A day: a `$SYS` tree refreshed less often than that says nothing an
/// operator can act on.
pub const SYS_INTERVAL_CEILING: Duration = Duration::from_secs(86_400);

/// Whether `key` is one of this file's keys.
pub(super) fn claims(key: &str) -> bool {
    matches!(
        key,
        "sys_interval" | "event_topics" | "admin_listener" | "admin_token_file" | "alert"
    )
}

pub(super) fn apply(config: &mut Config, line: &Line<'_>) -> Result<(), ConfigError> {
    match line.key {
        "sys_interval" => {
            config.sys_interval =
                line.duration(Bare::Seconds, Duration::ZERO, SYS_INTERVAL_CEILING)?;
        }
        "event_topics" => config.event_topics = line.boolean()?,
        "admin_listener" => config.admin_listener = Some(admin_listener(line)?),
        "alert" => alert(config, line)?,
        _ => config.admin_token_file = Some(PathBuf::from(line.one()?)),
    }
    Ok(())
}

/// One more alert rule: a name used twice, or more than `MAX_ALERTS`
/// rules, is an error naming the line.
fn alert(config: &mut Config, line: &Line<'_>) -> Result<(), ConfigError> {
    let duration = |d: &str| values::duration(d, Bare::Seconds, alerts::MAX_HOLD);
    let rule = AlertRule::parse(&line.args, duration).map_err(|m| line.error(m))?;
    if config.alerts.iter().any(|r| r.name == rule.name) {
        return Err(line.error(format!("'{}' is defined twice", rule.name)));
    }
    if config.alerts.len() >= alerts::MAX_ALERTS {
        return Err(line.error(format!("more than {} alerts", alerts::MAX_ALERTS)));
    }
    config.alerts.push(rule);
    Ok(())
}

/// `ADDRESS:PORT`, an IP literal (`[::1]:8081` for IPv6): the API is
/// bound before root is dropped and never resolves names.
fn admin_listener(line: &Line<'_>) -> Result<SocketAddr, ConfigError> {
    let value = line.one()?;
    value.parse::<SocketAddr>().map_err(|_| {
        line.error(format!(
            "'{}' is not IP:PORT (e.g. 127.0.0.1:8081)",
            value.escape_debug()
        ))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::Config;
    use std::time::Duration;

    #[test]
    fn defaults_and_values() {
        let (c, w) = Config::parse_str("", "o.conf").unwrap();
        assert_eq!(c.sys_interval, Duration::from_secs(10));
        assert!(!c.event_topics);
        assert_eq!(c.admin_listener, None);
        let text = "sys_interval 0\nevent_topics true\nadmin_listener 127.0.0.1:8081\n\
                    admin_token_file /etc/edgemq/admin.token\n";
        let (c, w2) = Config::parse_str(text, "o.conf").unwrap();
        assert!(w.is_empty() && w2.is_empty(), "{w2:?}");
        assert_eq!(c.sys_interval, Duration::ZERO);
        assert!(c.event_topics);
        assert_eq!(c.admin_listener, Some("127.0.0.1:8081".parse().unwrap()));
        assert_eq!(
            c.admin_token_file.as_deref(),
            Some(std::path::Path::new("/etc/edgemq/admin.token"))
        );
    }

    #[test]
    fn alerts_are_repeatable_and_errors_name_the_line() {
        let text =
            "alert too_many connections > 900 for 30s\nalert slow publish_rate < 1 for 120\n";
        let (c, _) = Config::parse_str(text, "o.conf").unwrap();
        assert_eq!(c.alerts.len(), 2);
        assert_eq!(c.alerts[1].hold, Duration::from_secs(120));
        let error = Config::parse_str("\nalert x bogus > 1\n", "o.conf").unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("o.conf") && message.contains('2'),
            "{message}"
        );
    }

    #[test]
    fn bad_values_are_errors() {
        for bad in [
            "admin_listener localhost:8081",
            "admin_listener 8081",
            "sys_interval 2d",
            "event_topics maybe",
            "admin_token_file",
            "alert a connections > 1\nalert a sessions > 1",
            "alert a connections ~ 1",
        ] {
            assert!(Config::parse_str(bad, "o.conf").is_err(), "{bad}");
        }
    }
}

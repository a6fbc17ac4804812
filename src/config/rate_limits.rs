//! The rate limit keys (README.md ## Configuration): `max_connection_rate`
//! (new connections per second: after a `listener` line that listener's,
//! before any the default of every listener), and per client
//! `max_publish_rate` (PUBLISH packets per second), `max_publish_bytes_rate`
//! (their bytes per second) and `rate_limit_disconnect_after`. A rate of 0
//! is no limit; each rate is also its burst. mosquitto has none of these
//! keys.
//!
//! Owns the values' rules only; the buckets are the broker's
//! (src/broker/rate_limits.rs).

use std::time::Duration;

use super::error::ConfigError;
use super::line::Line;
use super::listener::ListenerConfig;
use super::values::Bare;
use super::Config;

/// New connections per second on one listener: far past what the broker
/// accepts on any target (about 30k/s measured on x86_64), so any real
/// limit fits under it.
pub const MAX_CONNECTION_RATE_CEILING: u32 = 100_000;

/// PUBLISH packets per second from one client: far past what one client
/// can push through a broker on a router.
pub const MAX_PUBLISH_RATE_CEILING: u32 = 1_000_000;

/// PUBLISH bytes per second from one client: 1 GiB/s, past any link a
/// target device has.
pub const MAX_PUBLISH_BYTES_RATE_CEILING: u32 = 1 << 30;

/// A client over its rate is paused meanwhile; disconnecting it after more
/// than an hour is no longer a decision about its rate.
pub const RATE_LIMIT_DISCONNECT_AFTER_CEILING: Duration = Duration::from_secs(3600);

/// Whether `key` is one of this file's global keys (`max_connection_rate`
/// is dispatched by the parser, which knows whether a listener is open).
pub(super) fn claims(key: &str) -> bool {
    matches!(
        key,
        "max_publish_rate" | "max_publish_bytes_rate" | "rate_limit_disconnect_after"
    )
}

/// The per-client keys.
pub(super) fn apply(config: &mut Config, line: &Line<'_>) -> Result<(), ConfigError> {
    match line.key {
        "max_publish_rate" => config.max_publish_rate = rate(line, MAX_PUBLISH_RATE_CEILING)?,
        "max_publish_bytes_rate" => {
            config.max_publish_bytes_rate = rate(line, MAX_PUBLISH_BYTES_RATE_CEILING)?;
        }
        _ => {
            config.rate_limit_disconnect_after = line.duration(
                Bare::Seconds,
                Duration::ZERO,
                RATE_LIMIT_DISCONNECT_AFTER_CEILING,
            )?;
        }
    }
    Ok(())
}

/// `max_connection_rate N`: the listener's when one is open above the
/// line, else the default of every listener.
pub(super) fn connection_rate(
    config: &mut Config,
    listener: Option<&mut ListenerConfig>,
    line: &Line<'_>,
) -> Result<(), ConfigError> {
    let n = rate(line, MAX_CONNECTION_RATE_CEILING)?;
    match listener {
        Some(listener) => listener.max_connection_rate = Some(n),
        None => config.max_connection_rate = n,
    }
    Ok(())
}

/// The rate a listener runs with: its own, else the default.
pub fn listener_connection_rate(config: &Config, listener: &ListenerConfig) -> u32 {
    listener
        .max_connection_rate
        .unwrap_or(config.max_connection_rate)
}

fn rate(line: &Line<'_>, ceiling: u32) -> Result<u32, ConfigError> {
    let n = line.number(0, u64::from(ceiling))?;
    Ok(u32::try_from(n).unwrap_or(ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse_str(text, "t.conf").unwrap().0
    }

    #[test]
    fn off_by_default() {
        let c = Config::default();
        assert_eq!((c.max_publish_rate, c.max_publish_bytes_rate), (0, 0));
        assert_eq!(c.rate_limit_disconnect_after, Duration::ZERO);
        assert_eq!(listener_connection_rate(&c, &c.listeners[0]), 0);
    }

    #[test]
    fn connection_rate_before_a_listener_is_every_listeners_default() {
        let c = parse(
            "max_connection_rate 20\n\
             listener 1883 127.0.0.1\n\
             listener 1884 127.0.0.1\nmax_connection_rate 5\n\
             listener 1885 127.0.0.1\nmax_connection_rate 0\n",
        );
        let rates: Vec<u32> = c
            .listeners
            .iter()
            .map(|l| listener_connection_rate(&c, l))
            .collect();
        assert_eq!(rates, [20, 5, 0]);
        // Without a listener line the default listener takes it too.
        let c = parse("max_connection_rate 7\n");
        assert_eq!(listener_connection_rate(&c, &c.listeners[0]), 7);
    }

    #[test]
    fn publish_keys() {
        let c = parse(
            "max_publish_rate 50\nmax_publish_bytes_rate 65536\nrate_limit_disconnect_after 1\n",
        );
        assert_eq!((c.max_publish_rate, c.max_publish_bytes_rate), (50, 65536));
        assert_eq!(c.rate_limit_disconnect_after, Duration::from_secs(1));
        let c = parse("rate_limit_disconnect_after 1h\n");
        assert_eq!(c.rate_limit_disconnect_after, Duration::from_secs(3600));
    }

    #[test]
    fn bad_values_name_the_line_and_the_ceiling() {
        for (text, needle) in [
            ("max_connection_rate 100001\n", "ceiling of 100000"),
            ("listener 1883\nmax_connection_rate -1\n", "whole number"),
            ("max_publish_rate 1000001\n", "ceiling of 1000000"),
            (
                "max_publish_bytes_rate 1073741825\n",
                "ceiling of 1073741824",
            ),
            ("max_publish_rate 5/s\n", "whole number"),
            ("rate_limit_disconnect_after 2h\n", "ceiling of 3600s"),
            ("max_publish_rate\n", "missing value"),
        ] {
            let e = Config::parse_str(text, "t.conf").unwrap_err();
            assert!(e.message.contains(needle), "{text:?}: {e}");
            assert_eq!(e.line, text.lines().count(), "{text:?}");
        }
    }
}

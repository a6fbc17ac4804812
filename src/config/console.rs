//! The keys of device trajectories and message history (README.md,
//! "Operating edgemq"; docs/observability.md, "Trajectories and message
//! history"): `trajectory_max_age`, `trajectory_max_bytes` (0: no
//! trajectories), `history_topic FILTER` (repeatable; none: no history),
//! `history_max_age`, `history_max_bytes`.
//!
//! Owns the values' rules only; the timelines are `src/broker/console.rs`.
//! Trajectories are kept in memory as well as in the store, and the
//! history is kept in memory without a store (with one, only its filling
//! chunk and index): so each byte bound may also be RAM, hence the
//! ceilings.

use std::time::Duration;

use crate::topic::{validate_topic_filter, TopicLimits};

use super::error::ConfigError;
use super::line::Line;
use super::values::Bare;
use super::Config;

pub const DEFAULT_TRAJECTORY_MAX_AGE: Duration = Duration::from_secs(7 * 86_400);
pub const DEFAULT_TRAJECTORY_MAX_BYTES: usize = 4 << 20;
pub const DEFAULT_HISTORY_MAX_AGE: Duration = Duration::from_secs(3 * 86_400);
pub const DEFAULT_HISTORY_MAX_BYTES: usize = 16 << 20;

/// A year: older records answer no question an operator asks of a box.
pub const MAX_AGE_CEILING: Duration = Duration::from_secs(366 * 86_400);
/// 64 MiB each: the timelines live in RAM too, and a router has little.
pub const MAX_BYTES_CEILING: usize = 64 << 20;
/// `history_topic` lines at most: every routed message is matched
/// against each.
pub const MAX_HISTORY_TOPICS: usize = 32;

pub(super) fn claims(key: &str) -> bool {
    matches!(
        key,
        "trajectory_max_age"
            | "trajectory_max_bytes"
            | "history_topic"
            | "history_max_age"
            | "history_max_bytes"
    )
}

pub(super) fn apply(config: &mut Config, line: &Line<'_>) -> Result<(), ConfigError> {
    let age = || line.duration(Bare::Seconds, Duration::from_secs(1), MAX_AGE_CEILING);
    match line.key {
        "trajectory_max_age" => config.trajectory_max_age = age()?,
        "trajectory_max_bytes" => config.trajectory_max_bytes = line.size(0, MAX_BYTES_CEILING)?,
        "history_max_age" => config.history_max_age = age()?,
        "history_max_bytes" => config.history_max_bytes = line.size(0, MAX_BYTES_CEILING)?,
        _ => {
            let filter = line.one()?;
            if let Err(error) = validate_topic_filter(filter, &TopicLimits::DEFAULT) {
                return Err(line.error(format!("not a topic filter: {error}")));
            }
            if filter.starts_with("$share/") || filter.starts_with("$queue/") {
                return Err(line.error("a shared subscription is not a history filter"));
            }
            if config.history_topics.len() >= MAX_HISTORY_TOPICS {
                return Err(line.error(format!(
                    "more than {MAX_HISTORY_TOPICS} history_topic lines"
                )));
            }
            config.history_topics.push(filter.to_owned());
        }
    }
    Ok(())
}

/// What the broker takes from these keys.
pub fn settings(config: &Config) -> crate::broker::ConsoleSettings {
    crate::broker::ConsoleSettings {
        trajectory_max_age: config.trajectory_max_age,
        trajectory_max_bytes: config.trajectory_max_bytes,
        history_filters: config.history_topics.clone(),
        history_max_age: config.history_max_age,
        history_max_bytes: config.history_max_bytes,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::Config;
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn defaults_and_values() {
        let (c, _) = Config::parse_str("", "c.conf").unwrap();
        assert_eq!(c.trajectory_max_age, 7 * DAY);
        assert_eq!(c.trajectory_max_bytes, 4 << 20);
        assert!(c.history_topics.is_empty());
        assert_eq!(c.history_max_age, 3 * DAY);
        assert_eq!(c.history_max_bytes, 16 << 20);
        let text = "trajectory_max_age 1d\ntrajectory_max_bytes 0\nhistory_topic a/#\n\
                    history_topic +/temp\nhistory_max_age 3600\nhistory_max_bytes 1024\n";
        let (c, w) = Config::parse_str(text, "c.conf").unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.trajectory_max_age, DAY);
        assert_eq!(c.trajectory_max_bytes, 0);
        assert_eq!(c.history_topics, ["a/#", "+/temp"]);
        assert_eq!(c.history_max_age, Duration::from_secs(3600));
        assert_eq!(c.history_max_bytes, 1024);
    }

    #[test]
    fn bad_values_are_errors() {
        for bad in [
            "history_topic a/#/b",
            "history_topic $share/g/a",
            "history_topic",
            "history_max_bytes 1000000000",
            "trajectory_max_age 0",
            "trajectory_max_age 2y",
        ] {
            assert!(Config::parse_str(bad, "c.conf").is_err(), "{bad}");
        }
    }
}

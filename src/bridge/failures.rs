//! Which failed connects of a link get a log line. A bridge retries
//! forever (README.md, ## Bridge, "The link"): a remote that is down for a
//! day, or a CA file that does not fit, must not write a line per attempt,
//! and a new reason must not wait for the interval.
//!
//! Owns: the last reason and its repeats. Sans-IO: the caller passes `now`
//! and logs the lines it gets, each with the bridge's name.

use std::time::{Duration, Instant};

use crate::logging::RateLimitedLog;

/// At most one line per interval while attempts fail the same way.
pub const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// One bridge's connect failures.
#[derive(Debug)]
pub struct ConnectFailures {
    interval: Duration,
    limiter: RateLimitedLog,
    /// The last reason, logged or not; empty before the first failure.
    last: String,
}

impl Default for ConnectFailures {
    fn default() -> Self {
        ConnectFailures::new(FAILURE_LOG_INTERVAL)
    }
}

impl ConnectFailures {
    pub fn new(interval: Duration) -> Self {
        ConnectFailures {
            interval,
            limiter: RateLimitedLog::new(interval),
            last: String::new(),
        }
    }

    /// An attempt failed for `why` at `now`: the lines to log, oldest
    /// first (none while the same reason repeats within the interval).
    pub fn failed(&mut self, now: Instant, why: &str) -> Vec<String> {
        let mut lines = Vec::new();
        if self.last != why {
            lines.extend(self.summary());
            self.limiter = RateLimitedLog::new(self.interval);
            self.last = why.to_owned();
        }
        if let Some(unlogged) = self.limiter.should_log(now) {
            lines.push(with_repeats(why, unlogged));
        }
        lines
    }

    /// The link came up: the line for unlogged repeats, if any; the next
    /// failure is news again.
    pub fn succeeded(&mut self) -> Option<String> {
        let line = self.summary();
        *self = ConnectFailures::new(self.interval);
        line
    }

    fn summary(&self) -> Option<String> {
        match self.limiter.suppressed() {
            0 => None,
            n => Some(with_repeats(&self.last, n)),
        }
    }
}

fn with_repeats(why: &str, unlogged: u64) -> String {
    match unlogged {
        0 => why.to_owned(),
        n => format!("{why} (and {n} more attempts since the last line)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn repeats_are_summarised_and_news_is_told_at_once() {
        let t0 = Instant::now();
        let mut f = ConnectFailures::new(60 * S);
        assert_eq!(f.failed(t0, "refused"), ["refused"]);
        assert!(f.failed(t0 + 2 * S, "refused").is_empty());
        assert!(f.failed(t0 + 4 * S, "refused").is_empty());
        assert_eq!(
            f.failed(t0 + 61 * S, "refused"),
            ["refused (and 2 more attempts since the last line)"]
        );
        assert!(f.failed(t0 + 62 * S, "refused").is_empty());
        // A new reason: the old one's repeats, then the new one, at once.
        assert_eq!(
            f.failed(t0 + 63 * S, "bad certificate"),
            [
                "refused (and 1 more attempts since the last line)",
                "bad certificate"
            ]
        );
        assert!(f.failed(t0 + 64 * S, "bad certificate").is_empty());
        assert_eq!(
            f.succeeded().as_deref(),
            Some("bad certificate (and 1 more attempts since the last line)")
        );
        assert_eq!(
            f.failed(t0 + 65 * S, "bad certificate"),
            ["bad certificate"]
        );
        assert_eq!(f.succeeded(), None);
    }
}

//! A rate limiter for log lines that a flood could repeat: sans-IO, it
//! reads no clock; the caller passes `now`.

use std::time::{Duration, Instant};

/// How often a repeated event may produce a log line by default.
pub const DEFAULT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Decides which occurrences of one repeated event (a dropped message, a
/// refused connection) get a log line: the first, then at most one per
/// interval, which reports how many were suppressed in between.
///
/// One instance per event kind (and per client where the line names it).
#[derive(Debug, Clone)]
pub struct RateLimitedLog {
    interval: Duration,
    /// When the last line was allowed; `None` before the first event.
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    pub fn new(interval: Duration) -> Self {
        RateLimitedLog {
            interval,
            last_logged: None,
            suppressed: 0,
        }
    }

    /// Called on each occurrence. `Some(n)`: log this one, and say that `n`
    /// earlier occurrences were not logged. `None`: stay quiet (counted).
    pub fn should_log(&mut self, now: Instant) -> Option<u64> {
        if self.interval_elapsed(now) {
            self.last_logged = Some(now);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed = self.suppressed.saturating_add(1);
            None
        }
    }

    /// For a periodic sweep: when occurrences were suppressed and the
    /// interval has passed without a new one, `Some(n)` to log a summary
    /// line ("n more"). That line counts as this interval's line.
    pub fn poll_summary(&mut self, now: Instant) -> Option<u64> {
        if self.suppressed == 0 || !self.interval_elapsed(now) {
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }

    /// Occurrences not logged yet.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    fn interval_elapsed(&self, now: Instant) -> bool {
        match self.last_logged {
            None => true,
            // A `now` earlier than the last line (a caller mixing clocks)
            // counts as no time passed: quiet, never a panic.
            Some(last) => now.saturating_duration_since(last) >= self.interval,
        }
    }
}

impl Default for RateLimitedLog {
    fn default() -> Self {
        RateLimitedLog::new(DEFAULT_LOG_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn first_logs_then_counts_then_reports() {
        let t0 = Instant::now();
        let mut r = RateLimitedLog::new(10 * S);
        assert_eq!(r.should_log(t0), Some(0));
        assert_eq!(r.should_log(t0), None);
        assert_eq!(r.should_log(t0 + 5 * S), None);
        assert_eq!(r.should_log(t0 + 9 * S), None);
        assert_eq!(r.suppressed(), 3);
        assert_eq!(r.should_log(t0 + 10 * S), Some(3));
        assert_eq!(r.suppressed(), 0);
        assert_eq!(r.should_log(t0 + 11 * S), None);
        assert_eq!(r.should_log(t0 + 20 * S), Some(1));
        assert_eq!(r.should_log(t0 + 100 * S), Some(0));
    }

    #[test]
    fn summary_after_a_quiet_interval() {
        let t0 = Instant::now();
        let mut r = RateLimitedLog::new(10 * S);
        assert_eq!(r.poll_summary(t0), None);
        assert_eq!(r.should_log(t0), Some(0));
        assert_eq!(r.poll_summary(t0 + 20 * S), None, "nothing suppressed");
        assert_eq!(r.should_log(t0 + 1 * S), None);
        assert_eq!(r.should_log(t0 + 2 * S), None);
        assert_eq!(r.poll_summary(t0 + 9 * S), None, "interval not over");
        assert_eq!(r.poll_summary(t0 + 10 * S), Some(2));
        assert_eq!(r.poll_summary(t0 + 30 * S), None);
        // The summary used this interval's line.
        assert_eq!(r.should_log(t0 + 11 * S), None);
        assert_eq!(r.should_log(t0 + 20 * S), Some(1));
    }

    #[test]
    fn time_going_backwards_is_quiet() {
        let t0 = Instant::now() + 100 * S;
        let mut r = RateLimitedLog::new(10 * S);
        assert_eq!(r.should_log(t0), Some(0));
        assert_eq!(r.should_log(t0 - 50 * S), None);
        assert_eq!(r.should_log(t0 + 10 * S), Some(1));
    }

    #[test]
    fn zero_interval_logs_everything() {
        let t0 = Instant::now();
        let mut r = RateLimitedLog::new(Duration::ZERO);
        assert_eq!(r.should_log(t0), Some(0));
        assert_eq!(r.should_log(t0), Some(0));
    }
}

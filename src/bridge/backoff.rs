//! Reconnect delays: `restart_timeout BASE CAP` doubles from BASE up to
//! CAP, each delay drawn uniformly from its upper half (jitter), so a fleet
//! of edges that lost the cloud together does not come back in step.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    /// xorshift64 state; never 0.
    state: u64,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Backoff {
        Backoff {
            base,
            cap: cap.max(base),
            attempt: 0,
            state: seed | 1,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(16)).unwrap_or(u32::MAX);
        let full = self.base.saturating_mul(factor).min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        // Uniform in [full/2, full].
        let half = full / 2;
        let span = u64::try_from(full.saturating_sub(half).as_millis()).unwrap_or(u64::MAX);
        let jitter = if span == 0 {
            0
        } else {
            self.random() % (span + 1)
        };
        half + Duration::from_millis(jitter)
    }

    /// A link came up: the next failure starts from BASE again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    fn random(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_with_jitter_in_the_upper_half() {
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(30), 42);
        let fulls = [5, 10, 20, 30, 30, 30];
        for full in fulls {
            let d = b.next_delay();
            let full = Duration::from_secs(full);
            assert!(d >= full / 2 && d <= full, "{d:?} vs {full:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(5));
    }
}

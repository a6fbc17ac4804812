//! A token bucket for the rate limits (docs/design.md ## Limits):
//! `max_connection_rate` per listener, `max_publish_rate` and
//! `max_publish_bytes_rate` per client.
//!
//! Sans-IO: every call takes `now`; nothing here reads a clock. A rate of
//! N per second refills continuously and holds at most N tokens, its
//! burst. The whole state is one instant, when the bucket is full again
//! (the "theoretical arrival time" of the generic cell rate algorithm):
//! there is no counter to refill and no float. Invariants that follow:
//! time that stands still or goes backwards never adds a token, and a
//! jump forward never fills the bucket past its burst.
//!
//! [`TokenBucket::take`] may go into debt: a packet that was already read
//! is charged in full, and its sender waits ([`TokenBucket::wait`]) until
//! the bucket holds a token again.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// N tokens per second, at most N held; never 0 (a rate of 0 is "no
/// limit", which has no bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    per_second: NonZeroU32,
}

impl Rate {
    /// `None` for 0: the limit is off.
    pub fn per_second(n: u32) -> Option<Rate> {
        NonZeroU32::new(n).map(|per_second| Rate { per_second })
    }

    pub fn get(self) -> u32 {
        self.per_second.get()
    }

    /// The most tokens the bucket holds.
    fn burst(self) -> u64 {
        u64::from(self.per_second.get())
    }

    /// How long `tokens` take to refill. At most 2^64 tokens at 1 per
    /// second: the nanoseconds fit a `u128`, and a `u64` beyond any
    /// packet's cost (the largest PUBLISH is 256 MiB).
    fn refill_time(self, tokens: u64) -> Duration {
        let nanos = u128::from(tokens) * NANOS_PER_SEC / u128::from(self.per_second.get());
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// One bucket; its rate is passed in with each call, so that a reload
/// can change it without touching the buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenBucket {
    /// When the bucket is full again; `None`: never taken from (full).
    full_at: Option<Instant>,
}

impl TokenBucket {
    /// Takes `tokens`, going into debt when the bucket holds fewer.
    pub fn take(&mut self, now: Instant, tokens: u64, rate: Rate) {
        // A bucket that filled up before `now` starts from full, not from
        // the past: idle time beyond the burst is not saved up.
        let from = match self.full_at {
            Some(at) if at > now => at,
            _ => now,
        };
        // Instants are 64-bit seconds: adding at most 2^64 ns cannot
        // overflow; `from` only stands where a panic would.
        self.full_at = Some(from.checked_add(rate.refill_time(tokens)).unwrap_or(from));
    }

    /// Takes `tokens` only when the bucket holds them (a full bucket
    /// always gives, even more than its burst).
    pub fn try_take(&mut self, now: Instant, tokens: u64, rate: Rate) -> bool {
        if !self.wait(now, tokens, rate).is_zero() {
            return false;
        }
        self.take(now, tokens, rate);
        true
    }

    /// How long until the bucket holds `tokens`; zero when it does now.
    pub fn wait(&self, now: Instant, tokens: u64, rate: Rate) -> Duration {
        let until_full = self
            .full_at
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(now));
        let slack = rate.refill_time(rate.burst().saturating_sub(tokens));
        until_full.saturating_sub(slack)
    }

    /// Whether the bucket holds its whole burst at `now`.
    pub fn is_full(&self, now: Instant) -> bool {
        self.full_at.is_none_or(|at| at <= now)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rate(n: u32) -> Rate {
        Rate::per_second(n).unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// How many single tokens the bucket gives at `now`, taking them.
    fn drain(bucket: &mut TokenBucket, now: Instant, r: Rate) -> u32 {
        let mut n = 0;
        while n < 1_000_000 && bucket.try_take(now, 1, r) {
            n += 1;
        }
        n
    }

    #[test]
    fn zero_is_no_rate() {
        assert!(Rate::per_second(0).is_none());
        assert_eq!(rate(7).get(), 7);
    }

    #[test]
    fn a_full_bucket_gives_its_burst_then_nothing() {
        let (r, t0) = (rate(5), Instant::now());
        let mut b = TokenBucket::default();
        assert!(b.is_full(t0));
        assert_eq!(drain(&mut b, t0, r), 5);
        assert!(!b.is_full(t0));
        assert_eq!(b.wait(t0, 1, r), ms(200));
    }

    #[test]
    fn it_refills_at_its_rate() {
        let (r, t0) = (rate(5), Instant::now());
        let mut b = TokenBucket::default();
        drain(&mut b, t0, r);
        assert_eq!(drain(&mut b, t0 + ms(199), r), 0);
        assert_eq!(drain(&mut b, t0 + ms(200), r), 1);
        assert_eq!(drain(&mut b, t0 + ms(600), r), 2);
        // Full again one second after the last take, not before.
        assert!(!b.is_full(t0 + ms(1599)));
        assert!(b.is_full(t0 + ms(1600)));
        assert_eq!(drain(&mut b, t0 + ms(1600), r), 5);
    }

    #[test]
    fn idle_time_is_not_saved_up_past_the_burst() {
        let (r, t0) = (rate(5), Instant::now());
        let mut b = TokenBucket::default();
        drain(&mut b, t0, r);
        // A jump far forward (a suspended box, a long idle spell).
        let later = t0 + Duration::from_secs(10 * 365 * 86_400);
        assert!(b.is_full(later));
        assert_eq!(drain(&mut b, later, r), 5);
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let (r, t0) = (rate(5), Instant::now() + Duration::from_secs(10));
        let mut b = TokenBucket::default();
        drain(&mut b, t0, r);
        let earlier = t0 - Duration::from_secs(5);
        assert_eq!(drain(&mut b, earlier, r), 0);
        assert!(!b.is_full(earlier));
        assert_eq!(b.wait(earlier, 1, r), Duration::from_secs(5) + ms(200));
        // A debt taken at an earlier `now` still counts from where it stood.
        b.take(earlier, 1, r);
        assert_eq!(b.wait(t0, 1, r), ms(400));
        assert_eq!(drain(&mut b, t0 + ms(400), r), 1);
    }

    #[test]
    fn a_debt_is_waited_for() {
        // 1,000 bytes per second, a 2,500-byte packet read at once.
        let (r, t0) = (rate(1000), Instant::now());
        let mut b = TokenBucket::default();
        b.take(t0, 2500, r);
        // In debt by 1,500: 1.5 s to pay it back, 1 ms more for one byte.
        assert_eq!(b.wait(t0, 1, r), ms(1501));
        assert!(b.wait(t0 + ms(1501), 1, r).is_zero());
        assert!(b.is_full(t0 + ms(2500)));
    }

    #[test]
    fn a_request_over_the_burst_takes_a_full_bucket() {
        let (r, t0) = (rate(10), Instant::now());
        let mut b = TokenBucket::default();
        assert!(b.try_take(t0, 50, r));
        assert!(!b.try_take(t0 + Duration::from_secs(4), 50, r));
        assert!(b.try_take(t0 + Duration::from_secs(5), 50, r));
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let t0 = Instant::now();
        for r in [rate(1), rate(u32::MAX)] {
            let mut b = TokenBucket::default();
            b.take(t0, u64::MAX, r);
            b.take(t0, u64::MAX, r);
            let _ = b.wait(t0, u64::MAX, r);
            let _ = b.try_take(t0, 0, r);
            assert!(!b.is_full(t0) || r.get() == u32::MAX);
        }
    }
}

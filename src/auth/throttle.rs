//! Login throttling (docs/security.md, "Throttling"): after
//! `auth_fail_limit` failed credential checks from one address within
//! `auth_fail_window`, every CONNECT from that address is refused without
//! a check for `auth_fail_delay`. Then the address gets `auth_fail_limit`
//! more tries.
//!
//! What counts as one address: an IPv4 address, or an IPv6 /64 (one
//! host's or one LAN's prefix: a single attacker holds a whole /64, so
//! counting its addresses one by one would count nothing). Unix socket
//! peers have no address and are not throttled.
//!
//! Sans-IO (every call takes `now`). Bounded: at most [`MAX_ADDRESSES`]
//! addresses are remembered; a new one past that pushes out the one whose
//! last failure is oldest (counted). A success does not clear an address's
//! failures: otherwise one valid account would let its holder guess
//! others' passwords without limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Addresses remembered at once: a few dozen bytes each. An attacker with
/// more addresses than this pushes out the oldest and is throttled less;
/// the table stays bounded regardless.
pub const MAX_ADDRESSES: usize = 1024;

/// `auth_fail_limit`, `auth_fail_window`, `auth_fail_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failures that block an address; 0 turns throttling off.
    pub limit: u32,
    pub window: Duration,
    pub delay: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            limit: 5,
            window: Duration::from_secs(60),
            delay: Duration::from_secs(10),
        }
    }
}

/// The key an address is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    V4([u8; 4]),
    /// The /64 prefix.
    V6([u8; 8]),
}

impl Key {
    fn of(ip: IpAddr) -> Key {
        match ip {
            IpAddr::V4(v4) => Key::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Key::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    Key::V6([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
                }
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Failures since `window_start`.
    failures: u32,
    window_start: Instant,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

/// What a failure did to its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Still below the limit.
    Counted,
    /// This failure reached the limit: blocked from now.
    Blocked,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    settings: ThrottleSettings,
    entries: HashMap<Key, Entry>,
    /// Addresses pushed out by newer ones at [`MAX_ADDRESSES`].
    evicted: u64,
}

impl LoginThrottle {
    pub fn new(settings: ThrottleSettings) -> LoginThrottle {
        LoginThrottle {
            settings,
            entries: HashMap::new(),
            evicted: 0,
        }
    }

    /// New settings (SIGHUP); what each address has counted stays.
    pub fn set_settings(&mut self, settings: ThrottleSettings) {
        self.settings = settings;
        if settings.limit == 0 {
            self.entries.clear();
        }
    }

    /// `Some(remaining)` when `ip` is blocked at `now`.
    pub fn blocked(&self, now: Instant, ip: IpAddr) -> Option<Duration> {
        let until = self.entries.get(&Key::of(ip))?.blocked_until?;
        (now < until).then(|| until - now)
    }

    /// Counts a failed check from `ip`.
    pub fn record_failure(&mut self, now: Instant, ip: IpAddr) -> AfterFailure {
        let ThrottleSettings {
            limit,
            window,
            delay,
        } = self.settings;
        if limit == 0 {
            return AfterFailure::Counted;
        }
        let key = Key::of(ip);
        if !self.entries.contains_key(&key) && self.entries.len() >= MAX_ADDRESSES {
            self.evict_oldest();
        }
        let entry = self.entries.entry(key).or_insert(Entry {
            failures: 0,
            window_start: now,
            last_failure: now,
            blocked_until: None,
        });
        if now.saturating_duration_since(entry.window_start) > window {
            entry.failures = 0;
            entry.window_start = now;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        if entry.failures < limit {
            return AfterFailure::Counted;
        }
        // Blocked; after the delay a fresh window of `limit` tries.
        entry.blocked_until = Some(now + delay);
        entry.failures = 0;
        entry.window_start = now + delay;
        AfterFailure::Blocked
    }

    /// Forgets addresses with nothing left to remember: no block running
    /// and no failure within the window. Called from the periodic sweep.
    pub fn sweep(&mut self, now: Instant) {
        let window = self.settings.window;
        self.entries.retain(|_, e| {
            let blocking = e.blocked_until.is_some_and(|until| now < until);
            blocking || now.saturating_duration_since(e.last_failure) <= window
        });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// O(MAX_ADDRESSES), and only when the table is full and a new address
    /// fails: cheaper than keeping an order on every failure.
    fn evict_oldest(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.last_failure)
            .map(|(k, _)| *k);
        if let Some(key) = oldest {
            self.entries.remove(&key);
            self.evicted += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn throttle(limit: u32) -> LoginThrottle {
        LoginThrottle::new(ThrottleSettings {
            limit,
            window: Duration::from_secs(60),
            delay: Duration::from_secs(10),
        })
    }

    #[test]
    fn blocks_after_the_limit_for_the_delay() {
        let t0 = Instant::now();
        let mut t = throttle(5);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for i in 0..4 {
            assert_eq!(t.record_failure(t0 + ms(i), ip), AfterFailure::Counted);
            assert_eq!(t.blocked(t0 + ms(i), ip), None);
        }
        assert_eq!(t.record_failure(t0 + ms(4), ip), AfterFailure::Blocked);
        assert_eq!(t.blocked(t0 + ms(4), ip), Some(Duration::from_secs(10)));
        assert!(t.blocked(t0 + ms(10_003), ip).is_some());
        assert_eq!(t.blocked(t0 + ms(10_004), ip), None);
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(t.blocked(t0 + ms(5), other), None);
        // After the delay, `limit` more tries.
        for i in 0..4 {
            let now = t0 + ms(10_010 + i);
            assert_eq!(t.record_failure(now, ip), AfterFailure::Counted);
        }
        assert_eq!(t.record_failure(t0 + ms(10_020), ip), AfterFailure::Blocked);
    }

    #[test]
    fn failures_outside_the_window_start_over() {
        let t0 = Instant::now();
        let mut t = throttle(3);
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        t.record_failure(t0, ip);
        t.record_failure(t0 + ms(1), ip);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(t.record_failure(later, ip), AfterFailure::Counted);
        assert_eq!(t.record_failure(later, ip), AfterFailure::Counted);
        assert_eq!(t.record_failure(later, ip), AfterFailure::Blocked);
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_ipv4_as_ipv4() {
        let t0 = Instant::now();
        let mut t = throttle(2);
        t.record_failure(t0, "2001:db8:1:2::1".parse().unwrap());
        t.record_failure(t0, "2001:db8:1:2:ffff::9".parse().unwrap());
        assert!(t.blocked(t0, "2001:db8:1:2::77".parse().unwrap()).is_some());
        assert!(t.blocked(t0, "2001:db8:1:3::1".parse().unwrap()).is_none());
        t.record_failure(t0, "::ffff:10.0.0.1".parse().unwrap());
        t.record_failure(t0, "10.0.0.1".parse().unwrap());
        assert!(t.blocked(t0, "10.0.0.1".parse().unwrap()).is_some());
    }

    #[test]
    fn the_table_is_capped_oldest_out() {
        let t0 = Instant::now();
        let mut t = throttle(2);
        let first: IpAddr = "10.255.255.255".parse().unwrap();
        t.record_failure(t0, first);
        for i in 0..MAX_ADDRESSES {
            let ip = IpAddr::from(u32::try_from(i).unwrap().to_be_bytes());
            t.record_failure(t0 + ms(1 + u64::try_from(i).unwrap()), ip);
        }
        assert_eq!(t.len(), MAX_ADDRESSES);
        assert_eq!(t.evicted(), 1);
        // `first` was pushed out: its one failure is forgotten.
        assert_eq!(
            t.record_failure(t0 + ms(5000), first),
            AfterFailure::Counted
        );
        assert_eq!(t.len(), MAX_ADDRESSES);
    }

    #[test]
    fn sweep_forgets_and_zero_turns_it_off() {
        let t0 = Instant::now();
        let mut t = throttle(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        t.record_failure(t0, ip);
        t.sweep(t0 + Duration::from_secs(30));
        assert_eq!(t.len(), 1);
        t.sweep(t0 + Duration::from_secs(61));
        assert!(t.is_empty());
        t.record_failure(t0, ip);
        t.record_failure(t0, ip);
        t.sweep(t0 + Duration::from_secs(9));
        assert!(t.blocked(t0 + Duration::from_secs(9), ip).is_some());
        let mut off = throttle(0);
        for _ in 0..100 {
            assert_eq!(off.record_failure(t0, ip), AfterFailure::Counted);
        }
        assert!(off.blocked(t0, ip).is_none() && off.is_empty());
        t.set_settings(ThrottleSettings {
            limit: 0,
            ..ThrottleSettings::default()
        });
        assert!(t.blocked(t0, ip).is_none());
    }
}

//! 1, 5 and 15-minute load averages of messages and bytes received and
//! sent, as mosquitto publishes them under `$SYS/broker/load/`: each an
//! exponentially weighted moving average of the per-minute rate, updated
//! from the counters at each tick (`exp(-dt/T)` weights, the Unix load
//! average's form, so the tick need not be regular).
//!
//! Sans-IO: driven by the `now` it is given.

use std::time::{Duration, Instant};

/// The four totals a load average is kept for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub messages_received: u64,
    pub messages_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
}

impl Totals {
    fn as_array(self) -> [u64; 4] {
        [
            self.messages_received,
            self.messages_sent,
            self.bytes_received,
            self.bytes_sent,
        ]
    }
}

/// The windows, in seconds.
const WINDOWS: [f64; 3] = [60.0, 300.0, 900.0];

/// Per minute, for [messages received, messages sent, bytes received,
/// bytes sent] × [1 min, 5 min, 15 min].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Loads(pub [[f64; 3]; 4]);

/// Below this a tick is not taken: a rate over a few milliseconds says
/// nothing.
const MIN_TICK: Duration = Duration::from_secs(1);

/// `value` with two decimals, by integer arithmetic: formatting floats
/// with a precision links code the flash budget does not need.
pub fn two_decimals(value: f64) -> String {
    let value = if value.is_finite() {
        value.max(0.0)
    } else {
        0.0
    };
    let hundredths = (value * 100.0).round() as u64;
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

#[derive(Debug, Default)]
pub struct LoadTracker {
    last: Option<(Instant, Totals)>,
    loads: Loads,
    /// Messages received per second over the last tick (systemd's STATUS=).
    last_rate: f64,
}

impl LoadTracker {
    /// Folds the totals at `now` into the averages.
    pub fn tick(&mut self, now: Instant, totals: Totals) {
        let Some((at, before)) = self.last else {
            self.last = Some((now, totals));
            return;
        };
        let dt = now.saturating_duration_since(at);
        if dt < MIN_TICK {
            return;
        }
        let secs = dt.as_secs_f64();
        let deltas = totals.as_array();
        let befores = before.as_array();
        for ((loads, now_total), before_total) in self.loads.0.iter_mut().zip(deltas).zip(befores) {
            let per_minute = now_total.saturating_sub(before_total) as f64 * 60.0 / secs;
            for (load, window) in loads.iter_mut().zip(WINDOWS) {
                let decay = (-secs / window).exp();
                *load = *load * decay + per_minute * (1.0 - decay);
            }
        }
        self.last_rate = totals
            .messages_received
            .saturating_sub(before.messages_received) as f64
            / secs;
        self.last = Some((now, totals));
    }

    pub fn loads(&self) -> Loads {
        self.loads
    }

    pub fn messages_per_second(&self) -> f64 {
        self.last_rate
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_rate_converges_and_the_short_window_leads() {
        let start = Instant::now();
        let mut t = LoadTracker::default();
        let mut totals = Totals::default();
        t.tick(start, totals);
        // 10 messages a second = 600 a minute, for 10 minutes.
        for step in 1..=60u64 {
            totals.messages_received += 100;
            t.tick(start + Duration::from_secs(step * 10), totals);
        }
        let [one, five, fifteen] = t.loads().0[0];
        assert!((one - 600.0).abs() < 1.0, "{one}");
        assert!(five > 500.0 && five < one, "{five}");
        // After 10 minutes the 15-minute average has 1 - e^(-2/3) of the rate.
        assert!(
            (fifteen - 600.0 * (1.0 - (-600.0f64 / 900.0).exp())).abs() < 1.0,
            "{fifteen}"
        );
        assert!((t.messages_per_second() - 10.0).abs() < 1e-9);
        assert_eq!(t.loads().0[1], [0.0; 3]);
    }

    #[test]
    fn two_decimals_rounds() {
        assert_eq!(two_decimals(1.005 + 1e-9), "1.01");
        assert_eq!(two_decimals(600.0), "600.00");
        assert_eq!(two_decimals(0.004), "0.00");
        assert_eq!(two_decimals(f64::NAN), "0.00");
        assert_eq!(two_decimals(-3.0), "0.00");
    }

    #[test]
    fn ticks_closer_than_a_second_are_ignored() {
        let start = Instant::now();
        let mut t = LoadTracker::default();
        t.tick(start, Totals::default());
        let busy = Totals {
            messages_received: 1000,
            ..Totals::default()
        };
        t.tick(start + Duration::from_millis(10), busy);
        assert_eq!(t.loads(), Loads::default());
    }
}

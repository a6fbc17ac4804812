//! What a scenario measures besides its own counters: the broker's memory
//! and CPU from /proc, the generator's own CPU (to show it is not the
//! bottleneck), latency percentiles, and the one JSON line it prints.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// How often the memory sampler reads the broker's RSS.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// A `/proc/PID/status` field in KiB (VmRSS, VmHWM).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// User plus system CPU seconds of a process ("self" for this one).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_S)
}

/// CPU use of the broker and of the generator over one measured interval.
pub struct CpuMeter {
    broker: Option<u32>,
    broker_start: Option<f64>,
    own_start: Option<f64>,
}

impl CpuMeter {
    pub fn start(broker: Option<u32>) -> CpuMeter {
        CpuMeter {
            broker,
            broker_start: broker.and_then(|p| cpu_seconds(&p.to_string())),
            own_start: cpu_seconds("self"),
        }
    }

    /// The broker's CPU seconds when the meter started.
    pub fn broker_start(&self) -> Option<f64> {
        self.broker_start
    }

    /// (broker, generator) CPU as a percentage of one core over `wall_s`.
    pub fn stop(&self, wall_s: f64, json: &mut Json) {
        let pct = |start: Option<f64>, now: Option<f64>| match (start, now) {
            (Some(a), Some(b)) if wall_s > 0.0 => Some(100.0 * (b - a) / wall_s),
            _ => None,
        };
        let broker_now = self.broker.and_then(|p| cpu_seconds(&p.to_string()));
        if let Some(p) = pct(self.broker_start, broker_now) {
            json.float("broker_cpu_pct", p);
        }
        if let Some(p) = pct(self.own_start, cpu_seconds("self")) {
            json.float("gen_cpu_pct", p);
        }
    }
}

/// Samples the broker's RSS in the background and keeps the peak.
pub struct PeakRss {
    stop: Arc<AtomicBool>,
    /// KiB; 32 bits (4 TiB) keep it portable to 32-bit MIPS.
    peak: Arc<AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

impl PeakRss {
    pub fn start(pid: Option<u32>) -> PeakRss {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU32::new(0));
        let thread = pid.map(|pid| {
            let (stop, peak) = (stop.clone(), peak.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = rss_kib(pid) {
                        peak.fetch_max(u32::try_from(kib).unwrap_or(u32::MAX), Ordering::Relaxed);
                    }
                    thread::sleep(SAMPLE_EVERY);
                }
            })
        });
        PeakRss { stop, peak, thread }
    }

    pub fn stop(mut self, json: &mut Json) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
            json.int("rss_peak_kib", u64::from(self.peak.load(Ordering::Relaxed)));
        }
    }
}

/// The value at quantile `q` (0..=1) of sorted `values`.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let last = sorted.len() - 1;
    let rank = ((last as f64) * q).round() as usize;
    sorted.get(rank.min(last)).copied().unwrap_or(0)
}

/// One flat JSON object, written by hand: keys are fixed identifiers and
/// the only strings are labels, escaped minimally.
pub struct Json(String);

impl Json {
    pub fn new(scenario: &str, label: &str) -> Json {
        let mut json = Json(String::from("{"));
        json.text("scenario", scenario);
        json.text("broker", label);
        json
    }

    fn key(&mut self, key: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        let _ = write!(self.0, "\"{key}\":");
    }

    pub fn text(&mut self, key: &str, value: &str) {
        self.key(key);
        self.0.push('"');
        for c in value.chars() {
            match c {
                '"' | '\\' => {
                    self.0.push('\\');
                    self.0.push(c);
                }
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.0, "\\u{:04x}", c as u32);
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
    }

    pub fn int(&mut self, key: &str, value: u64) {
        self.key(key);
        let _ = write!(self.0, "{value}");
    }

    pub fn float(&mut self, key: &str, value: f64) {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.0, "{value:.3}");
        } else {
            self.0.push_str("null");
        }
    }

    pub fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line() {
        let mut j = Json::new("fanin", "a\"b");
        j.int("n", 3);
        j.float("r", 1.5);
        assert_eq!(
            j.finish(),
            r#"{"scenario":"fanin","broker":"a\"b","n":3,"r":1.500}"#
        );
    }

    #[test]
    fn percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 51);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}

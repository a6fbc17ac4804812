//! Alerts (README.md, "Operating edgemq"; docs/observability.md): rules
//! `alert NAME METRIC OP VALUE [for DURATION]` over a few of the broker's
//! numbers, each an idle → pending → active → ending → idle state machine,
//! and the last [`MAX_ENDED`] alerts that ended.
//!
//! Sans-IO like the rest of `sys/`: [`Alerts::evaluate`] is handed `now`,
//! the wall clock and a [`Sample`] of plain numbers, and returns the
//! alerts that started or ended; the broker (`broker/observe.rs`) logs
//! them and publishes `$SYS/alerts/{name}`.
//!
//! Invariant: an alert starts only once its condition has held for the
//! rule's duration at every evaluation, and ends only once it has been
//! false for that long; a metric with no value (no store, no /proc) makes
//! the condition false.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::json::{Array, Object};

/// Rules at most: each is evaluated every [`ALERT_TICK`], and a snapshot
/// of the broker is taken for them.
pub const MAX_ALERTS: usize = 64;

/// Ended alerts kept for the API (memory only): enough for a day of an
/// alert flapping every quarter hour.
pub const MAX_ENDED: usize = 100;

/// A rule's name: a `$SYS/alerts/` topic level, so no wildcards or `/`.
const MAX_NAME: usize = 64;

/// The longest `for`: a condition held for a day is no longer news.
pub const MAX_HOLD: Duration = Duration::from_secs(86_400);

/// How often the rules are evaluated: a `for 1s` rule is then at most a
/// second late, and a rate is measured over at least a second.
pub const ALERT_TICK: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Connections,
    Sessions,
    Subscriptions,
    PublishRate,
    DroppedRate,
    StoreBytes,
    RssBytes,
    BridgeQueued,
}

const METRICS: [(&str, Metric); 8] = [
    ("connections", Metric::Connections),
    ("sessions", Metric::Sessions),
    ("subscriptions", Metric::Subscriptions),
    ("publish_rate", Metric::PublishRate),
    ("dropped_rate", Metric::DroppedRate),
    ("store_bytes", Metric::StoreBytes),
    ("rss_bytes", Metric::RssBytes),
    ("bridge_queued", Metric::BridgeQueued),
];

impl Metric {
    pub fn name(self) -> &'static str {
        METRICS
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("?", |(n, _)| n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }

    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
        }
    }

    /// The worse of two values: the peak of a `>` alert is its highest.
    fn worse(self, a: f64, b: f64) -> f64 {
        match self {
            Op::Gt | Op::Ge => a.max(b),
            Op::Lt | Op::Le => a.min(b),
        }
    }
}

/// One `alert` line.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub metric: Metric,
    pub op: Op,
    pub threshold: f64,
    pub hold: Duration,
}

impl AlertRule {
    /// `NAME METRIC OP VALUE [for DURATION]`; the duration is parsed by
    /// the caller's reader (`duration`), which knows the units.
    pub fn parse(
        args: &[&str],
        duration: impl Fn(&str) -> Result<Duration, String>,
    ) -> Result<AlertRule, String> {
        let (name, metric, op, value, hold) = match args {
            [n, m, o, v] => (n, m, o, v, None),
            [n, m, o, v, f, d] if f.eq_ignore_ascii_case("for") => (n, m, o, v, Some(d)),
            _ => return Err("expected NAME METRIC OP VALUE [for DURATION]".to_owned()),
        };
        let name_ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
        if name.is_empty() || name.len() > MAX_NAME || !name.chars().all(name_ok) {
            return Err(format!(
                "'{}': a name is 1 to {MAX_NAME} letters, digits, '_', '-' or '.'",
                name.escape_debug()
            ));
        }
        let metric = METRICS
            .iter()
            .find(|(n, _)| n == metric)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                let names: Vec<&str> = METRICS.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown metric '{}' (one of {})",
                    metric.escape_debug(),
                    names.join(", ")
                )
            })?;
        let op = match *op {
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            other => {
                return Err(format!(
                    "unknown operator '{}' (one of >, >=, <, <=)",
                    other.escape_debug()
                ))
            }
        };
        let threshold = decimal(value)
            .ok_or_else(|| format!("'{}' is not a number ≥ 0", value.escape_debug()))?;
        let hold = match hold {
            Some(d) => duration(d)?,
            None => Duration::ZERO,
        };
        Ok(AlertRule {
            name: (*name).to_owned(),
            metric,
            op,
            threshold,
            hold,
        })
    }
}

/// Powers of ten a [`decimal`] divides by: each exact in an `f64`.
const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// A rule's VALUE, "a number ≥ 0": digits with an optional fraction
/// (`900`, `1.5`, `.5`). Not `str::parse::<f64>`: std's float parser
/// (exponents, `inf`, `NaN`) and its tables are about 15 KiB of the
/// binary for this one number (README, "Cross builds and size"). At
/// most 18 digits: the digits are one integer, divided by a power of
/// ten, both exact in an `f64` up to 2^53, so that is one rounding.
fn decimal(value: &str) -> Option<f64> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut digits = 0u64;
    let mut count = 0usize;
    for b in whole.bytes().chain(fraction.bytes()) {
        if !b.is_ascii_digit() {
            return None;
        }
        digits = digits.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        count += 1;
    }
    if count >= POW10.len() {
        return None;
    }
    // Exact below 2^53; above it (≥ 9e15) one more rounding, harmless
    // for a threshold.
    Some(digits as f64 / POW10.get(fraction.len())?)
}

/// The broker's numbers at one evaluation. Totals, not rates: the rates
/// are measured here between evaluations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    pub connections: u64,
    pub sessions: u64,
    pub subscriptions: u64,
    pub messages_received: u64,
    pub dropped: u64,
    pub store_bytes: Option<u64>,
    pub rss_bytes: Option<u64>,
    pub bridge_queued: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// The condition is false; `since`: when it was last seen true.
    Idle { since: Option<Instant> },
    /// Started at `started`; `false_since`: when it was first seen false
    /// since it was last true.
    Active {
        started: Instant,
        started_ms: Option<u64>,
        peak: f64,
        false_since: Option<Instant>,
    },
}

/// An alert that ended (or, for [`Alerts::list`], one now active).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub name: String,
    pub metric: Metric,
    pub op: Op,
    pub threshold: f64,
    pub hold: Duration,
    pub state: &'static str,
    pub value: Option<f64>,
    pub peak: Option<f64>,
    pub started: Option<u64>,
    pub ended: Option<u64>,
}

impl AlertRecord {
    /// `$SYS/alerts/{name}`'s payload.
    pub fn payload(&self) -> String {
        let mut out = String::new();
        let mut o = Object::new(&mut out);
        o.str("state", self.state);
        number(&mut o, "value", self.value);
        number(&mut o, "peak", self.peak);
        o.opt_u64("started", self.started)
            .opt_u64("ended", self.ended)
            .end();
        out
    }

    fn write(&self, out: &mut String) {
        let mut o = Object::new(out);
        o.str("name", &self.name)
            .str("metric", self.metric.name())
            .str("op", self.op.symbol());
        number(&mut o, "threshold", Some(self.threshold));
        o.u64("for_ms", millis(self.hold)).str("state", self.state);
        number(&mut o, "value", self.value);
        number(&mut o, "peak", self.peak);
        o.opt_u64("started", self.started)
            .opt_u64("ended", self.ended)
            .end();
    }
}

fn number(o: &mut Object<'_>, key: &str, value: Option<f64>) {
    match value {
        Some(v) => o.f64(key, v),
        None => o.null(key),
    };
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug)]
struct RuleState {
    rule: AlertRule,
    phase: Phase,
    value: Option<f64>,
}

/// The rules, their states, and the alerts that ended.
#[derive(Debug, Default)]
pub struct Alerts {
    rules: Vec<RuleState>,
    ended: VecDeque<AlertRecord>,
    /// The last evaluation and its totals, for the rates.
    last: Option<(Instant, Sample)>,
}

impl Alerts {
    /// Replaces the rules (start, SIGHUP); a rule that did not change
    /// keeps its state, so a reload neither ends nor restarts an alert.
    /// At most [`MAX_ALERTS`] (the config refuses more).
    pub fn install(&mut self, rules: Vec<AlertRule>) {
        let mut old = std::mem::take(&mut self.rules);
        self.rules = rules
            .into_iter()
            .take(MAX_ALERTS)
            .map(|rule| match old.iter().position(|s| s.rule == rule) {
                Some(i) => old.swap_remove(i),
                None => RuleState {
                    rule,
                    phase: Phase::Idle { since: None },
                    value: None,
                },
            })
            .collect();
    }

    /// Whether `rules` are the rules installed, in order.
    pub fn same_rules(&self, rules: &[AlertRule]) -> bool {
        self.rules.len() == rules.len() && self.rules.iter().zip(rules).all(|(s, r)| s.rule == *r)
    }

    /// Whether an evaluation is due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        !self.rules.is_empty()
            && self
                .last
                .is_none_or(|(at, _)| now.saturating_duration_since(at) >= ALERT_TICK)
    }

    /// Evaluates every rule; returns the alerts that started or ended.
    pub fn evaluate(
        &mut self,
        now: Instant,
        wall_ms: Option<u64>,
        sample: Sample,
    ) -> Vec<AlertRecord> {
        let rates = self.last.and_then(|(at, before)| {
            let secs = now.saturating_duration_since(at).as_secs_f64();
            (secs > 0.0).then(|| {
                let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / secs;
                (
                    rate(sample.messages_received, before.messages_received),
                    rate(sample.dropped, before.dropped),
                )
            })
        });
        self.last = Some((now, sample));
        let mut changes = Vec::new();
        for state in &mut self.rules {
            let value = value_of(state.rule.metric, &sample, rates);
            state.value = value;
            if let Some(change) = step(state, now, wall_ms, value) {
                changes.push(change);
            }
        }
        for change in changes.iter().filter(|c| c.state == "ended") {
            if self.ended.len() >= MAX_ENDED {
                self.ended.pop_front();
            }
            self.ended.push_back(change.clone());
        }
        changes
    }

    /// The API's list: each rule (active or idle), then the ended alerts,
    /// newest first. `active`: only active ones (true) or only the rest.
    pub fn list(&self, active: Option<bool>) -> String {
        let mut out = String::with_capacity(256 * (self.rules.len() + self.ended.len()) + 16);
        let mut o = Object::new(&mut out);
        o.raw("alerts", |out| {
            let mut array = Array::new(out);
            let current = self.rules.iter().map(current);
            for record in current.chain(self.ended.iter().rev().cloned()) {
                if active.is_none_or(|a| a == (record.state == "active")) {
                    array.item(|out| record.write(out));
                }
            }
            array.end();
        });
        o.end();
        out
    }
}

fn value_of(metric: Metric, s: &Sample, rates: Option<(f64, f64)>) -> Option<f64> {
    let n = |v: u64| Some(v as f64);
    match metric {
        Metric::Connections => n(s.connections),
        Metric::Sessions => n(s.sessions),
        Metric::Subscriptions => n(s.subscriptions),
        Metric::PublishRate => rates.map(|r| r.0),
        Metric::DroppedRate => rates.map(|r| r.1),
        Metric::StoreBytes => s.store_bytes.map(|v| v as f64),
        Metric::RssBytes => s.rss_bytes.map(|v| v as f64),
        Metric::BridgeQueued => n(s.bridge_queued),
    }
}

fn record(rule: &AlertRule, state: &'static str) -> AlertRecord {
    AlertRecord {
        name: rule.name.clone(),
        metric: rule.metric,
        op: rule.op,
        threshold: rule.threshold,
        hold: rule.hold,
        state,
        value: None,
        peak: None,
        started: None,
        ended: None,
    }
}

fn current(s: &RuleState) -> AlertRecord {
    let mut r = match s.phase {
        Phase::Idle { .. } => record(&s.rule, "idle"),
        Phase::Active {
            started_ms, peak, ..
        } => AlertRecord {
            peak: Some(peak),
            started: started_ms,
            ..record(&s.rule, "active")
        },
    };
    r.value = s.value;
    r
}

/// One rule's step; `Some` when its alert started or ended.
fn step(
    s: &mut RuleState,
    now: Instant,
    wall_ms: Option<u64>,
    value: Option<f64>,
) -> Option<AlertRecord> {
    let rule = &s.rule;
    let held = value.filter(|v| rule.op.holds(*v, rule.threshold));
    let long_enough = |since: Instant| now.saturating_duration_since(since) >= rule.hold;
    match (s.phase, held) {
        (Phase::Idle { .. }, None) => {
            s.phase = Phase::Idle { since: None };
            None
        }
        (Phase::Idle { since }, Some(v)) => {
            let since = since.unwrap_or(now);
            if !long_enough(since) {
                s.phase = Phase::Idle { since: Some(since) };
                return None;
            }
            s.phase = Phase::Active {
                started: now,
                started_ms: wall_ms,
                peak: v,
                false_since: None,
            };
            Some(AlertRecord {
                value: Some(v),
                peak: Some(v),
                started: wall_ms,
                ..record(rule, "active")
            })
        }
        (Phase::Active { peak, .. }, Some(v)) => {
            if let Phase::Active {
                peak: p,
                false_since,
                ..
            } = &mut s.phase
            {
                *p = rule.op.worse(peak, v);
                *false_since = None;
            }
            None
        }
        (
            Phase::Active {
                started,
                started_ms,
                peak,
                false_since,
            },
            None,
        ) => {
            let since = false_since.unwrap_or(now);
            if !long_enough(since) {
                s.phase = Phase::Active {
                    started,
                    started_ms,
                    peak,
                    false_since: Some(since),
                };
                return None;
            }
            s.phase = Phase::Idle { since: None };
            Some(AlertRecord {
                value,
                peak: Some(peak),
                started: started_ms,
                ended: wall_ms,
                ..record(rule, "ended")
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn secs(s: &str) -> Result<Duration, String> {
        s.trim_end_matches('s')
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| "bad".to_owned())
    }

    fn rule(line: &str) -> AlertRule {
        let args: Vec<&str> = line.split_whitespace().collect();
        AlertRule::parse(&args, secs).unwrap()
    }

    fn conns(n: u64) -> Sample {
        Sample {
            connections: n,
            ..Sample::default()
        }
    }

    #[test]
    fn parses_and_refuses() {
        let r = rule("too_many connections > 900 for 30s");
        assert_eq!(r.metric, Metric::Connections);
        assert_eq!(r.op, Op::Gt);
        assert_eq!(r.threshold, 900.0);
        assert_eq!(r.hold, Duration::from_secs(30));
        assert_eq!(rule("low rss_bytes <= 1.5").hold, Duration::ZERO);
        assert_eq!(rule("low rss_bytes <= 1.5").threshold, 1.5);
        assert_eq!(rule("low rss_bytes <= .25").threshold, 0.25);
        assert_eq!(rule("low rss_bytes <= 7.").threshold, 7.0);
        assert_eq!(rule("low rss_bytes <= 0.1").threshold, 0.1);
        assert_eq!(rule("big store_bytes > 50000000").threshold, 50_000_000.0);
        for bad in [
            "a connections > 9 for",
            "a conns > 9",
            "a connections => 9",
            "a connections > -1",
            "a connections > x",
            "a connections > .",
            "a connections > 1.2.3",
            "a connections > +1",
            "a connections > 1e3",
            "a connections > inf",
            "a connections > NaN",
            "a connections > 1234567890123456789",
            "a/b connections > 1",
            "a+ connections > 1",
            "a connections > 1 during 3s",
            "a connections > 1 for 3x",
        ] {
            let args: Vec<&str> = bad.split_whitespace().collect();
            assert!(AlertRule::parse(&args, secs).is_err(), "{bad}");
        }
    }

    #[test]
    fn starts_after_holding_and_ends_after_as_long_false() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut a = Alerts::default();
        a.install(vec![rule("many connections > 2 for 3s")]);
        assert!(a.evaluate(at(0), Some(1000), conns(1)).is_empty());
        // True from 1 s: not yet at 3 s (2 s held), at 4 s it starts.
        assert!(a.evaluate(at(1), Some(2000), conns(3)).is_empty());
        assert!(a.evaluate(at(3), Some(4000), conns(5)).is_empty());
        let started = a.evaluate(at(4), Some(5000), conns(4));
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].state, "active");
        assert_eq!(started[0].started, Some(5000));
        assert!(a.list(Some(true)).contains("\"state\":\"active\""));
        // A blip of false shorter than 3 s does not end it; the peak grows.
        assert!(a.evaluate(at(5), Some(6000), conns(1)).is_empty());
        assert!(a.evaluate(at(6), Some(7000), conns(9)).is_empty());
        assert!(a.evaluate(at(7), Some(8000), conns(0)).is_empty());
        assert!(a.evaluate(at(9), Some(10_000), conns(0)).is_empty());
        let ended = a.evaluate(at(10), Some(11_000), conns(0));
        assert_eq!(ended.len(), 1);
        let e = &ended[0];
        assert_eq!(
            (e.state, e.peak, e.started, e.ended),
            ("ended", Some(9.0), Some(5000), Some(11_000))
        );
        assert_eq!(
            e.payload(),
            "{\"state\":\"ended\",\"value\":0.00,\"peak\":9.00,\"started\":5000,\"ended\":11000}"
        );
        let past = a.list(Some(false));
        assert!(past.contains("\"state\":\"ended\"") && past.contains("\"state\":\"idle\""));
        assert_eq!(a.list(Some(true)), "{\"alerts\":[]}");
    }

    #[test]
    fn a_condition_broken_before_the_duration_starts_nothing() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut a = Alerts::default();
        a.install(vec![rule("x connections >= 2 for 2s")]);
        assert!(a.evaluate(at(0), None, conns(2)).is_empty());
        assert!(a.evaluate(at(1), None, conns(2)).is_empty());
        assert!(a.evaluate(at(2), None, conns(1)).is_empty());
        assert!(a.evaluate(at(3), None, conns(2)).is_empty());
        assert!(a.evaluate(at(4), None, conns(2)).is_empty());
        assert_eq!(a.evaluate(at(5), None, conns(2)).len(), 1);
    }

    #[test]
    fn rates_are_measured_between_evaluations_and_missing_values_are_false() {
        let t0 = Instant::now();
        let mut a = Alerts::default();
        a.install(vec![
            rule("busy publish_rate > 100"),
            rule("store store_bytes < 10"),
        ]);
        let s = |received: u64| Sample {
            messages_received: received,
            ..Sample::default()
        };
        // No rate before a second sample; no store: never true.
        assert!(a.evaluate(t0, None, s(0)).is_empty());
        let second = t0 + Duration::from_secs(2);
        let changes = a.evaluate(second, None, s(300));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].name, "busy");
        assert_eq!(changes[0].value, Some(150.0));
    }

    #[test]
    fn history_is_bounded_and_reload_keeps_unchanged_rules() {
        let t0 = Instant::now();
        let mut a = Alerts::default();
        a.install(vec![rule("f connections > 0"), rule("g sessions > 0")]);
        for i in 0..(2 * MAX_ENDED as u64 + 10) {
            a.evaluate(t0 + Duration::from_secs(i), None, conns(i % 2));
        }
        assert_eq!(a.ended.len(), MAX_ENDED);
        a.evaluate(t0 + Duration::from_secs(1000), None, conns(1));
        a.install(vec![rule("f connections > 0"), rule("g sessions > 5")]);
        assert!(matches!(a.rules[0].phase, Phase::Active { .. }));
        assert_eq!(a.rules[1].rule.threshold, 5.0);
        assert_eq!(a.ended.len(), MAX_ENDED);
    }
}

//! Scalar values of config keys: booleans, bounded integers, durations with
//! mosquitto's units, log levels.
//!
//! Each parser takes one argument as written and returns the typed value or
//! a message saying what was expected; the caller adds file, line and key.
//! Nothing here panics or overflows: numbers are parsed with checked
//! arithmetic and compared against the ceilings in `limits`.

use std::time::Duration;

use log::LevelFilter;

/// `true`/`false`, and `1`/`0` as mosquitto also accepts.
pub(crate) fn boolean(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("expected true or false, got '{v}'")),
    }
}

/// A plain decimal number: digits only, no sign, no suffix.
pub(crate) fn number(v: &str) -> Result<u64, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected a whole number, got '{v}'"));
    }
    v.parse::<u64>()
        .map_err(|_| format!("'{v}' is too large a number"))
}

/// A number in `min..=max`. Above the ceiling the message names it, since
/// the ceiling is a deliberate bound and not a typo check.
pub(crate) fn bounded(v: &str, min: u64, max: u64) -> Result<u64, String> {
    let n = number(v)?;
    if n > max {
        return Err(format!("{n} is above the ceiling of {max}"));
    }
    if n < min {
        return Err(format!("expected a number from {min} to {max}, got {n}"));
    }
    Ok(n)
}

/// What a duration written without a unit means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bare {
    /// A bare number counts seconds (`autosave_interval 1`).
    Seconds,
    /// A unit is required, as for mosquitto's `persistent_client_expiration`
    /// (where `2` could mean anything).
    Refused,
}

/// Seconds per unit: mosquitto's `h d w m y` (a month is 30 days and a year
/// 365, as mosquitto counts them) plus our `s`.
fn unit_seconds(unit: char) -> Option<u64> {
    match unit {
        's' => Some(1),
        'h' => Some(3600),
        'd' => Some(86_400),
        'w' => Some(7 * 86_400),
        'm' => Some(30 * 86_400),
        'y' => Some(365 * 86_400),
        _ => None,
    }
}

/// A duration `N[s|h|d|w|m|y]`, at most `max`.
pub(crate) fn duration(v: &str, bare: Bare, max: Duration) -> Result<Duration, String> {
    const EXPECTED: &str = "a number with a unit s, h, d, w, m (month) or y";
    let (digits, unit) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (v.get(..i).unwrap_or(""), Some(c)),
        _ => (v, None),
    };
    let multiplier = match unit {
        Some(u) => unit_seconds(u).ok_or_else(|| format!("expected {EXPECTED}, got '{v}'"))?,
        None if bare == Bare::Seconds => 1,
        None => return Err(format!("expected {EXPECTED}, got '{v}'")),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("expected {EXPECTED}, got '{v}'"));
    }
    let too_long = || {
        let mut msg = format!("'{v}' is above the ceiling of {}s", max.as_secs());
        if unit == Some('m') {
            msg.push_str(" ('m' is a month, as in mosquitto)");
        }
        msg
    };
    let secs = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(too_long)?;
    let d = Duration::from_secs(secs);
    if d > max {
        return Err(too_long());
    }
    Ok(d)
}

/// edgemq's log levels, plus `none`/`off` to silence it and `warning` as
/// mosquitto spells it.
pub fn log_level(v: &str) -> Result<LevelFilter, String> {
    match v.to_ascii_lowercase().as_str() {
        "none" | "off" => Ok(LevelFilter::Off),
        "error" => Ok(LevelFilter::Error),
        "warn" | "warning" => Ok(LevelFilter::Warn),
        "info" => Ok(LevelFilter::Info),
        "debug" => Ok(LevelFilter::Debug),
        "trace" => Ok(LevelFilter::Trace),
        _ => Err(format!(
            "expected a log level (error, warn, info, debug, trace or off), got '{v}'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: Duration = Duration::from_secs(u32::MAX as u64);

    #[test]
    fn booleans() {
        assert_eq!(boolean("true"), Ok(true));
        assert_eq!(boolean("1"), Ok(true));
        assert_eq!(boolean("false"), Ok(false));
        assert_eq!(boolean("0"), Ok(false));
        assert!(boolean("yes").is_err());
        assert!(boolean("True").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(number("0"), Ok(0));
        assert_eq!(number("18446744073709551615"), Ok(u64::MAX));
        assert!(number("18446744073709551616").is_err());
        assert!(number("-1").is_err());
        assert!(number("+1").is_err());
        assert!(number("1k").is_err());
        assert!(number("").is_err());
        assert!(number("١").is_err());
    }

    #[test]
    fn bounds_name_the_ceiling() {
        assert_eq!(bounded("5", 1, 10), Ok(5));
        assert_eq!(
            bounded("11", 1, 10),
            Err("11 is above the ceiling of 10".into())
        );
        assert!(bounded("0", 1, 10).unwrap_err().contains("from 1 to 10"));
    }

    #[test]
    fn units() {
        let secs = |v| duration(v, Bare::Seconds, BIG).map(|d| d.as_secs());
        assert_eq!(secs("5"), Ok(5));
        assert_eq!(secs("5s"), Ok(5));
        assert_eq!(secs("2h"), Ok(7200));
        assert_eq!(secs("1d"), Ok(86_400));
        assert_eq!(secs("1w"), Ok(604_800));
        assert_eq!(secs("1m"), Ok(2_592_000));
        assert_eq!(secs("1y"), Ok(31_536_000));
        assert_eq!(secs("0s"), Ok(0));
        for bad in ["", "s", "h2", "2x", "-2h", "2 h", "2hh", "1.5h", "2H", "é"] {
            assert!(secs(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bare_numbers_can_be_refused() {
        assert!(duration("2", Bare::Refused, BIG).is_err());
        assert_eq!(
            duration("2s", Bare::Refused, BIG),
            Ok(Duration::from_secs(2))
        );
    }

    #[test]
    fn durations_above_the_ceiling() {
        let max = Duration::from_secs(600);
        assert!(duration("600", Bare::Seconds, max).is_ok());
        assert!(duration("601", Bare::Seconds, max)
            .unwrap_err()
            .contains("ceiling of 600s"));
        assert!(duration("5m", Bare::Seconds, max)
            .unwrap_err()
            .contains("month"));
        assert!(duration("18446744073709551615y", Bare::Seconds, max).is_err());
        assert!(duration("99999999999999999999999s", Bare::Seconds, max).is_err());
    }

    #[test]
    fn log_levels() {
        assert_eq!(log_level("info"), Ok(LevelFilter::Info));
        assert_eq!(log_level("WARNING"), Ok(LevelFilter::Warn));
        assert_eq!(log_level("none"), Ok(LevelFilter::Off));
        assert_eq!(log_level("off"), Ok(LevelFilter::Off));
        assert_eq!(log_level("trace"), Ok(LevelFilter::Trace));
        assert!(log_level("loud").is_err());
    }
}

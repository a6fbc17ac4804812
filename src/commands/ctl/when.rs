//! Times on `edgemq ctl`'s command line and in its tables: ms since the
//! epoch as the API takes them, or RFC 3339 (`2026-12-07T19:24:12Z`,
//! `2026-12-07T20:24:12.5+01:00`); shown as RFC 3339 UTC to the ms.

use crate::logging::format::Civil;

/// `--since` / `--until`: ms since the epoch, or an RFC 3339 time.
pub fn parse(text: &str) -> Result<u64, String> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    rfc3339(text).ok_or_else(|| {
        format!(
            "{text:?} is neither ms since the epoch nor an RFC 3339 time (2026-12-07T19:24:12Z)"
        )
    })
}

fn rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = text.get(from..from + len)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let sep = |at: usize, ok: &[u8]| b.get(at).is_some_and(|c| ok.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if sep(at, b".") {
        let digits = b
            .get(at + 1..)?
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        let shown = digits.min(3);
        millis = num(at + 1, shown)? * 10i64.pow(3 - shown as u32);
        at += 1 + digits;
    }
    let offset_secs = match b.get(at..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let secs = num(at + 1, 2)? * 3600 + num(at + 4, 2)? * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    u64::try_from(secs * 1000 + millis).ok()
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-12-07T19:24:12.345Z`.
pub fn show(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX / 2);
    let t = Civil::from_unix(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        ms % 1000
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_and_back() {
        assert_eq!(parse("1796624423887"), Ok(1_796_624_423_887));
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(0));
        let ms = parse("2026-12-07T19:24:12.345Z").unwrap();
        assert_eq!(show(ms), "2026-12-07T19:24:12.345Z");
        assert_eq!(parse("2026-12-07T20:24:12.345+01:00"), Ok(ms));
        assert_eq!(parse("2000-02-29T00:00:00Z"), Ok(951_782_400_000));
        for bad in [
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-12-07T19:24:12",
            "2026-12-07",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

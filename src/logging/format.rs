//! How a log line looks on each kind of destination (docs/logging.md):
//! timestamps in UTC from a strftime subset, the `<N>` priority prefix the
//! systemd journal reads on a stream, and RFC 3164 datagrams for syslog.
//!
//! Pure functions of their inputs: the caller passes the time, so every
//! format is tested without a clock.

use std::fmt::Write as _;

use log::Level;

use super::settings::Facility;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC calendar time, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1-12.
    pub month: u32,
    /// 1-31.
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Civil {
    /// Seconds since the Unix epoch to the proleptic Gregorian calendar
    /// (the days-to-date algorithm of Howard Hinnant's `civil_from_days`).
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        // Every value below is bounded by the arithmetic above (day < 32,
        // month < 13, rem < 86400): the conversions cannot fail.
        let small = |v: i64| u32::try_from(v).unwrap_or(0);
        Civil {
            year,
            month: small(month),
            day: small(day),
            hour: small(rem / 3600),
            minute: small(rem % 3600 / 60),
            second: small(rem % 60),
        }
    }

    fn month_name(&self) -> &'static str {
        let index = usize::try_from(self.month.saturating_sub(1)).unwrap_or(0);
        MONTHS.get(index).copied().unwrap_or("Jan")
    }
}

/// `log_timestamp_format`: a strftime subset, checked when the config is
/// read so that a line never meets an unknown conversion. Always UTC: the
/// devices rarely carry a time zone database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampFormat(String);

/// The conversions `log_timestamp_format` understands.
pub const CONVERSIONS: &str = "%Y %y %m %d %e %H %M %S %b %j %s %F %T %z %Z %%";

impl Default for TimestampFormat {
    /// ISO 8601 in UTC. (mosquitto's default is the Unix time in seconds,
    /// which `%s:` gives.)
    fn default() -> Self {
        TimestampFormat("%Y-%m-%dT%H:%M:%SZ".to_owned())
    }
}

impl TimestampFormat {
    pub fn parse(format: &str) -> Result<TimestampFormat, String> {
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                continue;
            }
            match chars.next() {
                Some(c) if "YymdeHMSbjsFTzZ%".contains(c) => {}
                Some(c) => return Err(format!("unknown conversion %{c} (known: {CONVERSIONS})")),
                None => return Err("a lone % at the end".to_owned()),
            }
        }
        Ok(TimestampFormat(format.to_owned()))
    }

    /// Appends the time `unix` (seconds) in this format to `out`.
    pub fn write(&self, unix: i64, out: &mut String) {
        let t = Civil::from_unix(unix);
        let mut chars = self.0.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            // Writing to a String cannot fail.
            let _ = match chars.next() {
                Some('Y') => write!(out, "{}", t.year),
                Some('y') => write!(out, "{:02}", t.year.rem_euclid(100)),
                Some('m') => write!(out, "{:02}", t.month),
                Some('d') => write!(out, "{:02}", t.day),
                Some('e') => write!(out, "{:2}", t.day),
                Some('H') => write!(out, "{:02}", t.hour),
                Some('M') => write!(out, "{:02}", t.minute),
                Some('S') => write!(out, "{:02}", t.second),
                Some('b') => write!(out, "{}", t.month_name()),
                Some('j') => write!(out, "{:03}", day_of_year(&t)),
                Some('s') => write!(out, "{unix}"),
                Some('F') => write!(out, "{}-{:02}-{:02}", t.year, t.month, t.day),
                Some('T') => write!(out, "{:02}:{:02}:{:02}", t.hour, t.minute, t.second),
                Some('z') => write!(out, "+0000"),
                Some('Z') => write!(out, "UTC"),
                Some('%') => write!(out, "%"),
                Some(other) => write!(out, "%{other}"),
                None => write!(out, "%"),
            };
        }
    }
}

fn day_of_year(t: &Civil) -> i64 {
    let leap = (t.year % 4 == 0 && t.year % 100 != 0) || t.year % 400 == 0;
    let before: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let index = usize::try_from(t.month.saturating_sub(1)).unwrap_or(0);
    let days = before.get(index).copied().unwrap_or(0) + i64::from(t.day);
    days + i64::from(leap && t.month > 2)
}

/// syslog severity (RFC 3164 §4.1.1), also the journal's `<N>` prefix
/// (sd-daemon(3)).
pub fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// A line for a stream or a file: `[<N>][TIMESTAMP ]LEVEL [target] message`.
pub fn stream_line(
    out: &mut String,
    journal: bool,
    timestamp: Option<(&TimestampFormat, i64)>,
    level: Level,
    target: &str,
    message: &std::fmt::Arguments<'_>,
) {
    if journal {
        let _ = write!(out, "<{}>", severity(level));
    }
    if let Some((format, unix)) = timestamp {
        format.write(unix, out);
        out.push(' ');
    }
    let _ = write!(out, "{level:<5} [{target}] ");
    let _ = write!(Escaped(out), "{message}");
    out.push('\n');
}

/// Writes into a line with every control character (U+0000..U+001F,
/// U+007F..U+009F) escaped as `\u{..}`: a client id, topic or user name
/// may hold them (MQTT only says SHOULD NOT; docs/protocol-choices.md),
/// and must neither end a line early, forging the next one, nor reach
/// the terminal of whoever reads the log as an escape sequence.
struct Escaped<'a>(&'a mut String);

impl std::fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if !s.contains(char::is_control) {
            self.0.push_str(s);
            return Ok(());
        }
        for c in s.chars() {
            if c.is_control() {
                write!(self.0, "\\u{{{:x}}}", u32::from(c))?;
            } else {
                self.0.push(c);
            }
        }
        Ok(())
    }
}

/// An RFC 3164 datagram as glibc's and musl's syslog(3) send it, which
/// busybox syslogd and OpenWrt's logd read:
/// `<PRI>Mmm dd hh:mm:ss edgemq[PID]: message` (the daemon may replace the
/// time with its own).
pub fn syslog_datagram(
    out: &mut String,
    facility: Facility,
    level: Level,
    unix: i64,
    pid: u32,
    message: &std::fmt::Arguments<'_>,
) {
    let t = Civil::from_unix(unix);
    let pri = u16::from(facility.code()) + u16::from(severity(level));
    let _ = write!(
        out,
        "<{pri}>{} {:2} {:02}:{:02}:{:02} edgemq[{pid}]: ",
        t.month_name(),
        t.day,
        t.hour,
        t.minute,
        t.second
    );
    let _ = write!(Escaped(out), "{message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(Civil::from_unix(0).year, 1970);
        let t = Civil::from_unix(951_782_400); // 2000-02-29 00:00:00
        assert_eq!((t.year, t.month, t.day), (2000, 2, 29));
        let t = Civil::from_unix(1_796_601_599); // 2026-12-06 23:59:59
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second),
            (2026, 12, 6, 23, 59, 59)
        );
        let t = Civil::from_unix(-1);
        assert_eq!((t.year, t.month, t.day, t.second), (1969, 12, 31, 59));
    }

    #[test]
    fn formats() {
        let mut s = String::new();
        TimestampFormat::default().write(1_796_601_599, &mut s);
        assert_eq!(s, "2026-12-06T23:59:59Z");
        let f = TimestampFormat::parse("%s: %F %T %b %e %j %y %z %Z %%").unwrap();
        s.clear();
        f.write(951_782_400, &mut s);
        assert_eq!(
            s,
            "951782400: 2000-02-29 00:00:00 Feb 29 060 00 +0000 UTC %"
        );
        assert!(TimestampFormat::parse("%Q").unwrap_err().contains("%Q"));
        assert!(TimestampFormat::parse("x%").is_err());
    }

    #[test]
    fn stream_lines() {
        let mut s = String::new();
        let f = TimestampFormat::default();
        stream_line(
            &mut s,
            false,
            Some((&f, 0)),
            Level::Info,
            "edgemq::net",
            &format_args!("hi"),
        );
        assert_eq!(s, "1970-01-01T00:00:00Z INFO  [edgemq::net] hi\n");
        s.clear();
        stream_line(
            &mut s,
            true,
            None,
            Level::Warn,
            "edgemq",
            &format_args!("x"),
        );
        assert_eq!(s, "<4>WARN  [edgemq] x\n");
    }

    #[test]
    fn control_characters_from_peers_are_escaped() {
        let id = "dev\nWARN  [edgemq] forged\u{1b}[31m\u{85}\t\u{FEFF}é";
        let mut s = String::new();
        stream_line(
            &mut s,
            false,
            None,
            Level::Info,
            "edgemq",
            &format_args!("client {id} connected"),
        );
        assert_eq!(
            s,
            "INFO  [edgemq] client dev\\u{a}WARN  [edgemq] forged\\u{1b}[31m\\u{85}\\u{9}\u{FEFF}é connected\n"
        );
        s.clear();
        syslog_datagram(
            &mut s,
            Facility::DAEMON,
            Level::Info,
            0,
            1,
            &format_args!("{id}"),
        );
        assert!(s.ends_with("dev\\u{a}WARN  [edgemq] forged\\u{1b}[31m\\u{85}\\u{9}\u{FEFF}é"));
        assert_eq!(s.lines().count(), 1);
    }

    #[test]
    fn syslog_frames() {
        let mut s = String::new();
        let local5 = Facility::parse("5").unwrap();
        syslog_datagram(
            &mut s,
            local5,
            Level::Error,
            1_796_601_599,
            42,
            &format_args!("m"),
        );
        assert_eq!(s, "<171>Dec  6 23:59:59 edgemq[42]: m");
        s.clear();
        syslog_datagram(
            &mut s,
            Facility::DAEMON,
            Level::Info,
            0,
            1,
            &format_args!("m"),
        );
        assert_eq!(s, "<30>Jan  1 00:00:00 edgemq[1]: m");
    }
}

//! What the log keys ask for (README.md ## Configuration, docs/logging.md):
//! where lines go, whether they carry a timestamp and in which format, the
//! syslog facility, and whether connects and disconnects are logged.
//!
//! Owns the values only, validated once when the config is read; opening
//! the destinations is `sinks.rs`'s.

use std::path::PathBuf;

use super::format::TimestampFormat;

/// One `log_dest` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDest {
    Stderr,
    Stdout,
    /// Datagrams to the local syslog socket (/dev/log), RFC 3164 framing.
    Syslog,
    /// Appended to; reopened on SIGHUP so logrotate can move it away.
    File(PathBuf),
}

/// syslog facilities (RFC 3164 §4.1.1): the code is the facility times 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facility(u8);

impl Facility {
    /// mosquitto's default, and OpenWrt's for services.
    pub const DAEMON: Facility = Facility(3);

    /// `log_facility`: mosquitto's number 0-7 for local0-local7, or a name
    /// (`daemon`, `user`, `local0`...`local7`).
    pub fn parse(value: &str) -> Option<Facility> {
        let local = |n: u8| (n <= 7).then(|| Facility(16 + n));
        match value {
            "daemon" => Some(Facility::DAEMON),
            "user" => Some(Facility(1)),
            _ => match value.strip_prefix("local") {
                Some(n) => n.parse().ok().and_then(local),
                None => value.parse().ok().and_then(local),
            },
        }
    }

    /// The facility's part of a syslog PRI value.
    pub fn code(self) -> u8 {
        self.0 << 3
    }
}

/// The log keys as the config file gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Empty: stderr (no `log_dest` line). `log_dest none` alone: nothing.
    pub dests: Vec<LogDest>,
    /// `log_dest none` was given: no line goes anywhere.
    pub none: bool,
    /// `None`: on, except on a stream that is the systemd journal.
    pub timestamp: Option<bool>,
    pub timestamp_format: TimestampFormat,
    pub facility: Facility,
    /// false: connects and disconnects are not logged at info level.
    pub connection_messages: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            dests: Vec::new(),
            none: false,
            timestamp: None,
            timestamp_format: TimestampFormat::default(),
            facility: Facility::DAEMON,
            connection_messages: true,
        }
    }
}

impl LogSettings {
    /// The destinations lines go to.
    pub fn effective_dests(&self) -> Vec<LogDest> {
        match (self.none, self.dests.is_empty()) {
            (true, _) => Vec::new(),
            (false, true) => vec![LogDest::Stderr],
            (false, false) => self.dests.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facilities() {
        assert_eq!(Facility::parse("daemon"), Some(Facility::DAEMON));
        assert_eq!(Facility::parse("5").map(Facility::code), Some(21 << 3));
        assert_eq!(Facility::parse("local7").map(Facility::code), Some(23 << 3));
        assert_eq!(Facility::parse("user").map(Facility::code), Some(8));
        assert_eq!(Facility::parse("8"), None);
        assert_eq!(Facility::parse("local8"), None);
        assert_eq!(Facility::parse("kern"), None);
    }

    #[test]
    fn dests() {
        let mut s = LogSettings::default();
        assert_eq!(s.effective_dests(), vec![LogDest::Stderr]);
        s.dests.push(LogDest::Syslog);
        assert_eq!(s.effective_dests(), vec![LogDest::Syslog]);
        s.none = true;
        assert!(s.effective_dests().is_empty());
    }
}

//! What the config parser reports: a [`ConfigError`] that stops the broker
//! from starting, and [`Warning`]s the caller logs before serving.
//!
//! Both carry the file and line they point at, so an operator can jump to
//! the offending line; line 0 means "the whole file" (it could not be read).

use std::fmt;

/// A config file that cannot be used: unreadable, an unknown key, a bad
/// value, or values that contradict each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as the operator named it (or the `source_name` given to
    /// `Config::parse_str`).
    pub file: String,
    /// 1-based line number; 0 when the error is about the whole file.
    pub line: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(file: &str, line: usize, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Something in the file that edgemq ignores or reads differently than the
/// operator may expect (typically a mosquitto key it does not implement).
/// Serving goes on; the caller logs each warning once at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    /// 1-based line number; 0 when the warning is about the whole config
    /// (a cross-key check).
    pub line: usize,
    pub message: String,
}

impl Warning {
    pub(crate) fn new(file: &str, line: usize, message: impl Into<String>) -> Self {
        Warning {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_and_line() {
        let e = ConfigError::new("edgemq.conf", 12, "unknown key 'foo'");
        assert_eq!(e.to_string(), "edgemq.conf:12: unknown key 'foo'");
        let e = ConfigError::new("edgemq.conf", 0, "cannot read: gone");
        assert_eq!(e.to_string(), "edgemq.conf: cannot read: gone");
        let w = Warning::new("a.conf", 3, "ignored");
        assert_eq!(w.to_string(), "a.conf:3: ignored");
    }
}

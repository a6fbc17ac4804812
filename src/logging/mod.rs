//! The process's log: where lines go and how they look (`log_dest`,
//! `log_timestamp`, `log_timestamp_format`, `log_facility`,
//! `connection_messages`: docs/logging.md), level changes, and a rate
//! limiter for log lines that a flood could repeat.
//!
//! The level lives in `log`'s global max level only; the logger itself lets
//! everything through, so [`set_level`] can raise the level later (SIGHUP)
//! and not just lower it. The logger is the one global here, because the
//! `log` crate's logger is process-wide by design; [`reconfigure`] swaps
//! what it writes to (SIGHUP: files reopened for logrotate).

pub mod format;
mod rate_limit;
mod settings;
mod sinks;

use std::sync::{Mutex, OnceLock};

use log::{LevelFilter, Log, Metadata, Record};

pub use format::{TimestampFormat, CONVERSIONS};
pub use rate_limit::{RateLimitedLog, DEFAULT_LOG_INTERVAL};
pub use settings::{Facility, LogDest, LogSettings};
pub use sinks::SYSLOG_SOCKET;

use sinks::Sinks;

struct Logger {
    sinks: Mutex<Sinks>,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.sinks.lock().is_ok_and(|s| s.wants(metadata))
    }

    fn log(&self, record: &Record<'_>) {
        // A thread that panicked while writing leaves the lock poisoned:
        // the sinks are still usable.
        let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        if sinks.wants(record.metadata()) {
            sinks.write(record);
        }
    }

    fn flush(&self) {}
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Installs the logger at `level`, writing where `settings` says. Called
/// again (tests), it reconfigures. An error names each file that could not
/// be opened (the others are in use).
pub fn init(level: LevelFilter, settings: &LogSettings) -> Result<(), String> {
    set_level(level);
    if LOGGER.get().is_some() {
        return reconfigure(settings).map(|_| ());
    }
    let (sinks, errors) = Sinks::open(settings);
    let logger = LOGGER.get_or_init(|| Logger {
        sinks: Mutex::new(sinks),
    });
    // Fails only when another logger is installed (never, outside tests).
    let _already_installed = log::set_logger(logger);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Reopens every destination with `settings` (SIGHUP). Returns the files
/// now open; an error names each that could not be opened.
pub fn reconfigure(settings: &LogSettings) -> Result<Vec<String>, String> {
    let Some(logger) = LOGGER.get() else {
        return Err("the logger is not installed".to_owned());
    };
    let (sinks, errors) = Sinks::open(settings);
    let files = sinks
        .files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    *logger.sinks.lock().unwrap_or_else(|p| p.into_inner()) = sinks;
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors.join("; "))
    }
}

/// The settings the logger writes with now.
pub fn settings() -> Option<LogSettings> {
    let logger = LOGGER.get()?;
    let sinks = logger.sinks.lock().unwrap_or_else(|p| p.into_inner());
    Some(sinks.settings().clone())
}

/// Changes the level of every later log line.
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_level_changes_the_max_level() {
        init(LevelFilter::Warn, &LogSettings::default()).unwrap();
        assert_eq!(log::max_level(), LevelFilter::Warn);
        set_level(LevelFilter::Debug);
        assert_eq!(log::max_level(), LevelFilter::Debug);
        init(LevelFilter::Info, &LogSettings::default()).unwrap();
        assert_eq!(log::max_level(), LevelFilter::Info);
    }
}

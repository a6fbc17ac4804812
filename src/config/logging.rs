//! The log keys (README.md ## Configuration, docs/logging.md): `log_dest`
//! (several lines add destinations), `log_timestamp`,
//! `log_timestamp_format`, `log_facility` and `connection_messages`, as in
//! mosquitto except where docs/logging.md says. `log_level` and `log_type`
//! stay the parser's (they combine across lines).
//!
//! Owns the values' rules only; the logger opens the destinations
//! (src/logging/).

use std::path::PathBuf;

use crate::logging::{Facility, LogDest, LogSettings, TimestampFormat};

use super::error::{ConfigError, Warning};
use super::line::Line;

pub(super) fn claims(key: &str) -> bool {
    matches!(
        key,
        "log_dest"
            | "log_timestamp"
            | "log_timestamp_format"
            | "log_facility"
            | "connection_messages"
    )
}

/// Applies one line. `warnings` gets the destinations edgemq does not
/// have (`topic`, `dlt`): ignored, like other keys that only tune.
pub(super) fn apply(
    log: &mut LogSettings,
    line: &Line<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    match line.key {
        "log_dest" => dest(log, line, warnings)?,
        "log_timestamp" => log.timestamp = Some(line.boolean()?),
        "log_timestamp_format" => {
            // The format is the rest of the line: it may hold spaces.
            let format = line.args.join(" ");
            if format.is_empty() {
                return Err(line.error("missing value"));
            }
            log.timestamp_format = TimestampFormat::parse(&format).map_err(|m| line.error(m))?;
        }
        "log_facility" => {
            let v = line.one()?;
            log.facility = Facility::parse(v).ok_or_else(|| {
                line.error(format!(
                    "expected 0-7 (local0-local7), daemon, user or local0-local7, got '{}'",
                    v.escape_debug()
                ))
            })?;
        }
        _ => log.connection_messages = line.boolean()?,
    }
    Ok(())
}

fn dest(
    log: &mut LogSettings,
    line: &Line<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    let (kind, rest) = match line.args.split_first() {
        Some((kind, rest)) => (*kind, rest),
        None => return Err(line.error("missing value")),
    };
    let new = match (kind, rest) {
        ("stderr", []) => LogDest::Stderr,
        ("stdout", []) => LogDest::Stdout,
        ("syslog", []) => LogDest::Syslog,
        ("none", []) => {
            log.none = true;
            return Ok(());
        }
        ("file", [path]) if !path.is_empty() => LogDest::File(PathBuf::from(*path)),
        ("file", _) => return Err(line.error("log_dest file takes one path")),
        ("topic" | "dlt", []) => {
            warnings.push(Warning::new(
                line.file,
                line.number,
                format!("log_dest {kind} is not implemented; the line is ignored"),
            ));
            return Ok(());
        }
        _ => {
            return Err(line.error(format!(
                "expected stderr, stdout, syslog, file PATH or none, got '{}'",
                line.args.join(" ").escape_debug()
            )))
        }
    };
    if !log.dests.contains(&new) {
        log.dests.push(new);
    }
    Ok(())
}

//! One meaningful line of a config file (file, number, key, values) and
//! the typed readings of its values with errors that name the file and
//! line. Its own file so that the parser and the key groups it delegates
//! to (bridge.rs, mosquitto.rs) share it without importing each other.

use std::path::PathBuf;
use std::time::Duration;

use super::error::ConfigError;
use super::secrets;
use super::values::{self, Bare};

/// One meaningful line of a config file.
pub(super) struct Line<'a> {
    pub(super) file: &'a str,
    pub(super) number: usize,
    pub(super) key: &'a str,
    pub(super) args: Vec<&'a str>,
}

impl<'a> Line<'a> {
    pub(super) fn error(&self, message: impl std::fmt::Display) -> ConfigError {
        ConfigError::new(self.file, self.number, format!("{}: {message}", self.key))
    }

    /// The single value of a single-valued key.
    pub(super) fn one(&self) -> Result<&'a str, ConfigError> {
        match self.args.as_slice() {
            [v] => Ok(v),
            [] => Err(self.error("missing value")),
            [_, extra, ..] => Err(self.error(format!(
                "unexpected extra value '{}' (comments must be on their own line)",
                extra.escape_debug()
            ))),
        }
    }

    /// The single value as the path of a file edgemq reads, a leading
    /// `$CREDENTIALS_DIRECTORY/` expanded (config/secrets.rs).
    pub(super) fn path(&self) -> Result<PathBuf, ConfigError> {
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY");
        secrets::expand(self.one()?, credentials.as_deref()).map_err(|m| self.error(m))
    }

    pub(super) fn boolean(&self) -> Result<bool, ConfigError> {
        values::boolean(self.one()?).map_err(|m| self.error(m))
    }

    pub(super) fn number(&self, min: u64, max: u64) -> Result<u64, ConfigError> {
        values::bounded(self.one()?, min, max).map_err(|m| self.error(m))
    }

    /// A count or size held in a `usize`; the ceilings all fit 32 bits.
    pub(super) fn size(&self, min: usize, max: usize) -> Result<usize, ConfigError> {
        let n = self.number(to_u64(min), to_u64(max))?;
        usize::try_from(n).map_err(|_| self.error(format!("{n} does not fit this platform")))
    }

    pub(super) fn duration(
        &self,
        bare: Bare,
        min: Duration,
        max: Duration,
    ) -> Result<Duration, ConfigError> {
        let d = values::duration(self.one()?, bare, max).map_err(|m| self.error(m))?;
        if d < min {
            return Err(self.error(format!("must be at least {}s", min.as_secs())));
        }
        Ok(d)
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

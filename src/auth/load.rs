//! Reading the credential files a config names into [`Credentials`]: the
//! one part of `auth/` that touches the filesystem. Called at start (as
//! root, before `user` drops it, so a root-only file works), at SIGHUP
//! (as `user`) and by `edgemq check-config`.
//!
//! Errors name the config line that set the path and, for a password
//! file, the line of that file: `edgemq.conf:4: password_file:
//! /etc/edgemq/passwd:3: user 'bob': unknown hash type $5$ ...`.

use std::io::Read;
use std::path::Path;

use crate::config::tls::PathSetting;
use crate::config::{AuthFiles, ConfigError};

use super::password_file::{self, PasswordFile};
use super::secret::{Secret, MAX_SECRET_BYTES};
use super::Credentials;

/// Why the credential files cannot be used.
#[derive(Debug)]
pub enum LoadError {
    /// A file cannot be opened or read. `edgemq check-config` only warns:
    /// it may run on a machine without the device's files.
    Unreadable(ConfigError),
    /// A file was read and is wrong.
    Invalid(ConfigError),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Unreadable(e) | LoadError::Invalid(e) => e.fmt(f),
        }
    }
}

/// Reads every configured credential file.
pub fn load(files: &AuthFiles) -> Result<Credentials, LoadError> {
    let password_file = files
        .password_file
        .as_ref()
        .map(read_password_file)
        .transpose()?;
    let token_secret = files
        .token_secret_file
        .as_ref()
        .map(|setting| {
            let bytes = read_bounded(setting, "auth_token_secret_file", MAX_SECRET_BYTES)?;
            Secret::from_file_text(&bytes)
                .map_err(|e| invalid(setting, "auth_token_secret_file", e))
        })
        .transpose()?;
    Ok(Credentials {
        password_file,
        token_secret,
        #[cfg(feature = "jwt")]
        jwt_key: files.jwt_key_file.as_ref().map(read_jwt_key).transpose()?,
    })
}

fn read_password_file(setting: &PathSetting) -> Result<PasswordFile, LoadError> {
    const KEY: &str = "password_file";
    let bytes = read_bounded(setting, KEY, password_file::MAX_FILE_BYTES)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| invalid(setting, KEY, "the file is not UTF-8 text"))?;
    PasswordFile::parse(text).map_err(|e| {
        let at = match e.line {
            0 => setting.path.display().to_string(),
            n => format!("{}:{n}", setting.path.display()),
        };
        LoadError::Invalid(setting.error(KEY, format!("{at}: {}", e.message)))
    })
}

#[cfg(feature = "jwt")]
fn read_jwt_key(setting: &PathSetting) -> Result<super::jwt_key::JwtKey, LoadError> {
    const KEY: &str = "auth_jwt_key_file";
    // A PEM public key is a few hundred bytes; a secret at most 4 KiB.
    let bytes = read_bounded(setting, KEY, 2 * MAX_SECRET_BYTES)?;
    super::jwt_key::JwtKey::from_file_text(&bytes).map_err(|e| invalid(setting, KEY, e))
}

/// The file's bytes; past `max` it is refused without reading further.
fn read_bounded(setting: &PathSetting, key: &str, max: usize) -> Result<Vec<u8>, LoadError> {
    let path: &Path = &setting.path;
    let unreadable = |e: std::io::Error| {
        LoadError::Unreadable(setting.error(key, format!("cannot read {}: {e}", path.display())))
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() > max {
        return Err(invalid(
            setting,
            key,
            format!(
                "{} is larger than the ceiling of {max} bytes",
                path.display()
            ),
        ));
    }
    Ok(bytes)
}

fn invalid(setting: &PathSetting, key: &str, message: impl std::fmt::Display) -> LoadError {
    LoadError::Invalid(setting.error(key, format!("{}: {message}", setting.path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(path: &Path) -> Option<PathSetting> {
        Some(PathSetting {
            path: path.to_path_buf(),
            file: "e.conf".into(),
            line: 4,
        })
    }

    #[test]
    fn errors_name_the_config_line_and_the_file_line() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("passwd");
        std::fs::write(&pw, "# users\nbob:$5$x$y\n").unwrap();
        let files = AuthFiles {
            password_file: setting(&pw),
            ..AuthFiles::default()
        };
        let Err(LoadError::Invalid(e)) = load(&files) else {
            panic!()
        };
        assert_eq!(
            e.to_string(),
            format!(
                "e.conf:4: password_file: {}:2: user 'bob': unknown hash type $5$ (expected $7$ or $6$)",
                pw.display()
            )
        );
        let missing = AuthFiles {
            token_secret_file: setting(&dir.path().join("nope")),
            ..AuthFiles::default()
        };
        let Err(LoadError::Unreadable(e)) = load(&missing) else {
            panic!()
        };
        assert!(
            e.to_string()
                .starts_with("e.conf:4: auth_token_secret_file: cannot read"),
            "{e}"
        );
        let short = dir.path().join("short");
        std::fs::write(&short, "abc\n").unwrap();
        let files = AuthFiles {
            token_secret_file: setting(&short),
            ..AuthFiles::default()
        };
        let Err(LoadError::Invalid(e)) = load(&files) else {
            panic!()
        };
        assert!(e.to_string().contains("at least 32"), "{e}");
    }

    #[test]
    fn reads_what_is_configured() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("passwd");
        std::fs::write(&pw, "").unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, format!("{}\n", "s".repeat(40))).unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'#'; password_file::MAX_FILE_BYTES + 10]).unwrap();
        let files = AuthFiles {
            password_file: setting(&pw),
            token_secret_file: setting(&secret),
            jwt_key_file: None,
        };
        let c = load(&files).unwrap();
        assert!(c.any());
        assert_eq!(c.describe(), "password file (0 users), signed tokens");
        assert!(!load(&AuthFiles::default()).unwrap().any());
        let files = AuthFiles {
            password_file: setting(&big),
            ..AuthFiles::default()
        };
        let Err(LoadError::Invalid(e)) = load(&files) else {
            panic!()
        };
        assert!(e.to_string().contains("larger than the ceiling"), "{e}");
    }
}

//! Secrets outside the config file (docs/security.md, "Secrets outside the
//! config"): a file-valued key whose value starts with
//! `$CREDENTIALS_DIRECTORY/` names a file under the directory systemd's
//! `LoadCredential=` fills (systemd.exec(5)), and `remote_password_file`
//! holds a bridge's password.
//!
//! Owns the one expansion edgemq does: nothing else in a value is expanded,
//! no other variable, no `~`. An unset variable is an error, never an
//! empty prefix that would turn the path into one under `/`.

use std::io::Read;
use std::path::PathBuf;

/// The only variable a config value may start with.
const PREFIX: &str = "$CREDENTIALS_DIRECTORY/";

/// The longest password MQTT carries (a two-byte length, MQTT 3.1.1 §1.5.3):
/// a longer `remote_password_file` is an error.
pub const MAX_PASSWORD_FILE_BYTES: u64 = 65_535;

/// `value` as a path, with a leading `$CREDENTIALS_DIRECTORY/` replaced by
/// that variable's value. `credentials` is the variable (the caller reads
/// the environment).
pub(super) fn expand(
    value: &str,
    credentials: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, String> {
    let Some(rest) = value.strip_prefix(PREFIX) else {
        return Ok(PathBuf::from(value));
    };
    match credentials {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir).join(rest)),
        _ => Err(format!(
            "'{value}' needs CREDENTIALS_DIRECTORY, which is not set (systemd sets it for a \
             unit with LoadCredential=)"
        )),
    }
}

/// A password file's content: the whole file, one trailing newline (`\n`
/// or `\r\n`) removed, at most [`MAX_PASSWORD_FILE_BYTES`].
pub(super) fn read_password_file(path: &std::path::Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_PASSWORD_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if text.len() as u64 > MAX_PASSWORD_FILE_BYTES {
        return Err(format!(
            "{}: longer than {MAX_PASSWORD_FILE_BYTES} bytes, the most an MQTT password holds",
            path.display()
        ));
    }
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn only_the_leading_credentials_directory_is_expanded() {
        let dir = Some(OsStr::new("/run/credentials/edgemq.service"));
        assert_eq!(
            expand("$CREDENTIALS_DIRECTORY/bridge.key", dir).unwrap(),
            PathBuf::from("/run/credentials/edgemq.service/bridge.key")
        );
        assert_eq!(
            expand("/etc/$HOME/x", dir).unwrap(),
            PathBuf::from("/etc/$HOME/x")
        );
        assert_eq!(
            expand("$CREDENTIALS_DIRECTORYx", dir).unwrap(),
            PathBuf::from("$CREDENTIALS_DIRECTORYx")
        );
        assert!(expand("$CREDENTIALS_DIRECTORY/k", None)
            .unwrap_err()
            .contains("not set"));
        assert!(expand("$CREDENTIALS_DIRECTORY/k", Some(OsStr::new(""))).is_err());
    }

    #[test]
    fn password_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\n").unwrap();
        assert_eq!(read_password_file(&p).unwrap(), "s3cret");
        std::fs::write(&p, "a b\r\n").unwrap();
        assert_eq!(read_password_file(&p).unwrap(), "a b");
        std::fs::write(&p, "two\n\n").unwrap();
        assert_eq!(read_password_file(&p).unwrap(), "two\n");
        std::fs::write(&p, vec![b'x'; 65_536]).unwrap();
        assert!(read_password_file(&p).unwrap_err().contains("65535"));
        assert!(read_password_file(&dir.path().join("none")).is_err());
    }
}

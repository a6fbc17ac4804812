//! The admin API's bearer token: where it comes from and how a request's
//! is checked (docs/observability.md, "The token").
//!
//! `admin_token_file` names a file whose first line is the token (read
//! at start, as root, like the credential files). Without it the token
//! is `admin.token` in `persistence_location`: created once with 32
//! random bytes in hex, mode 0600, and reused on later starts — also with
//! `persistence false`, since that directory is the broker's own state
//! directory and `edgemq ctl` finds the token there. Only `resolve` and
//! `read_token_file` do I/O.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file made in `persistence_location` without `admin_token_file`.
pub const TOKEN_FILE_NAME: &str = "admin.token";

/// A token file is one short line; a larger file is not a token file.
const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// Fewer characters than this is a password, not a token.
const MIN_TOKEN_CHARS: usize = 16;

/// Whether `header` (an `Authorization` value) carries `token`,
/// compared in constant time for equal lengths.
pub fn authorized(header: Option<&str>, token: &str) -> bool {
    let Some(given) = header.and_then(|h| {
        let (scheme, rest) = h.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
    }) else {
        return false;
    };
    constant_time_eq(given.as_bytes(), token.as_bytes())
}

/// Equal bytes, in a time that depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where the token is, and the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    pub token: String,
    pub path: PathBuf,
    /// Made by this start.
    pub created: bool,
}

/// The token file for a config: `admin_token_file`, else `admin.token`
/// in `persistence_location`.
pub fn token_path(token_file: Option<&Path>, store_dir: &Path) -> PathBuf {
    token_file.map_or_else(|| store_dir.join(TOKEN_FILE_NAME), Path::to_path_buf)
}

/// Reads the token at `token_file`, or reads or creates `admin.token` in
/// `store_dir`.
pub fn resolve(token_file: Option<&Path>, store_dir: &Path) -> Result<AdminToken, String> {
    let path = token_path(token_file, store_dir);
    if token_file.is_some() || path.exists() {
        let token = read_token_file(&path)?;
        return Ok(AdminToken {
            token,
            path,
            created: false,
        });
    }
    let token = random_token()?;
    create_private(store_dir, &path, &token)?;
    Ok(AdminToken {
        token,
        path,
        created: true,
    })
}

/// The first line of `path`, trimmed; at least 16 characters.
pub fn read_token_file(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("admin token {shown}: {e}"))?;
    if meta.len() > MAX_TOKEN_FILE_BYTES {
        return Err(format!(
            "admin token {shown}: over {MAX_TOKEN_FILE_BYTES} bytes"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("admin token {shown}: {e}"))?;
    let token = text.lines().next().unwrap_or_default().trim().to_owned();
    if token.chars().count() < MIN_TOKEN_CHARS || token.contains(char::is_whitespace) {
        return Err(format!(
            "admin token {shown}: the first line must be one word of at least {MIN_TOKEN_CHARS} characters"
        ));
    }
    Ok(token)
}

fn random_token() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no random numbers from the system for the admin token".to_owned())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `token` to a new file readable by its owner only (0600), in a
/// directory made 0700 if it is missing.
fn create_private(dir: &Path, path: &Path, token: &str) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let shown = path.display();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("admin token: cannot create {}: {e}", dir.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("admin token: cannot create {shown}: {e}"))?;
    file.write_all(format!("{token}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("admin token: cannot write {shown}: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn bearer_only_and_exact() {
        let t = "0123456789abcdef0123";
        assert!(authorized(Some("Bearer 0123456789abcdef0123"), t));
        assert!(authorized(Some("bearer  0123456789abcdef0123 "), t));
        assert!(!authorized(Some("Bearer 0123456789abcdef012"), t));
        assert!(!authorized(Some("Bearer 0123456789abcdef0124"), t));
        assert!(!authorized(Some("Basic 0123456789abcdef0123"), t));
        assert!(!authorized(Some(t), t));
        assert!(!authorized(None, t));
    }

    #[test]
    fn created_once_0600_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let first = resolve(None, &store).unwrap();
        assert!(first.created);
        assert_eq!(first.token.len(), 64);
        let mode = std::fs::metadata(&first.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = resolve(None, &store).unwrap();
        assert!(!again.created);
        assert_eq!(again.token, first.token);
    }

    #[test]
    fn a_named_file_must_exist_and_hold_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        assert!(resolve(Some(&file), dir.path()).is_err());
        std::fs::write(&file, "short\n").unwrap();
        assert!(resolve(Some(&file), dir.path()).is_err());
        std::fs::write(&file, "a-long-enough-token-1234\nrest\n").unwrap();
        assert_eq!(
            resolve(Some(&file), dir.path()).unwrap().token,
            "a-long-enough-token-1234"
        );
    }
}

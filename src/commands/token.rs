//! `edgemq token -s SECRET_FILE --clientid ID --username U [--ttl 1h]`:
//! prints the signed token (`v1:EXPIRY:SIGNATURE`, docs/security.md,
//! "Signed tokens") that client sends as its password, valid for TTL from
//! now. For provisioning and tests; a service that issues tokens in bulk
//! does the same HMAC itself.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::auth::secret::{Secret, MAX_SECRET_BYTES};
use crate::auth::token;

/// Ten years: past any device's life; a token should expire.
pub const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 86_400);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub secret_file: PathBuf,
    pub client_id: String,
    pub username: String,
    pub ttl: Duration,
}

/// Prints the token on stdout; an error on stderr. Returns the exit code.
pub fn run(req: &TokenRequest) -> i32 {
    match make(req, SystemTime::now()) {
        Ok(token) => {
            println!("{token}");
            0
        }
        Err(message) => {
            eprintln!("edgemq token: {message}");
            1
        }
    }
}

fn make(req: &TokenRequest, now: SystemTime) -> Result<String, String> {
    let bytes = std::fs::read(&req.secret_file)
        .map_err(|e| format!("cannot read {}: {e}", req.secret_file.display()))?;
    if bytes.len() > MAX_SECRET_BYTES {
        return Err(format!(
            "{} is too large for a secret",
            req.secret_file.display()
        ));
    }
    let secret = Secret::from_file_text(&bytes)
        .map_err(|e| format!("{}: {e}", req.secret_file.display()))?;
    if req.ttl.is_zero() {
        return Err("--ttl must be longer than 0".into());
    }
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| "the system clock is before 1970".to_owned())?;
    let expiry = now.saturating_add(req.ttl).as_secs();
    Ok(token::make(&secret, &req.client_id, &req.username, expiry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_a_token_the_broker_takes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "0123456789abcdef0123456789abcdef\n").unwrap();
        let req = TokenRequest {
            secret_file: file.clone(),
            client_id: "dev-1".into(),
            username: "alice".into(),
            ttl: Duration::from_secs(3600),
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let t = make(&req, now).unwrap();
        assert!(t.starts_with("v1:1800003600:"), "{t}");
        let secret = Secret::from_file_text(&std::fs::read(&file).unwrap()).unwrap();
        let checked = token::verify(&secret, "dev-1", "alice", t.as_bytes(), 1_800_003_599);
        assert_eq!(checked, Ok(1_800_003_600));
        let zero = TokenRequest {
            ttl: Duration::ZERO,
            ..req.clone()
        };
        assert!(make(&zero, now).is_err());
        let missing = TokenRequest {
            secret_file: dir.path().join("nope"),
            ..req
        };
        assert!(make(&missing, now).unwrap_err().contains("cannot read"));
    }
}

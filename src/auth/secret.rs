//! A shared HMAC secret as read from a file (`auth_token_secret_file`, or
//! an HS256 `auth_jwt_key_file`): the file's bytes without trailing
//! whitespace, so `openssl rand -hex 32 > FILE` and an editor's final
//! newline give the secret the provisioning side uses.
//!
//! Invariants: at least [`MIN_SECRET_BYTES`] (RFC 7518 §3.2 asks HS256
//! keys to be as long as the hash), never printed (its `Debug` says only
//! its length).

use std::fmt;

/// 256 bits, HMAC-SHA256's output size (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// A key file larger than this is not a secret someone wrote.
pub const MAX_SECRET_BYTES: usize = 4096;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// The secret in a file's `bytes`; the message says what is wrong
    /// without quoting it.
    pub fn from_file_text(bytes: &[u8]) -> Result<Secret, String> {
        let end = bytes
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        let secret = bytes.get(..end).unwrap_or_default();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the secret is {} bytes; at least {MIN_SECRET_BYTES} are needed \
                 (e.g. `openssl rand -hex 32 > FILE`)",
                secret.len()
            ));
        }
        if secret.len() > MAX_SECRET_BYTES {
            return Err(format!(
                "{} bytes is above the ceiling of {MAX_SECRET_BYTES} for a secret",
                secret.len()
            ));
        }
        Ok(Secret(secret.into()))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_whitespace_is_not_the_secret() {
        let hex = "ab".repeat(32);
        let s = Secret::from_file_text(format!("{hex}\r\n \t\n").as_bytes()).unwrap();
        assert_eq!(s.bytes(), hex.as_bytes());
        let inner = Secret::from_file_text(format!(" {hex} x").as_bytes()).unwrap();
        assert_eq!(
            inner.bytes(),
            format!(" {hex} x").as_bytes(),
            "only trailing"
        );
        assert_eq!(format!("{s:?}"), "Secret(64 bytes)");
    }

    #[test]
    fn short_and_huge_secrets_are_refused() {
        let e = Secret::from_file_text(b"short\n").unwrap_err();
        assert!(e.contains("5 bytes") && e.contains("at least 32"), "{e}");
        assert!(Secret::from_file_text(b"").is_err());
        assert!(Secret::from_file_text(b" \n\n").is_err());
        assert!(Secret::from_file_text(&[b'x'; MAX_SECRET_BYTES + 1]).is_err());
        assert!(Secret::from_file_text(&[b'x'; MIN_SECRET_BYTES]).is_ok());
        assert!(Secret::from_file_text(&[0xff; 40]).is_ok(), "raw bytes");
    }
}

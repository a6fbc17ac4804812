//! Signed tokens (`auth_token_secret_file`): a client sends
//! `v1:EXPIRY:SIGNATURE` as its password, EXPIRY in Unix seconds and
//! SIGNATURE the lowercase hex HMAC-SHA256, under the shared secret, of
//! `CLIENTID\nUSERNAME\nEXPIRY` (docs/security.md, "Signed tokens").
//! `edgemq token` makes them; a device's provisioning service can make the
//! same with any HMAC library.
//!
//! Sans-IO: the secret comes in as bytes, the time as a number.
//! Invariants: the signature is compared in constant time (*ring*'s
//! `hmac::verify`); EXPIRY is canonical decimal (no sign, no leading zero),
//! so one token has one signed text.

use ring::hmac;

use super::secret::Secret;

/// What every token starts with; a later format gets `v2:`.
pub const PREFIX: &str = "v1:";

/// Hex of HMAC-SHA256: 32 bytes.
const SIGNATURE_HEX: usize = 64;

/// Why a token was refused; said in the log line, never to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not `v1:DIGITS:64 lowercase hex digits`.
    Malformed,
    /// The signature does not match: forged, or made for another client
    /// id, user name or expiry, or under another secret.
    BadSignature,
    /// Signed, but EXPIRY has passed.
    Expired,
}

impl TokenError {
    pub fn describe(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed token",
            TokenError::BadSignature => {
                "token signature does not match (forged, or made for another client id or user)"
            }
            TokenError::Expired => "token expired",
        }
    }
}

/// Checks `password` (starting with [`PREFIX`]) for this client id and
/// user at `unix_now`; returns the token's expiry.
pub fn verify(
    secret: &Secret,
    client_id: &str,
    username: &str,
    password: &[u8],
    unix_now: u64,
) -> Result<u64, TokenError> {
    let text = std::str::from_utf8(password).map_err(|_| TokenError::Malformed)?;
    let rest = text.strip_prefix(PREFIX).ok_or(TokenError::Malformed)?;
    let (expiry_text, signature) = rest.split_once(':').ok_or(TokenError::Malformed)?;
    let expiry = canonical_decimal(expiry_text).ok_or(TokenError::Malformed)?;
    let signature = lower_hex(signature).ok_or(TokenError::Malformed)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.bytes());
    hmac::verify(
        &key,
        &signed_text(client_id, username, expiry_text),
        &signature,
    )
    .map_err(|_| TokenError::BadSignature)?;
    if expiry <= unix_now {
        return Err(TokenError::Expired);
    }
    Ok(expiry)
}

/// The token for this client id and user, valid until `expiry`.
pub fn make(secret: &Secret, client_id: &str, username: &str, expiry: u64) -> String {
    let expiry_text = expiry.to_string();
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.bytes());
    let tag = hmac::sign(&key, &signed_text(client_id, username, &expiry_text));
    let mut token = format!("{PREFIX}{expiry_text}:");
    for byte in tag.as_ref() {
        token.push_str(&format!("{byte:02x}"));
    }
    token
}

/// `CLIENTID\nUSERNAME\nEXPIRY`.
fn signed_text(client_id: &str, username: &str, expiry: &str) -> Vec<u8> {
    [client_id, username, expiry].join("\n").into_bytes()
}

/// Digits without a leading zero (or "0"), fitting a u64.
fn canonical_decimal(text: &str) -> Option<u64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let canonical = text == "0" || !text.starts_with('0');
    (digits && canonical).then(|| text.parse().ok()).flatten()
}

/// Exactly 64 lowercase hex digits, as bytes.
fn lower_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != SIGNATURE_HEX {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some((nibble(*hi)? << 4) | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::from_file_text(b"0123456789abcdef0123456789abcdef\n").unwrap()
    }

    #[test]
    fn made_tokens_verify_until_they_expire() {
        let s = secret();
        let token = make(&s, "dev-1", "alice", 1_900_000_000);
        assert!(token.starts_with("v1:1900000000:"));
        assert_eq!(token.len(), 3 + 10 + 1 + 64);
        let ok = verify(&s, "dev-1", "alice", token.as_bytes(), 1_800_000_000);
        assert_eq!(ok, Ok(1_900_000_000));
        let at_expiry = verify(&s, "dev-1", "alice", token.as_bytes(), 1_900_000_000);
        assert_eq!(at_expiry, Err(TokenError::Expired));
    }

    /// The same token as `printf 'dev-1\nalice\n1900000000' | openssl dgst
    /// -sha256 -hmac 0123456789abcdef0123456789abcdef`.
    #[test]
    fn matches_an_independent_hmac() {
        let token = make(&secret(), "dev-1", "alice", 1_900_000_000);
        assert_eq!(
            token,
            "v1:1900000000:05bdd64019a6cdfff13e3161cf2b2d51fef077ab9d767bbc5cd268535389fdf3"
        );
    }

    #[test]
    fn forged_and_misdirected_tokens_are_refused() {
        let s = secret();
        let token = make(&s, "dev-1", "alice", 1_900_000_000);
        let now = 1_800_000_000;
        let bad = TokenError::BadSignature;
        assert_eq!(
            verify(&s, "dev-2", "alice", token.as_bytes(), now),
            Err(bad)
        );
        assert_eq!(verify(&s, "dev-1", "bob", token.as_bytes(), now), Err(bad));
        let other = Secret::from_file_text(b"another secret, also 32 bytes long").unwrap();
        assert_eq!(
            verify(&other, "dev-1", "alice", token.as_bytes(), now),
            Err(bad)
        );
        // A later expiry under the old signature.
        let moved = token.replace("1900000000", "1900000001");
        assert_eq!(
            verify(&s, "dev-1", "alice", moved.as_bytes(), now),
            Err(bad)
        );
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(verify(&s, "dev-1", "alice", &flipped, now), Err(bad));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let s = secret();
        let token = make(&s, "c", "u", 1_900_000_000);
        let sig = &token[14..];
        let cases = [
            String::new(),
            "v1:".to_owned(),
            "v1:1900000000".to_owned(),
            format!("v2:1900000000:{sig}"),
            format!("v1:01900000000:{sig}"),
            format!("v1:+1900000000:{sig}"),
            format!("v1:99999999999999999999:{sig}"),
            format!("v1:1900000000:{}", sig.to_uppercase()),
            format!("v1:1900000000:{}", &sig[1..]),
            format!("v1:1900000000:{sig}0"),
            format!("v1:1900000000:{sig}:x"),
            format!("v1::{sig}"),
        ];
        for case in cases {
            assert_eq!(
                verify(&s, "c", "u", case.as_bytes(), 0),
                Err(TokenError::Malformed),
                "{case}"
            );
        }
        assert_eq!(
            verify(&s, "c", "u", b"v1:1:\xff", 0),
            Err(TokenError::Malformed)
        );
    }
}

//! The password file, the ACL file and the two token formats a client may
//! send as its password (edgemq's signed tokens and JWTs).
//!
//! Input: one selector byte, then the text. A JWT's signature is made
//! here with a known HS256 key when the selector asks, so that the claims
//! reader is reached, not only the signature check.

use edgemq::acl::{Access, Acl, Who};
#[cfg(feature = "jwt")]
use edgemq::auth::base64::{self, Alphabet};
#[cfg(feature = "jwt")]
use edgemq::auth::{jwt, jwt_key::JwtKey};
use edgemq::auth::{token, PasswordFile, Secret};

/// Mid-2026 in Unix seconds: expiries either side of it are reachable.
const NOW: u64 = 1_780_000_000;
const KEY: &[u8] = b"fuzzing-key-fuzzing-key-fuzzing!\n";

pub fn auth_files(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => password_file(input),
        1 => acl_file(input),
        2 => signed_token(input),
        #[cfg(feature = "jwt")]
        3 => jwt_as_sent(input),
        #[cfg(feature = "jwt")]
        _ => jwt_signed_here(input),
        // A build without JWTs (`--no-default-features`) has no reader.
        #[cfg(not(feature = "jwt"))]
        _ => {}
    }
}

fn password_file(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    // Parsing only: checking a password costs the file's own iteration
    // count, which an input would choose.
    let _ = PasswordFile::parse(text);
}

fn acl_file(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let Ok((acl, _warnings)) = Acl::parse(text, "fuzz.acl") else {
        return;
    };
    let _ = acl.rule_count();
    // The compiled rules asked as the broker asks them.
    let rules = edgemq::acl::Rules::File(&acl);
    for (client_id, username) in [("c1", Some("alice")), ("c2", None), ("+", Some("#"))] {
        let who = Who {
            client_id,
            username,
        };
        for topic in ["a/b", "c1/alice", "$SYS/x", "", "/"] {
            let _ = rules.permits(&who, topic, Access::Read);
            let _ = rules.permits(&who, topic, Access::Write);
        }
        for filter in ["#", "a/+", "+/alice/#", "$SYS/#"] {
            let _ = rules.subscription(&who, filter);
        }
    }
}

fn secret() -> Secret {
    Secret::from_file_text(KEY).expect("the harness's key is a valid secret")
}

fn signed_token(input: &[u8]) {
    let _ = token::verify(&secret(), "client", "user", input, NOW);
}

#[cfg(feature = "jwt")]
fn jwt_as_sent(input: &[u8]) {
    let key = JwtKey::Hs256(secret());
    let _ = jwt::looks_like_jwt(input);
    let _ = jwt::verify(&key, "client", "user", input, NOW);
}

/// Input: header JSON, a 0 byte, claims JSON; signed with the key.
#[cfg(feature = "jwt")]
fn jwt_signed_here(input: &[u8]) {
    let mut parts = input.splitn(2, |&b| b == 0);
    let header = parts.next().unwrap_or_default();
    let claims = parts.next().unwrap_or_default();
    let signed = format!(
        "{}.{}",
        base64::encode(header, Alphabet::UrlSafe),
        base64::encode(claims, Alphabet::UrlSafe)
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret().bytes());
    let tag = ring::hmac::sign(&key, signed.as_bytes());
    let token = format!(
        "{signed}.{}",
        base64::encode(tag.as_ref(), Alphabet::UrlSafe)
    );
    let _ = jwt::verify(
        &JwtKey::Hs256(secret()),
        "client",
        "user",
        token.as_bytes(),
        NOW,
    );
}

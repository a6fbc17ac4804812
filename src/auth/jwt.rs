//! JWTs in the CONNECT password (`auth_jwt_key_file`, docs/security.md,
//! "JWT"): compact JWS (RFC 7515) signed with the one configured
//! algorithm, HS256 or ES256, whose claims (RFC 7519) name the user.
//!
//! Checked in this order, each failure a refusal: the shape and size; the
//! header's `alg`, which must be the key's (`none`, and every other
//! algorithm, is refused before any signature is looked at: the key, not
//! the token, decides how a token is checked); the signature; then the
//! claims: `exp` required and in the future, `nbf` if present not in the
//! future, `sub` equal to the CONNECT user name, `clientid` if present
//! equal to the client id, `acl` if present well-formed. No leeway for
//! clock skew: the issuer sets `exp` with whatever margin it wants.
//!
//! Sans-IO: the key comes in parsed, the time as Unix seconds.

use ring::{hmac, signature};

use super::base64::{self, Alphabet};
use super::identity::TokenAcl;
use super::json::{self, Value};
use super::jwt_key::JwtKey;
use crate::topic::{validate_topic_filter, TopicLimits};

/// A JWT rides in the CONNECT password; one carrying two full ACL lists
/// fits with room. Longer ones are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 8192;

/// Filters per `acl` list: enough for any device's topics, few enough
/// that each connection's copy stays small.
pub const MAX_ACL_FILTERS: usize = 64;

/// Why a JWT was refused; said in the log line, never to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of JSON objects, or over the size cap.
    Malformed(&'static str),
    /// `alg` is not the configured one (`none` included).
    Algorithm(String),
    /// The header lists `crit` extensions (RFC 7515 §4.1.11): none are
    /// understood here, so the token must be refused.
    Critical,
    BadSignature,
    MissingExpiry,
    Expired,
    NotYetValid,
    /// `sub` is missing or names another user.
    WrongSubject,
    /// `clientid` names another client.
    WrongClientId,
    BadAcl(&'static str),
}

impl JwtError {
    pub fn describe(&self) -> String {
        match self {
            JwtError::Malformed(why) => format!("malformed JWT: {why}"),
            JwtError::Algorithm(alg) => {
                format!("JWT alg '{}' is not the configured one", alg.escape_debug())
            }
            JwtError::Critical => "JWT has crit header extensions".to_owned(),
            JwtError::BadSignature => "JWT signature does not match".to_owned(),
            JwtError::MissingExpiry => "JWT has no exp claim".to_owned(),
            JwtError::Expired => "JWT expired".to_owned(),
            JwtError::NotYetValid => "JWT not valid yet (nbf)".to_owned(),
            JwtError::WrongSubject => "JWT sub is not the user name".to_owned(),
            JwtError::WrongClientId => "JWT clientid is not the client id".to_owned(),
            JwtError::BadAcl(why) => format!("JWT acl claim: {why}"),
        }
    }
}

/// What a verified JWT grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub expiry: i64,
    pub acl: Option<TokenAcl>,
}

/// Three non-empty-headed base64url parts joined by dots (an unsigned
/// token's third part is empty): what the method choice tests before
/// handing a password here.
pub fn looks_like_jwt(password: &[u8]) -> bool {
    let mut parts = password.split(|&b| b == b'.');
    let base64url = |p: &[u8]| {
        p.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !header.is_empty()
        && !payload.is_empty()
        && base64url(header)
        && base64url(payload)
        && base64url(signature)
}

/// Verifies `password` as a JWT for this client at `unix_now`.
pub fn verify(
    key: &JwtKey,
    client_id: &str,
    username: &str,
    password: &[u8],
    unix_now: u64,
) -> Result<Claims, JwtError> {
    if password.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::Malformed("longer than the ceiling"));
    }
    let parts: Vec<&[u8]> = password.split(|&b| b == b'.').collect();
    let [header, payload, sig] = parts.as_slice() else {
        return Err(JwtError::Malformed("not three parts"));
    };
    check_header(&decode_json(header)?, key)?;
    let signed_len = header.len() + 1 + payload.len();
    let signed = password.get(..signed_len).unwrap_or_default();
    let sig = base64::decode(sig, Alphabet::UrlSafe)
        .ok_or(JwtError::Malformed("signature is not base64url"))?;
    check_signature(key, signed, &sig)?;
    let claims = decode_json(payload)?;
    check_claims(&claims, client_id, username, unix_now)
}

fn decode_json(part: &[u8]) -> Result<Value, JwtError> {
    let bytes =
        base64::decode(part, Alphabet::UrlSafe).ok_or(JwtError::Malformed("not base64url"))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| JwtError::Malformed("not UTF-8"))?;
    let value = json::parse(text).map_err(JwtError::Malformed)?;
    match value {
        Value::Object(_) => Ok(value),
        _ => Err(JwtError::Malformed("not a JSON object")),
    }
}

fn check_header(header: &Value, key: &JwtKey) -> Result<(), JwtError> {
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(JwtError::Malformed("no alg in the header"))?;
    if alg != key.alg() {
        return Err(JwtError::Algorithm(alg.to_owned()));
    }
    if header.get("crit").is_some() {
        return Err(JwtError::Critical);
    }
    Ok(())
}

fn check_signature(key: &JwtKey, signed: &[u8], sig: &[u8]) -> Result<(), JwtError> {
    let verified = match key {
        JwtKey::Hs256(secret) => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret.bytes());
            hmac::verify(&key, signed, sig)
        }
        JwtKey::Es256(point) => {
            // JWS carries R || S, 64 bytes (RFC 7518 §3.4), not DER.
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(signed, sig)
        }
    };
    verified.map_err(|_| JwtError::BadSignature)
}

fn check_claims(
    claims: &Value,
    client_id: &str,
    username: &str,
    unix_now: u64,
) -> Result<Claims, JwtError> {
    let now = i64::try_from(unix_now).unwrap_or(i64::MAX);
    let expiry = match claims.get("exp") {
        None => return Err(JwtError::MissingExpiry),
        Some(Value::Number(Some(exp))) => *exp,
        Some(_) => return Err(JwtError::Malformed("exp is not a number of seconds")),
    };
    if expiry <= now {
        return Err(JwtError::Expired);
    }
    match claims.get("nbf") {
        None => {}
        Some(Value::Number(Some(nbf))) if *nbf <= now => {}
        Some(Value::Number(Some(_))) => return Err(JwtError::NotYetValid),
        Some(_) => return Err(JwtError::Malformed("nbf is not a number of seconds")),
    }
    if claims.get("sub").and_then(Value::as_str) != Some(username) {
        return Err(JwtError::WrongSubject);
    }
    match claims.get("clientid") {
        None => {}
        Some(Value::String(id)) if id == client_id => {}
        Some(_) => return Err(JwtError::WrongClientId),
    }
    let acl = claims.get("acl").map(read_acl).transpose()?;
    Ok(Claims { expiry, acl })
}

/// `{"pub": [filters], "sub": [filters]}`, both optional, nothing else.
fn read_acl(acl: &Value) -> Result<TokenAcl, JwtError> {
    let Value::Object(members) = acl else {
        return Err(JwtError::BadAcl("not an object"));
    };
    let mut out = TokenAcl::default();
    for (key, list) in members {
        let target = match key.as_str() {
            "pub" => &mut out.publish,
            "sub" => &mut out.subscribe,
            _ => return Err(JwtError::BadAcl("keys other than pub and sub")),
        };
        *target = read_filters(list)?;
    }
    Ok(out)
}

fn read_filters(list: &Value) -> Result<Vec<Box<str>>, JwtError> {
    let Value::Array(items) = list else {
        return Err(JwtError::BadAcl("a list is not an array"));
    };
    if items.len() > MAX_ACL_FILTERS {
        return Err(JwtError::BadAcl("more filters than the ceiling of 64"));
    }
    items
        .iter()
        .map(|item| {
            let filter = item
                .as_str()
                .ok_or(JwtError::BadAcl("a filter is not a string"))?;
            validate_topic_filter(filter, &TopicLimits::DEFAULT)
                .map_err(|_| JwtError::BadAcl("a filter is not a valid topic filter"))?;
            Ok(filter.into())
        })
        .collect()
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;

//! Tests of `jwt.rs`: tokens made here with *ring*, as an issuer would.

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use super::*;
use crate::auth::secret::Secret;

const NOW: u64 = 1_800_000_000;
const SECRET: &[u8] = b"a jwt secret of at least 32 bytes!!";

fn b64(bytes: &[u8]) -> String {
    base64::encode(bytes, Alphabet::UrlSafe)
}

fn hs256_key() -> JwtKey {
    JwtKey::Hs256(Secret::from_file_text(SECRET).unwrap())
}

fn hs256(header: &str, claims: &str, secret: &[u8]) -> String {
    let signed = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, signed.as_bytes());
    format!("{signed}.{}", b64(tag.as_ref()))
}

const HS: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn claims(extra: &str) -> String {
    format!(r#"{{"sub":"alice","exp":{}{extra}}}"#, NOW + 60)
}

fn check(token: &str) -> Result<Claims, JwtError> {
    verify(&hs256_key(), "dev-1", "alice", token.as_bytes(), NOW)
}

#[test]
fn hs256_tokens_verify() {
    let token = hs256(HS, &claims(""), SECRET);
    assert!(looks_like_jwt(token.as_bytes()));
    let ok = check(&token).unwrap();
    assert_eq!((ok.expiry, ok.acl), (1_800_000_060, None));
    let with_id = hs256(
        HS,
        &claims(r#","clientid":"dev-1","nbf":1700000000"#),
        SECRET,
    );
    assert!(check(&with_id).is_ok());
}

#[test]
fn es256_tokens_verify() {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let key = JwtKey::Es256(pair.public_key().as_ref().into());
    let header = r#"{"alg":"ES256","typ":"JWT"}"#;
    let signed = format!("{}.{}", b64(header.as_bytes()), b64(claims("").as_bytes()));
    let sig = pair.sign(&rng, signed.as_bytes()).unwrap();
    let token = format!("{signed}.{}", b64(sig.as_ref()));
    assert!(verify(&key, "dev-1", "alice", token.as_bytes(), NOW).is_ok());
    // An HS256 token under an ES256 key: refused by alg, whatever the secret
    // (the public key as an HMAC secret is the classic confusion attack).
    let point = match &key {
        JwtKey::Es256(p) => p.to_vec(),
        JwtKey::Hs256(_) => unreachable!(),
    };
    let confused = hs256(HS, &claims(""), &point);
    assert_eq!(
        verify(&key, "dev-1", "alice", confused.as_bytes(), NOW),
        Err(JwtError::Algorithm("HS256".into()))
    );
    let mut tampered = token.into_bytes();
    let i = tampered.len() - 5;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        verify(&key, "dev-1", "alice", &tampered, NOW),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn alg_none_and_other_algorithms_are_refused() {
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(claims("").as_bytes())
    );
    assert!(looks_like_jwt(unsigned.as_bytes()));
    assert_eq!(check(&unsigned), Err(JwtError::Algorithm("none".into())));
    for alg in ["None", "HS384", "HS512", "RS256", "ES256", "hs256"] {
        let token = hs256(&format!(r#"{{"alg":"{alg}"}}"#), &claims(""), SECRET);
        assert_eq!(check(&token), Err(JwtError::Algorithm(alg.into())), "{alg}");
    }
    let no_alg = hs256(r#"{"typ":"JWT"}"#, &claims(""), SECRET);
    assert!(matches!(check(&no_alg), Err(JwtError::Malformed(_))));
    let crit = hs256(r#"{"alg":"HS256","crit":["exp"]}"#, &claims(""), SECRET);
    assert_eq!(check(&crit), Err(JwtError::Critical));
}

#[test]
fn claims_are_enforced() {
    let cases = [
        (r#"{"sub":"alice"}"#.to_owned(), JwtError::MissingExpiry),
        (
            format!(r#"{{"sub":"alice","exp":{NOW}}}"#),
            JwtError::Expired,
        ),
        (format!(r#"{{"exp":{}}}"#, NOW + 60), JwtError::WrongSubject),
        (
            format!(r#"{{"sub":"bob","exp":{}}}"#, NOW + 60),
            JwtError::WrongSubject,
        ),
        (
            format!(r#"{{"sub":1,"exp":{}}}"#, NOW + 60),
            JwtError::WrongSubject,
        ),
        (claims(r#","clientid":"dev-2""#), JwtError::WrongClientId),
        (claims(r#","clientid":7"#), JwtError::WrongClientId),
        (
            claims(&format!(r#","nbf":{}"#, NOW + 1)),
            JwtError::NotYetValid,
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(check(&hs256(HS, &body, SECRET)), Err(expected), "{body}");
    }
    for body in [
        r#"{"sub":"alice","exp":"1900000000"}"#,
        r#"{"sub":"alice","exp":1.9e9}"#,
        r#"{"sub":"alice","exp":1900000000,"nbf":"0"}"#,
        r#"{"sub":"alice","exp":1900000000,"exp":1}"#,
        r#"["sub","alice"]"#,
    ] {
        let result = check(&hs256(HS, body, SECRET));
        assert!(
            matches!(result, Err(JwtError::Malformed(_))),
            "{body}: {result:?}"
        );
    }
    // A fraction of a second is dropped, as NumericDate allows.
    let fraction = format!(r#"{{"sub":"alice","exp":{}.9}}"#, NOW + 1);
    assert_eq!(
        check(&hs256(HS, &fraction, SECRET)).unwrap().expiry,
        1_800_000_001
    );
    let forged = hs256(HS, &claims(""), b"another secret of at least 32 bytes");
    assert_eq!(check(&forged), Err(JwtError::BadSignature));
}

#[test]
fn acl_claims_are_carried() {
    let token = hs256(
        HS,
        &claims(r#","acl":{"pub":["devices/dev-1/#"],"sub":["cmd/dev-1/+","broadcast"]}"#),
        SECRET,
    );
    let acl = check(&token).unwrap().acl.unwrap();
    assert_eq!(&*acl.publish, [Box::from("devices/dev-1/#")]);
    assert_eq!(
        &*acl.subscribe,
        [Box::from("cmd/dev-1/+"), Box::from("broadcast")]
    );
    let only_pub = hs256(HS, &claims(r#","acl":{"pub":[]}"#), SECRET);
    assert_eq!(check(&only_pub).unwrap().acl, Some(TokenAcl::default()));
    let too_many = format!(r#","acl":{{"sub":[{}"x"]}}"#, r#""x","#.repeat(64));
    for extra in [
        r#","acl":["a"]"#,
        r#","acl":{"publish":["a"]}"#,
        r#","acl":{"pub":"a"}"#,
        r#","acl":{"pub":[1]}"#,
        r#","acl":{"pub":["a/#/b"]}"#,
        r#","acl":{"pub":[""]}"#,
        too_many.as_str(),
    ] {
        let result = check(&hs256(HS, &claims(extra), SECRET));
        assert!(
            matches!(result, Err(JwtError::BadAcl(_))),
            "{extra}: {result:?}"
        );
    }
}

#[test]
fn hostile_shapes_are_refused() {
    let good = hs256(HS, &claims(""), SECRET);
    let (head, _) = good.split_once('.').unwrap();
    let huge = format!("{head}.{}.AAAA", "A".repeat(MAX_TOKEN_BYTES));
    let deep = hs256(HS, &format!("{}{}", "[".repeat(50), "]".repeat(50)), SECRET);
    for token in [
        "".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!("{good}."),
        format!("{head}.!!!.AAAA"),
        format!("{}.e30.", b64(b"\xff\xfe")),
        huge,
        deep,
        good.replace('.', ".="),
    ] {
        assert!(check(&token).is_err(), "{token:.60}");
    }
    for not_jwt in [
        &b"secret"[..],
        b"v1:123:abcd",
        b"a.b",
        b".a.b",
        b"a..b",
        b"a.b.c.d",
        b"a b.c.d",
    ] {
        assert!(!looks_like_jwt(not_jwt), "{not_jwt:?}");
    }
}

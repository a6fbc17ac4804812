//! What one credential check costs on this machine (no broker involved):
//! edgemq makes each check on its event loop, where nothing else is
//! served meanwhile, so this is how long one CONNECT with a password
//! holds up every other client (docs/security.md, "What a check costs").
//! Run it on the device, or under qemu-user for an upper bound.

use std::io;
use std::time::Instant;

use argh::FromArgs;
use edgemq::auth::password_hash::{HashKind, PasswordHash};
use edgemq::auth::{token, Secret};

use crate::report::{percentile, Json};
use crate::Common;

/// CPU time of one password, token or JWT check (no broker involved)
#[derive(FromArgs)]
#[argh(subcommand, name = "auth-cost")]
pub struct Args {
    /// checks of each kind (default 200)
    #[argh(option, default = "200")]
    count: usize,
}

pub fn run(common: &Common, args: &Args) -> io::Result<String> {
    let count = args.count.max(1);
    let random = ring::rand::SystemRandom::new();
    let mut json = Json::new("auth-cost", &common.label);
    json.int("count", count as u64);
    for (name, kind) in [
        ("pbkdf2_sha512_101", HashKind::Pbkdf2Sha512),
        ("sha512", HashKind::Sha512),
    ] {
        let hash =
            PasswordHash::new(kind, b"a device password", &random).map_err(io::Error::other)?;
        let times = timed(count, || hash.verify(b"a wrong password"));
        json.float(
            &format!("{name}_p50_us"),
            percentile(&times, 0.50) as f64 / 1e3,
        );
    }
    let secret =
        Secret::from_file_text(b"0123456789abcdef0123456789abcdef").map_err(io::Error::other)?;
    let t = token::make(&secret, "dev-1", "alice", u64::MAX / 2);
    let times = timed(count, || {
        token::verify(&secret, "dev-1", "alice", t.as_bytes(), 0).is_ok()
    });
    json.float("token_p50_us", percentile(&times, 0.50) as f64 / 1e3);
    #[cfg(feature = "jwt")]
    jwt_costs(count, &mut json)?;
    Ok(json.finish())
}

/// An HS256 and an ES256 JWT, each verified `count` times.
#[cfg(feature = "jwt")]
fn jwt_costs(count: usize, json: &mut Json) -> io::Result<()> {
    use edgemq::auth::base64::{encode, Alphabet};
    use edgemq::auth::{jwt, jwt_key::JwtKey};
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let b64 = |b: &[u8]| encode(b, Alphabet::UrlSafe);
    let claims = b64(br#"{"sub":"alice","exp":4000000000}"#);
    fn fail<E>(_: E) -> io::Error {
        io::Error::other("ring refused a generated key")
    }
    let secret = b"0123456789abcdef0123456789abcdef";
    let signed = format!("{}.{claims}", b64(br#"{"alg":"HS256"}"#));
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
        signed.as_bytes(),
    );
    let hs = format!("{signed}.{}", b64(tag.as_ref()));
    let hs_key = JwtKey::from_file_text(secret).map_err(io::Error::other)?;
    let random = ring::rand::SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random).map_err(fail)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &random)
        .map_err(fail)?;
    let signed = format!("{}.{claims}", b64(br#"{"alg":"ES256"}"#));
    let sig = pair.sign(&random, signed.as_bytes()).map_err(fail)?;
    let es = format!("{signed}.{}", b64(sig.as_ref()));
    let es_key = JwtKey::Es256(pair.public_key().as_ref().into());
    for (name, key, token) in [("jwt_hs256", hs_key, hs), ("jwt_es256", es_key, es)] {
        let times = timed(count, || {
            jwt::verify(&key, "dev-1", "alice", token.as_bytes(), 0).is_ok()
        });
        json.float(
            &format!("{name}_p50_us"),
            percentile(&times, 0.50) as f64 / 1e3,
        );
    }
    Ok(())
}

/// Each call's time in ns, sorted; `check`'s answer is kept from the
/// optimiser.
fn timed(count: usize, mut check: impl FnMut() -> bool) -> Vec<u64> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        std::hint::black_box(check());
        times.push(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    times.sort_unstable();
    times
}

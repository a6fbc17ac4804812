//! The key of `auth_jwt_key_file`, chosen by what the file holds
//! (docs/security.md, "JWT"): a PEM `PUBLIC KEY` block is an ES256 key
//! (ECDSA on P-256, the issuer keeps the private half); anything without
//! a PEM block is an HS256 secret, read as [`Secret`] reads one.
//!
//! Other PEM blocks are refused with what was found, so that a private key
//! or a certificate put here by mistake is said, not half-used; so are
//! public keys of other curves or of RSA (RS256 is not supported).

use super::base64::{self, Alphabet};
use super::secret::Secret;

/// The DER prefix of a P-256 SubjectPublicKeyInfo (RFC 5480): SEQUENCE,
/// AlgorithmIdentifier { id-ecPublicKey, prime256v1 }, BIT STRING of 66
/// bytes (no unused bits, then the point). What `openssl ec -pubout`
/// writes for a prime256v1 key.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// An uncompressed P-256 point: 0x04, then x and y of 32 bytes each.
const P256_POINT_BYTES: usize = 65;

/// The one algorithm a broker accepts; every other `alg` is refused.
#[derive(Clone, PartialEq, Eq)]
pub enum JwtKey {
    Hs256(Secret),
    /// The uncompressed public point, as *ring* takes it.
    Es256(Box<[u8]>),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JwtKey({})", self.alg())
    }
}

impl JwtKey {
    /// The key in a file's bytes; the message says what was found.
    pub fn from_file_text(bytes: &[u8]) -> Result<JwtKey, String> {
        let text = std::str::from_utf8(bytes).ok();
        let Some(label) = text.and_then(first_pem_label) else {
            return Secret::from_file_text(bytes)
                .map(JwtKey::Hs256)
                .map_err(|e| format!("as an HS256 secret: {e}"));
        };
        if label != "PUBLIC KEY" {
            return Err(format!(
                "holds a PEM '{label}' block; expected an ES256 public key \
                 (-----BEGIN PUBLIC KEY-----, `openssl ec -in KEY -pubout`) or an HS256 secret"
            ));
        }
        let der = text
            .and_then(pem_block_der)
            .ok_or("the PUBLIC KEY block is not valid base64")?;
        let point = der
            .strip_prefix(&P256_SPKI_PREFIX[..])
            .filter(|p| p.len() == P256_POINT_BYTES && p.first() == Some(&0x04))
            .ok_or(
                "the public key is not an uncompressed P-256 (prime256v1) key: only ES256 \
                 public keys are supported",
            )?;
        Ok(JwtKey::Es256(point.into()))
    }

    /// The JWS `alg` this key verifies.
    pub fn alg(&self) -> &'static str {
        match self {
            JwtKey::Hs256(_) => "HS256",
            JwtKey::Es256(_) => "ES256",
        }
    }
}

/// The label of the first `-----BEGIN LABEL-----` line.
fn first_pem_label(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .map(|rest| rest.trim_end_matches('-'))
}

/// The bytes of the `PUBLIC KEY` block.
fn pem_block_der(text: &str) -> Option<Vec<u8>> {
    let mut lines = text.lines().map(str::trim);
    lines.find(|l| *l == "-----BEGIN PUBLIC KEY-----")?;
    let mut b64 = String::new();
    for line in lines {
        if line == "-----END PUBLIC KEY-----" {
            return base64::decode(b64.as_bytes(), Alphabet::Standard);
        }
        b64.push_str(line);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl ecparam -name prime256v1 -genkey -noout -out k.pem &&
    /// openssl ec -in k.pem -pubout`.
    const P256_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAExOAMQinyXJMfC4Pp99eNohNoi7Vj
ZyQ/KziXgXbZ4fYOyyXFtaL81TwI0jOMw7GSpE/sf0h+0AZoY5xqRYVRsg==
-----END PUBLIC KEY-----
";

    #[test]
    fn chooses_by_content() {
        let es = JwtKey::from_file_text(P256_PUBLIC.as_bytes()).unwrap();
        assert_eq!(es.alg(), "ES256");
        let JwtKey::Es256(point) = &es else { panic!() };
        assert_eq!((point.len(), point[0]), (65, 4));
        let hs = JwtKey::from_file_text(&[b'k'; 40]).unwrap();
        assert_eq!(hs.alg(), "HS256");
        assert_eq!(format!("{hs:?}"), "JwtKey(HS256)");
    }

    #[test]
    fn refuses_other_pem_and_other_keys() {
        let private = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        let e = JwtKey::from_file_text(private.as_bytes()).unwrap_err();
        assert!(e.contains("'EC PRIVATE KEY'"), "{e}");
        // A P-384 key (`openssl ecparam -name secp384r1 ...`).
        let p384 = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEnt9ONYONtWfCVEsNxRHMhbU4l4WXpriZ
yW7l1TMYcIJ8Pd73psOUyum3HJ5y6VGn/OlRhr2Zyf4ylJ8euwp8/QqlR+vYeOlO
8zUh8x/5JgSYFLUmvMpPiTuRtroz6nu0
-----END PUBLIC KEY-----
";
        let e = JwtKey::from_file_text(p384.as_bytes()).unwrap_err();
        assert!(e.contains("only ES256"), "{e}");
        // The same P-256 key, compressed (`-conv_form compressed`).
        let compressed = "-----BEGIN PUBLIC KEY-----
MDkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDIgACxOAMQinyXJMfC4Pp99eNohNoi7Vj
ZyQ/KziXgXbZ4fY=
-----END PUBLIC KEY-----
";
        assert!(JwtKey::from_file_text(compressed.as_bytes()).is_err());
        let broken = "-----BEGIN PUBLIC KEY-----\nMFkw!!\n-----END PUBLIC KEY-----\n";
        assert!(JwtKey::from_file_text(broken.as_bytes()).is_err());
        let unterminated = "-----BEGIN PUBLIC KEY-----\nMFkw\n";
        assert!(JwtKey::from_file_text(unterminated.as_bytes()).is_err());
        let e = JwtKey::from_file_text(b"short").unwrap_err();
        assert!(
            e.contains("HS256 secret") && e.contains("at least 32"),
            "{e}"
        );
    }
}

//! One password hash as mosquitto writes it after `user:`, checked and made
//! with *ring* (docs/security.md, "Password files"):
//!
//! - `$7$ITERATIONS$SALT$HASH`: PBKDF2-HMAC-SHA512, mosquitto 2.0's default
//!   (`mosquitto_passwd -H sha512-pbkdf2`, 101 iterations);
//! - `$6$SALT$HASH`: one SHA-512 of the password followed by the salt,
//!   mosquitto 1.x's (`-H sha512`).
//!
//! SALT and HASH are standard base64 with padding; the hash is 64 bytes,
//! `mosquitto_passwd` makes 12-byte salts. Anything else (mosquitto 2.1's
//! `$argon2id$`, a plain-text password, a cut-off line) is an error the
//! caller reports with the file and line.
//!
//! Invariants: comparisons of a computed hash with a stored one take the
//! same time wherever they differ; the work one check can cost is bounded
//! by [`MAX_ITERATIONS`].

use std::fmt;
use std::num::NonZeroU32;

use ring::{digest, pbkdf2};

use super::base64::{self, Alphabet};

/// mosquitto 2.0's iteration count (`mosquitto_passwd` offers no other).
pub const DEFAULT_ITERATIONS: u32 = 101;

/// The most iterations a `$7$` line may ask for. Every CONNECT with a
/// password runs them on the event loop, where nothing else is served
/// meanwhile: 101 cost ~80 µs on x86 and ~7 ms under qemu-mips
/// (docs/security.md, "What a check costs"), so 10,000 is already a
/// stall of most of a second there, and a file asking for millions would
/// let any client stop the broker for minutes per CONNECT.
pub const MAX_ITERATIONS: u32 = 10_000;

/// Salts longer than this are no safer and only cost memory per user.
const MAX_SALT_BYTES: usize = 64;

/// SHA-512's output, and what mosquitto stores.
const HASH_BYTES: usize = 64;

/// Which of mosquitto's hash kinds (`mosquitto_passwd -H`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// `sha512-pbkdf2`, `$7$`.
    Pbkdf2Sha512,
    /// `sha512`, `$6$`.
    Sha512,
}

impl HashKind {
    /// `mosquitto_passwd -H`'s names.
    pub fn from_name(name: &str) -> Option<HashKind> {
        match name {
            "sha512-pbkdf2" => Some(HashKind::Pbkdf2Sha512),
            "sha512" => Some(HashKind::Sha512),
            _ => None,
        }
    }
}

/// A parsed hash: its kind's parameters, salt and 64-byte digest.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    /// `None` for `$6$`.
    iterations: Option<NonZeroU32>,
    salt: Box<[u8]>,
    hash: [u8; HASH_BYTES],
}

impl fmt::Debug for PasswordHash {
    /// Never the salt or the digest: a log line must not help a guesser.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHash")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl PasswordHash {
    /// Reads what follows `user:`. The message says what is wrong without
    /// repeating the hash.
    pub fn parse(text: &str) -> Result<PasswordHash, String> {
        let fields: Vec<&str> = text.split('$').collect();
        match fields.as_slice() {
            ["", "7", iterations, salt, hash] => {
                let iterations = parse_iterations(iterations)?;
                Self::from_parts(Some(iterations), salt, hash)
            }
            ["", "6", salt, hash] => Self::from_parts(None, salt, hash),
            ["", "7" | "6", ..] => Err("a $7$ or $6$ hash with the wrong number of fields".into()),
            ["", "argon2id", ..] => Err("argon2id hashes (mosquitto 2.1) are not supported: \
                 make the line again with `edgemq passwd` or `mosquitto_passwd -H sha512-pbkdf2`"
                .into()),
            ["", kind, ..] => Err(format!(
                "unknown hash type ${}$ (expected $7$ or $6$)",
                kind.escape_debug()
            )),
            _ => Err("not a hashed password (plain text?): hash the file with \
                 `edgemq passwd -U FILE`"
                .into()),
        }
    }

    fn from_parts(
        iterations: Option<NonZeroU32>,
        salt: &str,
        hash: &str,
    ) -> Result<PasswordHash, String> {
        let salt = base64::decode(salt.as_bytes(), Alphabet::Standard)
            .filter(|s| !s.is_empty() && s.len() <= MAX_SALT_BYTES)
            .ok_or_else(|| format!("the salt is not base64 of 1 to {MAX_SALT_BYTES} bytes"))?;
        let hash = base64::decode(hash.as_bytes(), Alphabet::Standard)
            .and_then(|h| <[u8; HASH_BYTES]>::try_from(h).ok())
            .ok_or_else(|| format!("the hash is not base64 of {HASH_BYTES} bytes"))?;
        Ok(PasswordHash {
            iterations,
            salt: salt.into_boxed_slice(),
            hash,
        })
    }

    /// A new hash of `password` with a fresh 12-byte salt (mosquitto's
    /// size), as `mosquitto_passwd` makes one.
    pub fn new(
        kind: HashKind,
        password: &[u8],
        random: &dyn ring::rand::SecureRandom,
    ) -> Result<PasswordHash, String> {
        let mut salt = [0u8; 12];
        random
            .fill(&mut salt)
            .map_err(|_| "the system's random number generator failed".to_owned())?;
        let iterations = match kind {
            HashKind::Pbkdf2Sha512 => NonZeroU32::new(DEFAULT_ITERATIONS),
            HashKind::Sha512 => None,
        };
        let mut hashed = PasswordHash {
            iterations,
            salt: Box::new(salt),
            hash: [0; HASH_BYTES],
        };
        hashed.hash = hashed.digest(password);
        Ok(hashed)
    }

    /// A `$7$` hash at the default cost whose digest (all zeros) no
    /// password is known to give: checked for unknown users so that they
    /// cost the time a known one does.
    pub fn decoy() -> PasswordHash {
        PasswordHash {
            iterations: Some(NonZeroU32::MIN.saturating_add(DEFAULT_ITERATIONS - 1)),
            salt: Box::new(*b"edgemq-decoy"),
            hash: [0; HASH_BYTES],
        }
    }

    pub fn kind(&self) -> HashKind {
        match self.iterations {
            Some(_) => HashKind::Pbkdf2Sha512,
            None => HashKind::Sha512,
        }
    }

    /// Whether `password` hashes to the stored digest; the comparison takes
    /// the same time wherever the digests differ.
    pub fn verify(&self, password: &[u8]) -> bool {
        match self.iterations {
            Some(iterations) => pbkdf2::verify(
                pbkdf2::PBKDF2_HMAC_SHA512,
                iterations,
                &self.salt,
                password,
                &self.hash,
            )
            .is_ok(),
            None => constant_time_eq(&self.digest(password), &self.hash),
        }
    }

    fn digest(&self, password: &[u8]) -> [u8; HASH_BYTES] {
        let mut out = [0u8; HASH_BYTES];
        match self.iterations {
            Some(iterations) => pbkdf2::derive(
                pbkdf2::PBKDF2_HMAC_SHA512,
                iterations,
                &self.salt,
                password,
                &mut out,
            ),
            None => {
                let mut ctx = digest::Context::new(&digest::SHA512);
                ctx.update(password);
                ctx.update(&self.salt);
                out.copy_from_slice(ctx.finish().as_ref());
            }
        }
        out
    }
}

impl fmt::Display for PasswordHash {
    /// The form of the password file, as `mosquitto_passwd` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let salt = base64::encode(&self.salt, Alphabet::Standard);
        let hash = base64::encode(&self.hash, Alphabet::Standard);
        match self.iterations {
            Some(n) => write!(f, "$7${n}${salt}${hash}"),
            None => write!(f, "$6${salt}${hash}"),
        }
    }
}

/// `1..=MAX_ITERATIONS`, digits only.
fn parse_iterations(text: &str) -> Result<NonZeroU32, String> {
    let n = (!text.is_empty() && text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse::<u64>().ok())
        .flatten()
        .ok_or_else(|| "the iteration count is not a number".to_owned())?;
    if n > u64::from(MAX_ITERATIONS) {
        return Err(format!(
            "{n} iterations is above the ceiling of {MAX_ITERATIONS} (each CONNECT would stall \
             the broker that long)"
        ));
    }
    u32::try_from(n)
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| "0 iterations".to_owned())
}

/// Equal lengths and bytes, in a time that depends on the length only.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by Debian's mosquitto_passwd 2.0.11: `-c -b pw alice secret`,
    /// then `-H sha512 -b pw bob hunter2`.
    const ALICE: &str = "$7$101$ENTtIy0JhtQOoMQa$I7BnvpkLC84dwMZCLJLM0wvvGmQs15rGgNlOqgIxCLOosLAlfEFoXISOXS4dEC3drK4M/cUvo4kTSoffvT2JhA==";
    const BOB: &str = "$6$A7DixVtrAE8HlOb4$Nu7GlKfNO3VbWgQxMpb6pVHs6UgrmuUKEULp6a3zEEzEBgaDaxXpxg49Jh8fs8Uiuytaac1rkFabEn6kIv4Lbg==";

    #[test]
    fn mosquitto_passwd_hashes_verify() {
        let alice = PasswordHash::parse(ALICE).unwrap();
        assert_eq!(alice.kind(), HashKind::Pbkdf2Sha512);
        assert!(alice.verify(b"secret"));
        assert!(!alice.verify(b"Secret"));
        assert!(!alice.verify(b""));
        assert_eq!(alice.to_string(), ALICE, "written back as read");
        let bob = PasswordHash::parse(BOB).unwrap();
        assert_eq!(bob.kind(), HashKind::Sha512);
        assert!(bob.verify(b"hunter2"));
        assert!(!bob.verify(b"hunter3"));
        assert_eq!(bob.to_string(), BOB);
        assert!(
            !format!("{alice:?}").contains("ENTt"),
            "Debug hides the salt"
        );
        let decoy = PasswordHash::decoy();
        assert!(decoy.to_string().starts_with("$7$101$"));
        assert_eq!(PasswordHash::parse(&decoy.to_string()).unwrap(), decoy);
    }

    #[test]
    fn new_hashes_verify_and_differ() {
        let random = ring::rand::SystemRandom::new();
        for kind in [HashKind::Pbkdf2Sha512, HashKind::Sha512] {
            let a = PasswordHash::new(kind, b"pw", &random).unwrap();
            let b = PasswordHash::new(kind, b"pw", &random).unwrap();
            assert!(a.verify(b"pw") && !a.verify(b"pW"));
            assert_ne!(a, b, "fresh salt each time");
            assert_eq!(PasswordHash::parse(&a.to_string()).unwrap(), a);
        }
        let line = PasswordHash::new(HashKind::Pbkdf2Sha512, b"x", &random).unwrap();
        assert!(line.to_string().starts_with("$7$101$"));
    }

    #[test]
    fn hostile_and_unknown_hashes_are_refused() {
        let cases = [
            ("plain", "plain text"),
            ("", "plain text"),
            ("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "argon2id"),
            ("$5$abc$def", "unknown hash type $5$"),
            ("$7$101$salt", "wrong number of fields"),
            ("$7$101$a$b$c", "wrong number of fields"),
            ("$6$!!!!$AAAA", "salt"),
            ("$6$$AAAA", "salt"),
            ("$6$c2FsdA==$aGFzaA==", "64 bytes"),
            ("$7$0$c2FsdA==$aGFzaA==", "0 iterations"),
            ("$7$-1$c2FsdA==$aGFzaA==", "not a number"),
            ("$7$$c2FsdA==$aGFzaA==", "not a number"),
            ("$7$99999999999999999999$c2FsdA==$aGFzaA==", "not a number"),
            ("$7$10001$c2FsdA==$aGFzaA==", "above the ceiling of 10000"),
            ("$7$4000000000$c2FsdA==$aGFzaA==", "above the ceiling"),
        ];
        for (text, expected) in cases {
            let e = PasswordHash::parse(text).unwrap_err();
            assert!(e.contains(expected), "{text}: {e}");
        }
        let long_salt = base64::encode(&[7u8; 65], Alphabet::Standard);
        let hash = base64::encode(&[0u8; 64], Alphabet::Standard);
        let e = PasswordHash::parse(&format!("$6${long_salt}${hash}")).unwrap_err();
        assert!(e.contains("salt"), "{e}");
        let ok = PasswordHash::parse(&format!("$7$10000$c2FsdA==${hash}")).unwrap();
        assert!(!ok.verify(b"x"));
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}

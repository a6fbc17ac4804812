//! Base64 (RFC 4648) as credentials use it: the standard alphabet with
//! padding in password files (RFC 4648 §4, what `mosquitto_passwd`
//! writes) and PEM keys, the URL-safe alphabet without padding in JWTs
//! (RFC 4648 §5, as RFC 7515 §2 uses it).
//!
//! Strict on purpose: a character outside the alphabet, padding where the
//! alphabet has none, or leftover bits that are not zero make the input
//! invalid. Two spellings of one hash or one signature would let a forged
//! token pass a byte comparison made elsewhere. Never panics.

/// Which RFC 4648 alphabet, and whether `=` padding is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// `+` `/`, padded to a multiple of four characters (RFC 4648 §4).
    Standard,
    /// `-` `_`, no padding (RFC 4648 §5, as JWS uses it).
    UrlSafe,
}

impl Alphabet {
    fn table(self) -> &'static [u8; 64] {
        match self {
            Alphabet::Standard => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            }
            Alphabet::UrlSafe => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            }
        }
    }

    fn value(self, c: u8) -> Option<u8> {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' if self == Alphabet::Standard => 62,
            b'/' if self == Alphabet::Standard => 63,
            b'-' if self == Alphabet::UrlSafe => 62,
            b'_' if self == Alphabet::UrlSafe => 63,
            _ => return None,
        };
        Some(v)
    }
}

/// Decodes `text`; `None` if it is not canonical base64 of `alphabet`.
pub fn decode(text: &[u8], alphabet: Alphabet) -> Option<Vec<u8>> {
    let data = match alphabet {
        Alphabet::Standard => {
            if !text.len().is_multiple_of(4) {
                return None;
            }
            let pad = text.iter().rev().take_while(|&&c| c == b'=').count();
            if pad > 2 {
                return None;
            }
            text.get(..text.len() - pad)?
        }
        Alphabet::UrlSafe => text,
    };
    // One character alone carries 6 bits: never a whole byte.
    if data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &c in data {
        acc = (acc << 6) | u32::from(alphabet.value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // RFC 4648 §3.5: the bits left over must be zero.
    (acc == 0).then_some(out)
}

/// Encodes `bytes`, with padding for [`Alphabet::Standard`].
pub fn encode(bytes: &[u8], alphabet: Alphabet) -> String {
    let table = alphabet.table();
    let sextet = |v: u32| char::from(table.get((v & 63) as usize).copied().unwrap_or(b'A'));
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = |i: usize| u32::from(group.get(i).copied().unwrap_or(0));
        let v = (b(0) << 16) | (b(1) << 8) | b(2);
        let chars = [v >> 18, v >> 12, v >> 6, v];
        // n bytes make n + 1 characters.
        for &c in chars.iter().take(group.len() + 1) {
            out.push(sextet(c));
        }
        if alphabet == Alphabet::Standard {
            for _ in group.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in vectors {
            assert_eq!(encode(plain.as_bytes(), Alphabet::Standard), coded);
            assert_eq!(
                decode(coded.as_bytes(), Alphabet::Standard).unwrap(),
                plain.as_bytes()
            );
            let url = coded.trim_end_matches('=');
            assert_eq!(encode(plain.as_bytes(), Alphabet::UrlSafe), url);
            assert_eq!(
                decode(url.as_bytes(), Alphabet::UrlSafe).unwrap(),
                plain.as_bytes()
            );
        }
    }

    #[test]
    fn refuses_what_is_not_canonical() {
        for bad in [
            "Zg",
            "Zg=",
            "Zg===",
            "Z===",
            "Zh==",
            "Zm9v YmFy",
            "Zm9-",
            "====",
            "Zg==Zg==",
        ] {
            assert_eq!(decode(bad.as_bytes(), Alphabet::Standard), None, "{bad}");
        }
        for bad in ["Zg==", "Zh", "Z", "Zm9+", "Zm9/", "a.b"] {
            assert_eq!(decode(bad.as_bytes(), Alphabet::UrlSafe), None, "{bad}");
        }
        assert_eq!(decode(b"-_8", Alphabet::UrlSafe).unwrap(), [0xfb, 0xff]);
    }

    proptest! {
        #[test]
        fn round_trips(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
            for alphabet in [Alphabet::Standard, Alphabet::UrlSafe] {
                let text = encode(&bytes, alphabet);
                prop_assert_eq!(decode(text.as_bytes(), alphabet), Some(bytes.clone()));
            }
        }

        #[test]
        fn random_text_never_panics(text in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&text, Alphabet::Standard);
            let _ = decode(&text, Alphabet::UrlSafe);
        }
    }
}

//! `Key`: the string a topic tree indexes by (a level, or a whole filter
//! without wildcards), stored inline when short.
//!
//! Owns: the representation. Keys are many and mostly short (a device id, a
//! level name, a short topic), and a boxed string of a few bytes costs its
//! 16-byte handle plus a 32-byte heap block; up to `INLINE_MAX` bytes are
//! kept in the 24 bytes the key occupies anyway. Longer keys are boxed.
//!
//! Lookups compare and hash bytes (`Borrow<[u8]>`), so the publish path
//! never re-validates UTF-8; only listings turn a key back into a `&str`.
//!
//! Invariant: the bytes are the UTF-8 of the `&str` the key was made from,
//! and `Hash`/`Eq` are those of the bytes, as `Borrow<[u8]>` requires.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Longest key stored inline: 24 bytes less the tag and the length.
const INLINE_MAX: usize = 22;

#[derive(Clone)]
pub(crate) enum Key {
    Inline { len: u8, bytes: [u8; INLINE_MAX] },
    Heap(Box<str>),
}

impl Key {
    pub(crate) fn new(s: &str) -> Key {
        let src = s.as_bytes();
        let mut bytes = [0u8; INLINE_MAX];
        match (bytes.get_mut(..src.len()), u8::try_from(src.len())) {
            (Some(dst), Ok(len)) => {
                dst.copy_from_slice(src);
                Key::Inline { len, bytes }
            }
            _ => Key::Heap(s.into()),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Key::Heap(s) => s.as_bytes(),
        }
    }

    /// The key as a string. Validates inline bytes again (no unsafe code),
    /// so it is for listings, not the publish path; the invariant makes the
    /// empty fallback unreachable.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Key::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Key::Heap(s) => s,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn a_key_is_three_words() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
    }

    #[test]
    fn short_keys_are_inline_long_ones_boxed() {
        for s in ["", "a", "bench/c/1234", "0123456789012345678901", "é/ü"] {
            let k = Key::new(s);
            assert!(matches!(k, Key::Inline { .. }), "{s}");
            assert_eq!(k.as_str(), s);
            assert_eq!(k.as_bytes(), s.as_bytes());
        }
        let long = "01234567890123456789012";
        let k = Key::new(long);
        assert!(matches!(k, Key::Heap(_)));
        assert_eq!(k.as_str(), long);
        assert_eq!(format!("{k:?}"), format!("{long:?}"));
    }

    #[test]
    fn map_lookups_by_bytes() {
        let mut m = HashMap::new();
        for s in ["a", "", "x/y", "a-rather-long-device-identifier"] {
            m.insert(Key::new(s), s.len());
        }
        for s in ["a", "", "x/y", "a-rather-long-device-identifier"] {
            assert_eq!(m.get(s.as_bytes()), Some(&s.len()));
        }
        assert_eq!(m.get("b".as_bytes()), None);
        assert!(Key::new("ab") != Key::new("a"));
    }
}

//! Client identifiers: validated once, then carried as a newtype.

use std::fmt;

/// Characters `strict_identifiers` allows in a client id (the cloud seeds'
/// rule: letters, digits and `_ @ . : -`).
fn strict_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '.' | ':' | '-')
}

/// Why a client id is refused (CONNACK 0x02 / 0x85).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientIdError {
    Empty,
    TooLong { len: usize, max: usize },
    BadCharacter,
}

impl fmt::Display for ClientIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientIdError::Empty => write!(f, "empty client id"),
            ClientIdError::TooLong { len, max } => {
                write!(
                    f,
                    "client id of {len} bytes exceeds max_client_id_length {max}"
                )
            }
            ClientIdError::BadCharacter => {
                write!(f, "client id has characters strict_identifiers forbids")
            }
        }
    }
}

/// A validated client identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(Box<str>);

impl ClientId {
    pub fn new(raw: &str, max_len: usize, strict: bool) -> Result<ClientId, ClientIdError> {
        if raw.is_empty() {
            return Err(ClientIdError::Empty);
        }
        if raw.len() > max_len {
            return Err(ClientIdError::TooLong {
                len: raw.len(),
                max: max_len,
            });
        }
        if strict && !raw.chars().all(strict_char) {
            return Err(ClientIdError::BadCharacter);
        }
        Ok(ClientId(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for ClientId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_and_strict_rules() {
        assert_eq!(ClientId::new("", 8, false), Err(ClientIdError::Empty));
        assert!(ClientId::new("12345678", 8, false).is_ok());
        assert_eq!(
            ClientId::new("123456789", 8, false),
            Err(ClientIdError::TooLong { len: 9, max: 8 })
        );
        assert!(ClientId::new("GID_a@@dev-1.x:y", 64, true).is_ok());
        assert_eq!(
            ClientId::new("a b", 64, true),
            Err(ClientIdError::BadCharacter)
        );
        assert!(ClientId::new("a b/ü", 64, false).is_ok());
    }
}

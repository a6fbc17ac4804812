//! The codec's errors: what a peer's bytes did wrong, or why a packet could
//! not be put on the wire. The broker maps them to reason codes in one place.

use std::fmt;

/// Why bytes from a peer do not form an acceptable packet. Every variant
/// closes that one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes do not form a packet (bad length, bad UTF-8, reserved bits,
    /// trailing bytes inside the remaining length).
    Malformed(&'static str),
    /// A well-formed packet that breaks a rule of the protocol.
    Protocol(&'static str),
    /// The fixed header announces more than the cap; found before buffering.
    TooLarge { size: usize, max: usize },
    /// CONNECT with a protocol name or level we do not speak (CONNACK 0x01).
    UnsupportedProtocol { level: u8 },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Malformed(why) => write!(f, "malformed packet: {why}"),
            DecodeError::Protocol(why) => write!(f, "protocol error: {why}"),
            DecodeError::TooLarge { size, max } => {
                write!(f, "packet of {size} bytes exceeds the cap of {max}")
            }
            DecodeError::UnsupportedProtocol { level } => {
                write!(f, "unsupported protocol level {level}")
            }
        }
    }
}

/// Why a packet could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// Longer than MQTT can express (remaining length over 268,435,455, a
    /// string or binary field over 65,535 bytes).
    TooLarge(&'static str),
    /// A field combination the version cannot carry.
    Invalid(&'static str),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLarge(what) => write!(f, "too large to encode: {what}"),
            EncodeError::Invalid(what) => write!(f, "cannot encode: {what}"),
        }
    }
}

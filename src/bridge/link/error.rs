//! Why a bridge link must be closed: the remote misbehaved or refused us
//! (its reason code in words, 5.0), or it went silent.

use crate::codec::{EncodeError, ReasonCode};

use super::CONNACK_TIMEOUT;

/// Why the link must be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// A 3.x CONNACK with this return code.
    Refused(u8),
    /// A 5.0 CONNACK with this reason code (0x80 or above) and its Reason
    /// String, if the remote sent one.
    Refused5 {
        reason: ReasonCode,
        reason_string: Option<String>,
    },
    /// A 5.0 DISCONNECT from the remote [MQTT-3.14]: its reason code and
    /// Reason String.
    Disconnected {
        reason: ReasonCode,
        reason_string: Option<String>,
    },
    Protocol(&'static str),
    /// Nothing from the remote for 1.5 × keepalive: a half-open link.
    KeepaliveTimeout,
    ConnAckTimeout,
    Encode(EncodeError),
}

/// At most this much of a remote's Reason String goes into a log line: it
/// is the remote's text, up to 64 KiB on the wire.
const REASON_STRING_SHOWN: usize = 200;

fn reason(
    f: &mut std::fmt::Formatter<'_>,
    code: ReasonCode,
    text: Option<&String>,
) -> std::fmt::Result {
    write!(f, "reason code {:#04x} ({})", code.0, code.describe())?;
    if let Some(text) = text {
        let shown: String = text.chars().take(REASON_STRING_SHOWN).collect();
        write!(f, ": {shown:?}")?;
    }
    Ok(())
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Refused(code) => {
                write!(f, "the remote refused CONNECT (return code {code})")
            }
            LinkError::Refused5 {
                reason: code,
                reason_string,
            } => {
                write!(f, "the remote refused CONNECT: ")?;
                reason(f, *code, reason_string.as_ref())
            }
            LinkError::Disconnected {
                reason: code,
                reason_string,
            } => {
                write!(f, "the remote sent DISCONNECT: ")?;
                reason(f, *code, reason_string.as_ref())
            }
            LinkError::Protocol(why) => write!(f, "protocol error from the remote: {why}"),
            LinkError::KeepaliveTimeout => {
                write!(
                    f,
                    "nothing from the remote for 1.5 × keepalive (half-open link)"
                )
            }
            LinkError::ConnAckTimeout => write!(f, "no CONNACK within {CONNACK_TIMEOUT:?}"),
            LinkError::Encode(e) => write!(f, "cannot encode a packet: {e}"),
        }
    }
}

impl From<EncodeError> for LinkError {
    fn from(e: EncodeError) -> Self {
        LinkError::Encode(e)
    }
}

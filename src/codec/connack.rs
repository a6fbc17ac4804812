//! CONNACK: the answer to CONNECT.

use super::wire::Reader;
use super::{DecodeError, EncodeError, Properties, ProtocolVersion};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    /// A 3.x return code or a 5.0 reason code; see `ConnectReturn::code`.
    pub code: u8,
    pub properties: Properties,
}

pub(super) fn read(reader: &mut Reader<'_>, version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
    let _ = (reader, version);
    Err(DecodeError::Malformed("CONNACK not implemented"))
}

pub(super) fn write(packet: &ConnAck, version: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let _ = (packet, version, out);
    Err(EncodeError::Invalid("CONNACK not implemented"))
}

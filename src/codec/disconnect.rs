//! DISCONNECT: from the client in every version; from the server in 5.0 only.

use super::wire::Reader;
use super::{DecodeError, EncodeError, Properties, ProtocolVersion, ReasonCode};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// Always SUCCESS in 3.x.
    pub reason: ReasonCode,
    pub properties: Properties,
}

impl Default for ReasonCode {
    fn default() -> Self {
        ReasonCode::SUCCESS
    }
}

pub(super) fn read(reader: &mut Reader<'_>, version: ProtocolVersion) -> Result<Disconnect, DecodeError> {
    let _ = (reader, version);
    Err(DecodeError::Malformed("DISCONNECT not implemented"))
}

pub(super) fn write(packet: &Disconnect, version: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let _ = (packet, version, out);
    Err(EncodeError::Invalid("DISCONNECT not implemented"))
}

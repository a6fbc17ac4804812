//! UNSUBACK: in 5.0 one reason code per filter; in 3.x only the packet id.

use super::wire::Reader;
use super::{DecodeError, EncodeError, PacketId, Properties, ProtocolVersion, ReasonCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    pub packet_id: PacketId,
    /// Empty in 3.x.
    pub codes: Vec<ReasonCode>,
    pub properties: Properties,
}

pub(super) fn read(reader: &mut Reader<'_>, version: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
    let _ = (reader, version);
    Err(DecodeError::Malformed("UNSUBACK not implemented"))
}

pub(super) fn write(packet: &UnsubAck, version: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let _ = (packet, version, out);
    Err(EncodeError::Invalid("UNSUBACK not implemented"))
}

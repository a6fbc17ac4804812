//! SUBACK: one return / reason code per requested filter, in order.

use super::wire::Reader;
use super::{DecodeError, EncodeError, PacketId, Properties, ProtocolVersion, ReasonCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    pub packet_id: PacketId,
    /// 3.x: 0x00, 0x01, 0x02 or 0x80; 5.0: any SUBACK reason code.
    pub codes: Vec<ReasonCode>,
    pub properties: Properties,
}

pub(super) fn read(reader: &mut Reader<'_>, version: ProtocolVersion) -> Result<SubAck, DecodeError> {
    let _ = (reader, version);
    Err(DecodeError::Malformed("SUBACK not implemented"))
}

pub(super) fn write(packet: &SubAck, version: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let _ = (packet, version, out);
    Err(EncodeError::Invalid("SUBACK not implemented"))
}

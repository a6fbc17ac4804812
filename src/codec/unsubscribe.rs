//! UNSUBSCRIBE: one or more filters.

use super::wire::Reader;
use super::{DecodeError, EncodeError, PacketId, Properties, ProtocolVersion};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub packet_id: PacketId,
    /// At least one [MQTT-3.10.3-2]; raw as sent.
    pub filters: Vec<String>,
    pub properties: Properties,
}

pub(super) fn read(reader: &mut Reader<'_>, version: ProtocolVersion) -> Result<Unsubscribe, DecodeError> {
    let _ = (reader, version);
    Err(DecodeError::Malformed("UNSUBSCRIBE not implemented"))
}

pub(super) fn write(packet: &Unsubscribe, version: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let _ = (packet, version, out);
    Err(EncodeError::Invalid("UNSUBSCRIBE not implemented"))
}

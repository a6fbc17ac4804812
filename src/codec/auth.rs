//! AUTH: MQTT 5 enhanced authentication exchange.

use super::wire::Reader;
use super::{DecodeError, EncodeError, Properties, ProtocolVersion, ReasonCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub reason: ReasonCode,
    pub properties: Properties,
}

pub(super) fn read(reader: &mut Reader<'_>) -> Result<Auth, DecodeError> {
    let _ = reader;
    Err(DecodeError::Malformed("AUTH not implemented"))
}

pub(super) fn write(packet: &Auth, version: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let _ = (packet, version, out);
    Err(EncodeError::Invalid("AUTH not implemented"))
}

//! PUBACK, PUBREC, PUBREL and PUBCOMP: one shape, four packet types.

use super::wire::Reader;
use super::{DecodeError, EncodeError, PacketId, Properties, ProtocolVersion, ReasonCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckKind {
    PubAck,
    PubRec,
    PubRel,
    PubComp,
}

impl AckKind {
    pub(super) fn from_packet_type(kind: u8) -> Result<AckKind, DecodeError> {
        match kind {
            4 => Ok(AckKind::PubAck),
            5 => Ok(AckKind::PubRec),
            6 => Ok(AckKind::PubRel),
            7 => Ok(AckKind::PubComp),
            _ => Err(DecodeError::Malformed("not an acknowledgement")),
        }
    }

    pub fn packet_type(self) -> u8 {
        match self {
            AckKind::PubAck => 4,
            AckKind::PubRec => 5,
            AckKind::PubRel => 6,
            AckKind::PubComp => 7,
        }
    }

    /// PUBREL's fixed-header flags are 0b0010 [MQTT-3.6.1-1]; the others 0.
    pub fn fixed_flags(self) -> u8 {
        if self == AckKind::PubRel {
            0b0010
        } else {
            0
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub kind: AckKind,
    pub packet_id: PacketId,
    /// Always SUCCESS in 3.x.
    pub reason: ReasonCode,
    pub properties: Properties,
}

impl Ack {
    pub fn new(kind: AckKind, packet_id: PacketId) -> Ack {
        Ack { kind, packet_id, reason: ReasonCode::SUCCESS, properties: Properties::default() }
    }
}

pub(super) fn read(kind: AckKind, reader: &mut Reader<'_>, version: ProtocolVersion) -> Result<Ack, DecodeError> {
    let _ = (kind, reader, version);
    Err(DecodeError::Malformed("ack not implemented"))
}

pub(super) fn write(packet: &Ack, version: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let _ = (packet, version, out);
    Err(EncodeError::Invalid("ack not implemented"))
}

//! PUBACK, PUBREC, PUBREL and PUBCOMP: one shape, four packet types.
//!
//! 3.x: exactly a packet id. 5.0: a packet id, then an optional reason code
//! and optional properties; absent means SUCCESS and none [MQTT-3.4.2-1].

use super::properties::{self, Context};
use super::wire::{self, Reader};
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

    /// The packet's name as the specification writes it: "PUBACK".
    pub fn name(self) -> &'static str {
        match self {
            AckKind::PubAck => "PUBACK",
            AckKind::PubRec => "PUBREC",
            AckKind::PubRel => "PUBREL",
            AckKind::PubComp => "PUBCOMP",
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
        Ack {
            kind,
            packet_id,
            reason: ReasonCode::SUCCESS,
            properties: Properties::default(),
        }
    }
}

pub(super) fn read(
    kind: AckKind,
    reader: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<Ack, DecodeError> {
    let packet_id = reader.read_packet_id()?;
    if !version.is_v5() {
        return Ok(Ack::new(kind, packet_id));
    }
    let (reason, properties) = properties::read_reason_tail(reader, Context::Ack)?;
    Ok(Ack {
        kind,
        packet_id,
        reason,
        properties,
    })
}

/// In 3.x the reason code and properties cannot be carried and are left out.
pub(super) fn write(
    packet: &Ack,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let first = packet.kind.packet_type() << 4 | packet.kind.fixed_flags();
    wire::packet(out, first, |out| {
        wire::put_u16(out, packet.packet_id.get());
        if version.is_v5() {
            properties::write_reason_tail(packet.reason, &packet.properties, false, out)?;
        }
        Ok(())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::test_util::{dec, enc};
    use super::super::{Packet, Property};
    use super::*;

    const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
    const V5: ProtocolVersion = ProtocolVersion::V5;

    #[test]
    fn golden_v3() {
        for (bytes, kind) in [
            ([0x40, 2, 0, 5], AckKind::PubAck),
            ([0x50, 2, 0, 5], AckKind::PubRec),
            ([0x62, 2, 0, 5], AckKind::PubRel),
            ([0x70, 2, 0, 5], AckKind::PubComp),
        ] {
            for version in [ProtocolVersion::V3_1, V311, V5] {
                let p = dec(&bytes, version).unwrap();
                assert_eq!(p, Packet::Ack(Ack::new(kind, PacketId::new(5).unwrap())));
                assert_eq!(enc(&p, version), bytes);
            }
        }
    }

    #[test]
    fn golden_v5_reason_and_properties() {
        let bytes = [0x50, 3, 0, 5, 0x10];
        let p = dec(&bytes, V5).unwrap();
        let Packet::Ack(a) = &p else { panic!() };
        assert_eq!(a.reason, ReasonCode::NO_MATCHING_SUBSCRIBERS);
        assert_eq!(enc(&p, V5), bytes);
        // Reason then an empty property block: same packet, shortest form out.
        assert_eq!(dec(&[0x50, 4, 0, 5, 0x10, 0], V5).unwrap(), p);
        let bytes = [0x40, 8, 0, 5, 0x87, 4, 0x1F, 0, 1, b'x'];
        let p = dec(&bytes, V5).unwrap();
        let Packet::Ack(a) = &p else { panic!() };
        assert_eq!(a.properties.0, vec![Property::ReasonString("x".into())]);
        assert_eq!(enc(&p, V5), bytes);
    }

    #[test]
    fn v3_length_is_exactly_two() {
        assert!(matches!(
            dec(&[0x40, 3, 0, 5, 0], V311),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            dec(&[0x40, 1, 0], V311),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn pubrel_flags() {
        // [MQTT-3.6.1-1]
        assert!(matches!(
            dec(&[0x60, 2, 0, 5], V311),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            dec(&[0x42, 2, 0, 5], V311),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn zero_packet_id() {
        // [MQTT-2.3.1-1]
        assert!(matches!(
            dec(&[0x40, 2, 0, 0], V311),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn v5_property_not_for_acks() {
        // Topic Alias in a PUBACK.
        assert!(matches!(
            dec(&[0x40, 7, 0, 5, 0, 3, 0x23, 0, 1], V5),
            Err(DecodeError::Protocol(_))
        ));
    }
}

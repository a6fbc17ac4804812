//! UNSUBACK: in 5.0 one reason code per filter; in 3.x only the packet id.

use super::properties::Context;
use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, PacketId, Properties, ProtocolVersion, ReasonCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    pub packet_id: PacketId,
    /// Empty in 3.x.
    pub codes: Vec<ReasonCode>,
    pub properties: Properties,
}

pub(super) fn read(
    reader: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<UnsubAck, DecodeError> {
    let packet_id = reader.read_packet_id()?;
    if !version.is_v5() {
        return Ok(UnsubAck {
            packet_id,
            codes: Vec::new(),
            properties: Properties::default(),
        });
    }
    let properties = Properties::read(reader, Context::UnsubAck)?;
    let codes = reader.rest().iter().map(|&c| ReasonCode(c)).collect();
    Ok(UnsubAck {
        packet_id,
        codes,
        properties,
    })
}

/// In 3.x the codes and properties cannot be carried and are left out.
pub(super) fn write(
    packet: &UnsubAck,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    wire::packet(out, 0xB0, |out| {
        wire::put_u16(out, packet.packet_id.get());
        if version.is_v5() {
            packet.properties.write(out)?;
            out.extend(packet.codes.iter().map(|c| c.0));
        }
        Ok(())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::test_util::{dec, enc};
    use super::super::Packet;
    use super::*;

    #[test]
    fn golden() {
        let bytes = [0xB0, 2, 0, 9];
        let p = dec(&bytes, ProtocolVersion::V3_1_1).unwrap();
        assert_eq!(enc(&p, ProtocolVersion::V3_1_1), bytes);
        let bytes = [0xB0, 5, 0, 9, 0, 0x00, 0x11];
        let p = dec(&bytes, ProtocolVersion::V5).unwrap();
        let Packet::UnsubAck(u) = &p else { panic!() };
        assert_eq!(
            u.codes,
            [ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED]
        );
        assert_eq!(enc(&p, ProtocolVersion::V5), bytes);
        assert_eq!(enc(&p, ProtocolVersion::V3_1), [0xB0, 2, 0, 9]);
    }

    #[test]
    fn v3_length_is_exactly_two() {
        assert!(matches!(
            dec(&[0xB0, 3, 0, 9, 0], ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }
}

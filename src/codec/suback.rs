//! SUBACK: one return / reason code per requested filter, in order.

use super::properties::Context;
use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, PacketId, Properties, ProtocolVersion, ReasonCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    pub packet_id: PacketId,
    /// 3.x: 0x00, 0x01, 0x02 or 0x80; 5.0: any SUBACK reason code.
    pub codes: Vec<ReasonCode>,
    pub properties: Properties,
}

/// The 3.x SUBACK failure code.
const V3_FAILURE: u8 = 0x80;

pub(super) fn read(
    reader: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<SubAck, DecodeError> {
    let packet_id = reader.read_packet_id()?;
    let properties = if version.is_v5() {
        Properties::read(reader, Context::SubAck)?
    } else {
        Properties::default()
    };
    let codes = reader.rest();
    if !version.is_v5() && codes.iter().any(|&c| !matches!(c, 0 | 1 | 2 | V3_FAILURE)) {
        return Err(DecodeError::Protocol(
            "reserved SUBACK return code [MQTT-3.9.3-2]",
        ));
    }
    let codes = codes.iter().map(|&c| ReasonCode(c)).collect();
    Ok(SubAck {
        packet_id,
        codes,
        properties,
    })
}

/// In 3.x every 5.0 error code is written as the one failure code 0x80.
pub(super) fn write(
    packet: &SubAck,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    wire::packet(out, 0x90, |out| {
        wire::put_u16(out, packet.packet_id.get());
        if version.is_v5() {
            packet.properties.write(out)?;
            out.extend(packet.codes.iter().map(|c| c.0));
        } else {
            out.extend(
                packet
                    .codes
                    .iter()
                    .map(|c| if c.is_error() { V3_FAILURE } else { c.0 }),
            );
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
        let bytes = [0x90, 5, 0, 1, 0, 2, 0x80];
        let p = dec(&bytes, ProtocolVersion::V3_1_1).unwrap();
        let Packet::SubAck(s) = &p else { panic!() };
        assert_eq!(s.codes, [ReasonCode(0), ReasonCode(2), ReasonCode(0x80)]);
        assert_eq!(enc(&p, ProtocolVersion::V3_1_1), bytes);
        let bytes = [0x90, 5, 0, 1, 0, 1, 0x87];
        let p = dec(&bytes, ProtocolVersion::V5).unwrap();
        assert_eq!(enc(&p, ProtocolVersion::V5), bytes);
        // The same packet to a 3.1.1 client: "not authorized" becomes 0x80.
        assert_eq!(enc(&p, ProtocolVersion::V3_1_1), [0x90, 4, 0, 1, 1, 0x80]);
    }

    #[test]
    fn reserved_v3_code() {
        // [MQTT-3.9.3-2]
        assert!(matches!(
            dec(&[0x90, 3, 0, 1, 3], ProtocolVersion::V3_1_1),
            Err(DecodeError::Protocol(_))
        ));
    }
}

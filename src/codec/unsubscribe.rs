//! UNSUBSCRIBE: one or more filters.

use super::properties::Context;
use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, PacketId, Properties, ProtocolVersion};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub packet_id: PacketId,
    /// At least one [MQTT-3.10.3-2]; raw as sent.
    pub filters: Vec<String>,
    pub properties: Properties,
}

pub(super) fn read(
    reader: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<Unsubscribe, DecodeError> {
    let packet_id = reader.read_packet_id()?;
    let properties = if version.is_v5() {
        Properties::read(reader, Context::Unsubscribe)?
    } else {
        Properties::default()
    };
    let mut filters = Vec::new();
    while !reader.is_empty() {
        filters.push(reader.read_string()?);
    }
    if filters.is_empty() {
        return Err(DecodeError::Protocol(
            "UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]",
        ));
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        properties,
    })
}

pub(super) fn write(
    packet: &Unsubscribe,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if packet.filters.is_empty() {
        return Err(EncodeError::Invalid(
            "UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]",
        ));
    }
    wire::packet(out, 0xA2, |out| {
        wire::put_u16(out, packet.packet_id.get());
        if version.is_v5() {
            packet.properties.write(out)?;
        }
        packet
            .filters
            .iter()
            .try_for_each(|f| wire::put_str(out, f))
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
        let bytes = b"\xA2\x0A\x00\x02\x00\x01a\x00\x03b/+";
        let p = dec(bytes, ProtocolVersion::V3_1_1).unwrap();
        let Packet::Unsubscribe(u) = &p else { panic!() };
        assert_eq!(u.filters, ["a", "b/+"]);
        assert_eq!(enc(&p, ProtocolVersion::V3_1_1), bytes);
        let bytes = b"\xA2\x0B\x00\x02\x00\x00\x01a\x00\x03b/+";
        let p = dec(bytes, ProtocolVersion::V5).unwrap();
        assert_eq!(enc(&p, ProtocolVersion::V5), bytes);
    }

    #[test]
    fn no_filter_is_protocol_error() {
        // [MQTT-3.10.3-2]
        assert!(matches!(
            dec(b"\xA2\x02\x00\x01", ProtocolVersion::V3_1_1),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn fixed_header_flags() {
        // [MQTT-3.10.1-1]
        assert!(matches!(
            dec(b"\xA0\x05\x00\x01\x00\x01a", ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn only_user_properties_allowed() {
        // Reason String in UNSUBSCRIBE.
        let bytes = b"\xA2\x09\x00\x01\x03\x1F\x00\x00\x00\x01a";
        assert!(matches!(
            dec(bytes, ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
    }
}

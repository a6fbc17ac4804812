//! CONNACK: the answer to CONNECT.

use super::properties::Context;
use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, Properties, ProtocolVersion};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    /// A 3.x return code or a 5.0 reason code; see `ConnectReturn::code`.
    pub code: u8,
    pub properties: Properties,
}

const SESSION_PRESENT: u8 = 0x01;

pub(super) fn read(
    reader: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<ConnAck, DecodeError> {
    let flags = reader.read_u8()?;
    if flags & !SESSION_PRESENT != 0 {
        return Err(DecodeError::Malformed(
            "reserved CONNACK flags set [MQTT-3.2.2-1]",
        ));
    }
    let code = reader.read_u8()?;
    let properties = if version.is_v5() {
        Properties::read(reader, Context::ConnAck)?
    } else {
        Properties::default()
    };
    Ok(ConnAck {
        session_present: flags & SESSION_PRESENT != 0,
        code,
        properties,
    })
}

pub(super) fn write(
    packet: &ConnAck,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    wire::packet(out, 0x20, |out| {
        out.push(u8::from(packet.session_present));
        out.push(packet.code);
        if version.is_v5() {
            packet.properties.write(out)?;
        }
        Ok(())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::test_util::{dec, enc};
    use super::super::{ConnectReturn, Packet, Property};
    use super::*;

    #[test]
    fn golden_v311() {
        let bytes = [0x20, 2, 1, 0];
        let p = dec(&bytes, ProtocolVersion::V3_1_1).unwrap();
        let Packet::ConnAck(c) = &p else { panic!() };
        assert!(c.session_present);
        assert_eq!(
            c.code,
            ConnectReturn::Accepted.code(ProtocolVersion::V3_1_1)
        );
        assert_eq!(enc(&p, ProtocolVersion::V3_1_1), bytes);
        // Refused, 3.1: "identifier rejected".
        let bytes = [0x20, 2, 0, 2];
        let p = dec(&bytes, ProtocolVersion::V3_1).unwrap();
        assert_eq!(enc(&p, ProtocolVersion::V3_1), bytes);
    }

    #[test]
    fn golden_v5() {
        let bytes = [0x20, 8, 0, 0, 5, 0x21, 0, 10, 0x24, 1];
        let p = dec(&bytes, ProtocolVersion::V5).unwrap();
        let Packet::ConnAck(c) = &p else { panic!() };
        assert_eq!(
            c.properties.0,
            vec![Property::ReceiveMaximum(10), Property::MaximumQoS(1)]
        );
        assert_eq!(enc(&p, ProtocolVersion::V5), bytes);
        // Properties are not optional in a 5.0 CONNACK.
        assert!(dec(&[0x20, 2, 0, 0], ProtocolVersion::V5).is_err());
    }

    #[test]
    fn reserved_ack_flags_are_malformed() {
        // [MQTT-3.2.2-1]
        assert!(matches!(
            dec(&[0x20, 2, 2, 0], ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn v3_length_is_exactly_two() {
        assert!(matches!(
            dec(&[0x20, 3, 0, 0, 0], ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }
}

//! PINGREQ and PINGRESP: a fixed header and nothing else.

use super::wire::Reader;
use super::{DecodeError, EncodeError};

/// The remaining length must be 0 [MQTT-3.12.1] [MQTT-3.13.1].
pub(super) fn read(reader: &mut Reader<'_>) -> Result<(), DecodeError> {
    reader.finish()
}

pub(super) fn write(packet_type: u8, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.push(packet_type << 4);
    out.push(0);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::test_util::{dec, enc};
    use super::super::{Packet, ProtocolVersion};
    use super::*;

    #[test]
    fn golden() {
        for version in [
            ProtocolVersion::V3_1,
            ProtocolVersion::V3_1_1,
            ProtocolVersion::V5,
        ] {
            assert_eq!(dec(&[0xC0, 0], version).unwrap(), Packet::PingReq);
            assert_eq!(dec(&[0xD0, 0], version).unwrap(), Packet::PingResp);
            assert_eq!(enc(&Packet::PingReq, version), [0xC0, 0]);
            assert_eq!(enc(&Packet::PingResp, version), [0xD0, 0]);
        }
    }

    #[test]
    fn body_or_flags_are_malformed() {
        let v = ProtocolVersion::V3_1_1;
        assert!(matches!(
            dec(&[0xC0, 1, 0], v),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(dec(&[0xC1, 0], v), Err(DecodeError::Malformed(_))));
    }
}

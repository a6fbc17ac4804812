//! DISCONNECT: from the client in every version; from the server in 5.0 only.
//!
//! 3.x: remaining length 0. 5.0: an optional reason code, then optional
//! properties; absent means "normal disconnection" [MQTT-3.14.2-1].

use super::properties::{self, Context};
use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, Properties, ProtocolVersion, ReasonCode};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// Always SUCCESS in 3.x.
    pub reason: ReasonCode,
    pub properties: Properties,
}

impl Default for ReasonCode {
    fn default() -> Self {
        ReasonCode::SUCCESS
    }
}

pub(super) fn read(
    reader: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<Disconnect, DecodeError> {
    if !version.is_v5() {
        reader.finish()?;
        return Ok(Disconnect::default());
    }
    let (reason, properties) = properties::read_reason_tail(reader, Context::Disconnect)?;
    Ok(Disconnect { reason, properties })
}

/// In 3.x the reason code and properties cannot be carried and are left out.
pub(super) fn write(
    packet: &Disconnect,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    wire::packet(out, 0xE0, |out| {
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

    #[test]
    fn golden() {
        let plain = Packet::Disconnect(Disconnect::default());
        for version in [
            ProtocolVersion::V3_1,
            ProtocolVersion::V3_1_1,
            ProtocolVersion::V5,
        ] {
            assert_eq!(dec(&[0xE0, 0], version).unwrap(), plain);
            assert_eq!(enc(&plain, version), [0xE0, 0]);
        }
        let bytes = [0xE0, 7, 0x04, 5, 0x11, 0, 0, 0, 9];
        let p = dec(&bytes, ProtocolVersion::V5).unwrap();
        let Packet::Disconnect(d) = &p else { panic!() };
        assert_eq!(d.reason, ReasonCode::DISCONNECT_WITH_WILL);
        assert_eq!(d.properties.0, vec![Property::SessionExpiryInterval(9)]);
        assert_eq!(enc(&p, ProtocolVersion::V5), bytes);
    }

    #[test]
    fn v3_body_is_malformed() {
        assert!(matches!(
            dec(&[0xE0, 1, 0], ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
        // [MQTT-3.14.1-1] reserved flags.
        assert!(matches!(
            dec(&[0xE1, 0], ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }
}

//! AUTH: MQTT 5 enhanced authentication exchange. Type 15 is reserved (and
//! malformed) below 5.0; `mod.rs` refuses it there.

use super::properties::{self, Context};
use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, Properties, ProtocolVersion, ReasonCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub reason: ReasonCode,
    pub properties: Properties,
}

/// Remaining length 0 means SUCCESS and no properties [MQTT-3.15.2-1].
pub(super) fn read(reader: &mut Reader<'_>) -> Result<Auth, DecodeError> {
    let (reason, properties) = properties::read_reason_tail(reader, Context::Auth)?;
    Ok(Auth { reason, properties })
}

pub(super) fn write(
    packet: &Auth,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if !version.is_v5() {
        return Err(EncodeError::Invalid("AUTH exists in MQTT 5 only"));
    }
    wire::packet(out, 0xF0, |out| {
        properties::write_reason_tail(packet.reason, &packet.properties, true, out)
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
        // Continue authentication (0x18), method "SCRAM".
        let bytes = [0xF0, 10, 0x18, 8, 0x15, 0, 5, b'S', b'C', b'R', b'A', b'M'];
        let p = dec(&bytes, ProtocolVersion::V5).unwrap();
        let Packet::Auth(a) = &p else { panic!() };
        assert_eq!(a.reason, ReasonCode(0x18));
        assert_eq!(
            a.properties.0,
            vec![Property::AuthenticationMethod("SCRAM".into())]
        );
        assert_eq!(enc(&p, ProtocolVersion::V5), bytes);
        let empty = dec(&[0xF0, 0], ProtocolVersion::V5).unwrap();
        assert_eq!(
            empty,
            Packet::Auth(Auth {
                reason: ReasonCode::SUCCESS,
                properties: Properties::default()
            })
        );
        assert_eq!(enc(&empty, ProtocolVersion::V5), [0xF0, 0]);
    }

    #[test]
    fn not_in_v3() {
        assert!(matches!(
            dec(&[0xF0, 0], ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
        let auth = Auth {
            reason: ReasonCode::SUCCESS,
            properties: Properties::default(),
        };
        let mut out = Vec::new();
        assert!(
            super::super::encode(&Packet::Auth(auth), ProtocolVersion::V3_1_1, &mut out).is_err()
        );
    }

    #[test]
    fn property_not_for_auth() {
        // Session Expiry Interval in AUTH.
        assert!(matches!(
            dec(&[0xF0, 7, 0x18, 5, 0x11, 0, 0, 0, 1], ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
    }
}

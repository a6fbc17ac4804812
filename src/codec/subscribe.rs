//! SUBSCRIBE: one or more filters with their options.
//!
//! Filters are returned raw (checked as UTF-8 only); filter syntax, `$share`
//! and no-local on shared subscriptions are the broker's to judge.

use super::properties::Context;
use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, PacketId, Properties, ProtocolVersion, QoS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub packet_id: PacketId,
    /// At least one [MQTT-3.8.3-3].
    pub requests: Vec<SubscriptionRequest>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRequest {
    /// Raw as sent; the broker validates it as a topic filter.
    pub filter: String,
    pub options: SubscriptionOptions,
}

/// In 3.x only `qos` is on the wire; the rest keep their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriptionOptions {
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: RetainHandling,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetainHandling {
    #[default]
    SendAtSubscribe = 0,
    SendIfNew = 1,
    DoNotSend = 2,
}

const QOS_MASK: u8 = 0b0000_0011;
const NO_LOCAL: u8 = 0b0000_0100;
const RETAIN_AS_PUBLISHED: u8 = 0b0000_1000;
const RETAIN_HANDLING_SHIFT: u8 = 4;
const V3_RESERVED: u8 = 0b1111_1100;
const V5_RESERVED: u8 = 0b1100_0000;

impl SubscriptionOptions {
    fn read(byte: u8, version: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
        if !version.is_v5() {
            if byte & V3_RESERVED != 0 {
                return Err(DecodeError::Malformed(
                    "reserved bits in requested QoS [MQTT-3.8.3-4]",
                ));
            }
            let qos = QoS::from_u8(byte)
                .ok_or(DecodeError::Malformed("requested QoS 3 [MQTT-3.8.3-4]"))?;
            return Ok(SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            });
        }
        if byte & V5_RESERVED != 0 {
            return Err(DecodeError::Malformed(
                "reserved subscription option bits [MQTT-3.8.3-5]",
            ));
        }
        // 5.0 calls these two protocol errors (3.8.3.1), not malformed.
        let qos = QoS::from_u8(byte & QOS_MASK).ok_or(DecodeError::Protocol(
            "maximum QoS 3 in subscription options",
        ))?;
        let retain_handling = match (byte >> RETAIN_HANDLING_SHIFT) & 0b11 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(DecodeError::Protocol("retain handling 3")),
        };
        Ok(SubscriptionOptions {
            qos,
            no_local: byte & NO_LOCAL != 0,
            retain_as_published: byte & RETAIN_AS_PUBLISHED != 0,
            retain_handling,
        })
    }

    /// In 3.x only the QoS is carried.
    fn to_byte(self, version: ProtocolVersion) -> u8 {
        let mut byte = self.qos as u8;
        if version.is_v5() {
            if self.no_local {
                byte |= NO_LOCAL;
            }
            if self.retain_as_published {
                byte |= RETAIN_AS_PUBLISHED;
            }
            byte |= (self.retain_handling as u8) << RETAIN_HANDLING_SHIFT;
        }
        byte
    }
}

pub(super) fn read(
    reader: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<Subscribe, DecodeError> {
    let packet_id = reader.read_packet_id()?;
    let properties = if version.is_v5() {
        Properties::read(reader, Context::Subscribe)?
    } else {
        Properties::default()
    };
    let mut requests = Vec::new();
    while !reader.is_empty() {
        let filter = reader.read_string()?;
        let options = SubscriptionOptions::read(reader.read_u8()?, version)?;
        requests.push(SubscriptionRequest { filter, options });
    }
    if requests.is_empty() {
        return Err(DecodeError::Protocol(
            "SUBSCRIBE without a topic filter [MQTT-3.8.3-3]",
        ));
    }
    Ok(Subscribe {
        packet_id,
        requests,
        properties,
    })
}

pub(super) fn write(
    packet: &Subscribe,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if packet.requests.is_empty() {
        return Err(EncodeError::Invalid(
            "SUBSCRIBE without a topic filter [MQTT-3.8.3-3]",
        ));
    }
    wire::packet(out, 0x82, |out| {
        wire::put_u16(out, packet.packet_id.get());
        if version.is_v5() {
            packet.properties.write(out)?;
        }
        for request in &packet.requests {
            wire::put_str(out, &request.filter)?;
            out.push(request.options.to_byte(version));
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
    fn golden_v311() {
        // Packet id 1: "a/#" QoS 1, "b" QoS 2.
        let bytes = b"\x82\x0C\x00\x01\x00\x03a/#\x01\x00\x01b\x02";
        for version in [ProtocolVersion::V3_1, V311] {
            let p = dec(bytes, version).unwrap();
            let Packet::Subscribe(s) = &p else { panic!() };
            assert_eq!(s.requests.len(), 2);
            assert_eq!(s.requests[0].filter, "a/#");
            assert_eq!(s.requests[1].options.qos, QoS::ExactlyOnce);
            assert_eq!(enc(&p, version), bytes);
        }
    }

    #[test]
    fn golden_v5_options() {
        // Subscription identifier 7; "a" with QoS 1, no local, retain as
        // published, retain handling 2.
        let bytes = b"\x82\x09\x00\x01\x02\x0B\x07\x00\x01a\x2D";
        let p = dec(bytes, V5).unwrap();
        let Packet::Subscribe(s) = &p else { panic!() };
        assert_eq!(s.properties.0, vec![Property::SubscriptionIdentifier(7)]);
        let o = s.requests[0].options;
        assert_eq!(
            o,
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            }
        );
        assert_eq!(enc(&p, V5), bytes);
    }

    #[test]
    fn no_filter_is_protocol_error() {
        // [MQTT-3.8.3-3]
        assert!(matches!(
            dec(b"\x82\x02\x00\x01", V311),
            Err(DecodeError::Protocol(_))
        ));
        assert!(matches!(
            dec(b"\x82\x03\x00\x01\x00", V5),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn v3_reserved_bits_and_qos_3() {
        // [MQTT-3.8.3-4]
        assert!(matches!(
            dec(b"\x82\x06\x00\x01\x00\x01a\x04", V311),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            dec(b"\x82\x06\x00\x01\x00\x01a\x03", V311),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn v5_option_errors() {
        // [MQTT-3.8.3-5] reserved bits; QoS 3 and retain handling 3 (3.8.3.1).
        assert!(matches!(
            dec(b"\x82\x07\x00\x01\x00\x00\x01a\x40", V5),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            dec(b"\x82\x07\x00\x01\x00\x00\x01a\x03", V5),
            Err(DecodeError::Protocol(_))
        ));
        assert!(matches!(
            dec(b"\x82\x07\x00\x01\x00\x00\x01a\x30", V5),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn fixed_header_flags() {
        // [MQTT-3.8.1-1]
        assert!(matches!(
            dec(b"\x80\x06\x00\x01\x00\x01a\x00", V311),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn missing_options_byte() {
        assert!(matches!(
            dec(b"\x82\x05\x00\x01\x00\x01a", V311),
            Err(DecodeError::Malformed(_))
        ));
    }
}

//! CONNECT: the only packet that carries its own protocol version.
//!
//! Recognised: "MQIsdp" level 3 (3.1), "MQTT" level 4 (3.1.1) and "MQTT"
//! level 5 (5.0); a level with 0x80 set is a mosquitto bridge announcing
//! itself (`try_private`), the version being the low seven bits. Anything
//! else is [`DecodeError::UnsupportedProtocol`], which the broker answers
//! with CONNACK 0x01 / 0x84. The client id, will topic and user name are
//! returned raw (checked as UTF-8 only); their rules are the broker's.

use super::properties::Context;
use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, Properties, ProtocolVersion, QoS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub protocol: ProtocolVersion,
    /// Protocol level with 0x80 set: a mosquitto-style bridge (`try_private`).
    pub bridge: bool,
    /// "Clean session" in 3.x, "clean start" in 5.0.
    pub clean_start: bool,
    pub keep_alive: u16,
    /// Raw as sent; the broker validates it into a client id.
    pub client_id: String,
    pub will: Option<Will>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Raw as sent; the broker validates it as a topic name.
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    pub properties: Properties,
}

const RESERVED: u8 = 0x01;
const CLEAN_START: u8 = 0x02;
const WILL: u8 = 0x04;
const WILL_QOS_SHIFT: u8 = 3;
const WILL_RETAIN: u8 = 0x20;
const PASSWORD: u8 = 0x40;
const USERNAME: u8 = 0x80;
const BRIDGE: u8 = 0x80;

fn name_and_level(version: ProtocolVersion) -> (&'static str, u8) {
    match version {
        ProtocolVersion::V3_1 => ("MQIsdp", 3),
        ProtocolVersion::V3_1_1 => ("MQTT", 4),
        ProtocolVersion::V5 => ("MQTT", 5),
    }
}

pub(super) fn read(reader: &mut Reader<'_>) -> Result<Connect, DecodeError> {
    let (protocol, bridge) = read_protocol(reader)?;
    let v5 = protocol.is_v5();
    let flags = read_flags(reader, v5)?;
    let keep_alive = reader.read_u16()?;
    let properties = if v5 {
        Properties::read(reader, Context::Connect)?
    } else {
        Properties::default()
    };
    let client_id = reader.read_string()?;
    let will = if flags.will {
        let properties = if v5 {
            Properties::read(reader, Context::Will)?
        } else {
            Properties::default()
        };
        let topic = reader.read_string()?;
        let payload = reader.read_binary()?.to_vec();
        Some(Will {
            topic,
            payload,
            qos: flags.will_qos,
            retain: flags.will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if flags.username {
        Some(reader.read_string()?)
    } else {
        None
    };
    let password = if flags.password {
        Some(reader.read_binary()?.to_vec())
    } else {
        None
    };
    Ok(Connect {
        protocol,
        bridge,
        clean_start: flags.clean_start,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

/// The protocol name and level, and mosquitto's bridge bit.
fn read_protocol(reader: &mut Reader<'_>) -> Result<(ProtocolVersion, bool), DecodeError> {
    // Compared as bytes: a name we do not know is "unsupported", not a
    // reason to judge its encoding.
    let name = reader.read_binary()?;
    let raw_level = reader.read_u8()?;
    let bridge = raw_level & BRIDGE != 0;
    let protocol = match (name, raw_level & !BRIDGE) {
        (b"MQIsdp", 3) => ProtocolVersion::V3_1,
        (b"MQTT", 4) => ProtocolVersion::V3_1_1,
        (b"MQTT", 5) => ProtocolVersion::V5,
        _ => return Err(DecodeError::UnsupportedProtocol { level: raw_level }),
    };
    Ok((protocol, bridge))
}

/// The connect flags, checked against each other.
struct Flags {
    clean_start: bool,
    will: bool,
    will_qos: QoS,
    will_retain: bool,
    username: bool,
    password: bool,
}

fn read_flags(reader: &mut Reader<'_>, v5: bool) -> Result<Flags, DecodeError> {
    let flags = reader.read_u8()?;
    if flags & RESERVED != 0 {
        return Err(DecodeError::Malformed(
            "reserved CONNECT flag set [MQTT-3.1.2-3]",
        ));
    }
    let will = flags & WILL != 0;
    let will_retain = flags & WILL_RETAIN != 0;
    let will_qos_bits = (flags >> WILL_QOS_SHIFT) & 0b11;
    if !will && (will_qos_bits != 0 || will_retain) {
        return Err(DecodeError::Malformed(
            "will QoS or retain set without a will [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]",
        ));
    }
    let will_qos =
        QoS::from_u8(will_qos_bits).ok_or(DecodeError::Malformed("will QoS 3 [MQTT-3.1.2-14]"))?;
    let username = flags & USERNAME != 0;
    let password = flags & PASSWORD != 0;
    // 5.0 lifts this rule (a password alone may carry a token).
    if password && !username && !v5 {
        return Err(DecodeError::Protocol(
            "password without a user name [MQTT-3.1.2-22]",
        ));
    }
    Ok(Flags {
        clean_start: flags & CLEAN_START != 0,
        will,
        will_qos,
        will_retain,
        username,
        password,
    })
}

pub(super) fn write(packet: &Connect, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let v5 = packet.protocol.is_v5();
    if packet.password.is_some() && packet.username.is_none() && !v5 {
        return Err(EncodeError::Invalid(
            "password without a user name [MQTT-3.1.2-22]",
        ));
    }
    let (name, level) = name_and_level(packet.protocol);
    let mut flags = 0;
    if packet.clean_start {
        flags |= CLEAN_START;
    }
    if let Some(will) = &packet.will {
        flags |= WILL | (will.qos as u8) << WILL_QOS_SHIFT;
        if will.retain {
            flags |= WILL_RETAIN;
        }
    }
    if packet.username.is_some() {
        flags |= USERNAME;
    }
    if packet.password.is_some() {
        flags |= PASSWORD;
    }
    wire::packet(out, 0x10, |out| {
        wire::put_str(out, name)?;
        out.push(if packet.bridge { level | BRIDGE } else { level });
        out.push(flags);
        wire::put_u16(out, packet.keep_alive);
        if v5 {
            packet.properties.write(out)?;
        }
        wire::put_str(out, &packet.client_id)?;
        if let Some(will) = &packet.will {
            if v5 {
                will.properties.write(out)?;
            }
            wire::put_str(out, &will.topic)?;
            wire::put_binary(out, &will.payload)?;
        }
        if let Some(username) = &packet.username {
            wire::put_str(out, username)?;
        }
        if let Some(password) = &packet.password {
            wire::put_binary(out, password)?;
        }
        Ok(())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::{decode, encode, Decoded, Packet, Property};
    use super::*;

    fn dec(bytes: &[u8]) -> Result<Connect, DecodeError> {
        // CONNECT carries its own version: the one passed in must not matter.
        let mut result = None;
        for version in [
            ProtocolVersion::V3_1,
            ProtocolVersion::V3_1_1,
            ProtocolVersion::V5,
        ] {
            let r = match decode(bytes, version, 1 << 16) {
                Ok(Decoded::Packet(Packet::Connect(c), n)) => {
                    assert_eq!(n, bytes.len());
                    Ok(*c)
                }
                Ok(other) => panic!("{other:?}"),
                Err(e) => Err(e),
            };
            if let Some(previous) = &result {
                assert_eq!(previous, &r);
            }
            result = Some(r);
        }
        result.unwrap()
    }

    fn roundtrip(bytes: &[u8]) -> Connect {
        let c = dec(bytes).unwrap();
        let mut out = Vec::new();
        encode(&Packet::Connect(Box::new(c.clone())), c.protocol, &mut out).unwrap();
        assert_eq!(out, bytes);
        c
    }

    /// `mosquitto_pub -V mqttv31 -i pub1 -k 60 ...`: "MQIsdp", level 3.
    const MOSQUITTO_V31: &[u8] = b"\x10\x12\x00\x06MQIsdp\x03\x02\x00\x3C\x00\x04pub1";

    #[test]
    fn golden_v31() {
        let c = roundtrip(MOSQUITTO_V31);
        assert_eq!(c.protocol, ProtocolVersion::V3_1);
        assert!(c.clean_start && !c.bridge);
        assert_eq!((c.keep_alive, c.client_id.as_str()), (60, "pub1"));
        assert_eq!((c.will, c.username, c.password), (None, None, None));
    }

    #[test]
    fn golden_v311_full() {
        // Will (QoS 1, retained) "w" / "bye", user "u", password "p".
        let bytes =
            b"\x10\x1B\x00\x04MQTT\x04\xEE\x00\x0A\x00\x01c\x00\x01w\x00\x03bye\x00\x01u\x00\x01p";
        let c = roundtrip(bytes);
        assert_eq!(c.protocol, ProtocolVersion::V3_1_1);
        let will = c.will.unwrap();
        assert_eq!(
            (will.topic.as_str(), will.payload.as_slice()),
            ("w", &b"bye"[..])
        );
        assert_eq!((will.qos, will.retain), (QoS::AtLeastOnce, true));
        assert_eq!(c.username.as_deref(), Some("u"));
        assert_eq!(c.password.as_deref(), Some(&b"p"[..]));
    }

    #[test]
    fn golden_v5_with_properties() {
        // Session expiry 30 in CONNECT; will delay 5 in the will; password only.
        let bytes = b"\x10\x23\x00\x04MQTT\x05\x46\x00\x00\x05\x11\x00\x00\x00\x1E\x00\x01c\
\x05\x18\x00\x00\x00\x05\x00\x01w\x00\x00\x00\x03tok";
        let c = roundtrip(bytes);
        assert_eq!(c.protocol, ProtocolVersion::V5);
        assert_eq!(c.properties.session_expiry_interval(), Some(30));
        let will = c.will.unwrap();
        assert_eq!(will.properties.0, vec![Property::WillDelayInterval(5)]);
        assert_eq!((c.username, c.password), (None, Some(b"tok".to_vec())));
    }

    /// Captured from mosquitto_pub 2.0 (`-i pub1 -k 60 -u user -P pw
    /// --will-topic w --will-payload bye --will-qos 1 --will-retain`) with
    /// `-V mqttv31`, `mqttv311` and `mqttv5` (which adds Receive Maximum 20).
    const MOSQUITTO_PUB: [(ProtocolVersion, &[u8]); 3] = [
        (
            ProtocolVersion::V3_1,
            b"\x10\x24\x00\x06MQIsdp\x03\xEE\x00\x3C\x00\x04pub1\x00\x01w\x00\x03bye\x00\x04user\x00\x02pw",
        ),
        (
            ProtocolVersion::V3_1_1,
            b"\x10\x22\x00\x04MQTT\x04\xEE\x00\x3C\x00\x04pub1\x00\x01w\x00\x03bye\x00\x04user\x00\x02pw",
        ),
        (
            ProtocolVersion::V5,
            b"\x10\x27\x00\x04MQTT\x05\xEE\x00\x3C\x03\x21\x00\x14\x00\x04pub1\x00\x00\x01w\x00\x03bye\x00\x04user\x00\x02pw",
        ),
    ];

    #[test]
    fn golden_mosquitto_pub() {
        for (version, bytes) in MOSQUITTO_PUB {
            let c = roundtrip(bytes);
            assert_eq!(c.protocol, version);
            assert!(c.clean_start && !c.bridge);
            assert_eq!((c.keep_alive, c.client_id.as_str()), (60, "pub1"));
            let will = c.will.unwrap();
            assert_eq!(
                (will.topic.as_str(), will.payload.as_slice()),
                ("w", &b"bye"[..])
            );
            assert_eq!((will.qos, will.retain), (QoS::AtLeastOnce, true));
            assert!(will.properties.is_empty());
            assert_eq!(c.username.as_deref(), Some("user"));
            assert_eq!(c.password.as_deref(), Some(&b"pw"[..]));
            let receive_maximum = if version.is_v5() { Some(20) } else { None };
            assert_eq!(c.properties.receive_maximum(), receive_maximum);
        }
    }

    #[test]
    fn bridge_bit() {
        // mosquitto bridge with try_private: level 0x84.
        let bytes = b"\x10\x0D\x00\x04MQTT\x84\x02\x00\x3C\x00\x01b";
        let c = roundtrip(bytes);
        assert!(c.bridge);
        assert_eq!(c.protocol, ProtocolVersion::V3_1_1);
    }

    #[test]
    fn unsupported_protocols() {
        let level_6 = b"\x10\x0D\x00\x04MQTT\x06\x02\x00\x3C\x00\x01c";
        assert_eq!(
            dec(level_6),
            Err(DecodeError::UnsupportedProtocol { level: 6 })
        );
        let wrong_pair = b"\x10\x0D\x00\x04MQTT\x03\x02\x00\x3C\x00\x01c";
        assert_eq!(
            dec(wrong_pair),
            Err(DecodeError::UnsupportedProtocol { level: 3 })
        );
        let name = b"\x10\x0D\x00\x04MQTX\x04\x02\x00\x3C\x00\x01c";
        assert_eq!(
            dec(name),
            Err(DecodeError::UnsupportedProtocol { level: 4 })
        );
    }

    fn with_flags(flags: u8) -> Vec<u8> {
        let mut bytes = b"\x10\x0D\x00\x04MQTT\x04\x02\x00\x3C\x00\x01c".to_vec();
        bytes[9] = flags;
        bytes
    }

    #[test]
    fn reserved_flag_is_malformed() {
        // [MQTT-3.1.2-3]
        assert!(matches!(
            dec(&with_flags(0x03)),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn will_qos_and_retain_need_a_will() {
        // [MQTT-3.1.2-13] QoS without a will; [MQTT-3.1.2-15] retain without a will.
        assert!(matches!(
            dec(&with_flags(0x0A)),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            dec(&with_flags(0x22)),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn will_qos_3_is_malformed() {
        // [MQTT-3.1.2-14]
        let bytes = b"\x10\x12\x00\x04MQTT\x04\x1E\x00\x3C\x00\x01c\x00\x01w\x00\x00";
        assert!(matches!(dec(bytes), Err(DecodeError::Malformed(_))));
        // The same with will QoS 2 decodes.
        let bytes = b"\x10\x12\x00\x04MQTT\x04\x16\x00\x3C\x00\x01c\x00\x01w\x00\x00";
        assert_eq!(dec(bytes).unwrap().will.unwrap().qos, QoS::ExactlyOnce);
    }

    #[test]
    fn password_without_username() {
        // [MQTT-3.1.2-22] in 3.1.1; allowed in 5.0 (see golden_v5_with_properties).
        let bytes = b"\x10\x10\x00\x04MQTT\x04\x42\x00\x3C\x00\x01c\x00\x01p";
        assert!(matches!(dec(bytes), Err(DecodeError::Protocol(_))));
    }

    #[test]
    fn truncated_and_trailing() {
        let mut short = MOSQUITTO_V31.to_vec();
        short.pop();
        short[1] -= 1;
        assert!(matches!(dec(&short), Err(DecodeError::Malformed(_))));
        let mut long = MOSQUITTO_V31.to_vec();
        long.push(0);
        long[1] += 1;
        assert!(matches!(dec(&long), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn v5_will_property_not_allowed() {
        // Session expiry inside the will properties.
        let bytes = b"\x10\x19\x00\x04MQTT\x05\x06\x00\x00\x00\x00\x01c\
\x05\x11\x00\x00\x00\x05\x00\x01w\x00\x00";
        assert!(matches!(dec(bytes), Err(DecodeError::Protocol(_))));
    }
}

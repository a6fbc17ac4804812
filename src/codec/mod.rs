//! Bytes ↔ [`Packet`] for MQTT 3.1, 3.1.1 and 5.0, the protocol version a
//! parameter of every call.
//!
//! Owns: the wire format, nothing else. It never touches sockets, the clock
//! or broker state, and it knows no limits but the packet size cap it is
//! given. A packet is recognised whole (fixed header, remaining length, every
//! field) before it is returned; bytes left inside the declared remaining
//! length are an error, and "need more bytes" is not one.
//!
//! One file per packet kind, each with its `read` and `write`; this file holds
//! the enum, its dispatch and the shared types. `framer` turns a byte stream
//! into whole packets for every transport, keeping a split packet's bytes.
//!
//! Decoding checks the wire rules (well-formed UTF-8 without U+0000, reserved
//! bits, QoS 3, zero packet ids, at least one filter, properties allowed in
//! their packet and not repeated); it leaves to the broker what needs state
//! or policy (topic and filter syntax, client id rules, topic aliases,
//! whether a reason code fits the packet). Variable byte integers of up to
//! four bytes are accepted even when not minimal, as mosquitto does.
//!
//! Encoding for a 3.x peer leaves out what 3.x cannot carry (properties,
//! acknowledgement and DISCONNECT reason codes, UNSUBACK codes) and writes
//! every SUBACK failure as 0x80; AUTH cannot be encoded below 5.0.

mod ack;
mod alias_frame;
mod auth;
mod connack;
mod connect;
mod disconnect;
mod error;
mod frame;
mod framer;
mod header;
mod message_properties;
mod ping;
mod properties;
mod publish;
mod reason;
mod suback;
mod subscribe;
mod unsuback;
mod unsubscribe;
mod wire;

use std::num::NonZeroU16;

pub use ack::{Ack, AckKind};
pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, Will};
pub use disconnect::Disconnect;
pub use error::{DecodeError, EncodeError};
pub use frame::{Frame, PublishHeader};
pub use framer::{Framer, Packets};
pub use header::{frame_length, FixedHeader};
pub use message_properties::{forwarded_block, read_forwarded_block, OutgoingProperties};
pub use properties::{Properties, Property};
pub use publish::{Publish, PublishBody};
pub use reason::{ConnectReturn, ReasonCode};
pub use suback::SubAck;
pub use subscribe::{RetainHandling, Subscribe, SubscriptionOptions, SubscriptionRequest};
pub use unsuback::UnsubAck;
pub use unsubscribe::Unsubscribe;

/// The protocol level negotiated by CONNECT; every decode and encode after
/// CONNECT takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// MQTT 3.1: protocol name "MQIsdp", level 3.
    V3_1,
    /// MQTT 3.1.1: protocol name "MQTT", level 4.
    V3_1_1,
    /// MQTT 5.0: protocol name "MQTT", level 5.
    V5,
}

impl ProtocolVersion {
    pub fn level(self) -> u8 {
        match self {
            ProtocolVersion::V3_1 => 3,
            ProtocolVersion::V3_1_1 => 4,
            ProtocolVersion::V5 => 5,
        }
    }

    pub fn is_v5(self) -> bool {
        self == ProtocolVersion::V5
    }
}

/// How log lines name it: "MQTT 3.1", "MQTT 3.1.1", "MQTT 5.0".
impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProtocolVersion::V3_1 => "MQTT 3.1",
            ProtocolVersion::V3_1_1 => "MQTT 3.1.1",
            ProtocolVersion::V5 => "MQTT 5.0",
        })
    }
}

/// Quality of service of a PUBLISH or a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum QoS {
    #[default]
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    pub fn from_u8(value: u8) -> Option<QoS> {
        match value {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// A packet identifier: never zero on the wire [MQTT-2.3.1-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PacketId(NonZeroU16);

impl PacketId {
    pub const MIN: PacketId = PacketId(NonZeroU16::MIN);

    pub fn new(value: u16) -> Option<PacketId> {
        NonZeroU16::new(value).map(PacketId)
    }

    pub fn get(self) -> u16 {
        self.0.get()
    }

    /// The identifier after this one, wrapping from 65535 to 1.
    pub fn next(self) -> PacketId {
        PacketId(self.0.checked_add(1).unwrap_or(NonZeroU16::MIN))
    }
}

/// Every MQTT control packet, decoded and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Connect(Box<Connect>),
    ConnAck(ConnAck),
    Publish(Publish),
    /// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
    Ack(Ack),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    /// MQTT 5 only.
    Auth(Auth),
}

/// The outcome of trying to decode one packet from the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole packet and the number of bytes it took.
    Packet(Packet, usize),
    /// Not enough bytes yet; not an error.
    Incomplete,
}

/// Decodes one packet from the front of `buf`.
///
/// `version` is the connection's negotiated version (before CONNECT, any:
/// CONNECT carries its own). A remaining length that makes the packet larger
/// than `max_packet_size` is refused from the fixed header alone, before the
/// caller buffers the rest.
pub fn decode(
    buf: &[u8],
    version: ProtocolVersion,
    max_packet_size: usize,
) -> Result<Decoded, DecodeError> {
    let Some(header) = FixedHeader::parse(buf, max_packet_size)? else {
        return Ok(Decoded::Incomplete);
    };
    let total = header.frame_len();
    let Some(frame) = buf.get(..total) else {
        return Ok(Decoded::Incomplete);
    };
    let body = frame.get(header.header_len..).unwrap_or(&[]);
    let packet = read_body(header, body, version)?;
    Ok(Decoded::Packet(packet, total))
}

fn read_body(
    header: FixedHeader,
    body: &[u8],
    version: ProtocolVersion,
) -> Result<Packet, DecodeError> {
    let flags = header.flags;
    let mut reader = wire::Reader::new(body);
    let packet = match header.kind {
        1 => {
            header::expect_flags(flags, 0)?;
            Packet::Connect(Box::new(connect::read(&mut reader)?))
        }
        2 => {
            header::expect_flags(flags, 0)?;
            Packet::ConnAck(connack::read(&mut reader, version)?)
        }
        3 => Packet::Publish(publish::read(flags, &mut reader, version)?),
        4..=7 => {
            let kind = AckKind::from_packet_type(header.kind)?;
            header::expect_flags(flags, kind.fixed_flags())?;
            Packet::Ack(ack::read(kind, &mut reader, version)?)
        }
        8 => {
            header::expect_flags(flags, 0b0010)?;
            Packet::Subscribe(subscribe::read(&mut reader, version)?)
        }
        9 => {
            header::expect_flags(flags, 0)?;
            Packet::SubAck(suback::read(&mut reader, version)?)
        }
        10 => {
            header::expect_flags(flags, 0b0010)?;
            Packet::Unsubscribe(unsubscribe::read(&mut reader, version)?)
        }
        11 => {
            header::expect_flags(flags, 0)?;
            Packet::UnsubAck(unsuback::read(&mut reader, version)?)
        }
        12 => {
            header::expect_flags(flags, 0)?;
            ping::read(&mut reader)?;
            Packet::PingReq
        }
        13 => {
            header::expect_flags(flags, 0)?;
            ping::read(&mut reader)?;
            Packet::PingResp
        }
        14 => {
            header::expect_flags(flags, 0)?;
            Packet::Disconnect(disconnect::read(&mut reader, version)?)
        }
        15 if version.is_v5() => {
            header::expect_flags(flags, 0)?;
            Packet::Auth(auth::read(&mut reader)?)
        }
        _ => return Err(DecodeError::Malformed("reserved packet type")),
    };
    reader.finish()?;
    Ok(packet)
}

/// Encodes `packet` for a peer speaking `version`, appending to `out`.
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    match packet {
        Packet::Connect(p) => connect::write(p, out),
        Packet::ConnAck(p) => connack::write(p, version, out),
        Packet::Publish(p) => publish::write(p, version, out),
        Packet::Ack(p) => ack::write(p, version, out),
        Packet::Subscribe(p) => subscribe::write(p, version, out),
        Packet::SubAck(p) => suback::write(p, version, out),
        Packet::Unsubscribe(p) => unsubscribe::write(p, version, out),
        Packet::UnsubAck(p) => unsuback::write(p, version, out),
        Packet::PingReq => ping::write(12, out),
        Packet::PingResp => ping::write(13, out),
        Packet::Disconnect(p) => disconnect::write(p, version, out),
        Packet::Auth(p) => auth::write(p, version, out),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
pub(crate) mod test_util {
    use super::*;

    /// Decodes exactly one whole packet from `bytes`.
    pub fn dec(bytes: &[u8], version: ProtocolVersion) -> Result<Packet, DecodeError> {
        match decode(bytes, version, 1 << 20)? {
            Decoded::Packet(p, n) => {
                assert_eq!(n, bytes.len(), "packet length");
                Ok(p)
            }
            Decoded::Incomplete => panic!("incomplete: {bytes:02X?}"),
        }
    }

    /// Encodes, and checks that `Frame::packet` produces the same bytes.
    pub fn enc(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
        let mut out = Vec::new();
        encode(packet, version, &mut out).unwrap();
        let frame = Frame::packet(packet, version).unwrap();
        let framed: Vec<u8> = frame
            .slices()
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect();
        assert_eq!(framed, out, "Frame::packet agrees with encode");
        assert_eq!(frame.len(), out.len());
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// What mosquitto 2.0.11 sends a client that connects, subscribes to a/b
    /// (3.1.1: QoS 1; 5.0: QoS 2 with subscription identifier 5) and publishes "hi" to
    /// it at QoS 1: CONNACK, SUBACK, the PUBLISH back, the PUBACK.
    #[test]
    fn golden_mosquitto_broker_stream() {
        let streams = [
            (
                ProtocolVersion::V3_1_1,
                "20020000900300010132090003612f620001686940020002",
            ),
            (
                ProtocolVersion::V5,
                "200900000622000a210014900400010002320c0003612f620001020b05686940020002",
            ),
        ];
        for (version, stream) in streams {
            let bytes = hex(stream);
            let mut offset = 0;
            let mut packets = Vec::new();
            while offset < bytes.len() {
                let Decoded::Packet(p, n) = decode(&bytes[offset..], version, 1024).unwrap() else {
                    panic!("incomplete")
                };
                let mut out = Vec::new();
                encode(&p, version, &mut out).unwrap();
                assert_eq!(out, &bytes[offset..offset + n], "{p:?}");
                offset += n;
                packets.push(p);
            }
            assert_eq!(packets.len(), 4);
            let Packet::ConnAck(c) = &packets[0] else {
                panic!()
            };
            assert_eq!(c.code, 0);
            let Packet::SubAck(s) = &packets[1] else {
                panic!()
            };
            let granted = if version.is_v5() {
                ReasonCode::GRANTED_QOS_2
            } else {
                ReasonCode::GRANTED_QOS_1
            };
            assert_eq!(s.codes, [granted]);
            let Packet::Publish(p) = &packets[2] else {
                panic!()
            };
            assert_eq!(
                (p.body.topic(), p.body.payload(), p.qos),
                ("a/b", &b"hi"[..], QoS::AtLeastOnce)
            );
            if version.is_v5() {
                assert_eq!(c.properties.topic_alias_maximum(), Some(10));
                assert_eq!(c.properties.receive_maximum(), Some(20));
                assert_eq!(
                    p.properties.subscription_identifiers().collect::<Vec<_>>(),
                    [5]
                );
            }
            assert!(
                matches!(&packets[3], Packet::Ack(a) if a.kind == AckKind::PubAck && a.packet_id.get() == 2)
            );
        }
    }
}

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
//! the enum, its dispatch and the shared types.

mod ack;
mod auth;
mod connack;
mod connect;
mod disconnect;
mod error;
mod frame;
mod header;
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
pub use frame::Frame;
pub use header::{frame_length, FixedHeader};
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

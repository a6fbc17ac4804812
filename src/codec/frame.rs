//! Outbound frames: what the broker queues for a connection and the network
//! layer writes with one vectored write per batch.
//!
//! A PUBLISH frame shares its [`PublishBody`] with every other subscriber's
//! frame; only the fixed header and the packet id (and, in 5.0, the
//! per-subscriber properties) are its own.

use super::{EncodeError, Packet, PacketId, Properties, ProtocolVersion, PublishBody, QoS};

/// Control packets up to this size are kept inline (PUBACK is 4 bytes).
const INLINE_FRAME: usize = 16;

#[derive(Debug, Clone)]
pub enum Frame {
    /// A small control packet, encoded inline: no allocation.
    Small(heapless::Vec<u8, INLINE_FRAME>),
    /// A larger control packet (SUBACK with many codes, 5.0 reason strings).
    Owned(Box<[u8]>),
    Publish(PublishFrame),
}

#[derive(Debug, Clone)]
pub struct PublishFrame {
    /// First byte and remaining length.
    head: heapless::Vec<u8, 5>,
    body: PublishBody,
    /// Packet id (QoS > 0), then in 5.0 the properties with their length.
    middle: heapless::Vec<u8, 2>,
    properties: Option<Box<[u8]>>,
}

impl Frame {
    /// Encodes a control packet.
    pub fn packet(packet: &Packet, version: ProtocolVersion) -> Result<Frame, EncodeError> {
        let _ = (packet, version);
        Err(EncodeError::Invalid("Frame::packet not implemented"))
    }

    /// One subscriber's PUBLISH of a shared body.
    pub fn publish(
        body: &PublishBody,
        qos: QoS,
        retain: bool,
        dup: bool,
        packet_id: Option<PacketId>,
        properties: Option<&Properties>,
        version: ProtocolVersion,
    ) -> Result<Frame, EncodeError> {
        let _ = (body, qos, retain, dup, packet_id, properties, version);
        Err(EncodeError::Invalid("Frame::publish not implemented"))
    }

    /// Bytes on the wire.
    pub fn len(&self) -> usize {
        0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame as up to five slices, in order, for a vectored write.
    pub fn slices(&self) -> heapless::Vec<&[u8], 5> {
        heapless::Vec::new()
    }
}

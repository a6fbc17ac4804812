//! Outbound frames: what the broker queues for a connection and the network
//! layer writes with one vectored write per batch.
//!
//! A PUBLISH frame shares its [`PublishBody`] with every other subscriber's
//! frame; only the fixed header and the packet id (and, in 5.0, the
//! per-subscriber properties) are its own. Building one allocates nothing
//! unless it carries 5.0 properties.
//!
//! Invariant: a frame's slices, concatenated, are exactly what [`encode`]
//! writes for the same packet (checked by the property tests).
//!
//! This file and publish.rs use each other on purpose: a frame carries the
//! shared body, and the body's fixed header is kept in a frame's headroom.
//!
//! [`encode`]: super::encode

use std::rc::Rc;

use super::message_properties::OutgoingProperties;
use super::wire;
use super::{
    encode, AckKind, EncodeError, Packet, PacketId, Properties, ProtocolVersion, PublishBody, QoS,
    ReasonCode,
};

/// Control packets up to this size are kept inline (PUBACK is 4 bytes).
const INLINE_FRAME: usize = 16;

#[derive(Debug, Clone)]
pub enum Frame {
    /// A small control packet, encoded inline: no allocation.
    Small(heapless::Vec<u8, INLINE_FRAME>),
    /// A larger control packet (SUBACK with many codes, 5.0 reason strings).
    Owned(Box<[u8]>),
    Publish(PublishFrame),
    /// A whole packet several connections share: a 5.0 QoS 0 PUBLISH that
    /// is the same for every subscriber, sent as one slice like the 3.x
    /// one in a body's headroom (README.md ## Performance).
    Shared(Rc<[u8]>),
}

/// The per-subscriber fields of a PUBLISH's fixed header and packet id.
#[derive(Debug, Clone, Copy)]
pub struct PublishHeader {
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
    pub packet_id: Option<PacketId>,
}

#[derive(Debug, Clone)]
pub struct PublishFrame {
    /// First byte and remaining length; empty when the body's headroom
    /// holds them (a live QoS 0 PUBLISH to a 3.x client).
    pub(super) head: heapless::Vec<u8, 5>,
    pub(super) body: PublishBody,
    /// Packet id (QoS > 0), then in 5.0 the property length.
    pub(super) middle: heapless::Vec<u8, 6>,
    /// 5.0 properties without their length; `None` when there are none.
    pub(super) properties: Option<Box<[u8]>>,
    /// 5.0: the topic is sent as a zero-length name, its Topic Alias
    /// among the properties standing for it (`alias_frame.rs`).
    pub(super) elide_topic: bool,
}

/// The zero-length topic name of a PUBLISH that names its topic by alias.
pub(super) const EMPTY_TOPIC: [u8; 2] = [0, 0];

impl PublishFrame {
    pub fn body(&self) -> &PublishBody {
        &self.body
    }

    /// The topic part as written: the body's, or an empty name.
    fn topic_part(&self) -> &[u8] {
        if self.elide_topic {
            &EMPTY_TOPIC
        } else {
            self.body.topic_part()
        }
    }
}

pub(super) const INTERNAL: EncodeError = EncodeError::Invalid("internal: inline buffer overflow");

/// A PUBLISH's first byte and remaining length.
pub(super) fn fixed_header(
    first: u8,
    remaining: usize,
) -> Result<heapless::Vec<u8, 5>, EncodeError> {
    let mut head = heapless::Vec::<u8, 5>::new();
    head.push(first).map_err(|_| INTERNAL)?;
    // `varint` refuses a remaining length over 268,435,455.
    head.extend_from_slice(&wire::varint(remaining)?)
        .map_err(|_| INTERNAL)?;
    Ok(head)
}

impl Frame {
    /// Encodes a control packet. The common small ones (acknowledgements,
    /// pings, a plain DISCONNECT) are built inline without touching the heap;
    /// a PUBLISH is handed to [`Frame::publish`].
    pub fn packet(packet: &Packet, version: ProtocolVersion) -> Result<Frame, EncodeError> {
        if let Packet::Publish(p) = packet {
            let properties = Some(&p.properties);
            return Frame::publish(
                &p.body,
                p.qos,
                p.retain,
                p.dup,
                p.packet_id,
                properties,
                version,
            );
        }
        if let Some(small) = small(packet, version)? {
            return Ok(Frame::Small(small));
        }
        let mut out = Vec::new();
        encode(packet, version, &mut out)?;
        if out.len() <= INLINE_FRAME {
            heapless::Vec::from_slice(&out)
                .map(Frame::Small)
                .map_err(|_| INTERNAL)
        } else {
            Ok(Frame::Owned(out.into_boxed_slice()))
        }
    }

    /// One subscriber's PUBLISH of a shared body.
    ///
    /// `properties` are ignored below 5.0, where they cannot be carried.
    pub fn publish(
        body: &PublishBody,
        qos: QoS,
        retain: bool,
        dup: bool,
        packet_id: Option<PacketId>,
        properties: Option<&Properties>,
        version: ProtocolVersion,
    ) -> Result<Frame, EncodeError> {
        let mut property_bytes = None;
        if version.is_v5() {
            if let Some(properties) = properties.filter(|p| !p.is_empty()) {
                let mut bytes = Vec::with_capacity(properties.wire_len());
                properties.write_values(&mut bytes)?;
                property_bytes = Some(bytes);
            }
        }
        let header = PublishHeader {
            qos,
            retain,
            dup,
            packet_id,
        };
        Frame::publish_with(body, header, property_bytes, version)
    }

    /// One subscriber's PUBLISH of a routed message: its forwarded
    /// properties, remaining expiry and subscription identifiers (5.0
    /// only; a 3.x frame carries none).
    pub fn publish_message(
        body: &PublishBody,
        header: PublishHeader,
        properties: &OutgoingProperties<'_>,
        version: ProtocolVersion,
    ) -> Result<Frame, EncodeError> {
        let bytes = if version.is_v5() && !properties.is_empty() {
            Some(properties.encode()?)
        } else {
            None
        };
        Frame::publish_with(body, header, bytes, version)
    }

    fn publish_with(
        body: &PublishBody,
        header: PublishHeader,
        property_bytes: Option<Vec<u8>>,
        version: ProtocolVersion,
    ) -> Result<Frame, EncodeError> {
        let PublishHeader {
            qos,
            retain,
            dup,
            packet_id,
        } = header;
        if (qos == QoS::AtMostOnce) != packet_id.is_none() {
            return Err(EncodeError::Invalid(
                "packet id must be present exactly when QoS > 0",
            ));
        }
        if dup && qos == QoS::AtMostOnce {
            return Err(EncodeError::Invalid(
                "DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2]",
            ));
        }
        let mut middle = heapless::Vec::<u8, 6>::new();
        if let Some(id) = packet_id {
            middle
                .extend_from_slice(&id.get().to_be_bytes())
                .map_err(|_| INTERNAL)?;
        }
        if qos == QoS::AtMostOnce && !retain && !version.is_v5() {
            // The body carries this header already (its headroom): an
            // empty head says so.
            return Ok(Frame::Publish(PublishFrame {
                head: heapless::Vec::new(),
                body: body.clone(),
                middle,
                properties: None,
                elide_topic: false,
            }));
        }
        let property_bytes = property_bytes.filter(|b| !b.is_empty());
        if version.is_v5() {
            let len = property_bytes.as_ref().map_or(0, Vec::len);
            middle
                .extend_from_slice(&wire::varint(len)?)
                .map_err(|_| INTERNAL)?;
        }
        let property_bytes = property_bytes.map(Vec::into_boxed_slice);
        let properties_len = property_bytes.as_ref().map_or(0, |p| p.len());
        let remaining = body
            .len()
            .checked_add(middle.len())
            .and_then(|n| n.checked_add(properties_len))
            .ok_or(EncodeError::TooLarge("PUBLISH remaining length"))?;
        let first = 0x30 | u8::from(dup) << 3 | (qos as u8) << 1 | u8::from(retain);
        Ok(Frame::Publish(PublishFrame {
            head: fixed_header(first, remaining)?,
            body: body.clone(),
            middle,
            properties: property_bytes,
            elide_topic: false,
        }))
    }

    /// Bytes on the wire.
    pub fn len(&self) -> usize {
        match self {
            Frame::Small(bytes) => bytes.len(),
            Frame::Owned(bytes) => bytes.len(),
            Frame::Shared(bytes) => bytes.len(),
            Frame::Publish(p) if p.head.is_empty() => p.body.qos0_packet().len(),
            Frame::Publish(p) => {
                // Bounded by the checked remaining length when built.
                p.head.len()
                    + p.topic_part().len()
                    + p.body.payload_part().len()
                    + p.middle.len()
                    + p.properties.as_ref().map_or(0, |b| b.len())
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame as one shared buffer (its slices copied once), for
    /// [`Frame::Shared`] copies of it.
    pub fn to_shared(&self) -> Rc<[u8]> {
        let mut bytes = Vec::with_capacity(self.len());
        for slice in self.slices() {
            bytes.extend_from_slice(slice);
        }
        Rc::from(bytes)
    }

    /// The frame as up to five slices, in order, for a vectored write.
    /// Empty slices are left out.
    pub fn slices(&self) -> heapless::Vec<&[u8], 5> {
        let mut slices = heapless::Vec::new();
        match self {
            Frame::Small(bytes) => {
                let _ = slices.push(bytes.as_slice());
            }
            Frame::Owned(bytes) => {
                let _ = slices.push(bytes.as_ref());
            }
            Frame::Shared(bytes) => {
                let _ = slices.push(bytes.as_ref());
            }
            // A live QoS 0 PUBLISH to a 3.x client: all in the body.
            Frame::Publish(p) if p.head.is_empty() => {
                let _ = slices.push(p.body.qos0_packet());
            }
            Frame::Publish(p) => {
                let parts = [
                    p.head.as_slice(),
                    p.topic_part(),
                    p.middle.as_slice(),
                    p.properties.as_deref().unwrap_or(&[]),
                    p.body.payload_part(),
                ];
                for part in parts.into_iter().filter(|s| !s.is_empty()) {
                    // Five parts, capacity five: never refused.
                    let _ = slices.push(part);
                }
            }
        }
        slices
    }
}

/// The packets built inline, byte for byte what their `write` produces.
/// `Ok(None)` for everything else.
fn small(
    packet: &Packet,
    version: ProtocolVersion,
) -> Result<Option<heapless::Vec<u8, INLINE_FRAME>>, EncodeError> {
    let bytes: heapless::Vec<u8, INLINE_FRAME> = match packet {
        Packet::Ack(ack) if ack.properties.is_empty() || !version.is_v5() => {
            let first = ack.kind.packet_type() << 4 | ack.kind.fixed_flags();
            let [hi, lo] = ack.packet_id.get().to_be_bytes();
            if version.is_v5() && ack.reason != ReasonCode::SUCCESS {
                from(&[first, 3, hi, lo, ack.reason.0])?
            } else {
                from(&[first, 2, hi, lo])?
            }
        }
        Packet::PingReq => from(&[0xC0, 0])?,
        Packet::PingResp => from(&[0xD0, 0])?,
        Packet::Disconnect(d) if d.properties.is_empty() || !version.is_v5() => {
            if version.is_v5() && d.reason != ReasonCode::SUCCESS {
                from(&[0xE0, 1, d.reason.0])?
            } else {
                from(&[0xE0, 0])?
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(bytes))
}

fn from(bytes: &[u8]) -> Result<heapless::Vec<u8, INLINE_FRAME>, EncodeError> {
    heapless::Vec::from_slice(bytes).map_err(|_| INTERNAL)
}

impl AckKind {
    /// A plain acknowledgement frame (reason SUCCESS, no properties).
    pub fn frame(self, packet_id: PacketId) -> Frame {
        let [hi, lo] = packet_id.get().to_be_bytes();
        let mut bytes = heapless::Vec::new();
        // Four bytes into sixteen.
        let _ = bytes.extend_from_slice(&[self.packet_type() << 4 | self.fixed_flags(), 2, hi, lo]);
        Frame::Small(bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::{Ack, Disconnect, Property, SubAck};
    use super::*;

    fn concat(frame: &Frame) -> Vec<u8> {
        frame
            .slices()
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }

    #[test]
    fn puback_is_inline() {
        let id = PacketId::new(0x1234).unwrap();
        let f = Frame::packet(
            &Packet::Ack(Ack::new(AckKind::PubAck, id)),
            ProtocolVersion::V3_1_1,
        )
        .unwrap();
        assert!(matches!(f, Frame::Small(_)));
        assert_eq!(concat(&f), [0x40, 2, 0x12, 0x34]);
        assert_eq!(concat(&AckKind::PubRel.frame(id)), [0x62, 2, 0x12, 0x34]);
        let f = Frame::packet(&Packet::PingResp, ProtocolVersion::V5).unwrap();
        assert_eq!((concat(&f), f.len()), (vec![0xD0, 0], 2));
        let d = Disconnect {
            reason: ReasonCode::SESSION_TAKEN_OVER,
            ..Disconnect::default()
        };
        let f = Frame::packet(&Packet::Disconnect(d), ProtocolVersion::V5).unwrap();
        assert_eq!(concat(&f), [0xE0, 1, 0x8E]);
    }

    #[test]
    fn large_control_packet_is_owned() {
        let suback = SubAck {
            packet_id: PacketId::new(1).unwrap(),
            codes: vec![ReasonCode::GRANTED_QOS_1; 20],
            properties: Properties::default(),
        };
        let f = Frame::packet(&Packet::SubAck(suback), ProtocolVersion::V3_1_1).unwrap();
        assert!(matches!(f, Frame::Owned(_)));
        assert_eq!(f.len(), 24);
    }

    #[test]
    fn publish_slices_share_the_body() {
        let body = PublishBody::new("a/b", b"payload").unwrap();
        let id = PacketId::new(9);
        let f = Frame::publish(
            &body,
            QoS::AtLeastOnce,
            true,
            false,
            id,
            None,
            ProtocolVersion::V3_1_1,
        )
        .unwrap();
        let slices = f.slices();
        assert_eq!(slices.len(), 4);
        assert!(std::ptr::eq(slices[1], body.topic_part()));
        assert!(std::ptr::eq(slices[3], body.payload_part()));
        assert_eq!(concat(&f), b"\x33\x0E\x00\x03a/b\x00\x09payload");
        assert_eq!(f.len(), 16);

        let mut props = Properties::default();
        props.push(Property::SubscriptionIdentifier(3));
        let f = Frame::publish(
            &body,
            QoS::AtMostOnce,
            false,
            false,
            None,
            Some(&props),
            ProtocolVersion::V5,
        )
        .unwrap();
        assert_eq!(f.slices().len(), 5);
        assert_eq!(concat(&f), b"\x30\x0F\x00\x03a/b\x02\x0B\x03payload");

        let f = Frame::publish(
            &body,
            QoS::AtMostOnce,
            false,
            false,
            None,
            None,
            ProtocolVersion::V3_1_1,
        )
        .unwrap();
        assert_eq!(f.slices().len(), 1, "live QoS 0 to 3.x: one slice");
        assert_eq!(concat(&f), b"\x30\x0C\x00\x03a/bpayload");
    }

    #[test]
    fn publish_frame_refuses_bad_combinations() {
        let body = PublishBody::new("t", b"").unwrap();
        let id = PacketId::new(1);
        let v = ProtocolVersion::V3_1_1;
        assert!(Frame::publish(&body, QoS::AtMostOnce, false, false, id, None, v).is_err());
        assert!(Frame::publish(&body, QoS::AtLeastOnce, false, false, None, None, v).is_err());
        assert!(Frame::publish(&body, QoS::AtMostOnce, false, true, None, None, v).is_err());
    }
}

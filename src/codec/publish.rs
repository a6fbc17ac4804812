//! PUBLISH, and the shared body that fans out to every subscriber.
//!
//! Decoding a 3.x PUBLISH makes exactly one allocation, the [`PublishBody`];
//! a 5.0 one adds only what its properties need. Encoding goes through
//! [`Frame::publish`] so that the two can never disagree.
//!
//! Topic names are checked as UTF-8 strings only; wildcards, length and `$`
//! rules are the broker's (topic/) to judge.

use std::rc::Rc;

use super::properties::Context;
use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, Frame, PacketId, Properties, ProtocolVersion, QoS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    /// `Some` exactly when `qos` is above 0.
    pub packet_id: Option<PacketId>,
    pub body: PublishBody,
    pub properties: Properties,
}

/// The bytes every copy of a message shares: the topic with its 2-byte length
/// prefix, then the payload — exactly as they stand on the wire, so a
/// subscriber's frame is [own fixed header, topic part, own packet id and
/// properties, payload part] with no copy of either part. One allocation per
/// message; cloning is a reference count.
///
/// In front of them, `HEADROOM` bytes end with the fixed header of the most
/// common copy, a live QoS 0 PUBLISH to a 3.x client: that copy goes out as
/// one slice (README.md ## Performance: a vectored write costs per slice,
/// and fan-out writes are mostly these).
///
/// Invariant: after the headroom the buffer holds a two-byte length no
/// larger than the rest of it, followed by that many bytes of valid UTF-8
/// without U+0000; the headroom ends with `0x30` and the remaining length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishBody(Rc<[u8]>);

impl PublishBody {
    /// Builds a body; the topic must be valid UTF-8 without U+0000 (callers
    /// validate topics before they get here) and at most 65,535 bytes.
    pub fn new(topic: &str, payload: &[u8]) -> Result<PublishBody, EncodeError> {
        let len = u16::try_from(topic.len())
            .map_err(|_| EncodeError::TooLarge("topic over 65,535 bytes"))?;
        if topic.as_bytes().contains(&0) {
            return Err(EncodeError::Invalid("U+0000 in a topic [MQTT-1.5.3-2]"));
        }
        body(&[&len.to_be_bytes(), topic.as_bytes(), payload])
            .map(PublishBody)
            .ok_or(EncodeError::TooLarge("message does not fit in memory"))
    }

    /// The same payload under another topic (a 5.0 topic alias resolved, a
    /// bridge remapping): one new allocation, the payload copied once.
    pub fn with_topic(&self, topic: &str) -> Result<PublishBody, EncodeError> {
        PublishBody::new(topic, self.payload())
    }

    /// Topic part and payload, without the headroom.
    fn parts(&self) -> &[u8] {
        self.0.get(HEADROOM..).unwrap_or(&[])
    }

    /// Where, in `parts`, the topic part ends and the payload part begins.
    fn topic_end(&self) -> usize {
        match self.parts().first_chunk::<2>() {
            Some(len) => usize::from(u16::from_be_bytes(*len)) + 2,
            None => 0,
        }
    }

    /// The topic name. It was validated when the body was built; the empty
    /// fallback is unreachable and only avoids a panic path.
    pub fn topic(&self) -> &str {
        self.topic_part()
            .get(2..)
            .and_then(|t| std::str::from_utf8(t).ok())
            .unwrap_or("")
    }

    pub fn payload(&self) -> &[u8] {
        self.payload_part()
    }

    /// The length prefix and the topic, as on the wire.
    pub fn topic_part(&self) -> &[u8] {
        self.parts().get(..self.topic_end()).unwrap_or(&[])
    }

    /// The payload, as on the wire.
    pub fn payload_part(&self) -> &[u8] {
        self.parts().get(self.topic_end()..).unwrap_or(&[])
    }

    /// The whole live QoS 0 PUBLISH for a 3.x client (no retain, no DUP):
    /// the fixed header kept in the headroom, the topic part, the payload.
    pub fn qos0_packet(&self) -> &[u8] {
        let header = 1 + wire::varint_len(self.len());
        self.0.get(HEADROOM.saturating_sub(header)..).unwrap_or(&[])
    }

    /// Bytes of topic part plus payload.
    pub fn len(&self) -> usize {
        self.parts().len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts().is_empty()
    }
}

/// Bytes in front of a body: the longest fixed header (1 + 4).
const HEADROOM: usize = 5;

/// A body of `parts` end to end, after the headroom with its QoS 0 header,
/// in one exactly sized allocation (`None` only if the total overflows or
/// passes the largest remaining length, which a decoded packet cannot).
fn body(parts: &[&[u8]]) -> Option<Rc<[u8]>> {
    let len = parts
        .iter()
        .try_fold(0usize, |sum, p| sum.checked_add(p.len()))?;
    let remaining = wire::varint(len).ok()?;
    let mut header = heapless::Vec::<u8, HEADROOM>::new();
    header.push(0x30).ok()?;
    header.extend_from_slice(&remaining).ok()?;
    let pad = [0u8; HEADROOM];
    let pad = pad.get(header.len()..)?;
    let mut all: heapless::Vec<&[u8], 8> = heapless::Vec::new();
    all.push(pad).ok()?;
    all.push(&header).ok()?;
    for part in parts {
        all.push(part).ok()?;
    }
    concat(&all)
}

/// `parts` end to end in one exactly sized allocation (`None` only if the
/// total overflows, which slices in memory cannot).
fn concat(parts: &[&[u8]]) -> Option<Rc<[u8]>> {
    let total = parts
        .iter()
        .try_fold(0usize, |sum, p| sum.checked_add(p.len()))?;
    // `RepeatN` has an exact length, so this is a single allocation; the
    // zero fill is then overwritten by plain slice copies.
    let mut buf: Rc<[u8]> = std::iter::repeat_n(0u8, total).collect();
    let mut rest = Rc::get_mut(&mut buf)?;
    for part in parts {
        let (head, tail) = rest.split_at_mut_checked(part.len())?;
        head.copy_from_slice(part);
        rest = tail;
    }
    Some(buf)
}

pub(super) fn read(
    flags: u8,
    reader: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<Publish, DecodeError> {
    let retain = flags & 0b0001 != 0;
    let dup = flags & 0b1000 != 0;
    let qos = QoS::from_u8((flags >> 1) & 0b11)
        .ok_or(DecodeError::Malformed("PUBLISH with QoS 3 [MQTT-3.3.1-4]"))?;
    if dup && qos == QoS::AtMostOnce {
        return Err(DecodeError::Protocol(
            "DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2]",
        ));
    }
    let whole = reader.remaining();
    let topic_len = reader.read_u16()?;
    let topic = reader.take(usize::from(topic_len))?;
    wire::check_str(topic)?;
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        Some(reader.read_packet_id()?)
    };
    let properties = if version.is_v5() {
        Properties::read(reader, Context::Publish)?
    } else {
        Properties::default()
    };
    let payload = reader.rest();
    let body = if packet_id.is_none() && !version.is_v5() {
        // Topic and payload are already adjacent, exactly the body's layout.
        body(&[whole])
    } else {
        body(&[&topic_len.to_be_bytes(), topic, payload])
    }
    .ok_or(DecodeError::Malformed("message does not fit in memory"))?;
    Ok(Publish {
        dup,
        qos,
        retain,
        packet_id,
        body: PublishBody(body),
        properties,
    })
}

pub(super) fn write(
    packet: &Publish,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let frame = Frame::publish(
        &packet.body,
        packet.qos,
        packet.retain,
        packet.dup,
        packet.packet_id,
        Some(&packet.properties),
        version,
    )?;
    out.reserve(frame.len());
    for slice in frame.slices() {
        out.extend_from_slice(slice);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::{decode, encode, Decoded, Packet, Property};
    use super::*;

    const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
    const V5: ProtocolVersion = ProtocolVersion::V5;

    fn dec(bytes: &[u8], version: ProtocolVersion) -> Result<Packet, DecodeError> {
        match decode(bytes, version, 1 << 20)? {
            Decoded::Packet(p, n) => {
                assert_eq!(n, bytes.len());
                Ok(p)
            }
            Decoded::Incomplete => panic!("incomplete"),
        }
    }

    #[test]
    fn body_parts() {
        let body = PublishBody::new("a/b", b"hello").unwrap();
        assert_eq!(body.topic(), "a/b");
        assert_eq!(body.payload(), b"hello");
        assert_eq!(body.topic_part(), b"\x00\x03a/b");
        assert_eq!(body.payload_part(), b"hello");
        assert_eq!(body.len(), 10);
        let empty = PublishBody::new("", b"").unwrap();
        assert_eq!(
            (empty.topic(), empty.payload(), empty.len()),
            ("", &b""[..], 2)
        );
        assert!(PublishBody::new("a\0b", b"").is_err());
        assert!(PublishBody::new(&"x".repeat(65_536), b"").is_err());
    }

    #[test]
    fn golden_qos0_v311() {
        // mosquitto_pub -t a/b -m hi
        let bytes = b"\x30\x07\x00\x03a/bhi";
        let Packet::Publish(p) = dec(bytes, V311).unwrap() else {
            panic!()
        };
        assert_eq!(
            (p.dup, p.qos, p.retain, p.packet_id),
            (false, QoS::AtMostOnce, false, None)
        );
        assert_eq!((p.body.topic(), p.body.payload()), ("a/b", &b"hi"[..]));
        let mut out = Vec::new();
        encode(&Packet::Publish(p), V311, &mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn golden_qos1_retain_dup_v31() {
        let bytes = b"\x3B\x09\x00\x03a/b\x00\x07hi";
        let Packet::Publish(p) = dec(bytes, ProtocolVersion::V3_1).unwrap() else {
            panic!()
        };
        assert_eq!((p.dup, p.qos, p.retain), (true, QoS::AtLeastOnce, true));
        assert_eq!(p.packet_id, PacketId::new(7));
        assert_eq!(p.body.payload(), b"hi");
        let mut out = Vec::new();
        encode(&Packet::Publish(p), ProtocolVersion::V3_1, &mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn golden_qos2_v5_with_properties() {
        // Packet id 1, properties: payload format 1, topic alias 5.
        let bytes = b"\x34\x0E\x00\x01t\x00\x01\x05\x01\x01\x23\x00\x05hey";
        let Packet::Publish(p) = dec(bytes, V5).unwrap() else {
            panic!()
        };
        assert_eq!(p.qos, QoS::ExactlyOnce);
        assert_eq!(
            p.properties.0,
            vec![Property::PayloadFormatIndicator(1), Property::TopicAlias(5)]
        );
        assert_eq!((p.body.topic(), p.body.payload()), ("t", &b"hey"[..]));
        let mut out = Vec::new();
        encode(&Packet::Publish(p), V5, &mut out).unwrap();
        assert_eq!(out, bytes);
        // No properties: a single zero length byte.
        let bytes = b"\x30\x05\x00\x01t\x00x";
        let Packet::Publish(p) = dec(bytes, V5).unwrap() else {
            panic!()
        };
        assert!(p.properties.is_empty());
        assert_eq!(p.body.payload(), b"x");
    }

    /// `mosquitto_pub -q 1 -t a/b -m hi` (2.0), 3.1 / 3.1.1 and 5.0 with
    /// `-D publish user-property k v`.
    #[test]
    fn golden_mosquitto_pub() {
        for version in [ProtocolVersion::V3_1, V311, V5] {
            let bytes: &[u8] = if version.is_v5() {
                b"\x32\x11\x00\x03a/b\x00\x01\x07\x26\x00\x01k\x00\x01vhi"
            } else {
                b"\x32\x09\x00\x03a/b\x00\x01hi"
            };
            let Packet::Publish(p) = dec(bytes, version).unwrap() else {
                panic!()
            };
            assert_eq!(
                (p.qos, p.packet_id, p.dup, p.retain),
                (QoS::AtLeastOnce, PacketId::new(1), false, false)
            );
            assert_eq!((p.body.topic(), p.body.payload()), ("a/b", &b"hi"[..]));
            if version.is_v5() {
                assert_eq!(
                    p.properties.user_properties().collect::<Vec<_>>(),
                    [("k", "v")]
                );
            }
            let mut out = Vec::new();
            encode(&Packet::Publish(p), version, &mut out).unwrap();
            assert_eq!(out, bytes);
        }
    }

    #[test]
    fn qos_3_is_malformed() {
        // [MQTT-3.3.1-4]
        assert!(matches!(
            dec(b"\x36\x05\x00\x01t\x00\x01", V311),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn dup_on_qos0_is_protocol_error() {
        // [MQTT-3.3.1-2]
        assert!(matches!(
            dec(b"\x38\x03\x00\x01t", V311),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn zero_packet_id_is_protocol_error() {
        // [MQTT-2.3.1-1]
        assert!(matches!(
            dec(b"\x32\x05\x00\x01t\x00\x00", V311),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn bad_topics() {
        // [MQTT-1.5.3-1] invalid UTF-8, [MQTT-1.5.3-2] U+0000.
        assert!(matches!(
            dec(b"\x30\x03\x00\x01\xFF", V311),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            dec(b"\x30\x03\x00\x01\x00", V311),
            Err(DecodeError::Malformed(_))
        ));
        // Topic length past the end.
        assert!(matches!(
            dec(b"\x30\x03\x00\x05a", V311),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn v5_property_not_for_publish() {
        // Session Expiry Interval in a PUBLISH.
        let bytes = b"\x30\x09\x00\x01t\x05\x11\x00\x00\x00\x01";
        assert!(matches!(dec(bytes, V5), Err(DecodeError::Protocol(_))));
    }

    #[test]
    fn encode_refuses_inconsistent_qos_and_id() {
        let body = PublishBody::new("t", b"").unwrap();
        let p = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            packet_id: None,
            body,
            properties: Properties::default(),
        };
        assert!(encode(&Packet::Publish(p), V311, &mut Vec::new()).is_err());
    }
}

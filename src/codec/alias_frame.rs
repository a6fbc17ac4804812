//! A 5.0 PUBLISH frame re-addressed by Topic Alias (MQTT 5 §3.3.2.3.4),
//! for the broker's aliases towards a client (`broker/topic_alias.rs`):
//! a Topic Alias property goes in front of the frame's own properties, and
//! once the client knows the alias the topic name is left empty.
//!
//! Works on both forms a 5.0 PUBLISH takes in an outbox: a
//! [`PublishFrame`] (the shared body in its parts; the result shares the
//! body too) and a [`Frame::Shared`] whole packet (re-encoded into one
//! buffer of its own: aliasing is for the clients that asked for it, and
//! they are few). Nothing here trusts the frame: a shared packet is parsed
//! with the checked reader, and anything that is not a 5.0 PUBLISH comes
//! back unchanged.
//!
//! This file and frame.rs use each other on purpose: it builds frames
//! from their private parts.

use super::frame::{fixed_header, PublishFrame, EMPTY_TOPIC, INTERNAL};
use super::wire::{self, Reader};
use super::{EncodeError, Frame, Property};

impl Frame {
    /// The topic of a 5.0 PUBLISH frame not yet aliased; `None` for any
    /// other frame (3.x ones included).
    pub fn alias_candidate_topic(&self) -> Option<&str> {
        match self {
            Frame::Publish(p) if !p.head.is_empty() && !p.middle.is_empty() && !p.elide_topic => {
                Some(p.body.topic())
            }
            Frame::Shared(bytes) => parse_shared(bytes).map(|parts| parts.topic),
            _ => None,
        }
    }

    /// This 5.0 PUBLISH with Topic Alias `alias`; with `elide_topic` its
    /// topic name is left empty. Any other frame comes back unchanged.
    pub fn with_topic_alias(&self, alias: u16, elide_topic: bool) -> Result<Frame, EncodeError> {
        if self.alias_candidate_topic().is_none() {
            return Ok(self.clone());
        }
        match self {
            Frame::Publish(p) => publish_with_alias(p, alias, elide_topic),
            Frame::Shared(bytes) => shared_with_alias(bytes, alias, elide_topic),
            _ => Ok(self.clone()),
        }
    }
}

/// The property block with a Topic Alias in front of `own`.
fn aliased_properties(alias: u16, own: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut properties = Vec::with_capacity(own.len() + 3);
    Property::TopicAlias(alias).write_to(&mut properties)?;
    properties.extend_from_slice(own);
    Ok(properties)
}

fn publish_with_alias(
    p: &PublishFrame,
    alias: u16,
    elide_topic: bool,
) -> Result<Frame, EncodeError> {
    let first = *p.head.first().ok_or(INTERNAL)?;
    let id_len = if (first >> 1) & 0b11 != 0 { 2 } else { 0 };
    let properties = aliased_properties(alias, p.properties.as_deref().unwrap_or(&[]))?;
    let mut middle = heapless::Vec::<u8, 6>::new();
    middle
        .extend_from_slice(p.middle.get(..id_len).ok_or(INTERNAL)?)
        .map_err(|_| INTERNAL)?;
    middle
        .extend_from_slice(&wire::varint(properties.len())?)
        .map_err(|_| INTERNAL)?;
    let topic_len = if elide_topic {
        EMPTY_TOPIC.len()
    } else {
        p.body.topic_part().len()
    };
    let remaining = topic_len
        .checked_add(p.body.payload_part().len())
        .and_then(|n| n.checked_add(middle.len()))
        .and_then(|n| n.checked_add(properties.len()))
        .ok_or(EncodeError::TooLarge("PUBLISH remaining length"))?;
    Ok(Frame::Publish(PublishFrame {
        head: fixed_header(first, remaining)?,
        body: p.body.clone(),
        middle,
        properties: Some(properties.into_boxed_slice()),
        elide_topic,
    }))
}

/// A whole 5.0 PUBLISH taken apart.
struct SharedParts<'a> {
    first: u8,
    topic: &'a str,
    packet_id: &'a [u8],
    properties: &'a [u8],
    payload: &'a [u8],
}

fn parse_shared(bytes: &[u8]) -> Option<SharedParts<'_>> {
    let (&first, rest) = bytes.split_first()?;
    if first >> 4 != 3 {
        return None;
    }
    let mut r = Reader::new(rest);
    let remaining = usize::try_from(r.read_varint().ok()?).ok()?;
    let mut r = r.sub(remaining).ok()?;
    let topic = r.read_str().ok()?;
    let packet_id = if (first >> 1) & 0b11 != 0 {
        r.take(2).ok()?
    } else {
        &[]
    };
    let properties_len = usize::try_from(r.read_varint().ok()?).ok()?;
    let properties = r.take(properties_len).ok()?;
    let payload = r.rest();
    Some(SharedParts {
        first,
        topic,
        packet_id,
        properties,
        payload,
    })
}

fn shared_with_alias(bytes: &[u8], alias: u16, elide_topic: bool) -> Result<Frame, EncodeError> {
    let Some(parts) = parse_shared(bytes) else {
        return Ok(Frame::Shared(bytes.into()));
    };
    let properties = aliased_properties(alias, parts.properties)?;
    let mut body = Vec::with_capacity(bytes.len() + 3);
    wire::put_str(&mut body, if elide_topic { "" } else { parts.topic })?;
    body.extend_from_slice(parts.packet_id);
    wire::put_varint(&mut body, properties.len())?;
    body.extend_from_slice(&properties);
    body.extend_from_slice(parts.payload);
    let head = fixed_header(parts.first, body.len())?;
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(&body);
    Ok(Frame::Owned(out.into_boxed_slice()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::{ProtocolVersion, PublishBody, QoS};
    use super::*;

    fn bytes(frame: &Frame) -> Vec<u8> {
        frame.slices().concat()
    }

    /// Both forms of the same PUBLISH alias to the same bytes.
    #[test]
    fn a_shared_packet_aliases_like_its_parts() {
        let body = PublishBody::new("a/b", b"payload").unwrap();
        let parts = Frame::publish(
            &body,
            QoS::AtMostOnce,
            false,
            false,
            None,
            None,
            ProtocolVersion::V5,
        )
        .unwrap();
        let shared = Frame::Shared(parts.to_shared());
        assert_eq!(shared.alias_candidate_topic(), Some("a/b"));
        for elide in [false, true] {
            let a = parts.with_topic_alias(7, elide).unwrap();
            let b = shared.with_topic_alias(7, elide).unwrap();
            assert_eq!(bytes(&a), bytes(&b));
            assert_eq!(a.len(), bytes(&a).len());
            assert_eq!(b.len(), bytes(&b).len());
        }
        let elided = bytes(&shared.with_topic_alias(7, true).unwrap());
        assert_eq!(elided, b"\x30\x0D\x00\x00\x03\x23\x00\x07payload");
    }

    #[test]
    fn other_frames_are_left_alone() {
        let body = PublishBody::new("a/b", b"x").unwrap();
        let v3 = Frame::publish(
            &body,
            QoS::AtMostOnce,
            false,
            false,
            None,
            None,
            ProtocolVersion::V3_1_1,
        )
        .unwrap();
        assert_eq!(v3.alias_candidate_topic(), None);
        assert_eq!(bytes(&v3.with_topic_alias(1, true).unwrap()), bytes(&v3));
        let junk = Frame::Shared(vec![0x30, 9, 0].into());
        assert_eq!(junk.alias_candidate_topic(), None);
        let ack = Frame::Small(heapless::Vec::from_slice(&[0x40, 2, 0, 1]).unwrap());
        assert_eq!(ack.alias_candidate_topic(), None);
    }
}

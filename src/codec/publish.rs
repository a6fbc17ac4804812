//! PUBLISH, and the shared body that fans out to every subscriber.

use std::rc::Rc;

use super::wire::Reader;
use super::{DecodeError, EncodeError, PacketId, Properties, ProtocolVersion, QoS};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishBody(Rc<[u8]>);

impl PublishBody {
    /// Builds a body; the topic must be valid UTF-8 without U+0000 (callers
    /// validate topics before they get here) and at most 65,535 bytes.
    pub fn new(topic: &str, payload: &[u8]) -> Result<PublishBody, EncodeError> {
        let _ = (topic, payload);
        Err(EncodeError::Invalid("PublishBody not implemented"))
    }

    pub fn topic(&self) -> &str {
        ""
    }

    pub fn payload(&self) -> &[u8] {
        &[]
    }

    /// The length prefix and the topic, as on the wire.
    pub fn topic_part(&self) -> &[u8] {
        &[]
    }

    /// The payload, as on the wire.
    pub fn payload_part(&self) -> &[u8] {
        &[]
    }

    /// Bytes of topic part plus payload.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub(super) fn read(flags: u8, reader: &mut Reader<'_>, version: ProtocolVersion) -> Result<Publish, DecodeError> {
    let _ = (flags, reader, version);
    Err(DecodeError::Malformed("PUBLISH not implemented"))
}

pub(super) fn write(packet: &Publish, version: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let _ = (packet, version, out);
    Err(EncodeError::Invalid("PUBLISH not implemented"))
}

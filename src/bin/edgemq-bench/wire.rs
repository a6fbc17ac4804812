//! The load generator's hot path on the wire: PUBLISH frames written in
//! place into reused buffers, and incoming bytes cut into packets in bulk.
//!
//! CONNECT and SUBSCRIBE go through the broker's own codec (they are rare);
//! PUBLISH and the acknowledgements are written and read here by hand so
//! that a message costs no allocation on either side. Framing uses the
//! codec's fixed-header parser, so a malformed stream is caught the same way.

use edgemq::codec::{DecodeError, FixedHeader};

/// Largest packet the generator accepts from a broker.
pub const MAX_PACKET: usize = 1 << 20;

/// One packet cut from the read buffer, borrowing its bytes.
pub enum Incoming<'a> {
    Publish {
        qos: u8,
        packet_id: u16,
        payload: &'a [u8],
    },
    /// PUBACK (4), PUBREC (5), PUBREL (6), PUBCOMP (7) with their packet id.
    Ack {
        kind: u8,
        packet_id: u16,
    },
    /// CONNACK's return code.
    ConnAck {
        code: u8,
    },
    /// SUBACK's first return code.
    SubAck {
        code: u8,
    },
    Other,
}

/// Appends the remaining-length varint.
fn put_varint(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if value == 0 {
            return;
        }
    }
}

/// A PUBLISH frame laid out once; `payload_at` is where its payload starts
/// and `packet_id_at` where its packet id is (QoS > 0), so each message
/// only overwrites those bytes.
pub struct PublishTemplate {
    pub bytes: Vec<u8>,
    pub payload_at: usize,
    pub packet_id_at: Option<usize>,
}

impl PublishTemplate {
    /// `v5`: with the (empty) property block of a 5.0 PUBLISH.
    pub fn new(topic: &str, qos: u8, payload_len: usize, v5: bool) -> PublishTemplate {
        let with_id = qos > 0;
        let remaining =
            2 + topic.len() + if with_id { 2 } else { 0 } + usize::from(v5) + payload_len;
        let mut bytes = Vec::with_capacity(remaining + 5);
        bytes.push(0x30 | (qos << 1));
        put_varint(&mut bytes, remaining);
        bytes.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        bytes.extend_from_slice(topic.as_bytes());
        let packet_id_at = if with_id {
            let at = bytes.len();
            bytes.extend_from_slice(&[0, 1]);
            Some(at)
        } else {
            None
        };
        if v5 {
            bytes.push(0);
        }
        let payload_at = bytes.len();
        bytes.resize(payload_at + payload_len, 0);
        PublishTemplate {
            bytes,
            payload_at,
            packet_id_at,
        }
    }
}

/// Appends a 4-byte acknowledgement (`first` is the fixed header byte).
pub fn put_ack(out: &mut Vec<u8>, first: u8, packet_id: u16) {
    let [hi, lo] = packet_id.to_be_bytes();
    out.extend_from_slice(&[first, 2, hi, lo]);
}

pub const PUBACK: u8 = 0x40;
pub const PUBREC: u8 = 0x50;
pub const PUBREL: u8 = 0x62;
pub const PUBCOMP: u8 = 0x70;

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at.checked_add(2)?)?;
    let pair: [u8; 2] = pair.try_into().ok()?;
    Some(u16::from_be_bytes(pair))
}

/// The bytes of a 5.0 property block at `at` (its length and itself).
fn property_block_len(body: &[u8], at: usize) -> Option<usize> {
    let mut len = 0usize;
    for i in 0..4 {
        let byte = *body.get(at + i)?;
        len |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(i + 1 + len);
        }
    }
    None
}

/// Cuts the packet at the front of `buf`: `Ok(None)` when it is not whole
/// yet, else the packet and its length. `v5`: PUBLISH and SUBACK carry a
/// property block to skip.
pub fn next_packet(buf: &[u8], v5: bool) -> Result<Option<(Incoming<'_>, usize)>, DecodeError> {
    let Some(header) = FixedHeader::parse(buf, MAX_PACKET)? else {
        return Ok(None);
    };
    let total = header.frame_len();
    let Some(body) = buf.get(header.header_len..total) else {
        return Ok(None);
    };
    let malformed = || DecodeError::Malformed("short packet from the broker");
    let packet = match header.kind {
        3 => {
            let qos = (header.flags >> 1) & 0b11;
            let topic_len = usize::from(u16_at(body, 0).ok_or_else(malformed)?);
            let mut at = 2 + topic_len;
            let packet_id = if qos > 0 {
                let id = u16_at(body, at).ok_or_else(malformed)?;
                at += 2;
                id
            } else {
                0
            };
            if v5 {
                at += property_block_len(body, at).ok_or_else(malformed)?;
            }
            let payload = body.get(at..).ok_or_else(malformed)?;
            Incoming::Publish {
                qos,
                packet_id,
                payload,
            }
        }
        4..=7 => Incoming::Ack {
            kind: header.kind,
            packet_id: u16_at(body, 0).ok_or_else(malformed)?,
        },
        2 => Incoming::ConnAck {
            code: *body.get(1).ok_or_else(malformed)?,
        },
        9 => {
            let at = if v5 {
                2 + property_block_len(body, 2).ok_or_else(malformed)?
            } else {
                2
            };
            Incoming::SubAck {
                code: *body.get(at).ok_or_else(malformed)?,
            }
        }
        _ => Incoming::Other,
    };
    Ok(Some((packet, total)))
}

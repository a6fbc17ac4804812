//! The body of a history chunk (docs/observability.md, "Trajectories and
//! message history"): the messages kept between two store flushes, packed
//! one after another, stored as ONE record (`HistoryChunkV2` in
//! store/schema.rs) instead of one record each. The messages of a chunk
//! have consecutive sequence numbers from the chunk's first (its key).
//!
//! Each message: ts (u64 LE, ms since the epoch), flags (u8: qos in bits
//! 0-1, retain in bit 2), topic length (u16 LE), payload length (u32 LE),
//! topic, payload. Owns the layout only; it never changes without a new
//! record version.

use super::history::HistoryMessage;

/// Bytes a message takes in a body besides its topic and payload.
pub const ENTRY_OVERHEAD: usize = 8 + 1 + 2 + 4;

/// A message's share of a chunk as it is stored.
pub fn entry_bytes(topic: &str, payload: &[u8]) -> usize {
    ENTRY_OVERHEAD + topic.len() + payload.len()
}

/// Appends one message. A topic is at most 65,535 bytes (MQTT) and a
/// payload under 256 MiB, so the lengths always fit; `false` if not.
pub fn append(body: &mut Vec<u8>, ts: u64, message: &HistoryView<'_>) -> bool {
    let (Ok(topic_len), Ok(payload_len)) = (
        u16::try_from(message.topic.len()),
        u32::try_from(message.payload.len()),
    ) else {
        return false;
    };
    body.reserve(entry_bytes(message.topic, message.payload));
    body.extend_from_slice(&ts.to_le_bytes());
    body.push((message.qos & 0b11) | (u8::from(message.retain) << 2));
    body.extend_from_slice(&topic_len.to_le_bytes());
    body.extend_from_slice(&payload_len.to_le_bytes());
    body.extend_from_slice(message.topic.as_bytes());
    body.extend_from_slice(message.payload);
    true
}

/// A message borrowed from a body (or from the publish being routed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryView<'a> {
    pub topic: &'a str,
    pub qos: u8,
    pub retain: bool,
    pub payload: &'a [u8],
}

impl HistoryView<'_> {
    pub fn to_owned(self) -> HistoryMessage {
        HistoryMessage {
            topic: self.topic.into(),
            qos: self.qos,
            retain: self.retain,
            payload: self.payload.into(),
        }
    }
}

/// The messages of a body with their timestamps, oldest first; `None`
/// for a body that is cut short, has bytes left over or a topic that is
/// not UTF-8 (a damaged record: the caller skips the chunk).
pub fn decode(mut body: &[u8]) -> Option<Vec<(u64, HistoryView<'_>)>> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let (head, rest) = body.split_at_checked(ENTRY_OVERHEAD)?;
        let (ts, head) = head.split_at_checked(8)?;
        let (&flags, head) = head.split_first()?;
        let (topic_len, payload_len) = head.split_at_checked(2)?;
        let ts = u64::from_le_bytes(ts.try_into().ok()?);
        let topic_len = usize::from(u16::from_le_bytes(topic_len.try_into().ok()?));
        let payload_len = usize::try_from(u32::from_le_bytes(payload_len.try_into().ok()?)).ok()?;
        let (topic, rest) = rest.split_at_checked(topic_len)?;
        let (payload, rest) = rest.split_at_checked(payload_len)?;
        out.push((
            ts,
            HistoryView {
                topic: std::str::from_utf8(topic).ok()?,
                qos: flags & 0b11,
                retain: flags & 0b100 != 0,
                payload,
            },
        ));
        body = rest;
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_damage_is_refused() {
        let mut body = Vec::new();
        let a = HistoryView {
            topic: "a/b",
            qos: 1,
            retain: true,
            payload: b"21.5",
        };
        let b = HistoryView {
            topic: "c",
            qos: 2,
            retain: false,
            payload: &[0xff, 0],
        };
        assert!(append(&mut body, 7, &a));
        assert!(append(&mut body, 9, &b));
        assert_eq!(
            body.len(),
            entry_bytes("a/b", b"21.5") + entry_bytes("c", &[0, 0])
        );
        assert_eq!(decode(&body).unwrap(), [(7, a), (9, b)]);
        assert_eq!(decode(&[]).unwrap(), []);
        for cut in 1..body.len() {
            let got = decode(&body[..cut]);
            assert!(got.is_none() || cut == entry_bytes("a/b", b"21.5"), "{cut}");
        }
        let mut long = body.clone();
        long.push(0);
        assert!(decode(&long).is_none());
    }
}

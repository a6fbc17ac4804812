//! Every record the store writes, and the keys it writes them under.
//!
//! A value is one version byte followed by the postcard encoding of that
//! version's struct. postcard is positional and not self-describing, so a
//! struct of a released version is never changed: a new layout is a new
//! struct behind a new version byte, and `decode_*` keeps reading every old
//! one (a newer broker reads an older store). Golden fixture files in
//! `tests/fixtures/store/` pin the bytes of each version.
//!
//! Keys are plain bytes chosen so that sled's ordering is the order we need:
//! a session's messages sort by `(session store id, sequence)` big-endian.

use serde::{Deserialize, Serialize};

/// The layout of the store as a whole, kept under `meta/format`. A store
/// whose format is newer than this was written by a newer edgemq and is
/// kept aside untouched (firmware rollback).
pub const STORE_FORMAT: u8 = 1;

/// The version byte of every record this build writes.
pub const RECORD_V1: u8 = 1;

/// sled trees, one per record kind.
pub const TREE_META: &str = "meta";
pub const TREE_SESSIONS: &str = "sessions";
pub const TREE_MESSAGES: &str = "messages";
pub const TREE_DELIVERIES: &str = "deliveries";
pub const TREE_INBOUND: &str = "inbound";
pub const TREE_RETAINED: &str = "retained";
pub const TREE_BRIDGE: &str = "bridge";

/// Keys in `meta`.
pub const META_FORMAT: &[u8] = b"format";
/// The wall clock (Unix seconds) at the last flush: the start of downtime.
pub const META_CLOCK: &[u8] = b"clock";

/// A persistent session, under its client id. Rewritten only when the
/// session itself changes (connect, disconnect, (un)subscribe), never per
/// message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionV1 {
    /// Prefix of the session's message, delivery and inbound keys.
    pub store_id: u64,
    /// Protocol level of its last connection (3, 4 or 5).
    pub protocol: u8,
    pub subscriptions: Vec<SubscriptionV1>,
    /// Unix seconds when it went offline; `None` while it was connected.
    pub offline_since: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionV1 {
    pub filter: String,
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: u8,
}

/// A message queued or inflight for a session, under `message_key`.
/// Written once; its delivery state lives in its own small record so that
/// sending or acknowledging it never rewrites the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageV1 {
    pub qos: u8,
    pub retain: bool,
    pub topic: String,
    pub payload: Vec<u8>,
}

/// A message has been sent with `packet_id` and waits for `awaiting`
/// (PUBACK = 4, PUBREC = 5, PUBCOMP = 7: the packet type numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryV1 {
    pub packet_id: u16,
    pub awaiting: u8,
}

/// A retained message, under its topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetainedV1 {
    pub qos: u8,
    pub payload: Vec<u8>,
}

/// A message in a bridge's uplink queue, under `bridge_key`: written when
/// it is queued, deleted only when the remote acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeMessageV1 {
    /// The remote topic (already remapped).
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
}

/// Why a stored value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// Empty, an unknown version byte below ours, or bytes postcard rejects.
    Undecodable,
    /// A version byte above ours: written by a newer edgemq.
    Newer(u8),
}

/// `[RECORD_V1][postcard(record)]`.
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    let out = vec![RECORD_V1];
    // Serializing into a Vec cannot fail for these plain structs; an empty
    // record would be rejected on read, never misread.
    match postcard::to_extend(record, out) {
        Ok(bytes) => bytes,
        Err(_) => vec![RECORD_V1],
    }
}

/// Reads a value written by `encode` of this version.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, RecordError> {
    let (&version, body) = bytes.split_first().ok_or(RecordError::Undecodable)?;
    match version {
        RECORD_V1 => {
            let (record, rest) =
                postcard::take_from_bytes(body).map_err(|_| RecordError::Undecodable)?;
            if !rest.is_empty() {
                return Err(RecordError::Undecodable);
            }
            Ok(record)
        }
        v if v > RECORD_V1 => Err(RecordError::Newer(v)),
        _ => Err(RecordError::Undecodable),
    }
}

/// The wall-clock value in `meta/clock`.
pub fn encode_clock(unix_seconds: u64) -> Vec<u8> {
    encode(&unix_seconds)
}

/// `store_id` then `seq`, big-endian: a session's messages in order.
pub fn message_key(store_id: u64, seq: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    let (head, tail) = key.split_at_mut(8);
    head.copy_from_slice(&store_id.to_be_bytes());
    tail.copy_from_slice(&seq.to_be_bytes());
    key
}

/// `store_id` then the packet id: an unreleased inbound QoS 2 message.
pub fn inbound_key(store_id: u64, packet_id: u16) -> [u8; 10] {
    let mut key = [0u8; 10];
    let (head, tail) = key.split_at_mut(8);
    head.copy_from_slice(&store_id.to_be_bytes());
    tail.copy_from_slice(&packet_id.to_be_bytes());
    key
}

/// The bridge's name with its length, then `seq` big-endian: one bridge's
/// queue in order.
pub fn bridge_key(bridge: &str, seq: u64) -> Vec<u8> {
    let name = bridge.as_bytes();
    let len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    let mut key = Vec::with_capacity(2 + name.len() + 8);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(name.get(..usize::from(len)).unwrap_or(name));
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Splits a `bridge_key` into the bridge's name and the sequence number.
pub fn split_bridge_key(key: &[u8]) -> Option<(&str, u64)> {
    let (len, rest) = key.split_first_chunk::<2>()?;
    let (name, seq) = rest.split_at_checked(usize::from(u16::from_be_bytes(*len)))?;
    let seq: [u8; 8] = seq.try_into().ok()?;
    Some((std::str::from_utf8(name).ok()?, u64::from_be_bytes(seq)))
}

/// Splits a `message_key` or `inbound_key` back into its parts.
pub fn split_key(key: &[u8]) -> Option<(u64, &[u8])> {
    let (head, tail) = key.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*head), tail))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_byte() {
        let record = DeliveryV1 {
            packet_id: 7,
            awaiting: 4,
        };
        let bytes = encode(&record);
        assert_eq!(bytes[0], RECORD_V1);
        assert_eq!(decode::<DeliveryV1>(&bytes), Ok(record));
    }

    #[test]
    fn newer_and_garbage_are_told_apart() {
        assert_eq!(decode::<DeliveryV1>(&[9, 1, 2]), Err(RecordError::Newer(9)));
        assert_eq!(decode::<DeliveryV1>(&[]), Err(RecordError::Undecodable));
        assert_eq!(decode::<DeliveryV1>(&[0, 1]), Err(RecordError::Undecodable));
        // Trailing bytes are not a record of this version.
        assert_eq!(
            decode::<DeliveryV1>(&[RECORD_V1, 7, 4, 0]),
            Err(RecordError::Undecodable)
        );
    }

    #[test]
    fn message_keys_sort_by_session_then_sequence() {
        let a = message_key(1, 255);
        let b = message_key(1, 256);
        let c = message_key(2, 0);
        assert!(a < b && b < c);
        assert_eq!(split_key(&b), Some((1, &256u64.to_be_bytes()[..])));
    }
}

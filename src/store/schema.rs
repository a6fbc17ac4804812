//! Every record the store writes, and the keys it writes them under.
//!
//! A value is one version byte followed by the postcard encoding of that
//! version's struct. postcard is positional and not self-describing, so a
//! struct of a released version is never changed: a new layout is a new
//! struct behind a new version byte, and `decode_*` keeps reading every old
//! one (a newer broker reads an older store). Golden fixture files in
//! `tests/fixtures/store/` pin the bytes of each version.
//!
//! Version 2 carries every MQTT 5 field a session or a message has
//! (docs/mqtt5.md): message properties as their MQTT 5 wire encoding, the
//! message expiry as a wall-clock deadline, subscription identifiers, the
//! session expiry interval and the will with its delay and properties.
//! A version 1 record reads as the version 2 record a 3.1.1 client would
//! have made (`From<…V1>`), so the broker only ever sees the latest.
//!
//! Keys are plain bytes chosen so that sled's ordering is the order we need:
//! a session's messages sort by `(session store id, sequence)` big-endian.

use serde::{Deserialize, Serialize};

/// The layout of the store as a whole, kept under `meta/format`. A store
/// whose format is newer than this was written by a newer edgemq and is
/// kept aside untouched (firmware rollback). Format 2: the trees and keys
/// of format 1, with version 2 records among them — which an edgemq of
/// format 1 would skip and delete, so opening a format 1 store raises it
/// to 2 before anything is written (open.rs).
pub const STORE_FORMAT: u8 = 2;

/// The version byte of the first records (and of `meta` values, unchanged).
pub const RECORD_V1: u8 = 1;
/// The version byte of the records with the MQTT 5 fields.
pub const RECORD_V2: u8 = 2;
/// The newest version this build reads; above it is [`RecordError::Newer`].
pub const RECORD_LATEST: u8 = RECORD_V2;

/// A record type and the version byte written before it.
pub trait Versioned {
    const VERSION: u8;
}

macro_rules! versioned {
    ($version:expr => $($ty:ty),+) => {
        $(impl Versioned for $ty {
            const VERSION: u8 = $version;
        })+
    };
}

versioned!(RECORD_V1 => u8, u64, SessionV1, MessageV1, DeliveryV1, RetainedV1, BridgeMessageV1);
versioned!(RECORD_V1 => TrajectoryV1, HistoryV1);
versioned!(RECORD_V2 => SessionV2, MessageV2, RetainedV2, BridgeMessageV2);
versioned!(RECORD_V2 => HistoryChunkV2);

/// sled trees, one per record kind.
pub const TREE_META: &str = "meta";
pub const TREE_SESSIONS: &str = "sessions";
pub const TREE_MESSAGES: &str = "messages";
pub const TREE_DELIVERIES: &str = "deliveries";
pub const TREE_INBOUND: &str = "inbound";
pub const TREE_RETAINED: &str = "retained";
pub const TREE_BRIDGE: &str = "bridge";
/// Device trajectories and message history, each under `seq_key`. An
/// edgemq from before them never opens these trees: going back leaves
/// them alone, and going forward again reads them.
pub const TREE_TRAJECTORY: &str = "trajectory";
pub const TREE_HISTORY: &str = "history";

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

/// A persistent session, version 2: version 1 plus the MQTT 5 session
/// fields. Rewritten, like version 1, only when the session itself changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionV2 {
    pub store_id: u64,
    /// Protocol level of its last connection (3, 4 or 5).
    pub protocol: u8,
    pub subscriptions: Vec<SubscriptionV2>,
    /// Unix seconds when it went offline; `None` while it was connected.
    pub offline_since: Option<u64>,
    /// The Session Expiry Interval in force (seconds, after the broker's
    /// cap; `u32::MAX` never expires) for a 5.0 session; `None` for 3.x,
    /// where `persistent_client_expiration` alone decides.
    pub session_expiry_interval: Option<u32>,
    /// The will of its last connection, kept while it may still be
    /// published (a Will Delay Interval not yet run out); `None` otherwise.
    pub will: Option<WillV2>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionV2 {
    pub filter: String,
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: u8,
    /// The Subscription Identifier of the SUBSCRIBE that made it (1 to
    /// 268,435,455); `None` when it had none.
    pub identifier: Option<u32>,
}

/// A will as CONNECT carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WillV2 {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    /// Its message properties, in the form of [`MessageV2::properties`]
    /// (the Message Expiry Interval stays in it: it starts when the will
    /// is published).
    pub properties: Vec<u8>,
    /// Will Delay Interval, seconds.
    pub delay_interval: u32,
    /// Unix milliseconds at which it is to be published, once the session
    /// is offline; `None` while its connection is up.
    pub publish_at_ms: Option<u64>,
}

/// A message queued or inflight for a session, version 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageV2 {
    pub qos: u8,
    pub retain: bool,
    pub topic: String,
    pub payload: Vec<u8>,
    /// The MQTT 5 properties passed on with it, exactly as their wire
    /// encoding without the length (payload format indicator, content type,
    /// response topic, correlation data, user properties in their order);
    /// never the expiry, a topic alias or a subscription identifier.
    pub properties: Vec<u8>,
    /// Unix milliseconds after which it is never delivered; `None` when it
    /// has no Message Expiry Interval.
    pub expires_at_ms: Option<u64>,
    /// The identifiers of this session's subscriptions that matched it.
    pub subscription_ids: Vec<u32>,
}

/// A retained message, under its topic, version 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetainedV2 {
    pub qos: u8,
    pub payload: Vec<u8>,
    /// As in [`MessageV2::properties`].
    pub properties: Vec<u8>,
    /// As in [`MessageV2::expires_at_ms`]: an expired retained message is
    /// no longer sent to new subscribers.
    pub expires_at_ms: Option<u64>,
}

/// A message in a bridge's uplink queue, version 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeMessageV2 {
    /// The remote topic (already remapped).
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    /// As in [`MessageV2::properties`].
    pub properties: Vec<u8>,
    /// As in [`MessageV2::expires_at_ms`].
    pub expires_at_ms: Option<u64>,
}

/// One event of a client's trajectory, under `seq_key` (arrival order,
/// every client in one sequence: the oldest go first at the caps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrajectoryV1 {
    pub client_id: String,
    /// Unix milliseconds (0: the wall clock was not set).
    pub ts_ms: u64,
    /// `sys::trajectory::TrajectoryKind`'s number.
    pub kind: u8,
    /// A JSON object, as the API shows it.
    pub details: String,
}

/// A message kept for `history_topic`, under `seq_key`: written one
/// record per message by the edgemq before chunked history. Today's
/// recovery recognises it and deletes it with a log line
/// (docs/observability.md, "Trajectories and message history").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryV1 {
    /// Unix milliseconds when it was published (0: clock not set).
    pub ts_ms: u64,
    pub topic: String,
    pub qos: u8,
    pub retain: bool,
    pub payload: Vec<u8>,
}

/// The messages kept for `history_topic` between two store flushes, under
/// the `seq_key` of the first; the others are numbered on from it. In the
/// `history` tree beside the per-message `HistoryV1` records of older
/// versions (the version byte tells them apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryChunkV2 {
    /// Messages in `body`.
    pub count: u32,
    /// The oldest and newest timestamps in `body` (Unix milliseconds),
    /// so that recovery and queries need not read the body.
    pub min_ts_ms: u64,
    pub max_ts_ms: u64,
    /// The messages packed as `sys::history_chunk` lays them out.
    pub body: Vec<u8>,
}

impl From<SubscriptionV1> for SubscriptionV2 {
    fn from(v1: SubscriptionV1) -> SubscriptionV2 {
        SubscriptionV2 {
            filter: v1.filter,
            qos: v1.qos,
            no_local: v1.no_local,
            retain_as_published: v1.retain_as_published,
            retain_handling: v1.retain_handling,
            identifier: None,
        }
    }
}

impl From<SessionV1> for SessionV2 {
    fn from(v1: SessionV1) -> SessionV2 {
        SessionV2 {
            store_id: v1.store_id,
            protocol: v1.protocol,
            subscriptions: v1.subscriptions.into_iter().map(Into::into).collect(),
            offline_since: v1.offline_since,
            session_expiry_interval: None,
            will: None,
        }
    }
}

impl From<MessageV1> for MessageV2 {
    fn from(v1: MessageV1) -> MessageV2 {
        MessageV2 {
            qos: v1.qos,
            retain: v1.retain,
            topic: v1.topic,
            payload: v1.payload,
            properties: Vec::new(),
            expires_at_ms: None,
            subscription_ids: Vec::new(),
        }
    }
}

impl From<RetainedV1> for RetainedV2 {
    fn from(v1: RetainedV1) -> RetainedV2 {
        RetainedV2 {
            qos: v1.qos,
            payload: v1.payload,
            properties: Vec::new(),
            expires_at_ms: None,
        }
    }
}

impl From<BridgeMessageV1> for BridgeMessageV2 {
    fn from(v1: BridgeMessageV1) -> BridgeMessageV2 {
        BridgeMessageV2 {
            topic: v1.topic,
            payload: v1.payload,
            qos: v1.qos,
            retain: v1.retain,
            properties: Vec::new(),
            expires_at_ms: None,
        }
    }
}

/// Why a stored value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// Empty, an unknown version byte below ours, or bytes postcard rejects.
    Undecodable,
    /// A version byte above ours: written by a newer edgemq.
    Newer(u8),
}

/// `[T::VERSION][postcard(record)]`.
pub fn encode<T: Serialize + Versioned>(record: &T) -> Vec<u8> {
    let out = vec![T::VERSION];
    // Serializing into a Vec cannot fail for these plain structs; an empty
    // record would be rejected on read, never misread.
    match postcard::to_extend(record, out) {
        Ok(bytes) => bytes,
        Err(_) => vec![T::VERSION],
    }
}

/// Reads a value written by `encode` of exactly `T`'s version.
pub fn decode<'a, T: Deserialize<'a> + Versioned>(bytes: &'a [u8]) -> Result<T, RecordError> {
    let (&version, body) = bytes.split_first().ok_or(RecordError::Undecodable)?;
    if version > RECORD_LATEST {
        return Err(RecordError::Newer(version));
    }
    if version != T::VERSION {
        return Err(RecordError::Undecodable);
    }
    let (record, rest) = postcard::take_from_bytes(body).map_err(|_| RecordError::Undecodable)?;
    if !rest.is_empty() {
        return Err(RecordError::Undecodable);
    }
    Ok(record)
}

/// Reads `New` written by this version, or `Old` (the version before it)
/// upgraded.
fn decode_either<New, Old>(bytes: &[u8]) -> Result<New, RecordError>
where
    New: for<'a> Deserialize<'a> + Versioned,
    Old: for<'a> Deserialize<'a> + Versioned + Into<New>,
{
    match bytes.first() {
        Some(&v) if v == Old::VERSION => decode::<Old>(bytes).map(Into::into),
        _ => decode::<New>(bytes),
    }
}

/// A session record of any version, as the latest.
pub fn decode_session(bytes: &[u8]) -> Result<SessionV2, RecordError> {
    decode_either::<SessionV2, SessionV1>(bytes)
}

/// A message record of any version, as the latest.
pub fn decode_message(bytes: &[u8]) -> Result<MessageV2, RecordError> {
    decode_either::<MessageV2, MessageV1>(bytes)
}

/// A retained record of any version, as the latest.
pub fn decode_retained(bytes: &[u8]) -> Result<RetainedV2, RecordError> {
    decode_either::<RetainedV2, RetainedV1>(bytes)
}

/// A bridge queue record of any version, as the latest.
pub fn decode_bridge_message(bytes: &[u8]) -> Result<BridgeMessageV2, RecordError> {
    decode_either::<BridgeMessageV2, BridgeMessageV1>(bytes)
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

/// A trajectory or history record's sequence number, big-endian: the
/// trees sort in arrival order.
pub fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// The sequence number of a `seq_key`.
pub fn split_seq_key(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
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
        // A known version that is not the type's is not misread.
        assert_eq!(
            decode::<DeliveryV1>(&[2, 7, 4]),
            Err(RecordError::Undecodable)
        );
        assert_eq!(decode::<DeliveryV1>(&[]), Err(RecordError::Undecodable));
        assert_eq!(decode::<DeliveryV1>(&[0, 1]), Err(RecordError::Undecodable));
        // Trailing bytes are not a record of this version.
        assert_eq!(
            decode::<DeliveryV1>(&[RECORD_V1, 7, 4, 0]),
            Err(RecordError::Undecodable)
        );
    }

    #[test]
    fn version_1_reads_as_version_2() {
        let v1 = SessionV1 {
            store_id: 3,
            protocol: 4,
            subscriptions: vec![SubscriptionV1 {
                filter: "a/#".into(),
                qos: 1,
                no_local: false,
                retain_as_published: true,
                retain_handling: 1,
            }],
            offline_since: Some(10),
        };
        let v2 = decode_session(&encode(&v1)).unwrap();
        assert_eq!(v2.subscriptions[0].identifier, None);
        assert!(v2.subscriptions[0].retain_as_published);
        assert_eq!(v2.session_expiry_interval, None);
        assert_eq!(decode_session(&encode(&v2)), Ok(v2));
        assert_eq!(decode_session(&[3, 0]), Err(RecordError::Newer(3)));
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

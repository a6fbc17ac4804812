//! Reading the store back at startup into what the broker restores:
//! sessions with their messages, delivery states and inbound QoS 2 ids,
//! and retained messages. A record that cannot be decoded is skipped,
//! counted, logged and removed; messages of a session that no longer
//! exists (a crash between the writes of one delete) are removed too.
//!
//! Downtime, by the plausible-wall-clock rule
//! (docs/design.md ## Durability): the wall clock now minus the clock
//! stamped at the last flush, but only when now is not earlier than that
//! stamp nor than this binary's build date; otherwise zero. A router that
//! boots with a stale clock expires nobody.
//!
//! Message expiry deadlines are stored in wall-clock milliseconds and
//! turned back into `Instant`s here, measured from the same plausible now:
//! the wall clock when it is plausible, else the clock of the last flush
//! (docs/mqtt5.md, "Message expiry"). A stale clock expires nothing early.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{error, warn};

use crate::broker::{RestoredSession, RetainedMessage, StoredWill};
use crate::codec::{
    read_forwarded_block, PacketId, ProtocolVersion, PublishBody, QoS, RetainHandling,
    SubscriptionOptions,
};
use crate::session::{Message, MessageMeta, RestoredMessage, Subscription};
use crate::sys::timeline::Entry;
use crate::sys::trajectory::TrajectoryEvent;

use super::encode::awaiting_from_code;
use super::recover_console::RecoveredHistory;
use super::schema::{self, DeliveryV1, META_CLOCK};
use super::Trees;

/// When this binary was built (Unix seconds), from build.rs.
pub const BUILD_EPOCH: u64 = match u64::from_str_radix(env!("EDGEMQ_BUILD_EPOCH"), 10) {
    Ok(epoch) => epoch,
    Err(_) => 0,
};

pub struct Recovered {
    pub sessions: Vec<RestoredSession>,
    pub retained: Vec<RetainedMessage>,
    /// Each bridge's uplink queue, by bridge name, in order.
    pub bridge_queues: BTreeMap<String, Vec<(u64, StoredBridgeMessage)>>,
    /// Device trajectories and message history, in sequence order.
    pub trajectory: Vec<Entry<TrajectoryEvent>>,
    pub history: RecoveredHistory,
    pub skipped_records: u64,
    /// Trees whose scan sled stopped with an error (a damaged page): the
    /// store is salvaged (salvage.rs).
    pub unreadable_trees: u64,
}

/// Seconds of downtime under the plausible-wall-clock rule.
pub fn plausible_downtime(now: u64, last_flush: Option<u64>, build: u64) -> Option<u64> {
    let last = last_flush?;
    (now >= last && now >= build).then(|| now - last)
}

/// A queued uplink message as stored (the remote topic, remapped).
#[derive(Debug, Clone)]
pub struct StoredBridgeMessage {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: QoS,
    pub retain: bool,
    /// Its MQTT 5 forwarded properties (empty for a 3.x link's message,
    /// and for every record version 1 wrote).
    pub properties: Vec<u8>,
    /// Its expiry deadline, downtime counted as for session messages.
    pub expires_at: Option<Instant>,
}

/// `now_wall_ms`: the wall clock in Unix milliseconds.
pub fn recover(trees: &Trees, now_wall_ms: u64) -> Recovered {
    let now_wall = now_wall_ms / 1000;
    let mut reader = Reader {
        trees,
        skipped: 0,
        unreadable: 0,
        clock: Clock::default(),
    };
    let (last_flush, downtime) = reader.downtime(now_wall);
    // A plausible clock is taken as it is (to the millisecond: expiry
    // intervals are short); a stale one as standing at the last flush.
    let plausible = plausible_downtime(now_wall, Some(last_flush), BUILD_EPOCH).is_some();
    reader.clock = Clock {
        wall_ms: if plausible {
            now_wall_ms
        } else {
            last_flush.saturating_mul(1000)
        },
        instant: Instant::now(),
    };
    let mut sessions = reader.sessions(last_flush, downtime);
    let deliveries = reader.deliveries();
    reader.attach_messages(&mut sessions, &deliveries);
    reader.attach_inbound(&mut sessions);
    let retained = reader.retained();
    let bridge_queues = reader.bridge_queues();
    let trajectory = super::recover_console::trajectory(trees, &mut reader);
    let history = super::recover_console::history(trees, &mut reader);
    let skipped = reader.skipped;
    if skipped > 0 {
        error!("skipped {skipped} undecodable records in the store");
    }
    Recovered {
        sessions: sessions.into_values().collect(),
        retained,
        bridge_queues,
        trajectory,
        history,
        skipped_records: skipped,
        unreadable_trees: reader.unreadable,
    }
}

/// Reads the trees one by one, counting (and removing) what it skips.
pub(super) struct Reader<'a> {
    trees: &'a Trees,
    skipped: u64,
    /// Trees sled could not read to the end.
    unreadable: u64,
    clock: Clock,
}

/// The plausible wall clock (ms) and the `Instant` it stands for.
#[derive(Debug, Clone, Copy)]
struct Clock {
    wall_ms: u64,
    instant: Instant,
}

impl Default for Clock {
    fn default() -> Clock {
        Clock {
            wall_ms: 0,
            instant: Instant::now(),
        }
    }
}

impl Clock {
    /// A stored wall-clock deadline as an `Instant`; one already past is
    /// a moment ago.
    fn deadline(self, expires_at_ms: u64) -> Instant {
        match expires_at_ms.checked_sub(self.wall_ms) {
            Some(ahead) => self.instant + Duration::from_millis(ahead),
            None => self
                .instant
                .checked_sub(Duration::from_millis(1))
                .unwrap_or(self.instant),
        }
    }

    /// The shared MQTT 5 part of a stored message; `Err` for a property
    /// block that does not read back.
    fn meta(
        self,
        properties: Vec<u8>,
        expires_at_ms: Option<u64>,
    ) -> Result<Option<Rc<MessageMeta>>, ()> {
        if !properties.is_empty() {
            read_forwarded_block(&properties).map_err(|_| ())?;
        }
        Ok(MessageMeta::shared(
            properties,
            expires_at_ms.map(|ms| self.deadline(ms)),
        ))
    }
}

impl Reader<'_> {
    /// The last flush's wall clock (now if none) and the plausible
    /// downtime in seconds (0 when the clock is not plausible).
    fn downtime(&self, now_wall: u64) -> (u64, u64) {
        let last_flush = match self.trees.meta.get(META_CLOCK) {
            Ok(Some(bytes)) => schema::decode::<u64>(&bytes).ok(),
            _ => None,
        };
        let downtime = plausible_downtime(now_wall, last_flush, BUILD_EPOCH);
        if last_flush.is_some() && downtime.is_none() {
            warn!(
                "the wall clock ({now_wall}) is earlier than the store's last write ({}) or this build: \
                 counting the downtime as zero",
                last_flush.unwrap_or(0)
            );
        }
        if let Some(seconds) = downtime {
            log::info!("the broker was down for {seconds} s (by the wall clock)");
        }
        (last_flush.unwrap_or(now_wall), downtime.unwrap_or(0))
    }

    pub(super) fn entries(&mut self, tree: &sled::Tree) -> Vec<(sled::IVec, sled::IVec)> {
        let (out, complete) = entries(tree);
        if !complete {
            self.skipped += 1;
            self.unreadable += 1;
        }
        out
    }

    /// A tree sled could not read to the end (read outside `entries`).
    pub(super) fn note_unreadable_tree(&mut self) {
        self.skipped += 1;
        self.unreadable += 1;
    }

    pub(super) fn skip(&mut self, tree: &sled::Tree, key: &[u8], what: &str) {
        skip(tree, key, what, &mut self.skipped);
    }

    /// Sessions by store id, without their messages yet.
    fn sessions(&mut self, last_flush: u64, downtime: u64) -> BTreeMap<u64, RestoredSession> {
        let trees = self.trees;
        let mut sessions = BTreeMap::new();
        for (key, value) in self.entries(&trees.sessions) {
            match restored_session(&key, &value, last_flush, downtime, self.clock) {
                Ok(session) => {
                    sessions.insert(session.store_id, session);
                }
                Err(what) => self.skip(&trees.sessions, &key, what),
            }
        }
        sessions
    }

    fn deliveries(&mut self) -> BTreeMap<Vec<u8>, DeliveryV1> {
        let trees = self.trees;
        let mut deliveries = BTreeMap::new();
        for (key, value) in self.entries(&trees.deliveries) {
            match schema::decode::<DeliveryV1>(&value) {
                Ok(record) => {
                    deliveries.insert(key.to_vec(), record);
                }
                Err(_) => self.skip(&trees.deliveries, &key, "undecodable delivery state"),
            }
        }
        deliveries
    }

    /// Puts each message (with its delivery state) into its session; the
    /// messages of a session that no longer exists are removed.
    fn attach_messages(
        &mut self,
        sessions: &mut BTreeMap<u64, RestoredSession>,
        deliveries: &BTreeMap<Vec<u8>, DeliveryV1>,
    ) {
        let trees = self.trees;
        for (key, value) in self.entries(&trees.messages) {
            let Some((store_id, seq)) = message_key_parts(&key) else {
                self.skip(&trees.messages, &key, "message with a bad key");
                continue;
            };
            let Some(session) = sessions.get_mut(&store_id) else {
                let _ = trees.messages.remove(&key);
                let _ = trees.deliveries.remove(&key);
                continue;
            };
            let Some(message) = message_record(&value, self.clock) else {
                self.skip(&trees.messages, &key, "undecodable message");
                continue;
            };
            let sent = deliveries
                .get(key.as_ref())
                .and_then(|d| Some((PacketId::new(d.packet_id)?, awaiting_from_code(d.awaiting)?)));
            session
                .messages
                .push(RestoredMessage { seq, message, sent });
        }
    }

    fn attach_inbound(&mut self, sessions: &mut BTreeMap<u64, RestoredSession>) {
        let trees = self.trees;
        for (key, _) in self.entries(&trees.inbound) {
            match inbound_key_parts(&key) {
                Some((store_id, packet_id)) => match sessions.get_mut(&store_id) {
                    Some(session) => session.inbound.push(packet_id),
                    None => {
                        let _ = trees.inbound.remove(&key);
                    }
                },
                None => self.skip(&trees.inbound, &key, "inbound id with a bad key"),
            }
        }
    }

    fn retained(&mut self) -> Vec<RetainedMessage> {
        let trees = self.trees;
        let clock = self.clock;
        let mut retained = Vec::new();
        for (key, value) in self.entries(&trees.retained) {
            match retained_record(&key, &value, clock) {
                Some(message) => retained.push(message),
                None => self.skip(&trees.retained, &key, "undecodable retained message"),
            }
        }
        retained
    }

    fn bridge_queues(&mut self) -> BTreeMap<String, Vec<(u64, StoredBridgeMessage)>> {
        let trees = self.trees;
        let mut queues: BTreeMap<String, Vec<(u64, StoredBridgeMessage)>> = BTreeMap::new();
        let clock = self.clock;
        for (key, value) in self.entries(&trees.bridge) {
            match bridge_record(&key, &value, clock) {
                Some((name, seq, message)) => queues.entry(name).or_default().push((seq, message)),
                None => self.skip(&trees.bridge, &key, "undecodable bridge message"),
            }
        }
        queues
    }
}

/// A `message_key`'s store id and sequence number.
fn message_key_parts(key: &[u8]) -> Option<(u64, u64)> {
    schema::split_key(key)
        .and_then(|(id, rest)| Some((id, u64::from_be_bytes(rest.try_into().ok()?))))
}

/// An `inbound_key`'s store id and packet id.
fn inbound_key_parts(key: &[u8]) -> Option<(u64, PacketId)> {
    schema::split_key(key).and_then(|(id, rest)| {
        let id_bytes: [u8; 2] = rest.try_into().ok()?;
        Some((id, PacketId::new(u16::from_be_bytes(id_bytes))?))
    })
}

/// One message record; `None` when it does not read back.
fn message_record(value: &[u8], clock: Clock) -> Option<Message> {
    let record = schema::decode_message(value).ok()?;
    Some(Message {
        body: PublishBody::new(&record.topic, &record.payload).ok()?,
        qos: QoS::from_u8(record.qos)?,
        retain: record.retain,
        meta: clock.meta(record.properties, record.expires_at_ms).ok()?,
        subscription_ids: record.subscription_ids.into_boxed_slice(),
    })
}

/// One retained record under its topic key.
fn retained_record(key: &[u8], value: &[u8], clock: Clock) -> Option<RetainedMessage> {
    let topic = std::str::from_utf8(key).ok()?;
    let record = schema::decode_retained(value).ok()?;
    Some(RetainedMessage {
        body: PublishBody::new(topic, &record.payload).ok()?,
        qos: QoS::from_u8(record.qos)?,
        meta: clock.meta(record.properties, record.expires_at_ms).ok()?,
    })
}

/// One bridge queue record: the bridge's name, the sequence number, the
/// message.
fn bridge_record(
    key: &[u8],
    value: &[u8],
    clock: Clock,
) -> Option<(String, u64, StoredBridgeMessage)> {
    let (name, seq) = schema::split_bridge_key(key)?;
    let record = schema::decode_bridge_message(value).ok()?;
    if !record.properties.is_empty() {
        read_forwarded_block(&record.properties).ok()?;
    }
    let message = StoredBridgeMessage {
        topic: record.topic,
        payload: record.payload,
        qos: QoS::from_u8(record.qos)?,
        retain: record.retain,
        properties: record.properties,
        expires_at: record.expires_at_ms.map(|ms| clock.deadline(ms)),
    };
    Some((name.to_owned(), seq, message))
}

/// One entry of the tree named `tree` (`schema::TREE_*`), read as
/// [`recover`] reads it, without sled and without removing anything:
/// whether it would be kept. The fuzz harness (tests/fuzz/) drives the
/// record readers through it; `now_wall_ms` and `last_flush` (Unix
/// seconds) stand for the clocks `recover` reads.
pub fn read_entry(tree: &str, key: &[u8], value: &[u8], now_wall_ms: u64, last_flush: u64) -> bool {
    let clock = Clock {
        wall_ms: now_wall_ms,
        instant: Instant::now(),
    };
    let downtime =
        plausible_downtime(now_wall_ms / 1000, Some(last_flush), BUILD_EPOCH).unwrap_or(0);
    match tree {
        schema::TREE_META => schema::decode::<u64>(value).is_ok(),
        schema::TREE_SESSIONS => restored_session(key, value, last_flush, downtime, clock).is_ok(),
        schema::TREE_MESSAGES => {
            message_key_parts(key).is_some() && message_record(value, clock).is_some()
        }
        schema::TREE_DELIVERIES => schema::decode::<DeliveryV1>(value).is_ok_and(|d| {
            PacketId::new(d.packet_id).is_some() && awaiting_from_code(d.awaiting).is_some()
        }),
        schema::TREE_INBOUND => inbound_key_parts(key).is_some(),
        schema::TREE_RETAINED => retained_record(key, value, clock).is_some(),
        schema::TREE_BRIDGE => bridge_record(key, value, clock).is_some(),
        _ => false,
    }
}

/// One session record, or why it is skipped.
fn restored_session(
    key: &[u8],
    value: &[u8],
    last_flush: u64,
    downtime: u64,
    clock: Clock,
) -> Result<RestoredSession, &'static str> {
    let client_id =
        String::from_utf8(key.to_vec()).map_err(|_| "session with a non-UTF-8 client id")?;
    let record = schema::decode_session(value).map_err(|_| "undecodable session")?;
    let protocol = protocol(record.protocol).ok_or("session with an unknown protocol")?;
    // A session that was online at the crash went offline at the last flush.
    let offline_since = record.offline_since.unwrap_or(last_flush).min(last_flush);
    let offline_secs = (last_flush - offline_since).saturating_add(downtime);
    let subscriptions = record
        .subscriptions
        .into_iter()
        .filter_map(|s| {
            let options = SubscriptionOptions {
                qos: QoS::from_u8(s.qos)?,
                no_local: s.no_local,
                retain_as_published: s.retain_as_published,
                retain_handling: match s.retain_handling {
                    1 => RetainHandling::SendIfNew,
                    2 => RetainHandling::DoNotSend,
                    _ => RetainHandling::SendAtSubscribe,
                },
            };
            let subscription = Subscription {
                options,
                identifier: s.identifier.and_then(NonZeroU32::new),
            };
            Some((s.filter, subscription))
        })
        .collect();
    Ok(RestoredSession {
        client_id,
        store_id: record.store_id,
        protocol,
        subscriptions,
        offline_for: Duration::from_secs(offline_secs),
        messages: Vec::new(),
        inbound: Vec::new(),
        session_expiry: record.session_expiry_interval,
        will: record.will.and_then(|will| restored_will(will, clock)),
    })
}

/// A will that was waiting for its delay; one that does not read back is
/// left out (the session is still restored), with a log line.
fn restored_will(will: schema::WillV2, clock: Clock) -> Option<StoredWill> {
    let topic = will.topic.clone();
    let restored = (|| {
        if !will.properties.is_empty() {
            read_forwarded_block(&will.properties).ok()?;
        }
        Some(StoredWill {
            body: PublishBody::new(&will.topic, &will.payload).ok()?,
            qos: QoS::from_u8(will.qos)?,
            retain: will.retain,
            properties: will.properties,
            delay_secs: will.delay_interval,
            // Stored only once offline; none would be a will of a
            // connection the crash ended: it goes at once.
            publish_at: will
                .publish_at_ms
                .map_or(clock.instant, |ms| clock.deadline(ms)),
        })
    })();
    if restored.is_none() {
        warn!("dropping an unreadable stored will on {topic:?}");
    }
    restored
}

fn protocol(level: u8) -> Option<ProtocolVersion> {
    match level {
        3 => Some(ProtocolVersion::V3_1),
        4 => Some(ProtocolVersion::V3_1_1),
        5 => Some(ProtocolVersion::V5),
        _ => None,
    }
}

/// Every readable entry of `tree`, and whether that was all of them: an
/// entry sled itself cannot read ends the scan of that tree.
pub(super) fn entries(tree: &sled::Tree) -> (Vec<(sled::IVec, sled::IVec)>, bool) {
    let mut out = Vec::new();
    for entry in tree.iter() {
        match entry {
            Ok(pair) => out.push(pair),
            Err(e) => {
                error!("stopped reading a store tree: {e}");
                return (out, false);
            }
        }
    }
    (out, true)
}

fn skip(tree: &sled::Tree, key: &[u8], what: &str, skipped: &mut u64) {
    *skipped += 1;
    warn!("skipping a store record: {what} (key {})", hex(key));
    let _ = tree.remove(key);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(32).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::plausible_downtime;

    #[test]
    fn downtime_counts_only_for_a_plausible_clock() {
        assert_eq!(plausible_downtime(1_000, Some(400), 100), Some(600));
        // Clock behind the last write (stale at boot): zero.
        assert_eq!(plausible_downtime(300, Some(400), 100), None);
        // Clock behind the build date: zero.
        assert_eq!(plausible_downtime(50, Some(40), 100), None);
        assert_eq!(plausible_downtime(1_000, None, 100), None);
    }
}

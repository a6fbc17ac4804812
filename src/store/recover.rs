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
use crate::session::{AwaitingAck, Message, MessageMeta, RestoredMessage, Subscription};
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

/// Takes the sessions as recovery reads them, one at a time in store-id
/// order, each with its messages: the broker's tables are built while the
/// store is read, and no copy of the whole store is ever held (its
/// high-water would stay resident: src/allocator.rs).
pub trait SessionSink {
    /// How many sessions follow, before the first (tables reserve for
    /// them instead of growing).
    fn expect(&mut self, sessions: usize);
    fn session(&mut self, session: RestoredSession);
}

/// What recovery returns beside the sessions it handed to the sink.
pub struct Recovered {
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

/// `now_wall_ms`: the wall clock in Unix milliseconds. Sessions go to
/// `sink` as they are read.
pub fn recover(trees: &Trees, now_wall_ms: u64, sink: &mut dyn SessionSink) -> Recovered {
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
    let sessions = reader.sessions(last_flush, downtime);
    sink.expect(sessions.len());
    reader.stream_sessions(sessions, sink);
    let retained = reader.retained();
    let bridge_queues = reader.bridge_queues();
    let trajectory = super::recover_console::trajectory(trees, &mut reader);
    let history = super::recover_console::history(trees, &mut reader);
    let skipped = reader.skipped;
    if skipped > 0 {
        error!("skipped {skipped} undecodable records in the store");
    }
    Recovered {
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

    /// Counts a scan that sled stopped early.
    pub(super) fn scanned(&mut self, scan: Scan) {
        if scan.failed {
            self.skipped += 1;
            self.unreadable += 1;
        }
    }

    pub(super) fn skip(&mut self, tree: &sled::Tree, key: &[u8], what: &str) {
        skip(tree, key, what, &mut self.skipped);
    }

    /// Sessions by store id, without their messages yet.
    fn sessions(&mut self, last_flush: u64, downtime: u64) -> BTreeMap<u64, RestoredSession> {
        let trees = self.trees;
        let mut sessions = BTreeMap::new();
        let mut scan = scan(&trees.sessions);
        for (key, value) in &mut scan {
            match restored_session(&key, &value, last_flush, downtime, self.clock) {
                Ok(session) => {
                    sessions.insert(session.store_id, session);
                }
                Err(what) => self.skip(&trees.sessions, &key, what),
            }
        }
        self.scanned(scan);
        sessions
    }

    /// Walks the messages, delivery states and inbound ids (all keyed by
    /// store id first, so each session's are together and in the
    /// sessions' order) beside the sessions, handing each session to
    /// `sink` once its last message is read. Messages, delivery states and
    /// inbound ids of a session that no longer exists (a crash between
    /// the writes of one delete) are removed.
    fn stream_sessions(
        &mut self,
        mut sessions: BTreeMap<u64, RestoredSession>,
        sink: &mut dyn SessionSink,
    ) {
        let trees = self.trees;
        let mut messages = scan(&trees.messages);
        let mut deliveries = scan(&trees.deliveries);
        let mut inbound = scan(&trees.inbound);
        let mut current: Option<RestoredSession> = None;
        for (key, value) in &mut messages {
            let Some((store_id, seq)) = message_key_parts(&key) else {
                self.skip(&trees.messages, &key, "message with a bad key");
                continue;
            };
            if current.as_ref().map(|s| s.store_id) != Some(store_id) {
                // Every session before this store id has all its messages.
                if let Some(done) = current.take() {
                    self.hand_over(done, &mut inbound, sink);
                }
                while let Some(first) = sessions.first_entry() {
                    if *first.key() > store_id {
                        break;
                    }
                    let session = first.remove();
                    if session.store_id == store_id {
                        current = Some(session);
                        break;
                    }
                    self.hand_over(session, &mut inbound, sink);
                }
            }
            let sent = self.delivery(&mut deliveries, Some(&key));
            let Some(session) = current.as_mut() else {
                let _ = trees.messages.remove(&key);
                let _ = trees.deliveries.remove(&key);
                continue;
            };
            let Some(message) = message_record(&value, self.clock) else {
                self.skip(&trees.messages, &key, "undecodable message");
                continue;
            };
            session
                .messages
                .push(RestoredMessage { seq, message, sent });
        }
        self.scanned(messages);
        if let Some(done) = current.take() {
            self.hand_over(done, &mut inbound, sink);
        }
        while let Some(session) = sessions.pop_first().map(|(_, s)| s) {
            self.hand_over(session, &mut inbound, sink);
        }
        // Delivery states without a message are left as they were; the
        // undecodable ones are skipped.
        self.delivery(&mut deliveries, None);
        self.scanned(deliveries);
        self.inbound_up_to(&mut inbound, None);
        self.scanned(inbound);
    }

    /// The delivery state stored under the message key `key`, if any;
    /// the states before it (of no message; all for `None`) are passed
    /// over.
    fn delivery(
        &mut self,
        deliveries: &mut Scan,
        key: Option<&[u8]>,
    ) -> Option<(PacketId, AwaitingAck)> {
        let trees = self.trees;
        let up_to = |(k, _): &(sled::IVec, sled::IVec)| key.is_none_or(|key| k.as_ref() <= key);
        while let Some((delivery_key, value)) = deliveries.next_if(up_to) {
            match schema::decode::<DeliveryV1>(&value) {
                Ok(d) if Some(delivery_key.as_ref()) == key => {
                    return Some((PacketId::new(d.packet_id)?, awaiting_from_code(d.awaiting)?));
                }
                Ok(_) => {}
                Err(_) => self.skip(
                    &trees.deliveries,
                    &delivery_key,
                    "undecodable delivery state",
                ),
            }
        }
        None
    }

    /// Gives `session` its inbound QoS 2 ids and hands it to `sink`.
    fn hand_over(
        &mut self,
        mut session: RestoredSession,
        inbound: &mut Scan,
        sink: &mut dyn SessionSink,
    ) {
        self.inbound_up_to(inbound, Some(&mut session));
        sink.session(session);
    }

    /// Reads the inbound ids up to `session`'s store id (all of them for
    /// `None`) into it; those of store ids before it have no session.
    fn inbound_up_to(&mut self, inbound: &mut Scan, mut session: Option<&mut RestoredSession>) {
        let trees = self.trees;
        let last = session.as_ref().map_or(u64::MAX, |s| s.store_id);
        let up_to = |(key, _): &(sled::IVec, sled::IVec)| {
            schema::split_key(key).is_none_or(|(store_id, _)| store_id <= last)
        };
        while let Some((key, _)) = inbound.next_if(up_to) {
            match inbound_key_parts(&key) {
                Some((store_id, packet_id)) => match session.as_deref_mut() {
                    Some(session) if session.store_id == store_id => {
                        session.inbound.push(packet_id)
                    }
                    _ => {
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
        let mut scan = scan(&trees.retained);
        for (key, value) in &mut scan {
            match retained_record(&key, &value, clock) {
                Some(message) => retained.push(message),
                None => self.skip(&trees.retained, &key, "undecodable retained message"),
            }
        }
        self.scanned(scan);
        retained
    }

    fn bridge_queues(&mut self) -> BTreeMap<String, Vec<(u64, StoredBridgeMessage)>> {
        let trees = self.trees;
        let mut queues: BTreeMap<String, Vec<(u64, StoredBridgeMessage)>> = BTreeMap::new();
        let clock = self.clock;
        let mut scan = scan(&trees.bridge);
        for (key, value) in &mut scan {
            match bridge_record(&key, &value, clock) {
                Some((name, seq, message)) => queues.entry(name).or_default().push((seq, message)),
                None => self.skip(&trees.bridge, &key, "undecodable bridge message"),
            }
        }
        self.scanned(scan);
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

/// Every readable entry of `tree`, one at a time; a reader hands the
/// scan back to [`Reader::scanned`] once done with it.
pub(super) fn scan(tree: &sled::Tree) -> Scan {
    Scan {
        iter: tree.iter(),
        failed: false,
        peeked: None,
    }
}

/// A tree's readable entries in key order: an entry sled itself cannot
/// read ends it, and marks it failed.
pub(super) struct Scan {
    iter: sled::Iter,
    failed: bool,
    /// Read by [`Scan::next_if`] and not taken.
    peeked: Option<(sled::IVec, sled::IVec)>,
}

impl Scan {
    /// The next entry if `take` wants it; otherwise it stays next.
    fn next_if(
        &mut self,
        take: impl FnOnce(&(sled::IVec, sled::IVec)) -> bool,
    ) -> Option<(sled::IVec, sled::IVec)> {
        let entry = self.next()?;
        if take(&entry) {
            return Some(entry);
        }
        self.peeked = Some(entry);
        None
    }
}

impl Iterator for Scan {
    type Item = (sled::IVec, sled::IVec);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(entry) = self.peeked.take() {
            return Some(entry);
        }
        if self.failed {
            return None;
        }
        match self.iter.next()? {
            Ok(pair) => Some(pair),
            Err(e) => {
                error!("stopped reading a store tree: {e}");
                self.failed = true;
                None
            }
        }
    }
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

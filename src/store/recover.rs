//! Reading the store back at startup into what the broker restores:
//! sessions with their messages, delivery states and inbound QoS 2 ids,
//! and retained messages. A record that cannot be decoded is skipped,
//! counted, logged and removed; messages of a session that no longer
//! exists (a crash between the writes of one delete) are removed too.
//!
//! Downtime, by the plausible-wall-clock rule (SPEC §3): the wall clock now
//! minus the clock stamped at the last flush, but only when now is not
//! earlier than that stamp nor than this binary's build date; otherwise
//! zero. A router that boots with a stale clock expires nobody.

use std::collections::BTreeMap;
use std::time::Duration;

use log::{error, warn};

use crate::broker::RestoredSession;
use crate::codec::{
    PacketId, ProtocolVersion, PublishBody, QoS, RetainHandling, SubscriptionOptions,
};
use crate::session::{Message, RestoredMessage};

use super::encode::awaiting_from_code;
use super::schema::{
    self, BridgeMessageV1, DeliveryV1, MessageV1, RetainedV1, SessionV1, META_CLOCK,
};
use super::Trees;

/// When this binary was built (Unix seconds), from build.rs.
pub const BUILD_EPOCH: u64 = match u64::from_str_radix(env!("EDGEMQ_BUILD_EPOCH"), 10) {
    Ok(epoch) => epoch,
    Err(_) => 0,
};

pub struct Recovered {
    pub sessions: Vec<RestoredSession>,
    pub retained: Vec<(PublishBody, QoS)>,
    /// Each bridge's uplink queue, by bridge name, in order.
    pub bridge_queues: BTreeMap<String, Vec<(u64, StoredBridgeMessage)>>,
    pub skipped_records: u64,
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
}

pub fn recover(trees: &Trees, now_wall: u64) -> Recovered {
    let mut skipped = 0u64;
    let last_flush = match trees.meta.get(META_CLOCK) {
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
    let last = last_flush.unwrap_or(now_wall);
    let downtime_secs = downtime.unwrap_or(0);

    let mut sessions: BTreeMap<u64, RestoredSession> = BTreeMap::new();
    for (key, value) in entries(&trees.sessions, &mut skipped) {
        let Ok(client_id) = String::from_utf8(key.to_vec()) else {
            skip(
                &trees.sessions,
                &key,
                "session with a non-UTF-8 client id",
                &mut skipped,
            );
            continue;
        };
        let Ok(record) = schema::decode::<SessionV1>(&value) else {
            skip(&trees.sessions, &key, "undecodable session", &mut skipped);
            continue;
        };
        let Some(protocol) = protocol(record.protocol) else {
            skip(
                &trees.sessions,
                &key,
                "session with an unknown protocol",
                &mut skipped,
            );
            continue;
        };
        // A session that was online at the crash went offline at the last
        // flush.
        let offline_since = record.offline_since.unwrap_or(last).min(last);
        let offline_secs = (last - offline_since).saturating_add(downtime_secs);
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
                Some((s.filter, options))
            })
            .collect();
        sessions.insert(
            record.store_id,
            RestoredSession {
                client_id,
                store_id: record.store_id,
                protocol,
                subscriptions,
                offline_for: Duration::from_secs(offline_secs),
                messages: Vec::new(),
                inbound: Vec::new(),
            },
        );
    }

    let mut deliveries: BTreeMap<Vec<u8>, DeliveryV1> = BTreeMap::new();
    for (key, value) in entries(&trees.deliveries, &mut skipped) {
        match schema::decode::<DeliveryV1>(&value) {
            Ok(record) => {
                deliveries.insert(key.to_vec(), record);
            }
            Err(_) => skip(
                &trees.deliveries,
                &key,
                "undecodable delivery state",
                &mut skipped,
            ),
        }
    }

    for (key, value) in entries(&trees.messages, &mut skipped) {
        let Some((store_id, seq)) = schema::split_key(&key)
            .and_then(|(id, rest)| Some((id, u64::from_be_bytes(rest.try_into().ok()?))))
        else {
            skip(
                &trees.messages,
                &key,
                "message with a bad key",
                &mut skipped,
            );
            continue;
        };
        let Some(session) = sessions.get_mut(&store_id) else {
            let _ = trees.messages.remove(&key);
            let _ = trees.deliveries.remove(&key);
            continue;
        };
        let Some(message) = schema::decode::<MessageV1>(&value).ok().and_then(|record| {
            Some(Message {
                body: PublishBody::new(&record.topic, &record.payload).ok()?,
                qos: QoS::from_u8(record.qos)?,
                retain: record.retain,
            })
        }) else {
            skip(&trees.messages, &key, "undecodable message", &mut skipped);
            continue;
        };
        let sent = deliveries
            .get(key.as_ref())
            .and_then(|d| Some((PacketId::new(d.packet_id)?, awaiting_from_code(d.awaiting)?)));
        session
            .messages
            .push(RestoredMessage { seq, message, sent });
    }

    for (key, _) in entries(&trees.inbound, &mut skipped) {
        let parsed = schema::split_key(&key).and_then(|(id, rest)| {
            let id_bytes: [u8; 2] = rest.try_into().ok()?;
            Some((id, PacketId::new(u16::from_be_bytes(id_bytes))?))
        });
        match parsed {
            Some((store_id, packet_id)) => match sessions.get_mut(&store_id) {
                Some(session) => session.inbound.push(packet_id),
                None => {
                    let _ = trees.inbound.remove(&key);
                }
            },
            None => skip(
                &trees.inbound,
                &key,
                "inbound id with a bad key",
                &mut skipped,
            ),
        }
    }

    let mut retained = Vec::new();
    for (key, value) in entries(&trees.retained, &mut skipped) {
        let message = std::str::from_utf8(&key).ok().and_then(|topic| {
            let record = schema::decode::<RetainedV1>(&value).ok()?;
            Some((
                PublishBody::new(topic, &record.payload).ok()?,
                QoS::from_u8(record.qos)?,
            ))
        });
        match message {
            Some(message) => retained.push(message),
            None => skip(
                &trees.retained,
                &key,
                "undecodable retained message",
                &mut skipped,
            ),
        }
    }
    let mut bridge_queues: BTreeMap<String, Vec<(u64, StoredBridgeMessage)>> = BTreeMap::new();
    for (key, value) in entries(&trees.bridge, &mut skipped) {
        let entry = schema::split_bridge_key(&key).and_then(|(name, seq)| {
            let record = schema::decode::<BridgeMessageV1>(&value).ok()?;
            let message = StoredBridgeMessage {
                topic: record.topic,
                payload: record.payload,
                qos: QoS::from_u8(record.qos)?,
                retain: record.retain,
            };
            Some((name.to_owned(), seq, message))
        });
        match entry {
            Some((name, seq, message)) => {
                bridge_queues.entry(name).or_default().push((seq, message))
            }
            None => skip(
                &trees.bridge,
                &key,
                "undecodable bridge message",
                &mut skipped,
            ),
        }
    }
    if skipped > 0 {
        error!("skipped {skipped} undecodable records in the store");
    }
    Recovered {
        sessions: sessions.into_values().collect(),
        retained,
        bridge_queues,
        skipped_records: skipped,
    }
}

fn protocol(level: u8) -> Option<ProtocolVersion> {
    match level {
        3 => Some(ProtocolVersion::V3_1),
        4 => Some(ProtocolVersion::V3_1_1),
        5 => Some(ProtocolVersion::V5),
        _ => None,
    }
}

/// Every readable entry of `tree`; an entry sled itself cannot read ends
/// the scan of that tree with a count.
fn entries(tree: &sled::Tree, skipped: &mut u64) -> Vec<(sled::IVec, sled::IVec)> {
    let mut out = Vec::new();
    for entry in tree.iter() {
        match entry {
            Ok(pair) => out.push(pair),
            Err(e) => {
                error!("stopped reading a store tree: {e}");
                *skipped += 1;
                break;
            }
        }
    }
    out
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

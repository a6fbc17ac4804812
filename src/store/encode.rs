//! Turns the broker's [`StoreOp`]s into plain key/value writes on the event
//! loop thread (message bodies are reference-counted there and cannot cross
//! threads), so that the writer thread only has bytes to apply.

use std::time::{Instant, UNIX_EPOCH};

use crate::broker::StoreOp;
use crate::session::{AwaitingAck, MessageMeta, Subscription};

use super::schema::{
    self, BridgeMessageV2, DeliveryV1, HistoryChunkV2, MessageV2, RetainedV2, SessionV2,
    SubscriptionV2, TrajectoryV1, WillV2,
};

/// The sled tree a write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    Sessions,
    Messages,
    Deliveries,
    Inbound,
    Retained,
    Bridge,
    Trajectory,
    History,
}

/// One write for the writer thread.
#[derive(Debug)]
pub enum Write {
    Put {
        tree: Tree,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Remove {
        tree: Tree,
        key: Vec<u8>,
    },
    /// Every key of a session (its store id prefix) in `tree`.
    RemovePrefix {
        tree: Tree,
        prefix: [u8; 8],
    },
}

/// Unix seconds now; 0 if the clock is before 1970.
pub fn wall_clock() -> u64 {
    crate::wall_clock::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Unix milliseconds now; 0 if the clock is before 1970.
pub fn wall_clock_ms() -> u64 {
    crate::wall_clock::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The wall-clock deadline (Unix milliseconds) of a monotonic one: the
/// store keeps expiry across restarts, where `Instant`s mean nothing.
fn wall_deadline(at: Instant) -> u64 {
    let now = Instant::now();
    let wall = wall_clock_ms();
    match at.checked_duration_since(now) {
        Some(ahead) => wall.saturating_add(u64::try_from(ahead.as_millis()).unwrap_or(u64::MAX)),
        None => wall.saturating_sub(
            u64::try_from(now.saturating_duration_since(at).as_millis()).unwrap_or(u64::MAX),
        ),
    }
}

/// The stored form of a message's shared MQTT 5 part.
fn meta_fields(meta: Option<&MessageMeta>) -> (Vec<u8>, Option<u64>) {
    meta.map_or((Vec::new(), None), |m| {
        (m.properties.to_vec(), m.expires_at.map(wall_deadline))
    })
}

/// Appends the writes that carry out `op`: one short arm per kind of
/// operation, kept together so the stored layout reads in one place.
pub fn encode_op(op: StoreOp, out: &mut Vec<Write>) {
    match op {
        StoreOp::PutSession {
            client_id,
            store_id,
            protocol,
            subscriptions,
            online,
            session_expiry,
            will,
        } => {
            let record = SessionV2 {
                store_id,
                protocol: protocol.level(),
                subscriptions: subscriptions
                    .into_iter()
                    .map(|(filter, s)| subscription(filter, s))
                    .collect(),
                offline_since: (!online).then(wall_clock),
                session_expiry_interval: session_expiry,
                will: will.map(|w| WillV2 {
                    topic: w.body.topic().to_owned(),
                    payload: w.body.payload().to_vec(),
                    qos: w.qos as u8,
                    retain: w.retain,
                    properties: w.properties,
                    delay_interval: w.delay_secs,
                    publish_at_ms: Some(wall_deadline(w.publish_at)),
                }),
            };
            out.push(put(
                Tree::Sessions,
                client_id.as_str().as_bytes().to_vec(),
                &record,
            ));
        }
        StoreOp::DeleteSession {
            client_id,
            store_id,
        } => {
            out.push(remove(
                Tree::Sessions,
                client_id.as_str().as_bytes().to_vec(),
            ));
            let prefix = store_id.to_be_bytes();
            for tree in [Tree::Messages, Tree::Deliveries, Tree::Inbound] {
                out.push(Write::RemovePrefix { tree, prefix });
            }
        }
        StoreOp::PutMessage {
            store_id,
            seq,
            message,
        } => {
            let (properties, expires_at_ms) = meta_fields(message.meta.as_deref());
            let record = MessageV2 {
                qos: message.qos as u8,
                retain: message.retain,
                topic: message.body.topic().to_owned(),
                payload: message.body.payload().to_vec(),
                properties,
                expires_at_ms,
                subscription_ids: message.subscription_ids.to_vec(),
            };
            let key = schema::message_key(store_id, seq).to_vec();
            out.push(put(Tree::Messages, key, &record));
        }
        StoreOp::PutDelivery {
            store_id,
            seq,
            packet_id,
            awaiting,
        } => {
            let record = DeliveryV1 {
                packet_id: packet_id.get(),
                awaiting: awaiting_code(awaiting),
            };
            let key = schema::message_key(store_id, seq).to_vec();
            out.push(put(Tree::Deliveries, key, &record));
        }
        StoreOp::DeleteMessage { store_id, seq } => {
            let key = schema::message_key(store_id, seq).to_vec();
            out.push(remove(Tree::Deliveries, key.clone()));
            out.push(remove(Tree::Messages, key));
        }
        other => encode_other(other, out),
    }
}

/// The ops that are not about a session's own records.
fn encode_other(op: StoreOp, out: &mut Vec<Write>) {
    match op {
        StoreOp::PutInbound {
            store_id,
            packet_id,
        } => out.push(Write::Put {
            tree: Tree::Inbound,
            key: schema::inbound_key(store_id, packet_id.get()).to_vec(),
            value: Vec::new(),
        }),
        StoreOp::DeleteInbound {
            store_id,
            packet_id,
        } => out.push(remove(
            Tree::Inbound,
            schema::inbound_key(store_id, packet_id.get()).to_vec(),
        )),
        StoreOp::PutRetained { body, qos, meta } => {
            let (properties, expires_at_ms) = meta_fields(meta.as_deref());
            let record = RetainedV2 {
                qos: qos as u8,
                payload: body.payload().to_vec(),
                properties,
                expires_at_ms,
            };
            out.push(put(
                Tree::Retained,
                body.topic().as_bytes().to_vec(),
                &record,
            ));
        }
        StoreOp::DeleteRetained { topic } => out.push(remove(Tree::Retained, topic.into_bytes())),
        StoreOp::PutBridgeMessage {
            bridge,
            seq,
            topic,
            payload,
            qos,
            retain,
            properties,
            expires_at,
        } => {
            let record = BridgeMessageV2 {
                topic,
                payload,
                qos: qos as u8,
                retain,
                properties: properties.into_vec(),
                expires_at_ms: expires_at.map(wall_deadline),
            };
            out.push(put(Tree::Bridge, schema::bridge_key(&bridge, seq), &record));
        }
        StoreOp::DeleteBridgeMessage { bridge, seq } => {
            out.push(remove(Tree::Bridge, schema::bridge_key(&bridge, seq)));
        }
        StoreOp::PutTrajectory { seq, ts, event } => {
            let record = TrajectoryV1 {
                client_id: event.client_id.into(),
                ts_ms: ts,
                kind: event.kind.code(),
                details: event.details.into(),
            };
            out.push(put(
                Tree::Trajectory,
                schema::seq_key(seq).to_vec(),
                &record,
            ));
        }
        StoreOp::DeleteTrajectory { seq } => {
            out.push(remove(Tree::Trajectory, schema::seq_key(seq).to_vec()));
        }
        StoreOp::PutHistoryChunk { chunk } => {
            let record = HistoryChunkV2 {
                count: chunk.meta.count,
                min_ts_ms: chunk.meta.min_ts,
                max_ts_ms: chunk.meta.max_ts,
                body: chunk.body.to_vec(),
            };
            let key = schema::seq_key(chunk.meta.first_seq).to_vec();
            out.push(put(Tree::History, key, &record));
        }
        StoreOp::DeleteHistory { seq } => {
            out.push(remove(Tree::History, schema::seq_key(seq).to_vec()));
        }
        // Session ops are encoded by `encode_op` itself.
        session_op => encode_op(session_op, out),
    }
}

fn put<T: serde::Serialize + schema::Versioned>(tree: Tree, key: Vec<u8>, record: &T) -> Write {
    Write::Put {
        tree,
        key,
        value: schema::encode(record),
    }
}

fn remove(tree: Tree, key: Vec<u8>) -> Write {
    Write::Remove { tree, key }
}

fn subscription(filter: String, subscription: Subscription) -> SubscriptionV2 {
    let options = subscription.options;
    SubscriptionV2 {
        filter,
        qos: options.qos as u8,
        no_local: options.no_local,
        retain_as_published: options.retain_as_published,
        retain_handling: options.retain_handling as u8,
        identifier: subscription.identifier.map(|id| id.get()),
    }
}

/// The packet type number of what a delivery waits for.
pub fn awaiting_code(awaiting: AwaitingAck) -> u8 {
    match awaiting {
        AwaitingAck::PubAck => 4,
        AwaitingAck::PubRec => 5,
        AwaitingAck::PubComp => 7,
    }
}

pub fn awaiting_from_code(code: u8) -> Option<AwaitingAck> {
    match code {
        4 => Some(AwaitingAck::PubAck),
        5 => Some(AwaitingAck::PubRec),
        7 => Some(AwaitingAck::PubComp),
        _ => None,
    }
}

//! Device trajectories: what happened to each client id, as records with
//! a kind, a timestamp and details (docs/observability.md, "Trajectories
//! and message history"). The kinds, their names in the API, the drop
//! reasons, and the per-client tally that turns a flood of drops into one
//! record per client and second.
//!
//! Details are a JSON object written once, when the event happens, and
//! kept as text: the store and the API carry it as it is, and a field
//! added later needs no new record version.

use std::collections::HashMap;

use super::json::Object;

/// What happened. The numbers are stored: never reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrajectoryKind {
    Connect = 1,
    Subscribed = 2,
    Unsubscribed = 3,
    /// A CONNECT took up a session kept from before (session present).
    Resumed = 4,
    Disconnect = 5,
    /// A kept session was thrown away: a clean start, or the admin API.
    Discarded = 6,
    /// The connection was closed for a newer one with the same client id.
    Takeovered = 7,
    /// An offline session ran out its expiry.
    Expired = 8,
    /// Messages to or from the client were dropped (a tally).
    Dropped = 9,
}

impl TrajectoryKind {
    pub const ALL: [TrajectoryKind; 9] = [
        TrajectoryKind::Connect,
        TrajectoryKind::Subscribed,
        TrajectoryKind::Unsubscribed,
        TrajectoryKind::Resumed,
        TrajectoryKind::Disconnect,
        TrajectoryKind::Discarded,
        TrajectoryKind::Takeovered,
        TrajectoryKind::Expired,
        TrajectoryKind::Dropped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TrajectoryKind::Connect => "connect",
            TrajectoryKind::Subscribed => "subscribed",
            TrajectoryKind::Unsubscribed => "unsubscribed",
            TrajectoryKind::Resumed => "resumed",
            TrajectoryKind::Disconnect => "disconnect",
            TrajectoryKind::Discarded => "discarded",
            TrajectoryKind::Takeovered => "takeovered",
            TrajectoryKind::Expired => "expired",
            TrajectoryKind::Dropped => "dropped",
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<TrajectoryKind> {
        TrajectoryKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// One event of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrajectoryEvent {
    pub client_id: Box<str>,
    pub kind: TrajectoryKind,
    /// A JSON object.
    pub details: Box<str>,
}

impl TrajectoryEvent {
    /// What the record costs in the store and against
    /// `trajectory_max_bytes`: its key, version byte, timestamp and kind,
    /// and the two strings with their lengths.
    pub fn stored_bytes(&self) -> usize {
        8 + 1 + 8 + 1 + 2 + self.client_id.len() + 2 + self.details.len()
    }
}

/// Why messages were dropped, as the `dropped` record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The offline queue was full: its oldest message went.
    QueueFull = 0,
    /// An online client whose queue stayed full lost its oldest.
    Lagging = 1,
    /// QoS 0 over `max_outbound_bytes`.
    OutboundFull = 2,
    /// The message expiry interval ran out in the queue.
    Expired = 3,
    /// The access rules refused a PUBLISH from it or a delivery to it.
    Acl = 4,
    /// `max_store_bytes` reached while it was offline.
    StoreFull = 5,
    /// Over `memory_limit`: its PUBLISH was refused.
    MemoryLimit = 6,
    /// Larger than its MQTT 5 Maximum Packet Size.
    PacketTooLarge = 7,
}

const REASONS: usize = 8;

impl DropReason {
    const ALL: [DropReason; REASONS] = [
        DropReason::QueueFull,
        DropReason::Lagging,
        DropReason::OutboundFull,
        DropReason::Expired,
        DropReason::Acl,
        DropReason::StoreFull,
        DropReason::MemoryLimit,
        DropReason::PacketTooLarge,
    ];

    pub fn words(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue full",
            DropReason::Lagging => "lagging",
            DropReason::OutboundFull => "outbound bytes full",
            DropReason::Expired => "expired message",
            DropReason::Acl => "acl",
            DropReason::StoreFull => "store full",
            DropReason::MemoryLimit => "memory limit",
            DropReason::PacketTooLarge => "packet too large",
        }
    }
}

/// Drops counted per client until the next [`DropTally::take`]: a flood
/// costs one hash lookup per message and one record per client per take.
#[derive(Debug, Default)]
pub struct DropTally {
    counts: HashMap<Box<str>, [u64; REASONS]>,
}

impl DropTally {
    pub fn add(&mut self, client_id: &str, reason: DropReason, count: u64) {
        let slot = match self.counts.get_mut(client_id) {
            Some(slot) => slot,
            None => self.counts.entry(client_id.into()).or_insert([0; REASONS]),
        };
        if let Some(n) = slot.get_mut(reason as usize) {
            *n = n.saturating_add(count);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Each client's tally as `dropped` details:
    /// `{"why":"queue full","count":N,"reasons":{"queue full":N,...}}`,
    /// `why` the reason with the most drops.
    pub fn take(&mut self) -> Vec<(Box<str>, String)> {
        let mut out = Vec::with_capacity(self.counts.len());
        for (client, counts) in self.counts.drain() {
            let total = counts.iter().fold(0u64, |a, b| a.saturating_add(*b));
            let top = DropReason::ALL
                .into_iter()
                .zip(counts)
                .max_by_key(|(_, n)| *n)
                .map_or("", |(r, _)| r.words());
            let mut details = String::with_capacity(96);
            Object::new(&mut details)
                .str("why", top)
                .u64("count", total)
                .raw("reasons", |out| {
                    let mut reasons = Object::new(out);
                    for (reason, n) in DropReason::ALL.into_iter().zip(counts) {
                        if n > 0 {
                            reasons.u64(reason.words(), n);
                        }
                    }
                    reasons.end();
                })
                .end();
            out.push((client, details));
        }
        out.sort();
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_codes() {
        for kind in TrajectoryKind::ALL {
            assert_eq!(TrajectoryKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(TrajectoryKind::from_code(0), None);
        assert_eq!(TrajectoryKind::Takeovered.name(), "takeovered");
    }

    #[test]
    fn a_flood_of_drops_is_one_record_per_client() {
        let mut tally = DropTally::default();
        for _ in 0..990 {
            tally.add("a", DropReason::QueueFull, 1);
        }
        tally.add("a", DropReason::Expired, 2);
        tally.add("b", DropReason::Acl, 1);
        let taken = tally.take();
        assert!(tally.is_empty());
        assert_eq!(
            taken,
            [
                (
                    "a".into(),
                    r#"{"why":"queue full","count":992,"reasons":{"queue full":990,"expired message":2}}"#
                        .to_owned()
                ),
                (
                    "b".into(),
                    r#"{"why":"acl","count":1,"reasons":{"acl":1}}"#.to_owned()
                ),
            ]
        );
    }
}

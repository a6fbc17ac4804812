//! What an MQTT 5.0 link adds to the client side of [`super::Link`]
//! (docs/mqtt5.md, "Bridges"): the CONNECT properties it asks with, the
//! limits the remote's CONNACK sets, and how an outgoing message is
//! shaped to them. Sans-IO, like the link.
//!
//! A 3.x link has the default limits (none), so the same code path
//! serves both versions.

use std::time::Instant;

use crate::codec::{Properties, Property, QoS, ReasonCode};

use super::{LinkError, LinkSettings};

/// The largest Maximum Packet Size MQTT can express usefully: a remaining
/// length of 268,435,455 (the largest Variable Byte Integer, MQTT 5 §1.5.5)
/// plus a 5-byte fixed header.
const PROTOCOL_MAX_PACKET: u32 = 268_435_460;

/// What the remote's CONNACK allows us (MQTT 5 §3.2.2.3); the defaults
/// are a 3.x remote's (no limits beyond the protocol's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RemoteLimits {
    /// Unacknowledged QoS ≥ 1 PUBLISHes at most [MQTT-3.3.4-7].
    pub receive_maximum: u16,
    /// No packet larger than this goes to the remote [MQTT-3.2.2-15].
    pub maximum_packet_size: Option<u32>,
    /// PUBLISH at this QoS at most [MQTT-3.2.2-11].
    pub maximum_qos: QoS,
    /// Retain Available 0: no PUBLISH with RETAIN 1 [MQTT-3.2.2-14].
    pub retain_available: bool,
    /// Server Keep Alive: the keepalive to use instead of ours
    /// [MQTT-3.2.2-21].
    pub server_keep_alive: Option<u16>,
}

impl Default for RemoteLimits {
    fn default() -> RemoteLimits {
        RemoteLimits {
            receive_maximum: u16::MAX,
            maximum_packet_size: None,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            server_keep_alive: None,
        }
    }
}

impl RemoteLimits {
    /// The limits of a 5.0 CONNACK; values the spec forbids are the
    /// remote's protocol error.
    pub fn from_connack(p: &Properties) -> Result<RemoteLimits, LinkError> {
        let receive_maximum = match p.receive_maximum() {
            Some(0) => return Err(LinkError::Protocol("CONNACK Receive Maximum 0")),
            Some(n) => n,
            None => u16::MAX,
        };
        let maximum_packet_size = match p.maximum_packet_size() {
            Some(0) => return Err(LinkError::Protocol("CONNACK Maximum Packet Size 0")),
            other => other,
        };
        let maximum_qos = match p.maximum_qos() {
            None => QoS::ExactlyOnce,
            Some(0) => QoS::AtMostOnce,
            Some(1) => QoS::AtLeastOnce,
            Some(_) => return Err(LinkError::Protocol("CONNACK Maximum QoS other than 0 or 1")),
        };
        let retain_available = match p.retain_available() {
            None | Some(1) => true,
            Some(0) => false,
            Some(_) => {
                return Err(LinkError::Protocol(
                    "CONNACK Retain Available other than 0 or 1",
                ))
            }
        };
        Ok(RemoteLimits {
            receive_maximum,
            maximum_packet_size,
            maximum_qos,
            retain_available,
            server_keep_alive: p.server_keep_alive(),
        })
    }

    /// The QoS and retain flag a message goes out with: lowered to the
    /// remote's Maximum QoS, the retain flag cleared without Retain
    /// Available.
    pub fn shape(&self, qos: QoS, retain: bool) -> (QoS, bool) {
        (qos.min(self.maximum_qos), retain && self.retain_available)
    }

    /// Whether a packet of `len` bytes may go to the remote.
    pub fn fits(&self, len: usize) -> bool {
        self.maximum_packet_size
            .is_none_or(|max| u64::try_from(len).unwrap_or(u64::MAX) <= u64::from(max))
    }
}

/// What the link did to messages to fit the remote since the broker last
/// took the counts ([`super::Link::take_drops`]); the broker counts them
/// (`broker/stats.rs`) and logs them, rate-limited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkDrops {
    /// Dropped: larger than the remote's Maximum Packet Size.
    pub too_large: u64,
    /// Dropped: their Message Expiry Interval ran out in the queue.
    pub expired: u64,
    /// Sent at the remote's Maximum QoS instead of their own.
    pub qos_downgraded: u64,
    /// Sent without their retain flag (Retain Available 0).
    pub retain_stripped: u64,
    /// Refused by the remote (PUBACK or PUBREC 0x80 or above): taken off
    /// the queue, not retried (MQTT 5 §4.3.2, §4.3.3).
    pub refused: u64,
    /// The reason code of the last refusal, for the log line.
    pub last_refusal: Option<ReasonCode>,
}

impl LinkDrops {
    pub fn is_empty(&self) -> bool {
        *self == LinkDrops::default()
    }

    /// Adds `other`'s counts (the latest refusal wins).
    pub fn add(&mut self, other: &LinkDrops) {
        self.too_large += other.too_large;
        self.expired += other.expired;
        self.qos_downgraded += other.qos_downgraded;
        self.retain_stripped += other.retain_stripped;
        self.refused += other.refused;
        self.last_refusal = other.last_refusal.or(self.last_refusal);
    }

    /// A message was sent as `sent` instead of `asked` (QoS, retain).
    pub(super) fn shaped(&mut self, asked: (QoS, bool), sent: (QoS, bool)) {
        if sent.0 != asked.0 {
            self.qos_downgraded += 1;
        }
        if sent.1 != asked.1 {
            self.retain_stripped += 1;
        }
    }
}

/// The properties of a 5.0 CONNECT: the Session Expiry Interval that
/// keeps our session (subscriptions, and the QoS ≥ 1 messages for them)
/// on the remote while the link is down — 0, the absent default, with
/// `cleansession true` [MQTT-3.1.2-23]; and our Maximum Packet Size, so
/// that the remote drops for us what we could not decode anyway. No
/// Topic Alias Maximum: 0, the remote sends us no aliases
/// [MQTT-3.1.2-26].
pub(super) fn connect_properties(s: &LinkSettings) -> Properties {
    let mut p = Properties::default();
    if !s.clean_session && s.session_expiry > 0 {
        p.push(Property::SessionExpiryInterval(s.session_expiry));
    }
    if s.max_packet_size > 0 && s.max_packet_size < PROTOCOL_MAX_PACKET {
        p.push(Property::MaximumPacketSize(s.max_packet_size));
    }
    p
}

/// What remains of an expiry deadline, whole seconds rounded up (a
/// message with 0.4 s left still has some) [MQTT-3.3.2-6].
pub(super) fn remaining_secs(at: Instant, now: Instant) -> u32 {
    let left = at.saturating_duration_since(now);
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

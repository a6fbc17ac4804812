//! One application message as a session holds and delivers it: the shared
//! body, the delivery QoS and retain flag, the MQTT 5 properties and expiry
//! every copy shares, and the identifiers of this session's matching
//! subscriptions (docs/mqtt5.md, "Message properties" and "Message
//! expiry").
//!
//! Invariant: a message without 5.0 properties or expiry (every 3.x one)
//! carries no `meta` and allocates nothing beyond its body.

use std::cell::OnceCell;
use std::rc::Rc;
use std::time::Instant;

use crate::codec::{
    EncodeError, Frame, OutgoingProperties, PacketId, ProtocolVersion, PublishBody, PublishHeader,
    QoS,
};

/// What every copy of one message shares beyond its body.
#[derive(Debug, PartialEq, Eq)]
pub struct MessageMeta {
    /// The forwarded property block (`codec::forwarded_block`).
    pub properties: Box<[u8]>,
    /// Its arrival plus its Message Expiry Interval; `None` never expires.
    pub expires_at: Option<Instant>,
    /// The live QoS 0 PUBLISH every 5.0 subscriber without subscription
    /// identifiers gets, built at the first and shared by the rest: one
    /// slice per copy in a fan-out instead of four (README.md ##
    /// Performance). Only for messages without expiry, whose copies are
    /// all the same.
    v5_qos0: OnceCell<Rc<[u8]>>,
}

impl MessageMeta {
    /// `None` when there is nothing to share (no properties, no expiry).
    pub fn shared(properties: Vec<u8>, expires_at: Option<Instant>) -> Option<Rc<MessageMeta>> {
        (!properties.is_empty() || expires_at.is_some()).then(|| {
            Rc::new(MessageMeta {
                properties: properties.into_boxed_slice(),
                expires_at,
                v5_qos0: OnceCell::new(),
            })
        })
    }

    /// Nothing but the shared 5.0 frame: for a message without properties
    /// routed to several sessions.
    pub fn for_fan_out() -> Rc<MessageMeta> {
        Rc::new(MessageMeta {
            properties: Box::default(),
            expires_at: None,
            v5_qos0: OnceCell::new(),
        })
    }
}

/// One message as it will be delivered to this session.
#[derive(Debug, Clone)]
pub struct Message {
    pub body: PublishBody,
    /// Delivery QoS: the lower of the publish QoS and the subscription's.
    pub qos: QoS,
    pub retain: bool,
    pub meta: Option<Rc<MessageMeta>>,
    /// The identifiers of this session's subscriptions that matched it, in
    /// ascending order; empty for most.
    pub subscription_ids: Box<[u32]>,
}

impl Message {
    /// A message with no 5.0 properties, expiry or identifiers.
    pub fn plain(body: PublishBody, qos: QoS, retain: bool) -> Message {
        Message {
            body,
            qos,
            retain,
            meta: None,
            subscription_ids: Box::default(),
        }
    }

    /// Past its expiry: never delivered from a queue [MQTT-3.3.2-5]. An
    /// interval of 0 expires as soon as time moves on.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at().is_some_and(|at| now > at)
    }

    pub fn expires_at(&self) -> Option<Instant> {
        self.meta.as_ref().and_then(|m| m.expires_at)
    }

    /// Whole seconds left, rounded up, for the Message Expiry Interval of
    /// a delivery [MQTT-3.3.2-6]; 0 once past (an inflight resend).
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        self.expires_at().map(|at| {
            let left = at.saturating_duration_since(now);
            let secs = left
                .as_secs()
                .saturating_add(u64::from(left.subsec_nanos() > 0));
            u32::try_from(secs).unwrap_or(u32::MAX)
        })
    }

    /// This copy's PUBLISH frame.
    pub fn frame(
        &self,
        now: Instant,
        dup: bool,
        packet_id: Option<PacketId>,
        version: ProtocolVersion,
    ) -> Result<Frame, EncodeError> {
        let same_for_all = version.is_v5()
            && self.qos == QoS::AtMostOnce
            && !self.retain
            && self.subscription_ids.is_empty();
        if let Some(meta) = self
            .meta
            .as_ref()
            .filter(|m| same_for_all && m.expires_at.is_none())
        {
            if let Some(bytes) = meta.v5_qos0.get() {
                return Ok(Frame::Shared(bytes.clone()));
            }
            let bytes = self.build_frame(now, false, None, version)?.to_shared();
            let _ = meta.v5_qos0.set(bytes.clone());
            return Ok(Frame::Shared(bytes));
        }
        self.build_frame(now, dup, packet_id, version)
    }

    fn build_frame(
        &self,
        now: Instant,
        dup: bool,
        packet_id: Option<PacketId>,
        version: ProtocolVersion,
    ) -> Result<Frame, EncodeError> {
        let header = PublishHeader {
            qos: self.qos,
            retain: self.retain,
            dup,
            packet_id,
        };
        let properties = OutgoingProperties {
            forwarded: self.meta.as_ref().map_or(&[][..], |m| &m.properties),
            message_expiry: self.remaining_expiry(now),
            subscription_ids: &self.subscription_ids,
        };
        Frame::publish_message(&self.body, header, &properties, version)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expiry_rounds_up_and_ends() {
        let t0 = Instant::now();
        let body = PublishBody::new("a", b"x").unwrap();
        let mut m = Message::plain(body, QoS::AtLeastOnce, false);
        assert!(!m.is_expired(t0) && m.remaining_expiry(t0).is_none());
        m.meta = MessageMeta::shared(Vec::new(), Some(t0 + Duration::from_secs(10)));
        assert_eq!(
            m.remaining_expiry(t0 + Duration::from_millis(500)),
            Some(10)
        );
        assert_eq!(m.remaining_expiry(t0 + Duration::from_secs(4)), Some(6));
        assert!(!m.is_expired(t0 + Duration::from_secs(10)));
        assert!(m.is_expired(t0 + Duration::from_millis(10_001)));
        assert_eq!(m.remaining_expiry(t0 + Duration::from_secs(11)), Some(0));
        assert!(MessageMeta::shared(Vec::new(), None).is_none());
    }

    #[test]
    fn fan_out_copies_to_5_0_share_one_frame_that_encodes_the_same() {
        let now = Instant::now();
        let body = PublishBody::new("a/b", b"xyz").unwrap();
        let mut m = Message::plain(body, QoS::AtMostOnce, false);
        let plain = m.frame(now, false, None, ProtocolVersion::V5).unwrap();
        m.meta = Some(MessageMeta::for_fan_out());
        let first = m.frame(now, false, None, ProtocolVersion::V5).unwrap();
        let second = m
            .clone()
            .frame(now, false, None, ProtocolVersion::V5)
            .unwrap();
        let (Frame::Shared(a), Frame::Shared(b)) = (&first, &second) else {
            panic!("not shared: {first:?}");
        };
        assert!(Rc::ptr_eq(a, b));
        assert_eq!(&a[..], &plain.to_shared()[..]);
        assert_eq!(
            &a[..],
            &[0x30, 9, 0, 3, b'a', b'/', b'b', 0, b'x', b'y', b'z']
        );
        // Per-subscriber differences are never shared.
        m.subscription_ids = vec![4].into_boxed_slice();
        assert!(!matches!(
            m.frame(now, false, None, ProtocolVersion::V5).unwrap(),
            Frame::Shared(_)
        ));
        m.subscription_ids = Box::default();
        assert!(!matches!(
            m.frame(now, false, None, ProtocolVersion::V3_1_1).unwrap(),
            Frame::Shared(_)
        ));
    }
}

//! MQTT 5 topic aliases, both ways (MQTT 5 §3.3.2.3.4).
//!
//! Client → broker: a client may set aliases 1..=`max_topic_alias` (the
//! Topic Alias Maximum of our CONNACK); a PUBLISH with alias 0 or one above
//! that ends the connection with DISCONNECT 0x94; an empty topic naming an
//! alias never set, or no alias at all, with 0x82. Aliases belong to the
//! network connection: a reconnect starts with none.
//!
//! Broker → client: up to the Topic Alias Maximum of the client's CONNECT,
//! and never more than [`MAX_OUTBOUND_ALIASES`], the most recently used
//! topics hold an alias; a new topic takes a free one or the least recently
//! used one's. Aliases are assigned as frames leave the outbox
//! (`Broker::take_outbound`), so the order the client reads them is the
//! order they were assigned in.
//!
//! Owns only the alias tables; the broker decides what to do with a
//! refusal.

use crate::codec::{Frame, Publish};

/// Aliases we keep per client towards it, whatever larger Topic Alias
/// Maximum it allows: each holds a topic string for the connection's life
/// and a lookup scans them, so a small table bounds both (docs/mqtt5.md).
pub const MAX_OUTBOUND_ALIASES: u16 = 32;

/// Why an inbound alias was refused; each is DISCONNECT 0x94 or 0x82.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasError {
    /// 0 or above our maximum (MQTT 5 §3.3.2.3.4): 0x94.
    OutOfRange,
    /// An empty topic with an alias never set on this connection: 0x82
    /// (MQTT 5 §3.3.2.3.4, "protocol error").
    Unknown,
    /// An empty topic and no alias: 0x82 (MQTT 5 §3.3.2.3.4).
    EmptyTopic,
}

impl AliasError {
    pub fn describe(self) -> &'static str {
        match self {
            AliasError::OutOfRange => "topic alias 0 or above our Topic Alias Maximum",
            AliasError::Unknown => "topic alias never set on this connection",
            AliasError::EmptyTopic => "empty topic name without a topic alias",
        }
    }
}

/// The client's aliases towards us: alias `n` at index `n - 1`, grown as
/// they are set, never past the maximum we announced.
#[derive(Debug, Default)]
pub struct InboundAliases {
    topics: Vec<Option<Box<str>>>,
}

impl InboundAliases {
    /// Resolves or records `publish`'s alias; `max` is the Topic Alias
    /// Maximum this connection was given. On success the PUBLISH carries
    /// its full topic and no Topic Alias property (what subscribers get
    /// must not depend on this connection's aliases).
    pub fn resolve(&mut self, publish: &mut Publish, max: u16) -> Result<(), AliasError> {
        let Some(alias) = publish.properties.topic_alias() else {
            if publish.body.topic().is_empty() {
                return Err(AliasError::EmptyTopic);
            }
            return Ok(());
        };
        if alias == 0 || alias > max {
            return Err(AliasError::OutOfRange);
        }
        let index = usize::from(alias - 1);
        publish
            .properties
            .0
            .retain(|p| !matches!(p, crate::codec::Property::TopicAlias(_)));
        let topic = publish.body.topic();
        if topic.is_empty() {
            let known = self.topics.get(index).and_then(|t| t.as_deref());
            let Some(known) = known else {
                return Err(AliasError::Unknown);
            };
            // The known topic was a valid PUBLISH topic when it was set.
            publish.body = publish
                .body
                .with_topic(known)
                .map_err(|_| AliasError::Unknown)?;
            return Ok(());
        }
        if self.topics.len() <= index {
            self.topics.resize(index + 1, None);
        }
        if let Some(slot) = self.topics.get_mut(index) {
            *slot = Some(topic.into());
        }
        Ok(())
    }
}

/// Our aliases towards the client: topic, alias, and when last used.
#[derive(Debug, Default)]
pub struct OutboundAliases {
    /// Aliases we may use: the smaller of the client's Topic Alias
    /// Maximum and [`MAX_OUTBOUND_ALIASES`]; 0 means none.
    max: u16,
    entries: Vec<(Box<str>, u16, u64)>,
    tick: u64,
}

impl OutboundAliases {
    pub fn new(client_maximum: u16) -> OutboundAliases {
        OutboundAliases {
            max: client_maximum.min(MAX_OUTBOUND_ALIASES),
            entries: Vec::new(),
            tick: 0,
        }
    }

    /// `frame` as it should go out: a PUBLISH to a topic that has an alias
    /// names it by alias alone; a new topic is given one (taking the least
    /// recently used) and goes out with both. `room` is the largest packet
    /// the client takes: a frame the alias property would push past it
    /// goes out as it was.
    pub fn apply(&mut self, frame: Frame, room: usize) -> Frame {
        if self.max == 0 {
            return frame;
        }
        let Some(topic) = frame.alias_candidate_topic() else {
            return frame;
        };
        let (alias, known) = self.alias_for(topic);
        match frame.with_topic_alias(alias, known) {
            Ok(aliased) if aliased.len() <= room => aliased,
            _ => {
                if !known {
                    // Not sent with its topic: the client must not learn it.
                    self.entries.retain(|e| e.1 != alias);
                }
                frame
            }
        }
    }

    /// The alias for `topic`, and whether the client already has it.
    fn alias_for(&mut self, topic: &str) -> (u16, bool) {
        self.tick += 1;
        if let Some(entry) = self.entries.iter_mut().find(|e| &*e.0 == topic) {
            entry.2 = self.tick;
            return (entry.1, true);
        }
        let count = u16::try_from(self.entries.len()).unwrap_or(u16::MAX);
        if count < self.max {
            let alias = count + 1;
            self.entries.push((topic.into(), alias, self.tick));
            return (alias, false);
        }
        let oldest = self.entries.iter_mut().min_by_key(|e| e.2);
        match oldest {
            Some(entry) => {
                *entry = (topic.into(), entry.1, self.tick);
                (entry.1, false)
            }
            // max > 0 and the table full: there is an oldest.
            None => (1, false),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::codec::{Properties, Property, ProtocolVersion, PublishBody, QoS};

    fn publish(topic: &str, alias: Option<u16>) -> Publish {
        let mut properties = Properties::default();
        if let Some(alias) = alias {
            properties.push(Property::TopicAlias(alias));
        }
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            packet_id: None,
            body: PublishBody::new(topic, b"x").unwrap(),
            properties,
        }
    }

    #[test]
    fn inbound_aliases_set_resolve_and_refuse() {
        let mut aliases = InboundAliases::default();
        let mut p = publish("a/b", Some(2));
        aliases.resolve(&mut p, 10).unwrap();
        assert!(p.properties.is_empty());
        let mut p = publish("", Some(2));
        aliases.resolve(&mut p, 10).unwrap();
        assert_eq!(p.body.topic(), "a/b");
        assert_eq!(p.body.payload(), b"x");
        for (alias, err) in [
            (0, AliasError::OutOfRange),
            (11, AliasError::OutOfRange),
            (3, AliasError::Unknown),
        ] {
            let mut p = publish("", Some(alias));
            assert_eq!(aliases.resolve(&mut p, 10), Err(err));
        }
        assert_eq!(
            aliases.resolve(&mut publish("", None), 10),
            Err(AliasError::EmptyTopic)
        );
        // Maximum 0: every alias is out of range.
        let mut none = InboundAliases::default();
        assert_eq!(
            none.resolve(&mut publish("t", Some(1)), 0),
            Err(AliasError::OutOfRange)
        );
    }

    fn frame(topic: &str) -> Frame {
        let body = PublishBody::new(topic, b"payload").unwrap();
        Frame::publish(
            &body,
            QoS::AtMostOnce,
            false,
            false,
            None,
            None,
            ProtocolVersion::V5,
        )
        .unwrap()
    }

    fn bytes(frame: &Frame) -> Vec<u8> {
        frame.slices().concat()
    }

    #[test]
    fn outbound_aliases_first_with_topic_then_without_lru_replaced() {
        let mut aliases = OutboundAliases::new(2);
        let first = aliases.apply(frame("t/1"), usize::MAX);
        // Topic kept, property block: Topic Alias 1.
        assert_eq!(
            bytes(&first),
            [0x30, 16, 0, 3, b't', b'/', b'1', 3, 0x23, 0, 1, b'p', b'a', b'y', b'l', b'o', b'a']
                .iter()
                .chain(b"d")
                .copied()
                .collect::<Vec<_>>()
        );
        assert_eq!(first.len(), bytes(&first).len());
        let again = aliases.apply(frame("t/1"), usize::MAX);
        assert_eq!(&bytes(&again)[..8], [0x30, 13, 0, 0, 3, 0x23, 0, 1]);
        assert_eq!(again.len(), bytes(&again).len());
        aliases.apply(frame("t/2"), usize::MAX);
        aliases.apply(frame("t/1"), usize::MAX);
        // t/2 is the least recently used: t/3 takes its alias, 2.
        let third = aliases.apply(frame("t/3"), usize::MAX);
        assert_eq!(&bytes(&third)[7..11], [3, 0x23, 0, 2]);
        // Too large with the property: unchanged, and not remembered.
        let plain = frame("t/4");
        let len = plain.len();
        let out = aliases.apply(plain, len);
        assert_eq!(out.len(), len);
        let later = aliases.apply(frame("t/4"), usize::MAX);
        assert_eq!(&bytes(&later)[2..4], [0, 3]);
    }

    #[test]
    fn outbound_aliases_capped() {
        let aliases = OutboundAliases::new(u16::MAX);
        assert_eq!(aliases.max, MAX_OUTBOUND_ALIASES);
    }
}

//! Retained messages: one per topic, capped by `max_retained_messages`.
//! An empty payload deletes [MQTT-3.3.1-10]; at the cap a message for a
//! new topic is refused (the caller counts and logs it), never the process.
//! A retained message keeps its MQTT 5 properties and expiry; once expired
//! it is no longer sent and is removed when next looked at [MQTT-3.3.2-5].

use std::rc::Rc;
use std::time::Instant;

use crate::codec::{PublishBody, QoS};
use crate::session::MessageMeta;
use crate::topic::RetainedTree;

#[derive(Debug, Clone)]
pub struct RetainedMessage {
    pub body: PublishBody,
    pub qos: QoS,
    pub meta: Option<Rc<MessageMeta>>,
}

impl RetainedMessage {
    fn is_expired(&self, now: Instant) -> bool {
        self.meta
            .as_ref()
            .and_then(|m| m.expires_at)
            .is_some_and(|at| now > at)
    }
}

/// What [`RetainedStore::set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetainOutcome {
    Stored,
    Deleted,
    /// At `max_retained_messages`: not stored.
    Refused,
}

pub struct RetainedStore {
    tree: RetainedTree<RetainedMessage>,
    /// The broker's own `$SYS/broker/...` values (`set_system`): a tree
    /// of their own, so `max_retained_messages` counts the users' only.
    system: RetainedTree<RetainedMessage>,
    max: usize,
}

impl RetainedStore {
    pub fn new(max: usize) -> RetainedStore {
        RetainedStore {
            tree: RetainedTree::new(),
            system: RetainedTree::new(),
            max,
        }
    }

    pub fn set(
        &mut self,
        body: &PublishBody,
        qos: QoS,
        meta: Option<Rc<MessageMeta>>,
    ) -> RetainOutcome {
        let topic = body.topic();
        if body.payload().is_empty() {
            self.tree.remove(topic);
            return RetainOutcome::Deleted;
        }
        if self.tree.len() >= self.max && self.tree.get(topic).is_none() {
            return RetainOutcome::Refused;
        }
        self.tree.insert(
            topic,
            RetainedMessage {
                body: body.clone(),
                qos,
                meta,
            },
        );
        RetainOutcome::Stored
    }

    /// The broker's own `$SYS/broker/...` values: kept in memory only
    /// (the caller does not persist them) and outside the cap, so user
    /// messages cannot crowd them out nor they take the users' room
    /// (docs/observability.md).
    pub fn set_system(&mut self, body: &PublishBody) {
        self.system.insert(
            body.topic(),
            RetainedMessage {
                body: body.clone(),
                qos: QoS::AtMostOnce,
                meta: None,
            },
        );
    }

    /// Retained messages held, the broker's own included.
    pub fn len(&self) -> usize {
        self.tree.len().saturating_add(self.system.len())
    }

    /// The unexpired retained messages `filter` matches (every one
    /// without a filter, the broker's own included), with their topics,
    /// for the admin API: it reads, so the expired stay for `matching`.
    pub fn for_each_live(
        &self,
        filter: Option<&str>,
        now: Instant,
        mut f: impl FnMut(&str, &RetainedMessage),
    ) {
        let mut live = |topic: &str, message: &RetainedMessage| {
            if !message.is_expired(now) {
                f(topic, message);
            }
        };
        match filter {
            Some(filter) => {
                if filter.starts_with('$') {
                    self.system.for_each_match(filter, &mut live);
                }
                self.tree.for_each_match(filter, live);
            }
            None => {
                self.system.for_each(&mut live);
                self.tree.for_each(live);
            }
        }
    }

    /// Every unexpired retained message `filter` matches, the broker's
    /// own for a `$` filter; the expired ones it met are removed and
    /// their topics returned.
    pub fn matching(&mut self, filter: &str, now: Instant) -> (Vec<RetainedMessage>, Vec<String>) {
        let mut found = Vec::new();
        let mut expired = Vec::new();
        if filter.starts_with('$') {
            self.system
                .for_each_match(filter, |_, message| found.push(message.clone()));
        }
        self.tree.for_each_match(filter, |topic, message| {
            if message.is_expired(now) {
                expired.push(topic.to_owned());
            } else {
                found.push(message.clone());
            }
        });
        for topic in &expired {
            self.tree.remove(topic);
        }
        (found, expired)
    }
}

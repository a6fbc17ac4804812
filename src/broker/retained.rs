//! Retained messages: one per topic, capped by `max_retained_messages`.
//! An empty payload deletes [MQTT-3.3.1-10]; at the cap a message for a
//! new topic is refused (the caller counts and logs it), never the process.

use crate::codec::{PublishBody, QoS};
use crate::topic::RetainedTree;

#[derive(Debug, Clone)]
pub struct RetainedMessage {
    pub body: PublishBody,
    pub qos: QoS,
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

    pub fn set(&mut self, body: &PublishBody, qos: QoS) -> RetainOutcome {
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
            },
        );
    }

    /// Retained messages held, the broker's own included.
    pub fn len(&self) -> usize {
        self.tree.len().saturating_add(self.system.len())
    }

    /// Every retained message, with its topic, for the admin API.
    pub fn for_each(&self, mut f: impl FnMut(&str, &RetainedMessage)) {
        self.system.for_each(&mut f);
        self.tree.for_each(f);
    }

    /// Every retained message `filter` matches.
    pub fn matching(&self, filter: &str) -> Vec<RetainedMessage> {
        let mut found = Vec::new();
        let mut add = |_: &str, message: &RetainedMessage| found.push(message.clone());
        if filter.starts_with('$') {
            self.system.for_each_match(filter, &mut add);
        }
        self.tree.for_each_match(filter, add);
        found
    }
}

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
    max: usize,
}

impl RetainedStore {
    pub fn new(max: usize) -> RetainedStore {
        RetainedStore {
            tree: RetainedTree::new(),
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
    /// beyond their fixed few dozen (docs/observability.md).
    pub fn set_system(&mut self, body: &PublishBody) {
        self.tree.insert(
            body.topic(),
            RetainedMessage {
                body: body.clone(),
                qos: QoS::AtMostOnce,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Every retained message, with its topic, for the admin API.
    pub fn for_each(&self, f: impl FnMut(&str, &RetainedMessage)) {
        self.tree.for_each(f);
    }

    /// Every retained message `filter` matches.
    pub fn matching(&self, filter: &str) -> Vec<RetainedMessage> {
        let mut found = Vec::new();
        self.tree
            .for_each_match(filter, |_, message| found.push(message.clone()));
        found
    }
}

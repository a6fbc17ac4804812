//! Topics: names and filters, their validation, the subscription trie and
//! the retained-message tree (MQTT 3.1.1 and 5.0 §4.7).
//!
//! Owns: topic syntax and matching, nothing else. Sans-IO: no sockets, no
//! clock, no logging; errors are values the broker maps to reason codes.
//! Shared subscriptions (`$share/{group}/{filter}`, `$queue/{filter}`) are
//! valid filters; `shared` splits off the group, the broker keeps the groups.
//!
//! Matching rules every part agrees on (the naive [`matches`] is the oracle
//! the property tests hold the trees to): `+` is exactly one level, empty
//! levels included; `#` is the rest, no level included (`sport/#` matches
//! `sport`); a first-level wildcard does not match a `$` topic
//! [MQTT-4.7.2-1].

mod key;
mod levels;
mod name;
mod retained;
mod shared;
mod subs;
mod trie;
mod validate;

pub(crate) use levels::{next_level, LevelMap};
pub use name::{TopicFilter, TopicName};
pub use retained::RetainedTree;
pub use shared::{is_shared, parse_shared, SharedFilter, QUEUE_GROUP};
pub use trie::SubscriptionTrie;
pub use validate::{
    matches, validate_topic_filter, validate_topic_name, TopicError, TopicLimits, MAX_TOPIC_LENGTH,
    MAX_TOPIC_LEVELS,
};

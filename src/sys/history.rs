//! Message history (`history_topic FILTER`): messages whose topic one of
//! the filters matches, kept with the time they arrived, for the admin
//! API's `/api/v1/messages` (docs/observability.md, "Trajectories and
//! message history"). A message as a page shows it and the filters; the
//! broker (`broker/console.rs`) decides what to keep, history_log.rs how.

use crate::topic::matches;

/// One message as it was published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryMessage {
    pub topic: Box<str>,
    pub qos: u8,
    pub retain: bool,
    pub payload: Box<[u8]>,
}

/// The `history_topic` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilters(pub Vec<String>);

impl HistoryFilters {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, topic: &str) -> bool {
        self.0.iter().any(|f| matches(f, topic))
    }
}

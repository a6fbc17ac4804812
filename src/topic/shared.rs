//! The syntax of shared subscriptions: `$share/{group}/{filter}` (MQTT 5 §4.8.2,
//! taken from 3.1.1 clients too, as mosquitto and EMQX do) and
//! `$queue/{filter}`, the same with one implicit group.
//!
//! Owns: splitting such a filter into its group and the filter messages are
//! matched against, and the rules on both parts. The whole string has
//! already passed [`validate_topic_filter`](super::validate_topic_filter);
//! this adds what is particular to sharing: a non-empty group without
//! wildcards [MQTT-4.8.2-1] [MQTT-4.8.2-2] and a non-empty filter after it.

use super::validate::TopicError;

/// The group of every `$queue/{filter}` subscription. A `$share` group may
/// not be called so: its name would collide.
pub const QUEUE_GROUP: &str = "$queue";

const SHARE_PREFIX: &str = "$share/";
const QUEUE_PREFIX: &str = "$queue/";

/// A shared subscription's parts, borrowed from the filter as subscribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    pub group: &'a str,
    /// What messages are matched against.
    pub filter: &'a str,
}

/// `None`: `filter` is an ordinary filter. `Some(Err)`: it starts like a
/// shared one but its group or filter is unusable (`$share/g`, `$share//a`,
/// `$share/+/a`, `$queue/`).
pub fn parse_shared(filter: &str) -> Option<Result<SharedFilter<'_>, TopicError>> {
    if filter == "$share" || filter == "$queue" {
        return Some(Err(TopicError::BadShare));
    }
    if let Some(rest) = filter.strip_prefix(SHARE_PREFIX) {
        let Some((group, inner)) = rest.split_once('/') else {
            return Some(Err(TopicError::BadShare));
        };
        if group.is_empty() || group.contains(['+', '#']) || group == QUEUE_GROUP {
            return Some(Err(TopicError::BadShare));
        }
        return Some(shared(group, inner));
    }
    let inner = filter.strip_prefix(QUEUE_PREFIX)?;
    Some(shared(QUEUE_GROUP, inner))
}

fn shared<'a>(group: &'a str, filter: &'a str) -> Result<SharedFilter<'a>, TopicError> {
    if filter.is_empty() {
        return Err(TopicError::BadShare);
    }
    Ok(SharedFilter { group, filter })
}

/// Whether `filter` is a shared subscription, well formed or not.
pub fn is_shared(filter: &str) -> bool {
    parse_shared(filter).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_group_and_filter() {
        for (s, group, filter) in [
            ("$share/g/a/b", "g", "a/b"),
            ("$share/workers/sensors/+/temp", "workers", "sensors/+/temp"),
            ("$share/g/#", "g", "#"),
            ("$share/g//x", "g", "/x"),
            ("$queue/jobs/#", QUEUE_GROUP, "jobs/#"),
            ("$queue/a", QUEUE_GROUP, "a"),
        ] {
            assert_eq!(
                parse_shared(s),
                Some(Ok(SharedFilter { group, filter })),
                "{s}"
            );
        }
    }

    #[test]
    fn ordinary_filters_are_not_shared() {
        for s in [
            "a/b",
            "#",
            "$SYS/#",
            "$sharex/g/a",
            "share/g/a",
            "$queues/a",
        ] {
            assert_eq!(parse_shared(s), None, "{s}");
            assert!(!is_shared(s));
        }
    }

    #[test]
    fn refuses_unusable_groups_and_filters() {
        for s in [
            "$share",
            "$share/",
            "$share/g",
            "$share/g/",
            "$share//a",
            "$share/+/a",
            "$share/#",
            "$share/a+/x",
            "$share/$queue/a",
            "$queue",
            "$queue/",
        ] {
            assert_eq!(parse_shared(s), Some(Err(TopicError::BadShare)), "{s}");
            assert!(is_shared(s));
        }
    }
}

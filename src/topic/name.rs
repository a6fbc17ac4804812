//! `TopicName` and `TopicFilter`: strings validated once, at construction,
//! so code holding one never re-checks it.
//!
//! Invariant: the inner string passed `validate_topic_name` /
//! `validate_topic_filter` under the limits given to `new`. Both are
//! `Box<str>` (16 bytes, no spare capacity) because they live as long as the
//! message or subscription that holds them.

use std::borrow::Borrow;
use std::fmt;

use super::validate::{
    matches, validate_topic_filter, validate_topic_name, TopicError, TopicLimits,
};

/// A topic name as published: no wildcards, no U+0000, within the limits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicName(Box<str>);

impl TopicName {
    /// Validates `s` as a topic name under `limits` [MQTT-3.3.2-2] [MQTT-4.7.3-1].
    pub fn new(s: &str, limits: &TopicLimits) -> Result<TopicName, TopicError> {
        validate_topic_name(s, limits)?;
        Ok(TopicName(s.into()))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the name is broker-reserved or otherwise `$`-prefixed, which
    /// first-level wildcards do not match [MQTT-4.7.2-1].
    pub fn is_dollar(&self) -> bool {
        self.0.starts_with('$')
    }
}

/// A topic filter as subscribed: wildcards only as whole levels, `#` last.
/// `$share/{group}/{filter}` and `$queue/{filter}` are accepted as they are.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicFilter(Box<str>);

impl TopicFilter {
    /// Validates `s` as a topic filter under `limits` [MQTT-4.7.1-2]
    /// [MQTT-4.7.1-3] [MQTT-4.7.3-1].
    pub fn new(s: &str, limits: &TopicLimits) -> Result<TopicFilter, TopicError> {
        validate_topic_filter(s, limits)?;
        Ok(TopicFilter(s.into()))
    }

    /// The filter as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the filter contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        // Validated: a wildcard character is always a whole wildcard level.
        self.0.contains(['+', '#'])
    }

    /// Whether this filter matches `topic`, the `$` rule included.
    pub fn matches(&self, topic: &str) -> bool {
        matches(&self.0, topic)
    }
}

impl Borrow<str> for TopicName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TopicFilter {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TopicFilter {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const L: TopicLimits = TopicLimits::DEFAULT;

    #[test]
    fn name_is_validated_once() {
        assert_eq!(
            TopicName::new("a/b", &L).map(|n| n.to_string()),
            Ok("a/b".to_owned())
        );
        // [MQTT-3.3.2-2]
        assert_eq!(TopicName::new("a/+", &L), Err(TopicError::WildcardInName));
        // [MQTT-4.7.3-1]
        assert_eq!(TopicName::new("", &L), Err(TopicError::Empty));
        assert_eq!(
            TopicName::new("$SYS/x", &L).map(|n| n.is_dollar()),
            Ok(true)
        );
    }

    #[test]
    fn filter_is_validated_once() {
        let f = TopicFilter::new("sport/+/#", &L);
        assert_eq!(f.as_ref().map(|f| f.as_str()), Ok("sport/+/#"));
        assert_eq!(f.as_ref().map(|f| f.has_wildcards()), Ok(true));
        assert_eq!(f.as_ref().map(|f| f.matches("sport/x")), Ok(true));
        // [MQTT-4.7.1-2]
        assert_eq!(TopicFilter::new("a/#/b", &L), Err(TopicError::BadWildcard));
        assert_eq!(
            TopicFilter::new("$share/g/a", &L).map(|f| f.has_wildcards()),
            Ok(false)
        );
    }

    #[test]
    fn borrow_as_str_for_lookups() {
        let mut set = HashSet::new();
        if let Ok(f) = TopicFilter::new("a/+", &L) {
            set.insert(f);
        }
        assert!(set.contains("a/+"));
        assert!(!set.contains("a/b"));
    }
}

//! A session's own list of subscriptions: (filter, options), a filter at
//! most once.
//!
//! Owns: the compact representation. The list mirrors the broker's trie
//! entries and is read only to unsubscribe, to count against the per-client
//! cap, to remove the session's entries when it ends and to persist it —
//! never on the publish path — so it is one string, not a vector of boxed
//! filters: each entry is one options character, the filter, and a U+0000
//! terminator (a valid filter never holds U+0000 [MQTT-4.7.3-2]). A session
//! with one subscription pays one small heap block for it instead of a
//! vector allocated four entries wide plus a block for the filter.
//!
//! Invariants: the string is a sequence of whole entries; every filter in
//! it was a valid [`TopicFilter`]; the options character is `OPTIONS_BASE`
//! plus six bits, so it is one byte of ASCII and never the terminator.

use crate::codec::{QoS, RetainHandling, SubscriptionOptions};
use crate::topic::TopicFilter;

const TERMINATOR: char = '\0';
/// Below this size the string grows one entry at a time (most sessions hold
/// one to a few subscriptions); above it, by doubling, so a session near the
/// cap still adds in amortised constant time.
const EXACT_GROWTH_MAX: usize = 1024;

/// This session's subscriptions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Subscriptions {
    entries: String,
}

impl Subscriptions {
    /// Number of subscriptions.
    pub fn len(&self) -> usize {
        self.entries.matches(TERMINATOR).count()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every (filter, options), in the order subscribed.
    pub fn iter(&self) -> impl Iterator<Item = (&str, SubscriptionOptions)> + '_ {
        self.entries
            .split_terminator(TERMINATOR)
            .filter_map(|entry| {
                let mut chars = entry.chars();
                let options = unpack(chars.next()?);
                Some((chars.as_str(), options))
            })
    }

    /// The options of the subscription to exactly `filter`.
    pub fn get(&self, filter: &str) -> Option<SubscriptionOptions> {
        self.iter()
            .find(|(f, _)| *f == filter)
            .map(|(_, options)| options)
    }

    /// Adds or replaces the subscription to `filter`; `true` when it
    /// replaced one.
    pub fn insert(&mut self, filter: &TopicFilter, options: SubscriptionOptions) -> bool {
        if let Some(start) = self.find(filter.as_str()) {
            let end = start.saturating_add(1);
            self.entries
                .replace_range(start..end, pack(options).encode_utf8(&mut [0; 4]));
            return true;
        }
        // One options byte, the filter, the terminator.
        let needed = filter.as_str().len().saturating_add(2);
        if self.entries.len() < EXACT_GROWTH_MAX {
            self.entries.reserve_exact(needed);
        }
        self.entries.push(pack(options));
        self.entries.push_str(filter.as_str());
        self.entries.push(TERMINATOR);
        false
    }

    /// Removes the subscription to `filter`; `true` when there was one.
    pub fn remove(&mut self, filter: &str) -> bool {
        let Some(start) = self.find(filter) else {
            return false;
        };
        let end = start.saturating_add(filter.len()).saturating_add(2);
        self.entries.replace_range(start..end, "");
        if self.entries.is_empty() {
            self.entries = String::new();
        } else if self.entries.len() < self.entries.capacity() / 2 {
            self.entries.shrink_to_fit();
        }
        true
    }

    /// The byte offset of the entry (its options byte) for `filter`.
    fn find(&self, filter: &str) -> Option<usize> {
        let mut start = 0usize;
        for entry in self.entries.split_terminator(TERMINATOR) {
            if entry.get(1..) == Some(filter) {
                return Some(start);
            }
            start = start.saturating_add(entry.len()).saturating_add(1);
        }
        None
    }
}

const QOS_MASK: u32 = 0b11;
const NO_LOCAL: u32 = 0b100;
const RETAIN_AS_PUBLISHED: u32 = 0b1000;
const RETAIN_HANDLING_SHIFT: u32 = 4;
/// Added to the six option bits: '@' to DEL, never U+0000.
const OPTIONS_BASE: u32 = 0x40;

fn pack(options: SubscriptionOptions) -> char {
    let mut bits = options.qos as u32;
    if options.no_local {
        bits |= NO_LOCAL;
    }
    if options.retain_as_published {
        bits |= RETAIN_AS_PUBLISHED;
    }
    bits |= (options.retain_handling as u32) << RETAIN_HANDLING_SHIFT;
    // Six bits above the base: always an ASCII character, never U+0000.
    char::from_u32(OPTIONS_BASE | bits).unwrap_or('@')
}

fn unpack(c: char) -> SubscriptionOptions {
    let bits = u32::from(c).saturating_sub(OPTIONS_BASE);
    let qos = match bits & QOS_MASK {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    let retain_handling = match (bits >> RETAIN_HANDLING_SHIFT) & 0b11 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        _ => RetainHandling::DoNotSend,
    };
    SubscriptionOptions {
        qos,
        no_local: bits & NO_LOCAL != 0,
        retain_as_published: bits & RETAIN_AS_PUBLISHED != 0,
        retain_handling,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::TopicLimits;

    fn filter(s: &str) -> TopicFilter {
        match TopicFilter::new(s, &TopicLimits::UNBOUNDED) {
            Ok(f) => f,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn all_options() -> Vec<SubscriptionOptions> {
        let mut all = Vec::new();
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for retain_handling in [
                RetainHandling::SendAtSubscribe,
                RetainHandling::SendIfNew,
                RetainHandling::DoNotSend,
            ] {
                for no_local in [false, true] {
                    for retain_as_published in [false, true] {
                        all.push(SubscriptionOptions {
                            qos,
                            no_local,
                            retain_as_published,
                            retain_handling,
                        });
                    }
                }
            }
        }
        all
    }

    #[test]
    fn options_round_trip_as_one_ascii_byte() {
        for options in all_options() {
            let c = pack(options);
            assert!(c.is_ascii() && c != TERMINATOR, "{c:?}");
            assert_eq!(unpack(c), options);
        }
    }

    #[test]
    fn insert_replace_remove() {
        let mut s = Subscriptions::default();
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);
        assert!(!s.remove("a"));
        let options = all_options();
        for (i, o) in options.iter().enumerate() {
            assert!(!s.insert(&filter(&format!("f/{i}")), *o));
        }
        assert!(!s.insert(&filter("+/#"), SubscriptionOptions::default()));
        assert_eq!(s.len(), options.len() + 1);
        for (i, o) in options.iter().enumerate() {
            assert_eq!(s.get(&format!("f/{i}")), Some(*o));
        }
        // A filter that is a suffix or prefix of another is not confused.
        assert_eq!(s.get("f/"), None);
        assert_eq!(s.get("/1"), None);
        assert_eq!(s.get("1"), None);
        let last = options.last().copied().unwrap_or_default();
        assert!(s.insert(&filter("f/0"), last));
        assert_eq!(s.get("f/0"), Some(last));
        assert_eq!(s.len(), options.len() + 1);
        assert!(s.remove("f/3"));
        assert!(!s.remove("f/3"));
        assert_eq!(s.get("f/3"), None);
        assert_eq!(s.get("f/4"), options.get(4).copied());
        let listed: Vec<String> = s.iter().map(|(f, _)| f.to_owned()).collect();
        assert_eq!(listed.len(), options.len());
        assert_eq!(listed.first().map(String::as_str), Some("f/0"));
        assert_eq!(listed.last().map(String::as_str), Some("+/#"));
        for f in listed {
            assert!(s.remove(&f));
        }
        assert!(s.is_empty());
        assert_eq!(s.entries.capacity(), 0);
    }

    #[test]
    fn one_subscription_is_one_exact_block() {
        let mut s = Subscriptions::default();
        s.insert(&filter("bench/c/1234"), SubscriptionOptions::default());
        assert_eq!(s.entries.capacity(), "bench/c/1234".len() + 2);
    }
}

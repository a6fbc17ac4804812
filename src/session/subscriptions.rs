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
//! plus six bits, so it is one byte of ASCII and never the terminator —
//! except for a subscription with an MQTT 5 Subscription Identifier, whose
//! options character is `WITH_ID_BASE` plus the same six bits (two bytes
//! of UTF-8) followed by two characters of `ID_BASE` plus 14 bits each
//! (the identifier's 28 bits, high half first), so an entry's header is
//! one byte or eight, told apart by its first byte.

use std::num::NonZeroU32;

use crate::codec::{QoS, RetainHandling, SubscriptionOptions};
use crate::topic::TopicFilter;

/// One subscription of a session: its options and, in MQTT 5, the
/// Subscription Identifier of the SUBSCRIBE that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Subscription {
    pub options: SubscriptionOptions,
    pub identifier: Option<NonZeroU32>,
}

impl From<SubscriptionOptions> for Subscription {
    fn from(options: SubscriptionOptions) -> Subscription {
        Subscription {
            options,
            identifier: None,
        }
    }
}

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

    /// Every (filter, subscription), in the order subscribed.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Subscription)> + '_ {
        self.entries
            .split_terminator(TERMINATOR)
            .filter_map(|entry| {
                let (subscription, header) = unpack(entry)?;
                Some((entry.get(header..)?, subscription))
            })
    }

    /// The subscription to exactly `filter`.
    pub fn get(&self, filter: &str) -> Option<Subscription> {
        self.iter()
            .find(|(f, _)| *f == filter)
            .map(|(_, subscription)| subscription)
    }

    /// Adds or replaces the subscription to `filter`; `true` when it
    /// replaced one.
    pub fn insert(&mut self, filter: &TopicFilter, subscription: Subscription) -> bool {
        let header = pack(subscription);
        if let Some((start, old_header)) = self.find(filter.as_str()) {
            let end = start.saturating_add(old_header);
            self.entries.replace_range(start..end, &header);
            return true;
        }
        // The header, the filter, the terminator.
        let needed = header
            .len()
            .saturating_add(filter.as_str().len())
            .saturating_add(1);
        if self.entries.len() < EXACT_GROWTH_MAX {
            self.entries.reserve_exact(needed);
        }
        self.entries.push_str(&header);
        self.entries.push_str(filter.as_str());
        self.entries.push(TERMINATOR);
        false
    }

    /// Removes the subscription to `filter`; `true` when there was one.
    pub fn remove(&mut self, filter: &str) -> bool {
        let Some((start, header)) = self.find(filter) else {
            return false;
        };
        let end = start
            .saturating_add(header)
            .saturating_add(filter.len())
            .saturating_add(1);
        self.entries.replace_range(start..end, "");
        if self.entries.is_empty() {
            self.entries = String::new();
        } else if self.entries.len() < self.entries.capacity() / 2 {
            self.entries.shrink_to_fit();
        }
        true
    }

    /// The byte offset of the entry for `filter` and its header's length.
    fn find(&self, filter: &str) -> Option<(usize, usize)> {
        let mut start = 0usize;
        for entry in self.entries.split_terminator(TERMINATOR) {
            let header = header_len(entry);
            if entry.get(header..) == Some(filter) {
                return Some((start, header));
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

/// The options character of an entry with an identifier: two bytes of
/// UTF-8, so never taken for an ASCII one.
const WITH_ID_BASE: u32 = 0x100;
/// Each half of an identifier is 14 bits above this: three bytes of UTF-8,
/// below the surrogates.
const ID_BASE: u32 = 0x1000;
const ID_HALF_BITS: u32 = 14;
const ID_HALF_MASK: u32 = (1 << ID_HALF_BITS) - 1;
/// One options character of two bytes and two of three.
const HEADER_WITH_ID: usize = 8;

fn header_len(entry: &str) -> usize {
    match entry.as_bytes().first() {
        Some(b) if b.is_ascii() => 1,
        Some(_) => HEADER_WITH_ID,
        None => 0,
    }
}

fn option_bits(options: SubscriptionOptions) -> u32 {
    let mut bits = options.qos as u32;
    if options.no_local {
        bits |= NO_LOCAL;
    }
    if options.retain_as_published {
        bits |= RETAIN_AS_PUBLISHED;
    }
    bits | (options.retain_handling as u32) << RETAIN_HANDLING_SHIFT
}

fn pack(subscription: Subscription) -> String {
    let bits = option_bits(subscription.options);
    let mut header = String::new();
    match subscription.identifier {
        None => header.push(char::from_u32(OPTIONS_BASE | bits).unwrap_or('@')),
        Some(id) => {
            // Identifiers are at most 268,435,455: 28 bits, two halves.
            let id = id.get();
            for c in [
                WITH_ID_BASE | bits,
                ID_BASE + ((id >> ID_HALF_BITS) & ID_HALF_MASK),
                ID_BASE + (id & ID_HALF_MASK),
            ] {
                header.push(char::from_u32(c).unwrap_or('@'));
            }
        }
    }
    header
}

/// The subscription of an entry and its header's length.
fn unpack(entry: &str) -> Option<(Subscription, usize)> {
    let mut chars = entry.chars();
    let first = u32::from(chars.next()?);
    if first < 0x80 {
        let options = unpack_options(first.saturating_sub(OPTIONS_BASE));
        return Some((options.into(), 1));
    }
    let high = u32::from(chars.next()?).saturating_sub(ID_BASE);
    let low = u32::from(chars.next()?).saturating_sub(ID_BASE);
    let subscription = Subscription {
        options: unpack_options(first.saturating_sub(WITH_ID_BASE)),
        identifier: NonZeroU32::new(high << ID_HALF_BITS | low),
    };
    Some((subscription, HEADER_WITH_ID))
}

fn unpack_options(bits: u32) -> SubscriptionOptions {
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
            let header = pack(options.into());
            assert!(header.len() == 1 && header.is_ascii() && !header.contains(TERMINATOR));
            assert_eq!(unpack(&header), Some((options.into(), 1)));
        }
    }

    #[test]
    fn identifiers_round_trip_in_an_eight_byte_header() {
        for options in all_options() {
            for id in [1, 2, 16_383, 16_384, 268_435_455] {
                let subscription = Subscription {
                    options,
                    identifier: NonZeroU32::new(id),
                };
                let header = pack(subscription);
                assert_eq!(header.len(), HEADER_WITH_ID, "{id}");
                assert!(!header.contains(TERMINATOR));
                assert_eq!(unpack(&header), Some((subscription, HEADER_WITH_ID)));
            }
        }
        let mut s = Subscriptions::default();
        let with_id = Subscription {
            options: SubscriptionOptions::default(),
            identifier: NonZeroU32::new(300),
        };
        assert!(!s.insert(&filter("a/#"), with_id));
        assert!(!s.insert(&filter("b"), SubscriptionOptions::default().into()));
        assert_eq!(s.get("a/#"), Some(with_id));
        // Replacing changes the header's length both ways.
        assert!(s.insert(&filter("a/#"), SubscriptionOptions::default().into()));
        assert_eq!(s.get("a/#").and_then(|x| x.identifier), None);
        assert!(s.insert(&filter("b"), with_id));
        assert_eq!(s.get("b"), Some(with_id));
        assert_eq!(s.len(), 2);
        assert!(s.remove("b") && s.remove("a/#") && s.is_empty());
    }

    #[test]
    fn insert_replace_remove() {
        let mut s = Subscriptions::default();
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);
        assert!(!s.remove("a"));
        let options = all_options();
        for (i, o) in options.iter().enumerate() {
            assert!(!s.insert(&filter(&format!("f/{i}")), (*o).into()));
        }
        assert!(!s.insert(&filter("+/#"), SubscriptionOptions::default().into()));
        assert_eq!(s.len(), options.len() + 1);
        for (i, o) in options.iter().enumerate() {
            assert_eq!(s.get(&format!("f/{i}")), Some((*o).into()));
        }
        // A filter that is a suffix or prefix of another is not confused.
        assert_eq!(s.get("f/"), None);
        assert_eq!(s.get("/1"), None);
        assert_eq!(s.get("1"), None);
        let last = options.last().copied().unwrap_or_default();
        assert!(s.insert(&filter("f/0"), last.into()));
        assert_eq!(s.get("f/0"), Some(last.into()));
        assert_eq!(s.len(), options.len() + 1);
        assert!(s.remove("f/3"));
        assert!(!s.remove("f/3"));
        assert_eq!(s.get("f/3"), None);
        assert_eq!(s.get("f/4"), options.get(4).copied().map(Into::into));
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
        s.insert(
            &filter("bench/c/1234"),
            SubscriptionOptions::default().into(),
        );
        assert_eq!(s.entries.capacity(), "bench/c/1234".len() + 2);
    }
}

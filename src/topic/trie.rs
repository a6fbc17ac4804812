//! The subscription trie: topic filter → (session key → subscription value),
//! matched against a published topic name.
//!
//! Owns: the index only. It stores what it is given under the filter's
//! levels; it does not validate (callers insert a [`TopicFilter`]), it does
//! not dedupe a session matched by two filters (the broker picks the highest
//! QoS), and it knows nothing of shared groups (`$share/g/f` would be stored
//! literally; the broker strips the prefix first).
//!
//! Shape: filters without wildcards (the bulk: a device's own topics) sit in
//! one hash map keyed by the whole filter, since such a filter matches only
//! the identical topic; a publish looks its topic up there once, then walks
//! the trie, which holds only filters with a `+` or `#` level.
//!
//! Trie: one node per distinct wildcard-filter prefix. `+` has its own child slot;
//! `#` is always a filter's last level, so it needs no node: its subscribers
//! sit on the parent node, tagged [`Tail::Hash`], in the same list as the
//! filters that end exactly there ([`Tail::End`]); one list, because a node
//! rarely has both and a second list would cost every node 16 bytes.
//!
//! Invariants:
//! - every node other than the root holds a subscriber or has a child: the
//!   last removal in a branch prunes it, so client churn cannot grow the trie;
//!   likewise an exact-map entry holds at least one subscriber;
//! - a filter is in the exact map if and only if it has no wildcard level;
//! - a key appears at most once in each subscriber list;
//! - `len` is the total number of (filter, key) entries.
//!
//! Matching walks the topic with `split_once('/')`, recursing only into
//! existing children, so the recursion depth is bounded by the longest
//! inserted filter (itself bounded by `max_topic_levels`) and a match never
//! allocates.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use super::key::Key;
use super::levels::{next_level, LevelMap};
use super::name::TopicFilter;
use super::subs::SubList;

/// Below this many entries the exact-filter map is never shrunk: rehashing
/// a small table saves too little to be worth doing on every removal.
const EXACT_SHRINK_MIN: usize = 64;

/// How a filter whose subscribers sit on a node ends there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// The filter's last level is this node's.
    End,
    /// The filter ends in `/#` here (or is `#` alone, at the root).
    Hash,
}

struct Node<K, V> {
    children: LevelMap<Node<K, V>>,
    /// The `+` child.
    plus: Option<Box<Node<K, V>>>,
    /// Subscribers of the filters ending here, a (key, tail) at most once.
    subs: SubList<(K, Tail), V>,
}

impl<K, V> Node<K, V> {
    fn new() -> Self {
        Node {
            children: LevelMap::default(),
            plus: None,
            subs: SubList::Empty,
        }
    }

    fn is_empty(&self) -> bool {
        self.subs.is_empty() && self.plus.is_none() && self.children.is_empty()
    }

    fn count(&self) -> usize {
        let mut n: usize = 1;
        if let Some(plus) = &self.plus {
            n = n.saturating_add(plus.count());
        }
        self.children
            .for_each(|_, c| n = n.saturating_add(c.count()));
        n
    }
}

/// What the next level of a filter asks of the node reached so far.
enum Step<'f> {
    /// No level left: the filter ends at this node.
    End,
    /// A last level of `#` (a `#` elsewhere is invalid and taken literally).
    Hash,
    /// A `+` level, then the rest.
    Plus(Option<&'f str>),
    /// A literal level, then the rest.
    Level(&'f str, Option<&'f str>),
}

fn step(rest: Option<&str>) -> Step<'_> {
    let Some(rest) = rest else {
        return Step::End;
    };
    match next_level(rest) {
        ("#", None) => Step::Hash,
        ("+", rest) => Step::Plus(rest),
        (level, rest) => Step::Level(level, rest),
    }
}

/// Whether `filter` is stored in the exact map: it has no wildcard level.
/// A `+` or `#` character inside a longer level is invalid in a
/// [`TopicFilter`], so a string holding one never names an exact entry.
fn is_exact(filter: &str) -> bool {
    !filter.contains(['+', '#'])
}

/// Subscriptions: filter → (key → value). `K` is the session id, `V` the
/// subscription options.
pub struct SubscriptionTrie<K, V> {
    /// Filters without wildcards, by their whole text: an exact filter
    /// matches only the identical topic, so one lookup of the topic finds
    /// them all, and a filter costs one map entry rather than a node per
    /// level. The hasher is std's randomly keyed one: filters come from
    /// clients.
    exact: HashMap<Key, SubList<K, V>>,
    /// Filters with a `+` or `#` level.
    root: Node<K, V>,
    len: usize,
}

impl<K: Copy + Eq + Hash, V> Default for SubscriptionTrie<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Eq + Hash, V> SubscriptionTrie<K, V> {
    pub fn new() -> Self {
        SubscriptionTrie {
            exact: HashMap::new(),
            root: Node::new(),
            len: 0,
        }
    }

    /// Adds or replaces the subscription of `key` to `filter`; returns the
    /// old value if replaced.
    pub fn insert(&mut self, filter: &TopicFilter, key: K, value: V) -> Option<V> {
        let old = if filter.has_wildcards() {
            insert_at(&mut self.root, Some(filter.as_str()), key, value)
        } else if let Some(subs) = self.exact.get_mut(filter.as_str().as_bytes()) {
            subs.upsert(key, value)
        } else {
            self.exact
                .insert(Key::new(filter.as_str()), SubList::One((key, value)));
            None
        };
        if old.is_none() {
            self.len = self.len.saturating_add(1);
        }
        old
    }

    /// Removes the subscription of `key` to `filter` (compared as a string,
    /// as UNSUBSCRIBE sends it), pruning nodes left empty.
    pub fn remove(&mut self, filter: &str, key: K) -> Option<V> {
        let old = if is_exact(filter) {
            self.remove_exact(filter, key)
        } else {
            remove_at(&mut self.root, Some(filter), key)
        };
        if old.is_some() {
            self.len = self.len.saturating_sub(1);
        }
        old
    }

    fn remove_exact(&mut self, filter: &str, key: K) -> Option<V> {
        let subs = self.exact.get_mut(filter.as_bytes())?;
        let old = subs.take(&key);
        if subs.is_empty() {
            self.exact.remove(filter.as_bytes());
            // Churn must not leave a table sized for a past peak behind.
            let capacity = self.exact.capacity();
            if capacity > EXACT_SHRINK_MIN && self.exact.len() < capacity / 4 {
                self.exact.shrink_to_fit();
            }
        }
        old
    }

    /// The value `key` subscribed to `filter` with, if any.
    pub fn get(&self, filter: &str, key: K) -> Option<&V> {
        if is_exact(filter) {
            return self.exact.get(filter.as_bytes())?.get(&key);
        }
        let mut node = &self.root;
        let mut rest = Some(filter);
        loop {
            let tail = match step(rest) {
                Step::End => Tail::End,
                Step::Hash => Tail::Hash,
                Step::Plus(r) => {
                    node = node.plus.as_deref()?;
                    rest = r;
                    continue;
                }
                Step::Level(level, r) => {
                    node = node.children.get(level)?;
                    rest = r;
                    continue;
                }
            };
            return node.subs.get(&(key, tail));
        }
    }

    /// Calls `f(key, value)` once for every subscription whose filter matches
    /// `topic`; a key subscribed with two matching filters is reported twice.
    /// Order is unspecified. Filters whose first level is `+` or `#` do not
    /// match a topic starting with `$` [MQTT-4.7.2-1].
    pub fn for_each_match(&self, topic: &str, mut f: impl FnMut(K, &V)) {
        if let Some(subs) = self.exact.get(topic.as_bytes()) {
            for (k, v) in subs.as_slice() {
                f(*k, v);
            }
        }
        let root = &self.root;
        let (level, rest) = next_level(topic);
        if !topic.starts_with('$') {
            // [MQTT-4.7.2-1] only non-'$' topics reach `#` and `+` at the root.
            report(root, false, &mut f);
            if let Some(plus) = &root.plus {
                match_at(plus, rest, &mut f);
            }
        }
        if let Some(child) = root.children.get(level) {
            match_at(child, rest, &mut f);
        }
    }

    /// Calls `f(filter, key, value)` for every subscription, in no particular
    /// order. Allocates one buffer to rebuild the filters; for listings and
    /// persistence, not the publish path.
    pub fn for_each(&self, mut f: impl FnMut(&str, K, &V)) {
        for (filter, subs) in &self.exact {
            for (k, v) in subs.as_slice() {
                f(filter.as_str(), *k, v);
            }
        }
        let mut buf = String::new();
        walk_all(&self.root, &mut buf, true, &mut f);
    }

    /// Number of (filter, key) subscriptions.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of trie nodes besides the root (filters without wildcards
    /// take none); zero once every subscription is removed. For tests and
    /// memory statistics.
    pub fn node_count(&self) -> usize {
        self.root.count().saturating_sub(1)
    }

    /// Number of distinct filters without wildcards. For tests and memory
    /// statistics.
    pub fn exact_count(&self) -> usize {
        self.exact.len()
    }
}

impl<K, V> fmt::Debug for SubscriptionTrie<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionTrie")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Reports the subscribers on `node`: those of `…/#` filters, and when the
/// topic ends here (`at_end`) those of filters ending here too.
fn report<K: Copy, V>(node: &Node<K, V>, at_end: bool, f: &mut impl FnMut(K, &V)) {
    for ((k, tail), v) in node.subs.as_slice() {
        if at_end || *tail == Tail::Hash {
            f(*k, v);
        }
    }
}

/// `node` has consumed the topic's levels up to `rest` (`None`: all of them).
fn match_at<K: Copy, V>(node: &Node<K, V>, rest: Option<&str>, f: &mut impl FnMut(K, &V)) {
    // `#` matches the remaining levels, none included: `sport/#` matches `sport`.
    report(node, rest.is_none(), f);
    let Some(rest) = rest else {
        return;
    };
    let (level, rest) = next_level(rest);
    if let Some(plus) = &node.plus {
        match_at(plus, rest, f);
    }
    if let Some(child) = node.children.get(level) {
        match_at(child, rest, f);
    }
}

fn insert_at<K: Eq, V>(node: &mut Node<K, V>, rest: Option<&str>, key: K, value: V) -> Option<V> {
    match step(rest) {
        Step::End => node.subs.upsert((key, Tail::End), value),
        Step::Hash => node.subs.upsert((key, Tail::Hash), value),
        Step::Plus(r) => {
            let plus = node.plus.get_or_insert_with(|| Box::new(Node::new()));
            insert_at(plus, r, key, value)
        }
        Step::Level(level, r) => node
            .children
            .with_child_or_insert(level, Node::new, |c| insert_at(c, r, key, value)),
    }
}

fn remove_at<K: Eq, V>(node: &mut Node<K, V>, rest: Option<&str>, key: K) -> Option<V> {
    match step(rest) {
        Step::End => node.subs.take(&(key, Tail::End)),
        Step::Hash => node.subs.take(&(key, Tail::Hash)),
        Step::Plus(r) => {
            let plus = node.plus.as_deref_mut()?;
            let old = remove_at(plus, r, key);
            if plus.is_empty() {
                node.plus = None;
            }
            old
        }
        Step::Level(level, r) => node
            .children
            .with_child_then_prune(level, |c| remove_at(c, r, key), Node::is_empty)
            .flatten(),
    }
}

/// Appends `level` to the filter being rebuilt in `buf`.
fn push_level(buf: &mut String, at_root: bool, level: &str) {
    if !at_root {
        buf.push('/');
    }
    buf.push_str(level);
}

fn walk_all<K: Copy, V>(
    node: &Node<K, V>,
    buf: &mut String,
    at_root: bool,
    f: &mut impl FnMut(&str, K, &V),
) {
    let mark = buf.len();
    for ((k, tail), v) in node.subs.as_slice() {
        if *tail == Tail::Hash {
            push_level(buf, at_root, "#");
        }
        f(buf, *k, v);
        buf.truncate(mark);
    }
    if let Some(plus) = &node.plus {
        push_level(buf, at_root, "+");
        walk_all(plus, buf, false, f);
        buf.truncate(mark);
    }
    node.children.for_each(|level, child| {
        push_level(buf, at_root, level);
        walk_all(child, buf, false, f);
        buf.truncate(mark);
    });
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

    fn trie(filters: &[(&str, u32)]) -> SubscriptionTrie<u32, String> {
        let mut t = SubscriptionTrie::new();
        for (f, k) in filters {
            assert_eq!(t.insert(&filter(f), *k, (*f).to_owned()), None);
        }
        t
    }

    fn hits(t: &SubscriptionTrie<u32, String>, topic: &str) -> Vec<(u32, String)> {
        let mut v = Vec::new();
        t.for_each_match(topic, |k, f| v.push((k, f.clone())));
        v.sort();
        v
    }

    fn hit(list: &[(u32, &str)]) -> Vec<(u32, String)> {
        let mut v: Vec<_> = list.iter().map(|(k, f)| (*k, (*f).to_owned())).collect();
        v.sort();
        v
    }

    #[test]
    fn a_node_is_five_words() {
        // Children (2), `+` child (1), subscriber list (2).
        // At most five 64-bit words (24 bytes on 32-bit targets).
        assert!(std::mem::size_of::<Node<u32, u32>>() <= 40);
    }

    #[test]
    fn insert_replaces_and_counts() {
        let mut t = SubscriptionTrie::new();
        assert!(t.is_empty());
        assert_eq!(t.insert(&filter("a/b"), 1, 0u8), None);
        assert_eq!(t.insert(&filter("a/b"), 1, 1u8), Some(0));
        assert_eq!(t.insert(&filter("a/b"), 2, 2u8), None);
        assert_eq!(t.insert(&filter("a/#"), 1, 3u8), None);
        assert_eq!(t.len(), 3);
        assert_eq!(t.get("a/b", 1), Some(&1));
        assert_eq!(t.get("a/#", 1), Some(&3));
        assert_eq!(t.get("a", 1), None);
        assert_eq!(t.get("a/+", 1), None);
        assert_eq!(format!("{t:?}"), "SubscriptionTrie { len: 3, .. }");
    }

    #[test]
    fn spec_examples_match() {
        // MQTT 3.1.1 §4.7.1.2 and §4.7.1.3.
        let t = trie(&[
            ("sport/tennis/player1/#", 1),
            ("sport/#", 2),
            ("sport/tennis/+", 3),
            ("sport/+", 4),
            ("+/+", 5),
            ("/+", 6),
            ("+", 7),
            ("#", 8),
        ]);
        assert_eq!(
            hits(&t, "sport/tennis/player1"),
            hit(&[
                (1, "sport/tennis/player1/#"),
                (2, "sport/#"),
                (3, "sport/tennis/+"),
                (8, "#")
            ])
        );
        // "sport/#" matches the parent "sport"; "sport/+" does not.
        assert_eq!(
            hits(&t, "sport"),
            hit(&[(2, "sport/#"), (7, "+"), (8, "#")])
        );
        assert_eq!(
            hits(&t, "sport/"),
            hit(&[(2, "sport/#"), (4, "sport/+"), (5, "+/+"), (8, "#")])
        );
        assert_eq!(
            hits(&t, "/finance"),
            hit(&[(5, "+/+"), (6, "/+"), (8, "#")])
        );
        assert_eq!(
            hits(&t, "sport/tennis/player1/score/wimbledon"),
            hit(&[(1, "sport/tennis/player1/#"), (2, "sport/#"), (8, "#")])
        );
    }

    #[test]
    fn dollar_topics_skip_first_level_wildcards() {
        // [MQTT-4.7.2-1]
        let t = trie(&[
            ("#", 1),
            ("+/monitor/Clients", 2),
            ("$SYS/#", 3),
            ("$SYS/monitor/+", 4),
            ("+/#", 5),
        ]);
        assert_eq!(
            hits(&t, "$SYS/monitor/Clients"),
            hit(&[(3, "$SYS/#"), (4, "$SYS/monitor/+")])
        );
        assert_eq!(
            hits(&t, "x/monitor/Clients"),
            hit(&[(1, "#"), (2, "+/monitor/Clients"), (5, "+/#")])
        );
        // Deeper '$' levels are ordinary.
        let t = trie(&[("a/+", 1), ("a/#", 2)]);
        assert_eq!(hits(&t, "a/$x"), hit(&[(1, "a/+"), (2, "a/#")]));
    }

    #[test]
    fn a_key_with_two_matching_filters_is_reported_twice() {
        let t = trie(&[("a/+", 1), ("a/b", 1), ("a/#", 2)]);
        assert_eq!(hits(&t, "a/b"), hit(&[(1, "a/+"), (1, "a/b"), (2, "a/#")]));
        assert_eq!(hits(&t, "b"), hit(&[]));
    }

    #[test]
    fn empty_levels_are_levels() {
        let t = trie(&[("a//b", 1), ("a/+/b", 2), ("/", 3), ("+/+", 4), ("a/b", 5)]);
        assert_eq!(hits(&t, "a//b"), hit(&[(1, "a//b"), (2, "a/+/b")]));
        assert_eq!(hits(&t, "/"), hit(&[(3, "/"), (4, "+/+")]));
        assert_eq!(hits(&t, "a/b"), hit(&[(4, "+/+"), (5, "a/b")]));
    }

    #[test]
    fn removal_prunes_empty_branches() {
        let mut t = trie(&[
            ("a/b/c/d", 1),
            ("a/+/#", 2),
            ("a/b", 3),
            ("#", 4),
            ("x/+", 5),
        ]);
        // Trie nodes a, a/+, x, x/+; "a/b/c/d" and "a/b" are exact entries.
        assert_eq!(t.node_count(), 4);
        assert_eq!(t.exact_count(), 2);
        assert_eq!(t.remove("a/b/c/d", 9), None);
        assert_eq!(t.remove("a/b/c/d", 1), Some("a/b/c/d".to_owned()));
        assert_eq!(t.remove("a/b/c/d", 1), None);
        assert_eq!(t.exact_count(), 1);
        assert_eq!(t.remove("a/+/#", 2), Some("a/+/#".to_owned()));
        assert_eq!(t.node_count(), 2);
        assert_eq!(t.remove("#", 4), Some("#".to_owned()));
        assert_eq!(t.remove("a/b", 3), Some("a/b".to_owned()));
        assert_eq!(t.exact_count(), 0);
        assert_eq!(t.node_count(), 2);
        assert_eq!(t.remove("x/+", 5), Some("x/+".to_owned()));
        assert_eq!(t.node_count(), 0);
        assert!(t.is_empty());
        // Unknown or invalid filters remove nothing.
        assert_eq!(t.remove("#/a", 4), None);
        assert_eq!(t.remove("", 4), None);
    }

    #[test]
    fn wide_levels_use_a_map_and_still_prune() {
        let mut t = SubscriptionTrie::new();
        for i in 0..100u32 {
            t.insert(&filter(&format!("dev/{i}/+")), i, ());
        }
        assert_eq!(t.node_count(), 1 + 100 * 2);
        let mut n = 0;
        t.for_each_match("dev/42/cmd", |k, _| {
            assert_eq!(k, 42);
            n += 1;
        });
        assert_eq!(n, 1);
        for i in 0..100u32 {
            assert_eq!(t.remove(&format!("dev/{i}/+"), i), Some(()));
        }
        assert_eq!(t.node_count(), 0);
    }

    #[test]
    fn exact_filters_share_an_entry_and_the_map_shrinks() {
        let mut t = SubscriptionTrie::new();
        for i in 0..1000u32 {
            t.insert(&filter(&format!("dev/{i}/cmd")), i, ());
            t.insert(&filter("all"), i, ());
        }
        assert_eq!(t.node_count(), 0);
        assert_eq!(t.exact_count(), 1001);
        assert_eq!(t.len(), 2000);
        let mut n = 0;
        t.for_each_match("all", |_, _| n += 1);
        assert_eq!(n, 1000);
        let peak = t.exact.capacity();
        for i in 0..1000u32 {
            assert_eq!(t.remove(&format!("dev/{i}/cmd"), i), Some(()));
            assert_eq!(t.remove("all", i), Some(()));
        }
        assert!(t.is_empty());
        assert_eq!(t.exact_count(), 0);
        assert!(t.exact.capacity() < peak / 4, "{}", t.exact.capacity());
    }

    #[test]
    fn for_each_rebuilds_filters() {
        let list = [
            ("#", 1),
            ("+", 2),
            ("a/+/#", 3),
            ("/", 4),
            ("a//b", 5),
            ("$SYS/x", 6),
            ("a/+/#", 7),
        ];
        let t = trie(&list);
        let mut seen = Vec::new();
        t.for_each(|f, k, v| {
            assert_eq!(f, v);
            seen.push((k, f.to_owned()));
        });
        seen.sort();
        assert_eq!(seen, hit(&list.map(|(f, k)| (k, f))));
    }
}

//! The retained-message tree: topic name → value, matched by a filter when a
//! client subscribes.
//!
//! Owns: the index only. It does not validate topics (callers pass validated
//! names), does not bound the number of messages (the broker enforces
//! `max_retained_messages` before inserting) and does not know what a value
//! is (payload, QoS, expiry are the broker's).
//!
//! Shape: one node per distinct topic prefix, the value at the node of its
//! last level. Topic names have no wildcards, so unlike the subscription trie
//! there are no wildcard slots; the wildcards are in the query instead: `+`
//! walks every child, `#` the node itself and its whole subtree.
//!
//! Invariants:
//! - every node other than the root holds a value or has a child: removal
//!   prunes the emptied branch;
//! - the root never holds a value (a topic has at least one level);
//! - `len` is the number of values.
//!
//! Recursion is bounded by the tree's depth, itself bounded by the topics
//! inserted (`max_topic_levels`).

use std::fmt;

use super::levels::{next_level, LevelMap};

struct Node<V> {
    children: LevelMap<Node<V>>,
    value: Option<V>,
}

impl<V> Node<V> {
    fn new() -> Self {
        Node {
            children: LevelMap::default(),
            value: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.value.is_none() && self.children.is_empty()
    }

    fn count(&self) -> usize {
        let mut n: usize = 1;
        self.children
            .for_each(|_, c| n = n.saturating_add(c.count()));
        n
    }
}

/// Retained messages: topic → `V`.
pub struct RetainedTree<V> {
    root: Node<V>,
    len: usize,
}

impl<V> Default for RetainedTree<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> RetainedTree<V> {
    pub fn new() -> Self {
        RetainedTree {
            root: Node::new(),
            len: 0,
        }
    }

    /// Stores `value` for `topic`; returns the value it replaces.
    pub fn insert(&mut self, topic: &str, value: V) -> Option<V> {
        let old = insert_at(&mut self.root, topic, value);
        if old.is_none() {
            self.len = self.len.saturating_add(1);
        }
        old
    }

    /// Removes the value of `topic`, pruning nodes left empty.
    pub fn remove(&mut self, topic: &str) -> Option<V> {
        let old = remove_at(&mut self.root, topic);
        if old.is_some() {
            self.len = self.len.saturating_sub(1);
        }
        old
    }

    pub fn get(&self, topic: &str) -> Option<&V> {
        let mut node = &self.root;
        for level in topic.split('/') {
            node = node.children.get(level)?;
        }
        node.value.as_ref()
    }

    /// Calls `f(topic, value)` for every retained topic `filter` matches, in
    /// no particular order. A first-level `+` or `#` skips topics starting
    /// with `$` [MQTT-4.7.2-1]. Allocates one buffer to rebuild the topics
    /// (a SUBSCRIBE-time cost, not a publish-time one).
    pub fn for_each_match(&self, filter: &str, mut f: impl FnMut(&str, &V)) {
        let mut buf = String::new();
        match_at(&self.root, Some(filter), &mut buf, true, &mut f);
    }

    /// Calls `f(topic, value)` for every retained message, in no particular
    /// order (the `$` rule does not apply: this is a listing, not a match).
    pub fn for_each(&self, mut f: impl FnMut(&str, &V)) {
        let mut buf = String::new();
        walk_all(&self.root, &mut buf, true, false, &mut f);
    }

    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of nodes besides the root; zero once every message is removed.
    /// For tests and memory statistics.
    pub fn node_count(&self) -> usize {
        self.root.count().saturating_sub(1)
    }
}

impl<V> fmt::Debug for RetainedTree<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetainedTree")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

fn insert_at<V>(node: &mut Node<V>, topic: &str, value: V) -> Option<V> {
    match next_level(topic) {
        (level, None) => node
            .children
            .with_child_or_insert(level, Node::new, |c| c.value.replace(value)),
        (level, Some(rest)) => node
            .children
            .with_child_or_insert(level, Node::new, |c| insert_at(c, rest, value)),
    }
}

fn remove_at<V>(node: &mut Node<V>, topic: &str) -> Option<V> {
    let (level, rest) = next_level(topic);
    node.children
        .with_child_then_prune(
            level,
            |c| match rest {
                None => c.value.take(),
                Some(rest) => remove_at(c, rest),
            },
            Node::is_empty,
        )
        .flatten()
}

/// Appends `level` to the topic being rebuilt in `buf`.
fn push_level(buf: &mut String, at_root: bool, level: &str) {
    if !at_root {
        buf.push('/');
    }
    buf.push_str(level);
}

/// `node` (the topic rebuilt in `buf`) has consumed the filter up to `rest`.
fn match_at<V>(
    node: &Node<V>,
    rest: Option<&str>,
    buf: &mut String,
    at_root: bool,
    f: &mut impl FnMut(&str, &V),
) {
    let Some(rest) = rest else {
        if let Some(v) = &node.value {
            f(buf, v);
        }
        return;
    };
    let mark = buf.len();
    match next_level(rest) {
        // `#` matches this level too (`sport/#` matches `sport`) and all below.
        ("#", _) => walk_all(node, buf, at_root, at_root, f),
        ("+", rest) => node.children.for_each(|level, child| {
            // [MQTT-4.7.2-1] a first-level wildcard skips '$' topics.
            if at_root && level.starts_with('$') {
                return;
            }
            push_level(buf, at_root, level);
            match_at(child, rest, buf, false, f);
            buf.truncate(mark);
        }),
        (level, rest) => {
            if let Some(child) = node.children.get(level) {
                push_level(buf, at_root, level);
                match_at(child, rest, buf, false, f);
                buf.truncate(mark);
            }
        }
    }
}

/// Reports `node`'s value and every value below it. `skip_dollar` drops the
/// root's `$` children [MQTT-4.7.2-1].
fn walk_all<V>(
    node: &Node<V>,
    buf: &mut String,
    at_root: bool,
    skip_dollar: bool,
    f: &mut impl FnMut(&str, &V),
) {
    if let Some(v) = &node.value {
        f(buf, v);
    }
    let mark = buf.len();
    node.children.for_each(|level, child| {
        if skip_dollar && level.starts_with('$') {
            return;
        }
        push_level(buf, at_root, level);
        walk_all(child, buf, false, false, f);
        buf.truncate(mark);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(topics: &[&str]) -> RetainedTree<String> {
        let mut t = RetainedTree::new();
        for topic in topics {
            assert_eq!(t.insert(topic, (*topic).to_owned()), None);
        }
        t
    }

    fn hits(t: &RetainedTree<String>, filter: &str) -> Vec<String> {
        let mut v = Vec::new();
        t.for_each_match(filter, |topic, value| {
            assert_eq!(topic, value);
            v.push(topic.to_owned());
        });
        v.sort();
        v
    }

    fn sorted(list: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        v.sort();
        v
    }

    const TOPICS: [&str; 9] = [
        "sport",
        "sport/tennis/player1",
        "sport/tennis/player1/ranking",
        "sport/tennis/player2",
        "sport/",
        "/finance",
        "$SYS/broker/uptime",
        "$SYS",
        "a//b",
    ];

    #[test]
    fn insert_get_remove() {
        let mut t = RetainedTree::new();
        assert!(t.is_empty());
        assert_eq!(t.insert("a/b", 1), None);
        assert_eq!(t.insert("a/b", 2), Some(1));
        assert_eq!(t.insert("a", 3), None);
        assert_eq!(t.len(), 2);
        assert_eq!(t.get("a/b"), Some(&2));
        assert_eq!(t.get("a"), Some(&3));
        assert_eq!(t.get("a/b/c"), None);
        assert_eq!(t.get("a/"), None);
        assert_eq!(t.remove("a"), Some(3));
        assert_eq!(t.node_count(), 2);
        assert_eq!(t.remove("a"), None);
        assert_eq!(t.remove("a/b"), Some(2));
        assert_eq!(t.node_count(), 0);
        assert!(t.is_empty());
        assert_eq!(format!("{t:?}"), "RetainedTree { len: 0, .. }");
    }

    #[test]
    fn removal_keeps_siblings_and_children() {
        let mut t = tree(&["a/b/c", "a/b", "a/x"]);
        assert_eq!(t.node_count(), 4);
        assert_eq!(t.remove("a/b").as_deref(), Some("a/b"));
        assert_eq!(t.node_count(), 4);
        assert_eq!(t.remove("a/b/c").as_deref(), Some("a/b/c"));
        assert_eq!(t.node_count(), 2);
        assert_eq!(t.get("a/x").map(String::as_str), Some("a/x"));
    }

    #[test]
    fn spec_examples_match() {
        let t = tree(&TOPICS);
        // MQTT 3.1.1 §4.7.1.2: "#" includes the parent level.
        assert_eq!(
            hits(&t, "sport/tennis/player1/#"),
            sorted(&["sport/tennis/player1", "sport/tennis/player1/ranking"])
        );
        assert_eq!(
            hits(&t, "sport/#"),
            sorted(&[
                "sport",
                "sport/",
                "sport/tennis/player1",
                "sport/tennis/player1/ranking",
                "sport/tennis/player2"
            ])
        );
        // MQTT 3.1.1 §4.7.1.3
        assert_eq!(
            hits(&t, "sport/tennis/+"),
            sorted(&["sport/tennis/player1", "sport/tennis/player2"])
        );
        assert_eq!(hits(&t, "sport/+"), sorted(&["sport/"]));
        assert_eq!(hits(&t, "+/+"), sorted(&["sport/", "/finance"]));
        assert_eq!(hits(&t, "/+"), sorted(&["/finance"]));
        assert_eq!(hits(&t, "+"), sorted(&["sport"]));
        assert_eq!(hits(&t, "a//b"), sorted(&["a//b"]));
        assert_eq!(hits(&t, "a/+/b"), sorted(&["a//b"]));
        assert_eq!(hits(&t, "nothing/#"), sorted(&[]));
    }

    #[test]
    fn dollar_topics_skip_first_level_wildcards() {
        // [MQTT-4.7.2-1]
        let t = tree(&TOPICS);
        let all: Vec<&str> = TOPICS
            .iter()
            .copied()
            .filter(|s| !s.starts_with('$'))
            .collect();
        assert_eq!(hits(&t, "#"), sorted(&all));
        assert_eq!(hits(&t, "+/broker/uptime"), sorted(&[]));
        assert_eq!(hits(&t, "$SYS/#"), sorted(&["$SYS", "$SYS/broker/uptime"]));
        assert_eq!(hits(&t, "$SYS/+/uptime"), sorted(&["$SYS/broker/uptime"]));
        let t = tree(&["a/$x", "a/$x/y"]);
        assert_eq!(hits(&t, "a/+"), sorted(&["a/$x"]));
        assert_eq!(hits(&t, "a/#"), sorted(&["a/$x", "a/$x/y"]));
    }

    #[test]
    fn for_each_lists_everything() {
        let t = tree(&TOPICS);
        let mut seen = Vec::new();
        t.for_each(|topic, value| {
            assert_eq!(topic, value);
            seen.push(topic.to_owned());
        });
        seen.sort();
        assert_eq!(seen, sorted(&TOPICS));
    }
}

//! Property tests for the topic layer: the subscription trie and the retained
//! tree agree with the naive `matches()` oracle and with a plain map model,
//! and removing everything leaves no nodes behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};

use edgemq::topic::*;
use proptest::prelude::*;

/// Small alphabets so random filters and topics collide often. "$x" tests the
/// `$` rule at the first level and its absence deeper; "" tests empty levels.
const LEVELS: &[&str] = &["a", "b", "$x", ""];
const TOPIC_LEVELS: &[&str] = &["a", "b", "$x", "", "c"];

fn filter_strategy() -> impl Strategy<Value = String> {
    let level = prop_oneof![4 => prop::sample::select(LEVELS), 1 => Just("+")];
    (prop::collection::vec(level, 0..=4), any::<bool>()).prop_filter_map(
        "empty filter",
        |(levels, hash)| {
            let mut levels: Vec<&str> = levels;
            if hash {
                levels.push("#");
            }
            // A single empty level would be the empty string [MQTT-4.7.3-1].
            Some(levels.join("/")).filter(|f| !f.is_empty())
        },
    )
}

fn topic_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOPIC_LEVELS), 1..=5)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("empty topic", |t| !t.is_empty())
}

fn tf(s: &str) -> TopicFilter {
    TopicFilter::new(s, &TopicLimits::UNBOUNDED).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Insert(String, u8, u32),
    Remove(String, u8),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (filter_strategy(), 0..4u8, any::<u32>()).prop_map(|(f, k, v)| Op::Insert(f, k, v)),
        2 => (filter_strategy(), 0..4u8).prop_map(|(f, k)| Op::Remove(f, k)),
    ]
}

/// Node count the trie should have for these filters: one per distinct
/// prefix of a filter with a wildcard, a trailing `#` level excluded (its
/// subscribers sit on the parent); filters without wildcards take none.
fn expected_trie_nodes<'a>(filters: impl Iterator<Item = &'a str>) -> usize {
    let mut prefixes = BTreeSet::new();
    for f in filters.filter(|f| f.contains(['+', '#'])) {
        let mut levels: Vec<&str> = f.split('/').collect();
        if levels.last() == Some(&"#") {
            levels.pop();
        }
        for i in 1..=levels.len() {
            prefixes.insert(levels[..i].to_vec());
        }
    }
    prefixes.len()
}

fn expected_tree_nodes<'a>(topics: impl Iterator<Item = &'a str>) -> usize {
    let mut prefixes = BTreeSet::new();
    for t in topics {
        let levels: Vec<&str> = t.split('/').collect();
        for i in 1..=levels.len() {
            prefixes.insert(levels[..i].to_vec());
        }
    }
    prefixes.len()
}

fn trie_matches(trie: &SubscriptionTrie<u8, (String, u32)>, topic: &str) -> Vec<(u8, String, u32)> {
    let mut got = Vec::new();
    trie.for_each_match(topic, |k, (f, v)| got.push((k, f.clone(), *v)));
    got.sort();
    got
}

fn model_matches(model: &BTreeMap<(String, u8), u32>, topic: &str) -> Vec<(u8, String, u32)> {
    let mut want: Vec<_> = model
        .iter()
        .filter(|((f, _), _)| matches(f, topic))
        .map(|((f, k), v)| (*k, f.clone(), *v))
        .collect();
    want.sort();
    want
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Every generated filter is valid, and `matches` honours the `$` rule.
    #[test]
    fn generated_inputs_are_valid(f in filter_strategy(), t in topic_strategy()) {
        prop_assert_eq!(validate_topic_filter(&f, &TopicLimits::UNBOUNDED), Ok(()));
        prop_assert_eq!(validate_topic_name(&t, &TopicLimits::UNBOUNDED), Ok(()));
        if t.starts_with('$') && (f.starts_with('+') || f.starts_with('#')) {
            prop_assert!(!matches(&f, &t));
        }
    }

    /// The trie reports the same multiset of (key, filter) as the oracle.
    #[test]
    fn trie_agrees_with_naive_matcher(
        subs in prop::collection::vec((filter_strategy(), 0..4u8), 0..40),
        topics in prop::collection::vec(topic_strategy(), 1..20),
    ) {
        let mut trie = SubscriptionTrie::new();
        let mut model = BTreeMap::new();
        for (i, (f, k)) in subs.iter().enumerate() {
            let v = i as u32;
            let old = trie.insert(&tf(f), *k, (f.clone(), v)).map(|(_, v)| v);
            prop_assert_eq!(old, model.insert((f.clone(), *k), v));
        }
        prop_assert_eq!(trie.len(), model.len());
        for t in &topics {
            prop_assert_eq!(trie_matches(&trie, t), model_matches(&model, t), "topic {}", t);
        }
    }

    /// Random insert/remove sequences keep the trie equal to a map model,
    /// with exactly one node per live prefix; removing everything leaves it
    /// empty with no nodes.
    #[test]
    fn trie_follows_model_through_churn(
        ops in prop::collection::vec(op_strategy(), 0..80),
        topics in prop::collection::vec(topic_strategy(), 1..10),
    ) {
        let mut trie = SubscriptionTrie::new();
        let mut model: BTreeMap<(String, u8), u32> = BTreeMap::new();
        for op in &ops {
            match op {
                Op::Insert(f, k, v) => {
                    let old = trie.insert(&tf(f), *k, (f.clone(), *v)).map(|(_, v)| v);
                    prop_assert_eq!(old, model.insert((f.clone(), *k), *v));
                }
                Op::Remove(f, k) => {
                    let old = trie.remove(f, *k).map(|(_, v)| v);
                    prop_assert_eq!(old, model.remove(&(f.clone(), *k)));
                }
            }
            prop_assert_eq!(trie.len(), model.len());
            prop_assert_eq!(trie.is_empty(), model.is_empty());
            prop_assert_eq!(trie.node_count(), expected_trie_nodes(model.keys().map(|(f, _)| f.as_str())));
            let exact: BTreeSet<&str> = model.keys().map(|(f, _)| f.as_str()).filter(|f| !f.contains(['+', '#'])).collect();
            prop_assert_eq!(trie.exact_count(), exact.len());
        }
        for ((f, k), v) in &model {
            prop_assert_eq!(trie.get(f, *k).map(|(_, v)| *v), Some(*v));
        }
        let mut listed = BTreeMap::new();
        trie.for_each(|f, k, (stored, v)| {
            assert_eq!(f, stored);
            assert!(listed.insert((f.to_owned(), k), *v).is_none());
        });
        prop_assert_eq!(&listed, &model);
        for t in &topics {
            prop_assert_eq!(trie_matches(&trie, t), model_matches(&model, t), "topic {}", t);
        }
        for (f, k) in model.keys() {
            prop_assert!(trie.remove(f, *k).is_some());
        }
        prop_assert!(trie.is_empty());
        prop_assert_eq!(trie.len(), 0);
        prop_assert_eq!(trie.node_count(), 0);
        prop_assert_eq!(trie.exact_count(), 0);
    }

    /// The retained tree reports exactly the stored topics the oracle matches.
    #[test]
    fn retained_agrees_with_naive_matcher(
        ops in prop::collection::vec((topic_strategy(), any::<bool>()), 0..60),
        filters in prop::collection::vec(filter_strategy(), 1..20),
    ) {
        let mut tree = RetainedTree::new();
        let mut model: BTreeMap<String, usize> = BTreeMap::new();
        for (i, (t, insert)) in ops.iter().enumerate() {
            if *insert {
                prop_assert_eq!(tree.insert(t, i), model.insert(t.clone(), i));
            } else {
                prop_assert_eq!(tree.remove(t), model.remove(t));
            }
            prop_assert_eq!(tree.len(), model.len());
            prop_assert_eq!(tree.node_count(), expected_tree_nodes(model.keys().map(String::as_str)));
        }
        for (t, v) in &model {
            prop_assert_eq!(tree.get(t), Some(v));
        }
        for f in &filters {
            let mut got = Vec::new();
            tree.for_each_match(f, |t, v| got.push((t.to_owned(), *v)));
            got.sort();
            let want: Vec<_> = model.iter().filter(|(t, _)| matches(f, t)).map(|(t, v)| (t.clone(), *v)).collect();
            prop_assert_eq!(got, want, "filter {}", f);
        }
        for t in model.keys() {
            prop_assert!(tree.remove(t).is_some());
        }
        prop_assert!(tree.is_empty());
        prop_assert_eq!(tree.node_count(), 0);
    }

    /// Wide levels (past the small-vector threshold) behave the same.
    #[test]
    fn wide_levels_agree(ids in prop::collection::btree_set(0..64u32, 0..40), probe in 0..64u32) {
        let mut trie = SubscriptionTrie::new();
        let mut tree = RetainedTree::new();
        for id in &ids {
            trie.insert(&tf(&format!("d/{id}/+")), 0u8, *id);
            tree.insert(&format!("d/{id}/s"), *id);
        }
        let mut got = Vec::new();
        trie.for_each_match(&format!("d/{probe}/s"), |_, v| got.push(*v));
        prop_assert_eq!(got, if ids.contains(&probe) { vec![probe] } else { vec![] });
        let mut all = Vec::new();
        tree.for_each_match("d/+/s", |_, v| all.push(*v));
        all.sort();
        prop_assert_eq!(all, ids.iter().copied().collect::<Vec<_>>());
        for id in &ids {
            prop_assert_eq!(trie.remove(&format!("d/{id}/+"), 0), Some(*id));
            prop_assert_eq!(tree.remove(&format!("d/{id}/s")), Some(*id));
        }
        prop_assert_eq!(trie.node_count(), 0);
        prop_assert_eq!(tree.node_count(), 0);
    }
}

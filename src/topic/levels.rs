//! The child map of a topic tree node, keyed by level string, and the level
//! splitter the trees walk topics with.
//!
//! Owns: the choice of representation. Most nodes have a handful of children,
//! so they live in an unsorted boxed slice searched linearly (no hashing, one
//! exact-sized allocation, reallocated on each insert or removal, which is
//! cheap at this size; two words in the node instead of a `Vec`'s three); a
//! node that grows past `SMALL_MAX` children (typically a per-device level
//! such as `devices/{id}`) moves to a boxed `HashMap`, and moves back below
//! `SMALL_MIN` so churn does not leave big tables behind. Levels are
//! [`Key`]s: short ones inline, compared as bytes.
//! The `HashMap` keeps std's randomly keyed hasher: level strings come from
//! clients, and a fixed hash would let one flood a single bucket.
//!
//! Invariant: a level appears at most once.

use std::collections::HashMap;

use super::key::Key;

/// Past this many children, a node switches to a hash map.
const SMALL_MAX: usize = 8;
/// At or below this many children, a hash map node switches back to a vector
/// (lower than `SMALL_MAX` so a node hovering at the boundary does not flip
/// on every insert and remove).
const SMALL_MIN: usize = 4;

/// Pushes onto a vector that is usually tiny: the first few slots are
/// allocated one at a time (std's first allocation is four slots, and most
/// nodes have one child or one subscriber), then growth doubles as usual so
/// a popular filter with thousands of subscribers stays amortised O(1).
pub(crate) fn push_compact<T>(v: &mut Vec<T>, item: T) {
    if v.len() == v.capacity() && v.len() < SMALL_MAX {
        v.reserve_exact(1);
    }
    v.push(item);
}

/// Splits the first level off `rest`: `("a", Some("b/c"))` for `"a/b/c"`,
/// `("c", None)` for `"c"`. An empty string is one empty level.
pub(crate) fn next_level(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once('/') {
        Some((level, rest)) => (level, Some(rest)),
        None => (rest, None),
    }
}

/// Children of a node, by level.
#[derive(Debug)]
pub(crate) enum LevelMap<N> {
    Small(Box<[(Key, N)]>),
    // Boxed so every node pays for two words, not a 48-byte `HashMap`; only
    // the rare wide node pays the extra allocation.
    #[allow(clippy::box_collection)]
    Large(Box<HashMap<Key, N>>),
}

impl<N> Default for LevelMap<N> {
    fn default() -> Self {
        LevelMap::Small(Box::default())
    }
}

impl<N> LevelMap<N> {
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            LevelMap::Small(v) => v.is_empty(),
            LevelMap::Large(m) => m.is_empty(),
        }
    }

    pub(crate) fn get(&self, level: &str) -> Option<&N> {
        let level = level.as_bytes();
        match self {
            LevelMap::Small(v) => v
                .iter()
                .find(|(k, _)| k.as_bytes() == level)
                .map(|(_, n)| n),
            LevelMap::Large(m) => m.get(level),
        }
    }

    /// Calls `f` for every child, in no particular order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&str, &N)) {
        match self {
            LevelMap::Small(v) => v.iter().for_each(|(k, n)| f(k.as_str(), n)),
            LevelMap::Large(m) => m.iter().for_each(|(k, n)| f(k.as_str(), n)),
        }
    }

    /// Runs `f` on the child at `level`, creating it with `make` first if it
    /// is missing. `f` runs on a new child before the child is stored, so no
    /// lookup after insertion (and no "cannot fail" unwrap) is needed.
    pub(crate) fn with_child_or_insert<R>(
        &mut self,
        level: &str,
        make: impl FnOnce() -> N,
        f: impl FnOnce(&mut N) -> R,
    ) -> R {
        let bytes = level.as_bytes();
        match self {
            LevelMap::Small(v) => {
                if let Some((_, n)) = v.iter_mut().find(|(k, _)| k.as_bytes() == bytes) {
                    return f(n);
                }
            }
            LevelMap::Large(m) => {
                if let Some(n) = m.get_mut(bytes) {
                    return f(n);
                }
            }
        }
        let mut child = make();
        let r = f(&mut child);
        self.insert_new(Key::new(level), child);
        r
    }

    /// Runs `f` on the child at `level`, if any, then drops the child if
    /// `prune` says it has become empty. `None` when there is no such child.
    pub(crate) fn with_child_then_prune<R>(
        &mut self,
        level: &str,
        f: impl FnOnce(&mut N) -> R,
        prune: impl FnOnce(&N) -> bool,
    ) -> Option<R> {
        let bytes = level.as_bytes();
        match self {
            LevelMap::Small(v) => {
                let pos = v.iter().position(|(k, _)| k.as_bytes() == bytes)?;
                let (_, child) = v.get_mut(pos)?;
                let r = f(child);
                if prune(child) {
                    let mut left = Vec::from(std::mem::take(v));
                    left.swap_remove(pos);
                    *v = left.into_boxed_slice();
                }
                Some(r)
            }
            LevelMap::Large(m) => {
                let child = m.get_mut(bytes)?;
                let r = f(child);
                if prune(child) {
                    m.remove(bytes);
                    if m.len() <= SMALL_MIN {
                        let small: Vec<_> = m.drain().collect();
                        *self = LevelMap::Small(small.into_boxed_slice());
                    }
                }
                Some(r)
            }
        }
    }

    /// Stores a child known to be absent.
    fn insert_new(&mut self, level: Key, child: N) {
        match self {
            LevelMap::Small(v) if v.len() < SMALL_MAX => {
                let mut grown = Vec::from(std::mem::take(v));
                grown.reserve_exact(1);
                grown.push((level, child));
                *v = grown.into_boxed_slice();
            }
            LevelMap::Small(v) => {
                let mut m: HashMap<Key, N> = Vec::from(std::mem::take(v)).into_iter().collect();
                m.insert(level, child);
                *self = LevelMap::Large(Box::new(m));
            }
            LevelMap::Large(m) => {
                m.insert(level, child);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        match self {
            LevelMap::Small(v) => v.len(),
            LevelMap::Large(m) => m.len(),
        }
    }

    #[cfg(test)]
    pub(crate) fn is_large(&self) -> bool {
        matches!(self, LevelMap::Large(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_costs_two_words() {
        // At most two 64-bit words (fewer on 32-bit targets).
        assert!(std::mem::size_of::<LevelMap<u64>>() <= 16);
    }

    #[test]
    fn push_compact_grows_exactly_then_doubles() {
        let mut v = Vec::new();
        for i in 0..SMALL_MAX {
            push_compact(&mut v, i);
            assert_eq!(v.capacity(), i + 1);
        }
        push_compact(&mut v, 0);
        assert!(v.capacity() >= 2 * SMALL_MAX);
    }

    #[test]
    fn next_level_splits_once() {
        assert_eq!(next_level("a/b/c"), ("a", Some("b/c")));
        assert_eq!(next_level("c"), ("c", None));
        assert_eq!(next_level(""), ("", None));
        assert_eq!(next_level("/"), ("", Some("")));
        assert_eq!(next_level("/a"), ("", Some("a")));
    }

    #[test]
    fn grows_into_a_map_and_shrinks_back() {
        let mut m: LevelMap<u32> = LevelMap::default();
        for i in 0..20u32 {
            let level = i.to_string();
            m.with_child_or_insert(&level, || i, |n| *n += 1000);
            assert_eq!(m.is_large(), i as usize >= SMALL_MAX);
        }
        assert_eq!(m.len(), 20);
        for i in 0..20u32 {
            assert_eq!(m.get(&i.to_string()), Some(&(i + 1000)));
        }
        // Existing children are found, not duplicated.
        m.with_child_or_insert("3", || 0, |n| *n += 1);
        assert_eq!(m.get("3"), Some(&1004));
        assert_eq!(m.len(), 20);
        for i in 0..20u32 {
            let r = m.with_child_then_prune(&i.to_string(), |n| *n, |_| true);
            assert_eq!(r, Some(i + if i == 3 { 1001 } else { 1000 }));
            let left = 19 - i as usize;
            assert_eq!(m.len(), left);
            assert_eq!(m.is_large(), left > SMALL_MIN, "{left}");
        }
        assert!(m.is_empty());
        assert_eq!(m.with_child_then_prune("x", |n| *n, |_| true), None);
    }

    #[test]
    fn prune_keeps_children_that_are_not_empty() {
        let mut m: LevelMap<u32> = LevelMap::default();
        m.with_child_or_insert("", || 7, |_| ());
        assert_eq!(m.with_child_then_prune("", |n| *n, |n| *n == 0), Some(7));
        assert_eq!(m.get(""), Some(&7));
        let mut seen = Vec::new();
        m.for_each(|k, n| seen.push((k.to_owned(), *n)));
        assert_eq!(seen, vec![(String::new(), 7)]);
    }
}

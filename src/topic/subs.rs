//! The subscribers of one filter: (key, value) pairs, a key at most once.
//!
//! Owns: the representation. Most filters have exactly one subscriber (a
//! device's own command topic), so that one is stored inline and costs no
//! allocation; a second one moves the list to a boxed vector, so the list is
//! 16 bytes for the usual `(u32, 4-byte)` pair instead of a 24-byte `Vec`
//! plus a heap block per filter.
//!
//! Invariants: a key appears at most once; `Many` holds at least two pairs
//! (one left goes back inline, none goes back to `Empty`).

use super::levels::push_compact;

#[derive(Debug, Default)]
pub(crate) enum SubList<K, V> {
    #[default]
    Empty,
    One((K, V)),
    // Boxed so the list costs a pointer, not a `Vec`, in every node and map
    // entry; only filters with several subscribers pay the extra block.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<(K, V)>>),
}

impl<K, V> SubList<K, V> {
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, SubList::Empty)
    }

    /// All pairs, without allocating: the publish path iterates this.
    pub(crate) fn as_slice(&self) -> &[(K, V)] {
        match self {
            SubList::Empty => &[],
            SubList::One(pair) => std::slice::from_ref(pair),
            SubList::Many(v) => v,
        }
    }
}

impl<K: Eq, V> SubList<K, V> {
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.as_slice()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Adds or replaces the value of `key`; returns the old value if replaced.
    pub(crate) fn upsert(&mut self, key: K, value: V) -> Option<V> {
        match self {
            SubList::Empty => {
                *self = SubList::One((key, value));
                None
            }
            SubList::One((k, v)) if *k == key => Some(std::mem::replace(v, value)),
            SubList::One(_) => {
                let SubList::One(first) = std::mem::take(self) else {
                    return None;
                };
                *self = SubList::Many(Box::new(vec![first, (key, value)]));
                None
            }
            SubList::Many(many) => match many.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => Some(std::mem::replace(v, value)),
                None => {
                    push_compact(many, (key, value));
                    None
                }
            },
        }
    }

    /// Removes `key`; returns its value if it was there.
    pub(crate) fn take(&mut self, key: &K) -> Option<V> {
        match self {
            SubList::Empty => None,
            SubList::One((k, _)) if k != key => None,
            SubList::One(_) => match std::mem::take(self) {
                SubList::One((_, v)) => Some(v),
                _ => None,
            },
            SubList::Many(many) => {
                let pos = many.iter().position(|(k, _)| k == key)?;
                let (_, v) = many.swap_remove(pos);
                if many.len() == 1 {
                    if let Some(last) = many.pop() {
                        *self = SubList::One(last);
                    }
                } else if many.len() < many.capacity() / 2 {
                    many.shrink_to_fit();
                }
                Some(v)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_costs_two_words() {
        // At most two 64-bit words (12 bytes on 32-bit targets).
        assert!(std::mem::size_of::<SubList<u32, u32>>() <= 16);
    }

    #[test]
    fn grows_inline_then_boxed_and_back() {
        let mut s: SubList<u32, u8> = SubList::default();
        assert!(s.is_empty());
        assert_eq!(s.take(&1), None);
        assert_eq!(s.upsert(1, 10), None);
        assert!(matches!(s, SubList::One(_)));
        assert_eq!(s.upsert(1, 11), Some(10));
        assert_eq!(s.take(&2), None);
        for k in 2..20 {
            assert_eq!(s.upsert(k, k as u8), None);
        }
        assert_eq!(s.upsert(5, 50), Some(5));
        assert_eq!(s.as_slice().len(), 19);
        assert_eq!(s.get(&5), Some(&50));
        assert_eq!(s.get(&1), Some(&11));
        assert_eq!(s.get(&99), None);
        for k in 2..20 {
            assert!(s.take(&k).is_some());
        }
        assert!(matches!(s, SubList::One((1, 11))));
        assert_eq!(s.take(&1), Some(11));
        assert!(s.is_empty());
        assert_eq!(s.as_slice().len(), 0);
    }
}

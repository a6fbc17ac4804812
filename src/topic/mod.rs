//! TEMPORARY stub (lead's), replaced by the topic helper's module.
use std::collections::HashMap;
#[derive(Debug, Clone, Copy)]
pub struct TopicLimits { pub max_length: usize, pub max_levels: usize, pub strict: bool }
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError { Empty, TooLong, TooManyLevels, NullCharacter, WildcardInName, BadWildcard, BadCharacter }
impl std::fmt::Display for TopicError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") } }
pub fn validate_topic_name(topic: &str, limits: &TopicLimits) -> Result<(), TopicError> {
    if topic.is_empty() { return Err(TopicError::Empty) }
    if topic.len() > limits.max_length { return Err(TopicError::TooLong) }
    if topic.contains(['+', '#']) { return Err(TopicError::WildcardInName) }
    Ok(())
}
pub fn validate_topic_filter(filter: &str, limits: &TopicLimits) -> Result<(), TopicError> {
    if filter.is_empty() { return Err(TopicError::Empty) }
    if filter.len() > limits.max_length { return Err(TopicError::TooLong) }
    Ok(())
}
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) { return false }
    let mut f = filter.split('/'); let mut t = topic.split('/');
    loop { match (f.next(), t.next()) {
        (Some("#"), _) => return true,
        (Some("+"), Some(_)) => {}
        (Some(a), Some(b)) if a == b => {}
        (None, None) => return true,
        _ => return false,
    } }
}
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicFilter(Box<str>);
impl TopicFilter { pub fn new(s: &str, limits: &TopicLimits) -> Result<TopicFilter, TopicError> { validate_topic_filter(s, limits)?; Ok(TopicFilter(s.into())) } pub fn as_str(&self) -> &str { &self.0 } }
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicName(Box<str>);
impl TopicName { pub fn new(s: &str, limits: &TopicLimits) -> Result<TopicName, TopicError> { validate_topic_name(s, limits)?; Ok(TopicName(s.into())) } pub fn as_str(&self) -> &str { &self.0 } }
pub struct SubscriptionTrie<K, V> { subs: Vec<(Box<str>, K, V)> }
impl<K: Copy + Eq + std::hash::Hash, V> SubscriptionTrie<K, V> {
    pub fn new() -> Self { Self { subs: Vec::new() } }
    pub fn insert(&mut self, filter: &TopicFilter, key: K, value: V) -> Option<V> {
        for s in self.subs.iter_mut() { if &*s.0 == filter.as_str() && s.1 == key { return Some(std::mem::replace(&mut s.2, value)) } }
        self.subs.push((filter.as_str().into(), key, value)); None
    }
    pub fn remove(&mut self, filter: &str, key: K) -> Option<V> {
        let i = self.subs.iter().position(|s| &*s.0 == filter && s.1 == key)?; Some(self.subs.swap_remove(i).2)
    }
    pub fn for_each_match(&self, topic: &str, mut f: impl FnMut(K, &V)) { for s in &self.subs { if matches(&s.0, topic) { f(s.1, &s.2) } } }
    pub fn len(&self) -> usize { self.subs.len() }
    pub fn is_empty(&self) -> bool { self.subs.is_empty() }
}
pub struct RetainedTree<V> { map: HashMap<Box<str>, V> }
impl<V> RetainedTree<V> {
    pub fn new() -> Self { Self { map: HashMap::new() } }
    pub fn insert(&mut self, topic: &str, value: V) -> Option<V> { self.map.insert(topic.into(), value) }
    pub fn remove(&mut self, topic: &str) -> Option<V> { self.map.remove(topic) }
    pub fn get(&self, topic: &str) -> Option<&V> { self.map.get(topic) }
    pub fn for_each_match(&self, filter: &str, mut f: impl FnMut(&str, &V)) { for (t, v) in &self.map { if matches(filter, t) { f(t, v) } } }
    pub fn len(&self) -> usize { self.map.len() }
    pub fn is_empty(&self) -> bool { self.map.is_empty() }
}

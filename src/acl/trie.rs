//! The compiled rules of one ACL section: a trie keyed by topic level whose
//! nodes carry access masks, and the three walks the checks need.
//!
//! Owns: the representation and the matching rules. No I/O, no logging, no
//! allocation on the check path. Shape, as the subscription trie's
//! (`topic/trie.rs`): literal children in a [`LevelMap`], one `+` child, and
//! a filter's trailing `#` stored on its parent node (`hash`), so that a
//! check visits only the nodes of rules that can match — a handful, however
//! long the file. A level holding `%c` or `%u` (pattern rules only) is a
//! [`Template`] child, compared with the client's id and username while
//! walking: the rules are never copied per client.
//!
//! Masks: [`READ`], [`WRITE`] and [`DENY`] bits; `end` for rules ending at a
//! node, `hash` for rules ending in `/#` there, `below` the union of both
//! over every descendant (for a subscription `…/#`, and for a deny template
//! an identity cannot fill).
//!
//! Invariant: the depth of the trie is at most the number of levels of the
//! longest rule, which the parser bounds (`MAX_RULE_LEVELS`), so the
//! recursive walks are bounded too.

use crate::topic::{next_level, LevelMap};

use super::{Who, DENY};

/// One part of a template level.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(Box<str>),
    ClientId,
    Username,
}

/// A level of a pattern rule with `%c` and/or `%u` in it (`%c`, `dev-%c`,
/// `%u_%c`), substituted at match time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Template {
    parts: Box<[Part]>,
}

/// What a template makes of one level for one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    Matches,
    Differs,
    /// The identity cannot stand in a level (it holds `/`, `+` or `#`):
    /// a grant never matches, a deny matches whatever follows.
    Unusable,
}

/// An identity that cannot be one topic level: substituted, it would
/// reach other levels (`/`) or act as a wildcard (`+`, `#`).
fn unusable(identity: &str) -> bool {
    identity.contains(['/', '+', '#'])
}

impl Template {
    /// The template of `level`, or `None` when it substitutes nothing.
    pub(super) fn parse(level: &str) -> Option<Template> {
        if !level.contains("%c") && !level.contains("%u") {
            return None;
        }
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = level;
        while let Some(at) = rest.find('%') {
            let (before, from) = rest.split_at(at);
            text.push_str(before);
            let part = match from.get(..2) {
                Some("%c") => Some(Part::ClientId),
                Some("%u") => Some(Part::Username),
                _ => None,
            };
            match part {
                Some(part) => {
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text).into()));
                    }
                    parts.push(part);
                    rest = from.get(2..).unwrap_or_default();
                }
                None => {
                    text.push('%');
                    rest = from.get(1..).unwrap_or_default();
                }
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text.into()));
        }
        Some(Template {
            parts: parts.into_boxed_slice(),
        })
    }

    /// What this level is for `who`. A pattern with `%u` does not apply
    /// to a client without a username (mosquitto's rule); an identity that
    /// cannot be a level makes the template [`Fill::Unusable`] whatever
    /// the level says.
    fn fill(&self, level: &str, who: &Who<'_>) -> Fill {
        let mut fillable = true;
        for part in self.parts.iter() {
            match (part, who.username) {
                (Part::Username, None) => return Fill::Differs,
                (Part::Username, Some(name)) => fillable &= !unusable(name),
                (Part::ClientId, _) => fillable &= !unusable(who.client_id),
                (Part::Text(_), _) => {}
            }
        }
        if !fillable {
            return Fill::Unusable;
        }
        let mut rest = level;
        for part in self.parts.iter() {
            let piece = match part {
                Part::Text(text) => text,
                Part::ClientId => who.client_id,
                Part::Username => who.username.unwrap_or_default(),
            };
            match rest.strip_prefix(piece) {
                Some(after) => rest = after,
                None => return Fill::Differs,
            }
        }
        if rest.is_empty() {
            Fill::Matches
        } else {
            Fill::Differs
        }
    }
}

#[derive(Default)]
struct Node {
    children: LevelMap<Node>,
    plus: Option<Box<Node>>,
    /// Pattern levels; few per node, searched in order.
    templates: Vec<(Template, Node)>,
    end: u8,
    hash: u8,
    below: u8,
}

impl Node {
    fn subtree(&self) -> u8 {
        self.end | self.hash | self.below
    }
}

/// The rules of one section (anonymous, one user, the patterns, or one
/// client's own lists).
#[derive(Default)]
pub(super) struct RuleTrie {
    root: Node,
    rules: usize,
}

/// Where the walk of a subscription filter stands on `$` topics
/// [MQTT-4.7.2-1]: a rule or filter whose first level is a wildcard does
/// not reach a topic starting with `$`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum First {
    /// The filter's first level is a literal starting with `$`.
    Dollar,
    Other,
}

impl RuleTrie {
    /// Adds a rule: `filter` (a valid topic filter) with `mask`.
    /// `templates`: whether `%c` / `%u` levels substitute (pattern rules).
    pub(super) fn insert(&mut self, filter: &str, mask: u8, templates: bool) {
        insert_at(&mut self.root, Some(filter), mask, templates);
        self.rules = self.rules.saturating_add(1);
    }

    pub(super) fn len(&self) -> usize {
        self.rules
    }

    /// The union of the masks of every rule matching `topic` for `who`;
    /// stops early once it holds [`DENY`].
    pub(super) fn collect(&self, topic: &str, who: &Who<'_>) -> u8 {
        let mut acc = 0;
        let dollar = topic.starts_with('$');
        collect_at(&self.root, Some(topic), who, dollar, &mut acc);
        acc
    }

    /// The union of the masks of the rules that match every topic `filter`
    /// matches (each rule on its own: two rules that only together cover
    /// the filter do not count).
    pub(super) fn cover(&self, filter: &str, who: &Who<'_>) -> u8 {
        let mut acc = 0;
        cover_at(&self.root, Some(filter), who, first(filter), &mut acc);
        acc
    }

    /// The union of the masks of the rules that match at least one topic
    /// `filter` matches. May say more than exact (a deny on `$SYS/…` for a
    /// filter `#`): it only decides whether deliveries are checked one by
    /// one, so erring on that side costs time, never access.
    pub(super) fn overlap(&self, filter: &str, who: &Who<'_>) -> u8 {
        let mut acc = 0;
        overlap_at(&self.root, Some(filter), who, first(filter), &mut acc);
        acc
    }
}

fn first(filter: &str) -> First {
    if filter.starts_with('$') {
        First::Dollar
    } else {
        First::Other
    }
}

fn insert_at(node: &mut Node, rest: Option<&str>, mask: u8, templates: bool) {
    let Some(rest) = rest else {
        node.end |= mask;
        return;
    };
    let (level, rest) = next_level(rest);
    match (level, rest) {
        ("#", None) => {
            node.hash |= mask;
            return;
        }
        ("+", _) => {
            let plus = node.plus.get_or_insert_with(Box::default);
            insert_at(plus, rest, mask, templates);
        }
        _ => match Template::parse(level).filter(|_| templates) {
            Some(template) => {
                let at = node.templates.iter().position(|(t, _)| *t == template);
                let child = match at.and_then(|at| node.templates.get_mut(at)) {
                    Some((_, child)) => child,
                    None => {
                        node.templates.push((template, Node::default()));
                        match node.templates.last_mut() {
                            Some((_, child)) => child,
                            None => return,
                        }
                    }
                };
                insert_at(child, rest, mask, templates);
            }
            None => node
                .children
                .with_child_or_insert(level, Node::default, |child| {
                    insert_at(child, rest, mask, templates)
                }),
        },
    }
    node.below |= mask;
}

/// `dollar`: the topic starts with `$`, so the root's `#` and `+` rules do
/// not reach it [MQTT-4.7.2-1].
fn collect_at(node: &Node, rest: Option<&str>, who: &Who<'_>, dollar: bool, acc: &mut u8) {
    if !dollar {
        // `a/#` matches `a` itself [MQTT-4.7.1-2].
        *acc |= node.hash;
    }
    let Some(rest) = rest else {
        *acc |= node.end;
        return;
    };
    if *acc & DENY != 0 {
        return;
    }
    let (level, rest) = next_level(rest);
    if let Some(child) = node.children.get(level) {
        collect_at(child, rest, who, false, acc);
    }
    if let (Some(plus), false) = (&node.plus, dollar) {
        collect_at(plus, rest, who, false, acc);
    }
    for (template, child) in &node.templates {
        match template.fill(level, who) {
            Fill::Matches => collect_at(child, rest, who, false, acc),
            Fill::Unusable => *acc |= child.subtree() & DENY,
            Fill::Differs => {}
        }
    }
}

fn cover_at(node: &Node, rest: Option<&str>, who: &Who<'_>, first: First, acc: &mut u8) {
    if first == First::Other {
        *acc |= node.hash;
    }
    let Some(rest) = rest else {
        *acc |= node.end;
        return;
    };
    let (level, rest) = next_level(rest);
    match (level, rest) {
        // Only a `#` rule (counted above) covers a filter's `#`.
        ("#", None) => {}
        // A filter's `+` is covered by a rule's `+` only (and refused
        // under a deny template the client cannot fill).
        ("+", _) => {
            if let Some(plus) = &node.plus {
                cover_at(plus, rest, who, First::Other, acc);
            }
            for (template, child) in &node.templates {
                if template.fill(level, who) == Fill::Unusable {
                    *acc |= child.subtree() & DENY;
                }
            }
        }
        _ => {
            if let Some(child) = node.children.get(level) {
                cover_at(child, rest, who, First::Other, acc);
            }
            if let (Some(plus), First::Other) = (&node.plus, first) {
                cover_at(plus, rest, who, First::Other, acc);
            }
            for (template, child) in &node.templates {
                match template.fill(level, who) {
                    Fill::Matches => cover_at(child, rest, who, First::Other, acc),
                    Fill::Unusable => *acc |= child.subtree() & DENY,
                    Fill::Differs => {}
                }
            }
        }
    }
}

fn overlap_at(node: &Node, rest: Option<&str>, who: &Who<'_>, first: First, acc: &mut u8) {
    if first == First::Other {
        *acc |= node.hash;
    }
    let Some(rest) = rest else {
        *acc |= node.end;
        return;
    };
    let (level, rest) = next_level(rest);
    match (level, rest) {
        // `a/#` reaches `a` and everything below it.
        ("#", None) => *acc |= node.end | node.below,
        ("+", _) => {
            node.children
                .for_each(|_, child| overlap_at(child, rest, who, First::Other, acc));
            if let Some(plus) = &node.plus {
                overlap_at(plus, rest, who, First::Other, acc);
            }
            for (_, child) in &node.templates {
                overlap_at(child, rest, who, First::Other, acc);
            }
        }
        _ => {
            if let Some(child) = node.children.get(level) {
                overlap_at(child, rest, who, First::Other, acc);
            }
            if let (Some(plus), First::Other) = (&node.plus, first) {
                overlap_at(plus, rest, who, First::Other, acc);
            }
            for (template, child) in &node.templates {
                match template.fill(level, who) {
                    Fill::Matches => overlap_at(child, rest, who, First::Other, acc),
                    Fill::Unusable => *acc |= child.subtree() & DENY,
                    Fill::Differs => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{READ, WRITE};
    use super::*;

    const WHO: Who<'static> = Who {
        client_id: "dev1",
        username: Some("ann"),
    };

    fn trie(rules: &[(&str, u8)]) -> RuleTrie {
        let mut t = RuleTrie::default();
        for (filter, mask) in rules {
            t.insert(filter, *mask, true);
        }
        t
    }

    #[test]
    fn templates_split_on_substitutions() {
        assert_eq!(Template::parse("plain"), None);
        let t = Template::parse("a%cb%u%x").unwrap();
        assert_eq!(
            &*t.parts,
            &[
                Part::Text("a".into()),
                Part::ClientId,
                Part::Text("b".into()),
                Part::Username,
                Part::Text("%x".into())
            ]
        );
        assert_eq!(t.fill("adev1bann%x", &WHO), Fill::Matches);
        assert_eq!(t.fill("adev1bann%", &WHO), Fill::Differs);
        let anonymous = Who {
            username: None,
            ..WHO
        };
        assert_eq!(t.fill("adev1b%x", &anonymous), Fill::Differs);
        let wild = Who {
            client_id: "+",
            ..WHO
        };
        assert_eq!(t.fill("anything", &wild), Fill::Unusable);
    }

    #[test]
    fn collect_follows_levels_wildcards_and_templates() {
        let t = trie(&[
            ("a/b", READ),
            ("a/+/c", WRITE),
            ("x/#", READ),
            ("devices/%c/#", READ | WRITE),
            ("#", READ),
        ]);
        assert_eq!(t.collect("a/b", &WHO), READ);
        assert_eq!(t.collect("a/z/c", &WHO), READ | WRITE);
        assert_eq!(t.collect("x", &WHO), READ);
        assert_eq!(t.collect("devices/dev1/t", &WHO), READ | WRITE);
        assert_eq!(t.collect("devices/dev2/t", &WHO), READ);
        // [MQTT-4.7.2-1]: `#` does not reach `$` topics.
        assert_eq!(t.collect("$SYS/x", &WHO), 0);
    }

    #[test]
    fn cover_and_overlap() {
        let t = trie(&[("a/#", READ), ("b/+/c", READ), ("a/secret", DENY)]);
        assert_eq!(t.cover("a/b/+", &WHO), READ);
        assert_eq!(t.cover("a/#", &WHO), READ);
        assert_eq!(t.cover("#", &WHO), 0);
        assert_eq!(t.cover("b/+/c", &WHO), READ);
        assert_eq!(t.cover("b/x/c", &WHO), READ);
        assert_eq!(t.cover("b/#", &WHO), 0);
        assert_eq!(t.cover("a/secret", &WHO), READ | DENY);
        assert_eq!(t.overlap("a/+", &WHO), READ | DENY);
        assert_eq!(t.overlap("a/b", &WHO), READ);
        assert_eq!(t.overlap("#", &WHO), READ | DENY);
    }
}

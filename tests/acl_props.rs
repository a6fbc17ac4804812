//! Property tests for access control: the compiled rules
//! (`edgemq::acl`, tries keyed by level) agree with a naive reference that
//! goes through every rule of the file, substituting `%c` and `%u` as
//! text — for PUBLISH and delivery checks, and for SUBSCRIBE verdicts —
//! and an allowed filter that needs no per-delivery check only reaches
//! readable topics (docs/security.md, "Access control").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use edgemq::acl::{Access, Acl, Rules, SubscribeVerdict, Who};
use edgemq::topic::matches;
use proptest::prelude::*;

const READ: u8 = 1;
const WRITE: u8 = 2;
const DENY: u8 = 4;

/// Small alphabets so rules, filters and topics collide often; "dev" and
/// "u1" are also identities, "$s" tests the `$` rule, "" empty levels.
const RULE_LEVELS: &[&str] = &["a", "b", "dev", "u1", "$s", "", "%c", "%u", "d-%c", "+"];
const TOPIC_LEVELS: &[&str] = &["a", "b", "dev", "u1", "$s", "", "d-dev", "d-a"];
const CLIENT_IDS: &[&str] = &["dev", "a", "x/y", "+", "#"];
const USERNAMES: &[Option<&str>] = &[None, Some("u1"), Some("a"), Some("b+")];

#[derive(Debug, Clone)]
struct RefRule {
    /// `None`: a pattern; `Some(None)`: the anonymous section;
    /// `Some(Some(u))`: user u's.
    section: Option<Option<String>>,
    mask: u8,
    filter: String,
}

impl RefRule {
    fn applies(&self, who: &Who<'_>) -> bool {
        match &self.section {
            None => true,
            Some(None) => who.username.is_none(),
            Some(Some(user)) => who.username == Some(user.as_str()),
        }
    }

    fn is_pattern(&self) -> bool {
        self.section.is_none()
    }
}

/// What a rule level is for `who`: `Some(text)` substituted, `None` when
/// it does not apply (`%u` without a username), `Err(())` when the
/// identity cannot be a level.
fn substitute(level: &str, who: &Who<'_>, pattern: bool) -> Result<Option<String>, ()> {
    if !pattern || (!level.contains("%c") && !level.contains("%u")) {
        return Ok(Some(level.to_owned()));
    }
    if level.contains("%u") && who.username.is_none() {
        return Ok(None);
    }
    let bad = |s: &str| s.contains(['/', '+', '#']);
    if (level.contains("%c") && bad(who.client_id))
        || (level.contains("%u") && who.username.is_some_and(bad))
    {
        return Err(());
    }
    Ok(Some(
        level
            .replace("%c", who.client_id)
            .replace("%u", who.username.unwrap_or_default()),
    ))
}

/// Does the rule match `topic` for `who`? An unusable identity makes a
/// deny match and a grant not.
fn rule_matches(rule: &RefRule, topic: &str, who: &Who<'_>) -> bool {
    let deny = rule.mask & DENY != 0;
    let levels: Vec<&str> = rule.filter.split('/').collect();
    if topic.starts_with('$') && matches!(levels[0], "+" | "#") {
        return false;
    }
    let mut t = topic.split('/');
    for level in levels {
        if level == "#" {
            return true;
        }
        let Some(topic_level) = t.next() else {
            return false;
        };
        if level == "+" {
            continue;
        }
        match substitute(level, who, rule.is_pattern()) {
            Err(()) => return deny,
            Ok(None) => return false,
            Ok(Some(text)) if text == topic_level => {}
            Ok(Some(_)) => return false,
        }
    }
    t.next().is_none()
}

/// Does the rule match every topic `filter` matches?
fn rule_covers(rule: &RefRule, filter: &str, who: &Who<'_>) -> bool {
    let deny = rule.mask & DENY != 0;
    let levels: Vec<&str> = rule.filter.split('/').collect();
    let filter_levels: Vec<&str> = filter.split('/').collect();
    if filter.starts_with('$') && matches!(levels[0], "+" | "#") {
        return false;
    }
    let mut f = filter_levels.iter();
    for level in levels {
        if level == "#" {
            return true;
        }
        let Some(&f_level) = f.next() else {
            return false;
        };
        if f_level == "#" {
            return false;
        }
        if level == "+" {
            continue;
        }
        match substitute(level, who, rule.is_pattern()) {
            Err(()) => return deny,
            Ok(None) => return false,
            Ok(Some(_)) if f_level == "+" => return false,
            Ok(Some(text)) if text == f_level => {}
            Ok(Some(_)) => return false,
        }
    }
    f.next().is_none()
}

fn verdict(mask: u8, bit: u8) -> bool {
    mask & DENY == 0 && mask & bit != 0
}

fn reference_permits(rules: &[RefRule], who: &Who<'_>, topic: &str, bit: u8) -> bool {
    let mask = rules
        .iter()
        .filter(|r| r.applies(who) && rule_matches(r, topic, who))
        .fold(0, |m, r| m | r.mask);
    verdict(mask, bit)
}

fn reference_allows_subscription(rules: &[RefRule], who: &Who<'_>, filter: &str) -> bool {
    let mask = rules
        .iter()
        .filter(|r| r.applies(who) && rule_covers(r, filter, who))
        .fold(0, |m, r| m | r.mask);
    verdict(mask, READ)
}

fn rule_strategy() -> impl Strategy<Value = RefRule> {
    let section = prop_oneof![
        2 => Just(None),
        2 => Just(Some(None)),
        1 => Just(Some(Some("u1".to_owned()))),
        1 => Just(Some(Some("a".to_owned()))),
    ];
    let mask = prop::sample::select(vec![READ, WRITE, READ | WRITE, DENY]);
    let levels = prop::collection::vec(prop::sample::select(RULE_LEVELS), 0..=3);
    (section, mask, levels, any::<bool>()).prop_filter_map(
        "empty filter",
        |(section, mask, levels, hash)| {
            let mut levels: Vec<&str> = levels;
            if hash {
                levels.push("#");
            }
            let filter = levels.join("/");
            (!filter.is_empty()).then_some(RefRule {
                section,
                mask,
                filter,
            })
        },
    )
}

/// The rules as an ACL file: anonymous rules first, then each user's
/// section, patterns interleaved where they fall.
fn acl_text(rules: &[RefRule]) -> String {
    let word = |mask: u8| match mask {
        READ => "read",
        WRITE => "write",
        DENY => "deny",
        _ => "readwrite",
    };
    let mut text = String::from("# generated\n");
    let mut sorted: Vec<&RefRule> = rules.iter().collect();
    // Anonymous first (Some(None)), then users in order; patterns anywhere.
    sorted.sort_by_key(|r| match &r.section {
        None => 0,
        Some(None) => 0,
        Some(Some(u)) => 1 + usize::from(u == "u1"),
    });
    let mut current: Option<&str> = None;
    for rule in sorted {
        match &rule.section {
            None => text += &format!("pattern {} {}\n", word(rule.mask), rule.filter),
            Some(None) => text += &format!("topic {} {}\n", word(rule.mask), rule.filter),
            Some(Some(user)) => {
                if current != Some(user.as_str()) {
                    text += &format!("\nuser {user}\n");
                    current = Some(user.as_str());
                }
                text += &format!("topic {} {}\n", word(rule.mask), rule.filter);
            }
        }
    }
    text
}

fn topic_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOPIC_LEVELS), 1..=4)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("empty topic", |t| !t.is_empty())
}

fn filter_strategy() -> impl Strategy<Value = String> {
    let level = prop_oneof![4 => prop::sample::select(TOPIC_LEVELS), 1 => Just("+")];
    (prop::collection::vec(level, 0..=4), any::<bool>()).prop_filter_map(
        "empty filter",
        |(levels, hash)| {
            let mut levels: Vec<&str> = levels;
            if hash {
                levels.push("#");
            }
            Some(levels.join("/")).filter(|f| !f.is_empty())
        },
    )
}

fn who_strategy() -> impl Strategy<Value = (&'static str, Option<&'static str>)> {
    (
        prop::sample::select(CLIENT_IDS),
        prop::sample::select(USERNAMES),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// PUBLISH and delivery checks agree with the rule-by-rule reference.
    #[test]
    fn checks_agree_with_the_reference(
        rules in prop::collection::vec(rule_strategy(), 0..12),
        (client_id, username) in who_strategy(),
        topics in prop::collection::vec(topic_strategy(), 1..12),
    ) {
        let text = acl_text(&rules);
        let (acl, _) = Acl::parse(&text, "props.acl").unwrap();
        let who = Who { client_id, username };
        for topic in &topics {
            for (access, bit) in [(Access::Read, READ), (Access::Write, WRITE)] {
                prop_assert_eq!(
                    Rules::File(&acl).permits(&who, topic, access),
                    reference_permits(&rules, &who, topic, bit),
                    "{:?} {} for {:?} with\n{}", access, topic, who, text
                );
            }
        }
    }

    /// SUBSCRIBE verdicts agree with the reference ("a single rule covers
    /// the filter and no deny does"), and an allowed filter without
    /// per-delivery checks reaches only readable topics.
    #[test]
    fn subscriptions_agree_with_the_reference(
        rules in prop::collection::vec(rule_strategy(), 0..12),
        (client_id, username) in who_strategy(),
        filters in prop::collection::vec(filter_strategy(), 1..8),
        topics in prop::collection::vec(topic_strategy(), 1..16),
    ) {
        let text = acl_text(&rules);
        let (acl, _) = Acl::parse(&text, "props.acl").unwrap();
        let who = Who { client_id, username };
        for filter in &filters {
            let verdict = Rules::File(&acl).subscription(&who, filter);
            let allowed = reference_allows_subscription(&rules, &who, filter);
            prop_assert_eq!(
                verdict != SubscribeVerdict::Refused, allowed,
                "{} for {:?} with\n{}", filter, who, text
            );
            if verdict == (SubscribeVerdict::Allowed { check_deliveries: false }) {
                for topic in topics.iter().filter(|t| matches(filter, t)) {
                    prop_assert!(
                        reference_permits(&rules, &who, topic, READ),
                        "{} allowed without checks, but {} is not readable for {:?} with\n{}",
                        filter, topic, who, text
                    );
                }
            }
        }
    }
}

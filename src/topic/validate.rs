//! Topic name and topic filter validation, and the naive reference matcher.
//!
//! Owns: the syntax rules of MQTT 3.1.1 and 5.0 §4.7 and the configured
//! bounds (length, levels, the "strict" cloud character set). It knows
//! nothing of sessions, ACLs or shared-subscription groups: `$share/…` and
//! `$queue/…` are ordinary valid filters here; `shared.rs` splits them.
//!
//! The caller hands us `&str`, so well-formed UTF-8 without surrogates
//! [MQTT-1.5.4-1] is already guaranteed.
//!
//! When a string breaks several rules, the error reported is the first of:
//! `Empty`, `TooLong`, `NullCharacter`, `WildcardInName` / `BadWildcard`,
//! `BadCharacter`, `TooManyLevels` — a fixed order, independent of where in
//! the string the faults sit.

use std::fmt;

/// Ceiling on a topic's length in bytes: an MQTT UTF-8 string carries a
/// 16-bit length [MQTT-1.5.3], so nothing longer can arrive on the wire.
pub const MAX_TOPIC_LENGTH: usize = 65_535;

/// Ceiling on a topic's number of levels. At most one level per byte plus
/// one; the configured `max_topic_levels` is the bound that matters, this
/// only keeps a misconfiguration from meaning "unbounded".
pub const MAX_TOPIC_LEVELS: usize = MAX_TOPIC_LENGTH + 1;

/// The configured bounds a topic name or filter must respect.
#[derive(Debug, Clone, Copy)]
pub struct TopicLimits {
    /// Longest accepted topic, in bytes (clamped to [`MAX_TOPIC_LENGTH`]).
    pub max_length: usize,
    /// Most accepted levels, counted by splitting on '/' (clamped to
    /// [`MAX_TOPIC_LEVELS`]).
    pub max_levels: usize,
    /// The cloud rules: names and non-wildcard filter levels use only
    /// `[A-Za-z0-9_/-]`.
    pub strict: bool,
}

impl TopicLimits {
    /// The product defaults (`max_topic_length 1024`, `max_topic_levels 32`,
    /// `strict_identifiers false`).
    pub const DEFAULT: TopicLimits = TopicLimits {
        max_length: 1024,
        max_levels: 32,
        strict: false,
    };

    /// Only the protocol's own ceilings; for tests and one-off checks.
    pub const UNBOUNDED: TopicLimits = TopicLimits {
        max_length: MAX_TOPIC_LENGTH,
        max_levels: MAX_TOPIC_LEVELS,
        strict: false,
    };
}

impl Default for TopicLimits {
    fn default() -> Self {
        TopicLimits::DEFAULT
    }
}

/// Why a string is not an acceptable topic name or topic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError {
    /// Zero characters [MQTT-4.7.3-1].
    Empty,
    /// More bytes than `max_length`.
    TooLong,
    /// More levels than `max_levels`.
    TooManyLevels,
    /// Contains U+0000 [MQTT-4.7.3-2].
    NullCharacter,
    /// A topic name containing `+` or `#` [MQTT-3.3.2-2].
    WildcardInName,
    /// A filter with `#` that is not the whole last level, or `+` that is not
    /// a whole level [MQTT-4.7.1-2] [MQTT-4.7.1-3].
    BadWildcard,
    /// A character outside `[A-Za-z0-9_/-]` under the strict rules.
    BadCharacter,
    /// `$share/…` or `$queue/…` without a usable group or filter
    /// [MQTT-4.8.2-1] [MQTT-4.8.2-2] (`shared.rs`).
    BadShare,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self {
            TopicError::Empty => "topic is empty",
            TopicError::TooLong => "topic is too long",
            TopicError::TooManyLevels => "topic has too many levels",
            TopicError::NullCharacter => "topic contains U+0000",
            TopicError::WildcardInName => "topic name contains a wildcard",
            TopicError::BadWildcard => "wildcard is not a whole level, or '#' is not last",
            TopicError::BadCharacter => "topic contains a character outside [A-Za-z0-9_/-]",
            TopicError::BadShare => {
                "a shared subscription needs $share/{group}/{filter}, its group without wildcards, \
                 or $queue/{filter}"
            }
        };
        f.write_str(why)
    }
}

impl std::error::Error for TopicError {}

/// The cloud character set, '/' excluded (it separates levels).
fn is_strict_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The checks names and filters share: non-empty and not too long.
fn check_length(s: &str, limits: &TopicLimits) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty); // [MQTT-4.7.3-1]
    }
    if s.len() > limits.max_length.min(MAX_TOPIC_LENGTH) {
        return Err(TopicError::TooLong);
    }
    Ok(())
}

/// Levels are one more than the separators; `s` is at most 65,535 bytes, so
/// the count cannot overflow.
fn check_levels(levels: usize, limits: &TopicLimits) -> Result<(), TopicError> {
    if levels > limits.max_levels.min(MAX_TOPIC_LEVELS) {
        return Err(TopicError::TooManyLevels);
    }
    Ok(())
}

/// Checks a topic name (PUBLISH, will topic): non-empty, bounded, no U+0000,
/// no wildcards, and under `strict` only `[A-Za-z0-9_/-]`.
pub fn validate_topic_name(topic: &str, limits: &TopicLimits) -> Result<(), TopicError> {
    check_length(topic, limits)?;
    let mut null = false;
    let mut wildcard = false;
    let mut bad = false;
    let mut levels: usize = 1;
    for b in topic.bytes() {
        match b {
            0 => null = true,
            b'+' | b'#' => wildcard = true,
            b'/' => levels = levels.saturating_add(1),
            _ => bad |= limits.strict && !is_strict_byte(b),
        }
    }
    if null {
        return Err(TopicError::NullCharacter); // [MQTT-4.7.3-2]
    }
    if wildcard {
        return Err(TopicError::WildcardInName); // [MQTT-3.3.2-2]
    }
    if bad {
        return Err(TopicError::BadCharacter);
    }
    check_levels(levels, limits)
}

/// Checks a topic filter (SUBSCRIBE, UNSUBSCRIBE, ACL): non-empty, bounded,
/// no U+0000, wildcards only as whole levels and `#` only last, and under
/// `strict` non-wildcard levels use only `[A-Za-z0-9_-]`.
///
/// Under `strict`, the first level may still start with `$`, so `$SYS/#`,
/// `$share/{group}/{filter}` and `$queue/{filter}` stay usable: `$` marks
/// broker-reserved and shared topics, it is not part of a client's name.
pub fn validate_topic_filter(filter: &str, limits: &TopicLimits) -> Result<(), TopicError> {
    check_length(filter, limits)?;
    if filter.as_bytes().contains(&0) {
        return Err(TopicError::NullCharacter); // [MQTT-4.7.3-2]
    }
    let mut bad = false;
    let mut levels: usize = 0;
    let mut rest = filter.split('/').peekable();
    while let Some(level) = rest.next() {
        levels = levels.saturating_add(1);
        match level {
            // [MQTT-4.7.1-2] '#' is the whole level and the last one.
            "#" if rest.peek().is_some() => return Err(TopicError::BadWildcard),
            "#" | "+" => {}
            // [MQTT-4.7.1-2] [MQTT-4.7.1-3] a wildcard next to other characters.
            _ if level.contains(['#', '+']) => return Err(TopicError::BadWildcard),
            _ if limits.strict => {
                let body = match level.strip_prefix('$') {
                    Some(body) if levels == 1 => body,
                    _ => level,
                };
                bad |= !body.bytes().all(is_strict_byte);
            }
            _ => {}
        }
    }
    if bad {
        return Err(TopicError::BadCharacter);
    }
    check_levels(levels, limits)
}

/// Naive reference matcher: does `filter` match `topic`? Used by tests as the
/// oracle for the trie and for one-off checks (will, ACL). Inputs are assumed
/// valid; an invalid filter gets some answer, never a panic.
///
/// `+` matches exactly one level, empty ones included; `#` matches the rest,
/// including no level at all, so `sport/#` matches `sport` [MQTT-4.7.1-2].
/// A topic starting with `$` is not matched by a filter whose first level is
/// a wildcard [MQTT-4.7.2-1].
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false; // [MQTT-4.7.2-1]
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: TopicLimits = TopicLimits::UNBOUNDED;
    const STRICT: TopicLimits = TopicLimits {
        strict: true,
        ..TopicLimits::UNBOUNDED
    };

    fn name(s: &str) -> Result<(), TopicError> {
        validate_topic_name(s, &L)
    }

    fn filter(s: &str) -> Result<(), TopicError> {
        validate_topic_filter(s, &L)
    }

    #[test]
    fn empty_is_rejected() {
        // [MQTT-4.7.3-1] at least one character.
        assert_eq!(name(""), Err(TopicError::Empty));
        assert_eq!(filter(""), Err(TopicError::Empty));
    }

    #[test]
    fn null_character_is_rejected() {
        // [MQTT-4.7.3-2] no U+0000.
        assert_eq!(name("a\0b"), Err(TopicError::NullCharacter));
        assert_eq!(filter("a/\0"), Err(TopicError::NullCharacter));
        assert_eq!(filter("\0"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn names_carry_no_wildcards() {
        // [MQTT-3.3.2-2] the Topic Name in a PUBLISH MUST NOT contain wildcards.
        assert_eq!(name("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(name("#"), Err(TopicError::WildcardInName));
        assert_eq!(name("a#b"), Err(TopicError::WildcardInName));
        assert_eq!(name("sport/tennis/player1"), Ok(()));
    }

    #[test]
    fn empty_levels_and_unicode_are_legal() {
        // MQTT 3.1.1 §4.7.1.1: a zero-length level is valid; "/finance" has
        // two levels.
        for s in ["/", "//", "a//b", "/a", "a/", " ", "$SYS/x", "Ünïcødé/日本"] {
            assert_eq!(name(s), Ok(()), "{s}");
            assert_eq!(filter(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn multi_level_wildcard_placement() {
        // [MQTT-4.7.1-2] '#' alone or after a separator, and last.
        for ok in ["#", "sport/#", "sport/tennis/player1/#", "+/#", "/#", "//#"] {
            assert_eq!(filter(ok), Ok(()), "{ok}");
        }
        for bad in [
            "sport/tennis#",
            "sport/tennis/#/ranking",
            "#/",
            "##",
            "a/#b",
            "#a",
        ] {
            assert_eq!(filter(bad), Err(TopicError::BadWildcard), "{bad}");
        }
    }

    #[test]
    fn single_level_wildcard_placement() {
        // [MQTT-4.7.1-3] '+' occupies an entire level.
        for ok in ["+", "+/tennis/#", "sport/+/player1", "/+", "+/+", "+//+"] {
            assert_eq!(filter(ok), Ok(()), "{ok}");
        }
        for bad in ["sport+", "a/+b", "++", "+a/b", "a/b+/c"] {
            assert_eq!(filter(bad), Err(TopicError::BadWildcard), "{bad}");
        }
    }

    #[test]
    fn shared_subscription_filters_are_valid() {
        // MQTT 5.0 §4.8.2: "$share/{ShareName}/{filter}" is a topic filter.
        for s in ["$share/g/a/+", "$share/g/#", "$queue/a/b", "$SYS/#"] {
            assert_eq!(filter(s), Ok(()), "{s}");
            assert_eq!(validate_topic_filter(s, &STRICT), Ok(()), "{s}");
        }
    }

    #[test]
    fn length_counts_bytes() {
        let limits = TopicLimits { max_length: 4, ..L };
        assert_eq!(validate_topic_name("abcd", &limits), Ok(()));
        assert_eq!(
            validate_topic_name("abcde", &limits),
            Err(TopicError::TooLong)
        );
        // "é" is two bytes in UTF-8.
        assert_eq!(validate_topic_name("abé", &limits), Ok(()));
        assert_eq!(
            validate_topic_name("abcé", &limits),
            Err(TopicError::TooLong)
        );
        assert_eq!(
            validate_topic_filter("a/#/", &limits),
            Err(TopicError::BadWildcard)
        );
        assert_eq!(
            validate_topic_filter("a/b/#", &limits),
            Err(TopicError::TooLong)
        );
    }

    #[test]
    fn length_is_clamped_to_the_wire_ceiling() {
        let limits = TopicLimits {
            max_length: usize::MAX,
            ..L
        };
        let long = "a".repeat(MAX_TOPIC_LENGTH + 1);
        assert_eq!(
            validate_topic_name(&long, &limits),
            Err(TopicError::TooLong)
        );
        assert_eq!(validate_topic_name(&long[1..], &limits), Ok(()));
    }

    #[test]
    fn levels_are_counted_by_separator() {
        let limits = TopicLimits { max_levels: 3, ..L };
        assert_eq!(validate_topic_name("a/b/c", &limits), Ok(()));
        assert_eq!(validate_topic_name("//", &limits), Ok(()));
        assert_eq!(
            validate_topic_name("///", &limits),
            Err(TopicError::TooManyLevels)
        );
        assert_eq!(
            validate_topic_name("a/b/c/d", &limits),
            Err(TopicError::TooManyLevels)
        );
        assert_eq!(validate_topic_filter("a/+/#", &limits), Ok(()));
        assert_eq!(
            validate_topic_filter("a/+/b/#", &limits),
            Err(TopicError::TooManyLevels)
        );
    }

    #[test]
    fn strict_character_set() {
        for ok in ["a/B_9-z", "/x/", "a//b"] {
            assert_eq!(validate_topic_name(ok, &STRICT), Ok(()), "{ok}");
            assert_eq!(validate_topic_filter(ok, &STRICT), Ok(()), "{ok}");
        }
        for bad in ["a b", "a.b", "é", "$SYS/x", "a/$x"] {
            assert_eq!(
                validate_topic_name(bad, &STRICT),
                Err(TopicError::BadCharacter),
                "{bad}"
            );
        }
        for ok in ["+/a/#", "#", "$SYS/+/x", "$share/grp/a/+"] {
            assert_eq!(validate_topic_filter(ok, &STRICT), Ok(()), "{ok}");
        }
        for bad in ["a b/#", "a/$x", "$$/a", "a.b/+", "é/#"] {
            assert_eq!(
                validate_topic_filter(bad, &STRICT),
                Err(TopicError::BadCharacter),
                "{bad}"
            );
        }
        // Non-strict accepts all of them.
        assert_eq!(name("a b/$x.é"), Ok(()));
    }

    #[test]
    fn error_order_is_fixed() {
        let limits = TopicLimits {
            max_levels: 1,
            strict: true,
            ..L
        };
        assert_eq!(
            validate_topic_name("a b/+/\0", &limits),
            Err(TopicError::NullCharacter)
        );
        assert_eq!(
            validate_topic_name("a b/+", &limits),
            Err(TopicError::WildcardInName)
        );
        assert_eq!(
            validate_topic_name("a/b c", &limits),
            Err(TopicError::BadCharacter)
        );
        assert_eq!(
            validate_topic_name("a/b", &limits),
            Err(TopicError::TooManyLevels)
        );
        assert_eq!(
            validate_topic_filter("a b/c/#/x", &limits),
            Err(TopicError::BadWildcard)
        );
        assert_eq!(
            validate_topic_filter("a/b c", &limits),
            Err(TopicError::BadCharacter)
        );
    }

    #[test]
    fn spec_matching_examples() {
        // MQTT 3.1.1 §4.7.1.2: "sport/tennis/player1/#".
        let f = "sport/tennis/player1/#";
        assert!(matches(f, "sport/tennis/player1"));
        assert!(matches(f, "sport/tennis/player1/ranking"));
        assert!(matches(f, "sport/tennis/player1/score/wimbledon"));
        assert!(!matches(f, "sport/tennis/player2"));
        // "sport/#" also matches the singular "sport" (the parent level).
        assert!(matches("sport/#", "sport"));
        assert!(matches("#", "sport/tennis"));
        // MQTT 3.1.1 §4.7.1.3: "+" matches exactly one level.
        assert!(matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("sport/+", "sport/"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        assert!(matches("+/tennis/#", "sport/tennis"));
        // Levels compare exactly, case included.
        assert!(!matches("Sport", "sport"));
        assert!(!matches("sport", "sport/"));
        assert!(matches("a//b", "a//b"));
        assert!(!matches("a/b", "a//b"));
    }

    #[test]
    fn dollar_topics_and_leading_wildcards() {
        // [MQTT-4.7.2-1] wildcards in the first level do not match '$' topics.
        assert!(!matches("#", "$SYS/broker/uptime"));
        assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(!matches("+", "$x"));
        assert!(matches("$SYS/#", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/#", "$SYS"));
        // Only the first level is special.
        assert!(matches("a/+", "a/$x"));
        assert!(matches("a/#", "a/$x/y"));
        assert!(matches("+/$x", "a/$x"));
    }

    #[test]
    fn display_is_readable() {
        assert_eq!(TopicError::Empty.to_string(), "topic is empty");
        assert!(TopicError::BadWildcard.to_string().contains("wildcard"));
    }
}

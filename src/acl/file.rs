//! The `acl_file` format, mosquitto's (docs/security.md, "Access
//! control"): text → a compiled [`Acl`].
//!
//! ```text
//! # comment
//! topic [read|write|readwrite|deny] FILTER     (before any user line: anonymous clients)
//! user NAME
//! topic [read|write|readwrite|deny] FILTER     (that user's)
//! pattern [read|write|readwrite|deny] FILTER   (every client; %c and %u substituted)
//! ```
//!
//! As in mosquitto: the access word is optional (readwrite) and is taken
//! as one only when a filter follows it, so a filter may hold spaces;
//! `user` takes the rest of the line; `pattern` lines apply wherever they
//! stand. Stricter: an unknown line, a bad access word or a filter that is
//! not a valid subscription filter is an error naming the file and line
//! (mosquitto also refuses them, without the line).
//!
//! Owns: reading the file (bounded) and the grammar. Every error carries
//! the file and line; parsing never panics.

use std::path::Path;

use crate::config::ConfigError;
use crate::topic::{validate_topic_filter, TopicLimits, MAX_TOPIC_LENGTH};

use super::{Acl, DENY, READ, WRITE};

/// Largest ACL file read: a router's file is a few KiB; a generated one
/// with a line per device stays far below.
const MAX_ACL_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Levels of a rule's filter: `max_topic_levels`' ceiling, and the bound
/// on the trie's depth (its walks recurse per level).
const MAX_RULE_LEVELS: usize = crate::config::limits::MAX_TOPIC_LEVELS_CEILING;

const RULE_LIMITS: TopicLimits = TopicLimits {
    max_length: MAX_TOPIC_LENGTH,
    max_levels: MAX_RULE_LEVELS,
    strict: false,
};

/// The file's text; `name` is how errors refer to it.
pub(super) fn read(path: &Path, name: &str) -> Result<String, ConfigError> {
    crate::config::read_bounded(path, name, MAX_ACL_FILE_BYTES, "an ACL file")
}

/// Which section `topic` lines go to.
enum Section {
    Anonymous,
    User(Box<str>),
}

pub(super) fn parse(text: &str, file: &str) -> Result<(Acl, Vec<String>), ConfigError> {
    let mut acl = Acl::default();
    let mut warnings = Vec::new();
    let mut section = Section::Anonymous;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let number = index.saturating_add(1);
        let error = |message: String| ConfigError::new(file, number, message);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keyword, rest) = split_word(line);
        match keyword {
            "user" if rest.is_empty() => return Err(error("user: missing user name".into())),
            "user" => section = Section::User(rest.into()),
            "topic" | "pattern" => {
                let (mask, filter) = rule(keyword, rest).map_err(error)?;
                if keyword == "pattern" {
                    if !filter.contains("%c") && !filter.contains("%u") {
                        warnings.push(format!(
                            "{file}:{number}: pattern {filter:?} substitutes neither %c nor \
                             %u: it applies to every client as it stands"
                        ));
                    }
                    acl.patterns.insert(filter, mask, true);
                    continue;
                }
                let trie = match &section {
                    Section::Anonymous => &mut acl.anonymous,
                    Section::User(name) => acl.users.entry(name.clone()).or_default(),
                };
                // `topic` lines take `%c` literally, as mosquitto does.
                trie.insert(filter, mask, false);
            }
            _ => {
                let shown: String = line.chars().take(64).collect();
                return Err(error(format!(
                    "unknown line {shown:?}: expected topic, pattern or user"
                )));
            }
        }
    }
    Ok((acl, warnings))
}

/// The first word and the rest of the line, trimmed.
fn split_word(line: &str) -> (&str, &str) {
    match line.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (line, ""),
    }
}

/// `[ACCESS] FILTER` of a topic or pattern line.
fn rule<'a>(keyword: &str, rest: &'a str) -> Result<(u8, &'a str), String> {
    if rest.is_empty() {
        return Err(format!("{keyword}: missing topic filter"));
    }
    let (word, after) = split_word(rest);
    let (mask, filter) = if after.is_empty() {
        (READ | WRITE, rest)
    } else {
        let mask = match word {
            "read" => READ,
            "write" => WRITE,
            "readwrite" => READ | WRITE,
            "deny" => DENY,
            _ => {
                return Err(format!(
                    "{keyword}: expected read, write, readwrite or deny before the filter, got \
                     {word:?}"
                ))
            }
        };
        (mask, after)
    };
    validate_topic_filter(filter, &RULE_LIMITS)
        .map_err(|e| format!("{keyword}: {filter:?} is not a valid topic filter: {e}"))?;
    Ok((mask, filter))
}

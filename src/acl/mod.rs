//! Access control: what a client may publish to and subscribe to
//! (docs/security.md, "Access control").
//!
//! Owns: the ACL file format (`file.rs`, mosquitto's `acl_file`), the
//! compiled rules (`trie.rs`), the checks (this file) and a client's own
//! rule lists (`client_rules.rs`). Sans-IO except [`Acl::load`], which reads
//! the file for the caller at startup and on SIGHUP; the checks never
//! allocate, log or read anything.
//!
//! Rules, in one place: a client is checked against its section (the
//! anonymous section without a username, its `user` section with one) and
//! against every `pattern` rule; `deny` wins over any grant, whichever
//! section it is in; without a matching grant the answer is no. A client
//! with its own lists ([`ClientRules`]) is checked against those alone.
//! A check costs the rules that can match the topic, not the file's
//! length: each section is a trie keyed by level.

mod client_rules;
mod file;
mod trie;

pub use client_rules::ClientRules;

use std::collections::HashMap;
use std::path::Path;

use crate::config::ConfigError;

use trie::RuleTrie;

/// May receive messages on a topic (subscribe, deliveries, retained).
pub const READ: u8 = 1;
/// May publish to a topic (PUBLISH, wills, retained messages).
pub const WRITE: u8 = 2;
/// A `deny` rule: no access, whatever else grants it.
pub(crate) const DENY: u8 = 4;

/// What kind of access a check asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    fn bit(self) -> u8 {
        match self {
            Access::Read => READ,
            Access::Write => WRITE,
        }
    }
}

/// The identity the rules see: the client id and the username (from
/// CONNECT, or from a client certificate on such a listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Who<'a> {
    pub client_id: &'a str,
    pub username: Option<&'a str>,
}

/// The answer to a SUBSCRIBE filter (docs/security.md, "Subscriptions").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeVerdict {
    /// No single read rule covers every topic of the filter, or a deny
    /// rule does.
    Refused,
    /// Allowed. `check_deliveries`: a deny rule covers some of the
    /// filter's topics, so each delivery is checked; otherwise every topic
    /// the filter matches is readable and deliveries need no check.
    Allowed { check_deliveries: bool },
}

/// A compiled `acl_file`.
#[derive(Default)]
pub struct Acl {
    anonymous: RuleTrie,
    users: HashMap<Box<str>, RuleTrie>,
    patterns: RuleTrie,
}

/// The rules one client is held to: the file's, or its own lists.
#[derive(Clone, Copy)]
pub enum Rules<'a> {
    File(&'a Acl),
    Own(&'a ClientRules),
}

impl Acl {
    /// Reads and compiles an ACL file; errors name the file and line,
    /// warnings (a pattern that substitutes nothing) are returned.
    pub fn load(path: &Path) -> Result<(Acl, Vec<String>), ConfigError> {
        let name = path.display().to_string();
        let text = file::read(path, &name)?;
        Acl::parse(&text, &name)
    }

    /// Compiles ACL text; `source` stands for the file in messages.
    pub fn parse(text: &str, source: &str) -> Result<(Acl, Vec<String>), ConfigError> {
        file::parse(text, source)
    }

    /// Rules in the file, for the log line that says it was loaded.
    pub fn rule_count(&self) -> usize {
        let users: usize = self.users.values().map(RuleTrie::len).sum();
        self.anonymous
            .len()
            .saturating_add(users)
            .saturating_add(self.patterns.len())
    }

    /// The section `who` is held to besides the patterns: anonymous
    /// without a username, its own with one (none if the file has none).
    fn section(&self, who: &Who<'_>) -> Option<&RuleTrie> {
        match who.username {
            None => Some(&self.anonymous),
            Some(name) => self.users.get(name),
        }
    }

    fn collect(&self, who: &Who<'_>, topic: &str) -> u8 {
        let mut mask = self.section(who).map_or(0, |s| s.collect(topic, who));
        if mask & DENY == 0 {
            mask |= self.patterns.collect(topic, who);
        }
        mask
    }

    fn cover(&self, who: &Who<'_>, filter: &str) -> u8 {
        self.section(who).map_or(0, |s| s.cover(filter, who)) | self.patterns.cover(filter, who)
    }

    fn overlap(&self, who: &Who<'_>, filter: &str) -> u8 {
        self.section(who).map_or(0, |s| s.overlap(filter, who)) | self.patterns.overlap(filter, who)
    }
}

impl Rules<'_> {
    /// Whether `who` may have `access` to the topic name `topic`.
    pub fn permits(self, who: &Who<'_>, topic: &str, access: Access) -> bool {
        let mask = match self {
            Rules::File(acl) => acl.collect(who, topic),
            Rules::Own(own) => own.trie().collect(topic, who),
        };
        verdict(mask, access)
    }

    /// Whether `who` may subscribe to `filter` (a valid topic filter).
    pub fn subscription(self, who: &Who<'_>, filter: &str) -> SubscribeVerdict {
        let (cover, overlap) = match self {
            Rules::File(acl) => (acl.cover(who, filter), acl.overlap(who, filter)),
            Rules::Own(own) => (
                own.trie().cover(filter, who),
                own.trie().overlap(filter, who),
            ),
        };
        if verdict(cover, Access::Read) {
            SubscribeVerdict::Allowed {
                check_deliveries: overlap & DENY != 0,
            }
        } else {
            SubscribeVerdict::Refused
        }
    }
}

/// Deny wins; then any grant of the access asked for.
fn verdict(mask: u8, access: Access) -> bool {
    mask & DENY == 0 && mask & access.bit() != 0
}

#[cfg(test)]
mod tests;

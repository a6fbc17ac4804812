//! One client's own rules, given with its credentials instead of taken
//! from the file (a token's `pub` and `sub` filter lists): `pub` filters
//! grant write, `sub` filters grant read, and for that client they replace
//! every rule of the `acl_file`, patterns included.
//!
//! Owns: compiling the two lists; the checks are the file's
//! ([`super::Rules::Own`]). `%c` and `%u` are substituted as in a
//! `pattern` line, so a token can say `devices/%c/#`.

use super::trie::RuleTrie;
use super::{READ, WRITE};
use crate::topic::{validate_topic_filter, TopicLimits};

/// Filters per list: a token is a few hundred bytes, so a few dozen
/// filters at most; the bound keeps a hostile token from costing memory.
pub const MAX_CLIENT_FILTERS: usize = 256;

/// A client's own read and write filters, compiled.
#[derive(Default)]
pub struct ClientRules {
    trie: RuleTrie,
}

impl ClientRules {
    /// Compiles `publish` (write) and `subscribe` (read) filters; a filter
    /// in both grants both. An invalid filter, or more than
    /// [`MAX_CLIENT_FILTERS`] in a list, is refused whole: half a token's
    /// rules are not what it says.
    pub fn new<S: AsRef<str>>(
        publish: &[S],
        subscribe: &[S],
        limits: &TopicLimits,
    ) -> Result<ClientRules, String> {
        let mut trie = RuleTrie::default();
        for (list, mask, name) in [(publish, WRITE, "pub"), (subscribe, READ, "sub")] {
            if list.len() > MAX_CLIENT_FILTERS {
                return Err(format!(
                    "{} {name} filters, more than {MAX_CLIENT_FILTERS}",
                    list.len()
                ));
            }
            for filter in list {
                let filter = filter.as_ref();
                validate_topic_filter(filter, limits)
                    .map_err(|e| format!("{name} filter {filter:?}: {e}"))?;
                trie.insert(filter, mask, true);
            }
        }
        Ok(ClientRules { trie })
    }

    pub(super) fn trie(&self) -> &RuleTrie {
        &self.trie
    }
}

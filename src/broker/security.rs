//! Who may connect and what they may touch, for the whole broker or, with
//! `per_listener_settings true`, for each listener apart
//! (docs/security.md, "Per-listener settings"): `allow_anonymous`, the
//! loaded credentials and the compiled ACL, installed whole at start and
//! at SIGHUP.
//!
//! Owns: [`Security`], the domains and which listener uses which. It must
//! not read files (main.rs loads them) or decide a refusal
//! (`authenticate.rs`, `access.rs` do).
//!
//! Invariant: a listener without a domain of its own (none can be, as
//! main.rs builds one per configured listener and listeners change only at
//! a restart) is held to [`Security::closed`]: nobody gets in, nothing is
//! allowed, rather than everything.

use crate::acl::Acl;
use crate::auth::Credentials;

use super::listeners::ListenerId;

/// One set of rules.
#[derive(Default)]
pub struct SecurityDomain {
    pub allow_anonymous: bool,
    pub credentials: Credentials,
    /// The compiled `acl_file`; `None`: every client may touch every topic.
    pub acl: Option<Acl>,
}

/// Which rules hold on which listener.
pub struct Security {
    /// One domain for every listener, or one per listener by index.
    domains: Vec<SecurityDomain>,
    per_listener: bool,
    /// For a listener without a domain.
    closed: SecurityDomain,
}

impl Security {
    /// The same rules on every listener (`per_listener_settings false`).
    pub fn global(domain: SecurityDomain) -> Security {
        Security {
            domains: vec![domain],
            per_listener: false,
            closed: closed(),
        }
    }

    /// Each listener's own rules, in the order of the config's listeners.
    pub fn per_listener(domains: Vec<SecurityDomain>) -> Security {
        Security {
            domains,
            per_listener: true,
            closed: closed(),
        }
    }

    /// The domain's index for a client of `listener`, kept with its
    /// session for the checks after CONNECT.
    pub(super) fn index_of(&self, listener: ListenerId) -> u8 {
        if self.per_listener {
            // ListenerId holds a u8.
            u8::try_from(listener.index()).unwrap_or(u8::MAX)
        } else {
            0
        }
    }

    /// The rules of domain `index` (see [`Security::index_of`]).
    pub(super) fn domain(&self, index: u8) -> &SecurityDomain {
        let index = if self.per_listener { index } else { 0 };
        self.domains.get(usize::from(index)).unwrap_or(&self.closed)
    }

    /// Whether any domain has an ACL file.
    pub(super) fn has_acl(&self) -> bool {
        self.domains.iter().any(|d| d.acl.is_some())
    }

    /// `allow_anonymous` of each domain, to tell a reload what changed.
    pub(super) fn anonymous(&self) -> Vec<bool> {
        self.domains.iter().map(|d| d.allow_anonymous).collect()
    }
}

impl Default for Security {
    /// What a broker without a config file does: anyone may connect and
    /// touch any topic.
    fn default() -> Self {
        Security::global(SecurityDomain {
            allow_anonymous: true,
            ..SecurityDomain::default()
        })
    }
}

/// Nobody gets in; an ACL without rules allows nothing.
fn closed() -> SecurityDomain {
    SecurityDomain {
        allow_anonymous: false,
        credentials: Credentials::default(),
        acl: Some(Acl::default()),
    }
}

//! Access control in the broker (docs/security.md, "Access control"): who
//! each session is to the rules, and the checks at every door — SUBSCRIBE,
//! each PUBLISH a client sends, each delivery, retained messages on
//! subscribe, wills (at CONNECT and when published) — plus what a new
//! ACL (SIGHUP) or a new identity (a reconnect) takes away.
//!
//! Owns: [`SessionAcl`] and installing the rules ([`Security`], one
//! compiled `acl_file` per domain: the broker's, or each listener's with
//! `per_listener_settings true`). The rules themselves are
//! `crate::acl`'s. A refusal
//! is counted and logged (rate-limited, one line kind per door) with the
//! client id, username and topic.
//!
//! Invariants: a session's subscriptions all pass the rules it is held to
//! (checked at SUBSCRIBE, at CONNECT and at every ACL reload), so a
//! delivery needs a check of its own only where a deny rule reaches into
//! an allowed filter (`check_deliveries`). A session restored from the
//! store is `restored` (its username is not stored) until its client
//! connects again: its subscriptions are checked then.

use std::time::Instant;

use crate::acl::{Access, ClientRules, Rules, SubscribeVerdict, Who};
use crate::auth::identity::TokenAcl;
use crate::codec::ConnectReturn;
use crate::sys::trajectory::DropReason;
use crate::topic::parse_shared;

use super::connections::ConnId;
use super::security::Security;
use super::sessions::{SessionId, SessionTable};
use super::stats::LogKind;
use super::Broker;

/// Who a session is to the rules. A session without one is an anonymous
/// client whose deliveries need no check.
#[derive(Default)]
pub struct SessionAcl {
    /// From CONNECT, or from the client certificate.
    pub username: Option<Box<str>>,
    /// The client's own rules, replacing the file's (a token's lists).
    pub own: Option<Box<ClientRules>>,
    /// A subscription reaches topics a deny rule covers: check each
    /// delivery.
    pub check_deliveries: bool,
    /// Restored from the store, identity unknown until it connects.
    pub restored: bool,
    /// The rules it is held to: those of the listener it last connected
    /// through (`Security::index_of`).
    pub domain: u8,
    /// The answer for the last topic this client published to.
    last_publish: PublishCache,
}

/// Topics longer than this are not cached: the buffer is kept between
/// checks, and must not pin a long topic's worth of memory per client.
const CACHED_TOPIC_MAX: usize = 128;

/// The last PUBLISH check of one client: a device publishes to the same
/// topic again and again, and a hit costs a comparison instead of a walk.
/// Bounded: one topic of at most [`CACHED_TOPIC_MAX`] bytes. Valid only
/// under the rules it was made with (`generation`; 0 is never one).
#[derive(Default)]
struct PublishCache {
    generation: u32,
    topic: String,
    allowed: bool,
}

impl PublishCache {
    fn get(&self, generation: u32, topic: &str) -> Option<bool> {
        (self.generation == generation && self.topic == topic).then_some(self.allowed)
    }

    fn set(&mut self, generation: u32, topic: &str, allowed: bool) {
        if topic.len() > CACHED_TOPIC_MAX {
            return;
        }
        self.generation = generation;
        self.topic.clear();
        self.topic.push_str(topic);
        self.allowed = allowed;
    }
}

/// [`SessionAcl`]s by session slot: one pointer per slot up to the
/// highest that has one, so a check costs an index, not a hash; kept apart
/// from the session table, whose slots are two words (README.md,
/// Performance). Invariant: an entry is removed with its session
/// (`discard_session`), so a reused slot starts with none.
#[derive(Default)]
pub struct SessionAcls {
    slots: Vec<Option<Box<SessionAcl>>>,
}

impl SessionAcls {
    fn get(&self, id: SessionId) -> Option<&SessionAcl> {
        self.slots.get(id.index())?.as_deref()
    }

    fn get_mut(&mut self, id: SessionId) -> Option<&mut SessionAcl> {
        self.slots.get_mut(id.index())?.as_deref_mut()
    }

    /// The entry of `id`, made if it had none.
    fn entry(&mut self, id: SessionId) -> Option<&mut SessionAcl> {
        let index = id.index();
        if self.slots.len() <= index {
            self.slots.resize_with(index.saturating_add(1), || None);
        }
        Some(self.slots.get_mut(index)?.get_or_insert_with(Box::default))
    }

    fn set(&mut self, id: SessionId, acl: Option<SessionAcl>) {
        match acl {
            Some(acl) => {
                if let Some(entry) = self.entry(id) {
                    *entry = acl;
                }
            }
            None => self.remove(id),
        }
    }

    pub(super) fn remove(&mut self, id: SessionId) {
        if let Some(slot) = self.slots.get_mut(id.index()) {
            *slot = None;
        }
        // Shrinks when the highest slots are gone, so a past peak of
        // sessions does not stay allocated.
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        if self.slots.capacity() > 64 && self.slots.len() < self.slots.capacity() / 4 {
            self.slots.shrink_to_fit();
        }
    }
}

/// What installing new rules did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityInstalled {
    /// Subscriptions the new rules no longer allow, removed.
    pub revoked: usize,
    /// `allow_anonymous` changed on some listener.
    pub anonymous_changed: bool,
}

/// Which door refused.
#[derive(Debug, Clone, Copy)]
enum Door {
    Publish,
    Subscribe,
    Delivery,
    Will,
}

impl Door {
    /// What was refused, for a log line that cannot name the client.
    fn words(self) -> &'static str {
        match self {
            Door::Publish => "a PUBLISH",
            Door::Subscribe => "a subscription",
            Door::Delivery => "a delivery",
            Door::Will => "a will",
        }
    }
}

impl Broker {
    /// Installs who may connect and what they may touch (start, SIGHUP)
    /// and holds every session to the new rules: subscriptions they refuse
    /// are removed. Connected clients stay connected.
    pub fn install_security(&mut self, now: Instant, security: Security) -> SecurityInstalled {
        let anonymous_changed = self.security.anonymous() != security.anonymous();
        self.security = security;
        // Cached answers were given under the old rules.
        self.acl_generation = self.acl_generation.wrapping_add(1).max(1);
        let ids: Vec<SessionId> = self.sessions.ids().collect();
        let revoked = ids
            .into_iter()
            .map(|id| self.recheck_subscriptions(now, id))
            .sum();
        SecurityInstalled {
            revoked,
            anonymous_changed,
        }
    }

    /// Whether an ACL file is in force (on any listener).
    pub fn has_acl(&self) -> bool {
        self.security.has_acl()
    }

    /// The rules domain of `conn`'s listener.
    fn domain_of(&self, conn: ConnId) -> u8 {
        self.connections
            .get(conn)
            .map_or(0, |c| self.security.index_of(c.origin.listener()))
    }

    /// Records who `session_id` is now (its CONNECT on `conn`) and holds
    /// its subscriptions to that identity's rules.
    pub(super) fn set_identity(
        &mut self,
        now: Instant,
        session_id: SessionId,
        conn: ConnId,
        username: Option<Box<str>>,
        own: Option<Box<ClientRules>>,
    ) {
        let domain = self.domain_of(conn);
        // Anonymous clients of the first domain, the many on a LAN, need
        // no entry.
        let acl = (username.is_some() || own.is_some() || domain != 0).then(|| SessionAcl {
            username,
            own,
            domain,
            ..SessionAcl::default()
        });
        self.session_acls.set(session_id, acl);
        self.recheck_subscriptions(now, session_id);
    }

    /// Marks a session restored from the store (identity unknown).
    pub(super) fn mark_restored(&mut self, session_id: SessionId) {
        let acl = SessionAcl {
            restored: true,
            ..SessionAcl::default()
        };
        self.session_acls.set(session_id, Some(acl));
    }

    /// The rules for a client of `domain` with its own lists `own`:
    /// those, else the domain's file; `None` when nothing restricts it.
    fn rules<'a>(&'a self, domain: u8, own: Option<&'a ClientRules>) -> Option<Rules<'a>> {
        match own {
            Some(own) => Some(Rules::Own(own)),
            None => self.security.domain(domain).acl.as_ref().map(Rules::File),
        }
    }

    /// The rules `session_id` is held to and who it is to them; `None`
    /// when no rules apply (no ACL, or a restored session not yet
    /// reconnected).
    fn held_to(&self, session_id: SessionId) -> Option<(Rules<'_>, Who<'_>)> {
        let acl = self.session_acls.get(session_id);
        if acl.is_some_and(|a| a.restored) {
            return None;
        }
        let domain = acl.map_or(0, |a| a.domain);
        let rules = self.rules(domain, acl.and_then(|a| a.own.as_deref()))?;
        let who = who_of(&self.sessions, &self.session_acls, session_id)?;
        Some((rules, who))
    }

    /// May `session_id` have `access` to `topic`? `None`: no rules apply.
    fn session_permits(&self, session_id: SessionId, topic: &str, access: Access) -> Option<bool> {
        let (rules, who) = self.held_to(session_id)?;
        Some(rules.permits(&who, topic, access))
    }

    /// A PUBLISH from `session_id`'s client: `false` when the rules refuse
    /// it (counted, logged); the caller drops it and still acknowledges.
    pub(super) fn may_publish(&mut self, now: Instant, session_id: SessionId, topic: &str) -> bool {
        let generation = self.acl_generation;
        let cached = self
            .session_acls
            .get(session_id)
            .and_then(|acl| acl.last_publish.get(generation, topic));
        let allowed = match cached {
            Some(allowed) => allowed,
            None => match self.session_permits(session_id, topic, Access::Write) {
                None => return true,
                Some(allowed) => {
                    if let Some(acl) = self.session_acls.entry(session_id) {
                        acl.last_publish.set(generation, topic, allowed);
                    }
                    allowed
                }
            },
        };
        if !allowed {
            self.refused(now, session_id, topic, Door::Publish);
        }
        allowed
    }

    /// A will being published: its client must still be allowed to write
    /// its topic under the rules in force now.
    pub(super) fn may_publish_will(
        &mut self,
        now: Instant,
        session_id: SessionId,
        topic: &str,
    ) -> bool {
        self.admit(now, session_id, topic, Access::Write, Door::Will)
    }

    /// A delivery (live, or retained on subscribe) to `session_id`:
    /// `false` when its client may not read `topic`. Checked only for
    /// sessions whose subscriptions reach into a deny rule: the others'
    /// filters are covered by grants whole (the invariant above).
    pub(super) fn may_deliver(&mut self, now: Instant, session_id: SessionId, topic: &str) -> bool {
        let needed = self
            .session_acls
            .get(session_id)
            .is_some_and(|acl| acl.check_deliveries);
        !needed || self.admit(now, session_id, topic, Access::Read, Door::Delivery)
    }

    fn admit(
        &mut self,
        now: Instant,
        session_id: SessionId,
        topic: &str,
        access: Access,
        door: Door,
    ) -> bool {
        match self.session_permits(session_id, topic, access) {
            None | Some(true) => true,
            Some(false) => {
                self.refused(now, session_id, topic, door);
                false
            }
        }
    }

    /// A JWT's `acl` claim compiled into the client's own rules
    /// (docs/security.md, "Per-client rules"); a claim that does not
    /// compile refuses the CONNECT as not authorized: half a token's
    /// rules are not what it says.
    pub(super) fn token_rules(
        &mut self,
        now: Instant,
        who: &Who<'_>,
        acl: &TokenAcl,
    ) -> Result<Box<ClientRules>, ConnectReturn> {
        match ClientRules::new(&acl.publish, &acl.subscribe, &self.settings.topics) {
            Ok(rules) => Ok(Box::new(rules)),
            Err(why) => {
                self.stats.refused_not_authorized += 1;
                let client_id = who.client_id.to_owned();
                self.logs.warn(LogKind::NotAuthorized, now, || {
                    format!("refusing {client_id}: its JWT acl claim is unusable: {why}")
                });
                Err(ConnectReturn::NotAuthorized)
            }
        }
    }

    /// A will on `topic` from a client about to connect on `conn` as
    /// `who`: refused at CONNECT (not authorized), as mosquitto does.
    pub(super) fn will_permitted(
        &mut self,
        now: Instant,
        conn: ConnId,
        who: &Who<'_>,
        own: Option<&ClientRules>,
        topic: &str,
    ) -> bool {
        let domain = self.domain_of(conn);
        let Some(rules) = self.rules(domain, own) else {
            return true;
        };
        if rules.permits(who, topic, Access::Write) {
            return true;
        }
        self.stats.acl_denied_will += 1;
        let line = refusal_line(Door::Will, who, topic);
        self.logs.warn(LogKind::AclWill, now, || line);
        false
    }

    /// A SUBSCRIBE filter from `session_id`'s client: `None` when refused
    /// (counted, logged), else whether deliveries need a check.
    pub(super) fn may_subscribe(
        &mut self,
        now: Instant,
        session_id: SessionId,
        filter: &str,
    ) -> Option<bool> {
        match self.subscription_verdict(session_id, filter) {
            None => Some(false),
            Some(SubscribeVerdict::Allowed { check_deliveries }) => {
                if check_deliveries {
                    if let Some(acl) = self.session_acls.entry(session_id) {
                        acl.check_deliveries = true;
                    }
                }
                Some(check_deliveries)
            }
            Some(SubscribeVerdict::Refused) => {
                self.refused(now, session_id, filter, Door::Subscribe);
                None
            }
        }
    }

    fn subscription_verdict(
        &self,
        session_id: SessionId,
        filter: &str,
    ) -> Option<SubscribeVerdict> {
        let (rules, who) = self.held_to(session_id)?;
        // A shared subscription reads what its filter after the group
        // matches (docs/shared.md).
        let filter = parse_shared(filter)
            .and_then(Result::ok)
            .map_or(filter, |shared| shared.filter);
        Some(rules.subscription(&who, filter))
    }

    /// Holds every subscription of `session_id` to its rules: removes
    /// those refused, and works out whether deliveries need checks.
    /// Returns how many were removed.
    fn recheck_subscriptions(&mut self, now: Instant, session_id: SessionId) -> usize {
        let Some(slot) = self.sessions.get(session_id) else {
            return 0;
        };
        if self
            .session_acls
            .get(session_id)
            .is_some_and(|a| a.restored)
        {
            return 0;
        }
        let filters: Vec<String> = slot
            .session
            .subscriptions
            .iter()
            .map(|(filter, _)| filter.to_owned())
            .collect();
        let mut check_deliveries = false;
        let mut revoked = Vec::new();
        for filter in filters {
            match self.subscription_verdict(session_id, &filter) {
                None => {}
                Some(SubscribeVerdict::Allowed {
                    check_deliveries: c,
                }) => check_deliveries |= c,
                Some(SubscribeVerdict::Refused) => revoked.push(filter),
            }
        }
        match self.session_acls.get_mut(session_id) {
            Some(acl) => acl.check_deliveries = check_deliveries,
            None if check_deliveries => {
                if let Some(acl) = self.session_acls.entry(session_id) {
                    acl.check_deliveries = true;
                }
            }
            None => {}
        }
        for filter in &revoked {
            if let Some(slot) = self.sessions.get_mut(session_id) {
                slot.session.remove_subscription(filter);
            }
            self.unindex_subscription(filter, session_id);
            self.stats.acl_revoked_subscriptions += 1;
            let line = self.identity_line(session_id, filter);
            self.logs.warn(LogKind::AclRevoked, now, || {
                format!("removing the subscription of {line}: the access rules no longer allow it")
            });
        }
        if !revoked.is_empty() {
            self.persist_session(session_id);
        }
        revoked.len()
    }

    fn refused(&mut self, now: Instant, session_id: SessionId, topic: &str, door: Door) {
        let (counter, kind) = match door {
            Door::Publish => (&mut self.stats.acl_denied_publish, LogKind::AclPublish),
            Door::Subscribe => (&mut self.stats.acl_denied_subscribe, LogKind::AclSubscribe),
            Door::Delivery => (&mut self.stats.acl_denied_delivery, LogKind::AclDelivery),
            Door::Will => (&mut self.stats.acl_denied_will, LogKind::AclWill),
        };
        *counter += 1;
        if matches!(door, Door::Publish | Door::Delivery) {
            self.note_session_drop(session_id, DropReason::Acl, 1);
        }
        let (sessions, acls) = (&self.sessions, &self.session_acls);
        // The line is built only when it is logged: a flood of refusals
        // costs a counter each.
        self.logs
            .warn(kind, now, || match who_of(sessions, acls, session_id) {
                Some(who) => refusal_line(door, &who, topic),
                None => format!(
                    "access control: refused {} on {}",
                    door.words(),
                    shown(topic)
                ),
            });
    }

    /// `client C (username U) to "F"` for log lines.
    fn identity_line(&self, session_id: SessionId, filter: &str) -> String {
        match who_of(&self.sessions, &self.session_acls, session_id) {
            Some(who) => format!("{} to {}", name(&who), shown(filter)),
            None => String::from("?"),
        }
    }
}

/// Who `session_id` is (a restored session included).
fn who_of<'a>(
    sessions: &'a SessionTable,
    acls: &'a SessionAcls,
    session_id: SessionId,
) -> Option<Who<'a>> {
    let slot = sessions.get(session_id)?;
    Some(Who {
        client_id: slot.session.client_id.as_str(),
        username: acls.get(session_id).and_then(|a| a.username.as_deref()),
    })
}

fn name(who: &Who<'_>) -> String {
    match who.username {
        Some(user) => format!("client {} (username {user:?})", who.client_id),
        None => format!("client {} (no username)", who.client_id),
    }
}

fn shown(topic: &str) -> String {
    format!("{:?}", topic.chars().take(64).collect::<String>())
}

fn refusal_line(door: Door, who: &Who<'_>, topic: &str) -> String {
    let what = match door {
        Door::Publish => "dropped a PUBLISH from",
        Door::Subscribe => "refused a subscription of",
        Door::Delivery => "did not deliver a message to",
        Door::Will => "refused the will of",
    };
    let preposition = match door {
        Door::Publish | Door::Will | Door::Subscribe => "to",
        Door::Delivery => "on",
    };
    format!(
        "access control: {what} {} {preposition} {}",
        name(who),
        shown(topic)
    )
}

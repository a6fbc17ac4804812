//! Shared subscriptions (docs/shared.md): `$share/{group}/{filter}` and
//! `$queue/{filter}`. Each matching message goes to one member of each
//! group, chosen by `shared_subscription_strategy`; a member that cannot
//! take it now (offline, lagging, at its inflight or queue cap) is skipped
//! for the next one; QoS 1/2 messages held for a member whose session ends
//! are handed to another member.
//!
//! Owns: the groups and their members, and the choice of member. A session
//! keeps its shared subscriptions in its own list like any other (so they
//! are persisted and restored with it); here each group sits once in a
//! trie under the filter after its group name, so a publish matches groups,
//! not members.
//!
//! Invariants: a group exists only while it has a member; a session is in
//! a group at most once; `members` counts every (group, session) pair.

use std::collections::HashMap;
use std::time::Instant;

use log::warn;

use crate::codec::QoS;
use crate::config::SharedStrategy;
use crate::session::{Message, Subscription};
use crate::topic::{matches, parse_shared, SubscriptionTrie, TopicFilter, TopicLimits};

use super::connections::ConnId;
use super::publish::{Routed, Source, Target};
use super::sessions::SessionId;
use super::Broker;

/// A group's slot index, stable for the group's life.
pub(super) type GroupId = u32;

/// Who is in a group: a session, or a bridge by a shared `out` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Member {
    Session(SessionId),
    /// The bridge's index and its rule's.
    #[cfg_attr(not(feature = "bridge"), allow(dead_code))]
    Bridge {
        bridge: u16,
        rule: u16,
    },
}

#[derive(Default)]
pub(super) struct SharedGroups {
    /// Every group once, under the filter its members share.
    index: SubscriptionTrie<GroupId, ()>,
    groups: Vec<Option<Group>>,
    free: Vec<GroupId>,
    /// Groups by the filter as subscribed (`$share/g/a/#`).
    by_filter: HashMap<Box<str>, GroupId>,
    /// (group, session) pairs in all.
    members: usize,
    /// xorshift64 state for `random`; never 0.
    rng: u64,
    /// Routing scratch: the groups one message matched.
    matched: Vec<GroupId>,
}

struct Group {
    members: Vec<(Member, Subscription)>,
    /// `round_robin`: where the next search starts; `sticky`: the member
    /// in use.
    cursor: usize,
}

/// How ready a member is to take a message now, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Readiness {
    /// Online with room: the message is written at once.
    Ready,
    /// Online but lagging or at a cap: it would wait in the queue (for
    /// a bridge: its link is up, its queue long).
    Busy,
    /// A persistent session whose client is away, or a bridge whose link
    /// is down: it would be queued.
    Offline,
}

impl SharedGroups {
    pub(super) fn new(seed: u64) -> SharedGroups {
        SharedGroups {
            rng: seed | 1,
            ..SharedGroups::default()
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_filter.is_empty()
    }

    pub(super) fn group_count(&self) -> usize {
        self.by_filter.len()
    }

    pub(super) fn member_count(&self) -> usize {
        self.members
    }

    /// Adds or updates `member` in the group of `subscribed`
    /// (`$share/g/f`), whose shared part is `filter`.
    pub(super) fn join(
        &mut self,
        subscribed: &str,
        filter: &TopicFilter,
        member: Member,
        subscription: Subscription,
    ) {
        let id = match self.by_filter.get(subscribed) {
            Some(&id) => id,
            None => {
                let group = Group {
                    members: Vec::new(),
                    cursor: 0,
                };
                let id = match self.free.pop() {
                    Some(id) => {
                        if let Some(slot) = self.groups.get_mut(id as usize) {
                            *slot = Some(group);
                        }
                        id
                    }
                    None => {
                        self.groups.push(Some(group));
                        u32::try_from(self.groups.len().saturating_sub(1)).unwrap_or(u32::MAX)
                    }
                };
                self.by_filter.insert(subscribed.into(), id);
                self.index.insert(filter, id, ());
                id
            }
        };
        let Some(group) = self.group_mut(id) else {
            return;
        };
        match group.members.iter_mut().find(|(m, _)| *m == member) {
            Some(found) => found.1 = subscription,
            None => {
                group.members.push((member, subscription));
                self.members += 1;
            }
        }
    }

    /// Removes `session` from the group of `subscribed`; the last member
    /// out removes the group.
    fn leave(&mut self, subscribed: &str, filter: &str, member: Member) {
        let Some(&id) = self.by_filter.get(subscribed) else {
            return;
        };
        let Some(group) = self.group_mut(id) else {
            return;
        };
        let Some(position) = group.members.iter().position(|(m, _)| *m == member) else {
            return;
        };
        group.members.remove(position);
        if position < group.cursor {
            group.cursor -= 1;
        }
        let emptied = group.members.is_empty();
        self.members = self.members.saturating_sub(1);
        if emptied {
            self.by_filter.remove(subscribed);
            self.index.remove(filter, id);
            if let Some(slot) = self.groups.get_mut(id as usize) {
                *slot = None;
            }
            self.free.push(id);
        }
    }

    fn group(&self, id: GroupId) -> Option<&Group> {
        self.groups.get(id as usize).and_then(Option::as_ref)
    }

    fn group_mut(&mut self, id: GroupId) -> Option<&mut Group> {
        self.groups.get_mut(id as usize).and_then(Option::as_mut)
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

/// A message moved from one member to another: at most the new member's
/// QoS, with its subscription identifier.
fn for_member(message: Message, subscription: Subscription) -> Message {
    Message {
        qos: message.qos.min(subscription.options.qos),
        subscription_ids: subscription
            .identifier
            .map(|id| id.get())
            .into_iter()
            .collect(),
        ..message
    }
}

/// FNV-1a: the same member for the same client id, run after run.
fn hash_client_id(client_id: &str) -> u64 {
    client_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Broker {
    /// Puts a subscription into the index routing reads: the trie, or its
    /// shared group.
    pub(super) fn index_subscription(
        &mut self,
        filter: &TopicFilter,
        session: SessionId,
        subscription: Subscription,
    ) {
        match parse_shared(filter.as_str()) {
            None => {
                self.subscriptions.insert(filter, session, subscription);
            }
            Some(Ok(shared)) => {
                // A part of a valid filter is a valid filter: the limits
                // were applied to the whole.
                match TopicFilter::new(shared.filter, &TopicLimits::UNBOUNDED) {
                    Ok(inner) => self.shared.join(
                        filter.as_str(),
                        &inner,
                        Member::Session(session),
                        subscription,
                    ),
                    Err(error) => warn!("not indexing shared filter {filter:?}: {error}"),
                }
            }
            // Refused at SUBSCRIBE; only a store written by another
            // version could hold one.
            Some(Err(error)) => warn!("not indexing shared filter {filter:?}: {error}"),
        }
    }

    /// Takes a subscription out of the index routing reads.
    pub(super) fn unindex_subscription(&mut self, filter: &str, session: SessionId) {
        match parse_shared(filter) {
            None => {
                self.subscriptions.remove(filter, session);
            }
            Some(Ok(shared)) => self
                .shared
                .leave(filter, shared.filter, Member::Session(session)),
            Some(Err(_)) => {}
        }
    }

    /// Adds to `targets` the session chosen in every group `message`
    /// matches; a bridge chosen gets it at once. `true` when a bridge took
    /// one.
    pub(super) fn add_shared_targets(
        &mut self,
        now: Instant,
        message: Routed<'_>,
        publisher: Option<ConnId>,
        targets: &mut Vec<Target>,
    ) -> bool {
        if self.shared.is_empty() {
            return false;
        }
        let topic = message.body.topic();
        let mut matched = std::mem::take(&mut self.shared.matched);
        matched.clear();
        self.shared
            .index
            .for_each_match(topic, |group, ()| matched.push(group));
        let mut bridged = false;
        if !matched.is_empty() {
            let hash = match self.settings.shared_strategy {
                SharedStrategy::HashClientId => self.publisher_hash(publisher, topic),
                _ => 0,
            };
            for &group in &matched {
                match self.pick_member(group, hash, None) {
                    Some((Member::Session(session), subscription)) => {
                        targets.push(Target::new(session, subscription));
                    }
                    Some((Member::Bridge { bridge, rule }, _)) => {
                        bridged |= self.forward_to_bridge_rule(now, bridge, rule, message);
                    }
                    None => {}
                }
            }
        }
        self.shared.matched = matched;
        bridged
    }

    /// The publisher's client id hashed; messages without one (wills,
    /// bridges, `$SYS`) hash their topic.
    fn publisher_hash(&self, publisher: Option<ConnId>, topic: &str) -> u64 {
        let client_id = publisher
            .and_then(|c| self.connections.get(c))
            .and_then(|c| c.session())
            .and_then(|s| self.sessions.get(s))
            .map(|slot| slot.session.client_id.as_str());
        hash_client_id(client_id.unwrap_or(topic))
    }

    /// The member of `group` that gets the next message, by the strategy,
    /// skipping members that cannot take it now for the next one that
    /// can: ready first, then busy, then offline; `excluded` never.
    fn pick_member(
        &mut self,
        group: GroupId,
        hash: u64,
        excluded: Option<SessionId>,
    ) -> Option<(Member, Subscription)> {
        let strategy = self.settings.shared_strategy;
        let count = self.shared.group(group)?.members.len();
        if count == 0 {
            return None;
        }
        let cursor = self.shared.group(group)?.cursor;
        let start = match strategy {
            SharedStrategy::RoundRobin | SharedStrategy::Sticky => cursor,
            SharedStrategy::Random => self.shared.next_random() as usize,
            SharedStrategy::HashClientId => hash as usize,
        } % count;
        let mut best: Option<(Readiness, usize)> = None;
        for step in 0..count {
            let index = (start + step) % count;
            let Some(&(member, _)) = self.shared.group(group)?.members.get(index) else {
                continue;
            };
            let readiness = match member {
                Member::Session(session) if Some(session) == excluded => None,
                Member::Session(session) => self.readiness(session),
                Member::Bridge { bridge, .. } => self.bridge_readiness(bridge),
            };
            let Some(readiness) = readiness else {
                continue;
            };
            if best.is_none_or(|(b, _)| readiness < b) {
                best = Some((readiness, index));
                if readiness == Readiness::Ready {
                    break;
                }
            }
        }
        let (_, index) = best?;
        let group = self.shared.group_mut(group)?;
        group.cursor = match strategy {
            SharedStrategy::RoundRobin => (index + 1) % count,
            SharedStrategy::Sticky => index,
            SharedStrategy::Random | SharedStrategy::HashClientId => group.cursor,
        };
        group.members.get(index).copied()
    }

    /// `None`: the session is gone or cannot take messages at all.
    fn readiness(&self, session: SessionId) -> Option<Readiness> {
        let slot = self.sessions.get(session)?;
        let Some(conn) = slot.connection else {
            return Some(Readiness::Offline);
        };
        let connection = self.connections.get(conn)?;
        if connection.closing.is_some() {
            // Ends soon: a clean session hands its messages on, a
            // persistent one keeps them.
            return Some(Readiness::Offline);
        }
        let outbound = &slot.session.outbound;
        let limits = self.queue_limits(Some(conn));
        let full = outbound.is_lagging()
            || outbound.queued_len() > 0
            || outbound.inflight_len() >= limits.max_inflight
            || connection.outbox.bytes() >= limits.max_outbound_bytes / 2;
        Some(if full {
            Readiness::Busy
        } else {
            Readiness::Ready
        })
    }

    /// A persistent member is back, or a session joined a group: the
    /// messages its groups queued for members still away (while no member
    /// was online) come to it, so a group's backlog is not stranded with
    /// whoever is slowest to return.
    pub(super) fn gather_for_returning_member(&mut self, now: Instant, returning: SessionId) {
        if self.shared.is_empty() {
            return;
        }
        let Some(slot) = self.sessions.get(returning) else {
            return;
        };
        let groups: Vec<(String, GroupId, Subscription)> = slot
            .session
            .subscriptions
            .iter()
            .filter_map(|(filter, subscription)| {
                let shared = parse_shared(filter)?.ok()?;
                let group = *self.shared.by_filter.get(filter)?;
                Some((shared.filter.to_owned(), group, subscription))
            })
            .collect();
        for (filter, group, subscription) in groups {
            let away: Vec<SessionId> = self
                .shared
                .group(group)
                .map(|g| {
                    g.members
                        .iter()
                        .filter_map(|(member, _)| match member {
                            Member::Session(s) if *s != returning => Some(*s),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            for other in away {
                let Some(slot) = self.sessions.get_mut(other) else {
                    continue;
                };
                if slot.connection.is_some() {
                    continue;
                }
                let taken = slot
                    .session
                    .outbound
                    .take_queued(|m| matches(&filter, m.body.topic()));
                if taken.is_empty() {
                    continue;
                }
                self.persist_journal(other);
                for message in taken {
                    self.stats.shared_handoffs += 1;
                    self.deliver(
                        now,
                        returning,
                        for_member(message, subscription),
                        Source::Moved,
                    );
                }
            }
        }
    }

    /// A session is ending: the QoS 1/2 messages its client has not
    /// acknowledged receiving, and that one of its shared subscriptions
    /// matches, go to another member of that group. A message that also
    /// matches one of its ordinary subscriptions may have come that way:
    /// it is handed on all the same (a possible second copy, to another
    /// client, rather than a loss).
    pub(super) fn hand_off(
        &mut self,
        now: Instant,
        ending: SessionId,
        shared_filters: &[String],
        messages: Vec<Message>,
    ) {
        for message in messages {
            if message.qos == QoS::AtMostOnce {
                continue;
            }
            let topic = message.body.topic();
            let group = shared_filters.iter().find_map(|subscribed| {
                let shared = parse_shared(subscribed)?.ok()?;
                if !matches(shared.filter, topic) {
                    return None;
                }
                self.shared.by_filter.get(subscribed.as_str()).copied()
            });
            let hash = self.publisher_hash(None, topic);
            let member = group.and_then(|g| self.pick_member(g, hash, Some(ending)));
            let (session, subscription) = match member {
                Some((Member::Session(session), subscription)) => (session, subscription),
                Some((Member::Bridge { bridge, rule }, _)) => {
                    let routed = Routed::plain(&message.body, message.qos, false);
                    let routed = Routed {
                        meta: message.meta.as_ref(),
                        ..routed
                    };
                    self.stats.shared_handoffs += 1;
                    self.forward_to_bridge_rule(now, bridge, rule, routed);
                    continue;
                }
                None => {
                    self.stats.shared_handoffs_dropped += 1;
                    continue;
                }
            };
            self.stats.shared_handoffs += 1;
            self.deliver(
                now,
                session,
                for_member(message, subscription),
                Source::Moved,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(s: &str) -> TopicFilter {
        TopicFilter::new(s, &TopicLimits::UNBOUNDED).unwrap()
    }

    #[test]
    fn groups_come_and_go_with_their_members() {
        let mut groups = SharedGroups::new(7);
        let sub = Subscription::default();
        let one = Member::Session(SessionId(1));
        let two = Member::Session(SessionId(2));
        groups.join("$share/g/a/+", &filter("a/+"), one, sub);
        groups.join("$share/g/a/+", &filter("a/+"), two, sub);
        groups.join("$share/g/a/+", &filter("a/+"), two, sub);
        groups.join("$share/h/a/+", &filter("a/+"), one, sub);
        assert_eq!((groups.group_count(), groups.member_count()), (2, 3));
        let mut matched = Vec::new();
        groups.index.for_each_match("a/b", |g, ()| matched.push(g));
        matched.sort_unstable();
        assert_eq!(matched, vec![0, 1]);
        groups.leave("$share/g/a/+", "a/+", one);
        groups.leave("$share/g/a/+", "a/+", Member::Session(SessionId(9)));
        assert_eq!((groups.group_count(), groups.member_count()), (2, 2));
        groups.leave("$share/g/a/+", "a/+", two);
        groups.leave("$share/h/a/+", "a/+", one);
        assert!(groups.is_empty());
        assert_eq!(groups.member_count(), 0);
        assert_eq!(groups.index.len(), 0);
        // Slots are reused.
        groups.join("$queue/x", &filter("x"), Member::Session(SessionId(3)), sub);
        assert_eq!(groups.groups.len(), 2);
    }

    #[test]
    fn the_hash_is_stable() {
        assert_eq!(hash_client_id(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash_client_id("a"), 0xaf63_dc4c_8601_ec8c);
    }
}

//! Back-pressure (docs/design.md ## Queues and back-pressure): a publisher
//! whose message filled a session's queue is paused — its socket is not
//! read — until that queue has room; a session full for longer than
//! `backpressure_timeout` becomes lagging and drops its oldest instead,
//! which releases everyone it held.
//!
//! Room lets every paused publisher go, in the order they were paused, but
//! the first one read usually fills the queue again. The others are then
//! paused again before they are read ([`Broker::may_read`]) rather than
//! each pushing one more message over the cap and being woken for its one
//! acknowledgement (README.md ## Performance: fan-in at QoS 1). The one
//! that filled the queue goes to the back of the line, so they take turns.

use std::time::Instant;

use super::connections::ConnId;
use super::publish::Source;
use super::sessions::SessionId;
use super::stats::LogKind;
use super::Broker;

impl Broker {
    /// How many messages past its cap `session_id`'s queue may hold with
    /// one more from `publisher`: one per publisher paused on it, this one
    /// included (it is about to be). A publisher that left while paused
    /// took its pause with it but not its message, so the one that comes
    /// back (or a source that cannot be paused) finds no room of its own.
    pub(super) fn over_cap_allowed(
        &self,
        session_id: SessionId,
        publisher: Option<ConnId>,
    ) -> usize {
        let others = self.blocked.get(&session_id).map_or(0, |waiting| {
            waiting.iter().filter(|&&c| Some(c) != publisher).count()
        });
        others + usize::from(publisher.is_some())
    }

    /// The queue is full after a message from `source`: pause its publisher.
    pub(super) fn pause_publisher(&mut self, session_id: SessionId, source: Source) {
        if let Source::Published(Some(publisher)) = source {
            self.block_publisher(session_id, publisher);
        }
    }

    pub(super) fn block_publisher(&mut self, session_id: SessionId, publisher: ConnId) {
        let waiting = self.blocked.entry(session_id).or_default();
        if waiting.contains(&publisher) {
            return;
        }
        if let Some(connection) = self.connections.get_mut(publisher) {
            waiting.push(publisher);
            connection.pause_count += 1;
        }
    }

    /// The session's queue has room again (or it went offline, lagging, or
    /// away): every publisher it held may be read again.
    pub(super) fn release_publishers(&mut self, session_id: SessionId) {
        let Some(waiting) = self.blocked.remove(&session_id) else {
            return;
        };
        for publisher in waiting {
            let Some(connection) = self.connections.get_mut(publisher) else {
                continue;
            };
            connection.pause_count = connection.pause_count.saturating_sub(1);
            if connection.pause_count == 0 {
                connection.released = true;
                self.released.push((publisher, session_id));
                self.wake(publisher);
            }
        }
    }

    /// Whether the network layer may read `conn` at `now`. A publisher let
    /// go by a session whose queue has filled up again since is paused
    /// again first, behind the others (see the module docs); one paused
    /// for its publish rate is read again once `now` reaches
    /// [`Broker::read_resumes_at`].
    pub fn may_read(&mut self, now: Instant, conn: ConnId) -> bool {
        // The flag spares every other read a search of the list.
        let was_released = self
            .connections
            .get_mut(conn)
            .is_some_and(|c| std::mem::take(&mut c.released));
        let listed = was_released
            .then(|| self.released.iter().position(|&(c, _)| c == conn))
            .flatten();
        if let Some(at) = listed {
            let (_, session_id) = self.released.swap_remove(at);
            let full_again = self.sessions.get(session_id).is_some_and(|slot| {
                slot.connection.is_some() && !slot.session.outbound.has_room(&self.settings.queue)
            });
            if full_again {
                self.block_publisher(session_id, conn);
            }
        }
        if self.waits_for_store(conn) {
            self.wait_for_store(conn);
            return false;
        }
        if self.rate_paused(now, conn) {
            return false;
        }
        self.read_allowed(conn)
    }

    /// A paused publisher is closing: no session holds it any more.
    pub(super) fn forget_publisher(&mut self, conn: ConnId) {
        self.blocked.retain(|_, waiting| {
            waiting.retain(|&c| c != conn);
            !waiting.is_empty()
        });
        self.released.retain(|&(c, _)| c != conn);
    }

    /// Releases publishers of sessions whose queue has room again.
    pub(super) fn release_if_room(&mut self, session_id: SessionId) {
        if !self.blocked.contains_key(&session_id) {
            return;
        }
        let has_room = self
            .sessions
            .get(session_id)
            .is_some_and(|slot| slot.session.outbound.has_room(&self.settings.queue));
        if has_room {
            self.release_publishers(session_id);
        }
    }

    /// Marks sessions full for longer than `backpressure_timeout` as lagging.
    pub(super) fn sweep_lagging(&mut self, now: Instant) {
        let timeout = self.settings.backpressure_timeout;
        let overdue: Vec<SessionId> = self
            .blocked
            .keys()
            .copied()
            .filter(|&id| {
                self.sessions.get(id).is_some_and(|slot| {
                    slot.session
                        .outbound
                        .full_since()
                        .is_some_and(|since| now.saturating_duration_since(since) >= timeout)
                })
            })
            .collect();
        for session_id in overdue {
            let Some(slot) = self.sessions.get_mut(session_id) else {
                continue;
            };
            slot.session.outbound.mark_lagging();
            self.stats.lagging_events += 1;
            let client = slot.session.client_id.clone();
            let secs = timeout.as_secs_f32();
            self.logs.warn(LogKind::Lagging, now, || {
                format!("client {client} has been full for {secs}s: lagging, dropping its oldest messages instead of pausing publishers")
            });
            self.release_publishers(session_id);
        }
    }
}

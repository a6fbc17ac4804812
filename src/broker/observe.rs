//! The broker's side of observability (docs/observability.md): the
//! `$SYS/broker/...` tree every `sys_interval`, client events on
//! `$SYS/events/client/...`, the [`Snapshot`] the admin API and systemd's
//! STATUS= read, and the wall clock they are stamped with.
//!
//! Sans-IO like the rest of the broker: the network layer hands in the
//! wall clock (`handle_wall_clock_ms`, each sweep) and what only it can
//! measure ([`EdgeFacts`]); times are converted from `Instant`s through
//! that anchor. Hooks into the connection paths are one call each
//! (`note_connected`, `note_disconnected`, `note_subscribed`,
//! `note_unsubscribed`, `note_session_expired`) and cost one branch while
//! `event_topics` and trajectories are off; the same hooks feed the device
//! trajectories (`console.rs`), with the event's payload as details.
//!
//! Invariant: the `$SYS/broker/...` values are retained in memory only,
//! outside `max_retained_messages`, and never stored; events are QoS 0 and
//! not retained. Both go through `route`, so ACLs and bridges see them as
//! any message.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use crate::codec::{PublishBody, QoS};
use crate::sys::trajectory::TrajectoryKind;
use crate::sys::Totals;
use crate::sys::{topics, ClientEvent, EdgeFacts, EventKind, Snapshot, SysSettings, SysState};

use super::connections::{CloseReason, ConnId, ConnState, KeepAlive};
use super::publish::Routed;
use super::sessions::SessionId;
use super::Broker;

/// What the `$SYS/broker/version` topic says.
const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Default)]
pub(super) struct Observe {
    sys: SysState,
    /// The wall clock, ms since the epoch, at an instant (set each sweep).
    wall: Option<(Instant, u64)>,
    /// Connections whose CONNECT was accepted and that have not closed.
    connected: usize,
    /// What `ConnState::Active`'s `connected_secs` counts from: the first
    /// CONNECT accepted, never moved.
    epoch: Option<Instant>,
}

impl Observe {
    /// 1 + whole seconds from the epoch to `now` (set by the first call):
    /// never zero, and 136 years before it saturates.
    pub(super) fn secs_since_epoch(&mut self, now: Instant) -> NonZeroU32 {
        let epoch = *self.epoch.get_or_insert(now);
        let secs = now.saturating_duration_since(epoch).as_secs();
        NonZeroU32::new(
            u32::try_from(secs)
                .unwrap_or(u32::MAX - 1)
                .saturating_add(1),
        )
        .unwrap_or(NonZeroU32::MAX)
    }

    /// Ms since the epoch at `at`, through the last wall clock anchor.
    pub(super) fn wall_ms_at(&self, at: Instant) -> Option<u64> {
        let (anchor, ms) = self.wall?;
        let ms = if at >= anchor {
            ms.saturating_add(millis(at.saturating_duration_since(anchor)))
        } else {
            ms.saturating_sub(millis(anchor.saturating_duration_since(at)))
        };
        Some(ms)
    }
}

/// The trajectory record of a client event (a takeover aside).
fn trajectory_kind(kind: EventKind) -> TrajectoryKind {
    match kind {
        EventKind::Connected => TrajectoryKind::Connect,
        EventKind::Disconnected => TrajectoryKind::Disconnect,
        EventKind::Subscribed => TrajectoryKind::Subscribed,
        EventKind::Unsubscribed => TrajectoryKind::Unsubscribed,
        EventKind::SessionExpired => TrajectoryKind::Expired,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Broker {
    /// `sys_interval` and `event_topics`; `now` starts the uptime.
    pub fn install_sys(&mut self, now: Instant, settings: SysSettings) {
        self.observe.sys = SysState::new(settings, now);
    }

    /// The wall clock at `now` in ms since the epoch; `None` when the
    /// clock is not set (a router before NTP).
    pub fn handle_wall_clock_ms(&mut self, now: Instant, ms: Option<u64>) {
        self.observe.wall = ms.map(|ms| (now, ms));
    }

    /// Whether the alerts, the load averages or the `$SYS` tree are due: the caller
    /// then measures [`EdgeFacts`] and calls [`Broker::handle_sys`].
    pub fn sys_due(&self, now: Instant) -> bool {
        self.observe.sys.is_due(now) || self.alerts_due(now)
    }

    /// The alerts (`alerts.rs`) when due, then the loads and the tree.
    pub fn handle_sys(&mut self, now: Instant, facts: EdgeFacts) {
        if self.alerts_due(now) {
            self.evaluate_alerts(now, facts);
        }
        if !self.observe.sys.is_due(now) {
            return;
        }
        let totals = Totals {
            messages_received: self.stats.messages_received,
            messages_sent: self.stats.deliveries,
            bytes_received: self.stats.bytes_received,
            bytes_sent: self.stats.bytes_sent,
        };
        if !self.observe.sys.take_due(now, totals) {
            return;
        }
        let snapshot = self.snapshot(now, facts);
        for (topic, payload) in topics::broker_topics(VERSION, &snapshot) {
            match PublishBody::new(&topic, payload.as_bytes()) {
                Ok(body) => {
                    self.retained.set_system(&body);
                    self.route(now, Routed::plain(&body, QoS::AtMostOnce, false), None);
                }
                Err(error) => log::error!("cannot publish {topic}: {error}"),
            }
        }
    }

    /// Every number of the `$SYS` tree, the API's `/stats` and `/metrics`.
    pub fn snapshot(&self, now: Instant, facts: EdgeFacts) -> Snapshot {
        let mut s = Snapshot {
            uptime_secs: self.observe.sys.uptime(now).as_secs(),
            clients_maximum: self.observe.sys.clients_maximum,
            clients_expired: self.stats.sessions_expired,
            connections: self.connections.len() as u64,
            messages_received: self.stats.messages_received,
            messages_sent: self.stats.deliveries,
            bytes_received: self.stats.bytes_received,
            bytes_sent: self.stats.bytes_sent,
            publish_dropped: self.dropped_total(),
            retained: self.retained.len() as u64,
            shared_groups: self.shared.group_count() as u64,
            shared_subscriptions: self.shared.member_count() as u64,
            trajectory_bytes: self.console_bytes().0 as u64,
            history_bytes: self.console_bytes().1.map(|b| b as u64),
            loads: self.observe.sys.loads.loads(),
            facts: EdgeFacts {
                wall_ms: facts.wall_ms.or_else(|| self.observe.wall_ms_at(now)),
                ..facts
            },
            counters: self.stats.named().to_vec(),
            listeners: self.listeners.numbers(),
            bridges: self.bridge_numbers(),
            ..Snapshot::default()
        };
        for id in self.sessions.ids() {
            let Some(slot) = self.sessions.get(id) else {
                continue;
            };
            s.clients_total += 1;
            if slot.connection.is_some() {
                s.clients_connected += 1;
            } else {
                s.clients_disconnected += 1;
            }
            s.subscriptions += slot.session.subscriptions.len() as u64;
            s.queued += slot.session.outbound.queued_len() as u64;
            s.inflight += slot.session.outbound.inflight_len() as u64;
        }
        s
    }

    /// Messages received per second over the last load tick.
    pub fn messages_per_second(&self) -> f64 {
        self.observe.sys.loads.messages_per_second()
    }

    fn dropped_total(&self) -> u64 {
        let s = &self.stats;
        [
            s.dropped_qos0_outbound_full,
            s.dropped_offline_queue_full,
            s.dropped_store_full,
            s.dropped_lagging,
            s.dropped_online_queue_full,
            s.dropped_retained_queue_full,
            s.refused_memory_limit,
        ]
        .iter()
        .fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// When `conn`'s CONNECT was accepted (to the second), and its
    /// keepalive in seconds (0: none).
    pub(super) fn connected_since(&self, conn: ConnId) -> Option<(Instant, u16)> {
        let ConnState::Active {
            keep_alive,
            connected_secs,
            ..
        } = self.connections.get(conn)?.state
        else {
            return None;
        };
        let secs = u64::from(connected_secs.get() - 1);
        let at = self.observe.epoch?.checked_add(Duration::from_secs(secs))?;
        Some((at, keep_alive.map_or(0, KeepAlive::secs)))
    }

    /// CONNECT accepted for `conn` (connect.rs).
    pub(super) fn note_connected(&mut self, now: Instant, conn: ConnId, session: SessionId) {
        self.observe.connected += 1;
        self.observe.sys.note_clients(self.observe.connected as u64);
        self.client_event(now, EventKind::Connected, (conn, session, None), None, None);
    }

    /// `conn`, a connected client of `session`, is closing (close.rs).
    pub(super) fn note_disconnected(
        &mut self,
        now: Instant,
        conn: ConnId,
        session: SessionId,
        reason: CloseReason,
        keep_alive: Option<KeepAlive>,
    ) {
        // The connection has left its Active state by now (close.rs): its
        // keepalive comes from the caller.
        let who = (conn, session, Some(keep_alive.map_or(0, KeepAlive::secs)));
        self.client_event(now, EventKind::Disconnected, who, Some(reason), None);
        self.observe.connected = self.observe.connected.saturating_sub(1);
    }

    /// Subscriptions granted to `conn` (subscribe.rs).
    pub(super) fn note_subscribed<'a>(
        &mut self,
        now: Instant,
        conn: ConnId,
        session: SessionId,
        granted: impl Iterator<Item = (&'a str, QoS)>,
    ) {
        for (filter, qos) in granted {
            let sub = Some((filter, Some(qos as u8)));
            self.client_event(now, EventKind::Subscribed, (conn, session, None), None, sub);
        }
    }

    /// Subscriptions removed: by the client on `conn` (subscribe.rs), or
    /// through the admin API (`conn` is then the client's connection, if
    /// it is online).
    pub(super) fn note_unsubscribed(
        &mut self,
        now: Instant,
        conn: Option<ConnId>,
        session: SessionId,
        filters: &[String],
    ) {
        for filter in filters {
            let sub = Some((filter.as_str(), None));
            match conn {
                Some(conn) => {
                    let who = (conn, session, None);
                    self.client_event(now, EventKind::Unsubscribed, who, None, sub);
                }
                None => {
                    let why = "unsubscribed by an administrator";
                    self.session_event(now, EventKind::Unsubscribed, session, why, sub);
                }
            }
        }
    }

    /// An offline session expired (timeouts.rs).
    pub(super) fn note_session_expired(&mut self, now: Instant, session: SessionId) {
        self.session_event(now, EventKind::SessionExpired, session, "expired", None);
    }

    /// An event about a connected client.
    fn client_event(
        &mut self,
        now: Instant,
        kind: EventKind,
        (conn, session, keep_alive): (ConnId, SessionId, Option<u16>),
        reason: Option<CloseReason>,
        sub: Option<(&str, Option<u8>)>,
    ) {
        if !self.observe.sys.settings.events && !self.console.trajectory_on() {
            return;
        }
        let (Some(connection), Some(slot)) =
            (self.connections.get(conn), self.sessions.get(session))
        else {
            return;
        };
        let addr = connection.origin.peer().socket_addr();
        let event = ClientEvent {
            clientid: slot.session.client_id.as_str(),
            username: self
                .identities
                .get(&conn)
                .and_then(|i| i.username.as_deref()),
            ip: addr.map(|a| a.ip()),
            port: addr.map(|a| a.port()),
            ts: self.observe.wall_ms_at(now),
            protocol: Some(connection.version.level()),
            clean: Some(!slot.session.persistent),
            keepalive: keep_alive.or_else(|| self.connected_since(conn).map(|(_, k)| k)),
            reason: reason.map(CloseReason::words),
            filter: sub.map(|(f, _)| f),
            qos: sub.and_then(|(_, q)| q),
        };
        let payload = event.payload();
        let client = slot.session.client_id.clone();
        let trail = match (kind, reason) {
            (EventKind::Disconnected, Some(CloseReason::TakenOver)) => TrajectoryKind::Takeovered,
            _ => trajectory_kind(kind),
        };
        self.publish_event(now, kind, &payload);
        self.note_trajectory(now, client.as_str(), trail, payload);
    }

    /// An event about a session with no connection.
    fn session_event(
        &mut self,
        now: Instant,
        kind: EventKind,
        session: SessionId,
        reason: &'static str,
        sub: Option<(&str, Option<u8>)>,
    ) {
        if !self.observe.sys.settings.events && !self.console.trajectory_on() {
            return;
        }
        let Some(slot) = self.sessions.get(session) else {
            return;
        };
        let event = ClientEvent {
            clientid: slot.session.client_id.as_str(),
            ts: self.observe.wall_ms_at(now),
            protocol: Some(slot.session.version.level()),
            clean: Some(!slot.session.persistent),
            reason: Some(reason),
            filter: sub.map(|(f, _)| f),
            qos: sub.and_then(|(_, q)| q),
            ..ClientEvent::default()
        };
        let payload = event.payload();
        let client = slot.session.client_id.clone();
        self.publish_event(now, kind, &payload);
        self.note_trajectory(now, client.as_str(), trajectory_kind(kind), payload);
    }

    fn publish_event(&mut self, now: Instant, kind: EventKind, payload: &str) {
        if !self.observe.sys.settings.events {
            return;
        }
        match PublishBody::new(kind.topic(), payload.as_bytes()) {
            Ok(body) => {
                self.stats.events_published += 1;
                self.route(now, Routed::plain(&body, QoS::AtMostOnce, false), None);
            }
            Err(error) => log::error!("cannot publish an event on {}: {error}", kind.topic()),
        }
    }

    #[cfg(not(feature = "bridge"))]
    fn bridge_numbers(&self) -> Vec<crate::sys::BridgeNumbers> {
        Vec::new()
    }
}

impl Broker {
    /// Counts an admin API refusal and logs it, rate-limited
    /// (`net/admin.rs` and the router call this).
    pub fn count_admin_refusal(&mut self, now: Instant, status: u16, why: &str) {
        match status {
            401 => self.stats.admin_unauthorized += 1,
            408 => self.stats.admin_timeouts += 1,
            413 | 431 => self.stats.admin_too_large += 1,
            503 => self.stats.admin_busy += 1,
            _ => {}
        }
        self.logs.warn(super::stats::LogKind::Admin, now, || {
            format!("admin API: {status}: {why}")
        });
    }

    /// Counts an admin API request answered.
    pub fn count_admin_request(&mut self) {
        self.stats.admin_requests += 1;
    }
}

impl Broker {
    /// systemd's STATUS= line: clients, messages per second, queued
    /// messages, bridge states (`systemd::watchdog_loop`).
    pub fn status_line(&self) -> String {
        let queued: usize = self
            .sessions
            .ids()
            .filter_map(|id| self.sessions.get(id))
            .map(|slot| slot.session.outbound.queued_len())
            .sum();
        let rate = self.messages_per_second().max(0.0).round() as u64;
        let mut line = format!(
            "{} clients, {rate} msg/s in, {queued} queued",
            self.observe.connected,
        );
        let bridges = self.bridge_numbers();
        if !bridges.is_empty() {
            let states: Vec<String> = bridges
                .iter()
                .map(|b| format!("{} {}", b.name, if b.up { "up" } else { "down" }))
                .collect();
            line.push_str(&format!("; bridges: {}", states.join(", ")));
        }
        line
    }
}

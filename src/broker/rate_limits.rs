//! Rate limits (docs/design.md ## Limits), each a [`TokenBucket`] whose
//! burst is its rate:
//!
//! - `max_connection_rate`, per listener: a socket accepted over it is
//!   closed at once, before anything is read from it ([`Broker::admit_connection`]);
//! - `max_publish_rate` and `max_publish_bytes_rate`, per client: a
//!   PUBLISH is charged once read, whatever becomes of it, and a client
//!   whose buckets hold less than one token is not read until they refill.
//!   Back-pressure, as for a full session queue: nothing is dropped or
//!   refused, other clients are not slowed. The network layer asks
//!   [`Broker::read_resumes_at`] when to look again, so a paused client
//!   costs one timer, not a poll loop. Its silence is ours meanwhile: its
//!   keepalive is not counted. An MQTT 5 client over a limit for
//!   `rate_limit_disconnect_after` is sent DISCONNECT 0x96 (message rate
//!   too high) and closed; 3.x has no way to say why, so it stays paused.
//!
//! A client's buckets exist only while it publishes near its limits: the
//! sweep forgets a client whose buckets are full again (a fresh entry is
//! the same). Nothing here exists while both publish rates are 0.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::connections::{CloseReason, ConnId, Origin, PeerAddr};
use super::listeners::ListenerId;
use super::stats::LogKind;
use super::token_bucket::{Rate, TokenBucket};
use super::Broker;

/// The per-client publish limits (`max_publish_rate`,
/// `max_publish_bytes_rate`, `rate_limit_disconnect_after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublishLimits {
    /// PUBLISH packets per second; `None`: no limit.
    pub messages: Option<Rate>,
    /// Bytes of topic and payload (what `bytes_received` counts) per
    /// second; `None`: no limit.
    pub bytes: Option<Rate>,
    /// Zero: never.
    pub disconnect_after: Duration,
}

impl PublishLimits {
    pub fn new(messages: u32, bytes: u32, disconnect_after: Duration) -> PublishLimits {
        PublishLimits {
            messages: Rate::per_second(messages),
            bytes: Rate::per_second(bytes),
            disconnect_after,
        }
    }

    fn is_on(&self) -> bool {
        self.messages.is_some() || self.bytes.is_some()
    }
}

/// One publishing client's buckets.
#[derive(Debug, Default)]
struct ClientRate {
    messages: TokenBucket,
    bytes: TokenBucket,
    /// Not read until then.
    paused_until: Option<Instant>,
    /// Over a limit since then: paused, and its buckets not full since.
    over_since: Option<Instant>,
}

impl ClientRate {
    /// How long until both buckets hold a token (one message, one byte).
    fn wait(&self, now: Instant, limits: &PublishLimits) -> Duration {
        let messages = limits
            .messages
            .map_or(Duration::ZERO, |r| self.messages.wait(now, 1, r));
        let bytes = limits
            .bytes
            .map_or(Duration::ZERO, |r| self.bytes.wait(now, 1, r));
        messages.max(bytes)
    }

    fn is_full(&self, now: Instant) -> bool {
        self.messages.is_full(now) && self.bytes.is_full(now)
    }

    fn over_too_long(&self, now: Instant, limits: &PublishLimits) -> bool {
        !limits.disconnect_after.is_zero()
            && self.over_since.is_some_and(|since| {
                now.saturating_duration_since(since) >= limits.disconnect_after
            })
    }
}

/// The clients publishing near their limits, by connection.
#[derive(Debug, Default)]
pub(super) struct PublishRates {
    clients: HashMap<ConnId, ClientRate>,
    /// Time clients were paused, in all (`publish_rate_paused_ms`).
    paused: Duration,
}

impl PublishRates {
    /// Whether `conn` waits for its buckets (cheap while no one publishes
    /// under a limit).
    pub(super) fn holds(&self, conn: ConnId) -> bool {
        !self.clients.is_empty()
            && self
                .clients
                .get(&conn)
                .is_some_and(|c| c.paused_until.is_some())
    }
}

impl Broker {
    /// A socket was just accepted on `listener`: whether to keep it. Over
    /// the listener's `max_connection_rate` it is to be closed at once,
    /// unread (no CONNECT, no TLS handshake); counted and logged here.
    pub fn admit_connection(&mut self, now: Instant, listener: ListenerId, peer: PeerAddr) -> bool {
        let Err(over) = self.listeners.admit(now, listener) else {
            return true;
        };
        self.stats.connections_rate_limited += 1;
        let peer = self.listeners.peer_name(Origin::new(listener, peer));
        self.logs.warn(LogKind::ConnectionRate, now, || {
            format!(
                "closing a connection from {peer} unread: listener {} is over its \
                 max_connection_rate {}/s ({} closed on this listener so far)",
                over.label, over.rate, over.closed
            )
        });
        false
    }

    /// Charges a PUBLISH of `bytes` (topic and payload) read from `conn`,
    /// and pauses its reading while its buckets are empty.
    pub(super) fn charge_publish(&mut self, now: Instant, conn: ConnId, bytes: usize) {
        let limits = self.settings.publish_limits;
        if !limits.is_on()
            || self
                .connections
                .get(conn)
                .is_none_or(|c| c.closing.is_some())
        {
            return;
        }
        let client = self.publish_rates.clients.entry(conn).or_default();
        // A client that let its buckets fill up was under its limits.
        if client.is_full(now) {
            client.over_since = None;
        }
        if let Some(rate) = limits.messages {
            client.messages.take(now, 1, rate);
        }
        if let Some(rate) = limits.bytes {
            client
                .bytes
                .take(now, u64::try_from(bytes).unwrap_or(u64::MAX), rate);
        }
        let wait = client.wait(now, &limits);
        if wait.is_zero() {
            return;
        }
        client.paused_until = Some(now.checked_add(wait).unwrap_or(now));
        self.publish_rates.paused = self.publish_rates.paused.saturating_add(wait);
        let paused_ms = self.publish_rates.paused.as_millis();
        self.stats.publish_rate_paused_ms = u64::try_from(paused_ms).unwrap_or(u64::MAX);
        let starts_episode = client.over_since.is_none();
        client.over_since.get_or_insert(now);
        let over_too_long = client.over_too_long(now, &limits);
        if starts_episode {
            self.note_over_publish_rate(now, conn);
        }
        if over_too_long {
            self.disconnect_over_rate(now, conn);
        }
    }

    /// A client went over its publish rate: counted, logged (rate-limited).
    fn note_over_publish_rate(&mut self, now: Instant, conn: ConnId) {
        self.stats.publish_rate_pauses += 1;
        let client = self.client_label(conn);
        let limits = self.settings.publish_limits;
        let mut which = Vec::new();
        if let Some(rate) = limits.messages {
            which.push(format!("max_publish_rate {}/s", rate.get()));
        }
        if let Some(rate) = limits.bytes {
            which.push(format!("max_publish_bytes_rate {}/s", rate.get()));
        }
        self.logs.warn(LogKind::PublishRate, now, || {
            format!(
                "pausing {client}: over its {}; it is read again as its allowance refills",
                which.join(" or ")
            )
        });
    }

    /// Whether `conn` still waits for its buckets at `now`; a pause that
    /// is over ends here.
    pub(super) fn rate_paused(&mut self, now: Instant, conn: ConnId) -> bool {
        if self.publish_rates.clients.is_empty() {
            return false;
        }
        let Some(client) = self.publish_rates.clients.get_mut(&conn) else {
            return false;
        };
        match client.paused_until {
            Some(until) if until > now => true,
            Some(_) => {
                client.paused_until = None;
                false
            }
            None => false,
        }
    }

    /// When the network layer should look at a client paused for its
    /// publish rate again; `None` when it is not paused for it.
    pub fn read_resumes_at(&self, conn: ConnId) -> Option<Instant> {
        if !self.publish_rates.holds(conn) {
            return None;
        }
        self.publish_rates
            .clients
            .get(&conn)
            .and_then(|c| c.paused_until)
    }

    /// Every sweep: a paused client's silence is ours (its keepalive is
    /// not counted); an MQTT 5 client over its limit for
    /// `rate_limit_disconnect_after` (a big PUBLISH can pause it that long
    /// at once) is disconnected; clients whose buckets are full again are
    /// forgotten.
    pub(super) fn sweep_publish_rates(&mut self, now: Instant) {
        if self.publish_rates.clients.is_empty() {
            return;
        }
        let limits = self.settings.publish_limits;
        let mut paused = Vec::new();
        let mut overdue = Vec::new();
        self.publish_rates.clients.retain(|&conn, client| {
            if client.paused_until.is_none_or(|until| until <= now) {
                // Its task is about to read it, or has nothing to send.
                return !client.is_full(now);
            }
            paused.push(conn);
            if client.over_too_long(now, &limits) {
                overdue.push(conn);
            }
            true
        });
        for conn in paused {
            if let Some(connection) = self.connections.get_mut(conn) {
                connection.last_seen = now;
            }
        }
        for conn in overdue {
            self.disconnect_over_rate(now, conn);
        }
    }

    /// MQTT 5: DISCONNECT 0x96 (message rate too high), then close. 3.x
    /// clients have no such packet: they stay paused instead.
    fn disconnect_over_rate(&mut self, now: Instant, conn: ConnId) {
        let Some(connection) = self.connections.get(conn) else {
            return;
        };
        if !connection.version.is_v5() || connection.closing.is_some() {
            return;
        }
        self.stats.publish_rate_disconnects += 1;
        let client = self.client_label(conn);
        let after = self.settings.publish_limits.disconnect_after.as_secs_f32();
        self.logs.warn(LogKind::PublishRateDisconnect, now, || {
            format!(
                "disconnecting {client} (0x96 message rate too high): over its publish rate \
                 for {after}s (rate_limit_disconnect_after)"
            )
        });
        // `close` sends DISCONNECT 0x96 (`CloseReason::disconnect_code`).
        self.close(now, conn, CloseReason::RateLimited);
    }

    /// The connection is gone.
    pub(super) fn forget_publish_rate(&mut self, conn: ConnId) {
        self.publish_rates.clients.remove(&conn);
    }
}

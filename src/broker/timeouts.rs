//! Periodic sweeps off one `now` (as mosquitto does): connect timeout,
//! keepalive, lagging sessions, publish rates, session expiry and will
//! delay (`expiry.rs`), token expiry (`enhanced_auth.rs`).

use std::time::{Duration, Instant};

use super::connections::{CloseReason, ConnId, ConnState};
use super::handshake::HandshakeStage;
use super::stats::LogKind;
use super::Broker;

/// How often the sweeps run: keepalive is enforced to within this, which is
/// well inside the half keepalive of slack MQTT grants.
const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

impl Broker {
    /// When `handle_timeout` should be called next; `None` before the
    /// first call (call it at once).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sweep = self.last_sweep.map(|last| last + SWEEP_INTERVAL);
        match (sweep, self.store_batch_due()) {
            (Some(sweep), Some(due)) => Some(sweep.min(due)),
            (sweep, due) => sweep.or(due),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|last| now.saturating_duration_since(last) < SWEEP_INTERVAL)
        {
            return;
        }
        self.last_sweep = Some(now);
        // First: it marks clients paused for their rate as just seen.
        self.sweep_publish_rates(now);
        self.sweep_connections(now);
        self.sweep_lagging(now);
        self.sweep_expired_sessions(now);
        self.sweep_delayed_wills(now);
        self.sweep_auth_deadlines(now);
        self.throttle.sweep(now);
        self.sweep_console(now);
    }

    fn sweep_connections(&mut self, now: Instant) {
        let connect_timeout = self.settings.connect_timeout;
        let mut expired: Vec<(ConnId, CloseReason, Option<HandshakeStage>)> = Vec::new();
        for (id, connection) in self.connections.iter_mut() {
            if connection.closing.is_some() {
                continue;
            }
            match connection.state {
                ConnState::AwaitingConnect { handshake } => {
                    // `last_seen` is the opening time until CONNECT.
                    if now.saturating_duration_since(connection.last_seen) >= connect_timeout {
                        expired.push((id, CloseReason::ConnectTimeout, handshake));
                    }
                }
                ConnState::Active {
                    keep_alive: Some(limit),
                    ..
                } => {
                    if connection.pause_count > 0 || connection.store_waiting {
                        // We are not reading it; its silence is ours.
                        connection.last_seen = now;
                    } else if now.saturating_duration_since(connection.last_seen) >= limit.limit() {
                        expired.push((id, CloseReason::KeepAliveTimeout, None));
                    }
                }
                ConnState::Active {
                    keep_alive: None, ..
                } => {}
            }
        }
        for (id, reason, handshake) in expired {
            self.count_timeout(reason, handshake);
            let client = self.client_label(id);
            let stage = handshake.map_or_else(String::new, |stage| format!(" {stage}"));
            self.logs.warn(LogKind::Timeout, now, || {
                format!("closing {client}: {reason}{stage}")
            });
            self.close(now, id, reason);
        }
    }

    fn count_timeout(&mut self, reason: CloseReason, handshake: Option<HandshakeStage>) {
        if reason != CloseReason::ConnectTimeout {
            self.stats.keepalive_timeouts += 1;
            return;
        }
        self.stats.connect_timeouts += 1;
        match handshake {
            Some(HandshakeStage::Tls) => self.stats.tls_handshake_timeouts += 1,
            Some(HandshakeStage::WebSocketUpgrade) => self.stats.websocket_upgrade_timeouts += 1,
            None => {}
        }
    }
}

//! A bridge link's clocks: the CONNACK deadline, keepalive PINGREQs and
//! half-open detection. Part of [`Link`], sans-IO: time comes in as `now`.

use std::time::{Duration, Instant};

use crate::codec::Packet;

use super::{Link, LinkError, CONNACK_TIMEOUT};

impl Link {
    /// Ours, or the remote's Server Keep Alive (5.0), which wins
    /// [MQTT-3.2.2-21]; 0 is none.
    fn keepalive(&self) -> Option<Duration> {
        let secs = self
            .limits
            .server_keep_alive
            .unwrap_or(self.settings.keepalive);
        (secs > 0).then(|| Duration::from_secs(u64::from(secs)))
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.connected {
            return Some(self.started_at + CONNACK_TIMEOUT);
        }
        let keepalive = self.keepalive()?;
        let dead = self.last_received + keepalive + keepalive / 2;
        let ping = if self.ping_outstanding {
            self.last_sent + keepalive
        } else {
            self.last_sent.min(self.last_received) + keepalive
        };
        Some(dead.min(ping))
    }

    /// Sends PINGREQ when due; fails a link that went quiet for 1.5 ×
    /// keepalive (the remote answers PINGREQ, so silence means half-open).
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), LinkError> {
        if !self.connected {
            if now >= self.started_at + CONNACK_TIMEOUT {
                return Err(LinkError::ConnAckTimeout);
            }
            return Ok(());
        }
        let Some(keepalive) = self.keepalive() else {
            return Ok(());
        };
        if now >= self.last_received + keepalive + keepalive / 2 {
            return Err(LinkError::KeepaliveTimeout);
        }
        // Ping when we sent nothing for a keepalive (the rule), and also
        // when we heard nothing for one (a QoS 0 stream gets no answers).
        let quiet_out = now >= self.last_sent + keepalive;
        let quiet_in = !self.ping_outstanding && now >= self.last_received + keepalive;
        if quiet_out || quiet_in {
            self.write(&Packet::PingReq, now)?;
            self.ping_outstanding = true;
        }
        Ok(())
    }
}

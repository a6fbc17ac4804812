//! Queue entries onto the wire: a PUBLISH shaped to the remote's limits
//! (`v5.rs`), with a 5.0 message's properties and remaining expiry, and
//! the resend after a reconnect. Part of [`Link`], sans-IO.

use std::time::Instant;

use crate::codec::{
    Ack, AckKind, Frame, OutgoingProperties, Packet, PublishBody, PublishHeader, QoS,
};

use super::{packet_id_for, v5, Inflight, Link, LinkError, Stage};
use crate::bridge::queue::{BridgeQueue, QueueJournal};

impl Link {
    /// After a reconnect: each unacknowledged entry again, in order — DUP
    /// PUBLISH, or PUBREL if the remote had PUBREC'd it — as far as the
    /// remote's Receive Maximum allows; true once all are.
    pub(super) fn resend(
        &mut self,
        now: Instant,
        queue: &mut BridgeQueue,
        journal: &mut dyn QueueJournal,
    ) -> Result<bool, LinkError> {
        let entries: Vec<(u64, Inflight)> = self
            .inflight
            .iter()
            .filter(|(_, e)| !e.handled)
            .map(|(s, i)| (*s, *i))
            .collect();
        for (seq, entry) in entries {
            match entry.stage {
                Stage::Published if !self.may_publish(false) => return Ok(false),
                Stage::Published => self.send_entry(now, seq, true, queue, journal)?,
                Stage::Released if queue.get(seq).is_none() => {
                    // Dropped by the caps while unacknowledged.
                    self.finish(seq, queue, journal);
                }
                Stage::Released => {
                    self.write(&Packet::Ack(Ack::new(AckKind::PubRel, entry.pid)), now)?;
                    if let Some(e) = self.inflight.get_mut(&seq) {
                        e.handled = true;
                    }
                    self.stats.resent += 1;
                }
            }
        }
        self.resend_pending = false;
        Ok(true)
    }

    /// Writes queue entry `seq` as a PUBLISH shaped to the remote's limits
    /// (`dup`: again, under the id it had). An entry that cannot go —
    /// expired, or larger than the remote's Maximum Packet Size — leaves
    /// the queue and is counted instead; a QoS 0 one leaves once written.
    pub(super) fn send_entry(
        &mut self,
        now: Instant,
        seq: u64,
        dup: bool,
        queue: &mut BridgeQueue,
        journal: &mut dyn QueueJournal,
    ) -> Result<(), LinkError> {
        let Some(message) = queue.get(seq) else {
            // Dropped by the caps while unacknowledged.
            self.finish(seq, queue, journal);
            return Ok(());
        };
        if message.is_expired(now) {
            self.drops.expired += 1;
            self.finish(seq, queue, journal);
            return Ok(());
        }
        let asked = (message.qos, message.retain);
        let (qos, retain) = self.limits.shape(message.qos, message.retain);
        let packet_id = (qos != QoS::AtMostOnce).then(|| packet_id_for(seq));
        let header = PublishHeader {
            qos,
            retain,
            dup: dup && packet_id.is_some(),
            packet_id,
        };
        let properties = OutgoingProperties {
            forwarded: &message.properties,
            message_expiry: message.expires_at.map(|at| v5::remaining_secs(at, now)),
            subscription_ids: &[],
        };
        let body = PublishBody::new(&message.topic, &message.payload)?;
        let frame = Frame::publish_message(&body, header, &properties, self.settings.protocol)?;
        if !self.limits.fits(frame.len()) {
            // The remote would close the link on it [MQTT-3.2.2-15]:
            // dropped for this link alone.
            self.drops.too_large += 1;
            self.finish(seq, queue, journal);
            return Ok(());
        }
        for slice in frame.slices() {
            self.out.extend_from_slice(slice);
        }
        self.last_sent = now;
        if dup {
            self.stats.resent += 1;
        } else {
            self.stats.sent += 1;
            self.drops.shaped(asked, (qos, retain));
        }
        match packet_id {
            None => self.finish(seq, queue, journal),
            Some(pid) => {
                let stage = Stage::Published;
                let entry = Inflight {
                    pid,
                    stage,
                    handled: true,
                    counts: true,
                };
                self.inflight.insert(seq, entry);
                self.by_pid.insert(pid.get(), seq);
            }
        }
        Ok(())
    }
}

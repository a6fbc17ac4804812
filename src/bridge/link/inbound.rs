//! The remote's PUBLISHes on a bridge link: their flows (PUBACK, PUBREC
//! with QoS 2 de-duplication [MQTT-4.3.3-2]) and the acknowledgements held
//! until the store has what they changed (sync persistence). Part of
//! [`Link`], sans-IO.

use std::time::Instant;

use crate::codec::{Ack, AckKind, Packet, Publish, QoS};

use super::{Link, LinkError, LinkEvent};

impl Link {
    pub(super) fn handle_publish(
        &mut self,
        now: Instant,
        publish: Publish,
        events: &mut Vec<LinkEvent>,
    ) -> Result<(), LinkError> {
        self.stats.received += 1;
        if publish.properties.topic_alias().is_some() {
            // Our CONNECT set no Topic Alias Maximum: 0 [MQTT-3.1.2-27].
            return Err(LinkError::Protocol(
                "a Topic Alias, though we allow none [MQTT-3.1.2-27]",
            ));
        }
        let event = |ack| LinkEvent::Publish {
            body: publish.body,
            qos: publish.qos,
            retain: publish.retain,
            properties: publish.properties,
            ack,
        };
        match (publish.qos, publish.packet_id) {
            (QoS::AtMostOnce, _) => events.push(event(None)),
            (QoS::AtLeastOnce, Some(pid)) => {
                events.push(event(Some(Ack::new(AckKind::PubAck, pid))));
            }
            (QoS::ExactlyOnce, Some(pid)) => {
                // Delivered on first receipt, acknowledged again on resends.
                let rec = Ack::new(AckKind::PubRec, pid);
                if self.inbound_qos2.insert(pid.get()) {
                    events.push(event(Some(rec)));
                } else {
                    self.acknowledge(rec, None, now)?;
                }
            }
            _ => return Err(LinkError::Protocol("QoS > 0 PUBLISH without packet id")),
        }
        Ok(())
    }

    /// Sends `ack` to the remote now, or once store batch `until` is
    /// durable (sync persistence: what the message changed must be on
    /// disk first). Acknowledgements leave in the order the PUBLISHes came
    /// [MQTT-4.6.0-2] [MQTT-4.6.0-3], so one behind a held one waits too.
    pub fn acknowledge(
        &mut self,
        ack: Ack,
        until: Option<u64>,
        now: Instant,
    ) -> Result<(), LinkError> {
        let behind = self.held_acks.back().map(|&(batch, _)| batch);
        match (until, behind) {
            (None, None) => self.write(&Packet::Ack(ack), now),
            (until, behind) => {
                let batch = until.unwrap_or(0).max(behind.unwrap_or(0));
                self.held_acks.push_back((batch, ack));
                Ok(())
            }
        }
    }

    /// Store batches up to `durable` are on disk: the acknowledgements
    /// they held go out.
    pub fn release_acks(&mut self, durable: u64, now: Instant) -> Result<(), LinkError> {
        while self
            .held_acks
            .front()
            .is_some_and(|&(batch, _)| batch <= durable)
        {
            if let Some((_, ack)) = self.held_acks.pop_front() {
                self.write(&Packet::Ack(ack), now)?;
            }
        }
        Ok(())
    }
}

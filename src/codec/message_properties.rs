//! The MQTT 5 properties a broker passes on with an application message
//! (docs/mqtt5.md, "Message properties"), and what one subscriber's
//! PUBLISH carries on top of them.
//!
//! A message keeps its forwarded properties as their wire encoding (without
//! the length), once for all subscribers and for the store: Payload Format
//! Indicator, Content Type, Response Topic, Correlation Data and every User
//! Property, in the order received [MQTT-3.3.2-17, MQTT-3.3.2-18]. Left out:
//! the Message Expiry Interval (each delivery carries what remains of it
//! [MQTT-3.3.2-6]), a Topic Alias (it names a topic on one connection only
//! [MQTT-3.3.2-7]), Subscription Identifiers (the receiver's own) and a
//! will's Will Delay Interval.
//!
//! Invariant: a forwarded block reads back, with `read_forwarded_block`,
//! as properties allowed in a PUBLISH.

use super::properties::Context;
use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, Properties, Property};

/// The forwarded block of `properties` (a PUBLISH's or a will's); empty
/// when none is forwarded.
pub fn forwarded_block(properties: &Properties) -> Result<Vec<u8>, EncodeError> {
    let kept: Vec<Property> = properties
        .iter()
        .filter(|p| {
            !matches!(
                p,
                Property::MessageExpiryInterval(_)
                    | Property::TopicAlias(_)
                    | Property::SubscriptionIdentifier(_)
                    | Property::WillDelayInterval(_)
            )
        })
        .cloned()
        .collect();
    let mut out = Vec::new();
    Properties(kept).write_values(&mut out)?;
    Ok(out)
}

/// Reads a block written by [`forwarded_block`] (a stored message's).
pub fn read_forwarded_block(bytes: &[u8]) -> Result<Properties, DecodeError> {
    let mut framed = Vec::with_capacity(bytes.len().saturating_add(4));
    framed.extend_from_slice(
        &wire::varint(bytes.len()).map_err(|_| DecodeError::Malformed("property length"))?,
    );
    framed.extend_from_slice(bytes);
    let mut reader = Reader::new(&framed);
    let properties = Properties::read(&mut reader, Context::Publish)?;
    reader.finish()?;
    Ok(properties)
}

/// What one subscriber's PUBLISH carries in 5.0: the message's forwarded
/// block, what remains of its expiry, and the identifiers of that
/// subscriber's matching subscriptions [MQTT-3.3.4-3].
#[derive(Debug, Clone, Copy, Default)]
pub struct OutgoingProperties<'a> {
    pub forwarded: &'a [u8],
    pub message_expiry: Option<u32>,
    pub subscription_ids: &'a [u32],
}

impl OutgoingProperties<'_> {
    pub fn is_empty(&self) -> bool {
        self.forwarded.is_empty()
            && self.message_expiry.is_none()
            && self.subscription_ids.is_empty()
    }

    /// The property values, without the length.
    pub(super) fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(
            self.forwarded
                .len()
                .saturating_add(5)
                .saturating_add(self.subscription_ids.len().saturating_mul(5)),
        );
        out.extend_from_slice(self.forwarded);
        let mut extra = Properties::default();
        if let Some(seconds) = self.message_expiry {
            extra.push(Property::MessageExpiryInterval(seconds));
        }
        for &id in self.subscription_ids {
            extra.push(Property::SubscriptionIdentifier(id));
        }
        extra.write_values(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_keeps_order_and_drops_per_hop_properties() {
        let received = Properties(vec![
            Property::UserProperty("b".into(), "2".into()),
            Property::MessageExpiryInterval(60),
            Property::TopicAlias(3),
            Property::ContentType("text/plain".into()),
            Property::UserProperty("a".into(), "1".into()),
            Property::PayloadFormatIndicator(1),
        ]);
        let block = forwarded_block(&received).unwrap();
        let back = read_forwarded_block(&block).unwrap();
        assert_eq!(
            back.0,
            vec![
                Property::UserProperty("b".into(), "2".into()),
                Property::ContentType("text/plain".into()),
                Property::UserProperty("a".into(), "1".into()),
                Property::PayloadFormatIndicator(1),
            ]
        );
        assert!(forwarded_block(&Properties::default()).unwrap().is_empty());
        assert!(read_forwarded_block(&[0x23, 0, 1]).is_ok());
        assert!(read_forwarded_block(&[0x11, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn outgoing_appends_expiry_and_identifiers() {
        let forwarded =
            forwarded_block(&Properties(vec![Property::ContentType("x".into())])).unwrap();
        let out = OutgoingProperties {
            forwarded: &forwarded,
            message_expiry: Some(9),
            subscription_ids: &[1, 200],
        };
        let bytes = out.encode().unwrap();
        assert_eq!(
            read_forwarded_block(&bytes).unwrap().0,
            vec![
                Property::ContentType("x".into()),
                Property::MessageExpiryInterval(9),
                Property::SubscriptionIdentifier(1),
                Property::SubscriptionIdentifier(200),
            ]
        );
        assert!(OutgoingProperties::default().is_empty());
    }
}

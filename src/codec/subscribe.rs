//! SUBSCRIBE: one or more filters with their options.

use super::wire::Reader;
use super::{DecodeError, EncodeError, PacketId, Properties, ProtocolVersion, QoS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub packet_id: PacketId,
    /// At least one [MQTT-3.8.3-3].
    pub requests: Vec<SubscriptionRequest>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRequest {
    /// Raw as sent; the broker validates it as a topic filter.
    pub filter: String,
    pub options: SubscriptionOptions,
}

/// In 3.x only `qos` is on the wire; the rest keep their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriptionOptions {
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: RetainHandling,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetainHandling {
    #[default]
    SendAtSubscribe = 0,
    SendIfNew = 1,
    DoNotSend = 2,
}

pub(super) fn read(reader: &mut Reader<'_>, version: ProtocolVersion) -> Result<Subscribe, DecodeError> {
    let _ = (reader, version);
    Err(DecodeError::Malformed("SUBSCRIBE not implemented"))
}

pub(super) fn write(packet: &Subscribe, version: ProtocolVersion, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let _ = (packet, version, out);
    Err(EncodeError::Invalid("SUBSCRIBE not implemented"))
}

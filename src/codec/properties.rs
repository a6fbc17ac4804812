//! MQTT 5 properties: decoded into a list, checked for duplicates and for
//! being allowed in the packet that carries them. Empty (no allocation) in 3.x.
//!
//! Invariants of a decoded [`Properties`]: every property is allowed in its
//! packet (MQTT 5 table 2-4), none repeats except User Property (anywhere)
//! and Subscription Identifier (in PUBLISH only), and the values the spec
//! bounds are in range (a zero Subscription Identifier, Receive Maximum or
//! Maximum Packet Size, or a flag byte other than 0 or 1, is a protocol
//! error). Topic Alias 0 is left to the broker: it has its own reason code.

use super::wire::{self, Reader};
use super::{DecodeError, EncodeError, ReasonCode};

/// One MQTT 5 property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Property {
    PayloadFormatIndicator(u8),
    MessageExpiryInterval(u32),
    ContentType(String),
    ResponseTopic(String),
    CorrelationData(Vec<u8>),
    SubscriptionIdentifier(u32),
    SessionExpiryInterval(u32),
    AssignedClientIdentifier(String),
    ServerKeepAlive(u16),
    AuthenticationMethod(String),
    AuthenticationData(Vec<u8>),
    RequestProblemInformation(u8),
    WillDelayInterval(u32),
    RequestResponseInformation(u8),
    ResponseInformation(String),
    ServerReference(String),
    ReasonString(String),
    ReceiveMaximum(u16),
    TopicAliasMaximum(u16),
    TopicAlias(u16),
    MaximumQoS(u8),
    RetainAvailable(u8),
    UserProperty(String, String),
    MaximumPacketSize(u32),
    WildcardSubscriptionAvailable(u8),
    SubscriptionIdentifierAvailable(u8),
    SharedSubscriptionAvailable(u8),
}

/// Which packet (or part of one) a property block belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Context {
    Connect,
    Will,
    ConnAck,
    Publish,
    /// PUBACK, PUBREC, PUBREL, PUBCOMP.
    Ack,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

impl Context {
    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

mod id {
    pub const PAYLOAD_FORMAT_INDICATOR: u32 = 0x01;
    pub const MESSAGE_EXPIRY_INTERVAL: u32 = 0x02;
    pub const CONTENT_TYPE: u32 = 0x03;
    pub const RESPONSE_TOPIC: u32 = 0x08;
    pub const CORRELATION_DATA: u32 = 0x09;
    pub const SUBSCRIPTION_IDENTIFIER: u32 = 0x0B;
    pub const SESSION_EXPIRY_INTERVAL: u32 = 0x11;
    pub const ASSIGNED_CLIENT_IDENTIFIER: u32 = 0x12;
    pub const SERVER_KEEP_ALIVE: u32 = 0x13;
    pub const AUTHENTICATION_METHOD: u32 = 0x15;
    pub const AUTHENTICATION_DATA: u32 = 0x16;
    pub const REQUEST_PROBLEM_INFORMATION: u32 = 0x17;
    pub const WILL_DELAY_INTERVAL: u32 = 0x18;
    pub const REQUEST_RESPONSE_INFORMATION: u32 = 0x19;
    pub const RESPONSE_INFORMATION: u32 = 0x1A;
    pub const SERVER_REFERENCE: u32 = 0x1C;
    pub const REASON_STRING: u32 = 0x1F;
    pub const RECEIVE_MAXIMUM: u32 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u32 = 0x22;
    pub const TOPIC_ALIAS: u32 = 0x23;
    pub const MAXIMUM_QOS: u32 = 0x24;
    pub const RETAIN_AVAILABLE: u32 = 0x25;
    pub const USER_PROPERTY: u32 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u32 = 0x27;
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u32 = 0x28;
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u32 = 0x29;
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u32 = 0x2A;
}

/// The packets a property may appear in: MQTT 5 table 2-4.
fn allowed_in(property: u32) -> Option<u16> {
    use Context::*;
    const MESSAGE: u16 = Publish.bit() | Will.bit();
    const SESSION: u16 = Connect.bit() | ConnAck.bit() | Disconnect.bit();
    const AUTH: u16 = Connect.bit() | ConnAck.bit() | Auth.bit();
    const LIMITS: u16 = Connect.bit() | ConnAck.bit();
    const REASON: u16 =
        ConnAck.bit() | Ack.bit() | SubAck.bit() | UnsubAck.bit() | Disconnect.bit() | Auth.bit();
    // Every context (Auth is the last): User Property may appear anywhere.
    const ALL: u16 = (1 << (Auth as u16 + 1)) - 1;
    let bits = match property {
        id::PAYLOAD_FORMAT_INDICATOR
        | id::MESSAGE_EXPIRY_INTERVAL
        | id::CONTENT_TYPE
        | id::RESPONSE_TOPIC
        | id::CORRELATION_DATA => MESSAGE,
        id::SUBSCRIPTION_IDENTIFIER => Publish.bit() | Subscribe.bit(),
        id::SESSION_EXPIRY_INTERVAL => SESSION,
        id::ASSIGNED_CLIENT_IDENTIFIER
        | id::SERVER_KEEP_ALIVE
        | id::RESPONSE_INFORMATION
        | id::MAXIMUM_QOS
        | id::RETAIN_AVAILABLE
        | id::WILDCARD_SUBSCRIPTION_AVAILABLE
        | id::SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | id::SHARED_SUBSCRIPTION_AVAILABLE => ConnAck.bit(),
        id::AUTHENTICATION_METHOD | id::AUTHENTICATION_DATA => AUTH,
        id::REQUEST_PROBLEM_INFORMATION | id::REQUEST_RESPONSE_INFORMATION => Connect.bit(),
        id::WILL_DELAY_INTERVAL => Will.bit(),
        id::SERVER_REFERENCE => ConnAck.bit() | Disconnect.bit(),
        id::REASON_STRING => REASON,
        id::RECEIVE_MAXIMUM | id::TOPIC_ALIAS_MAXIMUM | id::MAXIMUM_PACKET_SIZE => LIMITS,
        id::TOPIC_ALIAS => Publish.bit(),
        id::USER_PROPERTY => ALL,
        _ => return None,
    };
    Some(bits)
}

impl Property {
    fn id(&self) -> u32 {
        match self {
            Property::PayloadFormatIndicator(_) => id::PAYLOAD_FORMAT_INDICATOR,
            Property::MessageExpiryInterval(_) => id::MESSAGE_EXPIRY_INTERVAL,
            Property::ContentType(_) => id::CONTENT_TYPE,
            Property::ResponseTopic(_) => id::RESPONSE_TOPIC,
            Property::CorrelationData(_) => id::CORRELATION_DATA,
            Property::SubscriptionIdentifier(_) => id::SUBSCRIPTION_IDENTIFIER,
            Property::SessionExpiryInterval(_) => id::SESSION_EXPIRY_INTERVAL,
            Property::AssignedClientIdentifier(_) => id::ASSIGNED_CLIENT_IDENTIFIER,
            Property::ServerKeepAlive(_) => id::SERVER_KEEP_ALIVE,
            Property::AuthenticationMethod(_) => id::AUTHENTICATION_METHOD,
            Property::AuthenticationData(_) => id::AUTHENTICATION_DATA,
            Property::RequestProblemInformation(_) => id::REQUEST_PROBLEM_INFORMATION,
            Property::WillDelayInterval(_) => id::WILL_DELAY_INTERVAL,
            Property::RequestResponseInformation(_) => id::REQUEST_RESPONSE_INFORMATION,
            Property::ResponseInformation(_) => id::RESPONSE_INFORMATION,
            Property::ServerReference(_) => id::SERVER_REFERENCE,
            Property::ReasonString(_) => id::REASON_STRING,
            Property::ReceiveMaximum(_) => id::RECEIVE_MAXIMUM,
            Property::TopicAliasMaximum(_) => id::TOPIC_ALIAS_MAXIMUM,
            Property::TopicAlias(_) => id::TOPIC_ALIAS,
            Property::MaximumQoS(_) => id::MAXIMUM_QOS,
            Property::RetainAvailable(_) => id::RETAIN_AVAILABLE,
            Property::UserProperty(..) => id::USER_PROPERTY,
            Property::MaximumPacketSize(_) => id::MAXIMUM_PACKET_SIZE,
            Property::WildcardSubscriptionAvailable(_) => id::WILDCARD_SUBSCRIPTION_AVAILABLE,
            Property::SubscriptionIdentifierAvailable(_) => id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            Property::SharedSubscriptionAvailable(_) => id::SHARED_SUBSCRIPTION_AVAILABLE,
        }
    }

    /// Bytes on the wire, identifier included (every identifier is one byte).
    fn wire_len(&self) -> usize {
        let value = match self {
            Property::PayloadFormatIndicator(_)
            | Property::RequestProblemInformation(_)
            | Property::RequestResponseInformation(_)
            | Property::MaximumQoS(_)
            | Property::RetainAvailable(_)
            | Property::WildcardSubscriptionAvailable(_)
            | Property::SubscriptionIdentifierAvailable(_)
            | Property::SharedSubscriptionAvailable(_) => 1,
            Property::ServerKeepAlive(_)
            | Property::ReceiveMaximum(_)
            | Property::TopicAliasMaximum(_)
            | Property::TopicAlias(_) => 2,
            Property::MessageExpiryInterval(_)
            | Property::SessionExpiryInterval(_)
            | Property::WillDelayInterval(_)
            | Property::MaximumPacketSize(_) => 4,
            Property::SubscriptionIdentifier(v) => wire::varint_len(*v as usize),
            Property::ContentType(s)
            | Property::ResponseTopic(s)
            | Property::AssignedClientIdentifier(s)
            | Property::AuthenticationMethod(s)
            | Property::ResponseInformation(s)
            | Property::ServerReference(s)
            | Property::ReasonString(s) => s.len().saturating_add(2),
            Property::CorrelationData(b) | Property::AuthenticationData(b) => {
                b.len().saturating_add(2)
            }
            Property::UserProperty(k, v) => k.len().saturating_add(v.len()).saturating_add(4),
        };
        value.saturating_add(1)
    }

    /// Appends this property, identifier first, as on the wire.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.write(out)
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        // Every identifier is below 128: one varint byte.
        out.push(self.id() as u8);
        match self {
            Property::PayloadFormatIndicator(v)
            | Property::RequestProblemInformation(v)
            | Property::RequestResponseInformation(v)
            | Property::MaximumQoS(v)
            | Property::RetainAvailable(v)
            | Property::WildcardSubscriptionAvailable(v)
            | Property::SubscriptionIdentifierAvailable(v)
            | Property::SharedSubscriptionAvailable(v) => out.push(*v),
            Property::ServerKeepAlive(v)
            | Property::ReceiveMaximum(v)
            | Property::TopicAliasMaximum(v)
            | Property::TopicAlias(v) => wire::put_u16(out, *v),
            Property::MessageExpiryInterval(v)
            | Property::SessionExpiryInterval(v)
            | Property::WillDelayInterval(v)
            | Property::MaximumPacketSize(v) => wire::put_u32(out, *v),
            Property::SubscriptionIdentifier(v) => {
                if *v == 0 {
                    return Err(EncodeError::Invalid("subscription identifier 0"));
                }
                wire::put_varint(out, *v as usize)?;
            }
            Property::ContentType(s)
            | Property::ResponseTopic(s)
            | Property::AssignedClientIdentifier(s)
            | Property::AuthenticationMethod(s)
            | Property::ResponseInformation(s)
            | Property::ServerReference(s)
            | Property::ReasonString(s) => wire::put_str(out, s)?,
            Property::CorrelationData(b) | Property::AuthenticationData(b) => {
                wire::put_binary(out, b)?
            }
            Property::UserProperty(k, v) => {
                wire::put_str(out, k)?;
                wire::put_str(out, v)?;
            }
        }
        Ok(())
    }

    fn read(property: u32, r: &mut Reader<'_>) -> Result<Property, DecodeError> {
        Ok(match property {
            id::PAYLOAD_FORMAT_INDICATOR => Property::PayloadFormatIndicator(flag(r)?),
            id::MESSAGE_EXPIRY_INTERVAL => Property::MessageExpiryInterval(r.read_u32()?),
            id::CONTENT_TYPE => Property::ContentType(r.read_string()?),
            id::RESPONSE_TOPIC => Property::ResponseTopic(r.read_string()?),
            id::CORRELATION_DATA => Property::CorrelationData(r.read_binary()?.to_vec()),
            id::SUBSCRIPTION_IDENTIFIER => match r.read_varint()? {
                0 => return Err(DecodeError::Protocol("subscription identifier 0")),
                v => Property::SubscriptionIdentifier(v),
            },
            id::SESSION_EXPIRY_INTERVAL => Property::SessionExpiryInterval(r.read_u32()?),
            id::ASSIGNED_CLIENT_IDENTIFIER => Property::AssignedClientIdentifier(r.read_string()?),
            id::SERVER_KEEP_ALIVE => Property::ServerKeepAlive(r.read_u16()?),
            id::AUTHENTICATION_METHOD => Property::AuthenticationMethod(r.read_string()?),
            id::AUTHENTICATION_DATA => Property::AuthenticationData(r.read_binary()?.to_vec()),
            id::REQUEST_PROBLEM_INFORMATION => Property::RequestProblemInformation(flag(r)?),
            id::WILL_DELAY_INTERVAL => Property::WillDelayInterval(r.read_u32()?),
            id::REQUEST_RESPONSE_INFORMATION => Property::RequestResponseInformation(flag(r)?),
            id::RESPONSE_INFORMATION => Property::ResponseInformation(r.read_string()?),
            id::SERVER_REFERENCE => Property::ServerReference(r.read_string()?),
            id::REASON_STRING => Property::ReasonString(r.read_string()?),
            id::RECEIVE_MAXIMUM => match r.read_u16()? {
                0 => return Err(DecodeError::Protocol("receive maximum 0")),
                v => Property::ReceiveMaximum(v),
            },
            id::TOPIC_ALIAS_MAXIMUM => Property::TopicAliasMaximum(r.read_u16()?),
            id::TOPIC_ALIAS => Property::TopicAlias(r.read_u16()?),
            id::MAXIMUM_QOS => Property::MaximumQoS(flag(r)?),
            id::RETAIN_AVAILABLE => Property::RetainAvailable(flag(r)?),
            id::USER_PROPERTY => Property::UserProperty(r.read_string()?, r.read_string()?),
            id::MAXIMUM_PACKET_SIZE => match r.read_u32()? {
                0 => return Err(DecodeError::Protocol("maximum packet size 0")),
                v => Property::MaximumPacketSize(v),
            },
            id::WILDCARD_SUBSCRIPTION_AVAILABLE => {
                Property::WildcardSubscriptionAvailable(flag(r)?)
            }
            id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => {
                Property::SubscriptionIdentifierAvailable(flag(r)?)
            }
            id::SHARED_SUBSCRIPTION_AVAILABLE => Property::SharedSubscriptionAvailable(flag(r)?),
            _ => return Err(DecodeError::Malformed("unknown property identifier")),
        })
    }
}

/// A byte property whose only values are 0 and 1.
fn flag(r: &mut Reader<'_>) -> Result<u8, DecodeError> {
    match r.read_u8()? {
        v @ (0 | 1) => Ok(v),
        _ => Err(DecodeError::Protocol("property value other than 0 or 1")),
    }
}

/// The properties of one packet, in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties(pub Vec<Property>);

impl Properties {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn push(&mut self, property: Property) {
        self.0.push(property);
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Property> {
        self.0.iter()
    }

    /// The property block without its length prefix, as on the wire.
    pub(super) fn wire_len(&self) -> usize {
        self.0
            .iter()
            .fold(0usize, |sum, p| sum.saturating_add(p.wire_len()))
    }

    /// Writes the properties without their length prefix.
    pub(super) fn write_values(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.0.iter().try_for_each(|p| p.write(out))
    }

    /// Writes the length prefix and the properties.
    pub(super) fn write(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        wire::put_varint(out, self.wire_len())?;
        self.write_values(out)
    }

    /// Reads a length-prefixed property block belonging to `context`.
    pub(super) fn read(r: &mut Reader<'_>, context: Context) -> Result<Properties, DecodeError> {
        let len = usize::try_from(r.read_varint()?)
            .map_err(|_| DecodeError::Malformed("property length"))?;
        let mut block = r.sub(len)?;
        let mut list = Vec::new();
        // Identifiers are at most 0x2A, so one bit each in a u64.
        let mut seen: u64 = 0;
        while !block.is_empty() {
            let property = block.read_varint()?;
            let Some(contexts) = allowed_in(property) else {
                return Err(DecodeError::Malformed("unknown property identifier"));
            };
            if contexts & context.bit() == 0 {
                return Err(DecodeError::Protocol("property not allowed in this packet"));
            }
            let bit = 1u64 << property;
            let may_repeat = property == id::USER_PROPERTY
                || (property == id::SUBSCRIPTION_IDENTIFIER && context == Context::Publish);
            if seen & bit != 0 && !may_repeat {
                return Err(DecodeError::Protocol("property included more than once"));
            }
            seen |= bit;
            list.push(Property::read(property, &mut block)?);
        }
        Ok(Properties(list))
    }
}

/// The tail shared by the 5.0 acknowledgements, DISCONNECT and AUTH: an
/// optional reason code, then optional properties. Absent means SUCCESS and
/// none [MQTT-3.4.2-1].
pub(super) fn read_reason_tail(
    r: &mut Reader<'_>,
    context: Context,
) -> Result<(ReasonCode, Properties), DecodeError> {
    if r.is_empty() {
        return Ok((ReasonCode::SUCCESS, Properties::default()));
    }
    let reason = ReasonCode(r.read_u8()?);
    if r.is_empty() {
        return Ok((reason, Properties::default()));
    }
    Ok((reason, Properties::read(r, context)?))
}

/// Writes the shortest form of that tail; `with_length` forces the property
/// length after a reason code (AUTH has no short form with a reason only).
pub(super) fn write_reason_tail(
    reason: ReasonCode,
    properties: &Properties,
    with_length: bool,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if reason == ReasonCode::SUCCESS && properties.is_empty() {
        return Ok(());
    }
    out.push(reason.0);
    if with_length || !properties.is_empty() {
        properties.write(out)?;
    }
    Ok(())
}

/// Getters for the properties the broker acts on: the first occurrence.
macro_rules! getter {
    ($(#[$doc:meta])* $name:ident, $variant:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $name(&self) -> Option<$ty> {
            self.0.iter().find_map(|p| match p {
                Property::$variant(v) => Some(*v),
                _ => None,
            })
        }
    };
}

macro_rules! getter_ref {
    ($name:ident, $variant:ident, $ty:ty) => {
        pub fn $name(&self) -> Option<&$ty> {
            self.0.iter().find_map(|p| match p {
                Property::$variant(v) => Some(&**v),
                _ => None,
            })
        }
    };
}

impl Properties {
    getter!(payload_format_indicator, PayloadFormatIndicator, u8);
    getter!(message_expiry_interval, MessageExpiryInterval, u32);
    getter!(session_expiry_interval, SessionExpiryInterval, u32);
    getter!(server_keep_alive, ServerKeepAlive, u16);
    getter!(request_problem_information, RequestProblemInformation, u8);
    getter!(will_delay_interval, WillDelayInterval, u32);
    getter!(request_response_information, RequestResponseInformation, u8);
    getter!(receive_maximum, ReceiveMaximum, u16);
    getter!(topic_alias_maximum, TopicAliasMaximum, u16);
    getter!(topic_alias, TopicAlias, u16);
    getter!(maximum_qos, MaximumQoS, u8);
    getter!(retain_available, RetainAvailable, u8);
    getter!(maximum_packet_size, MaximumPacketSize, u32);
    getter_ref!(content_type, ContentType, str);
    getter_ref!(response_topic, ResponseTopic, str);
    getter_ref!(correlation_data, CorrelationData, [u8]);
    getter_ref!(assigned_client_identifier, AssignedClientIdentifier, str);
    getter_ref!(authentication_method, AuthenticationMethod, str);
    getter_ref!(authentication_data, AuthenticationData, [u8]);
    getter_ref!(reason_string, ReasonString, str);
    getter_ref!(server_reference, ServerReference, str);

    /// Every Subscription Identifier, in order (several in a PUBLISH).
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().filter_map(|p| match p {
            Property::SubscriptionIdentifier(v) => Some(*v),
            _ => None,
        })
    }

    /// Every User Property, in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0.iter().filter_map(|p| match p {
            Property::UserProperty(k, v) => Some((k.as_str(), v.as_str())),
            _ => None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], context: Context) -> Result<Properties, DecodeError> {
        let mut r = Reader::new(bytes);
        let props = Properties::read(&mut r, context)?;
        r.finish()?;
        Ok(props)
    }

    #[test]
    fn golden_block() {
        // Session expiry 10, receive maximum 20, user property ("a", "b").
        let bytes = [
            15, 0x11, 0, 0, 0, 10, 0x21, 0, 20, 0x26, 0, 1, b'a', 0, 1, b'b',
        ];
        let bytes = &bytes[..];
        let props = read(bytes, Context::Connect).unwrap();
        assert_eq!(props.session_expiry_interval(), Some(10));
        assert_eq!(props.receive_maximum(), Some(20));
        assert_eq!(
            props.user_properties().collect::<Vec<_>>(),
            vec![("a", "b")]
        );
        let mut out = Vec::new();
        props.write(&mut out).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn duplicates_are_protocol_errors() {
        let twice = [10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2];
        assert!(matches!(
            read(&twice, Context::Connect),
            Err(DecodeError::Protocol(_))
        ));
        let users = [10, 0x26, 0, 0, 0, 0, 0x26, 0, 0, 0, 0];
        assert_eq!(read(&users, Context::Connect).unwrap().0.len(), 2);
        // Subscription Identifier repeats in PUBLISH only.
        let ids = [4, 0x0B, 1, 0x0B, 2];
        assert_eq!(
            read(&ids, Context::Publish)
                .unwrap()
                .subscription_identifiers()
                .count(),
            2
        );
        assert!(matches!(
            read(&ids, Context::Subscribe),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn not_allowed_in_packet_is_protocol_error() {
        // Topic Alias in CONNECT; Session Expiry in PUBLISH; Reason String in
        // UNSUBSCRIBE.
        assert!(matches!(
            read(&[3, 0x23, 0, 1], Context::Connect),
            Err(DecodeError::Protocol(_))
        ));
        assert!(matches!(
            read(&[5, 0x11, 0, 0, 0, 1], Context::Publish),
            Err(DecodeError::Protocol(_))
        ));
        assert!(matches!(
            read(&[3, 0x1F, 0, 0], Context::Unsubscribe),
            Err(DecodeError::Protocol(_))
        ));
        // Will Delay is for the will only.
        assert!(read(&[5, 0x18, 0, 0, 0, 1], Context::Will).is_ok());
        assert!(read(&[5, 0x18, 0, 0, 0, 1], Context::Connect).is_err());
    }

    #[test]
    fn bad_values() {
        assert!(matches!(
            read(&[2, 0x0B, 0], Context::Publish),
            Err(DecodeError::Protocol(_))
        ));
        assert!(matches!(
            read(&[3, 0x21, 0, 0], Context::Connect),
            Err(DecodeError::Protocol(_))
        ));
        assert!(matches!(
            read(&[2, 0x17, 2], Context::Connect),
            Err(DecodeError::Protocol(_))
        ));
        assert!(matches!(
            read(&[1, 0x7F], Context::Connect),
            Err(DecodeError::Malformed(_))
        ));
        // Property length past the end of the packet.
        assert!(matches!(
            read(&[5, 0x01, 0], Context::Publish),
            Err(DecodeError::Malformed(_))
        ));
        // A value past the end of the property block.
        assert!(matches!(
            read(&[2, 0x21, 0, 0], Context::Connect),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn subscription_identifier_varint() {
        let props = read(&[5, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F], Context::Subscribe).unwrap();
        assert_eq!(props.subscription_identifiers().next(), Some(268_435_455));
        let mut out = Vec::new();
        props.write(&mut out).unwrap();
        assert_eq!(out, [5, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F]);
    }
}

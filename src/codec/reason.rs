//! Reason codes (MQTT 5) and CONNACK return codes (3.1 / 3.1.1), mapped in
//! one place so that every refusal reads the same on every version.

use super::ProtocolVersion;

/// An MQTT 5 reason code; in 3.x the SUBACK return codes share the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReasonCode(pub u8);

impl ReasonCode {
    pub const SUCCESS: ReasonCode = ReasonCode(0x00);
    pub const GRANTED_QOS_0: ReasonCode = ReasonCode(0x00);
    pub const GRANTED_QOS_1: ReasonCode = ReasonCode(0x01);
    pub const GRANTED_QOS_2: ReasonCode = ReasonCode(0x02);
    pub const DISCONNECT_WITH_WILL: ReasonCode = ReasonCode(0x04);
    pub const CONTINUE_AUTHENTICATION: ReasonCode = ReasonCode(0x18);
    pub const RE_AUTHENTICATE: ReasonCode = ReasonCode(0x19);
    pub const NO_MATCHING_SUBSCRIBERS: ReasonCode = ReasonCode(0x10);
    pub const NO_SUBSCRIPTION_EXISTED: ReasonCode = ReasonCode(0x11);
    pub const UNSPECIFIED_ERROR: ReasonCode = ReasonCode(0x80);
    pub const MALFORMED_PACKET: ReasonCode = ReasonCode(0x81);
    pub const PROTOCOL_ERROR: ReasonCode = ReasonCode(0x82);
    pub const IMPLEMENTATION_SPECIFIC_ERROR: ReasonCode = ReasonCode(0x83);
    pub const UNSUPPORTED_PROTOCOL_VERSION: ReasonCode = ReasonCode(0x84);
    pub const CLIENT_IDENTIFIER_NOT_VALID: ReasonCode = ReasonCode(0x85);
    pub const BAD_USER_NAME_OR_PASSWORD: ReasonCode = ReasonCode(0x86);
    pub const NOT_AUTHORIZED: ReasonCode = ReasonCode(0x87);
    pub const SERVER_UNAVAILABLE: ReasonCode = ReasonCode(0x88);
    pub const SERVER_BUSY: ReasonCode = ReasonCode(0x89);
    pub const BAD_AUTHENTICATION_METHOD: ReasonCode = ReasonCode(0x8C);
    pub const SERVER_SHUTTING_DOWN: ReasonCode = ReasonCode(0x8B);
    pub const KEEP_ALIVE_TIMEOUT: ReasonCode = ReasonCode(0x8D);
    pub const SESSION_TAKEN_OVER: ReasonCode = ReasonCode(0x8E);
    pub const TOPIC_FILTER_INVALID: ReasonCode = ReasonCode(0x8F);
    pub const TOPIC_NAME_INVALID: ReasonCode = ReasonCode(0x90);
    pub const PACKET_IDENTIFIER_IN_USE: ReasonCode = ReasonCode(0x91);
    pub const PACKET_IDENTIFIER_NOT_FOUND: ReasonCode = ReasonCode(0x92);
    pub const RECEIVE_MAXIMUM_EXCEEDED: ReasonCode = ReasonCode(0x93);
    pub const PACKET_TOO_LARGE: ReasonCode = ReasonCode(0x95);
    pub const MESSAGE_RATE_TOO_HIGH: ReasonCode = ReasonCode(0x96);
    pub const TOPIC_ALIAS_INVALID: ReasonCode = ReasonCode(0x94);
    pub const QUOTA_EXCEEDED: ReasonCode = ReasonCode(0x97);
    pub const ADMINISTRATIVE_ACTION: ReasonCode = ReasonCode(0x98);
    pub const PAYLOAD_FORMAT_INVALID: ReasonCode = ReasonCode(0x99);
    pub const RETAIN_NOT_SUPPORTED: ReasonCode = ReasonCode(0x9A);
    pub const QOS_NOT_SUPPORTED: ReasonCode = ReasonCode(0x9B);
    pub const CONNECTION_RATE_EXCEEDED: ReasonCode = ReasonCode(0x9F);
    pub const SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: ReasonCode = ReasonCode(0xA1);
    pub const WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: ReasonCode = ReasonCode(0xA2);

    pub fn is_error(self) -> bool {
        self.0 >= 0x80
    }

    /// The reason code's name in MQTT 5 §2.4, for log lines: what a
    /// remote's CONNACK, DISCONNECT or acknowledgement said. Codes whose
    /// meaning depends on the packet (0x00 to 0x02) read as success.
    pub fn describe(self) -> &'static str {
        match self.0 {
            0x00..=0x02 => "success",
            0x04 => "disconnect with will message",
            0x10 => "no matching subscribers",
            0x11 => "no subscription existed",
            0x18 => "continue authentication",
            0x19 => "re-authenticate",
            0x80 => "unspecified error",
            0x81 => "malformed packet",
            0x82 => "protocol error",
            0x83 => "implementation specific error",
            0x84 => "unsupported protocol version",
            0x85 => "client identifier not valid",
            0x86 => "bad user name or password",
            0x87 => "not authorized",
            0x88 => "server unavailable",
            0x89 => "server busy",
            0x8A => "banned",
            0x8B => "server shutting down",
            0x8C => "bad authentication method",
            0x8D => "keep alive timeout",
            0x8E => "session taken over",
            0x8F => "topic filter invalid",
            0x90 => "topic name invalid",
            0x91 => "packet identifier in use",
            0x92 => "packet identifier not found",
            0x93 => "receive maximum exceeded",
            0x94 => "topic alias invalid",
            0x95 => "packet too large",
            0x96 => "message rate too high",
            0x97 => "quota exceeded",
            0x98 => "administrative action",
            0x99 => "payload format invalid",
            0x9A => "retain not supported",
            0x9B => "QoS not supported",
            0x9C => "use another server",
            0x9D => "server moved",
            0x9E => "shared subscriptions not supported",
            0x9F => "connection rate exceeded",
            0xA0 => "maximum connect time",
            0xA1 => "subscription identifiers not supported",
            0xA2 => "wildcard subscriptions not supported",
            _ => "unknown reason code",
        }
    }
}

/// Why a CONNECT is answered the way it is; [`ConnectReturn::code`] is the
/// one place that turns it into the byte each version expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectReturn {
    Accepted,
    UnacceptableProtocolVersion,
    IdentifierRejected,
    ServerUnavailable,
    BadUsernameOrPassword,
    NotAuthorized,
    /// 5.0 only; 3.x says "server unavailable".
    PacketTooLarge,
    /// 5.0 only; 3.x says "server unavailable".
    QuotaExceeded,
    /// 5.0 only (an Authentication Method exists only there).
    BadAuthenticationMethod,
}

impl ConnectReturn {
    pub fn code(self, version: ProtocolVersion) -> u8 {
        if version.is_v5() {
            let reason = match self {
                ConnectReturn::Accepted => ReasonCode::SUCCESS,
                ConnectReturn::UnacceptableProtocolVersion => {
                    ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
                }
                ConnectReturn::IdentifierRejected => ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
                ConnectReturn::ServerUnavailable => ReasonCode::SERVER_UNAVAILABLE,
                ConnectReturn::BadUsernameOrPassword => ReasonCode::BAD_USER_NAME_OR_PASSWORD,
                ConnectReturn::NotAuthorized => ReasonCode::NOT_AUTHORIZED,
                ConnectReturn::PacketTooLarge => ReasonCode::PACKET_TOO_LARGE,
                ConnectReturn::QuotaExceeded => ReasonCode::QUOTA_EXCEEDED,
                ConnectReturn::BadAuthenticationMethod => ReasonCode::BAD_AUTHENTICATION_METHOD,
            };
            return reason.0;
        }
        match self {
            ConnectReturn::Accepted => 0,
            ConnectReturn::UnacceptableProtocolVersion => 1,
            ConnectReturn::IdentifierRejected => 2,
            ConnectReturn::ServerUnavailable
            | ConnectReturn::PacketTooLarge
            | ConnectReturn::QuotaExceeded => 3,
            ConnectReturn::BadUsernameOrPassword => 4,
            ConnectReturn::NotAuthorized | ConnectReturn::BadAuthenticationMethod => 5,
        }
    }
}

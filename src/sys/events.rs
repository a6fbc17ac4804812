//! Client events (`event_topics true`): one JSON object per connect,
//! disconnect, subscribe, unsubscribe and session expiry, published (QoS
//! 0, not retained) on `$SYS/events/client/{kind}`. A bridge with an `out`
//! rule for `$SYS/events/#` carries them upstream, remapped like any topic
//! (README.md, "Operating edgemq").
//!
//! The payload's fields: `clientid`, `username`, `ip`, `port`, `ts` (ms
//! since the epoch; null while the wall clock is unknown), `protocol` (3,
//! 4 or 5: the CONNECT's protocol level), `clean`, `keepalive`, `reason`
//! (words), and for subscriptions `filter` and `qos`.

use std::net::IpAddr;

use super::json::Object;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Connected,
    Disconnected,
    Subscribed,
    Unsubscribed,
    SessionExpired,
}

impl EventKind {
    pub fn topic(self) -> &'static str {
        match self {
            EventKind::Connected => "$SYS/events/client/connected",
            EventKind::Disconnected => "$SYS/events/client/disconnected",
            EventKind::Subscribed => "$SYS/events/client/subscribed",
            EventKind::Unsubscribed => "$SYS/events/client/unsubscribed",
            EventKind::SessionExpired => "$SYS/events/client/session_expired",
        }
    }
}

/// One event; what a kind does not have is `None` (written as null, or
/// left out for `filter` and `qos` outside subscriptions).
#[derive(Debug, Clone, Default)]
pub struct ClientEvent<'a> {
    pub clientid: &'a str,
    pub username: Option<&'a str>,
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    pub ts: Option<u64>,
    pub protocol: Option<u8>,
    pub clean: Option<bool>,
    pub keepalive: Option<u16>,
    pub reason: Option<&'static str>,
    pub filter: Option<&'a str>,
    pub qos: Option<u8>,
}

impl ClientEvent<'_> {
    pub fn payload(&self) -> String {
        let mut out = String::with_capacity(192);
        let ip = self.ip.map(|ip| ip.to_string());
        let mut o = Object::new(&mut out);
        o.str("clientid", self.clientid)
            .opt_str("username", self.username)
            .opt_str("ip", ip.as_deref())
            .opt_u64("port", self.port.map(u64::from))
            .opt_u64("ts", self.ts)
            .opt_u64("protocol", self.protocol.map(u64::from));
        match self.clean {
            Some(clean) => o.bool("clean", clean),
            None => o.null("clean"),
        };
        o.opt_u64("keepalive", self.keepalive.map(u64::from))
            .opt_str("reason", self.reason);
        if let Some(filter) = self.filter {
            o.str("filter", filter);
        }
        if let Some(qos) = self.qos {
            o.u64("qos", u64::from(qos));
        }
        o.end();
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_event_carries_every_field() {
        let e = ClientEvent {
            clientid: "dev@@1",
            username: Some("u\"1"),
            ip: Some("127.0.0.1".parse().unwrap()),
            port: Some(5000),
            ts: Some(1_700_000_000_000),
            protocol: Some(4),
            clean: Some(true),
            keepalive: Some(60),
            reason: None,
            ..ClientEvent::default()
        };
        assert_eq!(
            e.payload(),
            r#"{"clientid":"dev@@1","username":"u\"1","ip":"127.0.0.1","port":5000,"ts":1700000000000,"protocol":4,"clean":true,"keepalive":60,"reason":null}"#
        );
        assert_eq!(
            EventKind::SessionExpired.topic(),
            "$SYS/events/client/session_expired"
        );
    }
}

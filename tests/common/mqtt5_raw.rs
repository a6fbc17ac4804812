//! Hand-written MQTT 5 packets and parsers for the connection half of 5.0
//! (CONNECT/CONNACK properties, DISCONNECT and AUTH with reason codes,
//! PUBLISH with a topic alias), written from the spec
//! (MQTT 5.0 §2.2.2, §3) and independent of the crate's codec, like `raw.rs` for 3.1.1.

use super::raw::{self, put_bin, put_str};

/// A property block under construction: identifier, then value.
#[derive(Debug, Clone, Default)]
pub struct Props(Vec<u8>);

impl Props {
    pub fn new() -> Props {
        Props::default()
    }
    pub fn byte(mut self, id: u8, v: u8) -> Props {
        self.0.extend_from_slice(&[id, v]);
        self
    }
    pub fn u16(mut self, id: u8, v: u16) -> Props {
        self.0.push(id);
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u32(mut self, id: u8, v: u32) -> Props {
        self.0.push(id);
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn str(mut self, id: u8, v: &str) -> Props {
        self.0.push(id);
        put_str(&mut self.0, v);
        self
    }
    pub fn bin(mut self, id: u8, v: &[u8]) -> Props {
        self.0.push(id);
        put_bin(&mut self.0, v);
        self
    }
    pub fn user(mut self, k: &str, v: &str) -> Props {
        self.0.push(0x26);
        put_str(&mut self.0, k);
        put_str(&mut self.0, v);
        self
    }
    /// The block with its variable byte integer length in front.
    pub fn encoded(&self) -> Vec<u8> {
        let mut out = raw::remaining_length(self.0.len());
        out.extend_from_slice(&self.0);
        out
    }
}

/// Property identifiers (MQTT 5.0 table 2-4) the tests use.
pub mod id {
    pub const SESSION_EXPIRY: u8 = 0x11;
    pub const ASSIGNED_CLIENT_ID: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTH_METHOD: u8 = 0x15;
    pub const AUTH_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM_INFO: u8 = 0x17;
    pub const WILL_DELAY: u8 = 0x18;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_AVAILABLE: u8 = 0x28;
    pub const SUBSCRIPTION_ID_AVAILABLE: u8 = 0x29;
    pub const SHARED_AVAILABLE: u8 = 0x2A;
}

/// A 5.0 CONNECT.
#[derive(Debug, Clone)]
pub struct Connect5 {
    pub client_id: String,
    pub clean: bool,
    pub keepalive: u16,
    pub props: Props,
    /// Topic, payload, QoS, will properties.
    pub will: Option<(String, Vec<u8>, u8, Props)>,
    pub username: Option<String>,
}

impl Connect5 {
    pub fn new(client_id: &str) -> Connect5 {
        Connect5 {
            client_id: client_id.to_owned(),
            clean: true,
            keepalive: 60,
            props: Props::new(),
            will: None,
            username: None,
        }
    }
    pub fn clean(mut self, clean: bool) -> Connect5 {
        self.clean = clean;
        self
    }
    pub fn keepalive(mut self, secs: u16) -> Connect5 {
        self.keepalive = secs;
        self
    }
    pub fn props(mut self, props: Props) -> Connect5 {
        self.props = props;
        self
    }
    pub fn will(mut self, topic: &str, payload: &[u8], qos: u8, props: Props) -> Connect5 {
        self.will = Some((topic.to_owned(), payload.to_vec(), qos, props));
        self
    }
    pub fn username(mut self, name: &str) -> Connect5 {
        self.username = Some(name.to_owned());
        self
    }
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        put_str(&mut b, "MQTT");
        b.push(5);
        let mut flags = u8::from(self.clean) << 1;
        if let Some((_, _, qos, _)) = &self.will {
            flags |= 0x04 | (qos << 3);
        }
        if self.username.is_some() {
            flags |= 0x80;
        }
        b.push(flags);
        b.extend_from_slice(&self.keepalive.to_be_bytes());
        b.extend_from_slice(&self.props.encoded());
        put_str(&mut b, &self.client_id);
        if let Some((topic, payload, _, props)) = &self.will {
            b.extend_from_slice(&props.encoded());
            put_str(&mut b, topic);
            put_bin(&mut b, payload);
        }
        if let Some(name) = &self.username {
            put_str(&mut b, name);
        }
        raw::packet(0x10, &b)
    }
}

/// PUBLISH (QoS 0 without a packet id).
pub fn publish5(topic: &str, payload: &[u8], qos: u8, pkid: u16, props: Props) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, topic);
    if qos > 0 {
        b.extend_from_slice(&pkid.to_be_bytes());
    }
    b.extend_from_slice(&props.encoded());
    b.extend_from_slice(payload);
    raw::packet(0x30 | (qos << 1), &b)
}

/// SUBSCRIBE to one filter with an options byte (QoS in its low bits).
pub fn subscribe5(pkid: u16, filter: &str, options: u8) -> Vec<u8> {
    let mut b = pkid.to_be_bytes().to_vec();
    b.push(0);
    put_str(&mut b, filter);
    b.push(options);
    raw::packet(0x82, &b)
}

pub fn disconnect5(reason: u8, props: Props) -> Vec<u8> {
    let mut b = vec![reason];
    b.extend_from_slice(&props.encoded());
    raw::packet(0xE0, &b)
}

pub fn auth5(reason: u8, props: Props) -> Vec<u8> {
    let mut b = vec![reason];
    b.extend_from_slice(&props.encoded());
    raw::packet(0xF0, &b)
}

/// One decoded property value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(u32),
    Str(String),
    Bin(Vec<u8>),
    Pair(String, String),
}

/// Decoded properties, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed(pub Vec<(u8, Value)>);

impl Parsed {
    pub fn get(&self, id: u8) -> Option<&Value> {
        self.0.iter().find(|(i, _)| *i == id).map(|(_, v)| v)
    }
    pub fn int(&self, id: u8) -> Option<u32> {
        match self.get(id) {
            Some(Value::Int(v)) => Some(*v),
            _ => None,
        }
    }
    pub fn str(&self, id: u8) -> Option<&str> {
        match self.get(id) {
            Some(Value::Str(v)) => Some(v),
            _ => None,
        }
    }
}

fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, byte) in b.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn string(b: &[u8]) -> Option<(Vec<u8>, usize)> {
    let len = usize::from(u16::from_be_bytes([*b.first()?, *b.get(1)?]));
    Some((b.get(2..2 + len)?.to_vec(), 2 + len))
}

/// A length-prefixed property block → (properties, bytes used).
pub fn parse_props(b: &[u8]) -> Option<(Parsed, usize)> {
    let (len, n) = varint(b)?;
    let mut block = b.get(n..n + len)?;
    let mut out = Vec::new();
    while let Some(&id) = block.first() {
        block = &block[1..];
        let (value, used) = match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
                (Value::Int(u32::from(*block.first()?)), 1)
            }
            0x13 | 0x21 | 0x22 | 0x23 => (
                Value::Int(u32::from(u16::from_be_bytes([block[0], block[1]]))),
                2,
            ),
            0x02 | 0x11 | 0x18 | 0x27 => (
                Value::Int(u32::from_be_bytes(block.get(..4)?.try_into().ok()?)),
                4,
            ),
            0x0B => {
                let (v, used) = varint(block)?;
                (Value::Int(v as u32), used)
            }
            0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C | 0x1F => {
                let (s, used) = string(block)?;
                (Value::Str(String::from_utf8(s).ok()?), used)
            }
            0x09 | 0x16 => {
                let (s, used) = string(block)?;
                (Value::Bin(s), used)
            }
            0x26 => {
                let (k, a) = string(block)?;
                let (v, b2) = string(block.get(a..)?)?;
                (
                    Value::Pair(String::from_utf8(k).ok()?, String::from_utf8(v).ok()?),
                    a + b2,
                )
            }
            _ => return None,
        };
        out.push((id, value));
        block = block.get(used..)?;
    }
    Some((Parsed(out), n + len))
}

/// CONNACK → (session present, reason code, properties).
pub fn parse_connack5(p: &[u8]) -> Option<(bool, u8, Parsed)> {
    if raw::packet_type(p) != 2 {
        return None;
    }
    let b = raw::body(p);
    let (props, _) = parse_props(b.get(2..)?)?;
    Some((b.first()? & 1 == 1, *b.get(1)?, props))
}

/// DISCONNECT or AUTH → (reason code, properties); an empty body is
/// reason 0 without properties.
pub fn parse_reason(p: &[u8], packet_type: u8) -> Option<(u8, Parsed)> {
    if raw::packet_type(p) != packet_type {
        return None;
    }
    let b = raw::body(p);
    let Some(&reason) = b.first() else {
        return Some((0, Parsed::default()));
    };
    if b.len() == 1 {
        return Some((reason, Parsed::default()));
    }
    Some((reason, parse_props(&b[1..])?.0))
}

pub fn parse_disconnect5(p: &[u8]) -> Option<(u8, Parsed)> {
    parse_reason(p, 14)
}

pub fn parse_auth5(p: &[u8]) -> Option<(u8, Parsed)> {
    parse_reason(p, 15)
}

/// A 5.0 PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish5 {
    pub qos: u8,
    pub topic: String,
    pub pkid: Option<u16>,
    pub props: Parsed,
    pub payload: Vec<u8>,
}

pub fn parse_publish5(p: &[u8]) -> Option<Publish5> {
    if raw::packet_type(p) != 3 {
        return None;
    }
    let qos = (p[0] >> 1) & 3;
    let b = raw::body(p);
    let (topic, mut at) = string(b)?;
    let pkid = if qos > 0 {
        let id = u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]);
        at += 2;
        Some(id)
    } else {
        None
    };
    let (props, used) = parse_props(b.get(at..)?)?;
    Some(Publish5 {
        qos,
        topic: String::from_utf8(topic).ok()?,
        pkid,
        props,
        payload: b.get(at + used..)?.to_vec(),
    })
}

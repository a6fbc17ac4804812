//! A tiny raw MQTT client over `std::net::TcpStream`, and hand-written packet
//! bytes for MQTT 3.1 and 3.1.1.
//!
//! Deliberately independent of the crate's codec: these builders and parsers
//! are a second opinion written from the spec (MQTT 3.1.1 §2-§3), so a bug
//! shared by the broker's encoder and decoder cannot hide itself. The client
//! only frames packets (fixed header + remaining length); it never interprets
//! them unless a test asks (`parse_*`).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What one bounded read produced.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadEvent {
    /// One whole packet: fixed header, remaining length, body.
    Packet(Vec<u8>),
    /// The peer closed the connection (EOF or reset).
    Closed,
    /// Nothing complete arrived before the deadline.
    Timeout,
    /// The peer sent a remaining length longer than 4 bytes [MQTT-2.2.3].
    Malformed,
}

/// A blocking TCP connection that speaks raw bytes.
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    /// Connect the TCP socket (no MQTT yet). Panics if it cannot.
    pub fn connect(addr: SocketAddr) -> RawClient {
        Self::try_connect(addr).unwrap_or_else(|e| panic!("TCP connect to {addr}: {e}"))
    }

    pub fn try_connect(addr: SocketAddr) -> std::io::Result<RawClient> {
        let stream = TcpStream::connect_timeout(&addr, super::scaled(Duration::from_secs(5)))?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(super::scaled(Duration::from_secs(5))))?;
        Ok(RawClient {
            stream,
            buf: Vec::new(),
        })
    }

    /// Connect, send CONNECT (3.1.1, clean session, keepalive 60) and return
    /// the CONNACK return code, or `None` if no CONNACK came.
    pub fn connect_mqtt(addr: SocketAddr, client_id: &str) -> (RawClient, Option<u8>) {
        let mut c = Self::connect(addr);
        let code = c.handshake(&Connect::new(client_id).to_bytes());
        (c, code)
    }

    /// Send a CONNECT and wait for the CONNACK; its return code.
    pub fn handshake(&mut self, connect: &[u8]) -> Option<u8> {
        self.send(connect);
        let p = self.read_packet(super::scaled(Duration::from_secs(5)))?;
        parse_connack(&p).map(|(_, code)| code)
    }

    /// Write all bytes. Panics on error, except that a connection the broker
    /// already closed is not an error here (`expect_closed` checks that).
    pub fn send(&mut self, bytes: &[u8]) {
        if let Err(e) = self.try_send(bytes) {
            if !matches!(
                e.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ) {
                panic!("send: {e}");
            }
        }
    }

    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// The next whole packet, or `None` on timeout, close or malformed framing.
    pub fn read_packet(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        match self.read_event(timeout) {
            ReadEvent::Packet(p) => Some(p),
            _ => None,
        }
    }

    /// The next whole packet, or why there is none.
    pub fn read_event(&mut self, timeout: Duration) -> ReadEvent {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 4096];
        loop {
            match frame_len(&self.buf) {
                Frame::Complete(n) => return ReadEvent::Packet(self.buf.drain(..n).collect()),
                Frame::Malformed => return ReadEvent::Malformed,
                Frame::Partial => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return ReadEvent::Timeout;
            }
            // A zero read timeout means "block forever" to std: keep it >= 1 ms.
            let wait = (deadline - now).max(Duration::from_millis(1));
            if self.stream.set_read_timeout(Some(wait)).is_err() {
                return ReadEvent::Closed;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return ReadEvent::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return ReadEvent::Closed,
            }
        }
    }

    /// Whether the broker closes the connection within `timeout`. Packets
    /// that arrive first are skipped (e.g. a CONNACK before the close).
    pub fn expect_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_event(left) {
                ReadEvent::Packet(_) if !left.is_zero() => continue,
                ReadEvent::Closed | ReadEvent::Malformed => return true,
                _ => return false,
            }
        }
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

enum Frame {
    Partial,
    Complete(usize),
    Malformed,
}

/// Length of the first whole packet in `buf`, if there is one.
fn frame_len(buf: &[u8]) -> Frame {
    let mut len: usize = 0;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Frame::Partial;
        };
        len += usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let total = 1 + (i + 1) + len;
            return if buf.len() >= total {
                Frame::Complete(total)
            } else {
                Frame::Partial
            };
        }
    }
    Frame::Malformed
}

// ---------------------------------------------------------------- builders

/// Protocol version of a CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// MQTT 3.1: protocol name "MQIsdp", level 3.
    V31,
    /// MQTT 3.1.1: protocol name "MQTT", level 4.
    V311,
}

/// A CONNECT packet under construction (defaults: 3.1.1, clean, keepalive 60).
#[derive(Clone, Debug)]
pub struct Connect {
    pub version: Version,
    pub client_id: String,
    pub clean: bool,
    pub keepalive: u16,
    /// (topic, payload, qos, retain)
    pub will: Option<(String, Vec<u8>, u8, bool)>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    /// Overrides the protocol level byte (e.g. 0x84 for a mosquitto bridge,
    /// or a bad level for refusal tests).
    pub level_override: Option<u8>,
}

impl Connect {
    pub fn new(client_id: &str) -> Connect {
        Connect {
            version: Version::V311,
            client_id: client_id.to_owned(),
            clean: true,
            keepalive: 60,
            will: None,
            username: None,
            password: None,
            level_override: None,
        }
    }
    pub fn v31(mut self) -> Self {
        self.version = Version::V31;
        self
    }
    pub fn clean(mut self, clean: bool) -> Self {
        self.clean = clean;
        self
    }
    pub fn keepalive(mut self, secs: u16) -> Self {
        self.keepalive = secs;
        self
    }
    pub fn will(mut self, topic: &str, payload: &[u8], qos: u8, retain: bool) -> Self {
        self.will = Some((topic.to_owned(), payload.to_vec(), qos, retain));
        self
    }
    pub fn username(mut self, u: &str) -> Self {
        self.username = Some(u.to_owned());
        self
    }
    pub fn password(mut self, p: &[u8]) -> Self {
        self.password = Some(p.to_vec());
        self
    }
    pub fn level(mut self, level: u8) -> Self {
        self.level_override = Some(level);
        self
    }

    /// The packet bytes [MQTT-3.1].
    pub fn to_bytes(&self) -> Vec<u8> {
        let (name, level) = self.version.name_and_level();
        let mut body = Vec::new();
        put_bin(&mut body, name);
        body.push(self.level_override.unwrap_or(level));
        let mut flags = 0u8;
        if self.clean {
            flags |= 0x02;
        }
        if let Some((_, _, qos, retain)) = &self.will {
            flags |= 0x04 | ((qos & 3) << 3);
            if *retain {
                flags |= 0x20;
            }
        }
        if self.password.is_some() {
            flags |= 0x40;
        }
        if self.username.is_some() {
            flags |= 0x80;
        }
        body.push(flags);
        body.extend_from_slice(&self.keepalive.to_be_bytes());
        put_str(&mut body, &self.client_id);
        if let Some((topic, payload, _, _)) = &self.will {
            put_str(&mut body, topic);
            put_bin(&mut body, payload);
        }
        if let Some(u) = &self.username {
            put_str(&mut body, u);
        }
        if let Some(p) = &self.password {
            put_bin(&mut body, p);
        }
        packet(0x10, &body)
    }
}

/// CONNECT 3.1.1, clean session, keepalive 60.
pub fn connect(client_id: &str) -> Vec<u8> {
    Connect::new(client_id).to_bytes()
}

/// A CONNECT from raw parts, for abuse tests: protocol name and level,
/// the connect flags as given, then each payload field with its 2-byte
/// length (client id, will topic, will message, user name, password: the
/// ones the test wants, in that order, whatever the flags say).
pub fn connect_raw(name: &[u8], level: u8, flags: u8, keepalive: u16, fields: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    put_bin(&mut body, name);
    body.push(level);
    body.push(flags);
    body.extend_from_slice(&keepalive.to_be_bytes());
    for field in fields {
        put_bin(&mut body, field);
    }
    packet(0x10, &body)
}

impl Version {
    /// The protocol name and level a CONNECT of this version carries.
    pub fn name_and_level(self) -> (&'static [u8], u8) {
        match self {
            Version::V31 => (b"MQIsdp", 3),
            Version::V311 => (b"MQTT", 4),
        }
    }
}

/// PUBLISH with raw topic bytes (invalid UTF-8, U+0000) and any first
/// byte (reserved QoS, flags).
pub fn publish_raw(first: u8, topic: &[u8], pkid: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    put_bin(&mut body, topic);
    if let Some(id) = pkid {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    packet(first, &body)
}

/// SUBSCRIBE with raw filter bytes and option bytes, and any first byte.
pub fn subscribe_raw(first: u8, pkid: u16, filters: &[(&[u8], u8)]) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    for (f, options) in filters {
        put_bin(&mut body, f);
        body.push(*options);
    }
    packet(first, &body)
}

/// UNSUBSCRIBE with raw filter bytes and any first byte.
pub fn unsubscribe_raw(first: u8, pkid: u16, filters: &[&[u8]]) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    for f in filters {
        put_bin(&mut body, f);
    }
    packet(first, &body)
}

/// PUBLISH; `pkid` is required for QoS 1 and 2 and must be `None` for QoS 0.
pub fn publish(
    topic: &str,
    payload: &[u8],
    qos: u8,
    retain: bool,
    dup: bool,
    pkid: Option<u16>,
) -> Vec<u8> {
    let mut first = 0x30 | ((qos & 3) << 1);
    if retain {
        first |= 0x01;
    }
    if dup {
        first |= 0x08;
    }
    let mut body = Vec::new();
    put_str(&mut body, topic);
    if let Some(id) = pkid {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    packet(first, &body)
}

/// SUBSCRIBE with (filter, requested QoS) pairs; fixed-header flags 0b0010
/// [MQTT-3.8.1-1].
pub fn subscribe(pkid: u16, filters: &[(&str, u8)]) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    for (f, qos) in filters {
        put_str(&mut body, f);
        body.push(*qos);
    }
    packet(0x82, &body)
}

/// UNSUBSCRIBE; fixed-header flags 0b0010 [MQTT-3.10.1-1].
pub fn unsubscribe(pkid: u16, filters: &[&str]) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    for f in filters {
        put_str(&mut body, f);
    }
    packet(0xA2, &body)
}

pub fn puback(pkid: u16) -> Vec<u8> {
    packet(0x40, &pkid.to_be_bytes())
}
pub fn pubrec(pkid: u16) -> Vec<u8> {
    packet(0x50, &pkid.to_be_bytes())
}
/// PUBREL; fixed-header flags 0b0010 [MQTT-3.6.1-1].
pub fn pubrel(pkid: u16) -> Vec<u8> {
    packet(0x62, &pkid.to_be_bytes())
}
pub fn pubcomp(pkid: u16) -> Vec<u8> {
    packet(0x70, &pkid.to_be_bytes())
}
pub fn pingreq() -> Vec<u8> {
    vec![0xC0, 0x00]
}
pub fn disconnect() -> Vec<u8> {
    vec![0xE0, 0x00]
}

/// A whole packet: first byte, remaining length, body.
pub fn packet(first_byte: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first_byte];
    out.extend_from_slice(&remaining_length(body.len()));
    out.extend_from_slice(body);
    out
}

/// The variable-length encoding of a remaining length [MQTT-2.2.3]; lengths
/// beyond 268,435,455 are encoded anyway (5 bytes), for abuse tests.
pub fn remaining_length(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

/// A UTF-8 string with its 2-byte length prefix [MQTT-1.5.3].
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bin(out, s.as_bytes());
}

pub fn put_bin(out: &mut Vec<u8>, b: &[u8]) {
    let len = u16::try_from(b.len()).expect("field longer than 65535 bytes");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
}

// ---------------------------------------------------------------- parsers

/// The packet type (high nibble of the first byte): 2 CONNACK, 3 PUBLISH, ...
pub fn packet_type(p: &[u8]) -> u8 {
    p.first().map_or(0, |b| b >> 4)
}

/// The body after the fixed header.
pub fn body(p: &[u8]) -> &[u8] {
    let mut i = 1;
    while p.get(i).is_some_and(|b| b & 0x80 != 0) {
        i += 1;
    }
    p.get(i + 1..).unwrap_or(&[])
}

/// CONNACK → (session present, return code).
pub fn parse_connack(p: &[u8]) -> Option<(bool, u8)> {
    if packet_type(p) != 2 {
        return None;
    }
    match body(p) {
        [flags, code] => Some((flags & 1 == 1, *code)),
        _ => None,
    }
}

/// SUBACK → (packet id, return codes).
pub fn parse_suback(p: &[u8]) -> Option<(u16, Vec<u8>)> {
    if packet_type(p) != 9 {
        return None;
    }
    let b = body(p);
    let id = u16::from_be_bytes([*b.first()?, *b.get(1)?]);
    Some((id, b.get(2..)?.to_vec()))
}

/// UNSUBACK, PUBACK, PUBREC, PUBREL, PUBCOMP → (type, packet id).
pub fn parse_ack(p: &[u8]) -> Option<(u8, u16)> {
    match body(p) {
        [hi, lo] => Some((packet_type(p), u16::from_be_bytes([*hi, *lo]))),
        _ => None,
    }
}

/// A PUBLISH as a 3.1/3.1.1 client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawPublish {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    pub dup: bool,
    pub pkid: Option<u16>,
}

pub fn parse_publish(p: &[u8]) -> Option<RawPublish> {
    if packet_type(p) != 3 {
        return None;
    }
    let first = *p.first()?;
    let qos = (first >> 1) & 3;
    let b = body(p);
    let tlen = usize::from(u16::from_be_bytes([*b.first()?, *b.get(1)?]));
    let topic = String::from_utf8(b.get(2..2 + tlen)?.to_vec()).ok()?;
    let mut rest = b.get(2 + tlen..)?;
    let mut pkid = None;
    if qos > 0 {
        pkid = Some(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
        rest = rest.get(2..)?;
    }
    Some(RawPublish {
        topic,
        payload: rest.to_vec(),
        qos,
        retain: first & 1 == 1,
        dup: first & 0x08 != 0,
        pkid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_match_the_spec_examples() {
        assert_eq!(remaining_length(0), [0]);
        assert_eq!(remaining_length(127), [0x7f]);
        assert_eq!(remaining_length(128), [0x80, 0x01]);
        assert_eq!(remaining_length(16_383), [0xff, 0x7f]);
        assert_eq!(remaining_length(2_097_152), [0x80, 0x80, 0x80, 0x01]);
        let c = Connect::new("a").keepalive(10).to_bytes();
        assert_eq!(
            c,
            [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10, 0, 1, b'a']
        );
        let c = Connect::new("a")
            .v31()
            .clean(false)
            .username("u")
            .password(b"p")
            .will("w", b"x", 1, true)
            .to_bytes();
        assert_eq!(&c[2..10], &[0, 6, b'M', b'Q', b'I', b's', b'd', b'p']);
        assert_eq!(c[10], 3);
        assert_eq!(c[11], 0x80 | 0x40 | 0x20 | 0x08 | 0x04);
        let p = publish("a/b", b"hi", 1, true, false, Some(7));
        assert_eq!(p, [0x33, 9, 0, 3, b'a', b'/', b'b', 0, 7, b'h', b'i']);
        let parsed = parse_publish(&p).unwrap();
        assert_eq!(parsed.topic, "a/b");
        assert_eq!(parsed.pkid, Some(7));
        assert_eq!(parsed.payload, b"hi");
        assert!(parsed.retain);
        assert_eq!(
            subscribe(1, &[("a/#", 2)]),
            [0x82, 8, 0, 1, 0, 3, b'a', b'/', b'#', 2]
        );
        assert_eq!(pubrel(5), [0x62, 2, 0, 5]);
        assert_eq!(
            connect_raw(b"MQTT", 4, 0x02, 10, &[b"a"]),
            Connect::new("a").keepalive(10).to_bytes()
        );
        assert_eq!(
            publish_raw(0x33, b"a/b", Some(7), b"hi"),
            publish("a/b", b"hi", 1, true, false, Some(7))
        );
        assert_eq!(
            subscribe_raw(0x82, 1, &[(b"a/#", 2)]),
            subscribe(1, &[("a/#", 2)])
        );
        assert_eq!(unsubscribe_raw(0xA2, 3, &[b"a"]), unsubscribe(3, &["a"]));
    }

    #[test]
    fn frames_split_and_joined_packets() {
        assert!(matches!(frame_len(&[0x20]), Frame::Partial));
        assert!(matches!(frame_len(&[0x20, 2, 0]), Frame::Partial));
        assert!(matches!(
            frame_len(&[0x20, 2, 0, 0, 0xC0]),
            Frame::Complete(4)
        ));
        assert!(matches!(
            frame_len(&[0x30, 0xff, 0xff, 0xff, 0xff, 1]),
            Frame::Malformed
        ));
        assert_eq!(parse_connack(&[0x20, 2, 1, 5]), Some((true, 5)));
        assert_eq!(
            parse_suback(&[0x90, 4, 0, 9, 1, 0x80]),
            Some((9, vec![1, 0x80]))
        );
    }
}

//! The server side of the WebSocket opening handshake (RFC 6455 §4.2) for
//! MQTT over WebSocket (MQTT 3.1.1 §6, MQTT 5.0 §6): one HTTP/1.1 request
//! head in, the 101 answer or an HTTP error out.
//!
//! Owns: finding the end of a request head, validating it, the
//! `Sec-WebSocket-Accept` value and the answer's bytes. It never sees a
//! socket; the caller bounds how much head it collects (`head_end` is
//! searched incrementally) and writes the answer.
//!
//! Header names are compared case-insensitively (RFC 9110 §5.1), list values
//! are split on commas, obsolete line folding is refused (RFC 9112 §5.2). No
//! extension is negotiated: an offered `permessage-deflate` is simply not
//! answered, so the client sends plain frames.

use sha1_smol::Sha1;

/// RFC 6455 §1.3: appended to the client's key before hashing.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The subprotocol the answer names [MQTT-6.0.0-3], [MQTT-6.0.0-4]:
/// `mqtt`, or `mqttv3.1` for MQTT 3.1 clients (as mosquitto answers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subprotocol {
    Mqtt,
    Mqttv31,
    /// The client offered none: answered without the header (lenient, as
    /// mosquitto is; a client that insists on one fails the handshake
    /// itself).
    NotOffered,
}

impl Subprotocol {
    pub fn name(self) -> Option<&'static str> {
        match self {
            Subprotocol::Mqtt => Some("mqtt"),
            Subprotocol::Mqttv31 => Some("mqttv3.1"),
            Subprotocol::NotOffered => None,
        }
    }
}

/// A valid upgrade request, ready to be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    accept: [u8; 28],
    pub protocol: Subprotocol,
}

/// The HTTP status of a refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    BadRequest,
    NotFound,
    UpgradeRequired,
    HeadTooLarge,
    ServiceUnavailable,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::UpgradeRequired => 426,
            Status::HeadTooLarge => 431,
            Status::ServiceUnavailable => 503,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::UpgradeRequired => "Upgrade Required",
            Status::HeadTooLarge => "Request Header Fields Too Large",
            Status::ServiceUnavailable => "Service Unavailable",
        }
    }
}

/// A request that gets an HTTP error instead of the upgrade, then a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: Status,
    /// Why, for the log and the response body.
    pub reason: &'static str,
}

impl Refusal {
    pub const fn new(status: Status, reason: &'static str) -> Refusal {
        Refusal { status, reason }
    }

    /// The whole response: status line, headers, a one-line text body.
    pub fn response(&self) -> Vec<u8> {
        let version = if self.status == Status::UpgradeRequired {
            // RFC 6455 §4.2.2: say which version we speak.
            "Sec-WebSocket-Version: 13\r\n"
        } else {
            ""
        };
        format!(
            "HTTP/1.1 {} {}\r\nConnection: close\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\n{version}\r\n{}\n",
            self.status.code(),
            self.status.text(),
            self.reason.len() + 1,
            self.reason
        )
        .into_bytes()
    }
}

impl Upgrade {
    /// The 101 answer.
    pub fn response(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Accept: ",
        );
        out.extend_from_slice(&self.accept);
        out.extend_from_slice(b"\r\n");
        if let Some(name) = self.protocol.name() {
            out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// Where the head in `buf` ends (just past its empty line), if it has;
/// `from` is where the previous search stopped (the bytes before it held
/// no end), so a head read in pieces is scanned once.
pub fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    buf.get(start..)?
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| start + p + 4)
}

/// Whether the first bytes of a head can start a WebSocket upgrade
/// (`GET `): a client speaking plain MQTT to a WebSocket listener is told
/// at once rather than after `connect_timeout`.
pub fn may_be_upgrade(head: &[u8]) -> bool {
    let n = head.len().min(4);
    head.get(..n) == b"GET ".get(..n)
}

/// What the request asked for, collected over its header lines.
#[derive(Default)]
struct Fields<'a> {
    host: bool,
    upgrade: bool,
    connection_upgrade: bool,
    key: Option<&'a [u8]>,
    keys: usize,
    version: Option<&'a [u8]>,
    mqtt: bool,
    mqttv31: bool,
    protocols_offered: bool,
}

/// Validates a whole request head (up to and including its empty line)
/// against the listener's `path`.
pub fn parse(head: &[u8], path: &str) -> Result<Upgrade, Refusal> {
    const BAD: Status = Status::BadRequest;
    let mut lines = head.split(|&b| b == b'\n').map(trim_cr);
    let request = lines.next().unwrap_or(&[]);
    check_request_line(request, path)?;
    let mut fields = Fields::default();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            return Err(Refusal::new(BAD, "obsolete header line folding"));
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(Refusal::new(BAD, "a header line without a colon"));
        };
        let name = line.get(..colon).unwrap_or(&[]);
        let value = trim(line.get(colon + 1..).unwrap_or(&[]));
        fields.add(name, value);
    }
    fields.validate()
}

impl<'a> Fields<'a> {
    fn add(&mut self, name: &[u8], value: &'a [u8]) {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("host") {
            self.host = true;
        } else if is("upgrade") {
            self.upgrade |= has_token(value, "websocket");
        } else if is("connection") {
            self.connection_upgrade |= has_token(value, "upgrade");
        } else if is("sec-websocket-key") {
            self.key = Some(value);
            self.keys += 1;
        } else if is("sec-websocket-version") {
            self.version = Some(value);
        } else if is("sec-websocket-protocol") {
            self.protocols_offered = true;
            for offered in list(value) {
                self.mqtt |= offered == b"mqtt";
                self.mqttv31 |= offered == b"mqttv3.1";
            }
        }
    }

    fn validate(self) -> Result<Upgrade, Refusal> {
        const BAD: Status = Status::BadRequest;
        if !self.host {
            return Err(Refusal::new(BAD, "no Host header (RFC 9112 §3.2)"));
        }
        if !self.upgrade || !self.connection_upgrade {
            return Err(Refusal::new(
                BAD,
                "not a WebSocket upgrade (Upgrade: websocket, Connection: Upgrade)",
            ));
        }
        if self.version != Some(b"13".as_slice()) {
            return Err(Refusal::new(
                Status::UpgradeRequired,
                "Sec-WebSocket-Version must be 13",
            ));
        }
        let key = match self.key {
            Some(key) if self.keys == 1 && is_key(key) => key,
            _ => return Err(Refusal::new(BAD, "a bad Sec-WebSocket-Key")),
        };
        let protocol = if self.mqtt {
            Subprotocol::Mqtt
        } else if self.mqttv31 {
            Subprotocol::Mqttv31
        } else if self.protocols_offered {
            return Err(Refusal::new(BAD, "the subprotocol mqtt was not offered"));
        } else {
            Subprotocol::NotOffered
        };
        Ok(Upgrade {
            accept: accept_key(key),
            protocol,
        })
    }
}

/// `GET PATH HTTP/1.1`; the path compared without its query string.
fn check_request_line(line: &[u8], path: &str) -> Result<(), Refusal> {
    const BAD: Status = Status::BadRequest;
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::new(BAD, "a malformed request line"));
    };
    if method != b"GET" {
        return Err(Refusal::new(BAD, "the method must be GET"));
    }
    // RFC 6455 §4.1: HTTP/1.1 or higher.
    if !matches!(version, b"HTTP/1.1" | b"HTTP/1.2" | b"HTTP/1.3") {
        return Err(Refusal::new(BAD, "the version must be HTTP/1.1"));
    }
    let target_path = target.split(|&b| b == b'?').next().unwrap_or(&[]);
    if target_path != path.as_bytes() {
        return Err(Refusal::new(
            Status::NotFound,
            "no WebSocket endpoint at this path",
        ));
    }
    Ok(())
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !b.is_ascii_whitespace());
    let end = v.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(s), Some(e)) => v.get(s..=e).unwrap_or(&[]),
        _ => &[],
    }
}

/// The non-empty elements of a comma-separated header value.
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

fn has_token(value: &[u8], token: &str) -> bool {
    list(value).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// A base64 encoding of 16 bytes: 22 characters of the alphabet and `==`
/// (RFC 6455 §4.1, item 7).
fn is_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key
            .iter()
            .take(22)
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// RFC 6455 §4.2.2, item 5.4: base64(SHA-1(key + GUID)).
fn accept_key(key: &[u8]) -> [u8; 28] {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(ACCEPT_GUID);
    base64_20(&sha.digest().bytes())
}

/// Standard base64 with padding (RFC 4648 §4) of exactly 20 bytes: six
/// whole 3-byte groups, then two bytes and one `=`.
fn base64_20(bytes: &[u8; 20]) -> [u8; 28] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextet = |v: u32| ALPHABET.get((v & 63) as usize).copied().unwrap_or(b'=');
    let mut out = [b'='; 28];
    let groups = bytes.chunks(3).zip(out.chunks_mut(4));
    for (input, output) in groups {
        let b = |i: usize| u32::from(input.get(i).copied().unwrap_or(0));
        let v = b(0) << 16 | b(1) << 8 | b(2);
        let chars = [sextet(v >> 18), sextet(v >> 12), sextet(v >> 6), sextet(v)];
        // A short last group keeps its `=` padding: 2 bytes make 3 chars.
        for (o, c) in output.iter_mut().zip(chars).take(input.len() + 1) {
            *o = c;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: &str) -> String {
        format!(
            "GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    }

    fn refused(head: &str) -> Refusal {
        parse(head.as_bytes(), "/mqtt").unwrap_err()
    }

    /// RFC 6455 §1.3's worked example.
    #[test]
    fn the_rfc_example_key() {
        let upgrade = parse(request("").as_bytes(), "/mqtt").unwrap();
        assert_eq!(&upgrade.accept, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(upgrade.protocol, Subprotocol::NotOffered);
        let response = String::from_utf8(upgrade.response()).unwrap();
        assert!(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(!response.contains("Sec-WebSocket-Protocol"));
        assert!(response.ends_with("\r\n\r\n"));
    }

    #[test]
    fn base64_of_known_digests() {
        // SHA-1("") and SHA-1("abc") as `printf … | openssl sha1 -binary | base64` prints them.
        let empty = sha1_smol::Sha1::from("").digest().bytes();
        assert_eq!(&base64_20(&empty), b"2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
        let abc = sha1_smol::Sha1::from("abc").digest().bytes();
        assert_eq!(&base64_20(&abc), b"qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
    }

    #[test]
    fn the_subprotocol_offered_is_answered() {
        let mqtt = parse(
            request("Sec-WebSocket-Protocol: mqttv3.1, mqtt\r\n").as_bytes(),
            "/mqtt",
        )
        .unwrap();
        assert_eq!(mqtt.protocol, Subprotocol::Mqtt);
        assert!(String::from_utf8(mqtt.response())
            .unwrap()
            .contains("Sec-WebSocket-Protocol: mqtt\r\n"));
        let v31 = parse(
            request("Sec-WebSocket-Protocol: mqttv3.1\r\n").as_bytes(),
            "/mqtt",
        )
        .unwrap();
        assert_eq!(v31.protocol, Subprotocol::Mqttv31);
        let r = refused(&request("Sec-WebSocket-Protocol: chat\r\n"));
        assert_eq!(r.status, Status::BadRequest);
    }

    #[test]
    fn browsers_header_spellings() {
        let head = "GET /mqtt?x=1 HTTP/1.1\r\nhost: h\r\nconnection: keep-alive, Upgrade\r\n\
                    upgrade: WebSocket\r\nsec-websocket-version: 13\r\n\
                    sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                    Sec-WebSocket-Extensions: permessage-deflate\r\n\
                    Sec-WebSocket-Protocol: mqtt\r\n\r\n";
        let upgrade = parse(head.as_bytes(), "/mqtt").unwrap();
        assert_eq!(upgrade.protocol, Subprotocol::Mqtt);
        assert!(!String::from_utf8(upgrade.response())
            .unwrap()
            .contains("Extensions"));
    }

    #[test]
    fn bad_requests() {
        let wrong_path = request("").replace("/mqtt", "/other");
        assert_eq!(refused(&wrong_path).status, Status::NotFound);
        let post = request("").replace("GET", "POST");
        assert_eq!(refused(&post).status, Status::BadRequest);
        let http10 = request("").replace("HTTP/1.1", "HTTP/1.0");
        assert_eq!(refused(&http10).status, Status::BadRequest);
        let no_host = request("").replace("Host: localhost\r\n", "");
        assert_eq!(refused(&no_host).status, Status::BadRequest);
        let no_upgrade = request("").replace("Upgrade: websocket\r\n", "");
        assert_eq!(refused(&no_upgrade).status, Status::BadRequest);
        let version = request("").replace("Version: 13", "Version: 8");
        let r = refused(&version);
        assert_eq!(r.status, Status::UpgradeRequired);
        assert!(String::from_utf8(r.response())
            .unwrap()
            .contains("Sec-WebSocket-Version: 13\r\n"));
        let short_key = request("").replace("dGhlIHNhbXBsZSBub25jZQ==", "abc=");
        assert_eq!(refused(&short_key).status, Status::BadRequest);
        let two_keys = request("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");
        assert_eq!(refused(&two_keys).status, Status::BadRequest);
        let folded = request(" folded\r\n");
        assert_eq!(refused(&folded).status, Status::BadRequest);
        assert_eq!(refused("garbage\r\n\r\n").status, Status::BadRequest);
        assert_eq!(refused("").status, Status::BadRequest);
    }

    #[test]
    fn refusal_response_is_whole() {
        let r = Refusal::new(Status::NotFound, "no WebSocket endpoint at this path");
        let text = String::from_utf8(r.response()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 404 Not Found"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }

    #[test]
    fn the_end_of_a_head_read_in_pieces() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest";
        assert_eq!(head_end(head, 0), Some(head.len() - 4));
        // Searched again from where the last search stopped, the end
        // straddling the boundary is found.
        for split in 0..head.len() {
            let first = head_end(&head[..split], 0);
            let found = first.or_else(|| head_end(head, split));
            assert_eq!(found, Some(head.len() - 4), "split at {split}");
        }
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n", 0), None);
    }

    #[test]
    fn plain_mqtt_is_no_upgrade() {
        assert!(may_be_upgrade(b""));
        assert!(may_be_upgrade(b"GE"));
        assert!(may_be_upgrade(b"GET /mqtt"));
        assert!(!may_be_upgrade(b"\x10\x0c\x00\x04MQTT"));
        assert!(!may_be_upgrade(b"POST /"));
    }
}

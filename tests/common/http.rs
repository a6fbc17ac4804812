//! A tiny HTTP/1.1 client over std sockets for the admin API tests: one
//! request per connection, the answer read to its end, every wait bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::{scaled, Broker};

/// An answer: status, head (lower-cased header lines), body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    /// The body as JSON (edgemq's own reader: the tests check values, the
    /// syntax is checked by the Prometheus and client tests too).
    pub fn json(&self) -> edgemq::auth::json::Value {
        edgemq::auth::json::parse_bounded(&self.body, 1 << 22, 1 << 20)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends `raw` as it is and reads the answer.
pub fn raw(addr: SocketAddr, raw: &[u8]) -> Answer {
    let mut s = TcpStream::connect_timeout(&addr, scaled(Duration::from_secs(5))).unwrap();
    s.set_read_timeout(Some(scaled(Duration::from_secs(10))))
        .unwrap();
    s.write_all(raw).unwrap();
    read_answer(&mut s)
}

pub fn read_answer(s: &mut TcpStream) -> Answer {
    let mut bytes = Vec::new();
    let _ = s.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head:?}"));
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

/// `METHOD path` with the token, if any.
pub fn call(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> Answer {
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\n\r\n");
    raw(addr, request.as_bytes())
}

/// The admin API's address, from the broker's "admin API at" line.
pub fn admin_addr(broker: &Broker) -> SocketAddr {
    let log = broker.log();
    let line = log
        .lines()
        .find_map(|l| l.split("admin API at http://").nth(1))
        .unwrap_or_else(|| panic!("no admin API line:\n{log}"));
    line.split('/').next().unwrap().parse().unwrap()
}

/// The token the broker made in its store directory.
pub fn admin_token(broker: &Broker) -> String {
    std::fs::read_to_string(broker.data_dir().join("admin.token"))
        .unwrap()
        .trim()
        .to_owned()
}

/// The admin API's counters (`GET /api/v1/stats`, its `counters`
/// object), by name.
pub fn counters(addr: SocketAddr, token: &str) -> std::collections::HashMap<String, u64> {
    use edgemq::auth::json::Value;
    let answer = call(addr, "GET", "/api/v1/stats", Some(token));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let stats = answer.json();
    let Some(Value::Object(members)) = stats.get("counters") else {
        panic!("no counters: {}", answer.body);
    };
    members
        .iter()
        .map(|(name, value)| match value {
            Value::Number(Some(n)) => (name.clone(), u64::try_from(*n).unwrap()),
            other => panic!("{name}: {other:?}"),
        })
        .collect()
}

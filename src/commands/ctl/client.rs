//! `edgemq ctl`'s HTTP/1.1 client: one request per connection over
//! std's blocking sockets (a command, not the event loop), IP literals
//! only, every wait bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::auth::json::CTL_MAX_JSON_BYTES;

/// Connecting, and each read and write, give up after this.
const TIMEOUT: Duration = Duration::from_secs(10);

/// An answer: its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// `http://IP:PORT[/]` → the address.
pub fn parse_url(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http://IP:PORT URLs"))?;
    rest.trim_end_matches('/')
        .parse()
        .map_err(|_| format!("{url}: expected http://IP:PORT (an IP address, not a name)"))
}

/// The address to reach a listener bound to `bound`: the loopback one
/// for a wildcard address.
pub fn reachable(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

pub fn request(addr: SocketAddr, method: &str, path: &str, token: &str) -> Result<Answer, String> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| format!("cannot reach the admin API at {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .map_err(|e| format!("admin API at {addr}: {e}"))?;
    let mut raw = Vec::new();
    // The head and a largest answer.
    let limit = u64::try_from(CTL_MAX_JSON_BYTES + 64 * 1024).unwrap_or(u64::MAX);
    stream
        .take(limit)
        .read_to_end(&mut raw)
        .map_err(|e| format!("admin API at {addr}: {e}"))?;
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Result<Answer, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("the admin API's answer ended before its body")?;
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("the admin API's answer has no status")?;
    Ok(Answer {
        status,
        body: body.to_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_answers() {
        assert_eq!(
            parse_url("http://127.0.0.1:8081/").unwrap(),
            "127.0.0.1:8081".parse().unwrap()
        );
        assert!(parse_url("https://127.0.0.1:8081").is_err());
        assert!(parse_url("http://localhost:8081").is_err());
        assert_eq!(
            reachable("0.0.0.0:8081".parse().unwrap()),
            "127.0.0.1:8081".parse().unwrap()
        );
        let a = parse_answer(b"HTTP/1.1 404 Not Found\r\nX: y\r\n\r\n{}").unwrap();
        assert_eq!((a.status, a.body.as_str()), (404, "{}"));
    }
}

//! API polling: N clients request one admin API URL in a loop, each
//! request on a fresh TCP connection (the API answers `Connection:
//! close`, docs/observability.md), all on one thread with async-io, so
//! that watching the broker costs the machine one process, not a process
//! spawn per request. Bounded by `--seconds` and `--max-requests`.
//!
//! Counts answers by status and prints the request rate achieved and the
//! time per request; run beside `latency` (tests/bench/observe.sh) it
//! shows what an operator's polling costs MQTT clients.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use argh::FromArgs;
use async_io::Timer;

use crate::conns::{phase, put_phase};
use crate::report::{percentile, CpuMeter, Json};
use crate::stream::AsyncStream;
use crate::Common;

/// A response larger than this is an error: a page of 1,000 clients is
/// well below it, and the generator must not grow without bound.
const MAX_RESPONSE_BYTES: usize = 4 << 20;

/// N HTTP/1.1 GET loops against the admin API; requests per second
#[derive(FromArgs)]
#[argh(subcommand, name = "api-poll")]
pub struct Args {
    /// the URL to request: http://IP:PORT/PATH (an IP literal, as the
    /// admin_listener is)
    #[argh(option)]
    url: String,
    /// file whose first line is the bearer token (the broker's admin.token)
    #[argh(option)]
    token_file: Option<String>,
    /// requests in flight (default 8, the API's own limit)
    #[argh(option, default = "8")]
    clients: usize,
    /// seconds to poll for (default 10)
    #[argh(option, default = "10.0")]
    seconds: f64,
    /// stop after this many requests (default 1000000)
    #[argh(option, default = "1_000_000")]
    max_requests: usize,
    /// each client's pause after an answer, in ms (default 0: poll without
    /// pause)
    #[argh(option, default = "0")]
    pause_ms: u64,
}

/// What the loops have seen.
#[derive(Default)]
struct Tally {
    by_status: BTreeMap<u16, u64>,
    bytes: u64,
    request_ns: Vec<u64>,
}

impl Tally {
    fn add(&mut self, status: u16, bytes: usize, ns: u64) {
        *self.by_status.entry(status).or_default() += 1;
        self.bytes += bytes as u64;
        self.request_ns.push(ns);
    }
}

pub fn run(common: &Common, args: &Args) -> io::Result<String> {
    let (addr, path) = parse_url(&args.url)?;
    let token = match &args.token_file {
        None => None,
        Some(file) => Some(read_token(file)?),
    };
    let request = request_bytes(addr, &path, token.as_deref());
    let mut json = Json::new("api-poll", &common.label);
    json.text("path", &path);
    json.int("clients", args.clients as u64);
    json.int("pause_ms", args.pause_ms);
    let tally = RefCell::new(Tally::default());
    let pause = Duration::from_millis(args.pause_ms);
    let deadline =
        (Instant::now() + Duration::from_secs_f64(args.seconds.max(0.0))).min(common.deadline);
    let cpu = CpuMeter::start(common.pid);
    let polled = phase(args.clients.max(1), args.max_requests, deadline, |_| {
        let (request, tally) = (&request, &tally);
        async move {
            let started = Instant::now();
            let (status, bytes) = get(addr, request).await?;
            tally.borrow_mut().add(status, bytes, elapsed_ns(started));
            if !pause.is_zero() {
                Timer::after(pause).await;
            }
            Ok(())
        }
    });
    cpu.stop(polled.seconds, &mut json);
    put_phase(&mut json, "request", &polled);
    let mut tally = tally.into_inner();
    for (status, n) in &tally.by_status {
        json.int(&format!("status_{status}"), *n);
    }
    json.int(
        "bytes_per_response",
        tally.bytes / (polled.ok.max(1) as u64),
    );
    tally.request_ns.sort_unstable();
    let ms = |q: f64| percentile(&tally.request_ns, q) as f64 / 1e6;
    json.float("request_p50_ms", ms(0.5));
    json.float("request_p99_ms", ms(0.99));
    if polled.ok == 0 {
        return Err(io::Error::other(format!(
            "no request answered: {}",
            polled.first_error.as_deref().unwrap_or("?")
        )));
    }
    Ok(json.finish())
}

fn elapsed_ns(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// `http://IP:PORT/PATH` into the address and the path (`/` if none).
fn parse_url(url: &str) -> io::Result<(SocketAddr, String)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("--url {url:?}"));
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let addr = authority.parse().map_err(|_| bad())?;
    Ok((addr, path.to_owned()))
}

fn read_token(file: &str) -> io::Result<String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| io::Error::new(e.kind(), format!("--token-file {file}: {e}")))?;
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}

/// The one request every loop sends.
fn request_bytes(addr: SocketAddr, path: &str, token: Option<&str>) -> Vec<u8> {
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// One request on a fresh connection, read to the server's close; the
/// status and the bytes received.
async fn get(addr: SocketAddr, request: &[u8]) -> io::Result<(u16, usize)> {
    let mut stream = AsyncStream::connect(addr, None).await?;
    stream.write_all(request).await?;
    let mut response = Vec::with_capacity(4096);
    let mut chunk = [0u8; 16384];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if response.len() > MAX_RESPONSE_BYTES {
            return Err(io::Error::other("a response over 4 MiB"));
        }
    }
    Ok((status_of(&response)?, response.len()))
}

/// The status code of `HTTP/1.x NNN ...`.
fn status_of(response: &[u8]) -> io::Result<u16> {
    let line = response.split(|&b| b == b'\r').next().unwrap_or_default();
    let text = std::str::from_utf8(line).unwrap_or_default();
    let mut words = text.split(' ');
    match (words.next(), words.next().map(str::parse::<u16>)) {
        (Some(v), Some(Ok(status))) if v.starts_with("HTTP/1.") => Ok(status),
        _ => Err(io::Error::other(format!(
            "not an HTTP response: {:?}",
            text.chars().take(40).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let (addr, path) = parse_url("http://127.0.0.1:8080/api/v1/clients?limit=5").unwrap();
        assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(path, "/api/v1/clients?limit=5");
        assert_eq!(parse_url("http://[::1]:1").unwrap().1, "/");
        assert!(parse_url("https://127.0.0.1:1/").is_err());
        assert!(parse_url("http://localhost:1/").is_err());
    }

    #[test]
    fn statuses() {
        assert_eq!(status_of(b"HTTP/1.1 503 Busy\r\n\r\n").unwrap(), 503);
        assert!(status_of(b"SSH-2.0\r\n").is_err());
        assert!(status_of(b"").is_err());
    }
}

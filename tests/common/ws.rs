//! A byte-level WebSocket client for the WebSocket listener's tests: the
//! upgrade request, masked frames built by hand (independent of the
//! crate's codec), server frames read back, and the MQTT packets they carry;
//! over TCP (`ws://`) or a rustls stream (`wss://`).
//! Also where the real clients (MQTT.js, paho-mqtt) are looked up.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The upgrade request MQTT clients send (RFC 6455 §1.3's sample key).
pub fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
    )
}

/// A client frame: masked unless `masked` is false.
pub fn frame(opcode: u8, fin: bool, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask = [0x5a, 0x01, 0xc3, 0x7e];
    let bit = if masked { 0x80 } else { 0 };
    let mut out = vec![u8::from(fin) << 7 | opcode];
    match payload.len() {
        n if n < 126 => out.push(bit | n as u8),
        n if n <= 0xffff => {
            out.push(bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

#[derive(Debug, PartialEq, Eq)]
enum Fill {
    Got,
    End,
    Timeout,
}

/// What a read from the server gave.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerFrame {
    Frame(u8, Vec<u8>),
    /// The socket ended (EOF or reset).
    Closed,
    Timeout,
}

/// What a [`WsClient`] runs over: a TCP socket or a TLS stream on one.
pub trait Conn: Read + Write + Send {
    fn socket(&self) -> &TcpStream;
}

impl Conn for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl Conn for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn socket(&self) -> &TcpStream {
        &self.sock
    }
}

pub struct WsClient {
    stream: Box<dyn Conn>,
    /// Bytes from the server not yet parsed into frames.
    raw: Vec<u8>,
    /// MQTT bytes from binary frames not yet parsed into packets.
    data: Vec<u8>,
    /// Control frames seen while reading packets.
    pub controls: Vec<(u8, Vec<u8>)>,
}

impl WsClient {
    /// Connects and sends `request`; returns the client and the response
    /// head (up to its empty line), or the head if it is not a 101.
    pub fn open(addr: SocketAddr, request: &str) -> Result<WsClient, String> {
        let stream = TcpStream::connect(addr).expect("connect to the WebSocket listener");
        stream.set_nodelay(true).ok();
        WsClient::open_over(Box::new(stream), request)
    }

    /// [`WsClient::open`] over a stream of the caller's (TLS: `wss://`).
    pub fn open_over(stream: Box<dyn Conn>, request: &str) -> Result<WsClient, String> {
        let mut client = WsClient {
            stream,
            raw: Vec::new(),
            data: Vec::new(),
            controls: Vec::new(),
        };
        client.send(request.as_bytes());
        let head = client.read_head(Duration::from_secs(10));
        if head.starts_with("HTTP/1.1 101 ") {
            Ok(client)
        } else {
            Err(head)
        }
    }

    /// Upgrades at `/mqtt`, panicking otherwise.
    pub fn upgrade(addr: SocketAddr) -> WsClient {
        WsClient::open(addr, &upgrade_request("/mqtt")).expect("the upgrade was refused")
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes).expect("write to the broker");
    }

    /// This end's address, as the broker's log lines name the peer.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.socket().local_addr().unwrap()
    }

    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// One masked binary frame, FIN set.
    pub fn send_binary(&mut self, payload: &[u8]) {
        self.send(&frame(OP_BINARY, true, payload, true));
    }

    /// Reads until the end of an HTTP head (or the socket ends); the head.
    pub fn read_head(&mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.raw.drain(..end + 4).collect();
                return String::from_utf8_lossy(&head).into_owned();
            }
            if self.fill(deadline) != Fill::Got {
                return String::from_utf8_lossy(&self.raw).into_owned();
            }
        }
    }

    /// Reads more bytes into `raw`.
    fn fill(&mut self, deadline: Instant) -> Fill {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Fill::Timeout;
        }
        self.stream.socket().set_read_timeout(Some(left)).ok();
        let mut buf = [0u8; 16 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => Fill::End,
            Ok(n) => {
                self.raw.extend_from_slice(&buf[..n]);
                Fill::Got
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Fill::Timeout
            }
            Err(_) => Fill::End,
        }
    }

    /// The next server frame; checks that it is unmasked.
    pub fn read_frame(&mut self, timeout: Duration) -> ServerFrame {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.raw) {
                self.raw.drain(..used);
                return frame;
            }
            match self.fill(deadline) {
                Fill::Got => {}
                Fill::End => return ServerFrame::Closed,
                Fill::Timeout => return ServerFrame::Timeout,
            }
        }
    }

    /// The next MQTT packet, from however many frames carry it; control
    /// frames met on the way go to `controls`.
    pub fn read_packet(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(len) = mqtt_packet_len(&self.data) {
                return Some(self.data.drain(..len).collect());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_frame(left) {
                ServerFrame::Frame(OP_BINARY | OP_CONTINUATION, payload) => {
                    self.data.extend_from_slice(&payload)
                }
                ServerFrame::Frame(op, payload) => self.controls.push((op, payload)),
                _ => return None,
            }
        }
    }

    /// Reads until a Close frame (its status code, `Some(None)` without one)
    /// or the end of the socket (`None`).
    pub fn read_close(&mut self, timeout: Duration) -> Option<Option<u16>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_frame(left) {
                ServerFrame::Frame(OP_CLOSE, p) if p.len() >= 2 => {
                    return Some(Some(u16::from_be_bytes([p[0], p[1]])))
                }
                ServerFrame::Frame(OP_CLOSE, _) => return Some(None),
                ServerFrame::Frame(..) => {}
                ServerFrame::Closed | ServerFrame::Timeout => return None,
            }
        }
    }

    /// Whether the server ends the socket within `timeout` (after
    /// whatever it still sends).
    pub fn expect_eof(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.raw.clear();
            match self.fill(deadline) {
                Fill::Got => {}
                Fill::End => return true,
                Fill::Timeout => return false,
            }
        }
    }
}

/// A whole server frame at the front of `raw`, and its length.
fn parse_server_frame(raw: &[u8]) -> Option<(ServerFrame, usize)> {
    if raw.len() < 2 {
        return None;
    }
    assert_eq!(
        raw[1] & 0x80,
        0,
        "server frames are unmasked (RFC 6455 §5.1)"
    );
    let (len, at) = match raw[1] & 0x7f {
        126 => (u16::from_be_bytes([*raw.get(2)?, *raw.get(3)?]) as usize, 4),
        127 => (
            u64::from_be_bytes(raw.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = raw.get(at..at + len)?.to_vec();
    Some((ServerFrame::Frame(raw[0] & 0x0f, payload), at + len))
}

/// The length of the whole MQTT packet at the front of `data`, if whole.
pub fn mqtt_packet_len(data: &[u8]) -> Option<usize> {
    let mut remaining = 0usize;
    for i in 0..4 {
        let b = *data.get(1 + i)?;
        remaining |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let total = 2 + i + remaining;
            return (data.len() >= total).then_some(total);
        }
    }
    None
}

/// A client process whose stdout lines arrive on a channel.
pub struct Script {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Script {
    pub fn spawn(mut command: Command) -> Script {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the client script");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Script { child, lines }
    }

    pub fn line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// The exit code once the process ends within `timeout` (`None`: still
    /// running, or killed by a signal).
    pub fn exit_code(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `make deps-ws` installs MQTT.js and paho-mqtt.
pub fn clients_dir() -> PathBuf {
    std::env::var_os("EDGEMQ_WS_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ws-clients"))
}

/// `node` and the `node_modules` holding MQTT.js, or why not.
pub fn mqtt_js() -> Result<PathBuf, String> {
    let ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return Err("no `node` on PATH (Debian: nodejs; `make deps-ws`)".into());
    }
    let modules = clients_dir().join("node_modules");
    if !modules.join("mqtt/package.json").is_file() {
        return Err(format!(
            "MQTT.js is not installed in {} (`make deps-ws`)",
            modules.display()
        ));
    }
    Ok(modules)
}

/// The venv's python with paho-mqtt, or why not.
pub fn paho_python() -> Result<PathBuf, String> {
    let python = clients_dir().join("venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import paho.mqtt.client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Ok(python)
    } else {
        Err(format!(
            "paho-mqtt is not installed in {} (`make deps-ws`)",
            python.display()
        ))
    }
}

//! The latency probe of the slowloris tests: a client that PUBLISHes to
//! its own topic and times how long the message takes to come back, over
//! any transport that sends and reads whole MQTT packets (plain TCP,
//! WebSocket, TLS).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::raw::{self, RawClient};
use super::scaled;
use super::ws::{mqtt_packet_len, WsClient};

/// Sends and reads whole MQTT packets, however they travel.
pub trait PacketClient {
    fn send_packet(&mut self, bytes: &[u8]);
    /// The next whole packet, `None` at the deadline or the end.
    fn next_packet(&mut self, timeout: Duration) -> Option<Vec<u8>>;
}

impl PacketClient for RawClient {
    fn send_packet(&mut self, bytes: &[u8]) {
        self.send(bytes);
    }

    fn next_packet(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        self.read_packet(timeout)
    }
}

impl PacketClient for WsClient {
    fn send_packet(&mut self, bytes: &[u8]) {
        self.send_binary(bytes);
    }

    fn next_packet(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        self.read_packet(timeout)
    }
}

/// MQTT over a blocking rustls stream (`Pki::connect`).
pub struct TlsMqtt {
    pub tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    data: Vec<u8>,
}

impl TlsMqtt {
    pub fn new(tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>) -> TlsMqtt {
        TlsMqtt {
            tls,
            data: Vec::new(),
        }
    }
}

impl PacketClient for TlsMqtt {
    fn send_packet(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).unwrap();
        self.tls.flush().unwrap();
    }

    fn next_packet(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(len) = mqtt_packet_len(&self.data) {
                return Some(self.data.drain(..len).collect());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.tls.sock.set_read_timeout(Some(left)).ok();
            let mut chunk = [0u8; 4096];
            match self.tls.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.data.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }
}

/// PUBLISH `n` at `qos` (0 or 1) to `topic`, which the client subscribes
/// to, until it comes back (and the PUBACK, at QoS 1); how long it took.
pub fn round_trip(client: &mut dyn PacketClient, topic: &str, qos: u8, n: u16) -> Duration {
    let start = Instant::now();
    let payload = n.to_be_bytes();
    let pkid = (qos > 0).then_some(n);
    client.send_packet(&raw::publish(topic, &payload, qos, false, false, pkid));
    let (mut echoed, mut acked) = (false, qos == 0);
    while !(echoed && acked) {
        let p = client
            .next_packet(scaled(Duration::from_secs(5)))
            .unwrap_or_else(|| panic!("{topic}: the round trip did not come back"));
        match raw::parse_publish(&p) {
            Some(publish) => {
                if let Some(id) = publish.pkid {
                    client.send_packet(&raw::puback(id));
                }
                echoed |= publish.payload == payload;
            }
            None => acked |= raw::parse_ack(&p) == Some((4, n)),
        }
    }
    start.elapsed()
}

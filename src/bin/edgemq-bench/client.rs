//! A blocking MQTT 3.1.1 or 5.0 client connection (over TCP or TLS) with one
//! reused read buffer: connect, subscribe, and hand every whole packet that
//! arrived to a closure, many per `read`.

use std::io::{self, Read, Write};
use std::time::Duration;

use edgemq::codec::{
    self, Connect, Packet, PacketId, Properties, ProtocolVersion, QoS, Subscribe,
    SubscriptionOptions, SubscriptionRequest,
};

use crate::stream::Stream;
use crate::wire::{self, Incoming};
use crate::Common;

/// Read buffer: big enough for hundreds of small messages per `read`.
pub const READ_BUFFER: usize = 256 * 1024;

/// Keepalive the generator announces: none (0), so no broker disconnects
/// an idle bench client and none needs PINGREQs, however long the run (a
/// soak's QoS 0 subscriber sends nothing for an hour; with 600 it was
/// closed after 900 s).
const KEEP_ALIVE_S: u16 = 0;

pub struct Client {
    pub stream: Stream,
    pub protocol: ProtocolVersion,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl Client {
    /// TCP connect (TLS handshake with `--tls`), CONNECT, wait for
    /// CONNACK 0; a persistent session when `clean` is false (so the
    /// broker stores what it queues for it).
    pub fn connect_with(
        common: &Common,
        client_id: &str,
        buffer: usize,
        clean: bool,
    ) -> io::Result<Client> {
        let stream = Stream::connect(common.addr, common.tls.as_ref())?;
        let mut client = Client {
            stream,
            protocol: common.protocol,
            buf: vec![0; buffer.max(4096)],
            start: 0,
            end: 0,
        };
        let connect = Connect {
            protocol: common.protocol,
            bridge: false,
            clean_start: clean,
            keep_alive: KEEP_ALIVE_S,
            client_id: client_id.to_string(),
            will: None,
            username: None,
            password: None,
            properties: Properties::default(),
        };
        client.send_packet(&Packet::Connect(Box::new(connect)))?;
        let mut code = None;
        client.wait(Duration::from_secs(30), |p| {
            if let Incoming::ConnAck { code: c } = p {
                code = Some(c);
            }
            code.is_some()
        })?;
        match code {
            Some(0) => Ok(client),
            Some(c) => Err(bad(&format!("CONNACK refused with code {c}"))),
            None => Err(bad("no CONNACK")),
        }
    }

    /// A clean-session client with the default read buffer.
    pub fn open(common: &Common, client_id: &str) -> io::Result<Client> {
        Client::connect_with(common, client_id, READ_BUFFER, true)
    }

    /// SUBSCRIBE to one filter and wait for its SUBACK; a refusal is an error.
    pub fn subscribe(&mut self, filter: &str, qos: u8) -> io::Result<()> {
        let qos = QoS::from_u8(qos).ok_or_else(|| bad("QoS must be 0, 1 or 2"))?;
        let subscribe = Subscribe {
            packet_id: PacketId::MIN,
            requests: vec![SubscriptionRequest {
                filter: filter.to_string(),
                options: SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                },
            }],
            properties: Properties::default(),
        };
        self.send_packet(&Packet::Subscribe(subscribe))?;
        let mut code = None;
        self.wait(Duration::from_secs(30), |p| {
            if let Incoming::SubAck { code: c } = p {
                code = Some(c);
            }
            code.is_some()
        })?;
        match code {
            Some(c) if c < 0x80 => Ok(()),
            Some(c) => Err(bad(&format!("SUBACK refused with 0x{c:02x}"))),
            None => Err(bad("no SUBACK")),
        }
    }

    fn send_packet(&mut self, packet: &Packet) -> io::Result<()> {
        let mut out = Vec::new();
        codec::encode(packet, self.protocol, &mut out).map_err(|e| bad(&format!("encode: {e}")))?;
        self.stream.write_all(&out)
    }

    /// Reads until `done` returns true for a packet, within `limit`. What
    /// came after that packet stays in the buffer for the caller: a
    /// persistent session's queue follows its CONNACK at once, retained
    /// messages their SUBACK.
    fn wait(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(Incoming<'_>) -> bool,
    ) -> io::Result<()> {
        self.stream.set_read_timeout(Some(limit))?;
        let v5 = self.protocol.is_v5();
        loop {
            while let Some(pending) = self.buf.get(self.start..self.end) {
                match wire::next_packet(pending, v5) {
                    Ok(Some((packet, used))) => {
                        self.start += used;
                        if done(packet) {
                            return self.stream.set_read_timeout(None);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Err(bad(&format!("from the broker: {e}"))),
                }
            }
            if self.read_more()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// One `read` into the free end of the buffer; 0 means the peer closed.
    /// A read timeout comes back as `WouldBlock` / `TimedOut`.
    pub fn read_more(&mut self) -> io::Result<usize> {
        if self.start > 0 && self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            // Move the partial packet to the front; grow only if it alone
            // fills the buffer.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                let bigger = self.buf.len().saturating_mul(2);
                self.buf.resize(bigger, 0);
            }
        }
        let free = self.buf.get_mut(self.end..).unwrap_or(&mut []);
        let n = loop {
            match self.stream.read(free) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.end += n;
        Ok(n)
    }

    /// Hands every whole packet in the buffer to `each`, keeps the rest.
    pub fn drain(&mut self, mut each: impl FnMut(Incoming<'_>)) -> io::Result<()> {
        let v5 = self.protocol.is_v5();
        loop {
            let pending = self.buf.get(self.start..self.end).unwrap_or(&[]);
            match wire::next_packet(pending, v5) {
                Ok(Some((packet, used))) => {
                    each(packet);
                    self.start += used;
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(bad(&format!("from the broker: {e}"))),
            }
        }
    }
}

/// True for the error a read timeout produces.
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

//! The connection table: a slab of at most `max_connections` live
//! connections, indexed by [`ConnId`]. Slot generations make a stale id
//! (a connection that closed and whose slot was reused) harmless.
//!
//! Every live connection costs one [`Connection`], so it is kept small
//! (104 bytes, a 112-byte malloc chunk): rarely used parts (the will) sit
//! behind a pointer, the keepalive and the peer's address are stored as
//! compactly as their range allows (README.md ## Performance: RSS per idle
//! connection).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use crate::codec::{ProtocolVersion, PublishBody, QoS, ReasonCode};
use crate::session::Outbox;

use super::handshake::HandshakeStage;
pub use super::ids::ConnId;
use super::ids::SessionId;
use super::listeners::ListenerId;

/// Why the broker closes a connection; decides whether the will is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent DISCONNECT (5.0: with reason 0x00): no will
    /// [MQTT-3.14.4-3].
    ClientDisconnect,
    /// An MQTT 5 client sent DISCONNECT with another reason code, 0x04
    /// "disconnect with will message" or an error: the will is published
    /// (MQTT 5 §3.1.2.5: only reason 0x00 removes it).
    ClientDisconnectWithWill,
    /// The socket ended or failed without DISCONNECT.
    PeerGone,
    /// Bytes that do not form a packet, or a packet over the size cap.
    Malformed,
    /// A packet that breaks the protocol's rules.
    ProtocolError,
    KeepAliveTimeout,
    ConnectTimeout,
    /// Another connection took the session over.
    TakenOver,
    /// CONNECT refused; the CONNACK saying why has been queued.
    Refused,
    ServerShutdown,
    /// An MQTT 5 client over its publish rate for
    /// `rate_limit_disconnect_after`.
    RateLimited,
    /// An MQTT 5 client sent more unacknowledged QoS 2 PUBLISHes than the
    /// Receive Maximum we gave it (MQTT 5 §3.3.4).
    ReceiveMaximumExceeded,
    /// An MQTT 5 Topic Alias of 0 or above our Topic Alias Maximum
    /// (MQTT 5 §3.3.2.3.4).
    TopicAliasInvalid,
    /// An MQTT 5 client sent a packet over `max_packet_size`
    /// (MQTT 5 §3.2.2.3.6).
    PacketTooLarge,
    /// The `edgemq-token` an MQTT 5 client authenticated with expired
    /// unrenewed, or its re-authentication failed (docs/mqtt5.md).
    NotAuthorized,
    /// An MQTT 5 QoS 0 PUBLISH with Payload Format Indicator 1 and a
    /// payload that is not UTF-8 (docs/mqtt5.md): no acknowledgement can
    /// refuse it.
    PayloadFormatInvalid,
    /// Closed through the admin API (`DELETE /clients/{id}`); an MQTT 5
    /// client has been sent DISCONNECT 0x98.
    Kicked,
}

impl CloseReason {
    /// How log lines and client events say why a client left
    /// (docs/logging.md, "Connection messages").
    pub fn words(self) -> &'static str {
        match self {
            CloseReason::ClientDisconnect => "client disconnected",
            CloseReason::PeerGone => "connection lost",
            CloseReason::Malformed => "malformed packet",
            CloseReason::ProtocolError => "protocol error",
            CloseReason::KeepAliveTimeout => "keepalive timeout",
            CloseReason::ConnectTimeout => "connect timeout",
            CloseReason::TakenOver => "taken over by a new connection",
            CloseReason::Refused => "connect refused",
            CloseReason::ServerShutdown => "server shutting down",
            CloseReason::RateLimited => "publish rate too high",
            CloseReason::Kicked => "kicked by an administrator",
            CloseReason::ClientDisconnectWithWill => "client disconnected with its will",
            CloseReason::ReceiveMaximumExceeded => "receive maximum exceeded",
            CloseReason::TopicAliasInvalid => "topic alias invalid",
            CloseReason::PacketTooLarge => "packet too large",
            CloseReason::NotAuthorized => "not authorized",
            CloseReason::PayloadFormatInvalid => "payload format invalid",
        }
    }

    /// A will is published for every end but DISCONNECT and a refused CONNECT.
    pub fn publishes_will(self) -> bool {
        !matches!(self, CloseReason::ClientDisconnect | CloseReason::Refused)
    }

    /// The reason code of the DISCONNECT an MQTT 5 client is sent when the
    /// server ends its connection after CONNACK (MQTT 5 §3.14.2.1): the
    /// one place these are mapped. `None`: the client ended it, or the
    /// socket is gone, or CONNACK already said why.
    pub fn disconnect_code(self) -> Option<ReasonCode> {
        Some(match self {
            CloseReason::ClientDisconnect
            | CloseReason::ClientDisconnectWithWill
            | CloseReason::PeerGone
            | CloseReason::ConnectTimeout
            | CloseReason::Refused => return None,
            CloseReason::Malformed => ReasonCode::MALFORMED_PACKET,
            CloseReason::ProtocolError => ReasonCode::PROTOCOL_ERROR,
            CloseReason::KeepAliveTimeout => ReasonCode::KEEP_ALIVE_TIMEOUT,
            CloseReason::TakenOver => ReasonCode::SESSION_TAKEN_OVER,
            CloseReason::ServerShutdown => ReasonCode::SERVER_SHUTTING_DOWN,
            CloseReason::RateLimited => ReasonCode::MESSAGE_RATE_TOO_HIGH,
            CloseReason::ReceiveMaximumExceeded => ReasonCode::RECEIVE_MAXIMUM_EXCEEDED,
            CloseReason::TopicAliasInvalid => ReasonCode::TOPIC_ALIAS_INVALID,
            CloseReason::PacketTooLarge => ReasonCode::PACKET_TOO_LARGE,
            CloseReason::NotAuthorized => ReasonCode::NOT_AUTHORIZED,
            CloseReason::PayloadFormatInvalid => ReasonCode::PAYLOAD_FORMAT_INVALID,
            CloseReason::Kicked => ReasonCode::ADMINISTRATIVE_ACTION,
        })
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.words())
    }
}

/// A will message, validated at CONNECT.
#[derive(Debug, Clone)]
pub struct WillMessage {
    pub body: PublishBody,
    pub qos: QoS,
    pub retain: bool,
    /// MQTT 5 Will Delay Interval in seconds; 0 in 3.x.
    pub delay_secs: u32,
    /// Its MQTT 5 properties as CONNECT carried them: they become the
    /// message's when it is published, its expiry running from then.
    pub properties: crate::codec::Properties,
}

/// How long a client may stay silent: 1.5 × its keepalive
/// [MQTT-3.1.2-24], in milliseconds. The keepalive is at most 65,535 s, so
/// the limit (≤ 98,302,500 ms) fits a `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive(NonZeroU32);

impl KeepAlive {
    /// `None` for a keepalive of 0 (no limit).
    pub fn from_secs(keep_alive: u16) -> Option<KeepAlive> {
        NonZeroU32::new(u32::from(keep_alive) * 1500).map(KeepAlive)
    }

    pub fn limit(self) -> Duration {
        Duration::from_millis(u64::from(self.0.get()))
    }

    /// The keepalive in seconds, as the client's CONNECT (or the server's
    /// override) gave it.
    pub fn secs(self) -> u16 {
        u16::try_from(self.0.get() / 1500).unwrap_or(u16::MAX)
    }
}

#[derive(Debug)]
pub enum ConnState {
    /// Accepted; the first packet must be CONNECT within `connect_timeout`.
    /// `handshake`: the transport's handshake still under way (TLS, the
    /// WebSocket upgrade), which that timeout also bounds.
    AwaitingConnect { handshake: Option<HandshakeStage> },
    Active {
        session: SessionId,
        /// `None` when the client's keepalive is 0.
        keep_alive: Option<KeepAlive>,
        will: Option<Box<WillMessage>>,
        /// When its CONNECT was accepted, for the admin API and client
        /// events: 1 + whole seconds from the broker's first accepted
        /// CONNECT (`Broker::connected_since`). Four bytes that fit in this
        /// variant's padding: an `Instant` in `Connection`, or a map entry
        /// beside the table (~50 bytes), showed in the RSS of 10k idle
        /// connections.
        connected_secs: NonZeroU32,
    },
}

/// A peer's address in 20 bytes instead of `SocketAddr`'s 32 (an IPv6
/// flow label and scope id are not kept: they are only ever printed).
/// Prints like the `SocketAddr` it came from. A unix socket peer has no
/// address; the variant costs nothing (it lives in `IpAddr`'s niche) and
/// log lines name it by its listener (`listeners::PeerName`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PeerAddr {
    Ip { ip: IpAddr, port: u16 },
    Unix,
}

impl PeerAddr {
    /// `None` for a unix socket peer.
    pub fn socket_addr(self) -> Option<SocketAddr> {
        match self {
            PeerAddr::Ip { ip, port } => Some(SocketAddr::new(ip, port)),
            PeerAddr::Unix => None,
        }
    }
}

impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> PeerAddr {
        PeerAddr::Ip {
            ip: addr.ip(),
            port: addr.port(),
        }
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.socket_addr() {
            Some(addr) => fmt::Display::fmt(&addr, f),
            None => f.write_str("unix"),
        }
    }
}

impl fmt::Debug for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.socket_addr() {
            Some(addr) => fmt::Debug::fmt(&addr, f),
            None => f.write_str("unix"),
        }
    }
}

/// Where a connection came from: its listener and its peer's address, in
/// the 20 bytes of a [`PeerAddr`] (the listener takes the address's
/// padding byte; a unix socket peer sits in `IpAddr`'s niche).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Ip {
        ip: IpAddr,
        port: u16,
        listener: ListenerId,
    },
    Unix {
        listener: ListenerId,
    },
}

impl Origin {
    pub fn new(listener: ListenerId, peer: PeerAddr) -> Origin {
        match peer {
            PeerAddr::Ip { ip, port } => Origin::Ip { ip, port, listener },
            PeerAddr::Unix => Origin::Unix { listener },
        }
    }

    pub fn listener(self) -> ListenerId {
        match self {
            Origin::Ip { listener, .. } | Origin::Unix { listener } => listener,
        }
    }

    pub fn peer(self) -> PeerAddr {
        match self {
            Origin::Ip { ip, port, .. } => PeerAddr::Ip { ip, port },
            Origin::Unix { .. } => PeerAddr::Unix,
        }
    }
}

#[derive(Debug)]
pub struct Connection {
    /// Connected with mosquitto's bridge flag: never sent its own publishes.
    pub bridge: bool,
    /// Its listener (whose cap counts it) and its peer's address.
    pub origin: Origin,
    /// When a packet last came. Until CONNECT no packet has (the first
    /// packet is CONNECT or ends the connection), so while
    /// `AwaitingConnect` this is when the connection opened.
    pub last_seen: Instant,
    pub version: ProtocolVersion,
    /// Sync persistence: frames wait until a store batch is durable (which
    /// one is in the broker's list of held connections).
    pub held: bool,
    pub state: ConnState,
    pub outbox: Outbox,
    /// How many full session queues this connection's messages wait for;
    /// while above 0 its socket is not read
    /// (docs/design.md ## Queues and back-pressure).
    pub pause_count: u32,
    pub closing: Option<CloseReason>,
    /// Already listed for the network layer to wake.
    pub wake_listed: bool,
    /// In the broker's list of publishers let go and not read since.
    pub released: bool,
    /// Its last packet made store ops: paused while the store is behind.
    pub feeds_store: bool,
    /// In the list of connections waiting for the store to catch up.
    pub store_waiting: bool,
}

impl Connection {
    pub fn session(&self) -> Option<SessionId> {
        match self.state {
            ConnState::Active { session, .. } => Some(session),
            ConnState::AwaitingConnect { .. } => None,
        }
    }
}

struct Slot {
    generation: NonZeroU32,
    connection: Option<Box<Connection>>,
}

pub struct ConnectionTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    capacity: usize,
    live: usize,
}

impl ConnectionTable {
    /// Slots are a generation and a pointer; reserved up front so the cap
    /// costs 16 bytes a connection, not a connection's state.
    pub fn new(capacity: usize) -> ConnectionTable {
        ConnectionTable {
            slots: Vec::with_capacity(capacity),
            free: Vec::new(),
            capacity,
            live: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.live
    }

    /// `None` when the table is at `max_connections`.
    pub fn insert(&mut self, connection: Connection) -> Option<ConnId> {
        let index = match self.free.pop() {
            Some(index) => index,
            None if self.slots.len() < self.capacity => {
                let index = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Slot {
                    generation: NonZeroU32::MIN,
                    connection: None,
                });
                index
            }
            None => return None,
        };
        let slot = self.slots.get_mut(index as usize)?;
        slot.generation = slot.generation.checked_add(1).unwrap_or(NonZeroU32::MIN);
        slot.connection = Some(Box::new(connection));
        self.live += 1;
        Some(ConnId {
            index,
            generation: slot.generation,
        })
    }

    pub fn get(&self, id: ConnId) -> Option<&Connection> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.connection.as_deref()
    }

    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.connection.as_deref_mut()
    }

    pub fn remove(&mut self, id: ConnId) -> Option<Box<Connection>> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let connection = slot.connection.take()?;
        self.free.push(id.index);
        self.live -= 1;
        Some(connection)
    }

    /// Every live connection's id.
    pub fn ids(&self) -> Vec<ConnId> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.connection.is_some())
            .filter_map(|(index, slot)| {
                Some(ConnId {
                    index: u32::try_from(index).ok()?,
                    generation: slot.generation,
                })
            })
            .collect()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (ConnId, &mut Connection)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(index, slot)| {
                let id = ConnId {
                    index: u32::try_from(index).ok()?,
                    generation: slot.generation,
                };
                slot.connection.as_deref_mut().map(|c| (id, c))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every live connection pays for one (README.md ## Performance: RSS
    /// per idle connection); 104 bytes is a 112-byte malloc chunk (glibc:
    /// size + 8, rounded up to 16).
    #[test]
    fn a_connection_is_small() {
        assert!(std::mem::size_of::<Connection>() <= 104);
        assert!(std::mem::size_of::<Option<ConnId>>() <= 8);
    }

    #[test]
    fn a_peer_address_prints_like_a_socket_address() {
        for text in ["192.0.2.1:1883", "[2001:db8::1]:8883"] {
            let Ok(addr) = text.parse::<SocketAddr>() else {
                panic!("{text}");
            };
            let peer = PeerAddr::from(addr);
            assert_eq!(peer.to_string(), text);
            assert_eq!(format!("{peer:?}"), format!("{addr:?}"));
            assert_eq!(peer.socket_addr(), Some(addr));
        }
        assert_eq!(PeerAddr::Unix.to_string(), "unix");
        assert_eq!(PeerAddr::Unix.socket_addr(), None);
    }

    /// A unix socket peer and the listener cost a TCP peer nothing.
    #[test]
    fn an_origin_is_20_bytes() {
        assert_eq!(std::mem::size_of::<PeerAddr>(), 20);
        assert_eq!(std::mem::size_of::<Origin>(), 20);
        let Some(listener) = ListenerId::new(3) else {
            panic!("listener 3");
        };
        let Ok(addr) = "[2001:db8::1]:8883".parse::<SocketAddr>() else {
            panic!("address");
        };
        for peer in [PeerAddr::from(addr), PeerAddr::Unix] {
            let origin = Origin::new(listener, peer);
            assert_eq!((origin.listener(), origin.peer()), (listener, peer));
        }
    }

    #[test]
    fn keep_alive_is_one_and_a_half_times() {
        assert_eq!(KeepAlive::from_secs(0), None);
        assert_eq!(
            KeepAlive::from_secs(60).map(KeepAlive::limit),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            KeepAlive::from_secs(u16::MAX).map(KeepAlive::limit),
            Some(Duration::from_millis(98_302_500))
        );
    }
}

//! The broker: the fixed-capacity connection and session tables, routing,
//! retained messages, wills, limits and back-pressure.
//!
//! Sans-IO: every input is a `handle_*` call that takes `now`, every output
//! is polled (`take_outbound`, `poll_wakeups`, `poll_timeout`). It never
//! reads the clock, never touches a socket, never awaits. The network layer
//! owns the sockets and calls in synchronously; nothing here is held across
//! an `.await`.

mod access;
mod acks;
mod alerts;
mod authenticate;
mod backpressure;
mod bridges;
mod close;
mod connect;
mod connections;
mod console;
mod enhanced_auth;
mod expiry;
mod handshake;
mod ids;
mod inspect;
mod listeners;
mod message_expiry;
mod mqtt5;
mod observe;
mod p2p;
mod persist;
mod publish;
mod rate_limits;
pub mod reload;
mod retained;
mod security;
mod sessions;
mod settings;
mod shared;
mod stats;
mod store_backlog;
mod store_batch;
mod store_op;
mod subscribe;
mod tail;
mod timeouts;
mod token_bucket;
mod topic_alias;

#[cfg(test)]
mod tests;

pub use access::SecurityInstalled;
#[cfg(feature = "bridge")]
pub use bridges::{BridgeCounters, Bridges};
pub use connections::{CloseReason, ConnId, PeerAddr};
pub use console::ConsoleSettings;
pub use enhanced_auth::TOKEN_METHOD;
pub use inspect::{ClientDetail, ClientQuery, ClientSummary, RetainedSummary};
pub use listeners::{ListenerId, ListenerSettings, PeerName};
pub use persist::{BridgeStoreJournal, Restore, RestoredSession, StoreOp, StoredWill};
pub use rate_limits::PublishLimits;
pub use retained::RetainedMessage;
pub use security::{Security, SecurityDomain};
pub use sessions::SessionId;
pub use settings::Settings;
pub use stats::Stats;
pub use store_batch::ReadyBatch;
pub use tail::{Tailed, TAIL_KEEP, TAIL_MAX_BYTES, TAIL_MAX_MESSAGES};

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use log::info;

use crate::auth::{Identity, LoginThrottle};
use crate::codec::{DecodeError, Frame, Packet, ProtocolVersion};
use crate::session::Subscription;
use crate::topic::SubscriptionTrie;

use connections::{ConnState, Connection, ConnectionTable, Origin};
use listeners::ListenerTable;
use persist::Persistence;
use rate_limits::PublishRates;
use retained::RetainedStore;
use sessions::SessionTable;
use stats::{LimitLogs, LogKind};

/// Why the broker would not take a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenRefused {
    /// `max_connections` reached, the global one or the listener's: answer
    /// the CONNECT with "server unavailable" and close.
    MaxConnections,
    ShuttingDown,
}

pub struct Broker {
    settings: Settings,
    connections: ConnectionTable,
    listeners: ListenerTable,
    sessions: SessionTable,
    subscriptions: SubscriptionTrie<SessionId, Subscription>,
    /// Shared subscriptions' groups (`shared.rs`); their members' own
    /// lists hold them too, the trie above does not.
    shared: shared::SharedGroups,
    retained: RetainedStore,
    stats: Stats,
    logs: LimitLogs,
    /// Connections with something new for the network layer: frames to
    /// write, a close to carry out, or reading resumed.
    wakeups: Vec<ConnId>,
    /// Routing scratch, kept to avoid an allocation per message.
    matches: Vec<(SessionId, Subscription)>,
    /// The sessions a message goes to, built from `matches`: reused, like
    /// it, so that routing a message allocates nothing for its list.
    targets: Vec<publish::Target>,
    /// Publishers paused on each full session queue.
    blocked: HashMap<SessionId, Vec<ConnId>>,
    /// Publishers let go by a session's queue and not read since.
    released: Vec<(ConnId, SessionId)>,
    /// Clients publishing near `max_publish_rate` / `max_publish_bytes_rate`.
    publish_rates: PublishRates,
    /// For assigned client ids: a random start, then counting.
    next_assigned_id: u64,
    last_sweep: Option<Instant>,
    shutting_down: bool,
    /// The process's resident memory is past `memory_limit`.
    over_memory_limit: bool,
    /// `None` with `persistence false`.
    persistence: Option<Persistence>,
    /// Usernames from client certificates, until their CONNECT
    /// (`handshake.rs`).
    certificate_usernames: HashMap<ConnId, Option<Box<str>>>,
    /// allow_anonymous, the loaded password file, token secret and JWT
    /// key, and the compiled `acl_file`, per listener or for all
    /// (`security.rs`).
    security: Security,
    /// Failed logins per address (`auth_fail_limit`).
    throttle: LoginThrottle,
    /// Unix seconds, set before each CONNECT; `None`: clock not set.
    wall_clock: Option<u64>,
    /// How each connected client got in, when it has a name or an ACL;
    /// anonymous clients, the many on a LAN, have no entry.
    identities: HashMap<ConnId, Identity>,
    /// Who each session is to the rules, by session (`access.rs`).
    session_acls: access::SessionAcls,
    /// Counts ACL installs, so answers cached under older rules are not
    /// used (`access.rs`).
    acl_generation: u32,
    /// MQTT 5 connections' negotiated limits and aliases (`mqtt5.rs`);
    /// 3.x connections have no entry.
    v5: HashMap<ConnId, mqtt5::V5Conn>,
    /// MQTT 5 sessions' granted Session Expiry Interval, where it is
    /// shorter than `persistent_client_expiration` (`expiry.rs`).
    session_expiry: HashMap<SessionId, std::time::Duration>,
    /// Wills waiting for their Will Delay Interval, one per session at
    /// most (`expiry.rs`).
    delayed_wills: Vec<expiry::DelayedWill>,
    /// Why the connection about to be closed broke the protocol, for the
    /// reason string of its DISCONNECT (set just before `close`).
    close_why: Option<(ConnId, &'static str)>,
    /// `$SYS`, client events, the wall clock they are stamped with
    /// (`observe.rs`).
    observe: observe::Observe,
    /// `alert` rules and their states (`alerts.rs`, sys/alerts.rs).
    alerts: crate::sys::alerts::Alerts,
    /// The admin API's tail of recent messages (`tail.rs`).
    tail: tail::Tail,
    /// Device trajectories and message history (`console.rs`).
    console: console::Console,
    #[cfg(feature = "bridge")]
    bridges: Bridges,
}

impl Broker {
    /// `seed` varies assigned client ids between runs; pass any random u64.
    pub fn new(settings: Settings, seed: u64) -> Broker {
        Broker {
            connections: ConnectionTable::new(settings.max_connections),
            listeners: ListenerTable::new(&settings.listeners),
            sessions: SessionTable::new(settings.max_sessions),
            subscriptions: SubscriptionTrie::new(),
            shared: shared::SharedGroups::new(seed),
            retained: RetainedStore::new(settings.max_retained_messages),
            stats: Stats::default(),
            logs: LimitLogs::default(),
            wakeups: Vec::new(),
            matches: Vec::new(),
            targets: Vec::new(),
            blocked: HashMap::new(),
            released: Vec::new(),
            publish_rates: PublishRates::default(),
            next_assigned_id: seed,
            last_sweep: None,
            shutting_down: false,
            over_memory_limit: false,
            persistence: settings.persistence.then(|| Persistence::new(&settings)),
            certificate_usernames: HashMap::new(),
            security: Security::default(),
            throttle: LoginThrottle::new(settings.auth_throttle),
            wall_clock: None,
            identities: HashMap::new(),
            session_acls: access::SessionAcls::default(),
            acl_generation: 0,
            v5: HashMap::new(),
            session_expiry: HashMap::new(),
            delayed_wills: Vec::new(),
            close_why: None,
            observe: observe::Observe::default(),
            alerts: crate::sys::alerts::Alerts::default(),
            tail: tail::Tail::default(),
            console: console::Console::default(),
            #[cfg(feature = "bridge")]
            bridges: Bridges::default(),
            settings,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// A socket was accepted on `listener`; `peer` is `PeerAddr::Unix`
    /// for a unix socket. Over the listener's own `max_connections`, or
    /// the global one, it is refused the same way.
    pub fn handle_open(
        &mut self,
        now: Instant,
        listener: ListenerId,
        peer: PeerAddr,
    ) -> Result<ConnId, OpenRefused> {
        if self.shutting_down {
            return Err(OpenRefused::ShuttingDown);
        }
        if let Err(full) = self.listeners.check_room(listener) {
            self.stats.refused_max_connections += 1;
            let peer = self.listeners.peer_name(Origin::new(listener, peer));
            self.logs.warn(LogKind::ListenerMaxConnections, now, || {
                format!(
                    "refusing connection from {peer}: listener {} is at its max_connections {} \
                     ({} refused on this listener so far)",
                    full.label, full.max_connections, full.refused
                )
            });
            return Err(OpenRefused::MaxConnections);
        }
        let connection = Connection {
            origin: Origin::new(listener, peer),
            last_seen: now,
            version: ProtocolVersion::V3_1_1,
            held: false,
            state: ConnState::AwaitingConnect {
                handshake: self.listeners.first_handshake(listener),
            },
            outbox: Default::default(),
            pause_count: 0,
            closing: None,
            wake_listed: false,
            released: false,
            feeds_store: false,
            store_waiting: false,
            bridge: false,
        };
        match self.connections.insert(connection) {
            Some(id) => {
                self.stats.connections_accepted += 1;
                self.listeners.opened(listener);
                Ok(id)
            }
            None => {
                self.stats.refused_max_connections += 1;
                let max = self.settings.max_connections;
                let peer = self.listeners.peer_name(Origin::new(listener, peer));
                self.logs.warn(LogKind::MaxConnections, now, || {
                    format!("refusing connection from {peer}: max_connections {max} reached")
                });
                Err(OpenRefused::MaxConnections)
            }
        }
    }

    /// One line per listener: its connections, cap and refusals.
    pub fn listener_report(&self) -> Vec<String> {
        self.listeners.report()
    }

    /// How log lines name `conn`'s peer.
    fn peer_name(&self, conn: ConnId) -> Option<PeerName> {
        let connection = self.connections.get(conn)?;
        Some(self.listeners.peer_name(connection.origin))
    }

    /// One whole packet from `conn`.
    pub fn handle_packet(&mut self, now: Instant, conn: ConnId, packet: Packet) {
        let Some(connection) = self.connections.get_mut(conn) else {
            return;
        };
        if connection.closing.is_some() {
            return;
        }
        connection.last_seen = now;
        let connected = matches!(connection.state, ConnState::Active { .. });
        // The publish rates charge what was read, whatever becomes of it.
        let published = match &packet {
            Packet::Publish(publish) if connected => Some(publish.body.len()),
            _ => None,
        };
        let ops_before = self.ops_pushed();
        self.dispatch_packet(now, conn, connected, packet);
        // Sync persistence: what this packet made us store is acknowledged
        // only once it is on disk (docs/design.md, "Durability").
        let fed_store = self.ops_pushed() > ops_before;
        if let Some(connection) = self.connections.get_mut(conn) {
            connection.feeds_store = fed_store;
        }
        if fed_store {
            self.hold_for_store(conn);
        }
        if let Some(bytes) = published {
            self.charge_publish(now, conn, bytes);
        }
    }

    fn dispatch_packet(&mut self, now: Instant, conn: ConnId, connected: bool, packet: Packet) {
        match packet {
            Packet::Connect(connect) if !connected => self.handle_connect(now, conn, *connect),
            // An AUTH exchange before CONNACK (`enhanced_auth.rs`).
            Packet::Auth(auth) => self.handle_auth(now, conn, auth),
            // A second CONNECT is a protocol violation [MQTT-3.1.0-2].
            Packet::Connect(_) => self.protocol_error(now, conn, "second CONNECT"),
            // The first packet must be CONNECT [MQTT-3.1.0-1].
            _ if !connected => self.protocol_error(now, conn, "first packet is not CONNECT"),
            Packet::Publish(publish) => self.handle_publish(now, conn, publish),
            Packet::Ack(ack) => self.handle_ack(now, conn, ack),
            Packet::Subscribe(subscribe) => self.handle_subscribe(now, conn, subscribe),
            Packet::Unsubscribe(unsubscribe) => self.handle_unsubscribe(now, conn, unsubscribe),
            Packet::PingReq => self.send(conn, &Packet::PingResp),
            Packet::Disconnect(disconnect) => self.handle_disconnect(now, conn, disconnect),
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                self.protocol_error(now, conn, "packet only a server may send")
            }
        }
    }

    /// The bytes from `conn` could not be decoded: answer what can be
    /// answered (CONNACK 0x01 for an unknown protocol level), then close.
    pub fn handle_decode_error(&mut self, now: Instant, conn: ConnId, error: &DecodeError) {
        let Some(connection) = self.connections.get(conn) else {
            return;
        };
        let peer = self.listeners.peer_name(connection.origin);
        let awaiting_connect = matches!(connection.state, ConnState::AwaitingConnect { .. });
        self.stats.malformed_packets += 1;
        self.logs.warn(LogKind::Malformed, now, || {
            format!("closing {peer}: {error}")
        });
        if let (DecodeError::UnsupportedProtocol { .. }, true) = (error, awaiting_connect) {
            self.refuse_connect(
                now,
                conn,
                crate::codec::ConnectReturn::UnacceptableProtocolVersion,
            );
            return;
        }
        // 5.0 after CONNACK: DISCONNECT says which (MQTT 5 §4.13).
        let reason = match error {
            DecodeError::TooLarge { .. } => CloseReason::PacketTooLarge,
            DecodeError::Protocol(why) => {
                self.close_why = Some((conn, why));
                CloseReason::ProtocolError
            }
            _ => CloseReason::Malformed,
        };
        self.close(now, conn, reason);
    }

    /// The network layer wrote `bytes` of `conn`'s frames.
    pub fn handle_written(&mut self, conn: ConnId, bytes: usize) {
        self.stats.bytes_sent = self.stats.bytes_sent.wrapping_add(bytes as u64);
        if let Some(connection) = self.connections.get_mut(conn) {
            connection.outbox.written(bytes);
        }
    }

    /// Moves `conn`'s pending frames to the writer (none while they wait
    /// for a sync-mode flush).
    pub fn take_outbound(&mut self, conn: ConnId, dst: &mut VecDeque<Frame>) {
        if self.is_held(conn) {
            return;
        }
        let from = dst.len();
        if let Some(connection) = self.connections.get_mut(conn) {
            connection.outbox.take_into(dst);
        }
        self.alias_outbound(conn, dst, from);
    }

    /// Whether the network layer should read from `conn` now: not paused by
    /// back-pressure (a full session queue, or a store that is behind while
    /// `conn` feeds it), nor for its publish rate, not closing, and not
    /// sitting on a full outbox (a client that does not read its
    /// acknowledgements is not read either).
    pub fn read_allowed(&self, conn: ConnId) -> bool {
        self.connections.get(conn).is_some_and(|c| {
            c.closing.is_none()
                && c.pause_count == 0
                && c.outbox.bytes() < self.settings.queue.max_outbound_bytes
        }) && !self.waits_for_store(conn)
            && !self.publish_rates.holds(conn)
    }

    /// Why `conn` is closing, once the broker has decided it is.
    pub fn closing(&self, conn: ConnId) -> Option<CloseReason> {
        self.connections
            .get(conn)
            .map_or(Some(CloseReason::PeerGone), |c| c.closing)
    }

    /// The version to decode `conn`'s next packet with.
    pub fn version(&self, conn: ConnId) -> ProtocolVersion {
        self.connections
            .get(conn)
            .map_or(ProtocolVersion::V3_1_1, |c| c.version)
    }

    /// Connections the network layer should wake; drains the list.
    pub fn poll_wakeups(&mut self, dst: &mut Vec<ConnId>) {
        for id in self.wakeups.drain(..) {
            if let Some(connection) = self.connections.get_mut(id) {
                connection.wake_listed = false;
                dst.push(id);
            }
        }
    }

    /// The process's resident memory, measured by the network layer (only
    /// asked for when `memory_limit` is set). Past the limit, new PUBLISHes
    /// are refused until it falls below again.
    pub fn handle_memory_usage(&mut self, now: Instant, resident_bytes: u64) {
        let limit = self.settings.memory_limit;
        let over = limit > 0 && resident_bytes > limit;
        if over && !self.over_memory_limit {
            self.logs.warn(LogKind::Memory, now, || {
                format!("resident memory {resident_bytes} bytes is over memory_limit {limit}: refusing new PUBLISHes")
            });
        } else if !over && self.over_memory_limit {
            info!("resident memory back under memory_limit {limit}: accepting PUBLISHes again");
        }
        self.over_memory_limit = over;
    }

    /// Whether the network layer should report memory usage.
    pub fn wants_memory_usage(&self) -> bool {
        self.settings.memory_limit > 0
    }

    /// Stop taking connections and close every client
    /// (README.md ## Operations).
    pub fn handle_shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        for id in self.connections.ids() {
            self.close(now, id, CloseReason::ServerShutdown);
        }
        // Wills are not stored: one still waiting goes now (`expiry.rs`).
        self.sweep_delayed_wills(now);
    }

    fn wake(&mut self, conn: ConnId) {
        if let Some(connection) = self.connections.get_mut(conn) {
            if !connection.wake_listed {
                connection.wake_listed = true;
                self.wakeups.push(conn);
            }
        }
    }

    /// Queues a control packet for `conn`.
    fn send(&mut self, conn: ConnId, packet: &Packet) {
        let Some(connection) = self.connections.get_mut(conn) else {
            return;
        };
        match Frame::packet(packet, connection.version) {
            Ok(frame) => {
                connection.outbox.push(frame);
                self.wake(conn);
            }
            // Our own control packets always fit; should one not, the
            // packet is not sent and the connection goes on (a local fault).
            Err(error) => log::error!(
                "cannot encode a packet for {}: {error}",
                self.listeners.peer_name(connection.origin)
            ),
        }
    }

    fn protocol_error(&mut self, now: Instant, conn: ConnId, why: &'static str) {
        self.stats.protocol_errors += 1;
        self.close_why = Some((conn, why));
        if let Some(peer) = self.peer_name(conn) {
            let client = self.client_label(conn);
            self.logs.warn(LogKind::Protocol, now, || {
                format!("closing {client} ({peer}): {why}")
            });
        }
        self.close(now, conn, CloseReason::ProtocolError);
    }

    /// A client id for log lines, or the peer address before CONNECT.
    fn client_label(&self, conn: ConnId) -> String {
        let Some(connection) = self.connections.get(conn) else {
            return String::from("?");
        };
        connection
            .session()
            .and_then(|s| self.sessions.get(s))
            .map_or_else(
                || self.listeners.peer_name(connection.origin).to_string(),
                |slot| slot.session.client_id.to_string(),
            )
    }
}

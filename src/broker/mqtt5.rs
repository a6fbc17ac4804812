//! MQTT 5, the connection half (docs/mqtt5.md): what a 5.0 CONNECT asks
//! for and what CONNACK answers, DISCONNECT both ways with reason codes,
//! Receive Maximum and Maximum Packet Size both ways, topic aliases.
//!
//! A 3.x connection has no entry here and sees nothing of this. A 5.0
//! connection's state lives in [`V5Conn`], in a map beside the connection
//! table (the table's slot stays as small as it was, README.md ##
//! Performance), from CONNECT until the socket is gone.

use std::time::{Duration, Instant};

use crate::codec::{
    Connect, Disconnect, Frame, Packet, Properties, Property, Publish, QoS, ReasonCode,
};
use crate::session::{Message, QueueLimits, MAX_INBOUND_QOS2};
use crate::sys::trajectory::DropReason;

use super::connections::{CloseReason, ConnId};
use super::enhanced_auth::EnhancedAuth;
use super::sessions::SessionId;
use super::stats::LogKind;
use super::topic_alias::{AliasError, InboundAliases, OutboundAliases};
use super::Broker;

/// Subscription identifiers are not implemented yet: CONNACK says so
/// (MQTT 5 §3.2.2.3.13), and the day they are, this is the one place to
/// say they are.
const SUBSCRIPTION_IDENTIFIERS_AVAILABLE: bool = false;

/// Shared subscriptions (`$share/...`, `shared.rs`).
const SHARED_SUBSCRIPTIONS_AVAILABLE: bool = true;

/// One 5.0 connection's negotiated limits and aliases. Kept to 32 bytes
/// (an entry of the map is 40): what only some connections use is boxed,
/// allocated when first needed (README.md ## Performance: RSS per idle
/// connection).
#[derive(Debug)]
pub(super) struct V5Conn {
    /// The client's Maximum Packet Size; `u32::MAX` when it set none.
    pub maximum_packet_size: u32,
    /// The Session Expiry Interval granted at CONNECT: a DISCONNECT may
    /// not raise it from 0 (MQTT 5 §3.14.2.2.2).
    pub session_expiry: u32,
    /// The client's Receive Maximum: QoS 1/2 PUBLISHes it takes
    /// unacknowledged (MQTT 5 §3.3.4); 65,535 when it set none.
    pub receive_maximum: u16,
    /// The Topic Alias Maximum our CONNACK announced.
    pub topic_alias_maximum: u16,
    /// The client's Topic Alias Maximum: 0, we send it no aliases.
    client_alias_maximum: u16,
    /// Request Problem Information was not 0: reason strings may be sent
    /// (MQTT 5 §3.1.2.11.7).
    pub problem_information: bool,
    /// Topic aliases both ways, from the first alias set or sent.
    aliases: Option<Box<Aliases>>,
    /// Enhanced authentication under way or done (`enhanced_auth.rs`).
    pub auth: Option<Box<EnhancedAuth>>,
}

#[derive(Debug)]
struct Aliases {
    inbound: InboundAliases,
    outbound: OutboundAliases,
}

impl V5Conn {
    fn aliases(&mut self) -> &mut Aliases {
        let client_maximum = self.client_alias_maximum;
        self.aliases.get_or_insert_with(|| {
            Box::new(Aliases {
                inbound: InboundAliases::default(),
                outbound: OutboundAliases::new(client_maximum),
            })
        })
    }
}

/// What the session expiry of a 5.0 CONNECT comes to.
#[derive(Debug, Clone, Copy)]
pub(super) struct SessionExpiry {
    /// The session outlives the connection.
    pub persistent: bool,
    /// Seconds granted; `u32::MAX` never expires.
    pub granted: u32,
    /// What the client asked for.
    pub requested: u32,
}

impl Broker {
    /// Reads the limits a 5.0 CONNECT sets; before anything can refuse it,
    /// so a refusal's reason string follows the client's wish.
    pub(super) fn v5_open(&mut self, conn: ConnId, connect: &Connect) {
        let p = &connect.properties;
        let state = V5Conn {
            maximum_packet_size: p.maximum_packet_size().unwrap_or(u32::MAX),
            session_expiry: 0,
            receive_maximum: p.receive_maximum().unwrap_or(u16::MAX),
            topic_alias_maximum: self.settings.max_topic_alias,
            client_alias_maximum: p.topic_alias_maximum().unwrap_or(0),
            problem_information: p.request_problem_information() != Some(0),
            aliases: None,
            auth: self.v5.remove(&conn).and_then(|old| old.auth),
        };
        self.v5.insert(conn, state);
    }

    /// The session expiry a CONNECT gets: 3.x by clean session, 5.0 by its
    /// Session Expiry Interval (absent is 0: the session ends with the
    /// connection, MQTT 5 §3.1.2.11.2), capped by
    /// `persistent_client_expiration`.
    pub(super) fn session_expiry(&self, connect: &Connect) -> SessionExpiry {
        if !connect.protocol.is_v5() {
            return SessionExpiry {
                persistent: !connect.clean_start,
                granted: 0,
                requested: 0,
            };
        }
        let requested = connect.properties.session_expiry_interval().unwrap_or(0);
        let cap = self
            .settings
            .persistent_client_expiration
            .map_or(u32::MAX, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
        let granted = requested.min(cap);
        SessionExpiry {
            persistent: granted > 0,
            granted,
            requested,
        }
    }

    /// Records the granted expiry for the sweep; 3.x sessions and those
    /// that never expire follow `persistent_client_expiration` alone.
    pub(super) fn set_session_expiry(&mut self, conn: ConnId, session: SessionId, granted: u32) {
        if let Some(state) = self.v5.get_mut(&conn) {
            state.session_expiry = granted;
        }
        if granted == 0 || granted == u32::MAX {
            self.session_expiry.remove(&session);
        } else {
            let expiry = Duration::from_secs(u64::from(granted));
            self.session_expiry.insert(session, expiry);
        }
    }

    /// CONNACK's properties for an accepted 5.0 client.
    pub(super) fn connack_properties(
        &self,
        conn: ConnId,
        expiry: SessionExpiry,
        assigned_id: Option<&str>,
        server_keep_alive: Option<u16>,
    ) -> Properties {
        let mut p = Properties::default();
        if expiry.granted != expiry.requested {
            p.push(Property::SessionExpiryInterval(expiry.granted));
        }
        p.push(Property::ReceiveMaximum(self.our_receive_maximum()));
        let max_packet = u32::try_from(self.settings.max_packet_size).unwrap_or(u32::MAX);
        p.push(Property::MaximumPacketSize(max_packet));
        if let Some(state) = self.v5.get(&conn) {
            p.push(Property::TopicAliasMaximum(state.topic_alias_maximum));
        }
        if let Some(id) = assigned_id {
            p.push(Property::AssignedClientIdentifier(id.to_owned()));
        }
        if let Some(keep_alive) = server_keep_alive {
            p.push(Property::ServerKeepAlive(keep_alive));
        }
        p.push(Property::RetainAvailable(1));
        p.push(Property::WildcardSubscriptionAvailable(1));
        p.push(Property::SubscriptionIdentifierAvailable(u8::from(
            SUBSCRIPTION_IDENTIFIERS_AVAILABLE,
        )));
        p.push(Property::SharedSubscriptionAvailable(u8::from(
            SHARED_SUBSCRIPTIONS_AVAILABLE,
        )));
        if let Some(auth) = self.v5.get(&conn).and_then(|s| s.auth.as_deref()) {
            p.push(Property::AuthenticationMethod(auth.method().to_owned()));
        }
        p
    }

    /// A Reason String for `conn` unless it asked for none with Request
    /// Problem Information 0 (MQTT 5 §3.1.2.11.7: CONNACK and DISCONNECT
    /// may carry one either way, but such a client asked for the short
    /// form).
    pub(super) fn reason_string(&self, conn: ConnId, why: &str) -> Properties {
        let mut p = Properties::default();
        // Fixed header, reason code, property length, identifier and
        // string length: a client with a tiny Maximum Packet Size gets the
        // packet without it (MQTT 5 §3.14.2.2.3).
        let size = u64::try_from(why.len())
            .unwrap_or(u64::MAX)
            .saturating_add(8);
        let wanted = self
            .v5
            .get(&conn)
            .is_some_and(|s| s.problem_information && size <= u64::from(s.maximum_packet_size));
        if wanted {
            p.push(Property::ReasonString(why.to_owned()));
        }
        p
    }

    /// Queues the DISCONNECT a 5.0 client is owed when the server ends its
    /// connection after CONNACK (MQTT 5 §3.14).
    pub(super) fn send_disconnect(&mut self, conn: ConnId, reason: CloseReason) {
        let Some(code) = reason.disconnect_code() else {
            return;
        };
        let why = match self.close_why.take() {
            Some((closing, why)) if closing == conn => why,
            _ => describe(code),
        };
        let properties = self.reason_string(conn, why);
        let packet = Packet::Disconnect(Disconnect {
            reason: code,
            properties,
        });
        self.send(conn, &packet);
    }

    /// DISCONNECT from a client: 0x00 ends without the will, any other
    /// code (0x04 "with will message", an error) with it
    /// (MQTT 5 §3.1.2.5); a Session Expiry Interval in it replaces the CONNECT's,
    /// except that 0 cannot become more (MQTT 5 §3.14.2.2.2).
    pub(super) fn handle_disconnect(&mut self, now: Instant, conn: ConnId, packet: Disconnect) {
        let state = self.v5.get(&conn).map(|s| s.session_expiry);
        let session = self.connections.get(conn).and_then(|c| c.session());
        if let (Some(old), Some(session), Some(new)) =
            (state, session, packet.properties.session_expiry_interval())
        {
            if old == 0 && new != 0 {
                return self.protocol_error(
                    now,
                    conn,
                    "session expiry raised from 0 at DISCONNECT",
                );
            }
            let cap = self
                .settings
                .persistent_client_expiration
                .map_or(u32::MAX, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
            let granted = new.min(cap);
            if let Some(slot) = self.sessions.get_mut(session) {
                slot.session.persistent = granted > 0;
            }
            self.set_session_expiry(conn, session, granted);
            if granted > 0 {
                self.persist_new_session(session);
            }
        }
        let reason = if packet.reason == ReasonCode::SUCCESS {
            CloseReason::ClientDisconnect
        } else {
            CloseReason::ClientDisconnectWithWill
        };
        self.close(now, conn, reason);
    }

    /// The queue limits for `conn`'s session: the inflight window no wider
    /// than the client's Receive Maximum (MQTT 5 §3.3.4).
    pub(super) fn queue_limits(&self, conn: Option<ConnId>) -> QueueLimits {
        let mut limits = self.settings.queue;
        if let Some(state) = conn.and_then(|c| self.v5.get(&c)) {
            limits.max_inflight = limits.max_inflight.min(usize::from(state.receive_maximum));
        }
        limits
    }

    /// Whether `message` is too large for `conn`'s client, which then does
    /// not get it (MQTT 5 §3.1.2.11.4); counted and logged.
    pub(super) fn over_client_packet_size(
        &mut self,
        now: Instant,
        conn: Option<ConnId>,
        message: &Message,
    ) -> bool {
        let Some(conn) = conn else {
            return false;
        };
        let Some(max) = self.v5.get(&conn).map(|s| s.maximum_packet_size) else {
            return false;
        };
        let size = publish_size(message);
        if size <= u64::from(max) {
            return false;
        }
        self.stats.dropped_client_packet_size += 1;
        self.note_conn_drop(conn, DropReason::PacketTooLarge);
        let client = self.client_label(conn);
        let topic: String = message.body.topic().chars().take(64).collect();
        self.logs.warn(LogKind::DropPacketSize, now, || {
            format!(
                "dropped a message on {topic:?} for {client}: {size} bytes over the \
                 Maximum Packet Size {max} its CONNECT set"
            )
        });
        true
    }

    /// A 5.0 PUBLISH before the broker acts on it: its topic alias
    /// resolved, and a QoS 2 one past our Receive Maximum refused. `None`:
    /// the connection is closing.
    pub(super) fn v5_inbound(
        &mut self,
        now: Instant,
        conn: ConnId,
        mut publish: Publish,
    ) -> Option<Publish> {
        let Some(state) = self.v5.get_mut(&conn) else {
            return Some(publish);
        };
        let max = state.topic_alias_maximum;
        if publish.properties.topic_alias().is_none() && !publish.body.topic().is_empty() {
            // No alias: nothing to resolve, no table to allocate.
        } else if let Err(error) = state.aliases().inbound.resolve(&mut publish, max) {
            self.close_why = Some((conn, error.describe()));
            if error != AliasError::OutOfRange {
                self.protocol_error(now, conn, error.describe());
                return None;
            }
            self.stats.topic_alias_invalid += 1;
            let client = self.client_label(conn);
            self.logs.warn(LogKind::Mqtt5Limit, now, || {
                format!("disconnecting {client} (0x94): {}", error.describe())
            });
            self.close(now, conn, CloseReason::TopicAliasInvalid);
            return None;
        }
        if publish.qos == QoS::ExactlyOnce && self.over_receive_maximum(conn, &publish) {
            self.stats.receive_maximum_exceeded += 1;
            let client = self.client_label(conn);
            let max = self.our_receive_maximum();
            self.logs.warn(LogKind::Mqtt5Limit, now, || {
                format!(
                    "disconnecting {client} (0x93): more than our Receive Maximum {max} \
                     QoS 2 PUBLISHes unreleased"
                )
            });
            self.close(now, conn, CloseReason::ReceiveMaximumExceeded);
            return None;
        }
        Some(publish)
    }

    /// A new QoS 2 id with the window we announced already full of
    /// unreleased ones (MQTT 5 §3.3.4). QoS 1 is acknowledged as it is
    /// read, so it never counts against it.
    fn over_receive_maximum(&self, conn: ConnId, publish: &Publish) -> bool {
        let Some(session) = self.connections.get(conn).and_then(|c| c.session()) else {
            return false;
        };
        let Some(slot) = self.sessions.get(session) else {
            return false;
        };
        let inbound = &slot.session.inbound;
        let resent = publish.packet_id.is_some_and(|id| inbound.contains(id));
        !resent && inbound.len() >= usize::from(self.our_receive_maximum())
    }

    /// The Receive Maximum we give 5.0 clients (MQTT 5 §3.3.4): the inflight
    /// window each client gets, within the ceiling on unreleased QoS 2 ids.
    fn our_receive_maximum(&self) -> u16 {
        let max = self.settings.queue.max_inflight.clamp(1, MAX_INBOUND_QOS2);
        u16::try_from(max).unwrap_or(u16::MAX)
    }

    /// Frames leaving `conn`'s outbox: PUBLISHes named by alias where the
    /// client allows (`topic_alias.rs`). `from` is where this turn's
    /// frames start in `frames`; the outbox's byte count follows the
    /// change.
    pub(super) fn alias_outbound(
        &mut self,
        conn: ConnId,
        frames: &mut std::collections::VecDeque<Frame>,
        from: usize,
    ) {
        let Some(state) = self
            .v5
            .get_mut(&conn)
            .filter(|s| s.client_alias_maximum > 0)
        else {
            return;
        };
        if frames.len() <= from {
            return;
        }
        let room = usize::try_from(state.maximum_packet_size).unwrap_or(usize::MAX);
        let aliases = &mut state.aliases().outbound;
        let (mut before, mut after) = (0usize, 0usize);
        for frame in frames.iter_mut().skip(from) {
            if frame.alias_candidate_topic().is_none() {
                continue;
            }
            let plain = std::mem::replace(frame, Frame::Small(heapless::Vec::new()));
            before += plain.len();
            *frame = aliases.apply(plain, room);
            after += frame.len();
        }
        if let Some(connection) = self.connections.get_mut(conn) {
            connection.outbox.resized(before, after);
        }
    }
}

/// Bytes of `message` as a 5.0 PUBLISH: fixed header, topic and payload,
/// packet id, and its properties as `Frame::publish_message` writes them
/// (forwarded ones, the Message Expiry Interval, subscription identifiers).
fn publish_size(message: &Message) -> u64 {
    let varint_len = |n: u64| match n {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    };
    let forwarded = message
        .meta
        .as_ref()
        .map_or(0, |m| m.properties.len() as u64);
    let expiry = if message
        .meta
        .as_ref()
        .is_some_and(|m| m.expires_at.is_some())
    {
        5
    } else {
        0
    };
    let ids: u64 = message
        .subscription_ids
        .iter()
        .map(|&id| 1 + varint_len(u64::from(id)))
        .sum();
    let properties = forwarded + expiry + ids;
    let id = if message.qos == QoS::AtMostOnce { 0 } else { 2 };
    let remaining = message.body.len() as u64 + id + varint_len(properties) + properties;
    remaining + 1 + varint_len(remaining)
}

/// The words of a server DISCONNECT's reason string, when nothing more
/// particular was recorded: the code's name, but for the two a client is
/// better told the cause of.
fn describe(code: ReasonCode) -> &'static str {
    match code {
        ReasonCode::NOT_AUTHORIZED => "authentication expired",
        ReasonCode::PAYLOAD_FORMAT_INVALID => "payload format 1 but not UTF-8",
        _ if code.is_error() => code.describe(),
        _ => "disconnected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 5.0 connection pays for one (README.md ## Performance).
    #[test]
    fn a_5_0_connections_state_is_small() {
        assert!(std::mem::size_of::<V5Conn>() <= 32);
    }
}

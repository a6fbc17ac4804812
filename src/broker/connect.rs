//! CONNECT: client id rules, authentication (`authenticate.rs`), the
//! will, and finding, creating, taking over or discarding the session;
//! then CONNACK and the resend of what a resumed session still owes.

use std::time::{Duration, Instant};

use log::info;

use crate::acl::{ClientRules, Who};
use crate::auth::identity::TokenAcl;
use crate::auth::Identity;
use crate::codec::{
    ConnAck, Connect, ConnectReturn, Packet, Properties, ProtocolVersion, PublishBody,
};
use crate::config::DuplicateClientId;
use crate::session::{ClientId, Session};
use crate::topic::validate_topic_name;

use super::authenticate::identity_label;
use super::connections::{CloseReason, ConnId, ConnState, KeepAlive, WillMessage};
use super::enhanced_auth::AuthStep;
use super::sessions::SessionId;
use super::stats::LogKind;
use super::Broker;

/// Who a client is to the access rules: its username, and its own rules
/// when its credentials carry them.
type AccessIdentity = (Option<Box<str>>, Option<Box<ClientRules>>);

/// Why a CONNECT goes no further: a CONNACK refusal, or a protocol error.
enum Refusal {
    Connack(ConnectReturn),
    Protocol(&'static str),
}

impl From<ConnectReturn> for Refusal {
    fn from(code: ConnectReturn) -> Refusal {
        Refusal::Connack(code)
    }
}

/// What CONNECT's checks admitted: who the client is and its will.
struct Admitted {
    identity: Identity,
    will: Option<WillMessage>,
    username: Option<Box<str>>,
    own_rules: Option<Box<ClientRules>>,
}

impl Broker {
    /// CONNECT, in its natural steps: validation (client id, keepalive),
    /// authentication and the will (`admit`), session takeover and
    /// restore, then CONNACK (`accept`).
    pub(super) fn handle_connect(&mut self, now: Instant, conn: ConnId, connect: Connect) {
        let Some(connection) = self.connections.get_mut(conn) else {
            return;
        };
        connection.version = connect.protocol;
        // mosquitto's bridge flag (3.x only): no echo of its own publishes.
        connection.bridge = connect.bridge && !connect.protocol.is_v5();
        if connect.protocol.is_v5() {
            self.v5_open(conn, &connect);
        }
        let client_id = match self.accept_client_id(now, conn, &connect) {
            Ok(id) => id,
            Err(code) => return self.refuse_connect(now, conn, code),
        };
        let server_keep_alive = match self.accept_keep_alive(now, conn, &connect, &client_id) {
            Ok(keep_alive) => keep_alive,
            Err(code) => return self.refuse_connect(now, conn, code),
        };
        let admitted = match self.admit_client(now, conn, &connect, &client_id) {
            Ok(Some(admitted)) => admitted,
            Ok(None) => return self.stash_connect(conn, connect),
            Err(Refusal::Connack(code)) => return self.refuse_connect(now, conn, code),
            Err(Refusal::Protocol(why)) => return self.protocol_error(now, conn, why),
        };
        if let Err(code) = self.take_over(now, conn, &client_id) {
            return self.refuse_connect(now, conn, code);
        }
        self.will_at_reconnect(now, &client_id, connect.clean_start);
        let expiry = self.session_expiry(&connect);
        let (session_id, resumed) =
            match self.open_session(now, conn, &client_id, &connect, expiry.persistent) {
                Ok(opened) => opened,
                Err(code) => return self.refuse_connect(now, conn, code),
            };
        let keep_alive = server_keep_alive.unwrap_or(connect.keep_alive);
        self.activate(now, conn, session_id, &connect, keep_alive, admitted);
        self.set_session_expiry(conn, session_id, expiry.granted);
        self.persist_new_session(session_id);
        self.persist_session(session_id);

        let assigned = connect.client_id.is_empty().then_some(client_id.as_str());
        // Session present is 0 after a clean start [MQTT-3.2.2-1] and 1 when
        // a stored session is resumed [MQTT-3.2.2-2]; 3.1's CONNACK has no
        // such flag, its first byte is reserved (docs/protocol-choices.md).
        let mut connack = ConnAck {
            session_present: resumed && connect.protocol != ProtocolVersion::V3_1,
            code: ConnectReturn::Accepted.code(connect.protocol),
            properties: Properties::default(),
        };
        if connect.protocol.is_v5() {
            connack.properties = self.connack_properties(conn, expiry, assigned, server_keep_alive);
        }
        self.send(conn, &Packet::ConnAck(connack));
        self.log_connected(conn, &client_id, &connect, keep_alive, resumed);
        self.note_connected(now, conn, session_id);
        if resumed {
            self.note_resumed(now, session_id);
            self.resume_session(now, conn, session_id);
        }
    }

    /// The one info line per accepted client.
    fn log_connected(
        &self,
        conn: ConnId,
        client_id: &ClientId,
        connect: &Connect,
        keep_alive: u16,
        resumed: bool,
    ) {
        let username = self
            .identities
            .get(&conn)
            .map_or_else(String::new, identity_label);
        let peer = self
            .peer_name(conn)
            .map_or_else(String::new, |p| p.to_string());
        info!(
            "client {client_id} connected from {peer} ({}, clean {}, keepalive {keep_alive}s{}{username})",
            connect.protocol,
            connect.clean_start,
            if resumed { ", session resumed" } else { "" }
        );
    }

    /// The keepalive: 3.x over `max_keepalive` is refused, as mosquitto
    /// does (3.x cannot be told a shorter one); 5.0 is told
    /// `max_keepalive` as Server Keep Alive (MQTT 5 §3.2.2.3.14) when it asked
    /// for more, or for none while a maximum is set.
    fn accept_keep_alive(
        &mut self,
        now: Instant,
        conn: ConnId,
        connect: &Connect,
        client_id: &ClientId,
    ) -> Result<Option<u16>, ConnectReturn> {
        let max = self.settings.max_keepalive;
        if connect.protocol.is_v5() {
            let unlimited_asked = connect.keep_alive == 0 && max != 0 && max != u16::MAX;
            return Ok((connect.keep_alive > max || unlimited_asked).then_some(max));
        }
        if connect.keep_alive <= max {
            return Ok(None);
        }
        let peer = self.peer_name(conn);
        let peer = peer.map_or_else(String::new, |p| p.to_string());
        self.stats.refused_client_id += 1;
        self.logs.warn(LogKind::ClientId, now, || {
            format!(
                "refusing {client_id} from {peer}: keepalive {}s over max_keepalive {max}",
                connect.keep_alive
            )
        });
        Err(ConnectReturn::IdentifierRejected)
    }

    /// Authentication (plain or enhanced), the will, and who the client is
    /// to the access rules. `Ok(None)`: an AUTH exchange is under way.
    fn admit_client(
        &mut self,
        now: Instant,
        conn: ConnId,
        connect: &Connect,
        client_id: &ClientId,
    ) -> Result<Option<Admitted>, Refusal> {
        let method = connect.properties.authentication_method();
        let mut certificate_username = None;
        let identity = match method {
            Some(method) => match self.enhanced_connect(now, conn, connect, client_id, method)? {
                AuthStep::Done(identity) => identity,
                AuthStep::Continue => return Ok(None),
            },
            None => {
                certificate_username = self.take_certificate_username(conn);
                let from_certificate = certificate_username.as_ref().map(Option::as_deref);
                self.authenticate(now, conn, connect, client_id, from_certificate)?
            }
        };
        let will = self.accept_will(connect).map_err(Refusal::Protocol)?;
        let (username, own_rules) = self.access_identity(
            now,
            conn,
            client_id,
            connect,
            certificate_username.as_ref(),
            identity.acl.as_deref(),
            will.as_ref(),
        )?;
        Ok(Some(Admitted {
            identity,
            will,
            username,
            own_rules,
        }))
    }

    /// The connection becomes the session's: keepalive, will, identity.
    fn activate(
        &mut self,
        now: Instant,
        conn: ConnId,
        session_id: SessionId,
        connect: &Connect,
        keep_alive: u16,
        admitted: Admitted,
    ) {
        let Some(connection) = self.connections.get_mut(conn) else {
            return;
        };
        connection.state = ConnState::Active {
            session: session_id,
            keep_alive: KeepAlive::from_secs(keep_alive),
            will: admitted.will.map(Box::new),
            connected_secs: self.observe.secs_since_epoch(now),
        };
        let Some(slot) = self.sessions.get_mut(session_id) else {
            return;
        };
        slot.connection = Some(conn);
        slot.session.version = connect.protocol;
        slot.session.disconnected_at = None;
        slot.session.set_offline_before(Duration::ZERO);
        self.set_identity(now, session_id, conn, admitted.username, admitted.own_rules);
        let identity = admitted.identity;
        if identity.username.is_some() || identity.acl.is_some() {
            self.identities.insert(conn, identity);
        }
    }

    /// Another connection holds `client_id`: close it (takeover), or
    /// refuse this one with `duplicate_client_id reject`.
    fn take_over(
        &mut self,
        now: Instant,
        conn: ConnId,
        client_id: &ClientId,
    ) -> Result<(), ConnectReturn> {
        let Some(session_id) = self.sessions.find(client_id.as_str()) else {
            return Ok(());
        };
        let holder = self
            .sessions
            .get(session_id)
            .and_then(|slot| slot.connection);
        let Some(old) = holder.filter(|&old| old != conn) else {
            return Ok(());
        };
        let peer = self.peer_name(conn);
        let peer = peer.map_or_else(String::new, |p| p.to_string());
        if self.settings.duplicate_client_id == DuplicateClientId::Reject {
            self.stats.refused_duplicate_client_id += 1;
            self.logs.warn(LogKind::Duplicate, now, || {
                format!("refusing {client_id} from {peer}: client id already connected (duplicate_client_id reject)")
            });
            return Err(ConnectReturn::IdentifierRejected);
        }
        self.stats.takeovers += 1;
        info!("client {client_id} reconnected from {peer}: closing its old connection");
        self.close(now, old, CloseReason::TakenOver);
        Ok(())
    }

    /// The session this CONNECT continues (`true`) or a new one: clean
    /// session / clean start discards any old one [MQTT-3.1.2-6]. A new
    /// one past `max_sessions` is refused. `persistent`: it outlives the
    /// connection (3.x: clean session 0; 5.0: Session Expiry above 0).
    fn open_session(
        &mut self,
        now: Instant,
        conn: ConnId,
        client_id: &ClientId,
        connect: &Connect,
        persistent: bool,
    ) -> Result<(SessionId, bool), ConnectReturn> {
        // A takeover of a clean session has just discarded it.
        match self.sessions.find(client_id.as_str()) {
            Some(session_id) if !connect.clean_start => {
                // 5.0: the new connection's Session Expiry decides whether
                // it outlives this connection (MQTT 5 §3.1.2.11.2).
                if let Some(slot) = self.sessions.get_mut(session_id) {
                    slot.session.persistent = persistent;
                }
                return Ok((session_id, true));
            }
            Some(session_id) => {
                self.note_discarded(now, session_id, "clean start");
                self.discard_session(now, session_id);
            }
            None => {}
        }
        let session = Session::new(client_id.clone(), persistent, connect.protocol);
        if let Some(session_id) = self.sessions.insert(session, None) {
            return Ok((session_id, false));
        }
        self.stats.refused_max_sessions += 1;
        let max = self.settings.max_sessions;
        let peer = self.peer_name(conn);
        let peer = peer.map_or_else(String::new, |p| p.to_string());
        self.logs.warn(LogKind::MaxSessions, now, || {
            format!("refusing {client_id} from {peer}: max_sessions {max} reached")
        });
        Err(ConnectReturn::ServerUnavailable)
    }

    /// The client id as sent, or one assigned for an empty id with clean
    /// session [MQTT-3.1.3-6]; an empty id without it is refused
    /// [MQTT-3.1.3-8], as is any empty id in 3.1.
    fn accept_client_id(
        &mut self,
        now: Instant,
        conn: ConnId,
        connect: &Connect,
    ) -> Result<ClientId, ConnectReturn> {
        let settings = &self.settings;
        let peer = self.peer_name(conn);
        let peer = || peer.as_ref().map_or_else(String::new, ToString::to_string);
        let raw = if connect.client_id.is_empty() {
            let allowed = connect.clean_start
                && settings.allow_zero_length_clientid
                && connect.protocol != ProtocolVersion::V3_1;
            if !allowed {
                self.stats.refused_client_id += 1;
                self.logs.warn(LogKind::ClientId, now, || {
                    format!("refusing {}: empty client id without clean session", peer())
                });
                return Err(ConnectReturn::IdentifierRejected);
            }
            self.assign_client_id()
        } else {
            connect.client_id.clone()
        };
        ClientId::new(
            &raw,
            self.settings.max_client_id_length,
            self.settings.strict_identifiers,
        )
        .map_err(|error| {
            self.stats.refused_client_id += 1;
            self.logs.warn(LogKind::ClientId, now, || {
                format!("refusing {}: {error}", peer())
            });
            ConnectReturn::IdentifierRejected
        })
    }

    fn assign_client_id(&mut self) -> String {
        loop {
            self.next_assigned_id = self.next_assigned_id.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let candidate = format!(
                "{}{:016x}",
                self.settings.auto_id_prefix, self.next_assigned_id
            );
            if self.sessions.find(&candidate).is_none() {
                return candidate;
            }
        }
    }

    /// The username the access rules see — the certificate's where the
    /// listener takes it from there, else CONNECT's — and the client's own
    /// rules when its JWT carries an `acl` claim (they replace the file's
    /// for it), once the will, if any, is one the client may write:
    /// otherwise "not authorized", as mosquitto answers (docs/security.md,
    /// "Access control").
    #[allow(clippy::too_many_arguments)] // One part each of the CONNECT being decided.
    fn access_identity(
        &mut self,
        now: Instant,
        conn: ConnId,
        client_id: &ClientId,
        connect: &Connect,
        certificate_username: Option<&Option<Box<str>>>,
        token_acl: Option<&TokenAcl>,
        will: Option<&WillMessage>,
    ) -> Result<AccessIdentity, ConnectReturn> {
        let username: Option<Box<str>> = match certificate_username {
            Some(name) => name.clone(),
            None => connect.username.as_deref().map(Into::into),
        };
        let who = Who {
            client_id: client_id.as_str(),
            username: username.as_deref(),
        };
        let own = match token_acl {
            Some(acl) => Some(self.token_rules(now, &who, acl)?),
            None => None,
        };
        if let Some(will) = will {
            if !self.will_permitted(now, conn, &who, own.as_deref(), will.body.topic()) {
                return Err(ConnectReturn::NotAuthorized);
            }
        }
        Ok((username, own))
    }

    fn accept_will(&self, connect: &Connect) -> Result<Option<WillMessage>, &'static str> {
        let Some(will) = &connect.will else {
            return Ok(None);
        };
        validate_topic_name(&will.topic, &self.settings.topics)
            .map_err(|_| "invalid will topic")?;
        let body = PublishBody::new(&will.topic, &will.payload).map_err(|_| "will too large")?;
        Ok(Some(WillMessage {
            body,
            qos: will.qos,
            retain: will.retain,
            delay_secs: will.properties.will_delay_interval().unwrap_or(0),
            properties: will.properties.clone(),
        }))
    }

    /// Answers CONNECT with a refusal and closes the connection.
    pub(super) fn refuse_connect(&mut self, now: Instant, conn: ConnId, code: ConnectReturn) {
        let Some(connection) = self.connections.get(conn) else {
            return;
        };
        let connack = ConnAck {
            session_present: false,
            code: code.code(connection.version),
            properties: Properties::default(),
        };
        self.send(conn, &Packet::ConnAck(connack));
        self.close(now, conn, CloseReason::Refused);
    }

    /// A resumed session resends its window and drains its queue.
    fn resume_session(&mut self, now: Instant, conn: ConnId, session_id: super::SessionId) {
        let limits = self.queue_limits(Some(conn));
        let (Some(slot), Some(connection)) = (
            self.sessions.get_mut(session_id),
            self.connections.get_mut(conn),
        ) else {
            return;
        };
        let result =
            slot.session
                .outbound
                .resume(now, &mut connection.outbox, connection.version, &limits);
        if let Err(error) = result {
            log::error!("cannot resend to {}: {error}", slot.session.client_id);
        }
        self.stats.deliveries += slot.session.outbound.take_sent_from_queue();
        self.wake(conn);
        self.note_expired(now, session_id);
        self.persist_journal(session_id);
        self.gather_for_returning_member(now, session_id);
    }
}

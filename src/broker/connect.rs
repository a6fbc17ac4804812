//! CONNECT: client id rules, authentication (`authenticate.rs`), the
//! will, and finding, creating, taking over or discarding the session;
//! then CONNACK and the resend of what a resumed session still owes.

use std::time::{Duration, Instant};

use log::info;

use crate::acl::{ClientRules, Who};
use crate::auth::identity::TokenAcl;
use crate::codec::{ConnAck, Connect, ConnectReturn, Packet, Properties, PublishBody};
use crate::config::DuplicateClientId;
use crate::session::{ClientId, Session};
use crate::topic::validate_topic_name;

use super::authenticate::identity_label;
use super::connections::{CloseReason, ConnId, ConnState, KeepAlive, WillMessage};
use super::sessions::SessionId;
use super::stats::LogKind;
use super::Broker;

/// Who a client is to the access rules: its username, and its own rules
/// when its credentials carry them.
type AccessIdentity = (Option<Box<str>>, Option<Box<ClientRules>>);

impl Broker {
    pub(super) fn handle_connect(&mut self, now: Instant, conn: ConnId, connect: Connect) {
        let Some(connection) = self.connections.get_mut(conn) else {
            return;
        };
        connection.version = connect.protocol;
        // mosquitto's bridge flag (3.x only): no echo of its own publishes.
        connection.bridge = connect.bridge && !connect.protocol.is_v5();
        let peer = self.listeners.peer_name(connection.origin);

        let client_id = match self.accept_client_id(now, conn, &connect) {
            Ok(id) => id,
            Err(code) => return self.refuse_connect(now, conn, code),
        };
        // 3.x cannot be told a shorter keepalive: refuse, as mosquitto does.
        if connect.keep_alive > self.settings.max_keepalive && !connect.protocol.is_v5() {
            let max = self.settings.max_keepalive;
            self.stats.refused_client_id += 1;
            self.logs.warn(LogKind::ClientId, now, || {
                format!(
                    "refusing {client_id} from {peer}: keepalive {}s over max_keepalive {max}",
                    connect.keep_alive
                )
            });
            return self.refuse_connect(now, conn, ConnectReturn::IdentifierRejected);
        }
        let certificate_username = self.take_certificate_username(conn);
        let from_certificate = certificate_username.as_ref().map(Option::as_deref);
        let identity = match self.authenticate(now, conn, &connect, &client_id, from_certificate) {
            Ok(identity) => identity,
            Err(code) => return self.refuse_connect(now, conn, code),
        };
        let will = match self.accept_will(&connect) {
            Ok(will) => will,
            Err(why) => return self.protocol_error(now, conn, why),
        };
        let (username, own_rules) = match self.access_identity(
            now,
            conn,
            &client_id,
            &connect,
            certificate_username.as_ref(),
            identity.acl.as_deref(),
            will.as_ref(),
        ) {
            Ok(rules) => rules,
            Err(code) => return self.refuse_connect(now, conn, code),
        };

        if let Err(code) = self.take_over(now, conn, &client_id) {
            return self.refuse_connect(now, conn, code);
        }
        let (session_id, resumed) = match self.open_session(now, conn, &client_id, &connect) {
            Ok(opened) => opened,
            Err(code) => return self.refuse_connect(now, conn, code),
        };
        let keep_alive = KeepAlive::from_secs(connect.keep_alive);
        let Some(connection) = self.connections.get_mut(conn) else {
            return;
        };
        connection.state = ConnState::Active {
            session: session_id,
            keep_alive,
            will: will.map(Box::new),
        };
        let Some(slot) = self.sessions.get_mut(session_id) else {
            return;
        };
        slot.connection = Some(conn);
        slot.session.version = connect.protocol;
        slot.session.disconnected_at = None;
        slot.session.set_offline_before(Duration::ZERO);
        self.set_identity(now, session_id, conn, username, own_rules);
        self.persist_new_session(session_id);
        self.persist_session(session_id);

        // Session present is 0 after a clean start [MQTT-3.2.2-1] and 1 when
        // a stored session is resumed [MQTT-3.2.2-2].
        let connack = ConnAck {
            session_present: resumed,
            code: ConnectReturn::Accepted.code(connect.protocol),
            properties: Properties::default(),
        };
        self.send(conn, &Packet::ConnAck(connack));
        let username = identity_label(&identity);
        if identity.username.is_some() || identity.acl.is_some() {
            self.identities.insert(conn, identity);
        }
        info!(
            "client {client_id} connected from {peer} ({:?}, clean {}, keepalive {}s{}{username})",
            connect.protocol,
            connect.clean_start,
            connect.keep_alive,
            if resumed { ", session resumed" } else { "" }
        );
        self.note_connected(now, conn, session_id, connect.keep_alive);
        if resumed {
            self.resume_session(conn, session_id);
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
    /// one past `max_sessions` is refused.
    fn open_session(
        &mut self,
        now: Instant,
        conn: ConnId,
        client_id: &ClientId,
        connect: &Connect,
    ) -> Result<(SessionId, bool), ConnectReturn> {
        // A takeover of a clean session has just discarded it.
        match self.sessions.find(client_id.as_str()) {
            Some(session_id) if !connect.clean_start => return Ok((session_id, true)),
            Some(session_id) => self.discard_session(session_id),
            None => {}
        }
        let session = Session::new(client_id.clone(), !connect.clean_start, connect.protocol);
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
                && connect.protocol != crate::codec::ProtocolVersion::V3_1;
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
    fn resume_session(&mut self, conn: ConnId, session_id: super::SessionId) {
        let (Some(slot), Some(connection)) = (
            self.sessions.get_mut(session_id),
            self.connections.get_mut(conn),
        ) else {
            return;
        };
        let result = slot.session.outbound.resume(
            &mut connection.outbox,
            connection.version,
            &self.settings.queue,
        );
        if let Err(error) = result {
            log::error!("cannot resend to {}: {error}", slot.session.client_id);
        }
        self.stats.deliveries += slot.session.outbound.take_sent_from_queue();
        self.wake(conn);
        self.persist_journal(session_id);
    }
}

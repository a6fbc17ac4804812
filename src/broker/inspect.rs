//! What the admin API asks of the broker (docs/observability.md): the
//! client list and one client's details, kicking a client, its
//! subscriptions and removing one, online counts per `GroupID@@DeviceID`
//! group, and the retained messages.
//!
//! Reads walk the session table (a request costs O(sessions)); the two
//! writes go through the same paths as the protocol (`close`,
//! `discard_session`, the trie and the store kept in step).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::codec::SubscriptionOptions;
use crate::topic::TopicFilter;

use super::connections::{CloseReason, ConnId};
use super::sessions::SessionId;
use super::Broker;

/// `GET /clients`' parameters (`page` from 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientQuery {
    pub online: Option<bool>,
    pub prefix: Option<String>,
    pub username: Option<String>,
    pub page: usize,
    pub limit: usize,
}

/// One client (a session, online or not) as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSummary {
    pub client_id: String,
    /// Only known while connected (offline sessions keep no user name).
    pub username: Option<String>,
    pub connected: bool,
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    pub listener: Option<String>,
    /// The protocol level of its last connection: 3, 4 or 5.
    pub protocol: u8,
    pub clean: bool,
    pub keepalive: Option<u16>,
    /// Ms since the epoch; `None` while the wall clock is unknown.
    pub connected_at: Option<u64>,
    pub disconnected_at: Option<u64>,
    /// Seconds an offline persistent session is kept; `None`: never
    /// expires (or a clean session, which ends with its connection).
    pub expiry_secs: Option<u64>,
    pub subscriptions: usize,
    pub queued: usize,
    pub inflight: usize,
}

/// `GET /clients/{id}`: the summary and the subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientDetail {
    pub summary: ClientSummary,
    pub subscriptions: Vec<(String, SubscriptionOptions)>,
}

/// One retained message as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedSummary {
    pub topic: String,
    pub qos: u8,
    pub bytes: usize,
    /// The payload when it is UTF-8 and short (at most 256 bytes).
    pub payload: Option<String>,
}

/// Longer payloads are listed by size only.
const PAYLOAD_SHOWN: usize = 256;

impl Broker {
    /// One page of clients in client id order, and how many match.
    pub fn clients(&self, now: Instant, query: &ClientQuery) -> (Vec<ClientSummary>, usize) {
        let mut matching: Vec<(&str, SessionId)> = self
            .sessions
            .ids()
            .filter_map(|id| {
                let slot = self.sessions.get(id)?;
                let client_id = slot.session.client_id.as_str();
                let online = slot.connection.is_some();
                let keep = query.online.is_none_or(|o| o == online)
                    && query
                        .prefix
                        .as_deref()
                        .is_none_or(|p| client_id.starts_with(p))
                    && query.username.as_deref().is_none_or(|u| {
                        let name = slot.connection.and_then(|c| self.username_of(c));
                        name == Some(u)
                    });
                keep.then_some((client_id, id))
            })
            .collect();
        matching.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let total = matching.len();
        let skip = query.page.saturating_sub(1).saturating_mul(query.limit);
        let page = matching
            .iter()
            .skip(skip)
            .take(query.limit)
            .filter_map(|&(_, id)| self.summary(now, id))
            .collect();
        (page, total)
    }

    /// One client's details; `None`: no such session.
    pub fn client(&self, now: Instant, client_id: &str) -> Option<ClientDetail> {
        let id = self.sessions.find(client_id)?;
        let summary = self.summary(now, id)?;
        let mut subscriptions: Vec<(String, SubscriptionOptions)> = self
            .sessions
            .get(id)?
            .session
            .subscriptions
            .iter()
            .map(|(f, s)| (f.to_owned(), s.options))
            .collect();
        subscriptions.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Some(ClientDetail {
            summary,
            subscriptions,
        })
    }

    fn username_of(&self, conn: ConnId) -> Option<&str> {
        self.identities.get(&conn)?.username.as_deref()
    }

    fn summary(&self, now: Instant, id: SessionId) -> Option<ClientSummary> {
        let slot = self.sessions.get(id)?;
        let session = &slot.session;
        let conn = slot.connection;
        let connection = conn.and_then(|c| self.connections.get(c));
        let origin = connection.map(|c| c.origin);
        let addr = origin.and_then(|o| o.peer().socket_addr());
        let connected = conn.and_then(|c| self.connected_since(c));
        let expiry = match (
            session.persistent,
            self.settings.persistent_client_expiration,
        ) {
            (true, Some(expiry)) => Some(expiry.as_secs()),
            _ => None,
        };
        Some(ClientSummary {
            client_id: session.client_id.to_string(),
            username: conn.and_then(|c| self.username_of(c)).map(str::to_owned),
            connected: conn.is_some(),
            ip: addr.map(|a| a.ip()),
            port: addr.map(|a| a.port()),
            listener: origin.map(|o| self.listeners.label(o.listener())),
            protocol: session.version.level(),
            clean: !session.persistent,
            keepalive: connected.map(|(_, k)| k),
            connected_at: connected.and_then(|(at, _)| self.observe.wall_ms_at(at)),
            disconnected_at: session
                .disconnected_at
                .and_then(|at| self.observe.wall_ms_at(at))
                .or_else(|| {
                    // Restored at start: offline since before this run.
                    let offline = session.offline_for(now)?;
                    let now_ms = self.observe.wall_ms_at(now)?;
                    Some(now_ms.saturating_sub(offline.as_millis() as u64))
                }),
            expiry_secs: expiry,
            subscriptions: session.subscriptions.len(),
            queued: session.outbound.queued_len(),
            inflight: session.outbound.inflight_len(),
        })
    }

    /// Closes `client_id`'s connection (an MQTT 5 client is sent
    /// DISCONNECT 0x98 by `close`) and, with `delete_session`, removes its
    /// session. `None`: no such session; else (was online, session
    /// deleted).
    pub fn kick(
        &mut self,
        now: Instant,
        client_id: &str,
        delete_session: bool,
    ) -> Option<(bool, bool)> {
        let id = self.sessions.find(client_id)?;
        let conn = self.sessions.get(id)?.connection;
        if let Some(conn) = conn {
            self.stats.admin_kicks += 1;
            log::info!("client {client_id} kicked through the admin API");
            self.close(now, conn, CloseReason::Kicked);
        }
        // A clean session has ended with its connection.
        let deleted = match self.sessions.find(client_id) {
            Some(id) if delete_session => {
                self.note_discarded(now, id, "deleted by an administrator");
                self.discard_session(now, id);
                log::info!("session of {client_id} deleted through the admin API");
                true
            }
            Some(_) => false,
            None => conn.is_some(),
        };
        Some((conn.is_some(), deleted))
    }

    /// Removes `client_id`'s subscription to exactly `filter`. `None`: no
    /// such session; else whether the subscription existed.
    pub fn unsubscribe_client(
        &mut self,
        now: Instant,
        client_id: &str,
        filter: &str,
    ) -> Option<bool> {
        let id = self.sessions.find(client_id)?;
        let slot = self.sessions.get_mut(id)?;
        let existed = slot.session.remove_subscription(filter);
        let conn = slot.connection;
        if existed {
            self.unindex_subscription(filter, id);
            self.persist_session(id);
            self.note_unsubscribed(now, conn, id, &[filter.to_owned()]);
        }
        Some(existed)
    }

    /// Online clients per group: the part of the client id before `@@`
    /// (the Alibaba / China Telecom `GroupID@@DeviceID` convention);
    /// clients without `@@` are in no group.
    pub fn groups(&self) -> BTreeMap<String, u64> {
        let mut groups = BTreeMap::new();
        for id in self.sessions.ids() {
            let Some(slot) = self.sessions.get(id).filter(|s| s.connection.is_some()) else {
                continue;
            };
            if let Some((group, _)) = slot.session.client_id.as_str().split_once("@@") {
                *groups.entry(group.to_owned()).or_insert(0) += 1;
            }
        }
        groups
    }

    /// Retained messages `filter` matches (every one without a filter,
    /// `$SYS` included), in topic order. `Err`: the filter is not valid.
    pub fn retained_list(
        &self,
        now: Instant,
        filter: Option<&str>,
    ) -> Result<Vec<RetainedSummary>, String> {
        let mut found = Vec::new();
        let mut add = |topic: &str, body: &crate::codec::PublishBody, qos: crate::codec::QoS| {
            let payload = body.payload();
            found.push(RetainedSummary {
                topic: topic.to_owned(),
                qos: qos as u8,
                bytes: payload.len(),
                payload: (payload.len() <= PAYLOAD_SHOWN)
                    .then(|| std::str::from_utf8(payload).ok().map(str::to_owned))
                    .flatten(),
            });
        };
        let filter = match filter {
            Some(filter) => {
                Some(TopicFilter::new(filter, &self.settings.topics).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        let filter = filter.as_ref().map(TopicFilter::as_str);
        self.retained
            .for_each_live(filter, now, |topic, m| add(topic, &m.body, m.qos));
        found.sort_unstable_by(|a, b| a.topic.cmp(&b.topic));
        Ok(found)
    }
}

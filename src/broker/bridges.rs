//! The broker's side of bridges (README.md ## Bridge): which local
//! publishes go into which bridge's uplink queue, routing what comes down a
//! bridge, the link state notifications, and the server side of loop
//! prevention.
//!
//! Invariants: a message that came down bridge N is never queued for
//! bridge N (with `both` rules too); a connection that announced itself as
//! a bridge (protocol level | 0x80, 3.x) never gets its own publishes back.
//! QoS 0 messages are only queued while the link is up (they are not kept
//! for an outage, as in mosquitto); QoS ≥ 1 always are, up to the caps.

use super::connections::ConnId;
use super::sessions::SessionId;
use super::Broker;

#[cfg(feature = "bridge")]
pub use enabled::{BridgeCounters, Bridges};

impl Broker {
    /// The publisher to keep out of a fan-out: a bridge connection never
    /// receives its own publishes back (mosquitto's `try_private`).
    pub(super) fn echo_guard(&self, publisher: Option<ConnId>) -> Option<ConnId> {
        publisher.filter(|&c| self.connections.get(c).is_some_and(|c| c.bridge))
    }

    pub(super) fn is_echo(&self, session: SessionId, guard: Option<ConnId>) -> bool {
        guard.is_some() && self.sessions.get(session).and_then(|s| s.connection) == guard
    }
}

#[cfg(not(feature = "bridge"))]
impl Broker {
    pub(super) fn wake_bridges(&mut self) {}

    pub(super) fn bridge_readiness(&self, _bridge: u16) -> Option<super::shared::Readiness> {
        None
    }

    pub(super) fn forward_to_bridge_rule(
        &mut self,
        _now: std::time::Instant,
        _bridge: u16,
        _rule: u16,
        _message: super::publish::Routed<'_>,
    ) -> bool {
        false
    }

    pub(super) fn forward_to_bridges(
        &mut self,
        _now: std::time::Instant,
        _message: super::publish::Routed<'_>,
    ) -> bool {
        false
    }
}

#[cfg(feature = "bridge")]
mod enabled {
    use std::time::Instant;

    use log::{info, warn};

    use crate::bridge::{
        default_client_id, default_notification_topic, BridgeQueue, LinkDrops, LinkSettings,
        NoJournal, QueueJournal, QueuedMessage, Rules,
    };
    use crate::broker::publish::Routed;
    use crate::broker::shared::{Member, Readiness};
    use crate::codec::SubscriptionOptions;
    use crate::session::Subscription;
    use crate::topic::{TopicFilter, TopicLimits};

    /// A bridge with more than this many messages queued is passed over
    /// by its shared groups while another member is ready: a slow uplink
    /// should not take more than its share.
    const SHARED_BUSY_QUEUE: usize = 100;
    use crate::codec::{Properties, ProtocolVersion, PublishBody, QoS};
    use crate::config::bridge::BridgeProtocol;
    use crate::config::BridgeConfig;
    use crate::logging::{RateLimitedLog, DEFAULT_LOG_INTERVAL};
    use crate::topic::validate_topic_name;

    use super::super::Broker;

    /// Per-bridge counters.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct BridgeCounters {
        /// Messages queued for the remote.
        pub queued: u64,
        /// Oldest entries dropped past `bridge_max_queued_*`.
        pub dropped_queue_full: u64,
        /// QoS 0 messages not sent because the link was down.
        pub dropped_qos0_link_down: u64,
        /// Messages from the remote routed locally.
        pub received: u64,
        /// Messages from the remote dropped (topic invalid here).
        pub dropped_inbound: u64,
        /// Times the link came up or went down.
        pub state_changes: u64,
    }

    struct Slot {
        config: BridgeConfig,
        client_id: String,
        notification_topic: Option<String>,
        rules: Rules,
        queue: BridgeQueue,
        up: bool,
        wake_listed: bool,
        counters: BridgeCounters,
        drop_log: RateLimitedLog,
        /// What the link dropped or changed to fit a 5.0 remote, logged
        /// at most once per interval with what came since the last line.
        link_log: RateLimitedLog,
        link_unlogged: LinkDrops,
    }

    fn link_protocol(protocol: BridgeProtocol) -> ProtocolVersion {
        match protocol {
            BridgeProtocol::V3_1 => ProtocolVersion::V3_1,
            BridgeProtocol::V3_1_1 => ProtocolVersion::V3_1_1,
            BridgeProtocol::V5 => ProtocolVersion::V5,
        }
    }

    /// Every bridge's broker-side state.
    pub struct Bridges {
        slots: Vec<Slot>,
        journal: Box<dyn QueueJournal>,
        /// The bridge whose downlink message is being routed.
        inbound_from: Option<usize>,
        woken: Vec<usize>,
    }

    impl Default for Bridges {
        fn default() -> Self {
            Bridges {
                slots: Vec::new(),
                journal: Box::new(NoJournal),
                inbound_from: None,
                woken: Vec::new(),
            }
        }
    }

    impl Broker {
        /// Sets up one bridge per `connection` block; their queues start
        /// empty (see [`Broker::restore_bridge_queue`]) and journal to
        /// `journal`. Publishes each bridge's local state "0".
        pub fn install_bridges(
            &mut self,
            now: Instant,
            configs: &[BridgeConfig],
            journal: Box<dyn QueueJournal>,
        ) {
            self.bridges.journal = journal;
            for config in configs {
                let client_id = config
                    .remote_clientid
                    .clone()
                    .unwrap_or_else(|| default_client_id(&config.name));
                let notification_topic = config.notifications.then(|| {
                    config
                        .notification_topic
                        .clone()
                        .unwrap_or_else(|| default_notification_topic(&client_id))
                });
                self.bridges.slots.push(Slot {
                    rules: Rules::new(&config.topics),
                    queue: BridgeQueue::new(
                        &config.name,
                        config.max_queued_messages,
                        config.max_queued_bytes,
                    ),
                    client_id,
                    notification_topic,
                    config: config.clone(),
                    up: false,
                    wake_listed: false,
                    counters: BridgeCounters::default(),
                    drop_log: RateLimitedLog::new(DEFAULT_LOG_INTERVAL),
                    link_log: RateLimitedLog::new(DEFAULT_LOG_INTERVAL),
                    link_unlogged: LinkDrops::default(),
                });
                let index = self.bridges.slots.len() - 1;
                self.publish_bridge_state(now, index, false);
                self.join_shared_groups(index);
            }
        }

        /// Bridge `index` joins the local group of each of its shared
        /// `out` rules, as one member (docs/shared.md).
        fn join_shared_groups(&mut self, index: usize) {
            let Some(slot) = self.bridges.slots.get(index) else {
                return;
            };
            let groups: Vec<_> = slot.rules.shared_outbound().collect();
            for (rule, subscribed, qos) in groups {
                let inner = crate::topic::parse_shared(&subscribed)
                    .and_then(Result::ok)
                    .map(|shared| TopicFilter::new(shared.filter, &TopicLimits::UNBOUNDED));
                let (Some(Ok(inner)), Ok(bridge), Ok(rule)) =
                    (inner, u16::try_from(index), u16::try_from(rule))
                else {
                    continue;
                };
                let subscription = Subscription::from(SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                });
                self.shared.join(
                    &subscribed,
                    &inner,
                    Member::Bridge { bridge, rule },
                    subscription,
                );
            }
        }

        /// Replaces the journal (the store installs its own after opening).
        pub fn set_bridge_journal(&mut self, journal: Box<dyn QueueJournal>) {
            self.bridges.journal = journal;
        }

        /// Seeds bridge `name`'s queue with what the store kept; false if
        /// there is no such bridge (its entries should then be discarded).
        pub fn restore_bridge_queue(
            &mut self,
            name: &str,
            entries: Vec<(u64, QueuedMessage)>,
        ) -> bool {
            let Some(slot) = self
                .bridges
                .slots
                .iter_mut()
                .find(|s| s.config.name == name)
            else {
                return false;
            };
            slot.queue.restore(entries, self.bridges.journal.as_mut());
            true
        }

        pub fn bridge_count(&self) -> usize {
            self.bridges.slots.len()
        }

        pub fn bridge_config(&self, index: usize) -> Option<&BridgeConfig> {
            self.bridges.slots.get(index).map(|s| &s.config)
        }

        pub fn bridge_counters(&self, index: usize) -> Option<BridgeCounters> {
            self.bridges.slots.get(index).map(|s| s.counters)
        }

        /// The link's settings, defaults resolved.
        pub fn bridge_link_settings(&self, index: usize, window: usize) -> Option<LinkSettings> {
            let slot = self.bridges.slots.get(index)?;
            let c = &slot.config;
            Some(LinkSettings {
                client_id: slot.client_id.clone(),
                username: c.remote_username.clone(),
                password: c.remote_password.as_ref().map(|p| p.as_bytes().to_vec()),
                keepalive: c.keepalive,
                clean_session: c.clean_session,
                protocol: link_protocol(c.protocol),
                try_private: c.try_private,
                subscriptions: slot.rules.remote_subscriptions(),
                notification_topic: slot.notification_topic.clone(),
                window,
                // A clean session ends with the link [MQTT-3.1.2-23].
                session_expiry: if c.clean_session { 0 } else { c.session_expiry },
                max_packet_size: u32::try_from(self.settings.max_packet_size).unwrap_or(u32::MAX),
            })
        }

        /// The queue and journal of bridge `index`, for its link.
        pub fn bridge_queue(
            &mut self,
            index: usize,
        ) -> Option<(&mut BridgeQueue, &mut dyn QueueJournal)> {
            let slot = self.bridges.slots.get_mut(index)?;
            Some((&mut slot.queue, self.bridges.journal.as_mut()))
        }

        /// Wakes every bridge whose link is up (a store batch became
        /// durable: their held acknowledgements may go out).
        pub(in crate::broker) fn wake_bridges(&mut self) {
            for (index, slot) in self.bridges.slots.iter_mut().enumerate() {
                if slot.up && !slot.wake_listed {
                    slot.wake_listed = true;
                    self.bridges.woken.push(index);
                }
            }
        }

        /// Bridges with new queue entries while up; drains the list.
        pub fn poll_bridge_wakeups(&mut self, dst: &mut Vec<usize>) {
            for index in self.bridges.woken.drain(..) {
                if let Some(slot) = self.bridges.slots.get_mut(index) {
                    slot.wake_listed = false;
                    dst.push(index);
                }
            }
        }

        /// The link of bridge `index` came up or went down.
        pub fn handle_bridge_state(&mut self, now: Instant, index: usize, up: bool) {
            let Some(slot) = self.bridges.slots.get_mut(index) else {
                return;
            };
            if slot.up == up {
                return;
            }
            slot.up = up;
            slot.counters.state_changes += 1;
            self.publish_bridge_state(now, index, up);
        }

        /// mosquitto's local notification: "1"/"0", retained, QoS 1.
        fn publish_bridge_state(&mut self, now: Instant, index: usize, up: bool) {
            let Some(topic) = self
                .bridges
                .slots
                .get(index)
                .and_then(|s| s.notification_topic.clone())
            else {
                return;
            };
            let payload: &[u8] = if up { b"1" } else { b"0" };
            match PublishBody::new(&topic, payload) {
                Ok(body) => {
                    let before = self.bridges.inbound_from.replace(index);
                    let routed = Routed::plain(&body, QoS::AtLeastOnce, true);
                    self.route(now, routed, None);
                    self.bridges.inbound_from = before;
                }
                Err(e) => warn!("bridge notification topic {topic:?}: {e}"),
            }
        }

        /// What link `index` dropped or changed to fit its remote (5.0
        /// limits, expiry, refusals): counted, and logged rate-limited
        /// with the bridge's name.
        pub fn handle_bridge_link_drops(&mut self, now: Instant, index: usize, d: LinkDrops) {
            if d.is_empty() {
                return;
            }
            let s = &mut self.stats;
            s.bridge_dropped_packet_size += d.too_large;
            s.bridge_messages_expired += d.expired;
            s.bridge_qos_downgraded += d.qos_downgraded;
            s.bridge_retain_stripped += d.retain_stripped;
            s.bridge_refused_by_remote += d.refused;
            let Some(slot) = self.bridges.slots.get_mut(index) else {
                return;
            };
            // At most one line per interval, with everything since the
            // last one (the stats keep every count).
            slot.link_unlogged.add(&d);
            if slot.link_log.should_log(now).is_none() {
                return;
            }
            let d = std::mem::take(&mut slot.link_unlogged);
            let refusal = d.last_refusal.map_or(String::new(), |r| {
                format!(" (last: {:#04x}, {})", r.0, r.describe())
            });
            warn!(
                "bridge {}: {} dropped over the remote's Maximum Packet Size, {} expired in \
                 the queue, {} refused by the remote{refusal}, {} sent at its Maximum QoS, \
                 {} without retain (Retain Available 0)",
                slot.config.name,
                d.too_large,
                d.expired,
                d.refused,
                d.qos_downgraded,
                d.retain_stripped
            );
        }

        /// A PUBLISH that came down bridge `index` (remote topic as sent,
        /// with its 5.0 properties): remapped and routed locally, never
        /// back up the same bridge.
        ///
        /// Returns the store batch the acknowledgement to the remote must
        /// wait for (sync persistence, when routing it changed the store):
        /// the link holds its PUBACK/PUBREC until that batch is durable.
        pub fn handle_bridge_publish(
            &mut self,
            now: Instant,
            index: usize,
            body: &PublishBody,
            (qos, retain): (QoS, bool),
            properties: &Properties,
        ) -> Option<u64> {
            let ops_before = self.ops_pushed();
            self.route_bridge_publish(now, index, body, (qos, retain), properties);
            (self.ops_pushed() > ops_before)
                .then(|| self.store_hold_batch())
                .flatten()
        }

        fn route_bridge_publish(
            &mut self,
            now: Instant,
            index: usize,
            body: &PublishBody,
            (qos, retain): (QoS, bool),
            properties: &Properties,
        ) {
            let Some(slot) = self.bridges.slots.get_mut(index) else {
                return;
            };
            let Some((topic, cap)) = slot.rules.inbound(body.topic()) else {
                // The remote sent what we did not subscribe to (an
                // overlapping filter of another session of ours).
                slot.counters.dropped_inbound += 1;
                return;
            };
            let body = if topic == body.topic() {
                Ok(body.clone())
            } else {
                body.with_topic(&topic)
            };
            let valid = validate_topic_name(&topic, &self.settings.topics).is_ok();
            let Some(body) = body.ok().filter(|_| valid) else {
                slot.counters.dropped_inbound += 1;
                let name = slot.config.name.clone();
                if let Some(skipped) = slot.drop_log.should_log(now) {
                    warn!("bridge {name}: dropped a message for invalid local topic {topic:?} ({skipped} more not logged)");
                }
                return;
            };
            slot.counters.received += 1;
            self.stats.messages_received += 1;
            self.stats.bytes_received += body.len() as u64;
            // Its properties pass on unchanged, its expiry counts on
            // from now (docs/mqtt5.md, "Bridges").
            let meta = self.message_meta(now, properties);
            let routed = Routed {
                body: &body,
                qos: qos.min(cap),
                retain,
                meta: meta.as_ref(),
            };
            let before = self.bridges.inbound_from.replace(index);
            self.route(now, routed, None);
            self.bridges.inbound_from = before;
        }

        /// Called by `route` for every message: queues it for every bridge
        /// whose `out` rules match, except the one it came down; `true`
        /// when one took it. A 5.0 link's copy keeps the message's
        /// properties; every copy keeps its expiry.
        pub(in crate::broker) fn forward_to_bridges(
            &mut self,
            now: Instant,
            routed: Routed<'_>,
        ) -> bool {
            let from = self.bridges.inbound_from;
            let mut taken = false;
            for index in 0..self.bridges.slots.len() {
                if Some(index) == from {
                    continue;
                }
                let Some(slot) = self.bridges.slots.get(index) else {
                    continue;
                };
                if let Some((topic, cap)) = slot.rules.outbound(routed.body.topic()) {
                    taken |= self.queue_on_bridge(now, index, topic, cap, routed);
                }
            }
            taken
        }

        /// A shared group chose bridge `bridge` for `routed` by its rule
        /// `rule` (`shared.rs`); `true` when it took it.
        pub(in crate::broker) fn forward_to_bridge_rule(
            &mut self,
            now: Instant,
            bridge: u16,
            rule: u16,
            routed: Routed<'_>,
        ) -> bool {
            let index = usize::from(bridge);
            let Some(slot) = self.bridges.slots.get(index) else {
                return false;
            };
            match slot
                .rules
                .outbound_by(usize::from(rule), routed.body.topic())
            {
                Some((topic, cap)) => self.queue_on_bridge(now, index, topic, cap, routed),
                None => false,
            }
        }

        /// How ready bridge `bridge` is to be chosen by a shared group;
        /// never the one the message came down.
        pub(in crate::broker) fn bridge_readiness(&self, bridge: u16) -> Option<Readiness> {
            let index = usize::from(bridge);
            if self.bridges.inbound_from == Some(index) {
                return None;
            }
            let slot = self.bridges.slots.get(index)?;
            Some(if !slot.up {
                Readiness::Offline
            } else if slot.queue.len() > SHARED_BUSY_QUEUE {
                Readiness::Busy
            } else {
                Readiness::Ready
            })
        }

        /// Queues one message on bridge `index` under remote `topic`, at
        /// most at `cap`; `false` when it was not taken (QoS 0 while the
        /// link is down).
        fn queue_on_bridge(
            &mut self,
            now: Instant,
            index: usize,
            topic: String,
            cap: QoS,
            routed: Routed<'_>,
        ) -> bool {
            let Routed {
                body,
                qos,
                retain,
                meta,
            } = routed;
            let Bridges {
                slots,
                journal,
                woken,
                ..
            } = &mut self.bridges;
            let Some(slot) = slots.get_mut(index) else {
                return false;
            };
            let qos = qos.min(cap);
            if qos == QoS::AtMostOnce && !slot.up {
                slot.counters.dropped_qos0_link_down += 1;
                return false;
            }
            let mut message = QueuedMessage::plain(topic, body.payload().to_vec(), qos, retain);
            if let Some(meta) = meta {
                message.expires_at = meta.expires_at;
                if slot.config.protocol == BridgeProtocol::V5 {
                    message.properties = meta.properties.clone();
                }
            }
            let (_, dropped) = slot.queue.push(message, journal.as_mut());
            slot.counters.queued += 1;
            if dropped > 0 {
                slot.counters.dropped_queue_full += dropped;
                if let Some(skipped) = slot.drop_log.should_log(now) {
                    warn!(
                        "bridge {}: uplink queue full ({} messages, {} bytes): dropped the oldest \
                         ({} dropped in all, {skipped} drops not logged since the last line)",
                        slot.config.name,
                        slot.queue.len(),
                        slot.queue.bytes(),
                        slot.counters.dropped_queue_full
                    );
                }
            }
            if slot.up && !slot.wake_listed {
                slot.wake_listed = true;
                woken.push(index);
            }
            true
        }

        /// Each bridge's numbers (`$SYS/broker/connection/...`, the admin
        /// API).
        pub(in crate::broker) fn bridge_numbers(&self) -> Vec<crate::sys::BridgeNumbers> {
            self.bridges
                .slots
                .iter()
                .map(|slot| crate::sys::BridgeNumbers {
                    name: slot.config.name.clone(),
                    client_id: slot.client_id.clone(),
                    up: slot.up,
                    queue_len: slot.queue.len() as u64,
                    queue_bytes: slot.queue.bytes() as u64,
                    queued: slot.counters.queued,
                    sent: slot.queue.sent(),
                    dropped: slot
                        .counters
                        .dropped_queue_full
                        .saturating_add(slot.counters.dropped_qos0_link_down),
                    received: slot.counters.received,
                    state_changes: slot.counters.state_changes,
                })
                .collect()
        }

        /// Logs each link's queue at shutdown.
        pub fn log_bridge_totals(&self) {
            for slot in &self.bridges.slots {
                info!(
                    "bridge {}: {} queued, {} still in the queue, {} dropped (queue full), \
                     {} QoS 0 not sent (link down), {} received",
                    slot.config.name,
                    slot.counters.queued,
                    slot.queue.len(),
                    slot.counters.dropped_queue_full,
                    slot.counters.dropped_qos0_link_down,
                    slot.counters.received
                );
            }
        }
    }
}

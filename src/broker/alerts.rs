//! The broker's side of alerts (README.md, "Operating edgemq"): installs
//! the `alert` rules, evaluates them every second from a snapshot while
//! any exist, logs each alert that starts or ends and publishes it,
//! retained in memory like the `$SYS/broker/...` tree, on
//! `$SYS/alerts/{name}`. The state machine is `sys/alerts.rs`'s.
//!
//! Costs nothing without rules: no snapshot is taken for them.

use std::time::Instant;

use log::{info, warn};

use crate::codec::{PublishBody, QoS};
use crate::sys::alerts::{AlertRecord, AlertRule, Sample};
use crate::sys::EdgeFacts;

use super::publish::Routed;
use super::Broker;

impl Broker {
    /// The rules from the config (start and SIGHUP); unchanged rules keep
    /// their state. `true` when the rules changed.
    pub fn install_alerts(&mut self, rules: Vec<AlertRule>) -> bool {
        let changed = !self.alerts.same_rules(&rules);
        self.alerts.install(rules);
        changed
    }

    /// `GET /api/v1/alerts`: the JSON body.
    pub fn alerts_json(&self, active: Option<bool>) -> String {
        self.alerts.list(active)
    }

    pub(super) fn alerts_due(&self, now: Instant) -> bool {
        self.alerts.is_due(now)
    }

    pub(super) fn evaluate_alerts(&mut self, now: Instant, facts: EdgeFacts) {
        let s = self.snapshot(now, facts);
        let sample = Sample {
            connections: s.connections,
            sessions: s.clients_total,
            subscriptions: s.subscriptions,
            messages_received: s.messages_received,
            dropped: s.publish_dropped,
            store_bytes: s.facts.store_bytes,
            rss_bytes: s.facts.resident_bytes,
            bridge_queued: s.bridges.iter().map(|b| b.queue_len).sum(),
        };
        let wall_ms = s.facts.wall_ms;
        for change in self.alerts.evaluate(now, wall_ms, sample) {
            self.announce_alert(now, &change);
        }
    }

    fn announce_alert(&mut self, now: Instant, a: &AlertRecord) {
        let value = a
            .value
            .map_or_else(|| "none".to_owned(), |v| format!("{v}"));
        let rule = format!("{} {} {}", a.metric.name(), a.op.symbol(), a.threshold);
        if a.state == "active" {
            warn!("alert {} started: {rule} (value {value})", a.name);
        } else {
            let peak = a.peak.map_or_else(|| "none".to_owned(), |v| format!("{v}"));
            info!(
                "alert {} ended: {rule} (value {value}, peak {peak})",
                a.name
            );
        }
        let topic = format!("$SYS/alerts/{}", a.name);
        let payload = a.payload();
        match PublishBody::new(&topic, payload.as_bytes()) {
            Ok(body) => {
                self.retained.set_system(&body);
                self.route(now, Routed::plain(&body, QoS::AtMostOnce, false), None);
            }
            Err(error) => log::error!("cannot publish {topic}: {error}"),
        }
    }
}

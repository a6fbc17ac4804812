//! A bridge's topic rules: which local topics go out and under which remote
//! topic, which remote filters we subscribe to and how their topics come
//! home (mosquitto's `topic PATTERN DIR QOS LOCAL_PREFIX REMOTE_PREFIX`).
//!
//! Remapping: the local side of a rule is `local_prefix + pattern`, the
//! remote side `remote_prefix + pattern`; a topic crossing the bridge loses
//! one prefix and gains the other. With an empty pattern the prefixes are
//! whole topics. The first rule that matches a topic decides it.

use crate::codec::QoS;
use crate::config::bridge::{Direction, TopicRuleConfig};
use crate::topic::matches;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRule {
    pub direction: Direction,
    pub qos: QoS,
    local_prefix: String,
    remote_prefix: String,
    /// `local_prefix + pattern`.
    local_filter: String,
    /// `remote_prefix + pattern`.
    remote_filter: String,
}

impl TopicRule {
    pub fn new(config: &TopicRuleConfig) -> TopicRule {
        TopicRule {
            direction: config.direction,
            qos: config.qos,
            local_filter: format!("{}{}", config.local_prefix, config.pattern),
            remote_filter: format!("{}{}", config.remote_prefix, config.pattern),
            local_prefix: config.local_prefix.clone(),
            remote_prefix: config.remote_prefix.clone(),
        }
    }

    /// The filter subscribed on the local broker for `out`.
    pub fn local_filter(&self) -> &str {
        &self.local_filter
    }

    /// The filter subscribed on the remote for `in`.
    pub fn remote_filter(&self) -> &str {
        &self.remote_filter
    }

    /// The remote topic for local `topic`, if this rule sends it out.
    pub fn to_remote(&self, topic: &str) -> Option<String> {
        if !self.direction.outbound() || !matches(&self.local_filter, topic) {
            return None;
        }
        let rest = topic.strip_prefix(self.local_prefix.as_str())?;
        Some(format!("{}{rest}", self.remote_prefix))
    }

    /// The local topic for remote `topic`, if this rule brings it in.
    pub fn to_local(&self, topic: &str) -> Option<String> {
        if !self.direction.inbound() || !matches(&self.remote_filter, topic) {
            return None;
        }
        let rest = topic.strip_prefix(self.remote_prefix.as_str())?;
        Some(format!("{}{rest}", self.local_prefix))
    }
}

/// All rules of one bridge, in config order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules(Vec<TopicRule>);

impl Rules {
    pub fn new(configs: &[TopicRuleConfig]) -> Rules {
        Rules(configs.iter().map(TopicRule::new).collect())
    }

    /// Remote topic and the rule's QoS cap for a local publish on `topic`.
    pub fn outbound(&self, topic: &str) -> Option<(String, QoS)> {
        self.0
            .iter()
            .find_map(|r| r.to_remote(topic).map(|t| (t, r.qos)))
    }

    /// Local topic and the rule's QoS cap for a remote publish on `topic`.
    pub fn inbound(&self, topic: &str) -> Option<(String, QoS)> {
        self.0
            .iter()
            .find_map(|r| r.to_local(topic).map(|t| (t, r.qos)))
    }

    /// The remote subscriptions for `in` and `both` rules.
    pub fn remote_subscriptions(&self) -> Vec<(String, QoS)> {
        self.0
            .iter()
            .filter(|r| r.direction.inbound())
            .map(|r| (r.remote_filter.clone(), r.qos))
            .collect()
    }

    pub fn has_outbound(&self) -> bool {
        self.0.iter().any(|r| r.direction.outbound())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        pattern: &str,
        direction: Direction,
        qos: u8,
        local: &str,
        remote: &str,
    ) -> TopicRuleConfig {
        TopicRuleConfig {
            pattern: pattern.into(),
            direction,
            qos: QoS::from_u8(qos).unwrap(),
            local_prefix: local.into(),
            remote_prefix: remote.into(),
        }
    }

    #[test]
    fn remaps_both_ways() {
        let rules = Rules::new(&[
            rule("sensors/#", Direction::Out, 1, "edge/", "site1/"),
            rule("cmd/+", Direction::In, 2, "local/", "devices/"),
            rule("#", Direction::Both, 0, "", ""),
        ]);
        assert_eq!(
            rules.outbound("edge/sensors/t"),
            Some(("site1/sensors/t".into(), QoS::AtLeastOnce))
        );
        assert_eq!(rules.outbound("x/y"), Some(("x/y".into(), QoS::AtMostOnce)));
        assert_eq!(
            rules.inbound("devices/cmd/7"),
            Some(("local/cmd/7".into(), QoS::ExactlyOnce))
        );
        // `#` does not match $-topics [MQTT-4.7.2-1].
        assert_eq!(rules.outbound("$SYS/broker/x"), None);
        assert_eq!(
            rules.remote_subscriptions(),
            [
                ("devices/cmd/+".to_owned(), QoS::ExactlyOnce),
                ("#".to_owned(), QoS::AtMostOnce)
            ]
        );
    }

    #[test]
    fn empty_pattern_maps_whole_topics() {
        let rules = Rules::new(&[rule("", Direction::Both, 1, "local/state", "remote/state")]);
        assert_eq!(rules.outbound("local/state").unwrap().0, "remote/state");
        assert_eq!(rules.inbound("remote/state").unwrap().0, "local/state");
        assert_eq!(rules.outbound("local/state/x"), None);
    }

    #[test]
    fn direction_is_respected() {
        let rules = Rules::new(&[rule("a/#", Direction::In, 1, "", "")]);
        assert_eq!(rules.outbound("a/b"), None);
        assert!(rules.inbound("a/b").is_some());
        assert!(!rules.has_outbound());
    }
}

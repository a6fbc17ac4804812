//! A bridge's topic rules: which local topics go out and under which remote
//! topic, which remote filters we subscribe to and how their topics come
//! home (mosquitto's `topic PATTERN DIR QOS LOCAL_PREFIX REMOTE_PREFIX`).
//!
//! Remapping: the local side of a rule is `local_prefix + pattern`, the
//! remote side `remote_prefix + pattern`; a topic crossing the bridge loses
//! one prefix and gains the other. With an empty pattern the prefixes are
//! whole topics. The first rule that matches a topic decides it.
//!
//! A shared pattern (`$share/{group}/{filter}`, `$queue/{filter}`) makes the
//! bridge one member of a group (docs/shared.md): `in`, of the remote's
//! group, subscribed as `$share/{group}/{remote_prefix}{filter}`; `out`, of
//! a local group the broker keeps, so such a rule sends only the messages
//! the group's strategy gives the bridge and [`Rules::outbound`] skips it.

use crate::codec::QoS;
use crate::config::bridge::{Direction, TopicRuleConfig};
use crate::topic::{matches, parse_shared};

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
    /// `$share/{group}/` or `$queue/` of a shared pattern, else empty; the
    /// filters above are without it.
    share: String,
}

impl TopicRule {
    pub fn new(config: &TopicRuleConfig) -> TopicRule {
        let pattern = config.pattern.as_str();
        let (share, pattern) = match parse_shared(pattern) {
            Some(Ok(shared)) => pattern.split_at(pattern.len() - shared.filter.len()),
            _ => ("", pattern),
        };
        TopicRule {
            direction: config.direction,
            qos: config.qos,
            local_filter: format!("{}{pattern}", config.local_prefix),
            remote_filter: format!("{}{pattern}", config.remote_prefix),
            local_prefix: config.local_prefix.clone(),
            remote_prefix: config.remote_prefix.clone(),
            share: share.to_owned(),
        }
    }

    /// Whether the pattern names a shared group.
    pub fn is_shared(&self) -> bool {
        !self.share.is_empty()
    }

    /// The filter subscribed on the local broker for `out`.
    pub fn local_filter(&self) -> &str {
        &self.local_filter
    }

    /// The filter subscribed on the remote for `in`.
    pub fn remote_filter(&self) -> &str {
        &self.remote_filter
    }

    /// The remote topic for local `topic`, if this rule sends it out (a
    /// shared rule: once the group chose the bridge).
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

    /// Remote topic and the rule's QoS cap for a local publish on `topic`;
    /// shared rules are left to their group.
    pub fn outbound(&self, topic: &str) -> Option<(String, QoS)> {
        self.0
            .iter()
            .filter(|r| !r.is_shared())
            .find_map(|r| r.to_remote(topic).map(|t| (t, r.qos)))
    }

    /// Remote topic and QoS cap of rule `index` for `topic`, which its
    /// group gave the bridge.
    pub fn outbound_by(&self, index: usize, topic: &str) -> Option<(String, QoS)> {
        let rule = self.0.get(index)?;
        rule.to_remote(topic).map(|t| (t, rule.qos))
    }

    /// The local groups the bridge is a member of: (rule index, the
    /// group's filter as a subscription would name it, the rule's QoS).
    pub fn shared_outbound(&self) -> impl Iterator<Item = (usize, String, QoS)> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_shared() && r.direction.outbound())
            .map(|(i, r)| (i, format!("{}{}", r.share, r.local_filter), r.qos))
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
            .map(|r| (format!("{}{}", r.share, r.remote_filter), r.qos))
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
    fn shared_patterns_make_the_bridge_a_member() {
        let rules = Rules::new(&[
            rule("$share/edges/cmd/#", Direction::In, 1, "local/", "cloud/"),
            rule("$queue/jobs/+", Direction::Both, 2, "", "site1/"),
            rule("#", Direction::Out, 0, "", ""),
        ]);
        assert_eq!(
            rules.remote_subscriptions(),
            [
                ("$share/edges/cloud/cmd/#".to_owned(), QoS::AtLeastOnce),
                ("$queue/site1/jobs/+".to_owned(), QoS::ExactlyOnce)
            ]
        );
        assert_eq!(
            rules.inbound("cloud/cmd/x"),
            Some(("local/cmd/x".into(), QoS::AtLeastOnce))
        );
        assert_eq!(
            rules.inbound("site1/jobs/7"),
            Some(("jobs/7".into(), QoS::ExactlyOnce))
        );
        // Out: the shared rule is skipped, the group decides.
        assert_eq!(
            rules.outbound("jobs/7"),
            Some(("jobs/7".into(), QoS::AtMostOnce))
        );
        assert_eq!(
            rules.outbound_by(1, "jobs/7"),
            Some(("site1/jobs/7".into(), QoS::ExactlyOnce))
        );
        let groups: Vec<_> = rules.shared_outbound().collect();
        assert_eq!(groups, [(1, "$queue/jobs/+".to_owned(), QoS::ExactlyOnce)]);
    }

    #[test]
    fn direction_is_respected() {
        let rules = Rules::new(&[rule("a/#", Direction::In, 1, "", "")]);
        assert_eq!(rules.outbound("a/b"), None);
        assert!(rules.inbound("a/b").is_some());
        assert!(!rules.has_outbound());
    }
}

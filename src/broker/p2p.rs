//! Point-to-point messages (docs/shared.md): with `p2p true`, a PUBLISH to
//! `{first-level}/p2p/{clientId}` (exactly three levels) goes to that
//! client's session alone, without a subscription, at the QoS it was
//! published with — queued like any message while a persistent session is
//! offline, dropped and counted when there is no such session. Ordinary
//! and shared subscriptions never see these topics, and a client may not
//! subscribe under another client's p2p topic. Bridges forward them like
//! any topic their rules match, both ways.

use std::time::Instant;

use crate::session::Message;

use super::connections::ConnId;
use super::publish::{Routed, Source};
use super::stats::LogKind;
use super::Broker;

/// The level that marks an addressed topic.
const P2P_LEVEL: &str = "p2p";

/// The client `topic` is addressed to: `{first}/p2p/{clientId}`, each
/// level non-empty, nothing after the client id.
fn addressed_to(topic: &str) -> Option<&str> {
    let (first, rest) = topic.split_once('/')?;
    let (marker, client_id) = rest.split_once('/')?;
    let valid = !first.is_empty()
        && marker == P2P_LEVEL
        && !client_id.is_empty()
        && !client_id.contains('/');
    valid.then_some(client_id)
}

/// Whether `filter` reaches under another client's p2p topic: its second
/// level is `p2p` and its third names a client other than `own`.
fn under_other_client(filter: &str, own: &str) -> bool {
    let mut levels = filter.split('/');
    let (Some(_), Some(marker), Some(client_id)) = (levels.next(), levels.next(), levels.next())
    else {
        return false;
    };
    marker == P2P_LEVEL && client_id != "+" && client_id != "#" && client_id != own
}

impl Broker {
    /// The client a PUBLISH to `topic` is addressed to, when `p2p` is on.
    pub(super) fn p2p_recipient<'t>(&self, topic: &'t str) -> Option<&'t str> {
        if self.settings.p2p {
            addressed_to(topic)
        } else {
            None
        }
    }

    /// Whether a subscription of `client_id` to `filter` (the part after a
    /// shared group) must be refused: it names another client's p2p topic.
    pub(super) fn p2p_forbids(&self, filter: &str, client_id: &str) -> bool {
        self.settings.p2p && under_other_client(filter, client_id)
    }

    /// Delivers an addressed message; `true` when its client's session or
    /// a bridge took it. The retain flag is not kept: an addressed message
    /// has no later subscriber to be retained for.
    pub(super) fn route_p2p(
        &mut self,
        now: Instant,
        message: Routed<'_>,
        client_id: &str,
        publisher: Option<ConnId>,
    ) -> bool {
        let bridged = self.forward_to_bridges(now, message);
        let Some(session) = self.sessions.find(client_id) else {
            if !bridged {
                self.stats.p2p_dropped_no_session += 1;
                let client: String = client_id.chars().take(64).collect();
                self.logs.warn(LogKind::P2p, now, || {
                    format!("dropped a point-to-point message for {client:?}: no such session")
                });
            }
            return bridged;
        };
        let addressed = Message {
            body: message.body.clone(),
            qos: message.qos,
            retain: false,
            meta: message.meta.cloned(),
            subscription_ids: Box::default(),
        };
        self.stats.p2p_delivered += 1;
        self.deliver(now, session, addressed, Source::Published(publisher));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addressed_topics_have_exactly_three_levels() {
        assert_eq!(addressed_to("app/p2p/dev1"), Some("dev1"));
        assert_eq!(addressed_to("a/p2p/GID@@dev-1"), Some("GID@@dev-1"));
        for topic in [
            "app/p2p",
            "app/p2p/",
            "/p2p/dev1",
            "app/p2p/dev1/x",
            "app/P2P/dev1",
            "app/x/dev1",
            "p2p/dev1",
            "a/b/p2p/dev1",
        ] {
            assert_eq!(addressed_to(topic), None, "{topic}");
        }
    }

    #[test]
    fn only_other_clients_subtrees_are_forbidden() {
        for filter in [
            "app/p2p/dev2",
            "+/p2p/dev2",
            "app/p2p/dev2/#",
            "x/p2p/dev1x",
        ] {
            assert!(under_other_client(filter, "dev1"), "{filter}");
        }
        for filter in [
            "app/p2p/dev1",
            "+/p2p/+",
            "+/p2p/#",
            "app/p2p",
            "#",
            "app/+/dev2",
            "app/data/dev2",
        ] {
            assert!(!under_other_client(filter, "dev1"), "{filter}");
        }
    }
}

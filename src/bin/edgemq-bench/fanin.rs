//! Fan-in: P publishers → one wildcard subscriber, or (`--shared N`) into
//! a shared subscription of N members, each message owed to one of them.
//! Throughput is distinct messages received per second; at QoS 1 and 2 the
//! publishers keep an honest inflight window, so loss here is loss under
//! back-pressure. A shared group's run also says how evenly the broker
//! spread the messages over its members.

use std::time::Duration;

use argh::FromArgs;

use crate::flow::{self, Flow};
use crate::publisher::PublisherConfig;
use crate::report::Json;
use crate::Common;

/// The shared subscription's group name (`$share/GROUP/filter`).
const GROUP: &str = "bench";

/// The filter every publisher's topic matches.
const FILTER: &str = "bench/in/#";

/// P publishers → 1 wildcard subscriber (or a shared group of N)
#[derive(FromArgs)]
#[argh(subcommand, name = "fanin")]
pub struct Args {
    /// publishers (default 4)
    #[argh(option, default = "4")]
    publishers: u32,
    /// messages per publisher (default 100000)
    #[argh(option, default = "100_000")]
    count: u64,
    /// qos of the PUBLISHes (default 0)
    #[argh(option, default = "0", from_str_fn(crate::parse_qos))]
    qos: u8,
    /// qos of the subscription (default: the publishers' qos)
    #[argh(option, from_str_fn(crate::parse_qos))]
    sub_qos: Option<u8>,
    /// payload bytes, at least 20 (default 64)
    #[argh(option, default = "64")]
    size: usize,
    /// messages per write (default 100)
    #[argh(option, default = "100")]
    batch: usize,
    /// unacknowledged QoS 1/2 messages per publisher (default 20)
    #[argh(option, default = "20")]
    inflight: usize,
    /// the subscriber keeps a persistent session (what the broker queues
    /// for it is stored when persistence is on)
    #[argh(switch)]
    persistent: bool,
    /// subscribe N members to one shared subscription, `$share/bench/`
    /// before the filter, instead of one subscriber (default 0: one plain
    /// subscriber); each message must reach exactly one member
    #[argh(option, default = "0")]
    shared: usize,
    /// with --shared: name the group the `$queue/` way (one group per
    /// filter) instead of `$share/bench/`
    #[argh(switch)]
    queue: bool,
    /// stop this long after the last message once publishers are done (ms, default 2000)
    #[argh(option, default = "2000")]
    idle_ms: u64,
}

pub fn run(common: &Common, args: &Args) -> std::io::Result<String> {
    let publishers = (0..args.publishers)
        .map(|id| PublisherConfig {
            id,
            topic: format!("bench/in/{id}"),
            qos: args.qos,
            count: args.count,
            size: args.size,
            batch: args.batch,
            inflight: args.inflight,
            rate: None,
            deadline: common.deadline,
        })
        .collect();
    let shared = args.shared > 0;
    let filter = match (shared, args.queue) {
        (false, _) => FILTER.to_string(),
        (true, false) => format!("$share/{GROUP}/{FILTER}"),
        (true, true) => format!("$queue/{FILTER}"),
    };
    let flow = Flow {
        publishers,
        subscribers: args.shared.max(1),
        filter,
        sub_qos: args.sub_qos.unwrap_or(args.qos),
        persistent: args.persistent,
        shared,
        idle: Duration::from_millis(args.idle_ms),
        latency: false,
        warmup: 0,
    };
    let mut json = Json::new("fanin", &common.label);
    json.int("qos", args.qos.into());
    json.int("publishers", args.publishers.into());
    json.int("count", args.count);
    json.int("size", args.size as u64);
    json.int("inflight", args.inflight as u64);
    json.int("persistent", u64::from(args.persistent));
    if shared {
        json.int("shared", args.shared as u64);
    }
    let outcome = flow::run(common, &flow, &mut json)?;
    let rate = if outcome.elapsed_s > 0.0 {
        outcome.counts.distinct as f64 / outcome.elapsed_s
    } else {
        0.0
    };
    json.float("msg_per_s", rate);
    // The broker's CPU per message delivered: unlike its share of a core
    // over the run, not diluted by the idle wait at the end.
    if let Some(cpu_s) = outcome.broker_cpu_s {
        if outcome.counts.received > 0 {
            json.float(
                "broker_us_per_msg",
                cpu_s * 1e6 / outcome.counts.received as f64,
            );
        }
    }
    flow::put_counts(&mut json, &outcome);
    if shared {
        put_split(&mut json, &outcome.per_subscriber);
    }
    Ok(json.finish())
}

/// The group's split: each member's count, and the smallest and largest
/// as a percentage of an even share (100 each when perfectly fair).
fn put_split(json: &mut Json, per_member: &[u64]) {
    let list: Vec<String> = per_member.iter().map(u64::to_string).collect();
    json.text("member_received", &list.join(" "));
    if let Some((min, max)) = even_share_pct(per_member) {
        json.float("member_min_pct", min);
        json.float("member_max_pct", max);
    }
}

/// (smallest, largest) member count as a percentage of total / members;
/// `None` when nothing arrived.
fn even_share_pct(per_member: &[u64]) -> Option<(f64, f64)> {
    let total: u64 = per_member.iter().sum();
    if total == 0 {
        return None;
    }
    let even = total as f64 / per_member.len() as f64;
    let min = per_member.iter().copied().min()?;
    let max = per_member.iter().copied().max()?;
    Some((100.0 * min as f64 / even, 100.0 * max as f64 / even))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_against_an_even_split() {
        assert_eq!(even_share_pct(&[25, 25, 25, 25]), Some((100.0, 100.0)));
        assert_eq!(even_share_pct(&[10, 30, 20, 20]), Some((50.0, 150.0)));
        // One member starved: 0 % of its share.
        assert_eq!(
            even_share_pct(&[0, 40, 40, 40]),
            Some((0.0, 133.33333333333334))
        );
        assert_eq!(even_share_pct(&[0, 0]), None);
        assert_eq!(even_share_pct(&[]), None);
    }

    #[test]
    fn split_in_the_json_line() {
        let mut json = Json::new("fanin", "b");
        put_split(&mut json, &[3, 1]);
        assert_eq!(
            json.finish(),
            r#"{"scenario":"fanin","broker":"b","member_received":"3 1","member_min_pct":50.000,"member_max_pct":150.000}"#
        );
    }
}

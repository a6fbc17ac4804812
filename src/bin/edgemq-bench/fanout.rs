//! Fan-out: one publisher → N subscribers of the same topic. Throughput is
//! deliveries (messages received, summed over subscribers) per second.

use std::time::Duration;

use argh::FromArgs;

use crate::flow::{self, Flow};
use crate::publisher::PublisherConfig;
use crate::report::Json;
use crate::Common;

/// 1 publisher → N subscribers
#[derive(FromArgs)]
#[argh(subcommand, name = "fanout")]
pub struct Args {
    /// subscribers (default 100)
    #[argh(option, default = "100")]
    subscribers: usize,
    /// messages published (default 10000)
    #[argh(option, default = "10_000")]
    count: u64,
    /// qos of the PUBLISHes and subscriptions (default 0)
    #[argh(option, default = "0", from_str_fn(crate::parse_qos))]
    qos: u8,
    /// payload bytes, at least 20 (default 64)
    #[argh(option, default = "64")]
    size: usize,
    /// messages per write (default 100)
    #[argh(option, default = "100")]
    batch: usize,
    /// unacknowledged QoS 1/2 messages (default 20)
    #[argh(option, default = "20")]
    inflight: usize,
    /// stop this long after the last message once the publisher is done (ms, default 2000)
    #[argh(option, default = "2000")]
    idle_ms: u64,
}

pub fn run(common: &Common, args: &Args) -> std::io::Result<String> {
    let flow = Flow {
        publishers: vec![PublisherConfig {
            id: 0,
            topic: "bench/out".into(),
            qos: args.qos,
            count: args.count,
            size: args.size,
            batch: args.batch,
            inflight: args.inflight,
            rate: None,
            deadline: common.deadline,
        }],
        subscribers: args.subscribers,
        filter: "bench/out".into(),
        sub_qos: args.qos,
        persistent: false,
        shared: false,
        idle: Duration::from_millis(args.idle_ms),
        latency: false,
        warmup: 0,
    };
    let mut json = Json::new("fanout", &common.label);
    json.int("qos", args.qos.into());
    json.int("subscribers", args.subscribers as u64);
    json.int("count", args.count);
    json.int("size", args.size as u64);
    let mut outcome = flow::run(common, &flow, &mut json)?;
    let rate = if outcome.elapsed_s > 0.0 {
        outcome.counts.distinct as f64 / outcome.elapsed_s
    } else {
        0.0
    };
    json.float("deliveries_per_s", rate);
    // Every subscriber is owed every message.
    outcome.sent = outcome.sent.saturating_mul(args.subscribers as u64);
    flow::put_counts(&mut json, &outcome);
    Ok(json.finish())
}

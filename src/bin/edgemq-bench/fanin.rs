//! Fan-in: P publishers → one wildcard subscriber. Throughput is distinct
//! messages received per second; at QoS 1 and 2 the publishers keep an
//! honest inflight window, so loss here is loss under back-pressure.

use std::time::Duration;

use argh::FromArgs;

use crate::flow::{self, Flow};
use crate::publisher::PublisherConfig;
use crate::report::Json;
use crate::Common;

/// P publishers → 1 wildcard subscriber
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
    let flow = Flow {
        publishers,
        subscribers: 1,
        filter: "bench/in/#".into(),
        sub_qos: args.sub_qos.unwrap_or(args.qos),
        persistent: args.persistent,
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
    let outcome = flow::run(common, &flow, &mut json)?;
    let rate = if outcome.elapsed_s > 0.0 {
        outcome.counts.distinct as f64 / outcome.elapsed_s
    } else {
        0.0
    };
    json.float("msg_per_s", rate);
    flow::put_counts(&mut json, &outcome);
    Ok(json.finish())
}

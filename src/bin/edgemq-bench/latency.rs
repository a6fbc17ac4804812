//! Latency: one publisher at a fixed rate → one subscriber; each message
//! carries its send time, the subscriber takes the difference on arrival.

use std::time::Duration;

use argh::FromArgs;

use crate::flow::{self, Flow};
use crate::publisher::PublisherConfig;
use crate::report::{percentile, Json};
use crate::Common;

/// fixed-rate publisher → 1 subscriber, latency percentiles
#[derive(FromArgs)]
#[argh(subcommand, name = "latency")]
pub struct Args {
    /// messages per second (default 10000)
    #[argh(option, default = "10_000.0")]
    rate: f64,
    /// seconds of traffic (default 5)
    #[argh(option, default = "5.0")]
    seconds: f64,
    /// qos of the PUBLISHes and the subscription (default 0)
    #[argh(option, default = "0", from_str_fn(crate::parse_qos))]
    qos: u8,
    /// payload bytes, at least 20 (default 64)
    #[argh(option, default = "64")]
    size: usize,
    /// messages left out of the percentiles at the start (default 1000)
    #[argh(option, default = "1000")]
    warmup: u64,
    /// unacknowledged QoS 1/2 messages (default 20)
    #[argh(option, default = "20")]
    inflight: usize,
}

pub fn run(common: &Common, args: &Args) -> std::io::Result<String> {
    let count = (args.rate * args.seconds).max(1.0) as u64;
    let flow = Flow {
        publishers: vec![PublisherConfig {
            id: 0,
            topic: "bench/lat".into(),
            qos: args.qos,
            count,
            size: args.size,
            batch: 1000,
            inflight: args.inflight,
            rate: Some(args.rate),
            deadline: common.deadline,
        }],
        subscribers: 1,
        filter: "bench/lat".into(),
        sub_qos: args.qos,
        persistent: false,
        shared: false,
        idle: Duration::from_secs(2),
        latency: true,
        warmup: args.warmup,
    };
    let mut json = Json::new("latency", &common.label);
    json.int("qos", args.qos.into());
    json.float("rate", args.rate);
    json.int("count", count);
    json.int("size", args.size as u64);
    let mut outcome = flow::run(common, &flow, &mut json)?;
    outcome.latencies_ns.sort_unstable();
    let us = |q: f64| percentile(&outcome.latencies_ns, q) as f64 / 1000.0;
    json.float("p50_us", us(0.5));
    json.float("p90_us", us(0.9));
    json.float("p99_us", us(0.99));
    json.float("p999_us", us(0.999));
    json.float("max_us", us(1.0));
    let achieved = if outcome.publish_s > 0.0 {
        outcome.sent as f64 / outcome.publish_s
    } else {
        0.0
    };
    json.float("achieved_rate", achieved);
    flow::put_counts(&mut json, &outcome);
    Ok(json.finish())
}

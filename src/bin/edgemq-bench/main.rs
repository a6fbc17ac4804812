//! `edgemq-bench`: the load generator behind the side-by-side comparison
//! (tests/bench/compare.sh). It speaks MQTT 3.1.1 (or 5.0 with
//! `--protocol 5`: CONNECT, SUBSCRIBE and PUBLISH with an empty property
//! block) over TCP, or over TLS 1.3 with `--tls CAFILE`, to any broker and
//! prints one JSON line per scenario run.
//!
//! Not part of firmware images: packaging builds `--bin edgemq` only. It
//! adds no dependency the broker does not already have.
//!
//! Built to stay out of the way of the broker it measures: one thread per
//! client (blocking sockets, no cross-thread wake-ups), reused buffers,
//! many messages per `write`, incoming bytes parsed in bulk without an
//! allocation per message. Each result line carries the generator's own CPU
//! use next to the broker's, so a run shows which side was the limit.

#![forbid(unsafe_code)]

mod api_poll;
mod auth_cost;
mod client;
mod conns;
mod fanin;
mod fanout;
mod flow;
mod handshakes;
mod latency;
mod payload;
mod publisher;
mod recovery;
mod report;
mod soak;
mod soak_roles;
mod stream;
mod subscriber;
#[cfg(feature = "tls")]
mod tls;
#[cfg(not(feature = "tls"))]
#[path = "no_tls.rs"]
mod tls;
mod tracker;
mod wake;
mod wire;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use argh::FromArgs;
use edgemq::codec::ProtocolVersion;

/// Load generator for MQTT brokers: connection count and memory, fan-in,
/// fan-out and latency; polling of edgemq's admin API; and this machine's
/// wake-up and credential-check costs. Prints one JSON line per run.
#[derive(FromArgs)]
struct Args {
    /// broker address (default 127.0.0.1)
    #[argh(option, default = "IpAddr::from([127, 0, 0, 1])")]
    host: IpAddr,
    /// broker port (default 1883)
    #[argh(option, default = "1883")]
    port: u16,
    /// broker process id, for its RSS and CPU from /proc
    #[argh(option)]
    pid: Option<u32>,
    /// name of the broker in the JSON line (default "broker")
    #[argh(option, default = "String::from(\"broker\")")]
    label: String,
    /// give up on a run after this many seconds (default 120)
    #[argh(option, default = "120")]
    timeout: u64,
    /// speak TLS 1.3, trusting this CA file (PEM); the server certificate
    /// must name the --host address
    #[argh(option)]
    tls: Option<String>,
    /// the TLS key share: x25519 (default), p256 or p384
    #[argh(option, default = "String::from(\"x25519\")")]
    tls_group: String,
    /// MQTT protocol level: 4 (3.1.1, default) or 5
    #[argh(
        option,
        default = "ProtocolVersion::V3_1_1",
        from_str_fn(parse_protocol)
    )]
    protocol: ProtocolVersion,
    #[argh(subcommand)]
    scenario: Scenario,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Scenario {
    Conns(conns::Args),
    Fanin(fanin::Args),
    Fanout(fanout::Args),
    Handshakes(handshakes::Args),
    Latency(latency::Args),
    Wake(wake::Args),
    AuthCost(auth_cost::Args),
    ApiPoll(api_poll::Args),
    Soak(soak::Args),
    Recovery(recovery::Args),
}

/// What every scenario gets from the top-level options.
pub struct Common {
    pub addr: SocketAddr,
    pub pid: Option<u32>,
    pub label: String,
    pub deadline: Instant,
    /// The run's clock origin: message timestamps count from here.
    pub epoch: Instant,
    /// Tells this run's client ids from another run's.
    pub run_id: u32,
    /// Every connection speaks TLS when set.
    pub tls: Option<tls::TlsClient>,
    /// What every connection speaks: 3.1.1 or 5.0.
    pub protocol: ProtocolVersion,
}

impl Common {
    pub fn client_id(&self, role: &str, index: usize) -> String {
        format!("bench-{}-{role}{index}", self.run_id)
    }
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    let tls = match args.tls.as_deref() {
        None => None,
        Some(ca) => match tls::TlsClient::new(ca, &args.tls_group) {
            Ok(tls) => Some(tls),
            Err(e) => {
                eprintln!("edgemq-bench: --tls: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let now = Instant::now();
    let common = Common {
        addr: SocketAddr::new(args.host, args.port),
        pid: args.pid,
        label: args.label,
        deadline: now + Duration::from_secs(args.timeout),
        epoch: now,
        run_id: std::process::id(),
        tls,
        protocol: args.protocol,
    };
    let result = match &args.scenario {
        Scenario::Conns(a) => conns::run(&common, a),
        Scenario::Fanin(a) => fanin::run(&common, a),
        Scenario::Fanout(a) => fanout::run(&common, a),
        Scenario::Handshakes(a) => handshakes::run(&common, a),
        Scenario::Latency(a) => latency::run(&common, a),
        Scenario::Wake(a) => wake::run(&common, a),
        Scenario::AuthCost(a) => auth_cost::run(&common, a),
        Scenario::ApiPoll(a) => api_poll::run(&common, a),
        Scenario::Soak(a) => soak::run(&common, a),
        Scenario::Recovery(a) => recovery::run(&common, a),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("edgemq-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses `--protocol`.
fn parse_protocol(value: &str) -> Result<ProtocolVersion, String> {
    match value {
        "4" | "3.1.1" => Ok(ProtocolVersion::V3_1_1),
        "5" | "5.0" => Ok(ProtocolVersion::V5),
        _ => Err("--protocol must be 4 (3.1.1) or 5".into()),
    }
}

/// Parses a QoS argument.
fn parse_qos(value: &str) -> Result<u8, String> {
    match value {
        "0" => Ok(0),
        "1" => Ok(1),
        "2" => Ok(2),
        _ => Err("QoS must be 0, 1 or 2".into()),
    }
}

//! Handshakes: open N connections one after another with H in flight,
//! each a TCP connect (a TLS 1.3 full handshake with `--tls`), CONNECT,
//! CONNACK, DISCONNECT and the broker's close; the rate is connections
//! per second from the first connect to the last close.
//!
//! Unlike `conns`, nothing is held open: what is measured is the cost of
//! a client coming and going, which over TLS is mostly the handshake's
//! public-key work (the broker's signature and key exchange; the
//! generator's key exchange and two signature checks).

use std::io;

use argh::FromArgs;

use crate::conns::{disconnect, handshake, phase, put_cpu, put_phase};
use crate::report::{CpuMeter, Json};
use crate::Common;

/// N connect, CONNECT/CONNACK, close cycles; connections per second
#[derive(FromArgs)]
#[argh(subcommand, name = "handshakes")]
pub struct Args {
    /// connections (default 5000)
    #[argh(option, default = "5_000")]
    count: usize,
    /// connections in flight (default 64)
    #[argh(option, default = "64")]
    inflight: usize,
}

pub fn run(common: &Common, args: &Args) -> io::Result<String> {
    let mut json = Json::new("handshakes", &common.label);
    json.int("count", args.count as u64);
    json.int("inflight", args.inflight as u64);
    json.int("tls", u64::from(common.tls.is_some()));
    let workers = args.inflight.clamp(1, args.count.max(1));
    let cpu = CpuMeter::start(common.pid);
    let cycles = phase(workers, args.count, common.deadline, |i| {
        let id = common.client_id("h", i);
        async move {
            let stream = handshake(common, &id).await?;
            disconnect(stream, common.protocol).await;
            Ok(())
        }
    });
    put_cpu(&mut json, &cpu, common.pid, &cycles);
    put_phase(&mut json, "handshake", &cycles);
    if cycles.ok == 0 {
        return Err(io::Error::other(format!(
            "no connection completed: {}",
            cycles.first_error.as_deref().unwrap_or("?")
        )));
    }
    Ok(json.finish())
}

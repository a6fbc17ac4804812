//! The machine's cost of waking a sleeping thread: two threads pass one
//! byte back and forth over a socket pair, each blocking in `read` between
//! turns, like `perf bench sched pipe`. Printed beside the comparison
//! tables because on a virtual machine whose idle vCPUs halt, this round
//! trip (not the broker's work) sets the pace of every scenario that waits
//! for an answer: a QoS 1 window, a connection handshake.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Instant;

use argh::FromArgs;

use crate::report::{percentile, Json};
use crate::Common;

/// Thread wake-up round trip of this machine (no broker involved)
#[derive(FromArgs)]
#[argh(subcommand, name = "wake")]
pub struct Args {
    /// round trips (default 20000)
    #[argh(option, default = "20_000")]
    count: usize,
}

pub fn run(common: &Common, args: &Args) -> io::Result<String> {
    let (mut near, mut far) = UnixStream::pair()?;
    let count = args.count.max(1);
    let echo = thread::spawn(move || -> io::Result<()> {
        let mut byte = [0u8; 1];
        for _ in 0..count {
            far.read_exact(&mut byte)?;
            far.write_all(&byte)?;
        }
        Ok(())
    });
    let mut byte = [0u8; 1];
    let mut round_trips_ns = Vec::with_capacity(count);
    for _ in 0..count {
        let sent = Instant::now();
        near.write_all(&byte)?;
        near.read_exact(&mut byte)?;
        round_trips_ns.push(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    echo.join()
        .map_err(|_| io::Error::other("echo thread panicked"))??;
    round_trips_ns.sort_unstable();
    let mut json = Json::new("wake", &common.label);
    json.int("count", count as u64);
    json.float("p50_us", percentile(&round_trips_ns, 0.50) as f64 / 1e3);
    json.float("p99_us", percentile(&round_trips_ns, 0.99) as f64 / 1e3);
    Ok(json.finish())
}

//! Connections: open C clients with H handshakes in flight, optionally one
//! subscription each, and read the broker's RSS idle, with C connections,
//! and with C subscriptions (settled each time), to give bytes per idle
//! connection and per subscription.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use argh::FromArgs;

use crate::client::Client;
use crate::report::{rss_kib, CpuMeter, Json};
use crate::Common;

/// Read buffer per held connection: they stay idle, so small.
const IDLE_BUFFER: usize = 4096;

/// C connections (and subscriptions), connect rate and broker memory
#[derive(FromArgs)]
#[argh(subcommand, name = "conns")]
pub struct Args {
    /// connections (default 10000)
    #[argh(option, default = "10_000")]
    count: usize,
    /// handshakes in flight (default 64)
    #[argh(option, default = "64")]
    inflight: usize,
    /// also subscribe each connection to its own topic
    #[argh(switch)]
    subscribe: bool,
    /// wait before each RSS reading, in ms (default 1000)
    #[argh(option, default = "1000")]
    settle_ms: u64,
}

struct Phase {
    ok: usize,
    failed: usize,
    seconds: f64,
    first_error: Option<String>,
}

pub fn run(common: &Common, args: &Args) -> std::io::Result<String> {
    let settle = Duration::from_millis(args.settle_ms);
    let mut json = Json::new("conns", &common.label);
    json.int("count", args.count as u64);
    json.int("inflight", args.inflight as u64);
    let rss = |json: &mut Json, key: &str| -> Option<u64> {
        let kib = common.pid.and_then(rss_kib);
        if let Some(kib) = kib {
            json.int(key, kib);
        }
        kib
    };
    let idle = rss(&mut json, "rss_idle_kib");

    let workers = args.inflight.clamp(1, args.count.max(1));
    // Per worker: how many of its connections are subscribed, and them.
    type Held = Mutex<(usize, Vec<(usize, Client)>)>;
    let held: Vec<Held> = (0..workers).map(|_| Mutex::new((0, Vec::new()))).collect();
    let cpu = CpuMeter::start(common.pid);
    let connect = phase(workers, |w, next| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= args.count || Instant::now() > common.deadline {
            return None;
        }
        let result = Client::connect(common.addr, &common.client_id("c", i), IDLE_BUFFER)
            .map(|c| {
                if let Some(slot) = held.get(w) {
                    if let Ok(mut v) = slot.lock() {
                        v.1.push((i, c));
                    }
                }
            });
        Some(result)
    });
    cpu.stop(connect.seconds, &mut json);
    put_phase(&mut json, "connect", &connect);
    thread::sleep(settle);
    let with_conns = rss(&mut json, "rss_conns_kib");
    if let (Some(a), Some(b)) = (idle, with_conns) {
        let per = b.saturating_sub(a).saturating_mul(1024) / connect.ok.max(1) as u64;
        json.int("bytes_per_conn", per);
    }

    if args.subscribe {
        let sub = phase(workers, |w, next| {
            // Worker w subscribes the connections it opened, one per call.
            let slot = held.get(w)?;
            let mut held = slot.lock().ok()?;
            let (cursor, clients) = &mut *held;
            let (i, client) = clients.get_mut(*cursor)?;
            *cursor += 1;
            let _ = next;
            Some(client.subscribe(&format!("bench/c/{i}"), 0))
        });
        put_phase(&mut json, "subscribe", &sub);
        thread::sleep(settle);
        let with_subs = rss(&mut json, "rss_subs_kib");
        if let (Some(a), Some(b)) = (with_conns, with_subs) {
            let per = b.saturating_sub(a).saturating_mul(1024) / sub.ok.max(1) as u64;
            json.int("bytes_per_sub", per);
        }
    }
    json.int("lost", 0);
    json.int("duplicated", 0);
    json.int("out_of_order", 0);
    drop(held);
    Ok(json.finish())
}

/// Runs `step` on `workers` threads until each returns `None`; counts
/// successes and failures and times the whole.
fn phase<F>(workers: usize, step: F) -> Phase
where
    F: Fn(usize, &AtomicUsize) -> Option<std::io::Result<()>> + Sync,
{
    let next = AtomicUsize::new(0);
    let ok = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let first_error = Mutex::new(None::<String>);
    let started = Instant::now();
    thread::scope(|scope| {
        for w in 0..workers {
            let (step, next, ok, failed, first_error) = (&step, &next, &ok, &failed, &first_error);
            scope.spawn(move || {
                while let Some(result) = step(w, next) {
                    match result {
                        Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert_with(|| e.to_string());
                            }
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            });
        }
    });
    Phase {
        ok: ok.into_inner(),
        failed: failed.into_inner(),
        seconds: started.elapsed().as_secs_f64(),
        first_error: first_error.into_inner().ok().flatten(),
    }
}

fn put_phase(json: &mut Json, name: &str, phase: &Phase) {
    json.int(&format!("{name}_ok"), phase.ok as u64);
    json.int(&format!("{name}_failed"), phase.failed as u64);
    json.float(&format!("{name}_s"), phase.seconds);
    let rate = if phase.seconds > 0.0 {
        phase.ok as f64 / phase.seconds
    } else {
        0.0
    };
    json.float(&format!("{name}_per_s"), rate);
    if let Some(e) = &phase.first_error {
        json.text(&format!("{name}_error"), e);
    }
}

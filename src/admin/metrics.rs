//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4):
//! `edgemq_…_total` counters, `edgemq_…` gauges (`_bytes` for sizes),
//! labels `listener` and `bridge`. Names follow the Prometheus naming
//! conventions; each family has one `# HELP` and one `# TYPE` line.

use std::fmt::Write;

use crate::sys::Snapshot;

/// The text for one scrape: one family after another, so it is long
/// the way a list is long.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::with_capacity(8192);
    let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
        family(out, name, "gauge", help);
        let _ = writeln!(out, "edgemq_{name} {value}");
    };
    gauge(
        &mut out,
        "uptime_seconds",
        "Seconds since the broker started.",
        s.uptime_secs,
    );
    gauge(
        &mut out,
        "clients_connected",
        "Clients connected now.",
        s.clients_connected,
    );
    gauge(
        &mut out,
        "clients_disconnected",
        "Persistent sessions whose client is offline.",
        s.clients_disconnected,
    );
    gauge(
        &mut out,
        "clients_maximum",
        "The most clients connected at once.",
        s.clients_maximum,
    );
    gauge(
        &mut out,
        "sessions",
        "Sessions, online and offline.",
        s.clients_total,
    );
    gauge(
        &mut out,
        "connections",
        "Sockets open, handshakes included.",
        s.connections,
    );
    gauge(
        &mut out,
        "subscriptions",
        "Subscriptions of every session.",
        s.subscriptions,
    );
    gauge(
        &mut out,
        "shared_subscriptions",
        "Members of shared-subscription groups (also in subscriptions).",
        s.shared_subscriptions,
    );
    gauge(
        &mut out,
        "shared_groups",
        "Shared-subscription groups.",
        s.shared_groups,
    );
    gauge(
        &mut out,
        "retained_messages",
        "Retained messages held.",
        s.retained,
    );
    gauge(
        &mut out,
        "queued_messages",
        "Messages waiting in session queues.",
        s.queued,
    );
    gauge(
        &mut out,
        "inflight_messages",
        "QoS 1/2 messages sent and not acknowledged.",
        s.inflight,
    );
    if let Some(rss) = s.facts.resident_bytes {
        gauge(
            &mut out,
            "resident_memory_bytes",
            "Resident set size of the process.",
            rss,
        );
    }
    if let Some(bytes) = s.facts.store_bytes {
        gauge(&mut out, "store_bytes", "Size of the store on disk.", bytes);
    }
    let counter = |out: &mut String, name: &str, help: &str, value: u64| {
        family(out, &format!("{name}_total"), "counter", help);
        let _ = writeln!(out, "edgemq_{name}_total {value}");
    };
    if let Some(errors) = s.facts.store_write_errors {
        counter(
            &mut out,
            "store_write_errors",
            "Failed store writes and flushes.",
            errors,
        );
    }
    counter(
        &mut out,
        "publish_dropped",
        "Messages dropped at a limit.",
        s.publish_dropped,
    );
    // Every broker counter, by its own name (README.md, "Limits").
    for (name, value) in &s.counters {
        let name = name
            .strip_suffix("_ms")
            .map_or_else(|| (*name).to_owned(), |base| format!("{base}_milliseconds"));
        counter(
            &mut out,
            &name,
            "See README.md, \"Operating edgemq\".",
            *value,
        );
    }
    listeners(&mut out, s);
    bridges(&mut out, s);
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP edgemq_{name} {help}");
    let _ = writeln!(out, "# TYPE edgemq_{name} {kind}");
}

/// A label value, escaped as the format asks (`\\`, `\"`, `\n`).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A family's name, type, help and how to read its value.
type Series<T> = (&'static str, &'static str, &'static str, fn(&T) -> u64);

fn listeners(out: &mut String, s: &Snapshot) {
    let series: [Series<crate::sys::ListenerNumbers>; 3] = [
        (
            "listener_connections",
            "gauge",
            "Connections open on the listener.",
            |l| l.connections,
        ),
        (
            "listener_refused_total",
            "counter",
            "Connections refused at the listener's max_connections.",
            |l| l.refused,
        ),
        (
            "listener_rate_limited_total",
            "counter",
            "Connections closed over the listener's max_connection_rate.",
            |l| l.rate_limited,
        ),
    ];
    labelled(out, "listener", &series, &s.listeners, |l| &l.label);
}

fn bridges(out: &mut String, s: &Snapshot) {
    if s.bridges.is_empty() {
        return;
    }
    let series: [Series<crate::sys::BridgeNumbers>; 7] = [
        (
            "bridge_up",
            "gauge",
            "1 while the bridge's link is up.",
            |b| u64::from(b.up),
        ),
        (
            "bridge_queue_messages",
            "gauge",
            "Messages in the bridge's uplink queue.",
            |b| b.queue_len,
        ),
        (
            "bridge_queue_bytes",
            "gauge",
            "Bytes in the bridge's uplink queue.",
            |b| b.queue_bytes,
        ),
        (
            "bridge_sent_total",
            "counter",
            "Messages sent to the remote.",
            |b| b.sent,
        ),
        (
            "bridge_dropped_total",
            "counter",
            "Messages dropped for the remote.",
            |b| b.dropped,
        ),
        (
            "bridge_received_total",
            "counter",
            "Messages received from the remote.",
            |b| b.received,
        ),
        (
            "bridge_state_changes_total",
            "counter",
            "Times the link came up or went down.",
            |b| b.state_changes,
        ),
    ];
    labelled(out, "bridge", &series, &s.bridges, |b| &b.name);
}

/// Each family of `series`, one sample per item labelled `key="..."`.
fn labelled<T>(
    out: &mut String,
    key: &str,
    series: &[Series<T>],
    items: &[T],
    label_of: fn(&T) -> &str,
) {
    for (name, kind, help, value) in series {
        family(out, name, kind, help);
        for item in items {
            let _ = writeln!(
                out,
                "edgemq_{name}{{{key}=\"{}\"}} {}",
                label(label_of(item)),
                value(item)
            );
        }
    }
}

//! The admin API's JSON bodies (README.md, "Operating edgemq"): times in
//! ms since the epoch, counts as numbers, absent values as null.

use crate::auth::base64::{self, Alphabet};
use crate::broker::{ClientDetail, ClientSummary, RetainedSummary, Tailed};
use crate::codec::SubscriptionOptions;
use crate::sys::json::{Array, Object};
use crate::sys::{BridgeNumbers, Snapshot};

const LOAD_NAMES: [&str; 4] = [
    "messages_received",
    "messages_sent",
    "bytes_received",
    "bytes_sent",
];

/// `GET /stats`: the numbers of the `$SYS` tree, then every counter.
pub fn stats(s: &Snapshot) -> String {
    let mut out = String::with_capacity(4096);
    let mut o = Object::new(&mut out);
    o.u64("uptime_secs", s.uptime_secs)
        .opt_u64("now", s.facts.wall_ms)
        .u64("clients_connected", s.clients_connected)
        .u64("clients_disconnected", s.clients_disconnected)
        .u64("clients_maximum", s.clients_maximum)
        .u64("clients_total", s.clients_total)
        .u64("clients_expired", s.clients_expired)
        .u64("connections", s.connections)
        .u64("messages_received", s.messages_received)
        .u64("messages_sent", s.messages_sent)
        .u64("bytes_received", s.bytes_received)
        .u64("bytes_sent", s.bytes_sent)
        .u64("publish_dropped", s.publish_dropped)
        .u64("subscriptions", s.subscriptions)
        .u64("shared_subscriptions", s.shared_subscriptions)
        .u64("shared_groups", s.shared_groups)
        .u64("retained", s.retained)
        .u64("queued", s.queued)
        .u64("inflight", s.inflight)
        .opt_u64("resident_bytes", s.facts.resident_bytes)
        .opt_u64("store_bytes", s.facts.store_bytes)
        .opt_u64("store_write_errors", s.facts.store_write_errors)
        .u64("trajectory_bytes", s.trajectory_bytes)
        .opt_u64("history_bytes", s.history_bytes)
        .raw("load", |out| {
            let mut load = Object::new(out);
            for (name, windows) in LOAD_NAMES.iter().zip(s.loads.0) {
                load.raw(name, |out| {
                    Object::new(out)
                        .f64("1min", windows[0])
                        .f64("5min", windows[1])
                        .f64("15min", windows[2])
                        .end();
                });
            }
            load.end();
        })
        .raw("counters", |out| {
            let mut counters = Object::new(out);
            for (name, value) in &s.counters {
                counters.u64(name, *value);
            }
            counters.end();
        })
        .raw("listeners", |out| {
            let mut list = Array::new(out);
            for l in &s.listeners {
                list.item(|out| {
                    Object::new(out)
                        .str("listener", &l.label)
                        .u64("connections", l.connections)
                        .u64("refused", l.refused)
                        .u64("rate_limited", l.rate_limited)
                        .end();
                });
            }
            list.end();
        })
        .raw("bridges", |out| bridge_array(out, &s.bridges));
    o.end();
    out
}

/// `GET /bridges`.
pub fn bridges(list: &[BridgeNumbers]) -> String {
    let mut out = String::new();
    Object::new(&mut out)
        .raw("data", |out| bridge_array(out, list))
        .end();
    out
}

fn bridge_array(out: &mut String, list: &[BridgeNumbers]) {
    let mut array = Array::new(out);
    for b in list {
        array.item(|out| {
            Object::new(out)
                .str("name", &b.name)
                .str("remote_clientid", &b.client_id)
                .str("state", if b.up { "up" } else { "down" })
                .u64("queue_length", b.queue_len)
                .u64("queue_bytes", b.queue_bytes)
                .u64("queued", b.queued)
                .u64("sent", b.sent)
                .u64("dropped", b.dropped)
                .u64("received", b.received)
                .u64("state_changes", b.state_changes)
                .end();
        });
    }
    array.end();
}

/// `GET /clients`: `{"data": [...], "meta": {page, limit, count}}`.
pub fn client_page(list: &[ClientSummary], page: usize, limit: usize, count: usize) -> String {
    let mut out = String::with_capacity(256 * list.len() + 64);
    Object::new(&mut out)
        .raw("data", |out| {
            let mut array = Array::new(out);
            for c in list {
                array.item(|out| {
                    let mut o = Object::new(out);
                    summary(&mut o, c);
                    o.end();
                });
            }
            array.end();
        })
        .raw("meta", |out| meta(out, page, limit, count))
        .end();
    out
}

fn meta(out: &mut String, page: usize, limit: usize, count: usize) {
    Object::new(out)
        .u64("page", page as u64)
        .u64("limit", limit as u64)
        .u64("count", count as u64)
        .end();
}

fn summary(o: &mut Object<'_>, c: &ClientSummary) {
    let ip = c.ip.map(|ip| ip.to_string());
    o.str("clientid", &c.client_id)
        .opt_str("username", c.username.as_deref())
        .bool("connected", c.connected)
        .opt_str("ip", ip.as_deref())
        .opt_u64("port", c.port.map(u64::from))
        .opt_str("listener", c.listener.as_deref())
        .u64("protocol", u64::from(c.protocol))
        .bool("clean", c.clean)
        .opt_u64("keepalive", c.keepalive.map(u64::from))
        .opt_u64("connected_at", c.connected_at)
        .opt_u64("disconnected_at", c.disconnected_at)
        .opt_u64("expiry_secs", c.expiry_secs)
        .u64("subscriptions", c.subscriptions as u64)
        .u64("queued", c.queued as u64)
        .u64("inflight", c.inflight as u64);
}

/// `GET /clients/{id}`.
pub fn client_detail(d: &ClientDetail) -> String {
    let mut out = String::with_capacity(512);
    let mut o = Object::new(&mut out);
    summary(&mut o, &d.summary);
    o.raw("subscription_list", |out| {
        subscription_array(out, &d.subscriptions)
    });
    o.end();
    out
}

/// `GET /clients/{id}/subscriptions`.
pub fn subscriptions(list: &[(String, SubscriptionOptions)]) -> String {
    let mut out = String::new();
    Object::new(&mut out)
        .raw("data", |out| subscription_array(out, list))
        .end();
    out
}

fn subscription_array(out: &mut String, list: &[(String, SubscriptionOptions)]) {
    let mut array = Array::new(out);
    for (filter, options) in list {
        array.item(|out| {
            Object::new(out)
                .str("filter", filter)
                .u64("qos", options.qos as u64)
                .bool("no_local", options.no_local)
                .bool("retain_as_published", options.retain_as_published)
                .u64("retain_handling", options.retain_handling as u64)
                .end();
        });
    }
    array.end();
}

/// `GET /groups`.
pub fn groups(groups: &std::collections::BTreeMap<String, u64>) -> String {
    let mut out = String::new();
    Object::new(&mut out)
        .raw("data", |out| {
            let mut array = Array::new(out);
            for (group, online) in groups {
                array.item(|out| {
                    Object::new(out)
                        .str("group", group)
                        .u64("online", *online)
                        .end()
                });
            }
            array.end();
        })
        .end();
    out
}

/// `GET /retained`, one page.
pub fn retained(list: &[RetainedSummary], page: usize, limit: usize, count: usize) -> String {
    let mut out = String::new();
    Object::new(&mut out)
        .raw("data", |out| {
            let mut array = Array::new(out);
            for r in list {
                array.item(|out| {
                    Object::new(out)
                        .str("topic", &r.topic)
                        .u64("qos", u64::from(r.qos))
                        .u64("bytes", r.bytes as u64)
                        .opt_str("payload", r.payload.as_deref())
                        .end();
                });
            }
            array.end();
        })
        .raw("meta", |out| meta(out, page, limit, count))
        .end();
    out
}

/// `GET /tail`: the last sequence number and the messages after the one
/// asked for; `payload` is the kept bytes as text when they are UTF-8.
pub fn tail(last: u64, messages: &[Tailed]) -> String {
    let mut out = String::with_capacity(128 * messages.len() + 32);
    Object::new(&mut out)
        .u64("seq", last)
        .raw("messages", |out| {
            let mut array = Array::new(out);
            for m in messages {
                array.item(|out| {
                    Object::new(out)
                        .u64("seq", m.seq)
                        .opt_u64("ts", m.ts)
                        .str("topic", &m.topic)
                        .u64("qos", u64::from(m.qos))
                        .bool("retain", m.retain)
                        .u64("bytes", m.bytes as u64)
                        .opt_str("payload", std::str::from_utf8(&m.payload).ok())
                        .str(
                            "payload_base64",
                            &base64::encode(&m.payload, Alphabet::Standard),
                        )
                        .end();
                });
            }
            array.end();
        })
        .end();
    out
}

//! The admin API's trajectory and history routes (README.md, "Operating
//! edgemq"; docs/observability.md, "Trajectories and message history"):
//!
//! - `GET /api/v1/clients/{id}/trajectory?since=&until=&limit=&cursor=`:
//!   `{"events":[{"ts","event","details"}],"next"}`;
//! - `GET /api/v1/messages?filter=&since=&until=&limit=&cursor=`:
//!   `{"messages":[{"ts","topic","qos","retain","payload",
//!   "payload_base64"}],"next"}`.
//!
//! Newest first; `since` and `until` (ms since the epoch) are inclusive;
//! `next` is the cursor of the following page, null after the last.
//! Without `history_topic` the messages list is empty and `enabled` false.
//! `limit` 100 by default, at most 1,000.

use crate::auth::base64::{encode, Alphabet};
use crate::broker::Broker;
use crate::sys::history_log::HistoryPage;
use crate::sys::json::{Array, Object};
use crate::sys::timeline::Window;

use super::http::{Request, Response};
use super::router::{DEFAULT_LIMIT, MAX_LIMIT};

/// `since`, `until`, `limit` and `cursor` (400 when not numbers in range).
fn window(request: &Request) -> Result<Window, Response> {
    let number = |name: &str| match request.param(name) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Response::error(400, &format!("{name} must be a whole number"))),
    };
    let limit = match number("limit")? {
        None => DEFAULT_LIMIT,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Response::error(
                    400,
                    &format!("limit must be a number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    Ok(Window {
        since: number("since")?,
        until: number("until")?,
        limit,
        cursor: number("cursor")?,
    })
}

/// A page's answer stops near this many bytes (at least one message is
/// always sent): a thousand large payloads would not fit a router's RAM
/// nor `edgemq ctl`'s 4 MiB answer bound.
pub const MAX_PAGE_BYTES: usize = 1 << 20;

/// Drops the messages past `MAX_PAGE_BYTES` of answer (the payload twice,
/// as text and base64); `next` then points after the last one kept.
fn cut_to_size(page: &mut HistoryPage) {
    let mut bytes = 0usize;
    let keep = page
        .entries
        .iter()
        .position(|e| {
            bytes = bytes.saturating_add(128 + e.item.topic.len() + e.item.payload.len() * 7 / 2);
            bytes > MAX_PAGE_BYTES
        })
        .map_or(page.entries.len(), |at| at.max(1));
    if keep < page.entries.len() {
        page.entries.truncate(keep);
        page.next = page.entries.last().map(|e| e.seq);
    }
}

fn next(out: &mut Object<'_>, next: Option<u64>) {
    match next {
        Some(seq) => out.str("next", &seq.to_string()),
        None => out.null("next"),
    };
}

pub fn trajectory(broker: &Broker, request: &Request, client_id: &str) -> Response {
    let window = match window(request) {
        Ok(w) => w,
        Err(response) => return response,
    };
    let page = broker.trajectory_page(client_id, window);
    let mut body = String::with_capacity(256 * page.entries.len() + 64);
    let mut o = Object::new(&mut body);
    o.raw("events", |out| {
        let mut list = Array::new(out);
        for e in &page.entries {
            list.item(|out| {
                Object::new(out)
                    .u64("ts", e.ts)
                    .str("event", e.item.kind.name())
                    .raw("details", |out| out.push_str(&e.item.details))
                    .end();
            });
        }
        list.end();
    });
    next(&mut o, page.next);
    o.end();
    Response::json(200, body)
}

pub fn messages(broker: &Broker, request: &Request) -> Response {
    let window = match window(request) {
        Ok(w) => w,
        Err(response) => return response,
    };
    let filter = request.param("filter").filter(|f| !f.is_empty());
    let page = match broker.history_page(filter, window) {
        Ok(page) => page,
        Err(why) => return Response::error(400, &format!("bad filter: {why}")),
    };
    let enabled = page.is_some();
    let mut page = page.unwrap_or_default();
    cut_to_size(&mut page);
    let mut body = String::with_capacity(256 * page.entries.len() + 64);
    let mut o = Object::new(&mut body);
    o.raw("messages", |out| {
        let mut list = Array::new(out);
        for e in &page.entries {
            let m = &e.item;
            list.item(|out| {
                Object::new(out)
                    .u64("ts", e.ts)
                    .str("topic", &m.topic)
                    .u64("qos", u64::from(m.qos))
                    .bool("retain", m.retain)
                    .opt_str("payload", std::str::from_utf8(&m.payload).ok())
                    .str("payload_base64", &encode(&m.payload, Alphabet::Standard))
                    .u64("bytes", m.payload.len() as u64)
                    .end();
            });
        }
        list.end();
    });
    next(&mut o, page.next);
    o.bool("enabled", enabled);
    o.end();
    Response::json(200, body)
}

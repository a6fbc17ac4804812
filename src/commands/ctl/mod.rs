//! `edgemq ctl [-c CONFIG] [--url URL] [--json] COMMAND` (README.md,
//! "Operating edgemq"): asks a running broker through its admin API and
//! prints aligned tables, or the API's JSON with `--json`. The API's
//! address and token come from the config file (`admin_listener`,
//! `admin_token_file` or `admin.token` in `persistence_location`). Exit
//! 0 on success; 1 with the API's message (or why it could not be asked).

mod args;
mod client;
mod table;
mod timeline;
mod when;

pub use args::{CtlArgs, CtlCommand, Range};

use std::net::SocketAddr;

use crate::admin::http::percent_encode;
use crate::admin::token::{read_token_file, token_path};
use crate::auth::json::{parse_bounded, Value, CTL_MAX_JSON_BYTES, CTL_MAX_VALUES};
use crate::config::Config;

use table::{cell, list, table};

/// `clients` fetches pages of this many (the API's most).
const PAGE: usize = crate::admin::router::MAX_LIMIT;

/// Pages fetched at most by one `clients` or `retained` (1,000 each).
const MAX_PAGES: usize = 1000;

/// Runs the command; returns the exit code.
pub fn run(args: &CtlArgs) -> i32 {
    let command = match args.command() {
        Ok(command) => command,
        Err(usage) => {
            eprintln!("edgemq ctl: {usage}");
            return 1;
        }
    };
    match execute(args, &command) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(message) => {
            eprintln!("edgemq ctl: {message}");
            1
        }
    }
}

/// The API's address and token, from the flags and the config file.
fn target(args: &CtlArgs) -> Result<(SocketAddr, String), String> {
    // The config is needed for the token unless both flags stand in.
    let config = match (&args.url, &args.token_file) {
        (Some(_), Some(_)) => None,
        _ => Some(
            Config::from_file(&args.config)
                .map(|(config, _)| config)
                .map_err(|e| e.to_string())?,
        ),
    };
    let addr = match (&args.url, &config) {
        (Some(url), _) => client::parse_url(url)?,
        (None, Some(config)) => client::reachable(config.admin_listener.ok_or_else(|| {
            format!(
                "{}: no admin_listener: the admin API is off",
                args.config.display()
            )
        })?),
        (None, None) => return Err("no address".to_owned()),
    };
    let path = match (&args.token_file, &config) {
        (Some(file), _) => file.clone(),
        (None, Some(c)) => token_path(c.admin_token_file.as_deref(), &c.persistence_location),
        (None, None) => return Err("no token".to_owned()),
    };
    Ok((addr, read_token_file(&path)?))
}

/// One request; the body, or `Err` with the API's message.
pub(super) fn call(
    target: &(SocketAddr, String),
    method: &str,
    path: &str,
) -> Result<String, String> {
    let answer = client::request(target.0, method, path, &target.1)?;
    if answer.status == 200 {
        return Ok(answer.body);
    }
    let message = parse(&answer.body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or(answer.body);
    Err(format!("{}: {message}", answer.status))
}

pub(super) fn parse(body: &str) -> Result<Value, String> {
    parse_bounded(body, CTL_MAX_JSON_BYTES, CTL_MAX_VALUES)
        .map_err(|e| format!("the admin API's answer is not JSON: {e}"))
}

fn execute(args: &CtlArgs, command: &CtlCommand) -> Result<String, String> {
    let t = target(args)?;
    let id = |id: &str| percent_encode(id);
    let (method, path) = match command {
        CtlCommand::Status => ("GET", "/api/v1/stats".to_owned()),
        CtlCommand::Clients { online } => return clients(&t, *online, args.json),
        CtlCommand::Client(c) => ("GET", format!("/api/v1/clients/{}", id(c))),
        CtlCommand::Kick { id: k, session } => {
            let session = if *session { "?session=true" } else { "" };
            ("DELETE", format!("/api/v1/clients/{}{session}", id(k)))
        }
        CtlCommand::Subs(s) => ("GET", format!("/api/v1/clients/{}/subscriptions", id(s))),
        CtlCommand::Unsub { id: u, filter } => (
            "DELETE",
            format!("/api/v1/clients/{}/subscriptions/{}", id(u), id(filter)),
        ),
        CtlCommand::Groups => ("GET", "/api/v1/groups".to_owned()),
        CtlCommand::Retained { filter } => return retained(&t, filter.as_deref(), args.json),
        CtlCommand::Bridges => ("GET", "/api/v1/bridges".to_owned()),
        CtlCommand::Reload => ("POST", "/api/v1/reload".to_owned()),
        CtlCommand::Trajectory { id: i, range } => {
            let path = format!("/api/v1/clients/{}/trajectory?{}", id(i), range.query());
            return timeline::trajectory(&t, &path, args.json);
        }
        CtlCommand::History { filter, range } => {
            let path = format!(
                "/api/v1/messages?filter={}&{}",
                percent_encode(filter),
                range.query()
            );
            return timeline::history(&t, &path, args.json);
        }
    };
    let body = call(&t, method, &path)?;
    if args.json {
        return Ok(format!("{body}\n"));
    }
    let v = parse(&body)?;
    Ok(match command {
        CtlCommand::Status => status(&v),
        CtlCommand::Client(_) => client_detail(&v),
        CtlCommand::Kick { id, .. } => kicked(id, &v),
        CtlCommand::Subs(_) => table(data(&v), SUB_COLUMNS),
        CtlCommand::Unsub { id, filter } => format!("removed {id}'s subscription to {filter}\n"),
        CtlCommand::Groups => table(data(&v), &[("GROUP", "group"), ("ONLINE", "online")]),
        CtlCommand::Bridges => table(data(&v), BRIDGE_COLUMNS),
        CtlCommand::Reload => {
            "reload requested: see the broker's log for what it applied\n".to_owned()
        }
        CtlCommand::Clients { .. }
        | CtlCommand::Retained { .. }
        | CtlCommand::Trajectory { .. }
        | CtlCommand::History { .. } => String::new(),
    })
}

fn data(v: &Value) -> &[Value] {
    match v.get("data") {
        Some(Value::Array(rows)) => rows,
        _ => &[],
    }
}

/// Every page of a paged list; the JSON of them all with `--json`.
fn pages(t: &(SocketAddr, String), path: &str, json: bool) -> Result<(Vec<Value>, String), String> {
    let mut rows = Vec::new();
    let mut bodies = Vec::new();
    for page in 1..=MAX_PAGES {
        let body = call(t, "GET", &format!("{path}page={page}&limit={PAGE}"))?;
        let v = parse(&body)?;
        let count = cell(v.get("meta").and_then(|m| m.get("count")))
            .parse::<usize>()
            .unwrap_or(0);
        let got = data(&v).len();
        rows.extend(data(&v).iter().cloned());
        if json {
            bodies.push(body);
        }
        if got == 0 || rows.len() >= count {
            break;
        }
    }
    Ok((rows, bodies.join("\n")))
}

const CLIENT_COLUMNS: &[(&str, &str)] = &[
    ("CLIENT ID", "clientid"),
    ("CONNECTED", "connected"),
    ("IP", "ip"),
    ("PORT", "port"),
    ("PROTO", "protocol"),
    ("CLEAN", "clean"),
    ("KEEPALIVE", "keepalive"),
    ("SUBS", "subscriptions"),
    ("QUEUED", "queued"),
    ("INFLIGHT", "inflight"),
    ("USERNAME", "username"),
];

const SUB_COLUMNS: &[(&str, &str)] = &[
    ("FILTER", "filter"),
    ("QOS", "qos"),
    ("NO LOCAL", "no_local"),
    ("RETAIN AS PUBLISHED", "retain_as_published"),
    ("RETAIN HANDLING", "retain_handling"),
];

const BRIDGE_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("REMOTE CLIENT ID", "remote_clientid"),
    ("STATE", "state"),
    ("QUEUE", "queue_length"),
    ("SENT", "sent"),
    ("DROPPED", "dropped"),
    ("RECEIVED", "received"),
    ("STATE CHANGES", "state_changes"),
];

fn clients(t: &(SocketAddr, String), online: bool, json: bool) -> Result<String, String> {
    let filter = if online { "online=true&" } else { "" };
    let (rows, bodies) = pages(t, &format!("/api/v1/clients?{filter}"), json)?;
    if json {
        return Ok(format!("{bodies}\n"));
    }
    Ok(table(&rows, CLIENT_COLUMNS))
}

fn retained(t: &(SocketAddr, String), filter: Option<&str>, json: bool) -> Result<String, String> {
    let filter = filter.map_or_else(String::new, |f| format!("filter={}&", percent_encode(f)));
    let (rows, bodies) = pages(t, &format!("/api/v1/retained?{filter}"), json)?;
    if json {
        return Ok(format!("{bodies}\n"));
    }
    let columns = [
        ("TOPIC", "topic"),
        ("QOS", "qos"),
        ("BYTES", "bytes"),
        ("PAYLOAD", "payload"),
    ];
    Ok(table(&rows, &columns))
}

fn status(v: &Value) -> String {
    let mut out = list(
        v,
        &[
            ("uptime (s)", "uptime_secs"),
            ("clients connected", "clients_connected"),
            ("clients disconnected", "clients_disconnected"),
            ("clients maximum", "clients_maximum"),
            ("clients total", "clients_total"),
            ("clients expired", "clients_expired"),
            ("messages received", "messages_received"),
            ("messages sent", "messages_sent"),
            ("bytes received", "bytes_received"),
            ("bytes sent", "bytes_sent"),
            ("messages dropped", "publish_dropped"),
            ("subscriptions", "subscriptions"),
            ("retained messages", "retained"),
            ("queued messages", "queued"),
            ("inflight messages", "inflight"),
            ("resident memory (bytes)", "resident_bytes"),
            ("store (bytes)", "store_bytes"),
            ("store write errors", "store_write_errors"),
        ],
    );
    if let Some(Value::Array(bridges)) = v.get("bridges") {
        if !bridges.is_empty() {
            out.push('\n');
            out.push_str(&table(bridges, BRIDGE_COLUMNS));
        }
    }
    out
}

fn client_detail(v: &Value) -> String {
    let mut out = list(
        v,
        &[
            ("client id", "clientid"),
            ("username", "username"),
            ("connected", "connected"),
            ("address", "ip"),
            ("port", "port"),
            ("listener", "listener"),
            ("protocol", "protocol"),
            ("clean", "clean"),
            ("keepalive (s)", "keepalive"),
            ("connected at (ms)", "connected_at"),
            ("disconnected at (ms)", "disconnected_at"),
            ("session expiry (s)", "expiry_secs"),
            ("queued", "queued"),
            ("inflight", "inflight"),
        ],
    );
    if let Some(Value::Array(subs)) = v.get("subscription_list") {
        out.push('\n');
        out.push_str(&table(subs, SUB_COLUMNS));
    }
    out
}

fn kicked(id: &str, v: &Value) -> String {
    let yes = |key: &str| matches!(v.get(key), Some(Value::Bool(true)));
    match (yes("kicked"), yes("session_deleted")) {
        (true, true) => format!("kicked {id} and deleted its session\n"),
        (true, false) => format!("kicked {id}\n"),
        (false, true) => format!("{id} was not connected; deleted its session\n"),
        (false, false) => format!("{id} was not connected\n"),
    }
}

//! Requests to responses (README.md, "Operating edgemq", the API table).
//! Every `/api/v1/...` and `/metrics` request needs the bearer token;
//! `GET /` does not. Errors are `{"code", "message"}`: 400 bad parameter,
//! 401 token, 404 unknown client or route, 405 wrong method.

use std::time::Instant;

use crate::broker::{Broker, ClientQuery};
use crate::sys::EdgeFacts;

use super::http::{percent_decode, Request, Response};
use super::{console, metrics, render, token};

/// `limit` without one, and its ceiling.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// What the caller must do besides answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    /// `POST /reload`: re-read the config, as SIGHUP does.
    Reload,
}

/// Answers one request. `facts` is asked only by the routes that show
/// them (stats, bridges, metrics): reading them costs a file read
/// (`/proc/self/statm`), a tenth of a small request's whole cost.
pub fn handle(
    broker: &mut Broker,
    now: Instant,
    facts: &dyn Fn() -> EdgeFacts,
    admin_token: &str,
    request: &Request,
) -> (Response, Action) {
    let path = request.path.as_str();
    if path == "/" {
        return (index(request), Action::None);
    }
    let api = path.strip_prefix("/api/v1/");
    if api.is_none() && path != "/metrics" {
        return (Response::error(404, "no such route"), Action::None);
    }
    if !token::authorized(request.authorization.as_deref(), admin_token) {
        broker.count_admin_refusal(now, 401, "missing or wrong token");
        let response = Response::error(401, "missing or wrong bearer token")
            .with_header("WWW-Authenticate", "Bearer");
        return (response, Action::None);
    }
    let Some(api) = api else {
        return (
            only_get(request, || metrics_response(broker, now, facts())),
            Action::None,
        );
    };
    let segments: Vec<&str> = api.split('/').collect();
    let method = request.method.as_str();
    let response = match (method, segments.as_slice()) {
        ("GET", ["stats"]) => Response::json(200, render::stats(&broker.snapshot(now, facts()))),
        ("GET", ["clients"]) => clients(broker, now, request),
        (_, ["clients", id]) => client(broker, now, request, id),
        ("GET", ["clients", id, "subscriptions"]) => with_id(id, |id| {
            broker.client(now, &id).map_or_else(
                || unknown_client(&id),
                |d| Response::json(200, render::subscriptions(&d.subscriptions)),
            )
        }),
        ("GET", ["clients", id, "trajectory"]) => {
            with_id(id, |id| console::trajectory(broker, request, &id))
        }
        ("GET", ["messages"]) => console::messages(broker, request),
        ("DELETE", ["clients", id, "subscriptions", filter]) => {
            unsubscribe(broker, now, id, filter)
        }
        ("GET", ["groups"]) => Response::json(200, render::groups(&broker.groups())),
        ("GET", ["retained"]) => retained(broker, now, request),
        ("GET", ["bridges"]) => {
            Response::json(200, render::bridges(&broker.snapshot(now, facts()).bridges))
        }
        ("POST", ["reload"]) => {
            let body = "{\"code\":200,\"message\":\"reloading the configuration\"}";
            return (Response::json(200, body.to_owned()), Action::Reload);
        }
        (
            _,
            ["stats" | "clients" | "groups" | "retained" | "bridges" | "reload" | "messages", ..],
        ) => Response::error(405, "method not allowed on this route"),
        _ => Response::error(404, "no such route"),
    };
    (response, Action::None)
}

fn index(request: &Request) -> Response {
    only_get(request, || Response {
        status: 200,
        content_type: "text/plain; charset=utf-8",
        headers: Vec::new(),
        body: "edgemq admin API: /api/v1/stats, /api/v1/clients, /api/v1/groups, \
               /api/v1/retained, /api/v1/bridges, /api/v1/messages, \
               /api/v1/clients/ID/trajectory, /metrics (Authorization: Bearer TOKEN)\n"
            .to_owned(),
    })
}

fn only_get(request: &Request, f: impl FnOnce() -> Response) -> Response {
    if request.method == "GET" {
        f()
    } else {
        Response::error(405, "method not allowed on this route")
    }
}

fn metrics_response(broker: &Broker, now: Instant, facts: EdgeFacts) -> Response {
    Response {
        status: 200,
        content_type: "text/plain; version=0.0.4; charset=utf-8",
        headers: Vec::new(),
        body: metrics::render(&broker.snapshot(now, facts)),
    }
}

fn unknown_client(id: &str) -> Response {
    Response::error(404, &format!("no client {id:?}"))
}

/// Decodes a path segment and calls `f` with it (400 if it is broken).
fn with_id(raw: &str, f: impl FnOnce(String) -> Response) -> Response {
    match percent_decode(raw, false).filter(|s| !s.is_empty()) {
        Some(id) => f(id),
        None => Response::error(400, "bad percent-encoding in the path"),
    }
}

/// `page` and `limit` (400 when not numbers in range).
fn paging(request: &Request) -> Result<(usize, usize), Response> {
    let number = |name: &str, default: usize, max: usize| match request.param(name) {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                Response::error(400, &format!("{name} must be a number from 1 to {max}"))
            }),
    };
    Ok((
        number("page", 1, usize::MAX / MAX_LIMIT)?,
        number("limit", DEFAULT_LIMIT, MAX_LIMIT)?,
    ))
}

fn clients(broker: &Broker, now: Instant, request: &Request) -> Response {
    let (page, limit) = match paging(request) {
        Ok(p) => p,
        Err(response) => return response,
    };
    let online = match request.param("online") {
        None | Some("") => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(_) => return Response::error(400, "online must be true or false"),
    };
    let query = ClientQuery {
        online,
        prefix: request
            .param("prefix")
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        username: request
            .param("username")
            .filter(|u| !u.is_empty())
            .map(str::to_owned),
        page,
        limit,
    };
    let (list, count) = broker.clients(now, &query);
    Response::json(200, render::client_page(&list, page, limit, count))
}

fn client(broker: &mut Broker, now: Instant, request: &Request, id: &str) -> Response {
    with_id(id, |id| match request.method.as_str() {
        "GET" => broker.client(now, &id).map_or_else(
            || unknown_client(&id),
            |d| Response::json(200, render::client_detail(&d)),
        ),
        "DELETE" => {
            let delete_session = match request.param("session") {
                None | Some("" | "false" | "0") => false,
                Some("true" | "1") => true,
                Some(_) => return Response::error(400, "session must be true or false"),
            };
            match broker.kick(now, &id, delete_session) {
                None => unknown_client(&id),
                Some((kicked, deleted)) => Response::json(
                    200,
                    format!("{{\"kicked\":{kicked},\"session_deleted\":{deleted}}}"),
                ),
            }
        }
        _ => Response::error(405, "method not allowed on this route"),
    })
}

fn unsubscribe(broker: &mut Broker, now: Instant, id: &str, filter: &str) -> Response {
    with_id(id, |id| {
        with_id(filter, |filter| {
            match broker.unsubscribe_client(now, &id, &filter) {
                None => unknown_client(&id),
                Some(false) => {
                    Response::error(404, &format!("{id:?} has no subscription {filter:?}"))
                }
                Some(true) => Response::json(200, "{\"removed\":true}".to_owned()),
            }
        })
    })
}

fn retained(broker: &Broker, now: Instant, request: &Request) -> Response {
    let (page, limit) = match paging(request) {
        Ok(p) => p,
        Err(response) => return response,
    };
    let filter = request.param("filter").filter(|f| !f.is_empty());
    match broker.retained_list(now, filter) {
        Ok(list) => {
            let count = list.len();
            let skip = (page - 1).saturating_mul(limit);
            let shown: Vec<_> = list.into_iter().skip(skip).take(limit).collect();
            Response::json(200, render::retained(&shown, page, limit, count))
        }
        Err(why) => Response::error(400, &format!("bad filter: {why}")),
    }
}

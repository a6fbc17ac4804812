//! The web console (README.md, "Operating edgemq"; feature `console`):
//! `GET /` serves the one embedded page without a token and with a
//! policy that lets it fetch nothing from elsewhere; then a real browser
//! (Debian's `chromium`, headless, driven through `chromedriver`'s W3C
//! WebDriver HTTP API, plain JSON over a TcpStream) opens it, enters the
//! token, finds a connected client, shows its trajectory and kicks it,
//! and the client's socket is closed. Skipped, saying why, when chromium
//! or chromedriver is not installed (`.ci/run` installs both).

#![cfg(feature = "console")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{admin_addr, admin_token, call};
use common::{scaled, Broker, RawClient};
use edgemq::auth::json::{parse_bounded, Value};
use edgemq::sys::json::push_string;

const ADMIN: &str = "admin_listener 127.0.0.1:0\nsys_interval 0\n";

#[test]
fn the_page_is_served_without_a_token_and_fetches_nothing_elsewhere() {
    let broker = Broker::start(ADMIN);
    let answer = call(admin_addr(&broker), "GET", "/", None);
    assert_eq!(answer.status, 200);
    assert!(
        answer.head.contains("content-type: text/html"),
        "{}",
        answer.head
    );
    assert!(
        answer
            .head
            .contains("content-security-policy: default-src 'none'"),
        "{}",
        answer.head
    );
    assert!(answer.body.starts_with("<!doctype html>"));
    // Nothing loaded from elsewhere, and the token goes in a header only.
    for outside in ["src=\"http", "href=\"http", "<script src", "<link "] {
        assert!(!answer.body.contains(outside), "{outside}");
    }
    assert!(answer
        .body
        .contains("\"Authorization\": \"Bearer \" + token"));
    assert!(answer.body.contains("sessionStorage"));
    assert_eq!(call(admin_addr(&broker), "POST", "/", None).status, 405);
}

/// The browser's tools, or why the test cannot run.
fn browser_tools() -> Result<(String, String), String> {
    let find = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("/usr/bin/{n}"))
            .find(|p| Path::new(p).exists())
    };
    let chromium = find(&["chromium", "chromium-browser"])
        .ok_or("chromium is not installed (apt-get install chromium)")?;
    let driver = find(&["chromedriver"])
        .ok_or("chromedriver is not installed (apt-get install chromium-driver)")?;
    Ok((chromium, driver))
}

/// chromedriver, killed (by its own pid) when dropped.
struct Driver {
    child: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = request(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            "",
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver command: its `value`, or `Err` with the error's text.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Result<Value, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(scaled(Duration::from_secs(60))))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    s.write_all(body.as_bytes()).map_err(|e| e.to_string())?;
    // chromedriver may keep the connection open: read the head, then
    // Content-Length bytes.
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    let body_at = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return Err("no answer".to_owned()),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&bytes[..body_at]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .ok_or("no Content-Length")?;
    while bytes.len() < body_at + length {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return Err("short answer".to_owned()),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
    let json = String::from_utf8_lossy(&bytes[body_at..body_at + length]).into_owned();
    let json = json.as_str();
    let v = parse_bounded(json, 1 << 22, 1 << 20).map_err(|e| format!("{e}: {json}"))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if let Some(error) = value.get("error") {
        return Err(format!("{error:?}: {:?}", value.get("message")));
    }
    Ok(value)
}

fn json_str(s: &str) -> String {
    let mut out = String::new();
    push_string(&mut out, s);
    out
}

impl Driver {
    fn start(chromium: &str, driver: &str) -> Driver {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let child = Command::new(driver)
            .arg(format!("--port={}", addr.port()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let mut d = Driver {
            child,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let deadline = Instant::now() + scaled(Duration::from_secs(20));
        while request(addr, "GET", "/status", "").is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ]
        .iter()
        .map(|a| json_str(a))
        .chain([json_str(&format!(
            "--user-data-dir={}",
            d._profile.path().display()
        ))])
        .collect::<Vec<_>>()
        .join(",");
        let caps = format!(
            "{{\"capabilities\":{{\"alwaysMatch\":{{\"browserName\":\"chrome\",\
             \"goog:chromeOptions\":{{\"binary\":{},\"args\":[{args}]}}}}}}}}",
            json_str(chromium)
        );
        let v = request(addr, "POST", "/session", &caps).unwrap();
        d.session = match v.get("sessionId") {
            Some(Value::String(s)) => s.clone(),
            other => panic!("no session: {other:?}"),
        };
        d
    }

    fn cmd(&self, method: &str, path: &str, body: &str) -> Value {
        let path = format!("/session/{}{path}", self.session);
        request(self.addr, method, &path, body).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Runs `script` (a function body; `arguments` as WebDriver passes it).
    fn run(&self, script: &str, args: &[&str]) -> Value {
        let args: Vec<String> = args.iter().map(|a| json_str(a)).collect();
        let body = format!(
            "{{\"script\":{},\"args\":[{}]}}",
            json_str(script),
            args.join(",")
        );
        self.cmd("POST", "/execute/sync", &body)
    }

    /// The element `css` selects, waiting for it to appear.
    fn element(&self, css: &str) -> String {
        let body = format!("{{\"using\":\"css selector\",\"value\":{}}}", json_str(css));
        let deadline = Instant::now() + scaled(Duration::from_secs(15));
        loop {
            let path = format!("/session/{}/element", self.session);
            if let Ok(Value::Object(fields)) = request(self.addr, "POST", &path, &body) {
                // The W3C element reference: the object's one value.
                if let Some((_, Value::String(id))) = fields.into_iter().next() {
                    return id;
                }
            }
            assert!(Instant::now() < deadline, "no element {css}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.cmd("POST", &format!("/element/{id}/click"), "{}");
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        let body = format!("{{\"text\":{}}}", json_str(text));
        self.cmd("POST", &format!("/element/{id}/value"), &body);
    }

    /// Waits until the text of `css` contains `needle`; returns the text.
    fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + scaled(Duration::from_secs(15));
        let script =
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';";
        loop {
            let text = match self.run(script, &[css]) {
                Value::String(s) => s,
                _ => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed {needle:?}: {text:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn a_browser_logs_in_finds_a_client_shows_its_trajectory_and_kicks_it() {
    let (chromium, driver) = match browser_tools() {
        Ok(tools) => tools,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let broker = Broker::start(ADMIN);
    let (admin, token) = (admin_addr(&broker), admin_token(&broker));
    let (mut client, code) = RawClient::connect_mqtt(broker.addr(), "console-client");
    assert_eq!(code, Some(0));

    let d = Driver::start(&chromium, &driver);
    let url = format!("http://{admin}/");
    d.cmd("POST", "/url", &format!("{{\"url\":{}}}", json_str(&url)));
    // The token, typed once; nothing of it in the address afterwards.
    d.type_into("#token", &token);
    d.click("#login-button");
    d.wait_text("#status-grid", "clients connected");
    let href = d.run("return location.href;", &[]);
    assert_eq!(href, Value::String(url.clone()));
    assert_eq!(
        d.run("return sessionStorage.getItem('edgemq-token');", &[]),
        Value::String(token.clone())
    );

    d.click("nav button[data-tab=clients]");
    d.click("tr[data-id=console-client]");
    d.wait_text("#detail-id", "console-client");
    // The trajectory as the API has it: the connect first of all.
    let api = call(
        admin,
        "GET",
        "/api/v1/clients/console-client/trajectory",
        Some(&token),
    );
    assert_eq!(api.status, 200, "{}", api.body);
    assert!(api.body.contains("\"event\":\"connect\""), "{}", api.body);
    let shown = d.wait_text("#trajectory", "connect");
    assert!(shown.contains("127.0.0.1"), "{shown}");

    // Kick: armed by the first click, done by the second.
    d.click("#kick");
    d.wait_text("#kick", "Really kick?");
    d.click("#kick");
    d.wait_text("#kick-result", "kicked");
    assert!(client.expect_closed(scaled(Duration::from_secs(10))));
    let after = call(admin, "GET", "/api/v1/clients/console-client", Some(&token));
    assert!(after.body.contains("\"connected\":false") || after.status == 404);
}

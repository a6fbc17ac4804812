//! The admin API (README.md, "Operating edgemq"; docs/observability.md):
//! HTTP/1.1 on its own listener (`admin_listener`), JSON under `/api/v1`,
//! Prometheus text at `/metrics`, a bearer token on both.
//!
//! Sans-IO except `token.rs`'s file handling: `http.rs` reads requests
//! from bytes and writes responses to bytes, `router.rs` answers a request
//! from the broker's state. The listener, its bounds in time and in
//! concurrent connections, and the sockets are `net/admin.rs`'s; the HTTP
//! client of `edgemq ctl` is `commands/ctl.rs`'s.

pub mod console;
pub mod http;
pub mod metrics;
pub mod render;
pub mod router;
pub mod token;
#[cfg(feature = "console")]
pub mod web_console;

//! edgemq: a small MQTT broker for routers, gateways and access points.
//!
//! The protocol core (`codec`, `topic`, `session`, `broker`) is sans-IO: it
//! takes `now` and packets and returns actions. `net` drives it from one smol
//! `LocalExecutor` thread; `config` turns a mosquitto-style file into a typed,
//! validated `Config`.

pub mod acl;
pub mod admin;
#[cfg(target_env = "musl")]
pub mod allocator;
pub mod auth;
#[cfg(feature = "bridge")]
pub mod bridge;
pub mod broker;
pub mod build_checks;
pub mod cli;
pub mod codec;
pub mod commands;
pub mod config;
pub mod logging;
pub mod net;
pub mod panic_line;
pub mod privileges;
pub mod session;
pub mod store;
pub mod sys;
pub mod systemd;
pub mod topic;
pub mod wall_clock;
#[cfg(feature = "websocket")]
pub mod websocket;

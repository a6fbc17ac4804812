//! The fuzz harness: one function per target, taking the raw input.
//!
//! Shared by the libFuzzer targets (`tests/fuzz/fuzz_targets/`, this file
//! is the fuzz crate's library) and by `tests/fuzz_corpora.rs`, which
//! replays every committed corpus file through the same functions under
//! `cargo test`, so the two cannot drift. Each function returns quietly on
//! input the code under test refuses with an error value; a panic or a
//! failed assertion is a finding.
//!
//! Only edgemq's public API is used: what a peer, an operator's file or a
//! corrupt store can feed in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod auth_files;
mod broker;
mod codec;
mod config;
mod store_record;

pub use auth_files::auth_files;
pub use broker::broker;
pub use codec::codec;
pub use config::config;
pub use store_record::store_record;

/// A harness function: the fuzz input in, a panic for a finding.
pub type Target = fn(&[u8]);

/// Every target's name, as its corpus directory is named.
pub const TARGETS: [(&str, Target); 5] = [
    ("auth_files", auth_files),
    ("broker", broker),
    ("codec", codec),
    ("config", config),
    ("store_record", store_record),
];

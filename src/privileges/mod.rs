//! `user NAME`: a broker started as root binds its listeners, then runs as
//! NAME (its primary group and supplementary groups too) before it opens
//! the store, as mosquitto does (mosquitto.conf(5), `user`). Unlike
//! mosquitto there is no default user: without `user` a broker started as
//! root stays root and warns. Started as anyone else, `user` is ignored.
//!
//! Owns: the account lookup (accounts.rs, /etc/passwd and /etc/group
//! read directly: the static musl builds have no NSS), the drop
//! (drop.rs) and the check that the store directory is the new user's
//! (store_dir.rs). It touches no socket and no store; main.rs calls it
//! between binding and opening the store.
//!
//! Invariant: the drop runs while the process has one thread (drop.rs says
//! why, and checks). Threads start with the first `async_io::Async` or
//! async-signal handler (async-io's helper thread) and with the store
//! (sled's), so main.rs binds with std's sockets, drops, and only then
//! installs the signal handlers, opens the store and starts the event loop.

pub mod accounts;
mod drop;
pub mod store_dir;

use std::path::Path;

use log::{info, warn};
use rustix::process::geteuid;

pub use accounts::{Account, LookupError};
pub use drop::DropError;

/// What the start does about `user`, decided before the listeners are
/// bound so that a wrong name fails before anything is opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Not started as root: nothing to drop.
    Stay,
    /// Started as root and staying root (no `user`, or a user with uid 0).
    StayRoot,
    /// Started as root: become this account after binding.
    DropTo(Account),
}

/// Looks up `user` when the process is root, logging the one line each
/// case deserves. An unknown user is an error: a broker that should have
/// dropped must not run as root instead.
pub fn plan(user: Option<&str>) -> Result<Plan, LookupError> {
    let euid = geteuid();
    if !euid.is_root() {
        if let Some(name) = user {
            info!(
                "user {name}: ignored, edgemq was started as uid {} (not root) and runs as it",
                euid.as_raw()
            );
        }
        return Ok(Plan::Stay);
    }
    let Some(name) = user else {
        warn!(
            "running as root: set `user NAME` in the config file to run as NAME once the \
             listeners are bound"
        );
        return Ok(Plan::StayRoot);
    };
    let account = accounts::lookup(name)?;
    if account.uid == 0 {
        info!("user {name} has uid 0: staying root");
        return Ok(Plan::StayRoot);
    }
    Ok(Plan::DropTo(account))
}

/// Becomes `account`, then checks that it can write `store_dir` (`None`
/// when persistence is off). The error says what failed and what to do.
pub fn drop_to(account: &Account, store_dir: Option<&Path>) -> Result<(), String> {
    drop::drop_to(account).map_err(|e| {
        format!(
            "cannot drop privileges to user {} (uid {}, gid {}): {e}",
            account.name, account.uid, account.gid
        )
    })?;
    info!(
        "dropped privileges to user {} (uid {}, gid {})",
        account.name, account.uid, account.gid
    );
    match store_dir {
        Some(dir) => store_dir::check(dir, account),
        None => Ok(()),
    }
}

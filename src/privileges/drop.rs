//! The drop itself: supplementary groups, then the group, then the user
//! (the order setgroups(2) and setgid(2) need: both want root), then a
//! check that it took and cannot be undone.
//!
//! rustix's `set_thread_*` are the raw Linux system calls, which change the
//! credentials of the calling thread only (setresuid(2), "C library/kernel
//! differences"); libc's wrappers signal every other thread to do the
//! same, and there is no safe libc call here. A drop is therefore correct
//! only while the process has a single thread: [`drop_to`] counts
//! /proc/self/task first and refuses otherwise.

use std::fmt;
use std::io;

use rustix::process::{getegid, geteuid, getgid, getgroups, getuid, Gid, Uid};
use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid, set_thread_uid};

use super::accounts::Account;

const TASKS: &str = "/proc/self/task";
const STATUS: &str = "/proc/self/status";

#[derive(Debug)]
pub enum DropError {
    /// /proc/self/task cannot be read, so the thread count is unknown.
    CannotCountThreads(io::Error),
    /// Another thread exists: a drop would leave it root.
    Threads(usize),
    /// A set call failed (`call` names it).
    Call {
        call: &'static str,
        error: io::Error,
    },
    /// The credentials after the drop are not the account's.
    NotTaken(String),
    /// setuid(0) succeeded after the drop.
    Regained,
}

impl fmt::Display for DropError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropError::CannotCountThreads(e) => write!(
                f,
                "cannot read {TASKS} ({e}) to check that edgemq runs one thread, \
                 which a drop needs (is /proc mounted?)"
            ),
            DropError::Threads(n) => write!(
                f,
                "{n} threads are running, and the drop would change the calling one only \
                 (internal error: the drop must come before any thread starts)"
            ),
            DropError::Call { call, error } => write!(f, "{call} failed: {error}"),
            DropError::NotTaken(what) => write!(f, "the drop did not take: {what}"),
            DropError::Regained => write!(f, "setuid(0) still succeeds after the drop"),
        }
    }
}

impl std::error::Error for DropError {}

/// Drops root for `account` for good; see the module docs for why the
/// thread count is checked first.
pub fn drop_to(account: &Account) -> Result<(), DropError> {
    let threads = thread_count().map_err(DropError::CannotCountThreads)?;
    if threads != 1 {
        return Err(DropError::Threads(threads));
    }
    // `accounts` never returns `(uid_t)-1`, the one value `from_raw` refuses.
    let uid = Uid::from_raw(account.uid);
    let gid = Gid::from_raw(account.gid);
    let groups: Vec<Gid> = account.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    let call = |call: &'static str| {
        move |e: rustix::io::Errno| DropError::Call {
            call,
            error: e.into(),
        }
    };
    set_thread_groups(&groups).map_err(call("setgroups"))?;
    set_thread_res_gid(gid, gid, gid).map_err(call("setresgid"))?;
    set_thread_res_uid(uid, uid, uid).map_err(call("setresuid"))?;
    verify(account)
}

/// The checks mosquitto's drop_privileges makes and a few more: real,
/// effective, saved and file-system ids (/proc/self/status shows all four),
/// the group list, and that root cannot be taken back.
fn verify(account: &Account) -> Result<(), DropError> {
    let (uid, gid) = (account.uid, account.gid);
    let ids = (
        getuid().as_raw(),
        geteuid().as_raw(),
        getgid().as_raw(),
        getegid().as_raw(),
    );
    if ids != (uid, uid, gid, gid) {
        return Err(DropError::NotTaken(format!(
            "uid {} euid {} gid {} egid {}",
            ids.0, ids.1, ids.2, ids.3
        )));
    }
    let status = std::fs::read_to_string(STATUS).map_err(|e| {
        DropError::NotTaken(format!("cannot read {STATUS} to check the saved ids: {e}"))
    })?;
    for (key, want) in [("Uid:", uid), ("Gid:", gid)] {
        let all_four = status_ids(&status, key);
        if all_four != Some([want; 4]) {
            return Err(DropError::NotTaken(format!(
                "{STATUS} {key} {all_four:?}, expected {want} four times"
            )));
        }
    }
    let mut have: Vec<u32> = getgroups()
        .map_err(|e| DropError::Call {
            call: "getgroups",
            error: e.into(),
        })?
        .iter()
        .map(|g| g.as_raw())
        .collect();
    let mut want = account.groups.clone();
    have.sort_unstable();
    want.sort_unstable();
    if have != want {
        return Err(DropError::NotTaken(format!(
            "groups {have:?}, expected {want:?}"
        )));
    }
    if uid != 0 && set_thread_uid(Uid::ROOT).is_ok() {
        return Err(DropError::Regained);
    }
    Ok(())
}

/// This process's threads; two are enough to refuse, so no more are read.
pub fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir(TASKS)?.take(2).count())
}

/// The four ids (real, effective, saved, file system) of a `Uid:` or `Gid:`
/// line of /proc/PID/status (proc(5)).
pub fn status_ids(status: &str, key: &str) -> Option<[u32; 4]> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let mut ids = line
        .get(key.len()..)?
        .split_whitespace()
        .map(|v| v.parse::<u32>().ok());
    let all = [ids.next()??, ids.next()??, ids.next()??, ids.next()??];
    ids.next().is_none().then_some(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_ids() {
        let status = "Name:\tedgemq\nUid:\t65534\t65534\t65534\t65534\nGid:\t0\t65534\t0\t65534\n";
        assert_eq!(status_ids(status, "Uid:"), Some([65534; 4]));
        assert_eq!(status_ids(status, "Gid:"), Some([0, 65534, 0, 65534]));
        assert_eq!(status_ids(status, "Groups:"), None);
        assert_eq!(status_ids("Uid:\t1\t2\t3\n", "Uid:"), None);
        assert_eq!(status_ids("Uid:\t1\t2\t3\t4\t5\n", "Uid:"), None);
        assert_eq!(status_ids("Uid:\t1\tx\t3\t4\n", "Uid:"), None);
    }

    /// The unit-test binary runs several threads: a drop must refuse here
    /// (without changing anything, which the next assertion would see).
    #[test]
    fn refuses_with_more_than_one_thread() {
        let before = (geteuid(), getegid());
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || rx.recv());
        let account = Account {
            name: "nobody".to_owned(),
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
        };
        assert!(matches!(drop_to(&account), Err(DropError::Threads(2))));
        assert_eq!((geteuid(), getegid()), before);
        drop(tx);
        let _ = other.join();
    }
}

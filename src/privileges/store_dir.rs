//! After a drop: is the store directory the new user's to write?
//!
//! sled opens the directory and every file in it read-write. A directory
//! left behind by a broker that ran as root, or made by an init script as
//! root, fails that open, and store/open.rs then serves from memory — right
//! for a broken flash, wrong for a directory the operator only forgot to
//! chown: everything they asked to persist would be lost quietly. Under
//! `user` it is a configuration error instead, reported at start with the
//! fix. The check runs as the new user, so access(2) answers with its
//! permissions (real and effective ids are equal after the drop).

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{access, Access};

use super::accounts::Account;

/// Paths checked at most. sled keeps a handful of files plus one per blob
/// (a value over its blob threshold); past this many the rest is left to
/// sled's own open, which still fails loudly enough (store/open.rs).
const MAX_CHECKED: usize = 4096;

/// Why the store directory cannot be used, with the path at fault.
#[derive(Debug, PartialEq, Eq)]
pub enum Unusable {
    /// `path` (the directory or something in it) is not writable.
    NotWritable { path: PathBuf },
    /// The directory does not exist and `ancestor`, the nearest existing
    /// one, does not let the user create it.
    CannotCreate { ancestor: PathBuf },
    /// The directory cannot even be looked at (a parent is not searchable).
    Unreachable { error: String },
}

/// `Ok` when `account` (the process's user now) can open the store at
/// `dir`; otherwise the message for the log, naming the directory, the user
/// and the fix.
pub fn check(dir: &Path, account: &Account) -> Result<(), String> {
    let Some(unusable) = find_unusable(dir) else {
        return Ok(());
    };
    let who = format!(
        "user {} (uid {}, gid {})",
        account.name, account.uid, account.gid
    );
    let dir_shown = dir.display();
    Err(match unusable {
        Unusable::NotWritable { path } => {
            let which = if path == dir {
                String::new()
            } else {
                format!(" ({} is not)", path.display())
            };
            format!(
                "the store directory {dir_shown} is not writable by {who}, which edgemq \
                 runs as (`user`){which}: give it to that user (chown -R {} {dir_shown}) \
                 or set persistence_location to a directory it owns",
                account.name
            )
        }
        Unusable::CannotCreate { ancestor } => format!(
            "the store directory {dir_shown} does not exist and {who}, which edgemq runs as \
             (`user`), cannot create it in {}: create it and give it to that user \
             (mkdir -p {dir_shown} && chown {} {dir_shown})",
            ancestor.display(),
            account.name
        ),
        Unusable::Unreachable { error } => format!(
            "the store directory {dir_shown} cannot be reached by {who}, which edgemq runs \
             as (`user`): {error}; a parent directory must be searchable (x) by that user"
        ),
    })
}

/// The first reason the calling process cannot open a store at `dir`.
pub fn find_unusable(dir: &Path) -> Option<Unusable> {
    match std::fs::metadata(dir) {
        // A file where the directory should be: sled's open reports it.
        Ok(meta) if !meta.is_dir() => None,
        Ok(_) => first_not_writable(dir).map(|path| Unusable::NotWritable { path }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let ancestor = nearest_existing(dir)?;
            let usable = access(&ancestor, Access::WRITE_OK | Access::EXEC_OK).is_ok();
            (!usable).then_some(Unusable::CannotCreate { ancestor })
        }
        Err(e) => Some(Unusable::Unreachable {
            error: e.to_string(),
        }),
    }
}

/// Breadth first over `dir`: directories need rwx, everything else rw.
/// Symbolic links are checked where they point and not descended into.
fn first_not_writable(dir: &Path) -> Option<PathBuf> {
    let dir_access = Access::READ_OK | Access::WRITE_OK | Access::EXEC_OK;
    let mut queue = VecDeque::from([dir.to_path_buf()]);
    let mut checked = 0usize;
    while let Some(current) = queue.pop_front() {
        if access(&current, dir_access).is_err() {
            return Some(current);
        }
        let Ok(entries) = std::fs::read_dir(&current) else {
            return Some(current);
        };
        for entry in entries {
            let Ok(entry) = entry else {
                return Some(current);
            };
            checked = checked.saturating_add(1);
            if checked > MAX_CHECKED {
                return None;
            }
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => queue.push_back(path),
                _ => {
                    if access(&path, Access::READ_OK | Access::WRITE_OK).is_err() {
                        return Some(path);
                    }
                }
            }
        }
    }
    None
}

/// The nearest ancestor of `dir` that exists (`.` for a relative path
/// whose first component is missing).
fn nearest_existing(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().skip(1).find_map(|a| {
        let a = if a.as_os_str().is_empty() {
            Path::new(".")
        } else {
            a
        };
        a.exists().then(|| a.to_path_buf())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn account() -> Account {
        Account {
            name: "edgemq".to_owned(),
            uid: 200,
            gid: 201,
            groups: vec![201],
        }
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_writable_tree_or_a_creatable_directory_is_usable() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        assert_eq!(find_unusable(&store), None);
        assert_eq!(find_unusable(&store.join("deeper/still")), None);
        std::fs::create_dir_all(store.join("blobs")).unwrap();
        std::fs::write(store.join("db"), b"").unwrap();
        std::fs::write(store.join("blobs/1"), b"").unwrap();
        assert_eq!(find_unusable(&store), None);
        assert!(check(&store, &account()).is_ok());
    }

    /// Permission bits do not bind root: these run only as another user
    /// (the e2e tests cover root, with a real drop).
    #[test]
    fn read_only_parts_are_named() {
        if rustix::process::geteuid().is_root() {
            eprintln!("skipped: permission bits do not bind root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        std::fs::create_dir_all(store.join("blobs")).unwrap();
        std::fs::write(store.join("blobs/1"), b"").unwrap();
        chmod(&store.join("blobs/1"), 0o444);
        let found = find_unusable(&store);
        assert_eq!(
            found,
            Some(Unusable::NotWritable {
                path: store.join("blobs/1")
            })
        );
        let message = check(&store, &account()).unwrap_err();
        assert!(message.contains("chown -R edgemq"), "{message}");
        assert!(
            message.contains("user edgemq (uid 200, gid 201)"),
            "{message}"
        );
        chmod(&store, 0o555);
        let missing = store.join("child");
        assert_eq!(
            find_unusable(&missing),
            Some(Unusable::CannotCreate {
                ancestor: store.clone()
            })
        );
        chmod(&store, 0o755);
    }
}

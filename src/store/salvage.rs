//! A store sled opens but cannot read to the end: a damaged page (a power
//! cut on flash that does not keep its promises, a failing block). Left in
//! place, every later write that touches the page fails too — an outage
//! no retry ends, and in sync mode acknowledgements held for ever. So at
//! startup, when recovery stopped in a tree (recover.rs), every record
//! sled can still read is copied into a new store beside it, the damaged
//! one is moved aside as `DIR.corrupt-TIMESTAMP` (only the newest such
//! copy kept, as open.rs does for one it cannot open at all) and the copy
//! takes its place; recovery then reads the copy. What the damaged pages
//! held is lost, and said so.

use std::path::{Path, PathBuf};

use log::{error, warn};

use super::open::{aside_path, remove_older_copies};
use super::{StoreConfig, Trees};

/// Replaces the damaged store at `config.dir` with what can be read of
/// it; `None` (logged) when that fails and the store cannot be used.
pub fn salvage(config: &StoreConfig, damaged: Trees) -> Option<Trees> {
    let dir = &config.dir;
    let copy_dir = sibling(dir, "salvage");
    let _ = std::fs::remove_dir_all(&copy_dir);
    let copy = StoreConfig {
        dir: copy_dir.clone(),
        ..config.clone()
    };
    let copied = super::open::reopen(&copy).and_then(|fresh| {
        let copied = copy_readable(&damaged, &fresh)?;
        fresh.db.flush()?;
        Ok(copied)
    });
    drop(damaged);
    let copied = match copied {
        Ok(copied) => copied,
        Err(e) => {
            error!("cannot salvage the damaged store at {}: {e}", dir.display());
            let _ = std::fs::remove_dir_all(&copy_dir);
            return None;
        }
    };
    let aside = aside_path(dir, "corrupt");
    if let Err(e) = std::fs::rename(dir, &aside) {
        error!(
            "cannot move the damaged store at {} aside: {e}",
            dir.display()
        );
        return None;
    }
    remove_older_copies(dir, "corrupt", &aside);
    if let Err(e) = std::fs::rename(&copy_dir, dir) {
        error!(
            "cannot put the salvaged store in place at {}: {e}",
            dir.display()
        );
        return None;
    }
    warn!(
        "the store had damaged pages: moved the store aside to {} and kept the {copied} records that could be read",
        aside.display()
    );
    match super::open::reopen(config) {
        Ok(trees) => Some(trees),
        Err(e) => {
            error!("cannot open the salvaged store at {}: {e}", dir.display());
            None
        }
    }
}

/// `DIR.KIND` beside `dir`.
fn sibling(dir: &Path, kind: &str) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{kind}"));
    dir.with_file_name(name)
}

/// Every record sled can read, tree by tree (a tree's scan ends at its
/// first unreadable record); how many.
fn copy_readable(from: &Trees, to: &Trees) -> sled::Result<u64> {
    let mut copied = 0u64;
    for (source, target) in from.each().into_iter().zip(to.each()) {
        for (key, value) in super::recover::scan(source) {
            target.insert(key, value)?;
            copied += 1;
        }
    }
    Ok(copied)
}

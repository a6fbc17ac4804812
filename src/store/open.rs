//! Opening the store so that the broker always starts and good data is
//! never destroyed (docs/design.md, ## Durability):
//! - a lock held by another process: retried for a few seconds, then the
//!   start fails with a clear message (a live store is never touched);
//! - a store sled cannot open, or whose format record is unreadable: moved
//!   aside to `DIR.corrupt-TIMESTAMP` (only the newest such copy kept), and
//!   the broker starts empty;
//! - a store written by a newer edgemq: moved aside untouched to
//!   `DIR.newer-TIMESTAMP`, start empty;
//! - a directory that cannot be written at all: the broker serves from
//!   memory, without persistence, and says so;
//! - a store that makes sled itself panic while it opens (sled 0.34.7
//!   indexes past its segment table when a power cut cut the file short
//!   of pages its snapshot names): the panic leaves a mark beside the
//!   directory before the process aborts, and the next start (systemd and
//!   procd restart the broker) moves that store aside as corrupt. One crash,
//!   then an empty store; a kill or a power cut during a normal open leaves
//!   no mark, so a good store is never moved for it.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use log::{error, info};

use super::encode::wall_clock;
use super::schema::{self, RecordError, META_FORMAT, STORE_FORMAT};
use super::{OpenError, StoreConfig, Trees};

/// How long to wait for another process's lock before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(5);
const LOCK_RETRY: Duration = Duration::from_millis(200);

/// What became of the directory we found.
enum Found {
    Usable(Trees),
    /// Moved aside; open a fresh one.
    MovedAside,
}

/// Opens (or creates) the store; `Ok(None)` means persistence is off for
/// this run because the directory cannot be used.
pub fn open_trees(config: &StoreConfig) -> Result<Option<Trees>, OpenError> {
    for _ in 0..2 {
        match open_once(config)? {
            Some(Found::Usable(trees)) => return Ok(Some(trees)),
            Some(Found::MovedAside) => continue,
            None => return Ok(None),
        }
    }
    error!(
        "the store at {} could not be opened even after moving it aside: serving from memory, without persistence",
        config.dir.display()
    );
    Ok(None)
}

/// Opens the store again after a write or flush failed (the writer's
/// retry): no lock wait and nothing moved aside — a store that worked a
/// moment ago is retried later, never discarded while the broker runs.
pub fn reopen(config: &StoreConfig) -> Result<Trees, sled::Error> {
    let db = sled::Config::new()
        .path(&config.dir)
        .cache_capacity(config.cache_bytes)
        .flush_every_ms(None)
        .open()?;
    Trees::open(db)
}

fn open_once(config: &StoreConfig) -> Result<Option<Found>, OpenError> {
    let dir = &config.dir;
    let db = match open_db(config)? {
        ControlFlow::Continue(db) => db,
        ControlFlow::Break(outcome) => return Ok(outcome),
    };
    let trees = match Trees::open(db) {
        Ok(trees) => trees,
        Err(e) => {
            error!("the store at {} cannot be read: {e}", dir.display());
            return Ok(Some(move_aside(dir, "corrupt")));
        }
    };
    Ok(Some(check_format(dir, trees)))
}

/// Opens sled at `config.dir`, retrying while another process holds the
/// lock (up to `LOCK_WAIT`, then the start fails). `Break` carries what
/// [`open_once`] returns when sled cannot open the directory: `None` for
/// an I/O error (serve from memory), a moved-aside store for anything else.
fn open_db(config: &StoreConfig) -> Result<ControlFlow<Option<Found>, sled::Db>, OpenError> {
    let dir = &config.dir;
    let mark = panic_mark(dir);
    if mark.exists() {
        error!(
            "the last start panicked inside sled while it opened the store at {} (a damaged store sled cannot read)",
            dir.display()
        );
        let _ = std::fs::remove_file(&mark);
        return Ok(ControlFlow::Break(Some(move_aside(dir, "corrupt"))));
    }
    let started = Instant::now();
    loop {
        let result = open_marking_panics(config, &mark);
        match result {
            Ok(db) => return Ok(ControlFlow::Continue(db)),
            Err(sled::Error::Io(e)) if is_lock_error(&e) => {
                if started.elapsed() >= LOCK_WAIT {
                    return Err(OpenError::Locked(dir.clone()));
                }
                thread::sleep(LOCK_RETRY);
            }
            Err(sled::Error::Io(e)) => {
                error!(
                    "cannot open the store at {}: {e}: serving from memory, without persistence",
                    dir.display()
                );
                return Ok(ControlFlow::Break(None));
            }
            Err(e) => {
                error!("the store at {} cannot be read: {e}", dir.display());
                return Ok(ControlFlow::Break(Some(move_aside(dir, "corrupt"))));
            }
        }
    }
}

/// The file a panic inside sled's open leaves beside the store directory.
fn panic_mark(dir: &Path) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "edgemq-data".to_owned());
    name.push_str(".sled-panicked");
    dir.with_file_name(name)
}

/// `sled::Config::open`, with a panic hook for its duration that first
/// leaves `mark` (the shipped build aborts on panic: nothing can catch
/// it, but the next start can act on it), then runs the usual hook.
fn open_marking_panics(config: &StoreConfig, mark: &Path) -> sled::Result<sled::Db> {
    let previous = std::sync::Arc::new(std::panic::take_hook());
    let chained = previous.clone();
    let mark_path = mark.to_path_buf();
    std::panic::set_hook(Box::new(move |info| {
        let _ = std::fs::write(&mark_path, b"sled panicked opening this store\n");
        chained(info);
    }));
    let result = sled::Config::new()
        .path(&config.dir)
        .cache_capacity(config.cache_bytes)
        .flush_every_ms(None)
        .open();
    // Puts the usual hook back (ours holds the only other reference).
    drop(std::panic::take_hook());
    match std::sync::Arc::try_unwrap(previous) {
        Ok(hook) => std::panic::set_hook(hook),
        Err(shared) => std::panic::set_hook(Box::new(move |info| shared(info))),
    }
    result
}

/// Checks the format record of an opened store: an empty store gets one,
/// a store of this format or an older one is used, a newer one is moved
/// aside untouched and anything unreadable is moved aside as corrupt.
fn check_format(dir: &Path, trees: Trees) -> Found {
    match trees.meta.get(META_FORMAT) {
        Ok(None) if is_empty(&trees) => {
            if let Err(e) = trees
                .meta
                .insert(META_FORMAT, schema::encode(&STORE_FORMAT))
            {
                error!("cannot write to the store at {}: {e}", dir.display());
            }
            info!("created a new store at {}", dir.display());
            Found::Usable(trees)
        }
        Ok(Some(bytes)) => match schema::decode::<u8>(&bytes) {
            Ok(format) if format < STORE_FORMAT => {
                // This binary writes records an older one cannot read (and
                // would skip and delete): raise the format first, so that a
                // firmware rollback moves the store aside instead.
                let raised = trees
                    .meta
                    .insert(META_FORMAT, schema::encode(&STORE_FORMAT))
                    .and_then(|_| trees.db.flush());
                match raised {
                    Ok(_) => info!(
                        "the store at {} moves from format {format} to {STORE_FORMAT}",
                        dir.display()
                    ),
                    Err(e) => error!("cannot write to the store at {}: {e}", dir.display()),
                }
                Found::Usable(trees)
            }
            Ok(format) if format > STORE_FORMAT => {
                error!(
                    "the store at {} has format {format}, newer than this edgemq reads ({STORE_FORMAT})",
                    dir.display()
                );
                drop(trees);
                move_aside(dir, "newer")
            }
            Ok(_) => Found::Usable(trees),
            Err(RecordError::Newer(version)) => {
                error!(
                    "the store at {} was written by a newer edgemq (record version {version})",
                    dir.display()
                );
                drop(trees);
                move_aside(dir, "newer")
            }
            Err(RecordError::Undecodable) => {
                error!(
                    "the store at {} has an unreadable format record",
                    dir.display()
                );
                drop(trees);
                move_aside(dir, "corrupt")
            }
        },
        Ok(None) => {
            error!(
                "the store at {} has records but no format record",
                dir.display()
            );
            drop(trees);
            move_aside(dir, "corrupt")
        }
        Err(e) => {
            error!("the store at {} cannot be read: {e}", dir.display());
            drop(trees);
            move_aside(dir, "corrupt")
        }
    }
}

/// sled reports a held lock as an `Other` I/O error with this text.
fn is_lock_error(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("could not acquire lock")
}

fn is_empty(trees: &Trees) -> bool {
    [
        &trees.sessions,
        &trees.messages,
        &trees.deliveries,
        &trees.inbound,
        &trees.retained,
        &trees.bridge,
    ]
    .iter()
    .all(|tree| tree.is_empty())
}

/// Renames `dir` to `dir.KIND-TIMESTAMP`. For corrupt copies only the
/// newest is kept; newer-format copies are all kept (they are good data
/// for the edgemq that wrote them).
fn move_aside(dir: &Path, kind: &str) -> Found {
    let target = aside_path(dir, kind);
    match std::fs::rename(dir, &target) {
        Ok(()) => {
            error!(
                "moved the store aside to {} and starting with an empty store",
                target.display()
            );
            if kind == "corrupt" {
                remove_older_copies(dir, kind, &target);
            }
        }
        Err(e) => error!("cannot move the store at {} aside: {e}", dir.display()),
    }
    Found::MovedAside
}

pub(super) fn aside_path(dir: &Path, kind: &str) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "edgemq-data".to_owned());
    name.push_str(&format!(".{kind}-{}", timestamp(wall_clock())));
    let mut path = dir.with_file_name(name);
    // Two moves in the same second get distinct names.
    let base = path.clone();
    let mut n = 1;
    while path.exists() {
        path = PathBuf::from(format!("{}.{n}", base.display()));
        n += 1;
    }
    path
}

pub(super) fn remove_older_copies(dir: &Path, kind: &str, keep: &Path) {
    let (Some(parent), Some(name)) = (
        dir.parent().map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        }),
        dir.file_name(),
    ) else {
        return;
    };
    let prefix = format!("{}.{kind}-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_copy = entry.file_name().to_string_lossy().starts_with(&prefix);
        if is_copy && path.file_name() != keep.file_name() {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => info!("removed an older corrupt store copy {}", path.display()),
                Err(e) => error!("cannot remove {}: {e}", path.display()),
            }
        }
    }
}

/// `YYYYMMDDTHHMMSSZ` in UTC, from Unix seconds (civil-from-days).
pub fn timestamp(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm for dates after 1970.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::{open_trees, panic_mark, timestamp};
    use crate::store::StoreConfig;
    use std::time::Duration;

    /// What a panic inside sled's open leaves (the hook writes the mark;
    /// sled cannot be made to panic on demand): the next start moves that
    /// store aside and opens a fresh one.
    #[test]
    fn a_store_sled_panicked_on_is_moved_aside_at_the_next_start() {
        let tmp = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            dir: tmp.path().join("store"),
            sync: false,
            autosave_interval: Duration::from_secs(1),
            cache_bytes: 1 << 20,
            max_store_bytes: 0,
        };
        let trees = open_trees(&config).unwrap().expect("a usable store");
        trees.meta.insert(b"left behind", b"x".as_slice()).unwrap();
        trees.meta.flush().unwrap();
        drop(trees);
        std::fs::write(panic_mark(&config.dir), b"sled panicked").unwrap();
        let trees = open_trees(&config).unwrap().expect("a fresh store");
        assert!(trees.meta.get(b"left behind").unwrap().is_none());
        assert!(!panic_mark(&config.dir).exists(), "the mark is used once");
        let aside = std::fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("store.corrupt-")
            })
            .count();
        assert_eq!(aside, 1, "the old store kept aside");
    }

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(timestamp(0), "19700101T000000Z");
        assert_eq!(timestamp(951_782_400), "20000229T000000Z");
        assert_eq!(timestamp(1_795_000_000), "20261118T110640Z");
    }
}

//! Making a flush durable on the filesystem, not only in the device.
//! sled 0.34's flush on Linux ends in `sync_file_range`, which writes the
//! file's data but commits none of its metadata: on a journalling
//! filesystem (ext4) a log that grew — a new size, newly allocated blocks,
//! the store directory and files themselves when just created — stays in
//! the journal's next commit, up to its interval (5 s) away. A power cut
//! (or an ext4 error that aborts the journal) then loses what sync mode
//! had acknowledged, up to the whole store. So after each sled flush the
//! writer fsyncs sled's files and the directories that name them: one
//! journal commit per flush (a group commit in sync mode, one per interval
//! in batched mode), never one per message.
//!
//! fsync works on the inode, so a file opened here covers sled's writes
//! through its own handle.

use std::fs::File;
use std::path::Path;

/// fsyncs sled's log file, the store directory, its `blobs` directory
/// when there is one, and the directory holding the store.
pub fn sync_store(dir: &Path) -> std::io::Result<()> {
    File::open(dir.join("db"))?.sync_all()?;
    sync_dir(dir)?;
    let blobs = dir.join("blobs");
    if blobs.is_dir() {
        sync_dir(&blobs)?;
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

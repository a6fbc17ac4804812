//! Replacing a file so that a reader (the broker at SIGHUP, a power cut)
//! sees the old contents or the new, never a half-written file: a
//! temporary file in the same directory, written and fsynced, renamed over
//! the old one, then the directory fsynced.
//!
//! Permissions: a new file gets 0600 (it holds password hashes); a file
//! that existed keeps its mode and, where the process may set it, its
//! owner and group, so a file made readable for the broker's `user` stays
//! readable after an edit.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of a file this makes from nothing.
const NEW_FILE_MODE: u32 = 0o600;

/// Writes `contents` to `path`, replacing it atomically.
pub fn replace(path: &Path, contents: &[u8]) -> io::Result<()> {
    let old = std::fs::metadata(path).ok();
    let temp = temp_path(path)?;
    let result =
        write_temp(&temp, contents, old.as_ref()).and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result?;
    sync_dir(path)
}

/// `.NAME.tmpPID` beside `path`.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let mut temp = std::ffi::OsString::from(".");
    temp.push(name);
    temp.push(format!(".tmp{}", std::process::id()));
    Ok(path.with_file_name(temp))
}

fn write_temp(temp: &Path, contents: &[u8], old: Option<&std::fs::Metadata>) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(NEW_FILE_MODE)
        .open(temp)?;
    file.write_all(contents)?;
    if let Some(old) = old {
        keep_owner(&file, old);
        file.set_permissions(Permissions::from_mode(old.mode() & 0o7777))?;
    }
    file.sync_all()
}

/// Best effort: only root may give a file away; anyone else's edit leaves
/// the file theirs, which the old mode still describes.
fn keep_owner(file: &File, old: &std::fs::Metadata) {
    let Ok(new) = file.metadata() else { return };
    if (new.uid(), new.gid()) != (old.uid(), old.gid()) {
        let _ = std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid()));
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_are_0600_and_old_ones_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        replace(&path, b"a\n").unwrap();
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o7777;
        assert_eq!(
            (std::fs::read(&path).unwrap(), mode),
            (b"a\n".to_vec(), 0o600)
        );
        std::fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
        replace(&path, b"b\n").unwrap();
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o7777;
        assert_eq!(
            (std::fs::read(&path).unwrap(), mode),
            (b"b\n".to_vec(), 0o640)
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        std::fs::write(&path, b"old\n").unwrap();
        // A directory where the temporary file should go makes it fail.
        std::fs::create_dir(temp_path(&path).unwrap()).unwrap();
        assert!(replace(&path, b"new\n").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old\n");
    }
}

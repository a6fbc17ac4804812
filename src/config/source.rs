//! Getting config text off the filesystem: one file, bounded in size and
//! checked to be UTF-8, and the `*.conf` files of an `include_dir`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::limits::MAX_CONFIG_FILE_BYTES;

/// The text of one config file; `name` is how errors refer to it. A byte
/// order mark at the start is dropped (editors on other systems add one).
pub(crate) fn read_file(path: &Path, name: &str) -> Result<String, ConfigError> {
    read_bounded(path, name, MAX_CONFIG_FILE_BYTES, "a config file")
}

/// [`read_file`] for any text file the config names (`what`, in the
/// error for a file over `max_bytes`): the ACL file too.
pub(crate) fn read_bounded(
    path: &Path,
    name: &str,
    max_bytes: u64,
    what: &str,
) -> Result<String, ConfigError> {
    let cannot = |e: std::io::Error| ConfigError::new(name, 0, format!("cannot read: {e}"));
    let file = fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max_bytes {
        return Err(ConfigError::new(
            name,
            0,
            format!("larger than {max_bytes} bytes; not {what}"),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e
            .as_bytes()
            .get(..e.utf8_error().valid_up_to())
            .unwrap_or(&[]);
        let line = valid
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            .saturating_add(1);
        ConfigError::new(name, line, "not valid UTF-8")
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

/// The regular files (symlinks followed) named `*.conf` in `dir`, sorted by
/// name byte for byte, so capitals come first, as mosquitto orders them.
pub(crate) fn conf_files(dir: &Path) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let is_conf = entry.file_name().to_string_lossy().ends_with(".conf");
        if is_conf && fs::metadata(&path).map(|m| m.is_file()).unwrap_or(false) {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_checks_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.conf");
        fs::write(&p, "\u{feff}persistence true\n").unwrap();
        assert_eq!(read_file(&p, "a.conf").unwrap(), "persistence true\n");

        fs::write(&p, b"one\ntwo\nbad \xff here\n").unwrap();
        let e = read_file(&p, "a.conf").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (3, "not valid UTF-8"));

        let e = read_file(&dir.path().join("missing.conf"), "missing.conf").unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.message.starts_with("cannot read"));
    }

    #[test]
    fn refuses_huge_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.conf");
        let big = vec![b'#'; usize::try_from(MAX_CONFIG_FILE_BYTES).unwrap() + 1];
        fs::write(&p, big).unwrap();
        assert!(read_file(&p, "big.conf")
            .unwrap_err()
            .message
            .contains("larger"));
    }

    #[test]
    fn lists_conf_files_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.conf", "a.conf", "Z.conf", "c.txt", "d.conf.bak"] {
            fs::write(dir.path().join(name), "").unwrap();
        }
        fs::create_dir(dir.path().join("sub.conf")).unwrap();
        let names: Vec<_> = conf_files(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["Z.conf", "a.conf", "b.conf"]);
    }
}

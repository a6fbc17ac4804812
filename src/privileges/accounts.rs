//! An account by name from /etc/passwd and /etc/group, as getpwnam(3) and
//! initgroups(3) would give it: the static musl builds ask no NSS module,
//! and a router's accounts live in those two files.
//!
//! The parsers are pure (file text in, values out) so that tests feed them
//! sample files; [`lookup`] is the one function that reads. A malformed
//! line is skipped, as musl's getpwent does, never a panic: one broken line
//! elsewhere in the file must not keep the broker from starting.
//! Formats: passwd(5) `name:password:UID:GID:gecos:home:shell`, group(5)
//! `name:password:GID:member,member`.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub const PASSWD: &str = "/etc/passwd";
pub const GROUP: &str = "/etc/group";

/// Largest account file read. A router's is a few hundred bytes, a big
/// server's a few hundred KiB; past this it is not an account file.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The kernel's NGROUPS_MAX (include/uapi/linux/limits.h): setgroups(2)
/// refuses a longer list.
pub const MAX_GROUPS: usize = 65_536;

/// `(uid_t)-1` is no id: setresuid(2) reads it as "leave unchanged".
const NO_ID: u32 = u32::MAX;

/// The account to run as: what the drop sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    /// The primary group, from the passwd line.
    pub gid: u32,
    /// The supplementary groups: the primary group first, then every group
    /// that lists the name as a member, each once (initgroups(3)).
    pub groups: Vec<u32>,
}

#[derive(Debug)]
pub enum LookupError {
    Read { path: PathBuf, error: io::Error },
    TooLarge { path: PathBuf },
    NoSuchUser { name: String, path: PathBuf },
    NoSuchGroup { name: String, path: PathBuf },
    TooManyGroups { name: String, count: usize },
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::Read { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            LookupError::TooLarge { path } => write!(
                f,
                "{} is larger than {MAX_FILE_BYTES} bytes: not read",
                path.display()
            ),
            LookupError::NoSuchUser { name, path } => write!(
                f,
                "user '{}' is not in {}",
                name.escape_debug(),
                path.display()
            ),
            LookupError::NoSuchGroup { name, path } => write!(
                f,
                "group '{}' is not in {}",
                name.escape_debug(),
                path.display()
            ),
            LookupError::TooManyGroups { name, count } => write!(
                f,
                "user '{}' is in {count} groups, more than the kernel's {MAX_GROUPS}",
                name.escape_debug()
            ),
        }
    }
}

impl std::error::Error for LookupError {}

/// Looks `name` up in [`PASSWD`] and [`GROUP`]. A missing group file
/// leaves the primary group only, as initgroups(3) does.
pub fn lookup(name: &str) -> Result<Account, LookupError> {
    lookup_in(name, Path::new(PASSWD), Path::new(GROUP))
}

pub fn lookup_in(name: &str, passwd: &Path, group: &Path) -> Result<Account, LookupError> {
    let passwd_text = read_bounded(passwd)?;
    let (uid, gid) = passwd_entry(&passwd_text, name).ok_or_else(|| LookupError::NoSuchUser {
        name: name.to_owned(),
        path: passwd.to_path_buf(),
    })?;
    let group_text = match read_bounded(group) {
        Ok(text) => text,
        Err(LookupError::Read { error, .. }) if error.kind() == io::ErrorKind::NotFound => {
            String::new()
        }
        Err(e) => return Err(e),
    };
    let groups = group_list(&group_text, name, gid);
    if groups.len() > MAX_GROUPS {
        return Err(LookupError::TooManyGroups {
            name: name.to_owned(),
            count: groups.len(),
        });
    }
    Ok(Account {
        name: name.to_owned(),
        uid,
        gid,
        groups,
    })
}

/// The gid of group `name` in [`GROUP`] (`unix_socket_group`).
pub fn lookup_group(name: &str) -> Result<u32, LookupError> {
    lookup_group_in(name, Path::new(GROUP))
}

pub fn lookup_group_in(name: &str, group: &Path) -> Result<u32, LookupError> {
    group_gid(&read_bounded(group)?, name).ok_or_else(|| LookupError::NoSuchGroup {
        name: name.to_owned(),
        path: group.to_path_buf(),
    })
}

fn read_bounded(path: &Path) -> Result<String, LookupError> {
    let read_error = |error| LookupError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FILE_BYTES {
        return Err(LookupError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    // A name with bytes that are not UTF-8 cannot match a config word;
    // the rest of the file still can.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The uid and primary gid of the first passwd line named `name` (the one
/// getpwnam(3) returns).
pub fn passwd_entry(text: &str, name: &str) -> Option<(u32, u32)> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.splitn(7, ':').collect();
        // Seven fields, as musl's getpwent insists; `+`/`-` lines are NIS
        // compat entries, not accounts.
        let [user, _password, uid, gid, _gecos, _home, _shell] = fields.as_slice() else {
            return None;
        };
        if *user != name || user.starts_with(['+', '-']) {
            return None;
        }
        Some((id(uid)?, id(gid)?))
    })
}

/// The group list initgroups(3) would set: `primary`, then the gid of each
/// group line whose member list names `user`, each gid once, in file order.
pub fn group_list(text: &str, user: &str, primary: u32) -> Vec<u32> {
    let mut groups = vec![primary];
    for line in text.lines() {
        let fields: Vec<&str> = line.splitn(4, ':').collect();
        let [_name, _password, gid, members] = fields.as_slice() else {
            continue;
        };
        let Some(gid) = id(gid) else { continue };
        if members.split(',').any(|m| m == user) && !groups.contains(&gid) {
            groups.push(gid);
        }
    }
    groups
}

/// The gid of the first well-formed group line named `name` (the one
/// getgrnam(3) returns).
pub fn group_gid(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.splitn(4, ':').collect();
        let [group, _password, gid, _members] = fields.as_slice() else {
            return None;
        };
        if *group != name || group.starts_with(['+', '-']) {
            return None;
        }
        id(gid)
    })
}

/// A decimal id: digits only, and not `(uid_t)-1`.
fn id(field: &str) -> Option<u32> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse::<u32>().ok().filter(|&n| n != NO_ID)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PASSWD_TEXT: &str = "\
root:x:0:0:root:/root:/bin/ash
daemon:*:1:1:daemon:/var:/bin/false
# a comment line
broken line without colons

short:x:5:5
neg:x:-1:5:x:/:/bin/false
big:x:4294967296:5:x:/:/bin/false
minus1:x:4294967295:5:x:/:/bin/false
+nis::::::
mosquitto:x:200:200:mosquitto:/var/run/mosquitto:/bin/false
nobody:*:65534:65534:nobody:/var:/bin/false
mosquitto:x:999:999:second entry:/:/bin/false
colons:x:7:8:a:b:/bin/sh:with:colons
";

    const GROUP_TEXT: &str = "\
root:x:0:
daemon:x:1:
mosquitto:x:200:
dialout:x:20:mosquitto,other
broken
users:x:100:someone,mosquitto
bad:x:nan:mosquitto
again:x:20:mosquitto
mosquittos:x:30:mosquittoX, mosquitto
nogroup:x:65534:
";

    #[test]
    fn finds_the_first_well_formed_entry() {
        assert_eq!(passwd_entry(PASSWD_TEXT, "root"), Some((0, 0)));
        assert_eq!(passwd_entry(PASSWD_TEXT, "mosquitto"), Some((200, 200)));
        assert_eq!(passwd_entry(PASSWD_TEXT, "nobody"), Some((65534, 65534)));
        // Extra colons belong to the shell field.
        assert_eq!(passwd_entry(PASSWD_TEXT, "colons"), Some((7, 8)));
    }

    #[test]
    fn skips_malformed_lines() {
        assert_eq!(passwd_entry(PASSWD_TEXT, "short"), None);
        assert_eq!(passwd_entry(PASSWD_TEXT, "neg"), None);
        assert_eq!(passwd_entry(PASSWD_TEXT, "big"), None);
        assert_eq!(passwd_entry(PASSWD_TEXT, "minus1"), None);
        assert_eq!(passwd_entry(PASSWD_TEXT, "+nis"), None);
        assert_eq!(
            passwd_entry(PASSWD_TEXT, "broken line without colons"),
            None
        );
        assert_eq!(passwd_entry(PASSWD_TEXT, ""), None);
        assert_eq!(passwd_entry(PASSWD_TEXT, "absent"), None);
        assert_eq!(passwd_entry("", "root"), None);
    }

    #[test]
    fn groups_are_primary_then_memberships_once() {
        assert_eq!(group_list(GROUP_TEXT, "mosquitto", 200), vec![200, 20, 100]);
        assert_eq!(group_list(GROUP_TEXT, "root", 0), vec![0]);
        assert_eq!(group_list(GROUP_TEXT, "other", 5), vec![5, 20]);
        assert_eq!(group_list("", "nobody", 65534), vec![65534]);
    }

    #[test]
    fn groups_by_name() {
        assert_eq!(group_gid(GROUP_TEXT, "dialout"), Some(20));
        assert_eq!(group_gid(GROUP_TEXT, "nogroup"), Some(65534));
        // A malformed line is skipped, not taken.
        assert_eq!(group_gid(GROUP_TEXT, "bad"), None);
        assert_eq!(group_gid(GROUP_TEXT, "broken"), None);
        assert_eq!(group_gid(GROUP_TEXT, "absent"), None);
        let dir = tempfile::tempdir().unwrap();
        let group = dir.path().join("group");
        std::fs::write(&group, GROUP_TEXT).unwrap();
        assert_eq!(lookup_group_in("users", &group).unwrap(), 100);
        let missing = lookup_group_in("nope", &group).unwrap_err();
        assert!(matches!(missing, LookupError::NoSuchGroup { .. }));
        assert!(missing.to_string().contains("group 'nope' is not in"));
    }

    #[test]
    fn lookup_reads_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let (passwd, group) = (dir.path().join("passwd"), dir.path().join("group"));
        std::fs::write(&passwd, PASSWD_TEXT).unwrap();
        std::fs::write(&group, GROUP_TEXT).unwrap();
        let account = lookup_in("mosquitto", &passwd, &group).unwrap();
        assert_eq!(
            account,
            Account {
                name: "mosquitto".to_owned(),
                uid: 200,
                gid: 200,
                groups: vec![200, 20, 100],
            }
        );
        let missing = lookup_in("nope", &passwd, &group).unwrap_err();
        assert!(matches!(missing, LookupError::NoSuchUser { .. }));
        assert!(missing.to_string().contains("'nope'"));
        // No group file: the primary group alone.
        let no_group = lookup_in("nobody", &passwd, &dir.path().join("none")).unwrap();
        assert_eq!(no_group.groups, vec![65534]);
        let no_passwd = lookup_in("nobody", &dir.path().join("none"), &group).unwrap_err();
        assert!(matches!(no_passwd, LookupError::Read { .. }));
    }

    #[test]
    fn a_huge_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        let file = std::fs::File::create(&passwd).unwrap();
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        let error = lookup_in("root", &passwd, &passwd).unwrap_err();
        assert!(matches!(error, LookupError::TooLarge { .. }));
    }

    proptest! {
        #[test]
        fn random_files_never_panic(text in "\\PC{0,300}", name in "[a-z:+]{0,6}") {
            let _ = passwd_entry(&text, &name);
            let groups = group_list(&text, &name, 1);
            prop_assert_eq!(groups.first(), Some(&1));
        }
    }
}

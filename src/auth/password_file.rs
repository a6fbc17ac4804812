//! A mosquitto password file (`password_file`): one `user:HASH` line per
//! user, HASH as `password_hash` reads it. Lines starting with `#` and
//! blank lines are skipped, surrounding blanks trimmed (as mosquitto does).
//!
//! Stricter than mosquitto, which drops a line it cannot read with a log
//! line and serves on: here every such line is an error naming the file
//! and line, so a typo cannot silently lock a user out or leave an old
//! password working. A second line for one user is an error too.
//!
//! Bounded: the file by [`MAX_FILE_BYTES`], a line by [`MAX_LINE_BYTES`],
//! each check by the hash's iteration ceiling.

use std::collections::HashMap;

use super::password_hash::PasswordHash;

/// ~30,000 `$7$` lines: more users than any box we target serves, and a
/// bound on what a reload holds twice while it swaps files.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// A `$7$` line is ~110 bytes plus the user name; user names are MQTT
/// strings but nobody's is kilobytes long.
pub const MAX_LINE_BYTES: usize = 4096;

/// A line the file could not be read past: its number (from 1) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// What the file says about one user and password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    WrongPassword,
    UnknownUser,
}

/// The users of one password file.
#[derive(Debug, Clone)]
pub struct PasswordFile {
    users: HashMap<Box<str>, PasswordHash>,
    /// Checked for unknown users, so that a wrong user name costs the same
    /// time as a wrong password and timing does not tell which names exist.
    decoy: PasswordHash,
}

impl PasswordFile {
    /// Reads the file's text; the first line that cannot be read is the
    /// error.
    pub fn parse(text: &str) -> Result<PasswordFile, LineError> {
        if text.len() > MAX_FILE_BYTES {
            return Err(LineError {
                line: 0,
                message: format!("larger than the ceiling of {MAX_FILE_BYTES} bytes"),
            });
        }
        let mut users = HashMap::new();
        let mut first_line = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let number = index.saturating_add(1);
            let error = |message: String| LineError {
                line: number,
                message,
            };
            if raw.len() > MAX_LINE_BYTES {
                return Err(error(format!(
                    "longer than the ceiling of {MAX_LINE_BYTES} bytes"
                )));
            }
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = parse_line(line).map_err(error)?;
            if let Some(earlier) = first_line.insert(user, number) {
                return Err(error(format!(
                    "user '{}' again (first on line {earlier})",
                    user.escape_debug()
                )));
            }
            users.insert(Box::from(user), hash);
        }
        Ok(PasswordFile {
            users,
            decoy: PasswordHash::decoy(),
        })
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Checks `password` for `user`. Costs one hash whether or not the
    /// user exists.
    pub fn check(&self, user: &str, password: &[u8]) -> Verdict {
        match self.users.get(user) {
            Some(hash) if hash.verify(password) => Verdict::Accepted,
            Some(_) => Verdict::WrongPassword,
            None => {
                let _ = std::hint::black_box(self.decoy.verify(password));
                Verdict::UnknownUser
            }
        }
    }
}

/// `user:HASH`, the user name without blanks around it (mosquitto trims
/// them too).
fn parse_line(line: &str) -> Result<(&str, PasswordHash), String> {
    let Some((user, hash)) = line.split_once(':') else {
        return Err("expected user:hash".to_owned());
    };
    if hash.contains(':') {
        return Err("more than one ':' (user names cannot hold one)".to_owned());
    }
    let user = user.trim();
    let hash = PasswordHash::parse(hash.trim())
        .map_err(|why| format!("user '{}': {why}", user.escape_debug()))?;
    Ok((user, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# made by mosquitto_passwd 2.0.11
alice:$7$101$ENTtIy0JhtQOoMQa$I7BnvpkLC84dwMZCLJLM0wvvGmQs15rGgNlOqgIxCLOosLAlfEFoXISOXS4dEC3drK4M/cUvo4kTSoffvT2JhA==

  bob : $6$A7DixVtrAE8HlOb4$Nu7GlKfNO3VbWgQxMpb6pVHs6UgrmuUKEULp6a3zEEzEBgaDaxXpxg49Jh8fs8Uiuytaac1rkFabEn6kIv4Lbg==\r
";

    #[test]
    fn reads_mosquitto_files() {
        let file = PasswordFile::parse(FILE).unwrap();
        assert_eq!(file.len(), 2);
        assert_eq!(file.check("alice", b"secret"), Verdict::Accepted);
        assert_eq!(file.check("alice", b"hunter2"), Verdict::WrongPassword);
        assert_eq!(file.check("bob", b"hunter2"), Verdict::Accepted);
        assert_eq!(file.check("carol", b"secret"), Verdict::UnknownUser);
        assert_eq!(file.check("Alice", b"secret"), Verdict::UnknownUser);
        assert!(PasswordFile::parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_lines_name_their_number() {
        let hash = "$6$A7DixVtrAE8HlOb4$Nu7GlKfNO3VbWgQxMpb6pVHs6UgrmuUKEULp6a3zEEzEBgaDaxXpxg49Jh8fs8Uiuytaac1rkFabEn6kIv4Lbg==";
        let cases = [
            (format!("a:{hash}\nb:plain\n"), 2, "plain text"),
            ("# c\n\nno colon here\n".to_owned(), 3, "expected user:hash"),
            (
                format!("a:{hash}\na:{hash}\n"),
                2,
                "again (first on line 1)",
            ),
            (format!("a:{hash}:extra\n"), 1, "more than one ':'"),
            (
                "x:$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\n".to_owned(),
                1,
                "argon2id",
            ),
            (
                format!("{}:{hash}\n", "u".repeat(5000)),
                1,
                "longer than the ceiling",
            ),
            (
                "x:$7$1000000$c2FsdA==$aGFzaA==\n".to_owned(),
                1,
                "above the ceiling",
            ),
        ];
        for (text, line, expected) in cases {
            let e = PasswordFile::parse(&text).unwrap_err();
            assert_eq!(e.line, line, "{e:?}");
            assert!(e.message.contains(expected), "{e:?}");
        }
        let huge = "#".repeat(MAX_FILE_BYTES + 1);
        assert_eq!(PasswordFile::parse(&huge).unwrap_err().line, 0);
    }
}

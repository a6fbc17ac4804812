//! `edgemq passwd`: mosquitto_passwd's options and behaviour
//! (README.md, "Securing edgemq"):
//!
//! ```text
//! edgemq passwd [-H sha512-pbkdf2|sha512] [-c | -D] FILE USER       prompt twice
//! edgemq passwd [-H sha512-pbkdf2|sha512] [-c] -b FILE USER PASSWORD
//! edgemq passwd -U FILE                                             hash plain-text lines
//! ```
//!
//! Differences, each safer: the file is replaced atomically (a temporary
//! file in the same directory, fsync, rename), a new file gets mode 0600
//! and an existing one keeps its mode and owner; comments and blank lines
//! are kept; `-U` leaves lines already hashed alone (mosquitto_passwd
//! hashes the hash again); a file that would not load (a line edgemq
//! cannot read) is refused before anything is written.
//!
//! The text edits are pure functions of the file's text; [`run`] does the
//! terminal and the filesystem.

use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;

use crate::auth::password_file::{self, PasswordFile};
use crate::auth::password_hash::{HashKind, PasswordHash};

use super::atomic_write;
use super::prompt;

/// MQTT's password field holds at most 65,535 bytes (MQTT 3.1.1 §3.1.3.5).
const MAX_PASSWORD_BYTES: usize = 65_535;

/// Where the password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// `-b`: on the command line.
    Given(String),
    /// Asked for twice on the terminal, without echo.
    Prompt,
}

/// What to do to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `-c`: a new file holding only this user.
    Create { user: String, password: Password },
    /// Add the user, or replace its password.
    Set { user: String, password: Password },
    /// `-D`.
    Delete { user: String },
    /// `-U`: hash every plain-text password.
    HashPlain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdRequest {
    pub file: PathBuf,
    pub change: Change,
    pub kind: HashKind,
}

/// The switches and positionals as given on the command line.
#[derive(Debug, Default)]
pub struct PasswdArgs {
    pub create: bool,
    pub delete: bool,
    pub batch: bool,
    pub update: bool,
    pub kind: Option<HashKind>,
    pub file: PathBuf,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// Checks the combination, as mosquitto_passwd does; the message is its
/// `Error: ...` line.
pub fn request(args: PasswdArgs) -> Result<PasswdRequest, String> {
    let kind = args.kind.unwrap_or(HashKind::Pbkdf2Sha512);
    if args.create && args.delete {
        return Err("-c and -D cannot be used together.".into());
    }
    if args.update {
        if args.create || args.delete || args.batch || args.user.is_some() {
            return Err("-U takes the password file only.".into());
        }
        let change = Change::HashPlain;
        return Ok(PasswdRequest {
            file: args.file,
            change,
            kind,
        });
    }
    let user = args.user.ok_or("a user name is needed.")?;
    check_user(&user)?;
    let password = match (args.batch, args.password) {
        (true, Some(p)) => Password::Given(check_password(p)?),
        (true, None) => return Err("-b needs a password.".into()),
        (false, Some(_)) => return Err("a password on the command line needs -b.".into()),
        (false, None) => Password::Prompt,
    };
    let change = match (args.create, args.delete) {
        (_, true) if password != Password::Prompt => {
            return Err("-D takes no password.".into());
        }
        (_, true) => Change::Delete { user },
        (true, _) => Change::Create { user, password },
        (false, false) => Change::Set { user, password },
    };
    Ok(PasswdRequest {
        file: args.file,
        change,
        kind,
    })
}

fn check_user(user: &str) -> Result<(), String> {
    if user.contains(':') {
        return Err("Username must not contain the ':' character.".into());
    }
    if user.len() > MAX_PASSWORD_BYTES || user.contains(['\n', '\r']) {
        return Err("Invalid username.".into());
    }
    Ok(())
}

fn check_password(password: String) -> Result<String, String> {
    if password.is_empty() {
        return Err("Empty password.".into());
    }
    if password.len() > MAX_PASSWORD_BYTES || password.contains(['\n', '\r']) {
        return Err("Invalid password.".into());
    }
    Ok(password)
}

/// Runs the request; messages on stderr as mosquitto_passwd prints them.
/// Returns the exit code.
pub fn run(req: &PasswdRequest) -> i32 {
    match apply(req) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("{message}");
            1
        }
    }
}

fn apply(req: &PasswdRequest) -> Result<(), String> {
    let random = SystemRandom::new();
    let hash_line = |user: &str, password: &Password| -> Result<String, String> {
        let password = match password {
            Password::Given(p) => p.clone(),
            Password::Prompt => prompt::new_password().and_then(check_password)?,
        };
        let hash = PasswordHash::new(req.kind, password.as_bytes(), &random)
            .map_err(|e| format!("Error: {e}."))?;
        Ok(format!("{user}:{hash}"))
    };
    let text = match &req.change {
        Change::Create { user, password } => format!("{}\n", hash_line(user, password)?),
        Change::Set { user, password } => {
            let old = read(&req.file)?;
            set_user(&old, user, &hash_line(user, password)?)
        }
        Change::Delete { user } => {
            let old = read(&req.file)?;
            delete_user(&old, user)
                .ok_or_else(|| format!("Warning: User {user} not found in password file."))?
        }
        Change::HashPlain => hash_plain(&read(&req.file)?, req.kind, &random)?,
    };
    // What is written must load: a file edgemq refuses would stop the
    // broker at its next start.
    PasswordFile::parse(&text).map_err(|e| {
        format!(
            "Error: {} line {}: {}; nothing written.",
            req.file.display(),
            e.line,
            e.message
        )
    })?;
    atomic_write::replace(&req.file, text.as_bytes())
        .map_err(|e| format!("Error: cannot write {}: {e}.", req.file.display()))
}

fn read(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "Error: Unable to open password file {}. {e}.",
            path.display()
        )
    })?;
    if bytes.len() > password_file::MAX_FILE_BYTES {
        return Err(format!("Error: {} is too large.", path.display()));
    }
    String::from_utf8(bytes).map_err(|_| format!("Error: {} is not text.", path.display()))
}

/// The user a line is for, if it is a user's line.
fn line_user(line: &str) -> Option<&str> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    trimmed.split_once(':').map(|(user, _)| user.trim())
}

/// The file with `user`'s line replaced by `new_line` (in place), or
/// `new_line` appended.
pub fn set_user(text: &str, user: &str, new_line: &str) -> String {
    let mut out = String::with_capacity(text.len() + new_line.len() + 1);
    let mut replaced = false;
    for line in text.lines() {
        if line_user(line) == Some(user) {
            if !replaced {
                out.push_str(new_line);
                out.push('\n');
                replaced = true;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !replaced {
        out.push_str(new_line);
        out.push('\n');
    }
    out
}

/// The file without `user`'s lines; `None` if it has none.
pub fn delete_user(text: &str, user: &str) -> Option<String> {
    let mut found = false;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line_user(line) == Some(user) {
            found = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    found.then_some(out)
}

/// Every `user:password` line whose password is not a `$6$`/`$7$` hash,
/// hashed.
pub fn hash_plain(
    text: &str,
    kind: HashKind,
    random: &dyn ring::rand::SecureRandom,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.lines() {
        let plain = line_user(line)
            .and_then(|_| line.split_once(':'))
            .filter(|(_, pw)| {
                let pw = pw.trim();
                !pw.starts_with("$6$") && !pw.starts_with("$7$")
            });
        match plain {
            Some((user, password)) => {
                let hash = PasswordHash::new(kind, password.trim().as_bytes(), random)
                    .map_err(|e| format!("Error: {e}."))?;
                out.push_str(&format!("{}:{hash}", user.trim()));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(user: Option<&str>, password: Option<&str>) -> PasswdArgs {
        PasswdArgs {
            file: "pw".into(),
            user: user.map(str::to_owned),
            password: password.map(str::to_owned),
            ..PasswdArgs::default()
        }
    }

    #[test]
    fn option_combinations_as_mosquitto_passwd() {
        let ok = request(PasswdArgs {
            batch: true,
            ..args(Some("u"), Some("p"))
        })
        .unwrap();
        assert_eq!(ok.kind, HashKind::Pbkdf2Sha512);
        assert_eq!(
            ok.change,
            Change::Set {
                user: "u".into(),
                password: Password::Given("p".into())
            }
        );
        let prompt = request(PasswdArgs {
            create: true,
            ..args(Some("u"), None)
        })
        .unwrap();
        assert_eq!(
            prompt.change,
            Change::Create {
                user: "u".into(),
                password: Password::Prompt
            }
        );
        let del = request(PasswdArgs {
            delete: true,
            ..args(Some("u"), None)
        })
        .unwrap();
        assert_eq!(del.change, Change::Delete { user: "u".into() });
        let upd = request(PasswdArgs {
            update: true,
            ..args(None, None)
        })
        .unwrap();
        assert_eq!(upd.change, Change::HashPlain);
        let sha = request(PasswdArgs {
            kind: Some(HashKind::Sha512),
            ..args(Some("u"), None)
        });
        assert_eq!(sha.unwrap().kind, HashKind::Sha512);
        for (bad, expected) in [
            (
                PasswdArgs {
                    create: true,
                    delete: true,
                    ..args(Some("u"), None)
                },
                "-c and -D",
            ),
            (
                PasswdArgs {
                    update: true,
                    ..args(Some("u"), None)
                },
                "-U takes",
            ),
            (
                PasswdArgs {
                    batch: true,
                    ..args(Some("u"), None)
                },
                "-b needs",
            ),
            (args(Some("u"), Some("p")), "needs -b"),
            (args(None, None), "user name is needed"),
            (
                PasswdArgs {
                    batch: true,
                    ..args(Some("a:b"), Some("p"))
                },
                "':'",
            ),
            (
                PasswdArgs {
                    batch: true,
                    ..args(Some("u"), Some(""))
                },
                "Empty password",
            ),
            (
                PasswdArgs {
                    delete: true,
                    batch: true,
                    ..args(Some("u"), Some("p"))
                },
                "-D takes",
            ),
        ] {
            let e = request(bad).unwrap_err();
            assert!(e.contains(expected), "{e}");
        }
    }

    #[test]
    fn set_and_delete_keep_the_other_lines() {
        let text = "# users\nalice:$7$a\n\nbob:$7$b\n";
        assert_eq!(
            set_user(text, "alice", "alice:$7$new"),
            "# users\nalice:$7$new\n\nbob:$7$b\n"
        );
        assert_eq!(
            set_user(text, "carol", "carol:$7$c"),
            format!("{text}carol:$7$c\n")
        );
        assert_eq!(set_user("", "a", "a:$7$x"), "a:$7$x\n");
        assert_eq!(
            set_user("a:$7$1\na:$7$2", "a", "a:$7$n"),
            "a:$7$n\n",
            "duplicates go"
        );
        assert_eq!(delete_user(text, "bob").unwrap(), "# users\nalice:$7$a\n\n");
        assert_eq!(delete_user(text, "carol"), None);
        assert_eq!(delete_user(text, "# users"), None, "comments are no users");
    }

    #[test]
    fn hash_plain_hashes_only_plain_lines() {
        let random = SystemRandom::new();
        let hashed = "bob:$6$A7DixVtrAE8HlOb4$Nu7GlKfNO3VbWgQxMpb6pVHs6UgrmuUKEULp6a3zEEzEBgaDaxXpxg49Jh8fs8Uiuytaac1rkFabEn6kIv4Lbg==";
        let text = format!("# c\nalice:secret\n{hashed}\n");
        let out = hash_plain(&text, HashKind::Pbkdf2Sha512, &random).unwrap();
        let file = PasswordFile::parse(&out).unwrap();
        assert_eq!(
            file.check("alice", b"secret"),
            password_file::Verdict::Accepted
        );
        assert_eq!(
            file.check("bob", b"hunter2"),
            password_file::Verdict::Accepted
        );
        assert!(
            out.starts_with("# c\nalice:$7$101$") && out.contains(hashed),
            "{out}"
        );
    }
}

//! `edgemq passwd` against mosquitto (README.md, "Securing edgemq"): a
//! file it writes lets the right passwords into Debian's mosquitto 2.0
//! and edgemq alike, a file `mosquitto_passwd` writes can be edited by it,
//! and its options and refusals behave as mosquitto_passwd's do.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::cloud::Cloud;
use common::{edgemq_command, mosquitto_pub, run_with_timeout, scaled, Broker};

const WAIT: Duration = Duration::from_secs(10);

/// `edgemq passwd OPTIONS FILE ARGS`, as mosquitto_passwd is called.
fn passwd(options: &[&str], file: &Path, args: &[&str]) -> Output {
    let mut cmd = edgemq_command();
    cmd.arg("passwd").args(options).arg(file).args(args);
    run_with_timeout(cmd, scaled(WAIT))
}

/// `edgemq passwd FILE USER` with `input` on stdin (the prompts' answers,
/// from a file: no terminal, so no echo to turn off), bounded in time.
fn passwd_prompted(file: &Path, user: &str, input: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (inp, out, err) = (
        dir.path().join("in"),
        dir.path().join("out"),
        dir.path().join("err"),
    );
    std::fs::write(&inp, input).unwrap();
    let mut child = edgemq_command()
        .arg("passwd")
        .arg(file)
        .arg(user)
        .stdin(Stdio::from(File::open(&inp).unwrap()))
        .stdout(Stdio::from(File::create(&out).unwrap()))
        .stderr(Stdio::from(File::create(&err).unwrap()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + scaled(WAIT);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

fn ok(out: &Output) -> bool {
    out.status.success()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether mosquitto_pub gets in with these credentials.
fn gets_in(addr: std::net::SocketAddr, user: &str, password: &str) -> bool {
    let args = ["-u", user, "-P", password, "-t", "t", "-m", "x"];
    mosquitto_pub(addr, &args).status.success()
}

/// mosquitto 2.0 reads its password file after dropping root to its
/// `mosquitto` user: give the file to it (edgemq passwd keeps the owner).
fn readable_by_mosquitto(file: &Path) {
    let root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    if root {
        let status = Command::new("chown")
            .arg("mosquitto")
            .arg(file)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

#[test]
fn a_file_edgemq_passwd_writes_works_in_mosquitto_and_edgemq() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    assert!(ok(&passwd(&["-c", "-b"], &file, &["alice", "A-pass-1"])));
    assert!(ok(&passwd(
        &["-H", "sha512", "-b"],
        &file,
        &["bob", "B-pass-2"]
    )));
    let answered = passwd_prompted(&file, "carol", "C-pass-3\nC-pass-3\n");
    assert!(ok(&answered), "{}", stderr(&answered));
    assert!(stderr(&answered).contains("Password: ") && stderr(&answered).contains("Reenter"));
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("alice:$7$101$") && text.contains("\nbob:$6$"),
        "{text}"
    );

    readable_by_mosquitto(&file);
    let mosquitto = Cloud::start(&format!(
        "allow_anonymous false\npassword_file {}",
        file.display()
    ));
    let edgemq = Broker::start(&format!(
        "allow_anonymous false\npassword_file {}",
        file.display()
    ));
    for addr in [mosquitto.addr(), edgemq.addr()] {
        assert!(
            gets_in(addr, "alice", "A-pass-1"),
            "{addr}\n{}",
            mosquitto.log()
        );
        assert!(gets_in(addr, "bob", "B-pass-2"), "{addr}");
        assert!(gets_in(addr, "carol", "C-pass-3"), "{addr}");
        assert!(!gets_in(addr, "alice", "B-pass-2"), "{addr}");
        assert!(!gets_in(addr, "dave", "A-pass-1"), "{addr}");
    }
    let owner = std::fs::metadata(&file).unwrap().uid();
    assert!(ok(&passwd(&["-D"], &file, &["bob"])));
    assert_eq!(std::fs::metadata(&file).unwrap().uid(), owner, "owner kept");
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    assert!(!std::fs::read_to_string(&file).unwrap().contains("bob:"));
}

#[test]
fn edgemq_passwd_edits_a_mosquitto_passwd_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    let made = Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(&file)
        .args(["alice", "A-pass-1"])
        .status()
        .unwrap();
    assert!(made.success());
    assert!(ok(&passwd(&["-b"], &file, &["bob", "B-pass-2"])));
    // mosquitto_passwd edits it back: the formats are one.
    let changed = Command::new("mosquitto_passwd")
        .arg("-b")
        .arg(&file)
        .args(["bob", "B-pass-3"])
        .status()
        .unwrap();
    assert!(changed.success());
    let edgemq = Broker::start(&format!(
        "allow_anonymous false\npassword_file {}",
        file.display()
    ));
    assert!(gets_in(edgemq.addr(), "alice", "A-pass-1"));
    assert!(gets_in(edgemq.addr(), "bob", "B-pass-3"));
    assert!(!gets_in(edgemq.addr(), "bob", "B-pass-2"));
}

#[test]
fn plain_text_files_are_hashed_with_dash_u() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    std::fs::write(&file, "# devices\nalice:A-pass-1\n\nbob: B-pass-2 \n").unwrap();
    assert!(ok(&passwd(&["-U"], &file, &[])));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# devices\nalice:$7$101$"), "{text}");
    // A second -U changes nothing that is hashed already.
    assert!(ok(&passwd(&["-U"], &file, &[])));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let edgemq = Broker::start(&format!(
        "allow_anonymous false\npassword_file {}",
        file.display()
    ));
    assert!(gets_in(edgemq.addr(), "alice", "A-pass-1"));
    assert!(gets_in(edgemq.addr(), "bob", "B-pass-2"));
}

#[test]
fn refusals_as_mosquitto_passwd() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    assert!(ok(&passwd(&["-c", "-b"], &file, &["alice", "A-pass-1"])));
    let before = std::fs::read(&file).unwrap();
    let cases: [(&[&str], &[&str], &str); 7] = [
        (
            &["-c", "-D"],
            &["alice"],
            "-c and -D cannot be used together",
        ),
        (&["-b"], &["a:b", "x"], "must not contain the ':' character"),
        (&["-b"], &["alice", ""], "Empty password"),
        (&["-b"], &["alice"], "-b needs a password"),
        (&[], &["alice", "x"], "needs -b"),
        (
            &["-D"],
            &["nobody"],
            "User nobody not found in password file",
        ),
        (
            &["-H", "md5"],
            &["alice"],
            "expected sha512-pbkdf2 or sha512",
        ),
    ];
    for (options, args, expected) in cases {
        let out = passwd(options, &file, args);
        assert_eq!(out.status.code(), Some(1), "{options:?} {args:?}");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let mismatch = passwd_prompted(&file, "bob", "one\ntwo\n");
    assert!(stderr(&mismatch).contains("Passwords do not match"));
    assert!(!ok(&mismatch));
    let missing = passwd(&["-b"], &dir.path().join("nope"), &["x", "y"]);
    assert!(stderr(&missing).contains("Unable to open password file"));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "untouched by every refusal"
    );
    // A file edgemq would not load is not written to.
    std::fs::write(&file, "x:$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\n").unwrap();
    let refused = passwd(&["-b"], &file, &["alice", "A-pass-1"]);
    assert!(stderr(&refused).contains("argon2id") && stderr(&refused).contains("nothing written"));
}

//! The panic line (src/panic_line.rs): a panic leaves exactly one line on
//! stderr, `edgemq: panic in thread 'NAME' at FILE:LINE:COL: MESSAGE`, and
//! the process dies by SIGABRT.
//!
//! Sled-style, the test re-runs its own binary: with `EDGEMQ_PANIC_LINE_CHILD`
//! set, [`child`] installs the hook and panics on a named thread, and the
//! parent checks what the child left. Test binaries unwind whatever the
//! profile says (cargo builds them so), so the child aborts after the hook
//! itself, as `panic = "abort"` does. The real thing, a build with the
//! shipped profile and std, is checked by [`shipped_build`]: `make
//! panic-check TARGET=…` builds examples/panic_line.rs that way and passes
//! it in `EDGEMQ_PANIC_CHECK_BIN` (run under `EDGEMQ_RUNNER`, e.g.
//! `qemu-mips`); without the variable that test checks nothing.
//!
//! Under `make cross-test` the test binary itself runs under qemu-user: a
//! foreign binary cannot be exec'd here (no binfmt_misc), so a child that
//! fails with ENOEXEC is started again under `EDGEMQ_RUNNER`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};

const CHILD: &str = "EDGEMQ_PANIC_LINE_CHILD";
const SIGABRT: i32 = 6;
/// "Exec format error": a binary for another architecture.
const ENOEXEC: i32 = 8;
const OUT_OF_BOUNDS: &str = "index out of bounds: the len is 3 but the index is 7";

/// The child's role; does nothing in a normal run.
#[test]
fn child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    edgemq::panic_line::install();
    let line_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        line_hook(info);
        std::process::abort();
    }));
    let worker = std::thread::Builder::new()
        .name("doomed-worker".to_owned())
        .spawn(|| {
            let v = [1u8, 2, 3];
            let index = std::hint::black_box(7);
            println!("expect {}:{}", file!(), line!() + 1);
            std::hint::black_box(v[index]);
        })
        .unwrap();
    let _ = worker.join();
    unreachable!("the child aborts");
}

#[test]
fn a_panic_leaves_one_line_then_sigabrt() {
    let exe = std::env::current_exe().unwrap();
    let out = run(Command::new(&exe)
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1"));
    check(&out, "doomed-worker");
}

/// A build made like the shipped one (`make panic-check`), when given.
#[test]
fn shipped_build() {
    let Some(bin) = std::env::var_os("EDGEMQ_PANIC_CHECK_BIN") else {
        return;
    };
    // The children run in a directory of their own.
    let bin = std::path::absolute(bin).unwrap();
    for (role, thread) in [("main", "main"), ("thread", "doomed-worker")] {
        let out = run(Command::new(&bin).arg(role));
        check(&out, thread);
        // Shown by `make panic-check` (--nocapture).
        print!(
            "{} {role}: {}",
            bin.to_string_lossy(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs `cmd` without `RUST_BACKTRACE` (which keeps std's hook), in a
/// directory that takes any core dump away with it; under `EDGEMQ_RUNNER`
/// when the binary is foreign (ENOEXEC).
fn run(cmd: &mut Command) -> Output {
    let dir = tempfile::tempdir().unwrap();
    cmd.env_remove("RUST_BACKTRACE").current_dir(dir.path());
    match cmd.output() {
        Err(e) if e.raw_os_error() == Some(ENOEXEC) => {
            let runner = std::env::var("EDGEMQ_RUNNER")
                .unwrap_or_else(|_| panic!("{cmd:?}: {e}; a foreign binary needs EDGEMQ_RUNNER"));
            let mut words = runner.split_whitespace();
            let mut under = Command::new(words.next().expect("EDGEMQ_RUNNER is empty"));
            under
                .args(words)
                .arg(cmd.get_program())
                .args(cmd.get_args())
                .current_dir(dir.path());
            for (key, value) in cmd.get_envs() {
                match value {
                    Some(value) => under.env(key, value),
                    None => under.env_remove(key),
                };
            }
            under.output().unwrap()
        }
        result => result.unwrap(),
    }
}

/// Exactly one non-empty line on stderr (qemu-user's own report of the
/// signal aside), naming `thread`, the location the child printed on stdout
/// (`expect FILE:LINE`) and the message; then death by SIGABRT.
fn check(out: &Output, thread: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // libtest's "test child ... " may precede it on the same line.
    let at = stdout
        .split_once("expect ")
        .and_then(|(_, rest)| rest.lines().next())
        .unwrap_or_else(|| panic!("no `expect` line on stdout: {stdout}\nstderr: {stderr}"));
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("qemu: "))
        .collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {stderr:?}");
    let line = lines[0];
    let head = format!("edgemq: panic in thread '{thread}' at {at}:");
    assert!(
        line.starts_with(&head),
        "{line:?} should start with {head:?}"
    );
    let column_and_message = &line[head.len()..];
    let (column, message) = column_and_message.split_once(": ").unwrap();
    assert!(
        column.parse::<u32>().is_ok(),
        "column {column:?} in {line:?}"
    );
    assert_eq!(message, OUT_OF_BOUNDS, "{line:?}");
    assert!(stderr.contains(&format!("{line}\n")), "{stderr:?}");
    assert_eq!(
        out.status.signal(),
        Some(SIGABRT),
        "died by SIGABRT: {:?}\nstderr: {stderr}",
        out.status
    );
}

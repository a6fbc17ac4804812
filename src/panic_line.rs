//! The panic hook: one line on stderr, then the process aborts.
//!
//! Why: edgemq is built with `panic = "abort"`, so a panic kills the broker
//! and procd or systemd restarts it. What is left of the crash is what
//! reached stderr, which `logread` (procd's `stderr 1`) and the journal keep
//! one line per entry. std's own hook spreads a panic over several lines (a
//! blank one, `thread '…' panicked at …`, the message, and where std can
//! print backtraces a `RUST_BACKTRACE` note), which those logs keep as
//! unrelated entries. This hook writes exactly one:
//!
//! `edgemq: panic in thread 'NAME' at FILE:LINE:COL: MESSAGE`
//!
//! It owns nothing but the hook; `install` is called once, first thing in
//! `main`. What it must not do, since it runs wherever any code panicked:
//! - panic: a panic inside the hook aborts before any line is written. So
//!   no indexing, no `std::thread::current()` (it panics once the thread's
//!   locals are destroyed), no `io::stderr()` writes (its `RefCell` is still
//!   borrowed if the panic came from inside a log line's formatting);
//! - allocate without bound: the line is built in a fixed buffer on the
//!   stack and truncated at [`MAX_LINE`] bytes. (std has already formatted
//!   the message into a `String` before any hook runs; a hook cannot avoid
//!   that.) The thread's name is read with `prctl`: 16 bytes at most;
//! - write in pieces: the line goes out in one `write(2)` on fd 2, so lines
//!   other threads write cannot land inside it. It does not take std's
//!   stderr lock: a thread holding it while waiting for a lock the panicking
//!   thread holds would hang the process instead of letting it die.
//!
//! Control characters in the message and the thread name (an `assert_eq!`
//! message has newlines) are escaped as `\n`, `\u{1b}`..., to keep it one
//! line.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::os::fd::AsFd;
use std::panic::{Location, PanicHookInfo};

/// The longest line written, newline included: within PIPE_BUF (4096), so
/// one `write` to procd's pipe is atomic, and within the 1024 bytes of a
/// syslog message (RFC 3164, 4.1), which logd forwards.
pub const MAX_LINE: usize = 1024;

/// Ends a line cut at [`MAX_LINE`].
const TRUNCATED: &str = " [truncated]";

thread_local! {
    /// Set on the thread that called [`install`], `main`'s. Not `gettid()
    /// == getpid()`: on 32-bit MIPS rustix looks `gettid` up with musl's
    /// `dlsym`, whose entry takes `$gp` from `$t9`, which our static MIPS
    /// code does not set (SIGBUS under qemu-mips). No destructor, so reading
    /// it cannot fail or panic, even while the thread's locals are being
    /// destroyed.
    static INSTALLED_HERE: Cell<bool> = const { Cell::new(false) };
}

/// Replaces the default panic hook (and its `RUST_BACKTRACE` note) with one
/// that writes a single line; see the module documentation. With
/// `RUST_BACKTRACE` set (and not `0`) it keeps std's hook, which prints a
/// backtrace where std can (the native builds; the shipped std has no
/// backtrace support). Called first thing in `main`, before any thread.
pub fn install() {
    if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
        return;
    }
    INSTALLED_HERE.with(|here| here.set(true));
    std::panic::set_hook(Box::new(|info: &PanicHookInfo<'_>| {
        let mut name = [0u8; 16];
        let thread = thread_name(&mut name);
        let mut line = Line::new();
        compose(&mut line, thread, info.location(), message(info));
        // Nothing can be done if stderr is gone; the abort follows anyway.
        let _ = rustix::io::write(std::io::stderr().as_fd(), line.finish());
    }));
}

/// Writes the line (without its newline) into `line`.
fn compose(line: &mut Line, thread: &str, location: Option<&Location<'_>>, message: Option<&str>) {
    // `Line` stops accepting text when full; the Err that then ends each
    // `write!` early needs no handling.
    let _ = line.write_str("edgemq: panic in thread '");
    let _ = line.write_escaped(thread);
    let _ = line.write_str("'");
    if let Some(location) = location {
        let _ = write!(line, " at {location}");
    }
    let _ = line.write_str(": ");
    // A `panic_any` of something that is not a string, as std says it.
    let _ = line.write_escaped(message.unwrap_or("Box<dyn Any>"));
}

/// The message, if the payload is a string (`payload_as_str`, which is
/// newer than our minimum Rust).
fn message<'a>(info: &'a PanicHookInfo<'_>) -> Option<&'a str> {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// The kernel's name for the calling thread (what `top -H` shows): std
/// gives a named thread its name, cut to 15 bytes. The main thread's
/// kernel name is the program's, so it is called `main`, as std does.
fn thread_name(buf: &mut [u8; 16]) -> &str {
    if INSTALLED_HERE.try_with(Cell::get).unwrap_or(false) {
        return "main";
    }
    let Ok(name) = rustix::thread::name() else {
        return "?";
    };
    let bytes = name.as_bytes();
    let len = bytes.len().min(buf.len());
    let (Some(dst), Some(src)) = (buf.get_mut(..len), bytes.get(..len)) else {
        return "?";
    };
    dst.copy_from_slice(src);
    // The kernel cuts names at 15 bytes, maybe inside a character.
    match std::str::from_utf8(dst) {
        Ok(name) => name,
        Err(cut) => dst
            .get(..cut.valid_up_to())
            .and_then(|valid| std::str::from_utf8(valid).ok())
            .unwrap_or("?"),
    }
}

/// A line being built in a fixed buffer. Text past the room is dropped (at
/// a character boundary) and the line marked truncated; room for the mark
/// and the newline is always kept.
struct Line {
    buf: [u8; MAX_LINE],
    len: usize,
    truncated: bool,
}

impl Line {
    /// Room for text: the mark and the newline are appended by `finish`.
    const ROOM: usize = MAX_LINE - TRUNCATED.len() - 1;

    fn new() -> Self {
        Line {
            buf: [0; MAX_LINE],
            len: 0,
            truncated: false,
        }
    }

    /// Copies `bytes` without checking room: the caller has.
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
        }
    }

    /// `s` with control characters escaped, so that it stays on one line.
    fn write_escaped(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if c.is_control() {
                write!(self, "{}", c.escape_default())?;
            } else {
                self.write_char(c)?;
            }
        }
        Ok(())
    }

    /// The line, with the truncation mark if text was dropped, and its
    /// newline.
    fn finish(&mut self) -> &[u8] {
        if self.truncated {
            self.put(TRUNCATED.as_bytes());
        }
        self.put(b"\n");
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.truncated {
            return Err(fmt::Error);
        }
        let room = Self::ROOM.saturating_sub(self.len);
        if s.len() <= room {
            self.put(s.as_bytes());
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.put(s.as_bytes().get(..cut).unwrap_or_default());
        self.truncated = true;
        Err(fmt::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn composed(thread: &str, message: Option<&str>) -> String {
        let mut line = Line::new();
        compose(&mut line, thread, Some(Location::caller()), message);
        String::from_utf8(line.finish().to_vec()).unwrap()
    }

    #[test]
    fn one_line_with_thread_location_and_message() {
        let line = composed(
            "main",
            Some("index out of bounds: the len is 3 but the index is 7"),
        );
        assert!(
            line.starts_with("edgemq: panic in thread 'main' at src/panic_line.rs:"),
            "{line}"
        );
        assert!(
            line.ends_with(": index out of bounds: the len is 3 but the index is 7\n"),
            "{line}"
        );
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn control_characters_are_escaped() {
        let line = composed(
            "we\u{1b}ird",
            Some("assertion `left == right` failed\n  left: 1\r\n right: 2"),
        );
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(line.contains("thread 'we\\u{1b}ird'"), "{line}");
        assert!(
            line.ends_with("failed\\n  left: 1\\r\\n right: 2\n"),
            "{line}"
        );
    }

    #[test]
    fn a_huge_message_is_cut_at_a_character_boundary() {
        let message = "é".repeat(10_000);
        let line = composed("worker", Some(&message));
        assert!(line.len() <= MAX_LINE, "{}", line.len());
        assert!(line.ends_with(" [truncated]\n"), "{line}");
        assert!(
            line.len() > MAX_LINE - 4,
            "the room is used: {}",
            line.len()
        );
    }

    #[test]
    fn a_payload_that_is_not_a_string() {
        let line = composed("main", None);
        assert!(line.ends_with(": Box<dyn Any>\n"), "{line}");
    }

    #[test]
    fn a_named_threads_name_as_the_kernel_keeps_it() {
        let name = std::thread::Builder::new()
            .name("store-writer-x\u{e9}".to_owned())
            .spawn(|| thread_name(&mut [0u8; 16]).to_owned())
            .unwrap()
            .join()
            .unwrap();
        // 15 bytes, and the 'é' cut in two by the kernel left out.
        assert_eq!(name, "store-writer-x");
    }
}

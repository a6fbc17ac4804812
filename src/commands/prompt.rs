//! Asking for a new password twice, as mosquitto_passwd does: prompts on
//! stderr, the answers read from stdin with the terminal's echo off (and
//! back on afterwards, also on error). When stdin is no terminal (a pipe
//! in a provisioning script) the two lines are read as they come.

use std::io::{BufRead, Read, Write};

use rustix::termios::{self, LocalModes, OptionalActions};

/// An answer longer than this is not a password (the MQTT field's 65,535
/// bytes, and the line's end).
const MAX_LINE_BYTES: u64 = 65_537;

/// The password typed twice; the message is mosquitto_passwd's line.
pub fn new_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    let _echo_off = EchoOff::new(&stdin);
    let mut input = stdin.lock();
    let first = ask(&mut input, "Password: ")?;
    let second = ask(&mut input, "Reenter password: ")?;
    if first != second {
        return Err("Error: Passwords do not match.".into());
    }
    Ok(first)
}

fn ask(input: &mut impl BufRead, prompt: &str) -> Result<String, String> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{prompt}");
    let _ = err.flush();
    let mut line = String::new();
    let read = (&mut *input)
        .take(MAX_LINE_BYTES)
        .read_line(&mut line)
        .map_err(|e| format!("Error: cannot read the password: {e}."))?;
    // The newline the user typed was not echoed.
    let _ = writeln!(err);
    if read == 0 {
        return Err("Error: no password given.".into());
    }
    let password = line.strip_suffix('\n').unwrap_or(&line);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_owned())
}

/// Echo off while it lives, on a terminal; nothing otherwise.
struct EchoOff<'a> {
    stdin: &'a std::io::Stdin,
    saved: Option<termios::Termios>,
}

impl<'a> EchoOff<'a> {
    fn new(stdin: &'a std::io::Stdin) -> EchoOff<'a> {
        let saved = termios::tcgetattr(stdin).ok();
        if let Some(saved) = &saved {
            let mut quiet = saved.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            let _ = termios::tcsetattr(stdin, OptionalActions::Flush, &quiet);
        }
        EchoOff { stdin, saved }
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(self.stdin, OptionalActions::Flush, saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_without_their_end() {
        let mut input = std::io::Cursor::new(b"s3cret\r\nagain\nlast".to_vec());
        assert_eq!(ask(&mut input, "").unwrap(), "s3cret");
        assert_eq!(ask(&mut input, "").unwrap(), "again");
        assert_eq!(ask(&mut input, "").unwrap(), "last");
        assert!(ask(&mut input, "").is_err());
    }
}

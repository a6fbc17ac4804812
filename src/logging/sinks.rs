//! The destinations a log line is written to (`log_dest`, docs/logging.md)
//! and the `log::Log` that writes to them.
//!
//! Owns the open files and the syslog socket. A destination that fails
//! loses the line, never the broker: a write error is counted and said
//! once it can be, and nothing here blocks on a full syslog daemon (its
//! socket is non-blocking; a full queue drops the line, counted).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use log::{Level, Metadata, Record};

use super::format::{stream_line, syslog_datagram};
use super::settings::{LogDest, LogSettings};

/// The local syslog socket; `EDGEMQ_SYSLOG_SOCKET` replaces it (tests).
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// Modules whose info lines are the connect and disconnect messages that
/// `connection_messages false` leaves out (the broker's CONNECT and close
/// paths; their warnings and errors stay).
const CONNECTION_TARGETS: [&str; 2] = ["edgemq::broker::connect", "edgemq::broker::close"];

enum Output {
    Stderr { journal: bool },
    Stdout { journal: bool },
    File { path: PathBuf, file: File },
    Syslog(Syslog),
}

struct Syslog {
    path: PathBuf,
    socket: Option<UnixDatagram>,
    /// Lines not delivered since the last one that was.
    lost: u64,
    /// The first loss is said on stderr, once.
    said: bool,
}

impl Syslog {
    fn new(path: PathBuf) -> Syslog {
        Syslog {
            path,
            socket: None,
            lost: 0,
            said: false,
        }
    }

    fn connect(&mut self) -> io::Result<&UnixDatagram> {
        if self.socket.is_none() {
            let socket = UnixDatagram::unbound()?;
            socket.connect(&self.path)?;
            socket.set_nonblocking(true)?;
            self.socket = Some(socket);
        }
        self.socket
            .as_ref()
            .ok_or_else(|| io::Error::other("no socket"))
    }

    /// Sends one datagram; on an error, one reconnect (the daemon may have
    /// restarted) before the line is counted as lost.
    fn send(&mut self, datagram: &str) -> bool {
        for _attempt in 0..2 {
            match self.connect().and_then(|s| s.send(datagram.as_bytes())) {
                Ok(_) => return true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => self.socket = None,
            }
        }
        false
    }
}

/// Everything the logger writes with, behind one lock.
pub(super) struct Sinks {
    outputs: Vec<Output>,
    settings: LogSettings,
    pid: u32,
}

impl Sinks {
    /// Opens every destination of `settings`. A file that cannot be opened
    /// is an error naming it; the others are still returned.
    pub(super) fn open(settings: &LogSettings) -> (Sinks, Vec<String>) {
        let mut outputs = Vec::new();
        let mut errors = Vec::new();
        for dest in settings.effective_dests() {
            match dest {
                LogDest::Stderr => outputs.push(Output::Stderr {
                    journal: is_journal(&io::stderr()),
                }),
                LogDest::Stdout => outputs.push(Output::Stdout {
                    journal: is_journal(&io::stdout()),
                }),
                LogDest::Syslog => {
                    let path = std::env::var_os("EDGEMQ_SYSLOG_SOCKET")
                        .map_or_else(|| PathBuf::from(SYSLOG_SOCKET), PathBuf::from);
                    outputs.push(Output::Syslog(Syslog::new(path)));
                }
                LogDest::File(path) => match open_log_file(&path) {
                    Ok(file) => outputs.push(Output::File { path, file }),
                    Err(e) => errors.push(format!("log_dest file {}: {e}", path.display())),
                },
            }
        }
        let sinks = Sinks {
            outputs,
            settings: settings.clone(),
            pid: std::process::id(),
        };
        (sinks, errors)
    }

    pub(super) fn wants(&self, metadata: &Metadata<'_>) -> bool {
        let target = metadata.target();
        if target.starts_with("sled") {
            // sled's errors reach the store's writer as results, logged
            // once per outage with their meaning (store/health.rs).
            return false;
        }
        self.settings.connection_messages
            || metadata.level() <= Level::Warn
            || !CONNECTION_TARGETS.contains(&target)
    }

    pub(super) fn write(&mut self, record: &Record<'_>) {
        let unix = crate::wall_clock::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let mut line = String::with_capacity(128);
        for output in &mut self.outputs {
            line.clear();
            let journal = match output {
                Output::Stderr { journal } | Output::Stdout { journal } => *journal,
                Output::File { .. } | Output::Syslog(_) => false,
            };
            if let Output::Syslog(syslog) = output {
                send_syslog(syslog, &self.settings, self.pid, unix, record, &mut line);
                continue;
            }
            let timestamp = self.settings.timestamp.unwrap_or(!journal);
            let stamp = timestamp.then_some((&self.settings.timestamp_format, unix));
            stream_line(
                &mut line,
                journal,
                stamp,
                record.level(),
                record.target(),
                record.args(),
            );
            // A full disk or a closed stream loses this line only.
            let _ = match output {
                Output::Stderr { .. } => io::stderr().lock().write_all(line.as_bytes()),
                Output::Stdout { .. } => io::stdout().lock().write_all(line.as_bytes()),
                Output::File { file, .. } => file.write_all(line.as_bytes()),
                Output::Syslog(_) => Ok(()),
            };
        }
    }

    pub(super) fn settings(&self) -> &LogSettings {
        &self.settings
    }

    /// The files' paths, for the SIGHUP line.
    pub(super) fn files(&self) -> Vec<&Path> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::File { path, .. } => Some(path.as_path()),
                _ => None,
            })
            .collect()
    }
}

fn send_syslog(
    syslog: &mut Syslog,
    settings: &LogSettings,
    pid: u32,
    unix: i64,
    record: &Record<'_>,
    line: &mut String,
) {
    if syslog.lost > 0 {
        let lost = syslog.lost;
        let path = syslog.path.display().to_string();
        let note =
            format_args!("{lost} log lines were lost (syslog socket {path} unavailable or full)");
        syslog_datagram(line, settings.facility, Level::Warn, unix, pid, &note);
        if syslog.send(line) {
            syslog.lost = 0;
        }
        line.clear();
    }
    syslog_datagram(
        line,
        settings.facility,
        record.level(),
        unix,
        pid,
        record.args(),
    );
    if !syslog.send(line) {
        syslog.lost = syslog.lost.saturating_add(1);
        if !syslog.said {
            syslog.said = true;
            let path = syslog.path.display();
            eprintln!("edgemq: log_dest syslog: cannot send to {path}; lines are lost until it accepts them");
        }
    }
}

fn open_log_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

/// Whether `stream` is the systemd journal: `JOURNAL_STREAM` names its
/// device and inode (systemd.exec(5)), so a stream redirected elsewhere by
/// a child of the service is not taken for it.
fn is_journal(stream: &impl AsFd) -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    // Through std's metadata on a duplicate of the descriptor (once, at
    // start): rustix's fstat crashed 32-bit MIPS builds under qemu-user.
    let Ok(meta) = stream
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
        .and_then(|file| file.metadata())
    else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

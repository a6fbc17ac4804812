//! The command line (argh): `edgemq [run] [-c FILE] [-v] [--log-level L]`,
//! `edgemq check-config FILE`, `edgemq passwd ...`, `edgemq token ...`,
//! `edgemq ctl ...`,
//! `edgemq --version`.
//!
//! Owns: turning argv into an [`Action`] for main.rs to dispatch on, and the
//! `check-config` command itself. It starts nothing; `run` options given
//! both before and after the `run` word are merged, the later ones winning.

use std::io::Write;
use std::path::{Path, PathBuf};

use argh::FromArgs;
use log::LevelFilter;

use crate::auth::password_hash::HashKind;
use crate::auth::LoadError;
use crate::commands::passwd::{self, PasswdArgs as PasswdOptions, PasswdRequest};
use crate::commands::token::{TokenRequest, MAX_TTL};
use crate::config::{parse_duration, parse_log_level, Config};
use crate::net::TlsCheckError;
use crate::privileges::accounts;

/// What the process was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Serve. `config: None` = built-in defaults; `log_level` overrides the
    /// config file's (`-v` is `Some(Debug)`).
    Run {
        config: Option<PathBuf>,
        log_level: Option<LevelFilter>,
    },
    /// Validate a config file and exit (see [`check_config`]).
    CheckConfig { file: PathBuf },
    /// Edit a password file (`commands::passwd`).
    Passwd(PasswdRequest),
    /// Print a signed token (`commands::token`).
    Token(TokenRequest),
    /// Ask a running broker (`commands::ctl`).
    Ctl(crate::commands::ctl::CtlArgs),
    /// A subcommand's arguments do not go together: print this
    /// (`Error: ...`, as mosquitto_passwd says it) and exit 1.
    Usage(String),
    /// Print [`version_line`] and exit 0.
    Version,
}

/// edgemq, a small MQTT broker for routers, gateways and access points.
/// Without a subcommand it runs the broker.
#[derive(FromArgs, Debug)]
struct TopLevel {
    /// config file (mosquitto.conf style); without one, anonymous MQTT on
    /// 127.0.0.1:1883
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// log at debug level
    #[argh(switch, short = 'v')]
    verbose: bool,
    /// log level: error, warn, info, debug, trace or off (overrides the
    /// config file and -v)
    #[argh(option, from_str_fn(level_arg))]
    log_level: Option<LevelFilter>,
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Command {
    Run(RunArgs),
    CheckConfig(CheckConfigArgs),
    Passwd(PasswdArgs),
    Token(TokenArgs),
    Ctl(crate::commands::ctl::CtlArgs),
}

/// Run the broker (the default).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "run")]
struct RunArgs {
    /// config file (mosquitto.conf style); without one, anonymous MQTT on
    /// 127.0.0.1:1883
    #[argh(option, short = 'c')]
    config: Option<PathBuf>,
    /// log at debug level
    #[argh(switch, short = 'v')]
    verbose: bool,
    /// log level: error, warn, info, debug, trace or off (overrides the
    /// config file and -v)
    #[argh(option, from_str_fn(level_arg))]
    log_level: Option<LevelFilter>,
}

/// Check a config file without starting: print its warnings, then
/// "FILE: OK" (exit 0) or the error (exit 1).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check-config")]
struct CheckConfigArgs {
    /// the config file to check
    #[argh(positional)]
    file: PathBuf,
}

/// Manage a mosquitto password file, as mosquitto_passwd does:
/// `passwd [-c | -D] FILE USER` prompts twice, `passwd [-c] -b FILE USER
/// PASSWORD` takes the password given, `passwd -U FILE` hashes plain-text
/// passwords. The file is replaced atomically; a new one gets mode 0600.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "passwd")]
struct PasswdArgs {
    /// create a new password file (overwrites an existing one)
    #[argh(switch, short = 'c')]
    create: bool,
    /// delete the user instead of setting its password
    #[argh(switch, short = 'D')]
    delete: bool,
    /// batch mode: the password is given on the command line
    #[argh(switch, short = 'b')]
    batch: bool,
    /// hash every plain-text password of FILE
    #[argh(switch, short = 'U')]
    update: bool,
    /// hash: sha512-pbkdf2 (the default, mosquitto 2.0's) or sha512
    /// (mosquitto 1.x's)
    #[argh(option, short = 'H', from_str_fn(hash_arg))]
    hash: Option<HashKind>,
    /// the password file
    #[argh(positional)]
    file: PathBuf,
    /// the user name, then the password (with -b)
    #[argh(positional, arg_name = "USER [PASSWORD]")]
    rest: Vec<String>,
}

/// Print a signed token (v1:EXPIRY:SIGNATURE) for a client to send as its
/// password to a broker with auth_token_secret_file.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "token")]
struct TokenArgs {
    /// the secret file (the broker's auth_token_secret_file)
    #[argh(option, short = 's')]
    secret: PathBuf,
    /// the client id the token is for
    #[argh(option)]
    clientid: String,
    /// the user name the token is for
    #[argh(option)]
    username: String,
    /// how long it is valid: N[s|h|d|w|m|y] (m is a month), default 1h
    #[argh(
        option,
        from_str_fn(ttl_arg),
        default = "std::time::Duration::from_secs(3600)"
    )]
    ttl: std::time::Duration,
}

fn hash_arg(v: &str) -> Result<HashKind, String> {
    HashKind::from_name(v).ok_or_else(|| format!("expected sha512-pbkdf2 or sha512, got '{v}'"))
}

fn ttl_arg(v: &str) -> Result<std::time::Duration, String> {
    parse_duration(v, MAX_TTL)
}

fn level_arg(v: &str) -> Result<LevelFilter, String> {
    parse_log_level(v)
}

/// The explicit level, else debug for `-v`, else none (the config decides).
fn level(explicit: Option<LevelFilter>, verbose: bool) -> Option<LevelFilter> {
    explicit.or(verbose.then_some(LevelFilter::Debug))
}

/// Parses the process's arguments; on `--help` or a usage error argh prints
/// and exits (0 or 1).
pub fn parse_args() -> Action {
    let top: TopLevel = argh::from_env();
    action(top)
}

/// Parses `args` (without the program name), for tests. `Err` carries
/// argh's help text or usage error.
pub fn parse_from(args: &[&str]) -> Result<Action, argh::EarlyExit> {
    TopLevel::from_args(&["edgemq"], args).map(action)
}

fn action(top: TopLevel) -> Action {
    if top.version {
        return Action::Version;
    }
    let outer = level(top.log_level, top.verbose);
    match top.command {
        None => Action::Run {
            config: top.config,
            log_level: outer,
        },
        Some(Command::Run(run)) => Action::Run {
            config: run.config.or(top.config),
            log_level: level(run.log_level, run.verbose).or(outer),
        },
        Some(Command::CheckConfig(check)) => Action::CheckConfig { file: check.file },
        Some(Command::Passwd(p)) => {
            if p.rest.len() > 2 {
                return Action::Usage("Error: too many arguments.".to_owned());
            }
            let mut rest = p.rest.into_iter();
            let options = PasswdOptions {
                create: p.create,
                delete: p.delete,
                batch: p.batch,
                update: p.update,
                kind: p.hash,
                file: p.file,
                user: rest.next(),
                password: rest.next(),
            };
            match passwd::request(options) {
                Ok(request) => Action::Passwd(request),
                Err(message) => Action::Usage(format!("Error: {message}")),
            }
        }
        Some(Command::Token(t)) => Action::Token(TokenRequest {
            secret_file: t.secret,
            client_id: t.clientid,
            username: t.username,
            ttl: t.ttl,
        }),
        Some(Command::Ctl(ctl)) => Action::Ctl(ctl),
    }
}

/// "edgemq VERSION".
pub fn version_line() -> String {
    format!("edgemq {}", env!("CARGO_PKG_VERSION"))
}

/// `edgemq check-config FILE`: warnings and the error on stderr, "FILE: OK"
/// on stdout. Returns the exit code.
pub fn check_config(file: &Path) -> i32 {
    check_config_to(file, &mut std::io::stdout(), &mut std::io::stderr())
}

/// [`check_config`] with the output streams given, for tests.
pub fn check_config_to(file: &Path, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    // Write errors (a closed pipe) change nothing about the verdict.
    match Config::from_file(file) {
        Ok((config, warnings)) => {
            for w in &warnings {
                let _ = writeln!(err, "warning: {w}");
            }
            let tls = crate::net::check_tls(&config.listeners)
                .err()
                .map(|e| match e {
                    TlsCheckError::Unreadable(e) => FileProblem::Unreadable(e.to_string()),
                    TlsCheckError::Invalid(e) => FileProblem::Invalid(e.to_string()),
                });
            let domains = config.security_domains();
            let credentials = domains.iter().map(|domain| {
                crate::auth::load(domain.auth_files).err().map(|e| match e {
                    LoadError::Unreadable(e) => FileProblem::Unreadable(e.to_string()),
                    LoadError::Invalid(e) => FileProblem::Invalid(e.to_string()),
                })
            });
            for problem in std::iter::once(tls).chain(credentials).flatten() {
                if !report_file_problem(err, problem) {
                    return 1;
                }
            }
            // Only warnings: a bridge reads its files at each connect, so
            // they may appear (or be fixed) after the start.
            for e in crate::net::check_bridge_tls(&config.bridges) {
                let _ = writeln!(
                    err,
                    "warning: {e}: the bridge cannot connect with this file until it is fixed \
                     (it is read again at each connect)"
                );
            }
            // Only a warning: the file may be checked on a build machine
            // that lacks the device's accounts. The start fails instead.
            if let Some(Err(e)) = config.user.as_deref().map(accounts::lookup) {
                let _ = writeln!(
                    err,
                    "warning: {e}: edgemq started as root with this file would refuse to start \
                     (unless the machine it runs on has that user)"
                );
            }
            for listener in &config.listeners {
                let group = listener.unix.as_ref().and_then(|u| u.group.as_deref());
                if let Some(Err(e)) = group.map(accounts::lookup_group) {
                    let _ = writeln!(
                        err,
                        "warning: {}:{}: unix_socket_group: {e}: edgemq would refuse to start \
                         (unless the machine it runs on has that group)",
                        listener.file, listener.line
                    );
                }
            }
            let acl_files = domains.iter().filter_map(|d| d.acl_file);
            if !acl_files.into_iter().all(|path| check_acl_file(path, err)) {
                return 1;
            }
            let _ = writeln!(out, "{}: OK", file.display());
            0
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            1
        }
    }
}

/// Reads an `acl_file` as a start would; `false` when it does not parse
/// (the error said). Unreadable here is only a warning, as for the TLS
/// files: the machine it runs on may have it.
fn check_acl_file(path: &Path, err: &mut dyn Write) -> bool {
    match crate::acl::Acl::load(path) {
        Ok((_, warnings)) => {
            for w in &warnings {
                let _ = writeln!(err, "warning: {w}");
            }
            true
        }
        Err(e) if e.line == 0 => {
            let _ = writeln!(
                err,
                "warning: acl_file: {e}: edgemq started with this file would refuse \
                 to start (unless the machine it runs on has the file)"
            );
            true
        }
        Err(e) => {
            let _ = writeln!(err, "error: acl_file: {e}");
            false
        }
    }
}

/// What is wrong with a file the config names (TLS keys, credentials).
enum FileProblem {
    /// This machine cannot read it; the device it is meant for may.
    Unreadable(String),
    /// It was read and cannot be used.
    Invalid(String),
}

/// Prints `problem`; `false` when it fails the check. An unreadable file
/// is only a warning, as for `user` below: `check-config` may run on a
/// build machine, and the start fails instead.
fn report_file_problem(err: &mut dyn Write, problem: FileProblem) -> bool {
    match problem {
        FileProblem::Unreadable(e) => {
            let _ = writeln!(
                err,
                "warning: {e}: edgemq started with this file would refuse to start \
                 (unless the machine it runs on has the file)"
            );
            true
        }
        FileProblem::Invalid(e) => {
            let _ = writeln!(err, "error: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: Option<&str>, log_level: Option<LevelFilter>) -> Action {
        Action::Run {
            config: config.map(PathBuf::from),
            log_level,
        }
    }

    #[test]
    fn run_is_the_default() {
        assert_eq!(parse_from(&[]).unwrap(), run(None, None));
        assert_eq!(
            parse_from(&["-c", "f.conf"]).unwrap(),
            run(Some("f.conf"), None)
        );
        assert_eq!(
            parse_from(&["--config", "f.conf"]).unwrap(),
            run(Some("f.conf"), None)
        );
        assert_eq!(
            parse_from(&["run", "-c", "f.conf"]).unwrap(),
            run(Some("f.conf"), None)
        );
        assert_eq!(parse_from(&["run"]).unwrap(), run(None, None));
    }

    #[test]
    fn levels() {
        let debug = Some(LevelFilter::Debug);
        assert_eq!(parse_from(&["-v"]).unwrap(), run(None, debug));
        assert_eq!(parse_from(&["run", "--verbose"]).unwrap(), run(None, debug));
        assert_eq!(
            parse_from(&["--log-level", "warn", "-v"]).unwrap(),
            run(None, Some(LevelFilter::Warn))
        );
        assert_eq!(
            parse_from(&["--log-level", "off", "run", "--log-level", "trace"]).unwrap(),
            run(None, Some(LevelFilter::Trace))
        );
        assert_eq!(
            parse_from(&["-c", "a", "--log-level", "error", "run", "-c", "b"]).unwrap(),
            run(Some("b"), Some(LevelFilter::Error))
        );
        assert!(parse_from(&["--log-level", "loud"]).is_err());
    }

    #[test]
    fn check_config_and_version() {
        assert_eq!(
            parse_from(&["check-config", "x.conf"]).unwrap(),
            Action::CheckConfig {
                file: "x.conf".into()
            }
        );
        assert!(parse_from(&["check-config"]).is_err());
        assert_eq!(parse_from(&["--version"]).unwrap(), Action::Version);
        assert_eq!(parse_from(&["--version", "run"]).unwrap(), Action::Version);
        assert_eq!(
            version_line(),
            format!("edgemq {}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn help_and_errors_exit_early() {
        let help = parse_from(&["--help"]).unwrap_err();
        assert_eq!(help.status, Ok(()));
        assert!(help.output.contains("check-config"));
        assert!(parse_from(&["serve"]).unwrap_err().status.is_err());
        assert!(parse_from(&["--bogus"]).unwrap_err().status.is_err());
    }

    #[test]
    fn check_config_reports() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.conf");
        std::fs::write(&good, "listener 1883\nretry_interval 10\n").unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(check_config_to(&good, &mut out, &mut err), 0);
        let (out, err) = (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        );
        assert_eq!(out, format!("{}: OK\n", good.display()));
        assert!(
            err.starts_with("warning: ") && err.contains(":2: ") && err.contains("retry_interval")
        );

        let unknown = dir.path().join("user.conf");
        std::fs::write(&unknown, "user edgemq-test-no-such-user\n").unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(check_config_to(&unknown, &mut out, &mut err), 0);
        let err = String::from_utf8(err).unwrap();
        assert!(
            err.starts_with("warning: user 'edgemq-test-no-such-user' is not in /etc/passwd")
                && err.contains("would refuse to start"),
            "{err}"
        );

        let group = dir.path().join("group.conf");
        std::fs::write(
            &group,
            "listener 0 /run/edgemq.sock\nunix_socket_group edgemq-test-no-such-group\n",
        )
        .unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(check_config_to(&group, &mut out, &mut err), 0);
        let err = String::from_utf8(err).unwrap();
        assert!(
            err.starts_with(&format!(
                "warning: {}:1: unix_socket_group: group",
                group.display()
            )) && err.contains("would refuse to start"),
            "{err}"
        );

        let bad = dir.path().join("bad.conf");
        std::fs::write(&bad, "\n\nfoo bar\n").unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(check_config_to(&bad, &mut out, &mut err), 1);
        assert!(out.is_empty());
        let err = String::from_utf8(err).unwrap();
        assert_eq!(
            err,
            format!("error: {}:3: unknown key 'foo'\n", bad.display())
        );
    }
}

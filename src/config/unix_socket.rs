//! `listener 0 PATH` (mosquitto 2.0's unix socket listener) and the keys
//! that tune the listener above them: `unix_socket_mode`,
//! `unix_socket_group` and a `max_connections` written after a `listener`
//! line (that listener's cap, under the global one, as in mosquitto).
//!
//! Owns the rules of those values; it reads no file and resolves no group
//! (the group is looked up in /etc/group when the socket is made, as root:
//! `check-config` may run on a build machine without the device's
//! accounts). The socket itself is src/net/unix.rs's.

use std::path::PathBuf;

use super::error::Warning;
use super::limits::MAX_CONNECTIONS_CEILING;
use super::line::Line;
use super::listener::ListenerConfig;
use super::ConfigError;

/// `sun_path` holds 108 bytes with the terminating NUL (unix(7)); std's
/// bind refuses a longer path.
pub const MAX_UNIX_PATH_BYTES: usize = 107;

/// Owner and group may connect, nobody else (connecting needs write
/// permission on the socket file).
pub const DEFAULT_UNIX_SOCKET_MODE: u32 = 0o660;

/// A unix socket listener: where its file is and who may use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocket {
    /// Absolute, at most [`MAX_UNIX_PATH_BYTES`].
    pub path: PathBuf,
    /// The file's permission bits (`unix_socket_mode`, octal).
    pub mode: u32,
    /// `unix_socket_group`: the socket's group, by name.
    pub group: Option<String>,
}

/// Whether a `listener` ADDRESS is a path rather than an IP literal (IP
/// literals never hold a `/`).
pub(super) fn is_path(address: &str) -> bool {
    address.contains('/')
}

/// The socket of `listener PORT PATH`: the port must be 0, as mosquitto
/// asks, and the path absolute (the working directory differs between
/// systemd, procd and a shell).
pub(super) fn socket(port: u64, path: &str) -> Result<UnixSocket, String> {
    if port != 0 {
        return Err(format!(
            "a unix socket listener takes port 0 (listener 0 {path}), got port {port}"
        ));
    }
    if !path.starts_with('/') {
        return Err(format!(
            "unix socket path '{}' must be absolute",
            path.escape_debug()
        ));
    }
    if path.len() > MAX_UNIX_PATH_BYTES {
        return Err(format!(
            "unix socket path is {} bytes, more than the {MAX_UNIX_PATH_BYTES} a socket address holds",
            path.len()
        ));
    }
    if path.ends_with('/') {
        return Err(format!(
            "unix socket path '{}' names a directory; give the socket's file name",
            path.escape_debug()
        ));
    }
    Ok(UnixSocket {
        path: PathBuf::from(path),
        mode: DEFAULT_UNIX_SOCKET_MODE,
        group: None,
    })
}

/// `unix_socket_mode MODE` and `unix_socket_group NAME` on the unix socket
/// listener above the line.
pub(super) fn apply(
    listener: Option<&mut ListenerConfig>,
    line: &Line<'_>,
) -> Result<(), ConfigError> {
    let socket = unix_listener(listener, line)?;
    match line.key {
        "unix_socket_mode" => socket.mode = mode(line.one()?).map_err(|m| line.error(m))?,
        _ => socket.group = Some(group(line.one()?).map_err(|m| line.error(m))?),
    }
    Ok(())
}

fn unix_listener<'a>(
    listener: Option<&'a mut ListenerConfig>,
    line: &Line<'_>,
) -> Result<&'a mut UnixSocket, ConfigError> {
    match listener {
        Some(ListenerConfig {
            unix: Some(socket), ..
        }) => Ok(socket),
        Some(tcp) => Err(line.error(format!(
            "applies to a unix socket listener (listener 0 PATH), and the listener above it \
             ({tcp} at {}:{}) is TCP",
            tcp.file, tcp.line
        ))),
        None => Err(line.error(
            "no listener above this line: it applies to the unix socket listener \
             (listener 0 PATH) it follows",
        )),
    }
}

/// Octal permission bits, `0660` or `660`; no setuid, setgid or sticky
/// bit, which mean nothing on a socket.
fn mode(v: &str) -> Result<u32, String> {
    let digits = v.strip_prefix('0').filter(|d| !d.is_empty()).unwrap_or(v);
    let octal = !digits.is_empty()
        && digits.len() <= 3
        && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(digits, 8) {
        Ok(m) if octal => Ok(m),
        _ => Err(format!(
            "expected octal permission bits from 000 to 0777 (e.g. 0660), got '{}'",
            v.escape_debug()
        )),
    }
}

/// A group name as group(5) can hold one: no `:`, no whitespace.
fn group(v: &str) -> Result<String, String> {
    if v.contains(':') || v.chars().any(char::is_control) {
        return Err(format!(
            "'{}' cannot be a group name in /etc/group",
            v.escape_debug()
        ));
    }
    Ok(v.to_owned())
}

/// `max_connections N` after a `listener` line: that listener's cap.
/// mosquitto's -1 (unlimited) leaves only the global cap.
pub(super) fn listener_max_connections(
    listener: &mut ListenerConfig,
    line: &Line<'_>,
) -> Result<(), ConfigError> {
    listener.max_connections = match line.one()? {
        "-1" => None,
        _ => Some(line.size(1, MAX_CONNECTIONS_CEILING)?),
    };
    Ok(())
}

/// A listener's cap above the global one is never reached: say so.
pub(super) fn check_caps(listeners: &[ListenerConfig], global: usize, warnings: &mut Vec<Warning>) {
    for listener in listeners {
        if let Some(cap) = listener.max_connections.filter(|&cap| cap > global) {
            warnings.push(Warning::new(
                &listener.file,
                listener.line,
                format!(
                    "listener {listener}: its max_connections {cap} is above the global \
                     max_connections {global} (the value before the first listener line), \
                     which is reached first"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode("0660"), Ok(0o660));
        assert_eq!(mode("660"), Ok(0o660));
        assert_eq!(mode("0600"), Ok(0o600));
        assert_eq!(mode("0"), Ok(0));
        assert_eq!(mode("0777"), Ok(0o777));
        for bad in [
            "",
            "0o660",
            "0680",
            "1777",
            "04660",
            "-660",
            "rw-rw----",
            "00660",
        ] {
            assert!(mode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths() {
        let s = socket(0, "/run/edgemq/edgemq.sock").unwrap();
        assert_eq!(s.path, PathBuf::from("/run/edgemq/edgemq.sock"));
        assert_eq!((s.mode, s.group), (0o660, None));
        assert!(socket(1883, "/run/x.sock").unwrap_err().contains("port 0"));
        assert!(socket(0, "run/x.sock").unwrap_err().contains("absolute"));
        assert!(socket(0, "/run/edgemq/").unwrap_err().contains("directory"));
        let long = format!("/{}", "a".repeat(MAX_UNIX_PATH_BYTES));
        assert!(socket(0, &long).unwrap_err().contains("107"));
        assert!(socket(0, &long[..MAX_UNIX_PATH_BYTES]).is_ok());
        assert!(is_path("/x") && is_path("./x") && !is_path("::1") && !is_path("10.0.0.1"));
    }

    #[test]
    fn groups() {
        assert_eq!(group("dialout").as_deref(), Ok("dialout"));
        assert!(group("a:b").is_err());
    }
}

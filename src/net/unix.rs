//! Unix socket listeners (`listener 0 PATH`, config/unix_socket.rs): the
//! socket file's life and the byte stream of its connections.
//!
//! Binding runs before root is dropped (src/privileges/), so the file's
//! owner, group and mode are set while that is still allowed: the owner is
//! the `user` edgemq is about to become (it must remove the file at exit),
//! the group `unix_socket_group` (looked up in /etc/group) or that user's,
//! the mode `unix_socket_mode`. The socket is created under a umask that
//! lets nobody but the owner connect until the mode is set.
//!
//! A socket file already at the path is removed only when nobody listens
//! on it (a connect is refused: a broker that was killed); a live one is
//! an error, never taken over, and so is any other kind of file. The file
//! is removed when the broker stops accepting ([`SocketFile`], dropped by
//! the shutdown path in mod.rs), and only if it is still the one this
//! process made.
//!
//! A unix socket peer has no address: the broker gets `PeerAddr::Unix` and
//! names it by the listener's path in log lines.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use async_io::Async;
use log::{info, warn};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::config::UnixSocket;
use crate::privileges::{accounts, Account};

use super::BindError;

/// While the socket is created: owner only, until its mode is set.
const CREATE_UMASK: u32 = 0o177;

/// A socket file this process made, removed when this is dropped if it is
/// still that file (same device and inode).
pub(super) struct SocketFile {
    pub(super) path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if !ours {
            return;
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => info!("removed unix:{}", self.path.display()),
            // The next start removes it as stale.
            Err(error) => warn!(
                "cannot remove unix:{} at exit: {error} (the next start removes it)",
                self.path.display()
            ),
        }
    }
}

/// A bound unix socket, not yet registered with the reactor.
pub(super) struct BoundUnix {
    listener: UnixListener,
    file: SocketFile,
}

/// Binds `socket` with std's sockets (no reactor yet: see listener.rs),
/// clearing a stale file first, and gives the file its owner, group and
/// mode. `owner` is the account root is about to become, if any.
pub(super) fn bind(socket: &UnixSocket, owner: Option<&Account>) -> Result<BoundUnix, BindError> {
    let path = socket.path.as_path();
    let fail = |message: String| BindError::Unix {
        path: path.to_path_buf(),
        message,
    };
    let gid = match (&socket.group, owner) {
        (Some(name), _) => Some(
            accounts::lookup_group(name).map_err(|e| fail(format!("unix_socket_group: {e}")))?,
        ),
        (None, Some(account)) => Some(account.gid),
        (None, None) => None,
    };
    clear_stale(path).map_err(fail)?;
    let listener = bind_owner_only(path).map_err(|e| fail(bind_message(path, &e)))?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| fail(e.to_string()))?;
    let file = SocketFile {
        path: path.to_path_buf(),
        dev: meta.dev(),
        ino: meta.ino(),
    };
    if owner.is_some() || gid.is_some() {
        let uid = owner.map(|a| a.uid);
        std::os::unix::fs::lchown(path, uid, gid).map_err(|e| fail(chown_message(uid, gid, &e)))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(socket.mode))
        .map_err(|e| fail(format!("cannot set mode {:04o}: {e}", socket.mode)))?;
    Ok(BoundUnix { listener, file })
}

/// `bind` under [`CREATE_UMASK`], the old umask put back. The umask is the
/// process's; binding runs while it has one thread (main.rs).
fn bind_owner_only(path: &Path) -> io::Result<UnixListener> {
    let mask = rustix::fs::Mode::from_raw_mode(CREATE_UMASK);
    let old = rustix::process::umask(mask);
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    bound
}

fn chown_message(uid: Option<u32>, gid: Option<u32>, error: &io::Error) -> String {
    let to = match (uid, gid) {
        (Some(uid), Some(gid)) => format!("uid {uid} and gid {gid}"),
        (Some(uid), None) => format!("uid {uid}"),
        (None, gid) => format!("gid {}", gid.unwrap_or_default()),
    };
    let hint = if uid.is_none() && error.kind() == io::ErrorKind::PermissionDenied {
        " (not root, edgemq can give its socket only to a group it is in; under systemd \
         add the group to SupplementaryGroups=)"
    } else {
        ""
    };
    format!("cannot give it to {to}: {error}{hint}")
}

fn bind_message(path: &Path, error: &io::Error) -> String {
    match (error.kind(), path.parent()) {
        (io::ErrorKind::NotFound, Some(dir)) => format!(
            "{error}: the directory {} must exist (systemd: RuntimeDirectory=; OpenWrt: the \
             init script makes it)",
            dir.display()
        ),
        _ => error.to_string(),
    }
}

/// What is at a socket's path before binding: removes a socket nobody
/// listens on; refuses a live one and anything that is not a socket.
fn clear_stale(path: &Path) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot look at what is there: {e}")),
    };
    if !meta.file_type().is_socket() {
        return Err(
            "a file that is not a socket is in the way: not removed (remove it, or give \
             the listener another path)"
                .to_owned(),
        );
    }
    match probe(path) {
        Ok(Listening::Yes) => Err(
            "another process accepts connections on it: not taken over (stop that process, or give \
             this listener another path)"
                .to_owned(),
        ),
        Ok(Listening::No) => {
            std::fs::remove_file(path)
                .map_err(|e| format!("cannot remove the stale socket there: {e}"))?;
            info!(
                "removed a stale socket at {} (no process accepted connections on it)",
                path.display()
            );
            Ok(())
        }
        Ok(Listening::Gone) => Ok(()),
        Err(e) => Err(format!(
            "cannot tell whether another process listens on the socket there ({e}): not removed"
        )),
    }
}

enum Listening {
    Yes,
    No,
    /// Removed between the look and the connect.
    Gone,
}

/// Connects without blocking: a live listener with a full backlog says
/// EAGAIN rather than making the start wait.
fn probe(path: &Path) -> io::Result<Listening> {
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    let address = SocketAddrUnix::new(path)?;
    match rustix::net::connect(&fd, &address) {
        Ok(()) | Err(Errno::AGAIN | Errno::INPROGRESS) => Ok(Listening::Yes),
        Err(Errno::CONNREFUSED) => Ok(Listening::No),
        Err(Errno::NOENT) => Ok(Listening::Gone),
        Err(e) => Err(e.into()),
    }
}

/// Registers a bound socket with the reactor and says "listening on"
/// (listener.rs `serve` says why only now). The file is the caller's to
/// drop when accepting stops.
pub(super) fn serve(bound: BoundUnix) -> Result<(Async<UnixListener>, SocketFile), BindError> {
    let BoundUnix { listener, file } = bound;
    let listener = Async::new(listener).map_err(|e| BindError::Unix {
        path: file.path.clone(),
        message: e.to_string(),
    })?;
    info!("listening on unix:{}", file.path.display());
    Ok((listener, file))
}

/// Accepts one connection, non-blocking from birth (listener.rs `accept`
/// says why).
pub(super) async fn accept(listener: &Async<UnixListener>) -> io::Result<Async<UnixStream>> {
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    loop {
        match rustix::net::accept_with(listener.get_ref(), flags) {
            Ok(fd) => return Async::new_nonblocking(UnixStream::from(fd)),
            Err(Errno::AGAIN) => listener.readable().await?,
            Err(Errno::INTR | Errno::CONNABORTED) => {}
            Err(error) => return Err(error.into()),
        }
    }
}

super::connection::byte_stream_for_async_socket!(UnixStream);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::connection::ByteStream;
    use std::io::{Read, Write};

    fn socket(path: &Path, mode: u32) -> UnixSocket {
        UnixSocket {
            path: path.to_path_buf(),
            mode,
            group: None,
        }
    }

    #[test]
    fn binds_with_its_mode_and_removes_its_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let bound = bind(&socket(&path, 0o640), None).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.mode() & 0o7777, 0o640);
        // A second listener on a live socket is refused, the file kept.
        let again = bind(&socket(&path, 0o600), None).err().unwrap();
        assert!(
            again
                .to_string()
                .contains("another process accepts connections"),
            "{again}"
        );
        assert!(path.exists());
        drop(bound);
        assert!(!path.exists(), "the socket file outlived its listener");
        // Replaced by someone else: not ours to remove.
        let bound = bind(&socket(&path, 0o600), None).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"not ours").unwrap();
        drop(bound);
        assert_eq!(std::fs::read(&path).unwrap(), b"not ours");
    }

    #[test]
    fn a_stale_socket_is_replaced_and_other_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists(), "a closed listener leaves its file");
        let bound = bind(&socket(&path, 0o660), None).unwrap();
        UnixStream::connect(&path).unwrap();
        drop(bound);
        std::fs::write(&path, b"data").unwrap();
        let refused = bind(&socket(&path, 0o660), None).err().unwrap();
        assert!(refused.to_string().contains("not a socket"), "{refused}");
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        let missing = bind(&socket(&dir.path().join("no/s.sock"), 0o660), None)
            .err()
            .unwrap();
        assert!(missing.to_string().contains("must exist"), "{missing}");
    }

    #[test]
    fn a_group_it_is_not_in_says_what_to_do() {
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let m = chown_message(None, Some(20), &denied);
        assert!(m.starts_with("cannot give it to gid 20: "), "{m}");
        assert!(m.contains("SupplementaryGroups="), "{m}");
        let m = chown_message(Some(65534), Some(65534), &denied);
        assert!(m.contains("uid 65534 and gid 65534") && !m.contains("Supplementary"));
    }

    #[test]
    fn accepted_streams_are_non_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let (listener, _file) = serve(bind(&socket(&path, 0o600), None).unwrap()).unwrap();
        let mut client = UnixStream::connect(&path).unwrap();
        let accepted = async_io::block_on(accept(&listener)).unwrap();
        let mut buf = [0u8; 4];
        let read = ByteStream::read(&accepted, &mut buf);
        assert!(matches!(read, Err(e) if e.kind() == io::ErrorKind::WouldBlock));
        client.write_all(b"mqtt").unwrap();
        async_io::block_on(futures_lite::future::poll_fn(|cx| {
            accepted.poll_readable(cx)
        }))
        .unwrap();
        assert_eq!(ByteStream::read(&accepted, &mut buf).unwrap(), 4);
        ByteStream::shutdown(&accepted);
        assert_eq!(client.read(&mut buf).unwrap(), 0);
    }
}

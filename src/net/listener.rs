//! Binding listeners and accepting on them. A LAN address that does not
//! exist yet (the interface comes up after us at boot) is retried with
//! backoff while the other listeners serve; any other bind error stops the
//! start with a message.
//!
//! The first bind uses std's sockets only: no `Async` yet, so no async-io
//! thread, which lets main.rs drop root (`user`) between binding and
//! serving (src/privileges/). A listener is registered with the reactor
//! when it starts serving.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use async_io::{Async, Timer};
use log::{error, info, warn};
use rustix::io::Errno;
use rustix::net::SocketFlags;

use crate::config::ListenerConfig;
use crate::privileges::Account;

use super::unix;

/// Backoff between bind attempts of a missing address: doubling from the
/// first to the last.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub enum BindError {
    Io {
        address: SocketAddr,
        error: io::Error,
    },
    /// A unix socket listener's path, and what is wrong there.
    Unix {
        path: PathBuf,
        message: String,
    },
    /// A TLS listener's certificate, key, CA or CRL file cannot be used.
    Tls(crate::config::ConfigError),
    Internal(&'static str),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::Io { address, error } => write!(f, "cannot listen on {address}: {error}"),
            BindError::Unix { path, message } => {
                write!(f, "cannot listen on unix:{}: {message}", path.display())
            }
            BindError::Tls(error) => write!(f, "{error}"),
            BindError::Internal(why) => write!(f, "internal error: {why}"),
        }
    }
}

impl std::error::Error for BindError {}

pub(super) enum Bound {
    /// Bound and listening, not yet registered with the reactor.
    Ready(TcpListener),
    /// The address is not there yet: bind in the background.
    Retry(SocketAddr),
    /// A unix socket, its file made and owned (unix.rs).
    Unix(unix::BoundUnix),
}

/// Binds one configured listener. Without an address it listens on every
/// interface: `[::]` (which takes IPv4 too on Linux), or `0.0.0.0` where
/// IPv6 is disabled, as on many routers. A unix socket's file goes to
/// `owner`, the account root is about to become.
pub(super) fn bind(
    config: &ListenerConfig,
    owner: Option<&Account>,
) -> Result<Vec<Bound>, BindError> {
    if let Some(socket) = &config.unix {
        return Ok(vec![Bound::Unix(unix::bind(socket, owner)?)]);
    }
    if config.address.is_none() {
        // `socket_addrs` lists `[::]` then `0.0.0.0`: the first that binds
        // serves every interface.
        let mut failed = None;
        for address in config.socket_addrs() {
            match try_bind(address) {
                Ok(listener) => return Ok(vec![Bound::Ready(listener)]),
                Err(error) => failed = Some(BindError::Io { address, error }),
            }
        }
        return Err(failed.unwrap_or(BindError::Internal("listener without an address to bind")));
    }
    // The parser stores IP literals only; `socket_addrs` gives exactly one.
    let Some(&address) = config.socket_addrs().first() else {
        return Err(BindError::Internal("listener address is not an IP literal"));
    };
    match try_bind(address) {
        Ok(listener) => Ok(vec![Bound::Ready(listener)]),
        Err(error) if error.kind() == io::ErrorKind::AddrNotAvailable => {
            warn!("cannot listen on {address} yet ({error}): retrying in the background");
            Ok(vec![Bound::Retry(address)])
        }
        Err(error) => Err(BindError::Io { address, error }),
    }
}

/// std's bind, as `Async::bind` does it (SO_REUSEADDR, listen backlog
/// 128), without the reactor: see the module docs.
fn try_bind(address: SocketAddr) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(address)?;
    // Accepted sockets inherit it on Linux: one setsockopt per listener
    // instead of one per connection (`accept` checks the first).
    rustix::net::sockopt::set_tcp_nodelay(&listener, true)?;
    Ok(listener)
}

/// Registers a bound listener with the reactor (non-blocking from here)
/// and says "listening on": only now, with the signal handlers installed
/// and the store open, is the broker ready for whoever waits for the line.
pub(super) fn serve(listener: TcpListener) -> Result<Async<TcpListener>, BindError> {
    let Ok(local) = listener.local_addr() else {
        return Err(BindError::Internal(
            "a bound listener without a local address",
        ));
    };
    let listener = Async::new(listener).map_err(|error| BindError::Io {
        address: local,
        error,
    })?;
    info!("listening on {local}");
    Ok(listener)
}

/// Retries a missing address with backoff until it binds; gives up (with
/// an error log) only on a different error.
pub(super) async fn bind_with_retry(address: SocketAddr) -> Option<Async<TcpListener>> {
    let mut delay = RETRY_FIRST;
    loop {
        Timer::after(delay).await;
        match try_bind(address) {
            Ok(listener) => match serve(listener) {
                Ok(listener) => return Some(listener),
                Err(error) => {
                    error!("giving up listening on {address}: {error}");
                    return None;
                }
            },
            Err(error) if error.kind() == io::ErrorKind::AddrNotAvailable => {
                delay = (delay * 2).min(RETRY_MAX);
                warn!(
                    "still cannot listen on {address} ({error}): next try in {}s",
                    delay.as_secs()
                );
            }
            Err(error)
                if error.kind() == io::ErrorKind::PermissionDenied && is_privileged(address) =>
            {
                error!(
                    "giving up listening on {address}: {error}: a port below 1024 needs root \
                     or CAP_NET_BIND_SERVICE, and edgemq runs as uid {} (started as root with \
                     `user`, it has dropped root before a listener is retried); use a port \
                     from 1024 up, or an address that exists when edgemq starts",
                    rustix::process::geteuid().as_raw()
                );
                return None;
            }
            Err(error) => {
                error!("giving up listening on {address}: {error}");
                return None;
            }
        }
    }
}

/// A port only root binds (ip(7), `ip_unprivileged_port_start` aside).
pub(super) fn is_privileged(address: SocketAddr) -> bool {
    address.port() < 1024
}

/// Accepts one connection, non-blocking from birth (accept4 with
/// SOCK_NONBLOCK): std's accept followed by `Async::new` adds an ioctl to
/// every connection, one syscall of the ten on the accept path.
pub(super) async fn accept(
    listener: &Async<TcpListener>,
) -> io::Result<(Async<TcpStream>, SocketAddr)> {
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    loop {
        match rustix::net::acceptfrom_with(listener.get_ref(), flags) {
            Ok((fd, peer)) => {
                let stream = TcpStream::from(fd);
                let peer = match peer.map(SocketAddr::try_from) {
                    Some(Ok(peer)) => peer,
                    _ => stream.peer_addr()?,
                };
                return Ok((Async::new_nonblocking(stream)?, peer));
            }
            Err(Errno::AGAIN) => listener.readable().await?,
            // A client that gave up while queued is no reason to pause.
            Err(Errno::INTR | Errno::CONNABORTED) => {}
            Err(error) => return Err(error.into()),
        }
    }
}

/// Whether accepted sockets come with the listener's TCP_NODELAY, learned
/// from the first one; until then, and if they do not, each gets it set.
#[derive(Default)]
pub(super) struct NoDelay {
    inherited: Option<bool>,
}

impl NoDelay {
    pub(super) fn apply(&mut self, stream: &TcpStream) {
        let inherited = *self
            .inherited
            .get_or_insert_with(|| stream.nodelay().unwrap_or(false));
        if !inherited {
            let _ = stream.set_nodelay(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// What the accept path counts on: the socket comes non-blocking, and
    /// with the listener's TCP_NODELAY (or `NoDelay` sets it).
    #[test]
    fn an_accepted_socket_is_non_blocking_with_nodelay() -> io::Result<()> {
        let listener = try_bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let listener = serve(listener).map_err(io::Error::other)?;
        let address = listener.get_ref().local_addr()?;
        let client = TcpStream::connect(address)?;
        let (accepted, peer) = async_io::block_on(accept(&listener))?;
        assert_eq!(peer, client.local_addr()?);
        let mut nodelay = NoDelay::default();
        nodelay.apply(accepted.get_ref());
        assert!(accepted.get_ref().nodelay()?);
        // Linux hands the listener's option down: no setsockopt per client.
        assert_eq!(nodelay.inherited, Some(true));
        let mut byte = [0u8; 1];
        let read = accepted.get_ref().read(&mut byte);
        assert!(matches!(read, Err(e) if e.kind() == io::ErrorKind::WouldBlock));
        Ok(())
    }
}

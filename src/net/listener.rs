//! Binding listeners. A LAN address that does not exist yet (the interface
//! comes up after us at boot) is retried with backoff while the other
//! listeners serve; any other bind error stops the start with a message.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use async_io::{Async, Timer};
use log::{error, info, warn};

use crate::config::ListenerConfig;

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
    Internal(&'static str),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::Io { address, error } => write!(f, "cannot listen on {address}: {error}"),
            BindError::Internal(why) => write!(f, "internal error: {why}"),
        }
    }
}

impl std::error::Error for BindError {}

pub(super) enum Bound {
    Ready(Async<TcpListener>),
    /// The address is not there yet: bind in the background.
    Retry(SocketAddr),
}

/// Binds one configured listener. Without an address it listens on every
/// interface: `[::]` (which takes IPv4 too on Linux), or `0.0.0.0` where
/// IPv6 is disabled, as on many routers.
pub(super) fn bind(config: &ListenerConfig) -> Result<Vec<Bound>, BindError> {
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

fn try_bind(address: SocketAddr) -> io::Result<Async<TcpListener>> {
    let listener = Async::<TcpListener>::bind(address)?;
    let local = listener.get_ref().local_addr()?;
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
            Ok(listener) => return Some(listener),
            Err(error) if error.kind() == io::ErrorKind::AddrNotAvailable => {
                delay = (delay * 2).min(RETRY_MAX);
                warn!(
                    "still cannot listen on {address} ({error}): next try in {}s",
                    delay.as_secs()
                );
            }
            Err(error) => {
                error!("giving up listening on {address}: {error}");
                return None;
            }
        }
    }
}

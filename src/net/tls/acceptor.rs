//! A TLS listener's side (feature `tls`): its rustls `ServerConfig`
//! ([`Acceptor`], built by `server_config.rs` from the listener's keys
//! when it is bound), the [`TlsStream`] it wraps around an accepted
//! socket, and what the end of a handshake tells the broker (the client
//! certificate's name as username). `edgemq check-config` reads the same
//! files through [`check`].

use std::cell::{Cell, RefCell};
use std::net::TcpStream;
use std::sync::Arc;

use async_io::Async;
use rustls::server::ServerConnectionData;
use rustls::{ServerConfig, ServerConnection};

use super::stream::{Side, TlsStream};
use super::{server_config, subject};
use crate::config::tls::{CertUsername, TlsListenerConfig};
use crate::config::{ConfigError, ListenerConfig};
use crate::net::connection::Handshake;
use crate::net::TlsCheckError;

/// A TLS listener's shared configuration. SIGHUP replaces it
/// ([`Acceptor::reload`]): handshakes from then on use the new
/// certificates; connections already up keep the session they made.
pub(crate) struct Acceptor {
    config: RefCell<Arc<ServerConfig>>,
    username: Cell<CertUsername>,
}

impl Acceptor {
    /// Reads the listener's certificate, key, CAs and CRLs; a file that
    /// cannot be read or parsed is an error naming its config line.
    pub(crate) fn new(tls: &TlsListenerConfig) -> Result<Acceptor, ConfigError> {
        Ok(Acceptor {
            config: RefCell::new(server_config::build(tls)?),
            username: Cell::new(tls.username),
        })
    }

    /// Reads the listener's files again (SIGHUP: a renewed certificate, a
    /// new CRL). A file that cannot be read or used leaves the running
    /// configuration in place and is the error.
    pub(crate) fn reload(&self, tls: &TlsListenerConfig) -> Result<(), ConfigError> {
        let config = server_config::build(tls)?;
        *self.config.borrow_mut() = config;
        self.username.set(tls.username);
        Ok(())
    }

    /// Wraps an accepted socket; the handshake starts with the first read.
    pub(in crate::net) fn accept(
        &self,
        socket: Async<TcpStream>,
    ) -> Result<TlsStream<ServerConnection>, rustls::Error> {
        let tls = ServerConnection::new(self.config.borrow().clone())?;
        Ok(TlsStream::new(socket, tls, self.username.get()))
    }
}

/// Reads every TLS listener's files as a start would, for `edgemq
/// check-config`; a file it cannot open is told apart from one that does
/// not parse.
pub(in crate::net) fn check(listeners: &[ListenerConfig]) -> Result<(), TlsCheckError> {
    for listener in listeners {
        let Some(tls) = listener.tls.as_deref() else {
            continue;
        };
        let files = [
            ("certfile", &tls.certfile),
            ("keyfile", &tls.keyfile),
            ("cafile", &tls.cafile),
            ("crlfile", &tls.crlfile),
        ];
        for (key, setting) in files {
            let Some(setting) = setting else { continue };
            if let Err(e) = std::fs::File::open(&setting.path) {
                let why = format!("cannot read '{}': {e}", setting.path.display());
                return Err(TlsCheckError::Unreadable(setting.error(key, why)));
            }
        }
        if let Some(capath) = &tls.capath {
            if let Err(e) = std::fs::read_dir(&capath.path) {
                let why = format!("cannot read directory '{}': {e}", capath.path.display());
                return Err(TlsCheckError::Unreadable(capath.error("capath", why)));
            }
        }
        Acceptor::new(tls).map_err(TlsCheckError::Invalid)?;
    }
    Ok(())
}

impl Side for ServerConnection {
    type Data = ServerConnectionData;
    /// Where the listener takes usernames from.
    type Report = CertUsername;

    /// The end of the handshake, with the certificate's name when the
    /// listener takes usernames from it.
    fn established(&self, username: CertUsername) -> Option<Handshake> {
        let certificate = self.peer_certificates().and_then(|chain| chain.first());
        let name = match username {
            CertUsername::Connect => return Some(Handshake::TlsEstablished),
            CertUsername::CommonName => certificate.and_then(|c| subject::common_name(c)),
            CertUsername::Subject => certificate.and_then(|c| subject::rfc2253(c)),
        };
        Some(Handshake::CertificateUsername(
            name.map(String::into_boxed_str),
        ))
    }
}

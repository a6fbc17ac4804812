//! The generator's TLS 1.3 client (`--tls CAFILE`): rustls with ring, the
//! broker's own TLS crate, so the bench adds no dependency.
//!
//! Every connection makes a full handshake: resumption is off, so a run
//! measures what a fleet of devices coming back after a broker restart
//! costs, whatever session tickets the broker hands out. The key share
//! sent is X25519 unless `--tls-group` says otherwise: what OpenSSL,
//! Python and browsers send first. (rustls 0.23.48's ring provider lists
//! P-384 first, and a server picks the client's first group it supports:
//! ring's P-384 is generic big-number code, ~1 ms of server CPU per
//! handshake on x86_64 against ~50 µs for X25519.) The server
//! certificate is checked against the CA file and the address dialled
//! (the bench certificate has `IP:127.0.0.1` among its names), as a real
//! client would: the generator pays the verification too, see README.md
//! ## Performance.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use async_io::Async;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use rustls::client::Resumption;
use rustls::crypto::{ring, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Ciphertext read per `read` while handshaking or waiting for a reply.
const ASYNC_READ: usize = 4096;

/// How the generator dials: the CA to trust, one configuration shared by
/// every connection.
pub struct TlsClient {
    config: Arc<ClientConfig>,
}

fn tls_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

impl TlsClient {
    /// TLS 1.3 only, trusting the certificates of `cafile` (PEM), with a
    /// key share for `group` (x25519, p256 or p384).
    pub fn new(cafile: &str, group: &str) -> io::Result<TlsClient> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(cafile).map_err(tls_error)? {
            roots.add(cert.map_err(tls_error)?).map_err(tls_error)?;
        }
        // Deprecated for lacking post-quantum key exchange (aws-lc-rs
        // only); ring is what the broker links.
        #[allow(deprecated)]
        let mut provider = ring::default_provider();
        provider.kx_groups = key_exchange(group)?;
        let provider = Arc::new(provider);
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_error)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.resumption = Resumption::disabled();
        Ok(TlsClient {
            config: Arc::new(config),
        })
    }

    fn connection(&self, addr: SocketAddr) -> io::Result<ClientConnection> {
        let name = ServerName::IpAddress(addr.ip().into());
        ClientConnection::new(self.config.clone(), name).map_err(tls_error)
    }

    /// A blocking stream; the handshake runs with its first write.
    pub fn wrap(&self, addr: SocketAddr, socket: TcpStream) -> io::Result<BlockingTls> {
        Ok(Box::new(StreamOwned::new(self.connection(addr)?, socket)))
    }

    /// TCP connect and the whole handshake, on an async-io socket.
    pub async fn connect_async(&self, addr: SocketAddr) -> io::Result<AsyncTls> {
        let socket = Async::<TcpStream>::connect(addr).await?;
        let mut tls = AsyncTls {
            conn: self.connection(addr)?,
            socket,
        };
        while tls.conn.is_handshaking() {
            tls.flush().await?;
            if tls.conn.is_handshaking() && tls.read_records().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        tls.flush().await?;
        Ok(tls)
    }
}

/// The groups offered, `first` first: its share is the one sent.
fn key_exchange(first: &str) -> io::Result<Vec<&'static dyn SupportedKxGroup>> {
    use ring::kx_group::{SECP256R1, SECP384R1, X25519};
    let first = match first {
        "x25519" => X25519,
        "p256" => SECP256R1,
        "p384" => SECP384R1,
        other => {
            return Err(tls_error(format!(
                "unknown group {other}: x25519, p256 or p384"
            )))
        }
    };
    let mut groups = vec![first];
    groups.extend(
        [X25519, SECP256R1, SECP384R1]
            .into_iter()
            .filter(|g| g.name() != first.name()),
    );
    Ok(groups)
}

/// A blocking TLS connection (`Read` and `Write` give plaintext).
pub type BlockingTls = Box<StreamOwned<ClientConnection, TcpStream>>;

/// The socket under a blocking TLS stream.
pub fn socket(tls: &BlockingTls) -> &TcpStream {
    tls.get_ref()
}

/// A TLS connection driven by hand over an async-io socket: rustls takes
/// the ciphertext read, its output is written before any wait.
pub struct AsyncTls {
    conn: ClientConnection,
    socket: Async<TcpStream>,
}

impl AsyncTls {
    /// Writes every record rustls has for the peer.
    async fn flush(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            out.clear();
            self.conn.write_tls(&mut out)?;
            self.socket.write_all(&out).await?;
        }
        Ok(())
    }

    /// One read of ciphertext, handed to rustls and decrypted; 0 at the
    /// end of the TCP stream.
    async fn read_records(&mut self) -> io::Result<usize> {
        let mut buf = [0u8; ASYNC_READ];
        let n = self.socket.read(&mut buf).await?;
        let mut rest = buf.get(..n).unwrap_or(&[]);
        while !rest.is_empty() {
            self.conn.read_tls(&mut rest)?;
            self.conn.process_new_packets().map_err(tls_error)?;
        }
        Ok(n)
    }

    pub async fn write_all(&mut self, plaintext: &[u8]) -> io::Result<()> {
        self.conn.writer().write_all(plaintext)?;
        self.flush().await
    }

    /// Plaintext into `buf`, reading the socket when none is waiting; 0
    /// at the end (close_notify or TCP).
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            // Alerts and tickets may want an answer before we wait.
            self.flush().await?;
            if self.read_records().await? == 0 {
                return Ok(0);
            }
        }
    }
}

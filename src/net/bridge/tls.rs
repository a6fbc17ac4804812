//! TLS toward the remote (feature `bridge-tls`): the bridge's TLS files are
//! read now, at each connect (`net::tls::Connector`: a renewed CA or
//! client certificate is used without a restart), the handshake runs to
//! its end within the connect timeout, and the driver runs the session
//! over the [`TlsStream`] as over plain TCP. rustls with ring, as
//! on the listeners: TLS 1.2 and 1.3, RSA and ECDSA chains, ALPN.
//!
//! A child of the driver, which calls it for TLS bridges; it uses the
//! driver's connect timeout and failure type.

use std::net::TcpStream;

use async_io::Async;
use futures_lite::future;
use log::{info, warn};
use rustls::ClientConnection;

use crate::config::bridge::BridgeAddress;
use crate::config::BridgeConfig;
use crate::net::tls::{describe, Connector, TlsStream};

use super::{with_timeout, Failure};

/// The TCP connection `socket` becomes TLS: the files are read, the
/// handshake runs to its end. `capath_said` is what the bridge last
/// logged about its `bridge_capath` directory: a line is written when that
/// changes, not at every connect.
pub(super) async fn open(
    config: &BridgeConfig,
    address: &BridgeAddress,
    socket: Async<TcpStream>,
    capath_said: &mut String,
) -> Result<TlsStream<ClientConnection>, Failure> {
    let name = &config.name;
    let connector = Connector::new(&config.tls).map_err(Failure::before_up)?;
    if let (Some(found), Some(capath)) = (connector.capath(), &config.tls.capath) {
        let line = format!("bridge_capath {}: {found}", capath.path.display());
        if *capath_said != line {
            info!("bridge {name}: {line}");
            *capath_said = line;
        }
    }
    if config.tls.insecure {
        warn!("bridge {name}: bridge_insecure: NOT checking the certificate of {address}");
    }
    let stream = connector
        .connect(socket, &address.host)
        .map_err(Failure::before_up)?;
    with_timeout("TLS handshake", async {
        future::poll_fn(|cx| stream.poll_handshake(cx))
            .await
            .map_err(|e| format!("TLS handshake: {e}"))
    })
    .await
    .map_err(Failure::before_up)?;
    info!(
        "bridge {name}: TLS with {address}: {}",
        describe(&stream.connection())
    );
    Ok(stream)
}

//! A bridge's TLS client (feature `bridge-tls`): the bridge's TLS keys →
//! a rustls `ClientConfig`, and the [`TlsStream`] it opens on a connected
//! socket.
//!
//! Owns: `bridge_cafile`, `bridge_capath`, `bridge_certfile` /
//! `bridge_keyfile`, `bridge_tls_version`, `bridge_alpn` and
//! `bridge_insecure` as rustls sees them, and every error about their
//! files (naming the config line). A [`Connector`] is built anew at each
//! connect, so a renewed CA or client certificate is used at the next one
//! without a restart; a failure is the bridge's to log and retry.
//!
//! The remote's chain is checked by webpki against the CAs, with RSA and
//! ECDSA signatures, and its name against the host of the `address` line
//! (an IP address against the certificate's IP addresses), once per
//! connection (`server_check.rs`). Nothing is cached between connects: no
//! session resumption.

use std::net::TcpStream;
use std::sync::Arc;

use async_io::Async;
use rustls::client::{ClientConnectionData, Resumption};
use rustls::crypto::ring;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::pem::{self, CaDirectory};
use super::server_check::ServerCheck;
use super::stream::{Side, TlsStream};
use crate::config::bridge::BridgeTls;
use crate::config::tls::TlsVersion;
use crate::config::{BridgeConfig, ConfigError};
use crate::net::connection::Handshake;

impl Side for ClientConnection {
    type Data = ClientConnectionData;
    type Report = ();

    /// A bridge learns nothing the broker needs from its handshake.
    fn established(&self, (): ()) -> Option<Handshake> {
        None
    }
}

/// One connect's TLS configuration.
pub(in crate::net) struct Connector {
    config: Arc<ClientConfig>,
    /// What `bridge_capath` gave, for the log.
    capath: Option<CaDirectory>,
}

impl Connector {
    /// Reads the bridge's CA, CA directory and client certificate files.
    pub(in crate::net) fn new(tls: &BridgeTls) -> Result<Connector, ConfigError> {
        #[allow(deprecated)] // ring, not aws-lc: server_config.rs says why
        let provider = Arc::new(ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version {
            TlsVersion::V1_2 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::V1_3 => &[&rustls::version::TLS13],
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| internal(format!("no cipher suite for the TLS versions: {e}")))?;
        let (check, capath) = if tls.insecure {
            // The CA files do not matter then: not read.
            (ServerCheck::insecure(&provider), None)
        } else {
            let (roots, capath) = roots(tls)?;
            (
                ServerCheck::webpki(roots, &provider).map_err(internal)?,
                capath,
            )
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(check));
        let mut config = match (&tls.certfile, &tls.keyfile) {
            (Some(certfile), Some(keyfile)) => builder
                .with_client_auth_cert(
                    pem::certificates(certfile, "bridge_certfile")?,
                    pem::private_key(keyfile, "bridge_keyfile")?,
                )
                .map_err(|e| {
                    keyfile.error(
                        "bridge_keyfile",
                        format!("does not fit bridge_certfile: {e}"),
                    )
                })?,
            _ => builder.with_no_client_auth(),
        };
        config.resumption = Resumption::disabled();
        config.alpn_protocols = tls.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Ok(Connector {
            config: Arc::new(config),
            capath,
        })
    }

    /// What `bridge_capath` gave, for the log.
    pub(in crate::net) fn capath(&self) -> Option<CaDirectory> {
        self.capath
    }

    /// Starts TLS toward `host` on a connected socket; the handshake runs
    /// with `TlsStream::poll_handshake`. One connection per `Connector`:
    /// its certificate check is made once (`server_check.rs`).
    pub(in crate::net) fn connect(
        self,
        socket: Async<TcpStream>,
        host: &str,
    ) -> Result<TlsStream<ClientConnection>, String> {
        let name = ServerName::try_from(host)
            .map_err(|e| format!("'{host}' is no DNS name or IP address for TLS: {e}"))?
            .to_owned();
        let connection =
            ClientConnection::new(self.config, name).map_err(|e| format!("TLS: {e}"))?;
        Ok(TlsStream::new(socket, connection, ()))
    }
}

/// The trusted CAs: `bridge_cafile`'s certificates and those of every
/// file in `bridge_capath`, which must give at least one.
fn roots(tls: &BridgeTls) -> Result<(RootCertStore, Option<CaDirectory>), ConfigError> {
    let mut roots = RootCertStore::empty();
    if let Some(cafile) = &tls.cafile {
        pem::add_cafile(&mut roots, cafile, "bridge_cafile")?;
    }
    let Some(capath) = &tls.capath else {
        return Ok((roots, None));
    };
    let found = pem::add_capath(&mut roots, capath, "bridge_capath")?;
    if found.added == 0 {
        return Err(capath.error(
            "bridge_capath",
            format!(
                "no PEM certificate in '{}' ({} file(s) skipped)",
                capath.path.display(),
                found.skipped
            ),
        ));
    }
    Ok((roots, Some(found)))
}

fn internal(why: String) -> ConfigError {
    ConfigError::new("", 0, format!("internal error: {why}"))
}

/// How the handshake went, for the log: "TLS 1.3, TLS13_AES_256_GCM_SHA384,
/// ALPN x-amzn-mqtt-ca".
pub(in crate::net) fn describe(connection: &ClientConnection) -> String {
    let version = match connection.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_owned(),
        Some(other) => format!("TLS version {:#06x}", u16::from(other)),
        None => "TLS".to_owned(),
    };
    let suite = connection
        .negotiated_cipher_suite()
        .map(|s| match s.suite().as_str() {
            Some(name) => format!(", {name}"),
            None => format!(", cipher suite {:#06x}", u16::from(s.suite())),
        })
        .unwrap_or_default();
    let alpn = connection
        .alpn_protocol()
        .map(|p| format!(", ALPN {}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    format!("{version}{suite}{alpn}")
}

/// Reads every TLS bridge's files as a connect would (`edgemq
/// check-config`); the errors, each naming its config line.
pub(in crate::net) fn check(bridges: &[BridgeConfig]) -> Vec<ConfigError> {
    bridges
        .iter()
        .filter(|b| b.uses_tls())
        .filter_map(|b| Connector::new(&b.tls).err())
        .collect()
}

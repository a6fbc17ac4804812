//! How a bridge checks the remote's certificate (feature `bridge-tls`):
//! rustls' webpki verifier against the bridge's CAs, used once. The
//! handshake makes one certificate check; the verifier, and with it the
//! trust anchors of every CA (about 80 KiB for the system store), is
//! dropped then, so a link does not hold a copy of its CA store for its
//! whole life (RSS per link: docs/design.md, "TLS").
//!
//! With `bridge_insecure` nothing is checked but the handshake's
//! signatures against the certificate sent, which proves only that the
//! peer holds its key.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// A bridge's server certificate check (see the module docs).
#[derive(Debug)]
pub(super) struct ServerCheck {
    /// `None` with `bridge_insecure`, and once the check has been made.
    webpki: Mutex<Option<Arc<WebPkiServerVerifier>>>,
    insecure: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCheck {
    /// Checks against `roots`, with `provider`'s signature algorithms.
    pub(super) fn webpki(
        roots: RootCertStore,
        provider: &Arc<CryptoProvider>,
    ) -> Result<ServerCheck, String> {
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("cannot use the CAs: {e}"))?;
        Ok(ServerCheck {
            webpki: Mutex::new(Some(verifier)),
            insecure: false,
            algorithms: provider.signature_verification_algorithms,
        })
    }

    /// `bridge_insecure true`: any certificate, for any name.
    pub(super) fn insecure(provider: &CryptoProvider) -> ServerCheck {
        ServerCheck {
            webpki: Mutex::new(None),
            insecure: true,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.insecure {
            return Ok(ServerCertVerified::assertion());
        }
        // Taken: the anchors are freed when this check returns.
        let taken = self.webpki.lock().ok().and_then(|mut v| v.take());
        let Some(webpki) = taken else {
            return Err(rustls::Error::General(
                "a second server certificate check on one connection".into(),
            ));
        };
        webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

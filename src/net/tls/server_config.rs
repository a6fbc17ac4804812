//! A TLS listener's keys → a rustls `ServerConfig`: the certificate chain
//! and key (PEM, RSA or ECDSA, PKCS#1/PKCS#8/SEC1), the client CAs
//! (`cafile`, every PEM file in `capath`), the CRLs (`crlfile`), the
//! lowest version and the cipher suites.
//!
//! Owns: what those files mean for a listener (`pem.rs` reads them; every
//! error names the config line that gave the path). Called when the
//! listener is bound (as root, before `user` drops it) and by `edgemq
//! check-config`; nothing is read while serving.

use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateRevocationListDer;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::pem;
use crate::config::tls::{PathSetting, TlsListenerConfig, TlsVersion};
use crate::config::ConfigError;

/// Builds the listener's rustls configuration, reading every file it names.
pub(crate) fn build(tls: &TlsListenerConfig) -> Result<Arc<ServerConfig>, ConfigError> {
    let (Some(certfile), Some(keyfile)) = (&tls.certfile, &tls.keyfile) else {
        return Err(ConfigError::new(
            "",
            0,
            "internal error: a TLS listener without certfile and keyfile",
        ));
    };
    let chain = pem::certificates(certfile, "certfile")?;
    let key = pem::private_key(keyfile, "keyfile")?;
    let provider = Arc::new(provider(tls));
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::V1_2 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::V1_3 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| {
            certfile.error(
                "certfile",
                format!("no cipher suite left for the TLS versions of this listener: {e}"),
            )
        })?;
    let builder = if tls.require_certificate {
        let roots = client_roots(tls)?;
        let crls = match &tls.crlfile {
            Some(crlfile) => revocation_lists(crlfile)?,
            None => Vec::new(),
        };
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .with_crls(crls)
            // mosquitto checks the client's own certificate against the CRL
            // (X509_V_FLAG_CRL_CHECK), and refuses when the CRL of its CA
            // is missing.
            .only_check_end_entity_revocation()
            .build()
            .map_err(|e| {
                let at = tls.crlfile.as_ref().unwrap_or(certfile);
                at.error(
                    "crlfile",
                    format!("cannot use the client CAs and CRLs: {e}"),
                )
            })?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| keyfile.error("keyfile", format!("does not fit certfile: {e}")))?;
    Ok(Arc::new(config))
}

/// ring's suites, narrowed by `ciphers` (TLS 1.2) and `ciphers_tls1.3`,
/// in the order the lines name them.
fn provider(tls: &TlsListenerConfig) -> CryptoProvider {
    // Deprecated since rustls 0.23.48 for lacking post-quantum key
    // exchange, which only its aws-lc-rs provider has; aws-lc-rs needs
    // cmake and bindgen and does not build for MIPS, ring does.
    #[allow(deprecated)]
    let mut provider = ring::default_provider();
    if tls.ciphers.is_none() && tls.ciphers_tls13.is_none() {
        return provider;
    }
    let all = std::mem::take(&mut provider.cipher_suites);
    let pick = |names: &Option<Vec<&'static str>>, tls13: bool| {
        let of_version: Vec<_> = all
            .iter()
            .filter(|s| s.tls13().is_some() == tls13)
            .copied()
            .collect();
        match names {
            None => of_version,
            Some(names) => names
                .iter()
                .filter_map(|name| {
                    of_version
                        .iter()
                        .find(|s| s.suite().as_str() == Some(*name))
                        .copied()
                })
                .collect(),
        }
    };
    let mut suites = pick(&tls.ciphers_tls13, true);
    suites.extend(pick(&tls.ciphers, false));
    provider.cipher_suites = suites;
    provider
}

/// The CAs client certificates must chain to: `cafile`, then every file
/// of `capath` that holds PEM certificates.
fn client_roots(tls: &TlsListenerConfig) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    if let Some(cafile) = &tls.cafile {
        pem::add_cafile(&mut roots, cafile, "cafile")?;
    }
    if let Some(capath) = &tls.capath {
        let found = pem::add_capath(&mut roots, capath, "capath")?;
        if found.added == 0 && tls.cafile.is_none() {
            return Err(capath.error(
                "capath",
                format!("no PEM certificate in '{}'", capath.path.display()),
            ));
        }
    }
    Ok(roots)
}

/// Every CRL of a PEM file (`openssl ca -gencrl` writes one).
fn revocation_lists(
    setting: &PathSetting,
) -> Result<Vec<CertificateRevocationListDer<'static>>, ConfigError> {
    let pem = pem::read(setting, "crlfile")?;
    let crls = CertificateRevocationListDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            setting.error(
                "crlfile",
                format!("'{}' is no PEM file: {e}", setting.path.display()),
            )
        })?;
    if crls.is_empty() {
        return Err(setting.error(
            "crlfile",
            format!(
                "'{}' holds no PEM CRL (-----BEGIN X509 CRL-----)",
                setting.path.display()
            ),
        ));
    }
    Ok(crls)
}

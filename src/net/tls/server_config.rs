//! A TLS listener's keys → a rustls `ServerConfig`: the certificate chain
//! and key (PEM, RSA or ECDSA, PKCS#1/PKCS#8/SEC1), the client CAs
//! (`cafile`, every PEM file in `capath`), the CRLs (`crlfile`), the
//! lowest version and the cipher suites.
//!
//! Owns: reading those files and every error about them, which names the
//! config line that gave the path (`FILE:LINE: certfile: cannot read
//! '/etc/…': …`). Called when the listener is bound (as root, before
//! `user` drops it) and by `edgemq check-config`; nothing is read while
//! serving.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::tls::{PathSetting, TlsListenerConfig, TlsVersion};
use crate::config::ConfigError;

/// Files read from a `capath` directory at most: a CA directory is a
/// handful of files; this bounds a wrong path (`/`) to a quick error.
const MAX_CAPATH_FILES: usize = 1024;

/// Certificate, CA and CRL files are small; a bigger one is a wrong path.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Builds the listener's rustls configuration, reading every file it names.
pub(crate) fn build(tls: &TlsListenerConfig) -> Result<Arc<ServerConfig>, ConfigError> {
    let (Some(certfile), Some(keyfile)) = (&tls.certfile, &tls.keyfile) else {
        return Err(ConfigError::new(
            "",
            0,
            "internal error: a TLS listener without certfile and keyfile",
        ));
    };
    let chain = certificates(certfile, "certfile")?;
    let key = private_key(keyfile)?;
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

/// Reads a PEM file, bounded; the error names the line that gave its path.
fn read(setting: &PathSetting, key: &str) -> Result<Vec<u8>, ConfigError> {
    read_path(&setting.path).map_err(|e| setting.error(key, e))
}

fn read_path(path: &Path) -> Result<Vec<u8>, String> {
    let cannot = |e: std::io::Error| format!("cannot read '{}': {e}", path.display());
    let length = std::fs::metadata(path).map_err(cannot)?.len();
    if length > MAX_PEM_BYTES {
        return Err(format!(
            "'{}' is {length} bytes, more than a PEM file of certificates or keys \
             ({MAX_PEM_BYTES} at most)",
            path.display()
        ));
    }
    std::fs::read(path).map_err(cannot)
}

/// Every certificate of a PEM file; none is an error.
fn certificates(
    setting: &PathSetting,
    key: &str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read(setting, key)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            setting.error(
                key,
                format!("'{}' is no PEM file: {e}", setting.path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(setting.error(
            key,
            format!(
                "'{}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                setting.path.display()
            ),
        ));
    }
    Ok(certs)
}

/// The key: the first PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
fn private_key(setting: &PathSetting) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let pem = read(setting, "keyfile")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        setting.error(
            "keyfile",
            format!(
                "'{}' holds no usable PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC \
                 PRIVATE KEY; an encrypted key is not supported): {e}",
                setting.path.display()
            ),
        )
    })
}

/// The CAs client certificates must chain to: `cafile`, then every file
/// of `capath` that holds PEM certificates.
fn client_roots(tls: &TlsListenerConfig) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    if let Some(cafile) = &tls.cafile {
        for cert in certificates(cafile, "cafile")? {
            roots
                .add(cert)
                .map_err(|e| cafile.error("cafile", format!("cannot use a CA: {e}")))?;
        }
    }
    if let Some(capath) = &tls.capath {
        let added = capath_roots(capath, &mut roots)?;
        if added == 0 && tls.cafile.is_none() {
            return Err(capath.error(
                "capath",
                format!("no PEM certificate in '{}'", capath.path.display()),
            ));
        }
    }
    Ok(roots)
}

/// Adds the certificates of every readable PEM file in the directory
/// (OpenSSL's hash links included: a CA seen twice is kept once by the
/// verifier's own matching). Files that hold none are skipped.
fn capath_roots(capath: &PathSetting, roots: &mut RootCertStore) -> Result<usize, ConfigError> {
    let entries = std::fs::read_dir(&capath.path).map_err(|e| {
        capath.error(
            "capath",
            format!("cannot read directory '{}': {e}", capath.path.display()),
        )
    })?;
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    if paths.len() > MAX_CAPATH_FILES {
        return Err(capath.error(
            "capath",
            format!(
                "'{}' has more than {MAX_CAPATH_FILES} entries: is it a CA directory?",
                capath.path.display()
            ),
        ));
    }
    paths.sort();
    let mut added = 0;
    for path in paths.iter().filter(|p| p.is_file()) {
        let Ok(pem) = read_path(path) else { continue };
        for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
            if roots.add(cert).is_ok() {
                added += 1;
            }
        }
    }
    Ok(added)
}

/// Every CRL of a PEM file (`openssl ca -gencrl` writes one).
fn revocation_lists(
    setting: &PathSetting,
) -> Result<Vec<CertificateRevocationListDer<'static>>, ConfigError> {
    let pem = read(setting, "crlfile")?;
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

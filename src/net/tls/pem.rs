//! Reading the PEM files of TLS keys, for a listener (`server_config.rs`)
//! and a bridge (`connector.rs`) alike: certificate chains, private keys
//! (PKCS#8, PKCS#1 RSA, SEC1 EC) and CA directories, with rustls'
//! pki-types PEM parser.
//!
//! Owns: the size bounds on what it reads, and every error about a file,
//! naming the config line that gave its path (`FILE:LINE: KEY: cannot
//! read '/etc/…': …`).

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

use crate::config::tls::PathSetting;
use crate::config::ConfigError;

/// Files read from a CA directory at most: a CA directory is a handful of
/// files, the system store (/etc/ssl/certs) a few hundred; this bounds a
/// wrong path (`/`) to a quick error.
const MAX_CAPATH_FILES: usize = 1024;

/// Certificate, CA and CRL files are small (Debian's bundle of every
/// system CA is about 220 KB); a bigger one is a wrong path.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Reads a PEM file, bounded; the error names the line that gave its path.
pub(super) fn read(setting: &PathSetting, key: &str) -> Result<Vec<u8>, ConfigError> {
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
pub(super) fn certificates(
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
pub(super) fn private_key(
    setting: &PathSetting,
    key: &str,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let pem = read(setting, key)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        setting.error(
            key,
            format!(
                "'{}' holds no usable PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC \
                 PRIVATE KEY; an encrypted key is not supported): {e}",
                setting.path.display()
            ),
        )
    })
}

/// Adds every certificate of a CA file to `roots`.
pub(super) fn add_cafile(
    roots: &mut RootCertStore,
    setting: &PathSetting,
    key: &str,
) -> Result<(), ConfigError> {
    for cert in certificates(setting, key)? {
        roots
            .add(cert)
            .map_err(|e| setting.error(key, format!("cannot use a CA: {e}")))?;
    }
    Ok(())
}

/// What a CA directory gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::net) struct CaDirectory {
    /// Distinct CA certificates added.
    pub(super) added: usize,
    /// Files that held at least one PEM certificate.
    pub(super) files: usize,
    /// Files that could not be read or held none.
    pub(super) skipped: usize,
}

impl std::fmt::Display for CaDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = |n: usize| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{} CA certificate{} from {} file{}, {} skipped (unreadable or no PEM certificate)",
            self.added,
            s(self.added),
            self.files,
            s(self.files),
            self.skipped
        )
    }
}

/// Adds the certificates of every readable PEM file in the directory to
/// `roots`, whatever the files are called (`*.pem`, `*.crt`, OpenSSL's
/// hash links `HASH.0`, a bundle). A CA found in several files (a hash
/// link and its target) is added once. Subdirectories are not entered.
pub(super) fn add_capath(
    roots: &mut RootCertStore,
    capath: &PathSetting,
    key: &str,
) -> Result<CaDirectory, ConfigError> {
    let entries = std::fs::read_dir(&capath.path).map_err(|e| {
        capath.error(
            key,
            format!("cannot read directory '{}': {e}", capath.path.display()),
        )
    })?;
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    if paths.len() > MAX_CAPATH_FILES {
        return Err(capath.error(
            key,
            format!(
                "'{}' has more than {MAX_CAPATH_FILES} entries: is it a CA directory?",
                capath.path.display()
            ),
        ));
    }
    paths.sort();
    let mut found = CaDirectory {
        added: 0,
        files: 0,
        skipped: 0,
    };
    let mut certs = Vec::new();
    for path in paths.iter().filter(|p| p.is_file()) {
        let before = certs.len();
        if let Ok(pem) = read_path(path) {
            certs.extend(CertificateDer::pem_slice_iter(&pem).flatten());
        }
        if certs.len() > before {
            found.files += 1;
        } else {
            found.skipped += 1;
        }
    }
    certs.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    certs.dedup_by(|a, b| a.as_ref() == b.as_ref());
    for cert in certs {
        if roots.add(cert).is_ok() {
            found.added += 1;
        }
    }
    Ok(found)
}

//! The TLS keys of a listener, as mosquitto spells them: `certfile`,
//! `keyfile`, `cafile`, `capath`, `crlfile`, `require_certificate`,
//! `use_identity_as_username`, `use_subject_as_username`, `tls_version`,
//! `ciphers`, `ciphers_tls1.3`. Each belongs to the `listener` line above
//! it (mosquitto's per-listener meaning); TLS is on once `certfile` and
//! `keyfile` are both given.
//!
//! Owns: the keys' syntax and cross-checks, and the OpenSSL cipher names
//! edgemq can honour. It does not read the certificate files: they are read
//! (as root, before privileges are dropped) when the listener is bound, and
//! by `edgemq check-config` (`net::check_tls`), with the line each path came
//! from.
//!
//! In a build without the `tls` feature no key is claimed here: they reach
//! `mosquitto.rs`, which refuses them ("this build has no TLS").

use std::path::PathBuf;

use super::error::{ConfigError, Warning};
use super::line::Line;
use super::listener::ListenerConfig;

/// A path and the line that set it, for messages about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathSetting {
    pub path: PathBuf,
    pub file: String,
    pub line: usize,
}

impl PathSetting {
    /// The path a line gives, with the line.
    pub(super) fn of(line: &Line<'_>) -> Result<PathSetting, ConfigError> {
        Ok(PathSetting {
            path: line.path()?,
            file: line.file.to_owned(),
            line: line.number,
        })
    }

    /// "FILE:LINE: KEY: MESSAGE", the form of every config error.
    pub fn error(&self, key: &str, message: impl std::fmt::Display) -> ConfigError {
        ConfigError::new(&self.file, self.line, format!("{key}: {message}"))
    }
}

/// The lowest TLS version a listener accepts (`tls_version`), or a bridge
/// offers (`bridge_tls_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (the default, as in mosquitto).
    #[default]
    V1_2,
    V1_3,
}

/// Where a client's username comes from on a TLS listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertUsername {
    /// CONNECT's username, as on a plain listener.
    #[default]
    Connect,
    /// `use_identity_as_username`: the certificate's first CN.
    CommonName,
    /// `use_subject_as_username`: the whole subject DN in RFC 2253 form.
    Subject,
}

/// A listener's TLS settings; `certfile` and `keyfile` are both set once
/// parsing has finished (`finish` refuses a listener with only one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsListenerConfig {
    pub certfile: Option<PathSetting>,
    pub keyfile: Option<PathSetting>,
    pub cafile: Option<PathSetting>,
    pub capath: Option<PathSetting>,
    pub crlfile: Option<PathSetting>,
    pub require_certificate: bool,
    pub username: CertUsername,
    pub min_version: TlsVersion,
    /// `ciphers`: the TLS 1.2 suites offered, IANA names, in order.
    pub ciphers: Option<Vec<&'static str>>,
    /// `ciphers_tls1.3`: the TLS 1.3 suites offered, IANA names, in order.
    pub ciphers_tls13: Option<Vec<&'static str>>,
}

/// The keys this module reads.
const KEYS: &[&str] = &[
    "cafile",
    "capath",
    "certfile",
    "ciphers",
    "ciphers_tls1.3",
    "crlfile",
    "keyfile",
    "require_certificate",
    "tls_version",
    "use_identity_as_username",
    "use_subject_as_username",
];

/// OpenSSL's names of the TLS 1.2 suites rustls (with ring) implements,
/// with their IANA names. Every one is ECDHE with an AEAD: rustls has no
/// CBC, RSA key exchange or DHE suites.
pub const TLS12_SUITES: &[(&str, &str)] = &[
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// The TLS 1.3 suites: OpenSSL uses the IANA names for them.
pub const TLS13_SUITES: &[(&str, &str)] = &[
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
];

/// Whether `key` is read here. Without the `tls` feature none is, and the
/// keys are refused by `mosquitto.rs`.
pub(super) fn claims(key: &str) -> bool {
    cfg!(feature = "tls") && KEYS.contains(&key)
}

/// Applies one TLS key to the listener it follows.
pub(super) fn apply(
    listener: Option<&mut ListenerConfig>,
    line: &Line<'_>,
) -> Result<(), ConfigError> {
    let Some(listener) = listener else {
        return Err(line.error(
            "TLS settings belong to a listener: put this line after the `listener PORT \
             [ADDRESS]` line it is for",
        ));
    };
    let tls = listener.tls.get_or_insert_with(Box::default);
    let path = || PathSetting::of(line);
    match line.key {
        "certfile" => tls.certfile = Some(path()?),
        "keyfile" => tls.keyfile = Some(path()?),
        "cafile" => tls.cafile = Some(path()?),
        "capath" => tls.capath = Some(path()?),
        "crlfile" => tls.crlfile = Some(path()?),
        "require_certificate" => tls.require_certificate = line.boolean()?,
        "use_identity_as_username" => {
            username(tls, line, CertUsername::CommonName)?;
        }
        "use_subject_as_username" => username(tls, line, CertUsername::Subject)?,
        "tls_version" => tls.min_version = tls_version(line)?,
        "ciphers" => tls.ciphers = Some(suites(line, TLS12_SUITES, "TLS 1.2")?),
        "ciphers_tls1.3" => tls.ciphers_tls13 = Some(suites(line, TLS13_SUITES, "TLS 1.3")?),
        _ => return Err(line.error("internal error: not a TLS key")),
    }
    Ok(())
}

/// `use_identity_as_username` / `use_subject_as_username true|false`; the
/// later of the two lines wins, as the username has one source.
fn username(
    tls: &mut TlsListenerConfig,
    line: &Line<'_>,
    source: CertUsername,
) -> Result<(), ConfigError> {
    if line.boolean()? {
        tls.username = source;
    } else if tls.username == source {
        tls.username = CertUsername::Connect;
    }
    Ok(())
}

/// `tls_version tlsv1.2|tlsv1.3`: the lowest version accepted.
fn tls_version(line: &Line<'_>) -> Result<TlsVersion, ConfigError> {
    match line.one()? {
        "tlsv1.2" => Ok(TlsVersion::V1_2),
        "tlsv1.3" => Ok(TlsVersion::V1_3),
        v @ ("tlsv1.1" | "tlsv1") => Err(line.error(format!(
            "{v} is not supported by edgemq (its TLS implementation, rustls, speaks TLS 1.2 \
             and 1.3 only): use tlsv1.2 or tlsv1.3"
        ))),
        v => Err(line.error(format!(
            "expected tlsv1.2 or tlsv1.3, got '{}'",
            v.escape_debug()
        ))),
    }
}

/// An OpenSSL cipher list (`A:B:C`, commas and spaces also separate) of
/// exact suite names → IANA names. OpenSSL's keywords and operators
/// (`HIGH`, `!aNULL`, `@STRENGTH`) are refused: edgemq cannot tell what
/// they would select, and a silent guess could offer what was excluded.
fn suites(
    line: &Line<'_>,
    table: &[(&str, &'static str)],
    what: &str,
) -> Result<Vec<&'static str>, ConfigError> {
    if line.args.is_empty() {
        return Err(line.error("missing value"));
    }
    let mut chosen = Vec::new();
    let names = line
        .args
        .iter()
        .flat_map(|arg| arg.split([':', ',']))
        .filter(|name| !name.is_empty());
    for name in names {
        let Some((_, iana)) = table
            .iter()
            .find(|(openssl, iana)| *openssl == name || *iana == name)
        else {
            let known: Vec<&str> = table.iter().map(|(openssl, _)| *openssl).collect();
            return Err(line.error(format!(
                "'{}' is not a {what} cipher suite edgemq can offer (cipher list keywords \
                 and operators are not supported); name suites from: {}",
                name.escape_debug(),
                known.join(":")
            )));
        };
        if !chosen.contains(iana) {
            chosen.push(*iana);
        }
    }
    if chosen.is_empty() {
        return Err(line.error("missing value"));
    }
    Ok(chosen)
}

/// Cross-checks of every listener's TLS keys, once the file is read.
pub(super) fn finish(
    listeners: &[ListenerConfig],
    warnings: &mut Vec<Warning>,
) -> Result<(), ConfigError> {
    for listener in listeners {
        let Some(tls) = listener.tls.as_deref() else {
            continue;
        };
        let at = || {
            format!(
                "the listener {listener} at {}:{}",
                listener.file, listener.line
            )
        };
        let error = |message: String| ConfigError::new(&listener.file, listener.line, message);
        match (&tls.certfile, &tls.keyfile) {
            (Some(_), Some(_)) => {}
            (Some(cert), None) => {
                return Err(cert.error(
                    "certfile",
                    format!(
                        "TLS on {} needs keyfile too (the certificate's private key)",
                        at()
                    ),
                ))
            }
            (None, Some(key)) => {
                return Err(key.error(
                    "keyfile",
                    format!(
                        "TLS on {} needs certfile too (the server certificate)",
                        at()
                    ),
                ))
            }
            (None, None) => {
                return Err(error(format!(
                    "listener: TLS keys are set for this listener but certfile and keyfile \
                     are missing; TLS needs both (or remove the TLS keys to serve plain MQTT \
                     on {listener})"
                )))
            }
        }
        if tls.require_certificate && tls.cafile.is_none() && tls.capath.is_none() {
            return Err(error(format!(
                "listener: require_certificate true on {listener} needs cafile or capath (the \
                 CA that signs the client certificates)"
            )));
        }
        if tls.username != CertUsername::Connect && !tls.require_certificate {
            warnings.push(Warning::new(
                &listener.file,
                listener.line,
                format!(
                    "{listener}: the username is taken from the client certificate, but \
                     require_certificate is false, so no client is asked for one and every \
                     CONNECT is refused (bad username or password): set require_certificate true"
                ),
            ));
        }
        if tls.crlfile.is_some() && !tls.require_certificate {
            warnings.push(Warning::new(
                &listener.file,
                listener.line,
                format!("{listener}: crlfile has no effect without require_certificate true"),
            ));
        }
    }
    Ok(())
}

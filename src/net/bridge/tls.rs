//! TLS 1.3 toward the remote through embedded-tls (client only, AES-GCM,
//! P-256 key share): the server certificate is checked against
//! `bridge_cafile` (one CA, DER or PEM) with the host name of the address;
//! `bridge_certfile` / `bridge_keyfile` give a client certificate (the key
//! must be a P-256 SEC1 key, `-----BEGIN EC PRIVATE KEY-----`).
//! `bridge_insecure` skips the checks, loudly.
//!
//! The connection is split into a reader and a writer half over the same
//! socket, so the session's read and write loops run side by side.

use std::cell::RefCell;
use std::net::TcpStream;
use std::rc::Rc;
use std::time::SystemTime;

use async_io::Async;
use embedded_io_adapters::futures_03::FromFutures;
use embedded_io_async::{Read, Write};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, SignatureScheme, TlsConfig, TlsConnection,
    TlsContext, TlsError, TlsVerifier, UnsecureProvider,
};
use log::warn;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::SecretKey;
use rand_core::OsRng;

use crate::bridge::link::Link;
use crate::config::bridge::BridgeAddress;
use crate::config::BridgeConfig;
use crate::net::Shared;

use super::{session as mqtt_session, Failure, ReadHalf, WriteHalf};

/// embedded-tls's record buffers: a whole TLS record must fit in the read one.
const READ_RECORD: usize = 16_640;
const WRITE_RECORD: usize = 16_640;
/// Largest server certificate the verifier keeps.
const CERT_SIZE: usize = 4096;

/// The CA and client credentials, read at each connect (so a renewed file
/// is picked up without a restart).
struct Credentials {
    ca: Option<Vec<u8>>,
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
}

fn read_der(path: &std::path::Path, label: &str) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => pem_to_der(text, label)
            .ok_or_else(|| format!("{}: no PEM block {label}", path.display())),
        _ => Ok(bytes),
    }
}

/// The first PEM block whose label contains `label`, decoded.
fn pem_to_der(text: &str, label: &str) -> Option<Vec<u8>> {
    let mut inside = false;
    let mut b64 = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN") && line.contains(label) {
            inside = true;
        } else if line.starts_with("-----END") && inside {
            return base64_decode(&b64);
        } else if inside && !line.contains(':') {
            b64.push_str(line);
        }
    }
    None
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

struct Provider<'a> {
    verifier: CertVerifier<'a, Aes128GcmSha256, SystemTime, CERT_SIZE>,
    key: Option<&'a [u8]>,
    cert: Option<&'a [u8]>,
}

impl CryptoProvider for Provider<'_> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = DerSignature;

    fn rng(&mut self) -> impl embedded_tls::CryptoRngCore {
        OsRng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut self.verifier)
    }

    fn signer(
        &mut self,
    ) -> Result<(impl signature::SignerMut<DerSignature>, SignatureScheme), TlsError> {
        let der = self.key.ok_or(TlsError::InvalidPrivateKey)?;
        let key = SecretKey::from_sec1_der(der).map_err(|_| TlsError::InvalidPrivateKey)?;
        Ok((
            SigningKey::from(&key),
            SignatureScheme::EcdsaSecp256r1Sha256,
        ))
    }

    fn client_cert(&mut self) -> Option<Certificate<impl AsRef<[u8]>>> {
        self.cert.map(Certificate::X509)
    }
}

type Socket<'s> = FromFutures<&'s Async<TcpStream>>;

pub(super) async fn session(
    shared: &Rc<Shared>,
    index: usize,
    config: &BridgeConfig,
    address: &BridgeAddress,
    stream: &Async<TcpStream>,
    link: &RefCell<Link>,
    notify: &super::BridgeSignals,
) -> Result<(), Failure> {
    let tls = &config.tls;
    let credentials = Credentials {
        ca: tls
            .cafile
            .as_deref()
            .map(|p| read_der(p, "CERTIFICATE"))
            .transpose()
            .map_err(Failure::before_up)?,
        cert: tls
            .certfile
            .as_deref()
            .map(|p| read_der(p, "CERTIFICATE"))
            .transpose()
            .map_err(Failure::before_up)?,
        key: tls
            .keyfile
            .as_deref()
            .map(|p| read_der(p, "EC PRIVATE KEY"))
            .transpose()
            .map_err(Failure::before_up)?,
    };
    let mut read_record = vec![0u8; READ_RECORD];
    let mut write_record = vec![0u8; WRITE_RECORD];
    let tls_config = TlsConfig::new().with_server_name(&address.host);
    let mut connection: TlsConnection<'_, Socket<'_>, Aes128GcmSha256> = TlsConnection::new(
        FromFutures::new(stream),
        &mut read_record,
        &mut write_record,
    );
    let opened = match (&credentials.ca, tls.insecure) {
        (Some(ca), false) => {
            let provider = Provider {
                verifier: CertVerifier::new(Certificate::X509(ca.as_slice())),
                key: credentials.key.as_deref(),
                cert: credentials.cert.as_deref(),
            };
            connection
                .open(TlsContext::new(&tls_config, provider))
                .await
        }
        _ => {
            warn!(
                "bridge {}: bridge_insecure: NOT checking the certificate of {address}",
                config.name
            );
            let mut provider = UnsecureProvider::new::<Aes128GcmSha256>(OsRng);
            if let (Some(cert), Some(key)) =
                (credentials.cert.as_deref(), credentials.key.as_deref())
            {
                provider = provider
                    .with_cert(Certificate::X509(cert))
                    .with_priv_key(key);
            }
            connection
                .open(TlsContext::new(&tls_config, provider))
                .await
        }
    };
    opened.map_err(|e| Failure::before_up(format!("TLS handshake: {e:?}")))?;
    let (reader, writer) = connection.split();
    let mut reader = TlsRead(reader);
    let mut writer = TlsWrite(writer);
    mqtt_session(shared, index, link, notify, &mut reader, &mut writer).await
}

struct TlsRead<'a, 's>(embedded_tls::TlsReader<'a, Socket<'s>, Aes128GcmSha256>);
struct TlsWrite<'a, 's>(embedded_tls::TlsWriter<'a, Socket<'s>, Aes128GcmSha256>);

impl<'a, 's: 'a> ReadHalf for TlsRead<'a, 's> {
    async fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, String> {
        self.0.read(buf).await.map_err(|e| format!("TLS: {e:?}"))
    }
}

impl<'a, 's: 'a> WriteHalf for TlsWrite<'a, 's> {
    async fn write_all_flush(&mut self, buf: &[u8]) -> Result<(), String> {
        self.0
            .write_all(buf)
            .await
            .map_err(|e| format!("TLS: {e:?}"))?;
        self.0.flush().await.map_err(|e| format!("TLS: {e:?}"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pem_and_base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        let pem = "-----BEGIN CERTIFICATE-----\naGVs\nbG8=\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_to_der(pem, "CERTIFICATE").unwrap(), b"hello");
        assert!(pem_to_der(pem, "EC PRIVATE KEY").is_none());
    }
}

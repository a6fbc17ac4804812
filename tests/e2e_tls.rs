//! TLS listeners end to end: certificates made by `openssl` at test time
//! (a CA, server certificates RSA and ECDSA, client certificates, one
//! revoked in a CRL from `openssl ca -gencrl`, one expired, one from
//! another CA);
//! `mosquitto_pub` / `mosquitto_sub` with `--cafile` (and `--cert`/`--key`),
//! a small rustls client in this file, `openssl s_client` for versions, and
//! raw sockets for garbage and stalled handshakes.

#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pki::Pki;
use common::raw::{self, RawClient};
use common::{mosquitto_pub, run_with_timeout, scaled, Broker, MosquittoSub};

const WAIT: Duration = Duration::from_secs(10);

/// The test set: a CA with `server` (ECDSA P-256) and `server-rsa` (RSA
/// 2048) for localhost and 127.0.0.1; clients `sensor-7` (subject
/// `/C=DE/O=Acme, Inc./CN=sensor-7`) and `lost` (revoked in `crl.pem`);
/// `expired`; and `stranger`, a client of another CA.
fn test_pki() -> Pki {
    let pki = Pki::empty();
    let ca_cnf = "[ca]\ndefault_ca = edge\n[edge]\ndatabase = index.txt\n\
                  certificate = ca.pem\nprivate_key = ca.key\ndefault_md = sha256\n\
                  default_crl_days = 2\ncrlnumber = crlnumber\nnew_certs_dir = .\n\
                  serial = ca-serial\npolicy = any\n[any]\ncommonName = supplied\n";
    pki.write("ca.cnf", ca_cnf);
    pki.write("index.txt", "");
    pki.write("crlnumber", "01\n");
    // `openssl ca`'s own serials, apart from those of `x509 -CAcreateserial`.
    pki.write("ca-serial", "7E57\n");
    pki.ca("ca", "ec", "/CN=edgemq test CA");
    pki.ca("other-ca", "ec", "/CN=someone else's CA");
    pki.server("server", "ec", "ca");
    pki.server("server-rsa", "rsa", "ca");
    pki.client("sensor-7", "ec", "/C=DE/O=Acme, Inc./CN=sensor-7", "ca");
    pki.client("lost", "ec", "/CN=lost-device", "ca");
    pki.client("stranger", "ec", "/CN=stranger", "other-ca");
    // Valid for a day in 2020.
    pki.key("expired", "ec");
    pki.openssl(&[
        "req",
        "-new",
        "-key",
        "expired.key",
        "-subj",
        "/CN=expired",
        "-out",
        "expired.csr",
    ]);
    pki.openssl(&[
        "ca",
        "-batch",
        "-config",
        "ca.cnf",
        "-in",
        "expired.csr",
        "-out",
        "expired.pem",
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200102000000Z",
        "-extfile",
        "client.ext",
        "-notext",
    ]);
    pki.openssl(&["ca", "-config", "ca.cnf", "-revoke", "lost.pem"]);
    pki.openssl(&["ca", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem"]);
    pki
}

/// The listener block: a TLS listener with `server`'s certificate, plus
/// `extra` keys.
fn listener(pki: &Pki, server: &str, extra: &str) -> String {
    format!(
        "listener 0 127.0.0.1\ncertfile {}\nkeyfile {}\ncafile {}\n{extra}",
        pki.p(&format!("{server}.pem")),
        pki.p(&format!("{server}.key")),
        pki.p("ca.pem"),
    )
}

/// `mosquitto_pub` over TLS with these extra arguments; whether it succeeded.
fn tls_pub(pki: &Pki, addr: SocketAddr, args: &[&str]) -> (bool, String) {
    let cafile = pki.p("ca.pem");
    let mut all = vec![
        "--cafile", &cafile, "-i", "tls-pub", "-t", "t/tls", "-m", "hi",
    ];
    all.extend_from_slice(args);
    let out = mosquitto_pub(addr, &all);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The client certificate arguments of mosquitto's clients.
fn cert_args(pki: &Pki, name: &str) -> [String; 4] {
    [
        "--cert".into(),
        pki.p(&format!("{name}.pem")),
        "--key".into(),
        pki.p(&format!("{name}.key")),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn mosquitto_clients_round_trip_over_tls() {
    let pki = test_pki();
    let broker = Broker::start(&listener(&pki, "server", ""));
    let cafile = pki.p("ca.pem");
    let sub = MosquittoSub::start(broker.addr(), &["--cafile", &cafile, "-t", "t/#", "-v"]);
    let (ok, err) = tls_pub(&pki, broker.addr(), &["-q", "1"]);
    assert!(ok, "mosquitto_pub over TLS: {err}\n{}", broker.log());
    assert_eq!(sub.wait_messages(1, scaled(WAIT)), vec!["t/tls hi"]);
    // A plain MQTT client on the TLS port gets no CONNACK.
    let (mut plain, code) = RawClient::connect_mqtt(broker.addr(), "plain");
    assert_eq!(code, None);
    assert!(plain.expect_closed(scaled(WAIT)));
    assert!(
        broker.wait_for_log("TLS handshake with 127.0.0.1:", scaled(WAIT)),
        "{}",
        broker.log()
    );
}

#[test]
fn require_certificate_with_and_without_a_client_certificate() {
    let pki = test_pki();
    let broker = Broker::start(&listener(&pki, "server", "require_certificate true\n"));
    let with = cert_args(&pki, "sensor-7");
    let (ok, err) = tls_pub(&pki, broker.addr(), &strs(&with));
    assert!(ok, "with a client certificate: {err}\n{}", broker.log());
    let (ok, _) = tls_pub(&pki, broker.addr(), &[]);
    assert!(!ok, "published without a client certificate");
    assert!(
        broker.wait_log(scaled(WAIT), |log| log.contains("TLS handshake with")
            && log.contains("failed")),
        "{}",
        broker.log()
    );
    // The refusal is counted.
    broker.signal("USR1");
    assert!(
        broker.wait_for_log("tls_handshake_failures 1", scaled(WAIT)),
        "{}",
        broker.log()
    );
}

#[test]
fn a_revoked_client_certificate_is_refused() {
    let pki = test_pki();
    let crl = format!("require_certificate true\ncrlfile {}\n", pki.p("crl.pem"));
    let broker = Broker::start(&listener(&pki, "server", &crl));
    let lost = cert_args(&pki, "lost");
    let (ok, _) = tls_pub(&pki, broker.addr(), &strs(&lost));
    assert!(!ok, "a revoked certificate was let in");
    assert!(
        broker.wait_log(scaled(WAIT), |log| log.contains("failed")
            && log.to_lowercase().contains("revoked")),
        "{}",
        broker.log()
    );
    let good = cert_args(&pki, "sensor-7");
    let (ok, err) = tls_pub(&pki, broker.addr(), &strs(&good));
    assert!(
        ok,
        "a good certificate beside the CRL: {err}\n{}",
        broker.log()
    );
}

#[test]
fn an_expired_client_certificate_is_refused() {
    let pki = test_pki();
    let broker = Broker::start(&listener(&pki, "server", "require_certificate true\n"));
    let expired = cert_args(&pki, "expired");
    let (ok, _) = tls_pub(&pki, broker.addr(), &strs(&expired));
    assert!(!ok, "an expired certificate was let in");
    assert!(
        broker.wait_log(scaled(WAIT), |log| log.contains("failed")
            && log.to_lowercase().contains("expired")),
        "{}",
        broker.log()
    );
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let pki = test_pki();
    let broker = Broker::start(&listener(&pki, "server", "require_certificate true\n"));
    let stranger = cert_args(&pki, "stranger");
    let (ok, _) = tls_pub(&pki, broker.addr(), &strs(&stranger));
    assert!(!ok, "a certificate of another CA was let in");
    assert!(
        broker.wait_log(scaled(WAIT), |log| log.contains("TLS handshake with")
            && log.contains("failed")),
        "{}",
        broker.log()
    );
}

#[test]
fn use_identity_as_username_logs_the_cn_and_needs_no_password() {
    let pki = test_pki();
    let conf = listener(
        &pki,
        "server",
        "require_certificate true\nuse_identity_as_username true\nallow_anonymous false\n",
    );
    let broker = Broker::start(&conf);
    let cert = cert_args(&pki, "sensor-7");
    let (ok, err) = tls_pub(&pki, broker.addr(), &strs(&cert));
    assert!(ok, "{err}\n{}", broker.log());
    assert!(
        broker.wait_for_log("client tls-pub connected from 127.0.0.1:", scaled(WAIT))
            && broker.wait_for_log("username 'sensor-7' from its certificate", scaled(WAIT)),
        "{}",
        broker.log()
    );
}

#[test]
fn use_subject_as_username_is_the_dn_as_openssl_prints_it() {
    let pki = test_pki();
    let conf = listener(
        &pki,
        "server",
        "require_certificate true\nuse_subject_as_username true\n",
    );
    let broker = Broker::start(&conf);
    let printed = pki.openssl(&[
        "x509",
        "-in",
        "sensor-7.pem",
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ]);
    let dn = printed.trim().trim_start_matches("subject=");
    assert_eq!(dn, "CN=sensor-7,O=Acme\\, Inc.,C=DE");
    let cert = cert_args(&pki, "sensor-7");
    let (ok, err) = tls_pub(&pki, broker.addr(), &strs(&cert));
    assert!(ok, "{err}\n{}", broker.log());
    assert!(
        broker.wait_for_log(
            &format!("username '{dn}' from its certificate"),
            scaled(WAIT)
        ),
        "{}",
        broker.log()
    );
}

/// `openssl s_client` with `version` (`-tls1_2`, `-tls1_3`) and `extra`
/// arguments: whether the handshake completed.
fn s_client_connects(pki: &Pki, addr: SocketAddr, version: &str) -> bool {
    s_client_with(pki, addr, &[version])
}

fn s_client_with(pki: &Pki, addr: SocketAddr, extra: &[&str]) -> bool {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &addr.to_string(),
        "-CAfile",
        &pki.p("ca.pem"),
        "-verify_return_error",
    ]);
    cmd.args(extra);
    let out = run_with_timeout(cmd, scaled(WAIT));
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout.contains("Verify return code: 0 (ok)") && !stdout.contains("Cipher is (NONE)")
}

#[test]
fn tls_version_13_refuses_a_tls_12_client() {
    let pki = test_pki();
    let broker = Broker::start(&listener(&pki, "server", "tls_version tlsv1.3\n"));
    assert!(s_client_connects(&pki, broker.addr(), "-tls1_3"));
    assert!(!s_client_connects(&pki, broker.addr(), "-tls1_2"));
    assert!(
        broker.wait_for_log("TLS handshake with", scaled(WAIT)),
        "{}",
        broker.log()
    );
    let open = Broker::start(&listener(&pki, "server", ""));
    assert!(
        s_client_connects(&pki, open.addr(), "-tls1_2"),
        "the default allows TLS 1.2"
    );
}

#[test]
fn ciphers_narrow_the_suites_offered() {
    let pki = test_pki();
    let conf = listener(
        &pki,
        "server",
        "ciphers ECDHE-ECDSA-AES128-GCM-SHA256\nciphers_tls1.3 TLS_CHACHA20_POLY1305_SHA256\n",
    );
    let broker = Broker::start(&conf);
    let addr = broker.addr();
    let tls12 = |suite: &str| s_client_with(&pki, addr, &["-tls1_2", "-cipher", suite]);
    assert!(tls12("ECDHE-ECDSA-AES128-GCM-SHA256"));
    assert!(!tls12("ECDHE-ECDSA-AES256-GCM-SHA384"));
    let tls13 = |suite: &str| s_client_with(&pki, addr, &["-tls1_3", "-ciphersuites", suite]);
    assert!(tls13("TLS_CHACHA20_POLY1305_SHA256"));
    assert!(!tls13("TLS_AES_256_GCM_SHA384"));
}

#[test]
fn garbage_on_the_tls_port_costs_only_that_connection() {
    let pki = test_pki();
    let conf = format!("listener 0 127.0.0.1\n{}", listener(&pki, "server", ""));
    let broker = common::BrokerOptions::new(&conf)
        .expect_listeners(2)
        .start();
    let (plain_addr, tls_addr) = (broker.addrs()[0], broker.addrs()[1]);
    let mut tls_client = RustlsClient::connect(&pki, tls_addr, "steady", None);
    let mut garbage = RawClient::connect(tls_addr);
    garbage.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01\x02\xff\xfe");
    assert!(
        garbage.expect_closed(scaled(WAIT)),
        "garbage was not closed"
    );
    let (mut plain, code) = RawClient::connect_mqtt(plain_addr, "plain");
    assert_eq!(code, Some(0), "the plain listener still serves");
    plain.send(&raw::disconnect());
    tls_client.round_trip("still/here", b"yes");
}

#[test]
fn a_stalled_handshake_is_closed_by_connect_timeout() {
    let pki = test_pki();
    let broker = Broker::start(&listener(&pki, "server", "connect_timeout 1\n"));
    let started = Instant::now();
    let mut silent = RawClient::connect(broker.addr());
    // Half a ClientHello record header, then nothing.
    let mut half = RawClient::connect(broker.addr());
    half.send(&[0x16, 0x03, 0x01, 0x02]);
    assert!(silent.expect_closed(scaled(WAIT)));
    assert!(half.expect_closed(scaled(WAIT)));
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(
        broker.wait_for_log("ConnectTimeout", scaled(WAIT)),
        "{}",
        broker.log()
    );
}

#[test]
fn a_rust_client_over_tls_with_an_rsa_certificate_and_big_messages() {
    let pki = test_pki();
    let conf = listener(
        &pki,
        "server-rsa",
        "require_certificate true\nmax_packet_size 1000000\n",
    );
    let broker = Broker::start(&conf);
    let mut client = RustlsClient::connect(&pki, broker.addr(), "rust", Some("sensor-7"));
    client.round_trip("small", b"hello");
    // Many records each way, and writes the socket takes in parts.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    client.round_trip("big", &big);
    for i in 0..50u32 {
        client.round_trip("many", &i.to_be_bytes());
    }
    // Without the client certificate the handshake fails.
    let refused = std::panic::catch_unwind(|| {
        RustlsClient::connect(&pki, broker.addr(), "nocert", None);
    });
    assert!(refused.is_err(), "connected without a client certificate");
}

/// A blocking MQTT 3.1.1 client over rustls: enough for the tests above.
struct RustlsClient {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl RustlsClient {
    /// TLS to `addr` (name `localhost`), CONNECT, CONNACK 0, then a
    /// subscription to `#`. Panics on any failure.
    fn connect(pki: &Pki, addr: SocketAddr, client_id: &str, cert: Option<&str>) -> Self {
        #[allow(deprecated)] // ring, as the broker: see src/net/tls/server_config.rs
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pem_certs(&pki.path("ca.pem")).remove(0)).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match cert {
            Some(name) => builder
                .with_client_auth_cert(
                    pem_certs(&pki.path(&format!("{name}.pem"))),
                    pem_key(&pki.path(&format!("{name}.key"))),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let socket = TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(Some(scaled(WAIT))).unwrap();
        let mut client = RustlsClient {
            tls: rustls::StreamOwned::new(conn, socket),
            buf: Vec::new(),
        };
        client.send(&raw::connect(client_id));
        let connack = client.packet();
        assert_eq!(raw::parse_connack(&connack), Some((false, 0)));
        client.send(&raw::subscribe(1, &[("#", 1)]));
        assert_eq!(raw::packet_type(&client.packet()), 9, "SUBACK");
        client
    }

    fn send(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).unwrap();
        self.tls.flush().unwrap();
    }

    /// The next whole packet; panics on timeout or close.
    fn packet(&mut self) -> Vec<u8> {
        loop {
            if self.buf.len() >= 2 {
                let (mut length, mut shift, mut i) = (0usize, 0, 1);
                while i < self.buf.len() && i <= 4 {
                    length |= usize::from(self.buf[i] & 0x7f) << shift;
                    shift += 7;
                    if self.buf[i] & 0x80 == 0 {
                        break;
                    }
                    i += 1;
                }
                if i < self.buf.len() && self.buf[i] & 0x80 == 0 {
                    let total = i + 1 + length;
                    if self.buf.len() >= total {
                        return self.buf.drain(..total).collect();
                    }
                }
            }
            let mut chunk = [0u8; 8192];
            let n = self.tls.read(&mut chunk).expect("read over TLS");
            assert!(n > 0, "closed by the broker");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Publishes at QoS 1 and waits for the PUBACK and the message back.
    fn round_trip(&mut self, topic: &str, payload: &[u8]) {
        self.send(&raw::publish(topic, payload, 1, false, false, Some(7)));
        let (mut acked, mut received) = (false, false);
        while !(acked && received) {
            let p = self.packet();
            match raw::packet_type(&p) {
                4 => acked = true,
                3 => {
                    let publish = raw::parse_publish(&p).unwrap();
                    assert_eq!(publish.topic, topic);
                    assert_eq!(publish.payload, payload);
                    if let Some(id) = publish.pkid {
                        self.send(&raw::puback(id));
                    }
                    received = true;
                }
                other => panic!("unexpected packet type {other}"),
            }
        }
    }
}

fn pem_certs(path: &Path) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn pem_key(path: &Path) -> rustls::pki_types::PrivateKeyDer<'static> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::PrivateKeyDer::from_pem_file(path).unwrap()
}

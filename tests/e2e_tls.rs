//! TLS listeners end to end: certificates made by `openssl` at test time
//! (`common/pki.rs`: a CA, server certificates RSA and ECDSA, client
//! certificates, one revoked in a CRL from `openssl ca -gencrl`, one
//! expired, one from another CA);
//! `mosquitto_pub` / `mosquitto_sub` with `--cafile` (and `--cert`/`--key`),
//! a small rustls client in this file, `openssl s_client` for versions, and
//! raw sockets for garbage and stalled handshakes.

#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::pki::Pki;
use common::raw::{self, RawClient};
use common::{mosquitto_pub, run_with_timeout, scaled, Broker, MosquittoSub};

const WAIT: Duration = Duration::from_secs(10);

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
    let pki = Pki::new();
    let broker = Broker::start(&pki.listener("server", ""));
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
    let pki = Pki::new();
    let broker = Broker::start(&pki.listener("server", "require_certificate true\n"));
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
    let pki = Pki::new();
    let crl = format!("require_certificate true\ncrlfile {}\n", pki.p("crl.pem"));
    let broker = Broker::start(&pki.listener("server", &crl));
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
    let pki = Pki::new();
    let broker = Broker::start(&pki.listener("server", "require_certificate true\n"));
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
    let pki = Pki::new();
    let broker = Broker::start(&pki.listener("server", "require_certificate true\n"));
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
    let pki = Pki::new();
    let conf = pki.listener(
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
    let pki = Pki::new();
    let conf = pki.listener(
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
    let pki = Pki::new();
    let broker = Broker::start(&pki.listener("server", "tls_version tlsv1.3\n"));
    assert!(s_client_connects(&pki, broker.addr(), "-tls1_3"));
    assert!(!s_client_connects(&pki, broker.addr(), "-tls1_2"));
    assert!(
        broker.wait_for_log("TLS handshake with", scaled(WAIT)),
        "{}",
        broker.log()
    );
    let open = Broker::start(&pki.listener("server", ""));
    assert!(
        s_client_connects(&pki, open.addr(), "-tls1_2"),
        "the default allows TLS 1.2"
    );
}

#[test]
fn ciphers_narrow_the_suites_offered() {
    let pki = Pki::new();
    let conf = pki.listener(
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
    let pki = Pki::new();
    let conf = format!("listener 0 127.0.0.1\n{}", pki.listener("server", ""));
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
    let pki = Pki::new();
    let broker = Broker::start(&pki.listener("server", "connect_timeout 1\n"));
    let started = Instant::now();
    let mut silent = RawClient::connect(broker.addr());
    // Half a ClientHello record header, then nothing.
    let mut half = RawClient::connect(broker.addr());
    half.send(&[0x16, 0x03, 0x01, 0x02]);
    assert!(silent.expect_closed(scaled(WAIT)));
    assert!(half.expect_closed(scaled(WAIT)));
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(
        broker.wait_for_log(": connect timeout", scaled(WAIT)),
        "{}",
        broker.log()
    );
}

#[test]
fn a_rust_client_over_tls_with_an_rsa_certificate_and_big_messages() {
    let pki = Pki::new();
    let conf = pki.listener(
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
        let tls = pki.connect(addr, cert);
        tls.sock.set_read_timeout(Some(scaled(WAIT))).unwrap();
        let mut client = RustlsClient {
            tls,
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

/// SIGHUP re-reads a TLS listener's certificate and key: new handshakes
/// get the renewed certificate, a connection made before keeps working,
/// and a file that cannot be used keeps the running certificate.
#[test]
fn sighup_reloads_the_certificates_and_keeps_them_when_a_file_is_bad() {
    let pki = Pki::new();
    pki.server("server-other", "ec", "other-ca");
    let copy = |from: &str, to: &str| std::fs::copy(pki.path(from), pki.path(to)).unwrap();
    copy("server.pem", "live.pem");
    copy("server.key", "live.key");
    let broker = Broker::start(&pki.listener("live", ""));
    let mut before = RustlsClient::connect(&pki, broker.addr(), "before-reload", None);
    before.round_trip("t/before", b"1");
    // To a `$` topic: `before` subscribes to `#`.
    let trusting = |ca: &str| {
        let cafile = pki.p(ca);
        let args = [
            "--cafile",
            cafile.as_str(),
            "-i",
            "pub",
            "-t",
            "$t/x",
            "-m",
            "x",
        ];
        mosquitto_pub(broker.addr(), &args).status.success()
    };
    assert!(trusting("ca.pem"), "{}", broker.log());
    assert!(
        !trusting("other-ca.pem"),
        "the other CA's client was let in"
    );

    copy("server-other.pem", "live.pem");
    copy("server-other.key", "live.key");
    broker.signal("HUP");
    assert!(
        broker.wait_for_log("applied TLS certificates", scaled(WAIT)),
        "{}",
        broker.log()
    );
    assert!(
        trusting("other-ca.pem"),
        "renewed certificate: {}",
        broker.log()
    );
    assert!(!trusting("ca.pem"), "the old certificate is still served");
    before.round_trip("t/after", b"2");

    pki.write("live.pem", "not a certificate\n");
    broker.signal("HUP");
    assert!(
        broker.wait_for_log("keeps the certificates it has", scaled(WAIT)),
        "{}",
        broker.log()
    );
    assert!(
        trusting("other-ca.pem"),
        "after a bad file: {}",
        broker.log()
    );
    before.round_trip("t/still", b"3");
}

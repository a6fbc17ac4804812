//! Bridges over TLS (README.md, ## Bridge, "TLS"): an edge edgemq bridged
//! to Debian's mosquitto (`common::cloud`) with certificates made by
//! openssl at test time (`common::pki`). RSA and ECDSA chains through an
//! intermediate, TLS 1.2 and 1.3, the minimum version, client
//! certificates with every key form, CA directories (`bridge_capath`, the
//! system store), ALPN (shown by `openssl s_server`), refusals, and a CA
//! file renewed while the bridge retries.
//!
//! The cloud's mosquitto has a second, plain listener for the test's own
//! clients, so what crossed the bridge is checked by topic, payload and
//! QoS at both ends.

#![cfg(feature = "bridge-tls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cloud::{free_port, Cloud};
use common::pki::Pki;
use common::{scaled, Broker, MqttClient};
use rumqttc::QoS;

const WAIT: Duration = Duration::from_secs(10);

/// OpenSSL's configuration for a TLS-1.2-only mosquitto. mosquitto 2.0's
/// `tls_version tlsv1.2` is a minimum: with it alone mosquitto still
/// speaks TLS 1.3 (checked with `openssl s_client`).
const OPENSSL_TLS12_ONLY: &str = "openssl_conf = conf\n[conf]\nssl_conf = ssl\n[ssl]\n\
    system_default = tls\n[tls]\nMaxProtocol = TLSv1.2\n";

/// mosquitto with a TLS listener on `cloud.port()`, for the bridge, and a
/// plain one on `plain`, for the test's clients.
struct TlsCloud {
    cloud: Cloud,
    plain: u16,
}

/// Starts it with `server`'s chain (`NAME.chain`, else `NAME.pem`) and
/// key, plus `extra` keys for the TLS listener.
fn tls_cloud(pki: &Pki, server: &str, extra: &str, tls12_only: bool) -> TlsCloud {
    let plain = free_port();
    let chain = if pki.path(&format!("{server}.chain")).exists() {
        format!("{server}.chain")
    } else {
        format!("{server}.pem")
    };
    let conf = format!(
        "certfile {}\nkeyfile {}\n{extra}listener {plain} 127.0.0.1\n",
        pki.p(&chain),
        pki.p(&format!("{server}.key")),
    );
    let mut cloud = Cloud::prepared(&conf);
    if tls12_only {
        pki.write("tls12-only.cnf", OPENSSL_TLS12_ONLY);
        cloud = cloud.env("OPENSSL_CONF", &pki.p("tls12-only.cnf"));
    }
    cloud.spawn();
    TlsCloud { cloud, plain }
}

/// A bridge block to `host:port`: sensors up at QoS 1, commands down at
/// QoS 2, with `tls` keys.
fn bridge(name: &str, host: &str, port: u16, tls: &str) -> String {
    format!(
        "connection {name}
address {host}:{port}
remote_clientid edge-{name}
keepalive_interval 5
restart_timeout 1 2
topic sensors/# out 1 edge/ site1/
topic cmd/# in 2 local/ site1/
{tls}
"
    )
}

fn wait_connected(edge: &Broker, name: &str) {
    assert!(
        edge.wait_for_log(&format!("bridge {name}: connected"), scaled(WAIT)),
        "bridge {name} did not connect:\n{}",
        edge.log()
    );
}

/// `bridge NAME: cannot connect` is logged, with `why` in it, and the
/// bridge does not connect meanwhile.
fn wait_refused(edge: &Broker, name: &str, why: &str) {
    let line = format!("bridge {name}: cannot connect to");
    assert!(
        edge.wait_log(scaled(WAIT), |log| log
            .lines()
            .any(|l| l.contains(&line) && l.contains(why))),
        "no refusal of bridge {name} saying '{why}':\n{}",
        edge.log()
    );
    assert!(
        !edge.log().contains(&format!("bridge {name}: connected")),
        "{}",
        edge.log()
    );
}

/// A message each way through the bridge, checked by topic, payload and
/// QoS: edge → cloud at QoS 1, cloud → edge at QoS 2.
async fn both_directions(edge: &Broker, cloud_plain: u16) {
    let mut cloud_sub = MqttClient::connect(&common::unique_id("csub"), cloud_plain).await;
    cloud_sub
        .subscribe("site1/sensors/#", QoS::ExactlyOnce)
        .await;
    let mut edge_sub = MqttClient::connect(&common::unique_id("esub"), edge.port()).await;
    edge_sub.subscribe("local/cmd/#", QoS::ExactlyOnce).await;
    let edge_pub = MqttClient::connect(&common::unique_id("epub"), edge.port()).await;
    let cloud_pub = MqttClient::connect(&common::unique_id("cpub"), cloud_plain).await;

    edge_pub
        .publish("edge/sensors/t1", QoS::ExactlyOnce, false, "21.5")
        .await;
    let up = cloud_sub.recv_publish(scaled(WAIT)).await.expect("uplink");
    assert_eq!(
        (up.topic.as_str(), &up.payload[..], up.qos),
        ("site1/sensors/t1", &b"21.5"[..], QoS::AtLeastOnce),
        "the out rule forwards at QoS 1"
    );
    cloud_pub
        .publish("site1/cmd/reboot", QoS::ExactlyOnce, false, "now")
        .await;
    let down = edge_sub.recv_publish(scaled(WAIT)).await.expect("downlink");
    assert_eq!(
        (down.topic.as_str(), &down.payload[..], down.qos),
        ("local/cmd/reboot", &b"now"[..], QoS::ExactlyOnce),
        "the in rule forwards at QoS 2"
    );
}

/// The handshake line of bridge `name`.
fn handshake_line(edge: &Broker, name: &str) -> String {
    let prefix = format!("bridge {name}: TLS ");
    edge.log()
        .lines()
        .find(|l| l.contains(&prefix))
        .unwrap_or_else(|| panic!("no handshake line for {name}:\n{}", edge.log()))
        .to_owned()
}

/// Whether `openssl s_client` completes a handshake of `version` with the
/// cloud's TLS port.
fn s_client_connects(port: u16, version: &str) -> bool {
    let out = Command::new("openssl")
        .args(["s_client", version, "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    String::from_utf8_lossy(&out.stdout).contains("Cipher is TLS")
        || String::from_utf8_lossy(&out.stdout).contains("Cipher is ECDHE")
}

/// An RSA root, an RSA intermediate and an RSA server leaf (the chain file
/// holds the leaf and the intermediate); the bridge trusts the root only.
/// The cloud speaks TLS 1.2 and nothing newer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_with_an_rsa_chain_carries_both_directions() {
    let pki = Pki::empty();
    pki.ca("root", "rsa", "/CN=edgemq test root (RSA)");
    pki.intermediate("inter", "rsa", "/CN=edgemq test intermediate (RSA)", "root");
    pki.server("server", "rsa", "inter");
    pki.chain("server.chain", &["server.pem", "inter.pem"]);
    let cloud = tls_cloud(&pki, "server", "tls_version tlsv1.2\n", true);
    assert!(
        !s_client_connects(cloud.cloud.port(), "-tls1_3"),
        "the cloud must refuse TLS 1.3 for this test to mean anything"
    );
    assert!(s_client_connects(cloud.cloud.port(), "-tls1_2"));

    let tls = format!("bridge_cafile {}\n", pki.p("root.pem"));
    let edge = Broker::start(&bridge("cloud", "localhost", cloud.cloud.port(), &tls));
    wait_connected(&edge, "cloud");
    let line = handshake_line(&edge, "cloud");
    assert!(line.contains("TLS 1.2"), "{line}");
    assert!(line.contains("ECDHE_RSA"), "{line}");
    both_directions(&edge, cloud.plain).await;
}

/// An ECDSA root (P-384), intermediate and leaf (P-256), TLS 1.3 as the
/// minimum, and the address given as an IP: the certificate's IP SAN is
/// what is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls13_with_an_ecdsa_chain_to_an_ip_address() {
    let pki = Pki::empty();
    pki.ca("root", "ec384", "/CN=edgemq test root (ECDSA)");
    pki.intermediate(
        "inter",
        "ec",
        "/CN=edgemq test intermediate (ECDSA)",
        "root",
    );
    pki.server("server", "ec", "inter");
    pki.chain("server.chain", &["server.pem", "inter.pem"]);
    let cloud = tls_cloud(&pki, "server", "", false);

    let tls = format!(
        "bridge_cafile {}\nbridge_tls_version tlsv1.3\n",
        pki.p("root.pem")
    );
    let edge = Broker::start(&bridge("cloud", "127.0.0.1", cloud.cloud.port(), &tls));
    wait_connected(&edge, "cloud");
    let line = handshake_line(&edge, "cloud");
    assert!(line.contains("TLS 1.3"), "{line}");
    both_directions(&edge, cloud.plain).await;
}

/// `bridge_tls_version tlsv1.3` against a cloud that speaks TLS 1.2 at
/// most: refused, logged, nothing sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls13_minimum_refuses_a_tls12_only_cloud() {
    let pki = Pki::empty();
    pki.ca("root", "ec", "/CN=edgemq test root");
    pki.server("server", "ec", "root");
    let cloud = tls_cloud(&pki, "server", "tls_version tlsv1.2\n", true);
    let tls = format!(
        "bridge_cafile {}\nbridge_tls_version tlsv1.3\n",
        pki.p("root.pem")
    );
    let edge = Broker::start(&bridge("cloud", "localhost", cloud.cloud.port(), &tls));
    wait_refused(&edge, "cloud", "TLS handshake");
    assert!(
        !edge.wait_for_log("bridge cloud: connected", Duration::from_secs(3)),
        "{}",
        edge.log()
    );
    assert!(
        !cloud.cloud.log().contains("edge-cloud"),
        "{}",
        cloud.cloud.log()
    );
}

/// A server signed by a CA the bridge does not trust, and one whose
/// certificate names another host: both refused, each logged with its
/// bridge's name, once while the same failure repeats; nothing reaches
/// the cloud. Then the CA file is replaced by the right one: the retrying
/// bridge reads it, connects without a restart, and delivers what was
/// queued meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_or_misnamed_servers_are_refused_until_the_ca_file_is_renewed() {
    let pki = Pki::empty();
    pki.ca("root", "ec", "/CN=edgemq test root");
    pki.ca("other", "ec", "/CN=someone else's root");
    pki.server("server", "ec", "root");
    pki.write(
        "misnamed.ext",
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:cloud.example\n",
    );
    pki.leaf(
        "misnamed",
        "ec",
        "/CN=cloud.example",
        "root",
        "misnamed.ext",
    );
    let cloud = tls_cloud(&pki, "server", "", false);
    let elsewhere = tls_cloud(&pki, "misnamed", "", false);
    // The edge's CA file: the wrong root for now.
    pki.chain("edge-ca.pem", &["other.pem"]);

    let conf = bridge(
        "cloud",
        "localhost",
        cloud.cloud.port(),
        &format!("bridge_cafile {}\n", pki.p("edge-ca.pem")),
    ) + &bridge(
        "misnamed",
        "localhost",
        elsewhere.cloud.port(),
        &format!("bridge_cafile {}\n", pki.p("root.pem")),
    );
    let edge = Broker::start(&conf);
    let mut cloud_sub = MqttClient::connect(&common::unique_id("csub"), cloud.plain).await;
    cloud_sub.subscribe("site1/#", QoS::AtLeastOnce).await;
    let edge_pub = MqttClient::connect(&common::unique_id("epub"), edge.port()).await;
    edge_pub
        .publish(
            "edge/sensors/queued",
            QoS::AtLeastOnce,
            false,
            "while refused",
        )
        .await;

    wait_refused(&edge, "cloud", "invalid peer certificate: UnknownIssuer");
    wait_refused(&edge, "misnamed", "not valid for name");
    // restart_timeout 1 2: several attempts in 5 s, one line each bridge.
    // (The first connection mosquitto logs is the harness's probe.)
    tokio::time::sleep(scaled(Duration::from_secs(5))).await;
    let attempts = cloud.cloud.log().matches("New connection from").count() - 1;
    assert!(attempts >= 2, "{}", cloud.cloud.log());
    let lines = edge
        .log()
        .matches("bridge cloud: cannot connect to")
        .count();
    assert_eq!(lines, 1, "{attempts} failures alike:\n{}", edge.log());
    assert!(
        cloud_sub
            .recv_publish(Duration::from_millis(200))
            .await
            .is_none(),
        "delivered through an untrusted link"
    );
    for c in [&cloud.cloud, &elsewhere.cloud] {
        assert!(!c.log().contains("edge-"), "{}", c.log());
    }

    // Renewed in place (a new file renamed over the old, as tools do).
    pki.chain("edge-ca.pem.new", &["root.pem"]);
    std::fs::rename(pki.path("edge-ca.pem.new"), pki.path("edge-ca.pem")).unwrap();
    wait_connected(&edge, "cloud");
    let p = cloud_sub.recv_publish(scaled(WAIT)).await.expect("queued");
    assert_eq!(
        (p.topic.as_str(), &p.payload[..]),
        ("site1/sensors/queued", &b"while refused"[..])
    );
    assert!(!edge.log().contains("bridge misnamed: connected"));
}

/// The cloud requires a client certificate (`require_certificate true`)
/// and takes its CN as the username: bridges with RSA (PKCS#1) and ECDSA
/// (SEC1, PKCS#8) client keys connect as their certificate's name; a
/// bridge without one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_of_every_key_form() {
    let pki = Pki::empty();
    pki.ca("root", "rsa", "/CN=edgemq test root");
    pki.server("server", "rsa", "root");
    let forms = [("rsa1", "rsa-pkcs1"), ("sec1", "ec"), ("pkcs8", "ec-pkcs8")];
    for (name, kind) in forms {
        pki.client(name, kind, &format!("/CN=cert-{name}"), "root");
    }
    let cloud = tls_cloud(
        &pki,
        "server",
        &format!(
            "cafile {}\nrequire_certificate true\nuse_identity_as_username true\n",
            pki.p("root.pem")
        ),
        false,
    );
    let port = cloud.cloud.port();
    let ca = format!("bridge_cafile {}\n", pki.p("root.pem"));
    let mut conf = bridge("nocert", "localhost", port, &ca);
    for (name, _) in forms {
        let tls = format!(
            "{ca}bridge_certfile {}\nbridge_keyfile {}\n",
            pki.p(&format!("{name}.pem")),
            pki.p(&format!("{name}.key"))
        );
        conf += &bridge(name, "localhost", port, &tls);
    }
    let edge = Broker::start(&conf);
    for (name, _) in forms {
        wait_connected(&edge, name);
        // mosquitto's "New client connected ... as edge-NAME (..., u'CN')".
        let (id, user) = (format!("as edge-{name} "), format!("u'cert-{name}'"));
        let seen = || {
            cloud
                .cloud
                .log()
                .lines()
                .any(|l| l.contains(&id) && l.contains(&user))
        };
        let deadline = Instant::now() + scaled(WAIT);
        while !seen() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(seen(), "{}", cloud.cloud.log());
    }
    assert!(
        edge.wait_for_log("bridge nocert: cannot connect to", scaled(WAIT)),
        "{}",
        edge.log()
    );
    assert!(
        !edge.log().contains("bridge nocert: connected"),
        "{}",
        edge.log()
    );
}

/// `bridge_capath`: a directory with the root under its OpenSSL hash name
/// (`HASH.0`, a link) and files that are no certificates, which are
/// skipped and counted; a directory without a certificate is an error
/// naming the key; the system store (`/etc/ssl/certs`) loads and does not
/// trust the test's root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capath_directories() {
    let pki = Pki::empty();
    pki.ca("root", "ec", "/CN=edgemq test root");
    pki.server("server", "ec", "root");
    let cloud = tls_cloud(&pki, "server", "", false);
    let cas = pki.path("cas");
    std::fs::create_dir(&cas).unwrap();
    let hash = pki.openssl(&["x509", "-hash", "-noout", "-in", "root.pem"]);
    std::os::unix::fs::symlink(pki.path("root.pem"), cas.join(format!("{}.0", hash.trim())))
        .unwrap();
    std::fs::write(cas.join("README"), "not a certificate\n").unwrap();
    std::fs::create_dir(cas.join("old")).unwrap();
    let empty = pki.path("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "no certificates here\n").unwrap();

    let port = cloud.cloud.port();
    let mut conf = bridge(
        "cloud",
        "localhost",
        port,
        &format!("bridge_capath {}\n", cas.display()),
    );
    conf += &bridge(
        "empty",
        "localhost",
        port,
        &format!("bridge_capath {}\n", empty.display()),
    );
    let system = std::path::Path::new("/etc/ssl/certs");
    let has_system_store = system.join("ca-certificates.crt").exists();
    if has_system_store {
        conf += &bridge(
            "system",
            "localhost",
            port,
            "bridge_capath /etc/ssl/certs\n",
        );
    } else {
        eprintln!("no /etc/ssl/certs/ca-certificates.crt: the system store part is skipped");
    }
    let edge = Broker::start(&conf);
    wait_connected(&edge, "cloud");
    assert!(
        edge.log().contains(&format!(
            "bridge cloud: bridge_capath {}: 1 CA certificate from 1 file, 1 skipped",
            cas.display()
        )),
        "{}",
        edge.log()
    );
    wait_refused(&edge, "empty", "bridge_capath: no PEM certificate");
    if has_system_store {
        wait_refused(&edge, "system", "UnknownIssuer");
        let line = edge
            .log()
            .lines()
            .find(|l| l.contains("bridge system: bridge_capath /etc/ssl/certs: "))
            .unwrap_or_default()
            .to_owned();
        let count: usize = line
            .split("/etc/ssl/certs: ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in '{line}':\n{}", edge.log()));
        assert!(count >= 50, "{line}");
    }
    let mut cloud_sub = MqttClient::connect(&common::unique_id("csub"), cloud.plain).await;
    cloud_sub.subscribe("site1/#", QoS::AtLeastOnce).await;
    let edge_pub = MqttClient::connect(&common::unique_id("epub"), edge.port()).await;
    edge_pub
        .publish("edge/sensors/t", QoS::AtLeastOnce, false, "via capath")
        .await;
    let p = cloud_sub.recv_publish(scaled(WAIT)).await.expect("uplink");
    assert_eq!(
        (p.topic.as_str(), &p.payload[..]),
        ("site1/sensors/t", &b"via capath"[..])
    );
}

/// `openssl s_server -alpn`, killed by its PID when dropped.
struct SServer {
    child: Child,
    out: std::path::PathBuf,
}

impl SServer {
    /// What it printed so far; the bytes it received are among them.
    fn printed(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.out).unwrap_or_default()).into_owned()
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `bridge_alpn`: the protocol name reaches the server (openssl s_server
/// prints what the client offered) and is the one negotiated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_reaches_the_server() {
    let pki = Pki::empty();
    pki.ca("root", "ec", "/CN=edgemq test root");
    pki.server("server", "ec", "root");
    let port = free_port();
    let out = pki.path("s_server.out");
    let server = SServer {
        child: Command::new("openssl")
            .args(["s_server", "-accept"])
            .arg(port.to_string())
            .args(["-cert", "server.pem", "-key", "server.key"])
            .args(["-alpn", "mqtt,x-amzn-mqtt-ca"])
            .current_dir(pki.dir())
            // Kept open: s_server sends what it reads there.
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("run openssl s_server"),
        out,
    };
    let deadline = Instant::now() + scaled(WAIT);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s_server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let tls = format!(
        "bridge_cafile {}\nbridge_alpn x-amzn-mqtt-ca\n",
        pki.p("root.pem")
    );
    let edge = Broker::start(&bridge("cloud", "localhost", port, &tls));
    let offered = "ALPN protocols advertised by the client: x-amzn-mqtt-ca";
    let deadline = Instant::now() + scaled(WAIT);
    let printed = loop {
        let printed = server.printed();
        if printed.contains(offered) || Instant::now() > deadline {
            break printed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(printed.contains(offered), "s_server printed:\n{printed}");
    assert!(
        edge.wait_for_log("ALPN x-amzn-mqtt-ca", scaled(WAIT)),
        "{}",
        edge.log()
    );
    // The MQTT CONNECT followed the handshake (s_server prints it).
    let deadline = Instant::now() + scaled(WAIT);
    while !server.printed().contains("MQTT") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server.printed().contains("MQTT"),
        "no CONNECT after the handshake:\n{}",
        server.printed()
    );
}

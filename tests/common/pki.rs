//! Certificates made by `openssl` at test time, in a temporary directory:
//! keys of several kinds, root CAs, intermediates, leaves and chain files.
//! A test builds the set it needs with these steps (tests/e2e_tls.rs,
//! tests/e2e_bridge_tls.rs).
//!
//! The directory and its files are readable by everyone: Debian's
//! mosquitto, started as root, reads them as its own user.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The certificates of one test, in a temporary directory.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// The test set: a CA with `server` (ECDSA P-256) and `server-rsa` (RSA
    /// 2048) for localhost and 127.0.0.1; clients `sensor-7` (subject
    /// `/C=DE/O=Acme, Inc./CN=sensor-7`) and `lost` (revoked in `crl.pem`);
    /// `expired`; and `stranger`, a client of another CA.
    pub fn new() -> Pki {
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

    /// An empty directory.
    pub fn empty() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("edgemq-pki-")
            .tempdir()
            .expect("create a temporary directory");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Pki { dir }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The path of `name`, as a config line wants it.
    pub fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
        self.readable(name);
    }

    fn readable(&self, name: &str) {
        std::fs::set_permissions(self.path(name), std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    /// Runs openssl in the directory; its stdout.
    pub fn openssl(&self, args: &[&str]) -> String {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `NAME.key` of a kind: `rsa` (RSA 2048, PKCS#8), `rsa-pkcs1` (RSA
    /// 2048, `BEGIN RSA PRIVATE KEY`), `ec` (P-256, SEC1 `BEGIN EC PRIVATE
    /// KEY`), `ec-pkcs8` (P-256, PKCS#8), `ec384` (P-384, SEC1).
    pub fn key(&self, name: &str, kind: &str) {
        let key = format!("{name}.key");
        match kind {
            "rsa" => self.openssl(&["genrsa", "-out", &key, "2048"]),
            "rsa-pkcs1" => self.openssl(&["genrsa", "-traditional", "-out", &key, "2048"]),
            "ec-pkcs8" => self.openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &key,
            ]),
            "ec" | "ec384" => self.openssl(&[
                "ecparam",
                "-name",
                if kind == "ec" {
                    "prime256v1"
                } else {
                    "secp384r1"
                },
                "-genkey",
                "-noout",
                "-out",
                &key,
            ]),
            other => panic!("no key kind {other}"),
        };
        self.readable(&key);
    }

    /// A self-signed root CA, `NAME.pem`, with a key of `kind`.
    pub fn ca(&self, name: &str, kind: &str, subject: &str) {
        self.key(name, kind);
        self.openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            subject,
            "-days",
            "2",
            "-out",
            &format!("{name}.pem"),
        ]);
        self.readable(&format!("{name}.pem"));
    }

    /// `NAME.pem` signed by `ca`, with the extensions of the file `ext`.
    pub fn leaf(&self, name: &str, kind: &str, subject: &str, ca: &str, ext: &str) {
        self.key(name, kind);
        self.openssl(&[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            subject,
            "-out",
            &format!("{name}.csr"),
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            ext,
            "-out",
            &format!("{name}.pem"),
        ]);
        self.readable(&format!("{name}.pem"));
    }

    /// An intermediate CA `NAME.pem` signed by `ca`.
    pub fn intermediate(&self, name: &str, kind: &str, subject: &str, ca: &str) {
        self.write(
            "intermediate.ext",
            "basicConstraints=critical,CA:TRUE,pathlen:0\n\
             keyUsage=critical,keyCertSign,cRLSign\n",
        );
        self.leaf(name, kind, subject, ca, "intermediate.ext");
    }

    /// A server certificate for localhost and 127.0.0.1, signed by `ca`.
    pub fn server(&self, name: &str, kind: &str, ca: &str) {
        self.write(
            "server.ext",
            "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        );
        self.leaf(name, kind, "/CN=localhost", ca, "server.ext");
    }

    /// A client certificate signed by `ca`.
    pub fn client(&self, name: &str, kind: &str, subject: &str, ca: &str) {
        self.write("client.ext", "basicConstraints=CA:FALSE\n");
        self.leaf(name, kind, subject, ca, "client.ext");
    }

    /// `NAME` holding the PEM files `parts`, in order (a leaf and its
    /// intermediates, as a server sends them).
    pub fn chain(&self, name: &str, parts: &[&str]) {
        let text: String = parts
            .iter()
            .map(|p| std::fs::read_to_string(self.path(p)).unwrap())
            .collect();
        self.write(name, &text);
    }
}

impl Pki {
    /// The listener block: a TLS listener with `server`'s certificate, plus
    /// `extra` keys.
    pub fn listener(&self, server: &str, extra: &str) -> String {
        format!(
            "listener 0 127.0.0.1\ncertfile {}\nkeyfile {}\ncafile {}\n{extra}",
            self.p(&format!("{server}.pem")),
            self.p(&format!("{server}.key")),
            self.p("ca.pem"),
        )
    }
}

pub fn pem_certs(path: &Path) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

pub fn pem_key(path: &Path) -> rustls::pki_types::PrivateKeyDer<'static> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::PrivateKeyDer::from_pem_file(path).unwrap()
}

impl Pki {
    /// A rustls client configuration trusting the CA, with `cert`'s client
    /// certificate if given.
    pub fn client_config(&self, cert: Option<&str>) -> Arc<rustls::ClientConfig> {
        #[allow(deprecated)] // ring, as the broker: see src/net/tls/server_config.rs
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(pem_certs(&self.path("ca.pem")).remove(0))
            .unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match cert {
            Some(name) => builder
                .with_client_auth_cert(
                    pem_certs(&self.path(&format!("{name}.pem"))),
                    pem_key(&self.path(&format!("{name}.key"))),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }

    /// A blocking TLS stream to `addr` (server name `localhost`); the
    /// handshake happens with the first read or write, each socket wait
    /// bounded (10 s, scaled).
    pub fn connect(
        &self,
        addr: std::net::SocketAddr,
        cert: Option<&str>,
    ) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(self.client_config(cert), name).unwrap();
        let socket = std::net::TcpStream::connect(addr).unwrap();
        socket.set_nodelay(true).ok();
        let bound = Some(super::scaled(std::time::Duration::from_secs(10)));
        socket.set_read_timeout(bound).unwrap();
        socket.set_write_timeout(bound).unwrap();
        rustls::StreamOwned::new(conn, socket)
    }
}

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

/// The certificates of one test, in a temporary directory.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
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

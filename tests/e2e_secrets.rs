//! Secrets outside the config file (docs/security.md, "Secrets outside the
//! config"), end to end: systemd's `LoadCredential=` hands the service a
//! directory named by `CREDENTIALS_DIRECTORY`; a file key starting with
//! `$CREDENTIALS_DIRECTORY/` reads from it (here the cloud's password
//! file), and a bridge's `remote_password_file` holds its password. The
//! password read from the file is the one the cloud checks: the right one
//! connects, a wrong one does not. Without the variable the config is
//! refused, saying why.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{edgemq_command, scaled, BrokerOptions};

const WAIT: Duration = Duration::from_secs(10);

/// A mosquitto password file with `user`:`password`, made by
/// mosquitto_passwd (Debian's mosquitto package).
fn password_file(path: &Path, user: &str, password: &str) {
    let status = Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(path)
        .args([user, password])
        .status()
        .expect("mosquitto_passwd (package mosquitto)");
    assert!(status.success());
}

fn edge_config(cloud_port: u16) -> String {
    format!(
        "connection cloud\naddress 127.0.0.1:{cloud_port}\nremote_clientid edge-secret\n\
         remote_username bridge\nremote_password_file $CREDENTIALS_DIRECTORY/bridge-password\n\
         restart_timeout 1 2\ntopic sensors/# out 1\n"
    )
}

#[test]
fn credentials_directory_and_remote_password_file() {
    let creds = tempfile::tempdir().unwrap();
    let dir = creds.path().to_str().unwrap();
    password_file(&creds.path().join("passwd"), "bridge", "from-a-file");
    let cloud =
        BrokerOptions::new("allow_anonymous false\npassword_file $CREDENTIALS_DIRECTORY/passwd\n")
            .env("CREDENTIALS_DIRECTORY", dir)
            .start();

    // The right password, with the newline an editor leaves.
    std::fs::write(creds.path().join("bridge-password"), "from-a-file\n").unwrap();
    let edge = BrokerOptions::new(&edge_config(cloud.port()))
        .env("CREDENTIALS_DIRECTORY", dir)
        .start();
    assert!(
        edge.wait_for_log("bridge cloud: connected", scaled(WAIT)),
        "the bridge did not connect:\n{}\n--- cloud ---\n{}",
        edge.log(),
        cloud.log()
    );
    drop(edge);

    // A wrong one: the cloud refuses it, the bridge stays down.
    let wrong = tempfile::tempdir().unwrap();
    std::fs::write(wrong.path().join("bridge-password"), "not-it\n").unwrap();
    let edge = BrokerOptions::new(&edge_config(cloud.port()))
        .env("CREDENTIALS_DIRECTORY", wrong.path().to_str().unwrap())
        .start();
    assert!(!edge.wait_for_log("bridge cloud: connected", scaled(Duration::from_secs(3))));
    assert!(cloud.log().contains("bridge"), "{}", cloud.log());
}

#[test]
fn an_unset_credentials_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("edgemq.conf");
    std::fs::write(&conf, "password_file $CREDENTIALS_DIRECTORY/passwd\n").unwrap();
    let mut cmd = edgemq_command();
    cmd.arg("check-config")
        .arg(&conf)
        .env_remove("CREDENTIALS_DIRECTORY");
    let out = common::run_with_timeout(cmd, scaled(WAIT));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        format!("{stdout}{stderr}").contains("CREDENTIALS_DIRECTORY, which is not set"),
        "{stdout}{stderr}"
    );
    assert!(
        format!("{stdout}{stderr}").contains("edgemq.conf:1:"),
        "{stdout}{stderr}"
    );

    // Both a password and a password file for one bridge: refused.
    std::fs::write(dir.path().join("pw"), "x\n").unwrap();
    let body = format!(
        "connection c\naddress 127.0.0.1:1\nremote_username u\nremote_password y\n\
         remote_password_file {}\n",
        dir.path().join("pw").display()
    );
    std::fs::write(&conf, body).unwrap();
    let mut cmd = edgemq_command();
    cmd.arg("check-config").arg(&conf);
    let out = common::run_with_timeout(cmd, scaled(WAIT));
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("already has a password"), "{text}");
}

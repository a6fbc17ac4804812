//! Who may connect, end to end (README.md, "Securing edgemq";
//! docs/security.md): password files made by Debian's `mosquitto_passwd`,
//! signed tokens, HS256 and ES256 JWTs, the login throttle and a SIGHUP
//! reload of the password file, checked with `mosquitto_pub` and rumqttc.
//! Tokens and JWTs are made here with openssl and *ring*, as an issuer
//! would, not with edgemq's code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use common::client::options_for;
use common::raw::Connect;
use common::{
    edgemq_command, mosquitto_pub, run_with_timeout, scaled, Broker, MqttClient, RawClient,
};
use rumqttc::MqttOptions;

const WAIT: Duration = Duration::from_secs(10);
const ACCEPTED: u8 = 0;
const NOT_AUTHORIZED: u8 = 5;

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run a command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Starts edgemq with `allow_anonymous false` and these lines.
fn broker(lines: &str) -> Broker {
    Broker::start(&format!("allow_anonymous false\n{lines}"))
}

/// `mosquitto_pub` with these credentials: its exit status and stderr.
fn pub_as(broker: &Broker, id: &str, user: &str, password: &str) -> (bool, String) {
    let args = [
        "-i", id, "-u", user, "-P", password, "-t", "auth/t", "-m", "x",
    ];
    let out = mosquitto_pub(broker.addr(), &args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The CONNACK code for a raw CONNECT with these credentials.
fn connack(broker: &Broker, id: &str, user: Option<&str>, password: Option<&[u8]>) -> u8 {
    let mut connect = Connect::new(id);
    if let Some(u) = user {
        connect = connect.username(u);
    }
    if let Some(p) = password {
        connect = connect.password(p);
    }
    let mut c = RawClient::connect(broker.addr());
    let code = c.handshake(&connect.to_bytes()).expect("a CONNACK");
    if code != ACCEPTED {
        assert!(c.expect_closed(scaled(Duration::from_secs(3))));
    }
    code
}

/// SIGUSR1's report counts `n` failed credential checks.
fn assert_failures(broker: &Broker, n: u64) {
    broker.signal("USR1");
    let needle = format!("auth_failures {n},");
    assert!(
        broker.wait_for_log(&needle, scaled(WAIT)),
        "{needle}\n{}",
        broker.log()
    );
}

fn rumqttc_options(broker: &Broker, id: &str, user: &str, password: &str) -> MqttOptions {
    let mut o = options_for(id, broker.addr());
    o.set_credentials(user, password);
    o
}

/// A password file from `mosquitto_passwd`: alice ($7$) and bob ($6$).
fn mosquitto_password_file(dir: &Path) -> PathBuf {
    let file = dir.join("passwd");
    run(Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(&file)
        .args(["alice", "s3cret-A"]));
    run(Command::new("mosquitto_passwd")
        .args(["-H", "sha512", "-b"])
        .arg(&file)
        .args(["bob", "hunter2"]));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("alice:$7$101$") && text.contains("bob:$6$"),
        "{text}"
    );
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_passwd_files_let_in_the_right_passwords_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = mosquitto_password_file(dir.path());
    let b = broker(&format!("password_file {}", file.display()));
    assert!(b.wait_for_log("credentials: password file (2 users)", scaled(WAIT)));

    assert!(pub_as(&b, "p1", "alice", "s3cret-A").0);
    assert!(pub_as(&b, "p2", "bob", "hunter2").0, "the $6$ line");
    let (ok, err) = pub_as(&b, "p3", "alice", "Guess-9f2c");
    assert!(!ok && err.contains("not authorised"), "{err}");
    assert!(!pub_as(&b, "p4", "carol", "s3cret-A").0, "unknown user");

    let ok = MqttClient::connect_with(rumqttc_options(&b, "r1", "alice", "s3cret-A")).await;
    ok.disconnect().await;
    let mut wrong = MqttClient::start(rumqttc_options(&b, "r2", "bob", "Guess-9f2c"), false);
    let refused = wrong.wait_connack(scaled(WAIT)).await;
    assert!(
        matches!(&refused, Err(e) if e.contains("NotAuthorized")),
        "{refused:?}"
    );
    wrong.abort();

    // Raw: no user name, no password, both 5 (mosquitto 2.0's answers).
    assert_eq!(connack(&b, "n1", None, None), NOT_AUTHORIZED);
    assert_eq!(connack(&b, "n2", Some("alice"), None), NOT_AUTHORIZED);
    assert!(b.wait_for_log("refusing p3 (user 'alice') from 127.0.0.1:", scaled(WAIT)));
    assert!(b.log().contains("wrong password"));
    assert!(!b.log().contains("Guess-9f2c"), "never the password");
    assert!(b.log().contains("username 'alice' (password file)"));
}

/// `v1:EXPIRY:HEX`, signed with `openssl dgst -hmac`, the documented way.
fn openssl_token(secret: &str, id: &str, user: &str, expiry: u64) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::write(&input, format!("{id}\n{user}\n{expiry}")).unwrap();
    let out = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret, "-r"])
        .arg(&input));
    let hex = String::from_utf8(out.stdout).unwrap();
    format!("v1:{expiry}:{}", hex.split_whitespace().next().unwrap())
}

#[test]
fn signed_tokens_are_checked_for_client_user_expiry_and_signature() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "7b2f0c9e41d8a6355e0f1c2b3a49d8e7f6a5b4c3d2e1f0a9";
    let secret_file = dir.path().join("token.key");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    // Throttling off: every check below is made.
    let b = broker(&format!(
        "auth_token_secret_file {}\nauth_fail_limit 0",
        secret_file.display()
    ));

    let made = run(edgemq_command()
        .args(["token", "-s"])
        .arg(&secret_file)
        .args(["--clientid", "dev-1", "--username", "alice", "--ttl", "1h"]));
    let token = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("v1:"), "{token}");
    assert!(pub_as(&b, "dev-1", "alice", &token).0);
    assert!(!pub_as(&b, "dev-2", "alice", &token).0, "another client id");
    assert!(!pub_as(&b, "dev-1", "bob", &token).0, "another user");

    let independent = openssl_token(secret, "dev-1", "alice", now() + 600);
    assert!(
        pub_as(&b, "dev-1", "alice", &independent).0,
        "{independent}"
    );
    let expired = openssl_token(secret, "dev-1", "alice", now() - 10);
    assert!(!pub_as(&b, "dev-1", "alice", &expired).0);
    let forged = openssl_token(
        "not the secret at all, 32 bytes+",
        "dev-1",
        "alice",
        now() + 600,
    );
    assert!(!pub_as(&b, "dev-1", "alice", &forged).0);
    let mut flipped = independent.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    assert!(!pub_as(&b, "dev-1", "alice", &flipped).0);
    assert!(!pub_as(&b, "dev-1", "alice", "v1:garbage").0);

    // Refusals are logged rate-limited: the first one, then counted.
    assert!(b.wait_for_log("refusing dev-2 (user 'alice') from 127.0.0.1", scaled(WAIT)));
    assert!(b.log().contains("token signature does not match"));
    assert_failures(&b, 6);
    assert!(
        !b.all_logs().contains(&independent[14..]),
        "never the token"
    );
}

#[test]
fn throttling_blocks_an_address_then_lets_it_in_after_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let file = mosquitto_password_file(dir.path());
    let b = broker(&format!(
        "password_file {}\nauth_fail_limit 5\nauth_fail_window 60\nauth_fail_delay 3",
        file.display()
    ));
    let good = Some(&b"s3cret-A"[..]);
    for i in 0..6 {
        let code = connack(&b, &format!("bad-{i}"), Some("alice"), Some(b"nope"));
        assert_eq!(code, NOT_AUTHORIZED, "attempt {i}");
    }
    assert!(b.wait_for_log("blocking logins from 127.0.0.1", scaled(WAIT)));
    let blocked_at = std::time::Instant::now();
    assert_eq!(
        connack(&b, "good-1", Some("alice"), good),
        NOT_AUTHORIZED,
        "blocked"
    );
    assert!(b.wait_for_log("unchecked: too many failed logins", scaled(WAIT)));
    // Anonymous CONNECTs from the address are refused too.
    assert_eq!(connack(&b, "anon", None, None), NOT_AUTHORIZED);
    std::thread::sleep(
        Duration::from_secs(3).saturating_sub(blocked_at.elapsed()) + Duration::from_millis(300),
    );
    assert_eq!(connack(&b, "good-2", Some("alice"), good), ACCEPTED);
    b.signal("USR1");
    assert!(
        b.wait_log(scaled(WAIT), |log| {
            log.contains("auth_failures 5,")
                && log.contains("auth_throttled 3,")
                && log.contains("auth_blocks 1")
        }),
        "{}",
        b.log()
    );
}

#[test]
fn sighup_rereads_the_password_file_and_a_bad_one_is_kept_out() {
    let dir = tempfile::tempdir().unwrap();
    let file = mosquitto_password_file(dir.path());
    let b = broker(&format!("password_file {}", file.display()));
    assert_eq!(
        connack(&b, "c1", Some("alice"), Some(b"s3cret-A")),
        ACCEPTED
    );
    run(Command::new("mosquitto_passwd")
        .arg("-b")
        .arg(&file)
        .args(["alice", "n3w-pass"]));
    b.signal("HUP");
    assert!(b.wait_log(scaled(WAIT), |log| log
        .lines()
        .any(|l| l.contains("SIGHUP: authentication")
            && l.contains("credentials: password file (2 users)"))));
    assert_eq!(
        connack(&b, "c2", Some("alice"), Some(b"s3cret-A")),
        NOT_AUTHORIZED
    );
    assert_eq!(
        connack(&b, "c3", Some("alice"), Some(b"n3w-pass")),
        ACCEPTED
    );
    // A line edgemq cannot read: the reload is refused, the file before stays.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("carol:$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\n");
    std::fs::write(&file, text).unwrap();
    b.signal("HUP");
    assert!(b.wait_for_log("SIGHUP: keeping the running configuration", scaled(WAIT)));
    assert!(b
        .log()
        .contains(&format!("{}:3: user 'carol': argon2id", file.display())));
    assert_eq!(
        connack(&b, "c4", Some("alice"), Some(b"n3w-pass")),
        ACCEPTED
    );
}

#[test]
fn a_password_file_edgemq_cannot_read_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    std::fs::write(&file, "# users\nalice:plaintext\n").unwrap();
    let conf = dir.path().join("e.conf");
    std::fs::write(
        &conf,
        format!("listener 0 127.0.0.1\npassword_file {}\n", file.display()),
    )
    .unwrap();
    let mut check = edgemq_command();
    check.arg("check-config").arg(&conf);
    let out = run_with_timeout(check, scaled(WAIT));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "e.conf:2: password_file: {}:2: user 'alice': not a hashed password",
            file.display()
        )),
        "{err}"
    );
    let mut start = edgemq_command();
    start.arg("-c").arg(&conf).current_dir(dir.path());
    let started = run_with_timeout(start, scaled(WAIT));
    assert_eq!(started.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&started.stderr).contains("edgemq passwd -U"));
}

#[test]
fn without_a_credential_method_a_name_is_refused_or_taken_as_given() {
    let refused = broker("");
    assert_eq!(
        connack(&refused, "c1", Some("alice"), Some(b"x")),
        NOT_AUTHORIZED
    );
    assert!(refused.wait_for_log(
        "only clients named by a TLS client certificate",
        scaled(WAIT)
    ));
    let open = Broker::start("allow_anonymous true");
    assert_eq!(connack(&open, "c2", Some("alice"), Some(b"x")), ACCEPTED);
    assert!(open.wait_for_log("username 'alice' (unverified user name)", scaled(WAIT)));
}

/// JWTs: a build with the `jwt` feature (the default).
#[cfg(feature = "jwt")]
mod jwt {
    use super::*;
    use common::raw;

    fn b64url(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    fn hs256_jwt(secret: &[u8], header: &str, claims: &str) -> String {
        let signed = format!(
            "{}.{}",
            b64url(header.as_bytes()),
            b64url(claims.as_bytes())
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        let tag = ring::hmac::sign(&key, signed.as_bytes());
        format!("{signed}.{}", b64url(tag.as_ref()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hs256_jwts_with_sub_exp_clientid_and_acl() {
        let dir = tempfile::tempdir().unwrap();
        let secret = b"an HS256 secret shared with the issuer, 32+ bytes";
        let key_file = dir.path().join("jwt.key");
        std::fs::write(&key_file, secret).unwrap();
        let b = broker(&format!(
            "auth_jwt_key_file {}\nauth_fail_limit 0",
            key_file.display()
        ));
        assert!(b.wait_for_log("credentials: HS256 JWTs", scaled(WAIT)));
        let hs = r#"{"alg":"HS256","typ":"JWT"}"#;
        let exp = now() + 600;
        let claims = format!(
            r#"{{"sub":"alice","exp":{exp},"clientid":"dev-1","acl":{{"pub":["d/dev-1/#"],"sub":["c/dev-1/+"]}}}}"#
        );
        let good = hs256_jwt(secret, hs, &claims);
        let c = MqttClient::connect_with(rumqttc_options(&b, "dev-1", "alice", &good)).await;
        c.disconnect().await;
        assert!(b.wait_for_log(
            "username 'alice' (JWT), JWT acl: 1 pub / 1 sub filters",
            scaled(WAIT)
        ));

        let refused =
            |id: &str, user: &str, token: &str| connack(&b, id, Some(user), Some(token.as_bytes()));
        assert_eq!(
            refused("dev-2", "alice", &good),
            NOT_AUTHORIZED,
            "clientid claim"
        );
        assert_eq!(refused("dev-1", "bob", &good), NOT_AUTHORIZED, "sub claim");
        let none = format!(
            "{}.{}.",
            b64url(br#"{"alg":"none","typ":"JWT"}"#),
            b64url(claims.as_bytes())
        );
        assert_eq!(refused("dev-1", "alice", &none), NOT_AUTHORIZED, "alg none");
        let hs512 = hs256_jwt(secret, r#"{"alg":"HS512"}"#, &claims);
        assert_eq!(
            refused("dev-1", "alice", &hs512),
            NOT_AUTHORIZED,
            "another alg"
        );
        let expired = hs256_jwt(
            secret,
            hs,
            &format!(r#"{{"sub":"alice","exp":{}}}"#, now() - 5),
        );
        assert_eq!(refused("dev-1", "alice", &expired), NOT_AUTHORIZED);
        let no_exp = hs256_jwt(secret, hs, r#"{"sub":"alice"}"#);
        assert_eq!(refused("dev-1", "alice", &no_exp), NOT_AUTHORIZED);
        let forged = hs256_jwt(b"some other secret of 32 bytes or more", hs, &claims);
        assert_eq!(refused("dev-1", "alice", &forged), NOT_AUTHORIZED);
        // The first refusal is logged, the rest counted (rate-limited).
        assert!(b.wait_for_log("JWT clientid is not the client id", scaled(WAIT)));
        assert_failures(&b, 7);
    }

    /// A raw client let in with `token`, its CONNACK checked.
    fn raw_with_token(b: &Broker, id: &str, user: &str, token: &str) -> RawClient {
        let connect = Connect::new(id).username(user).password(token.as_bytes());
        let mut c = RawClient::connect(b.addr());
        assert_eq!(c.handshake(&connect.to_bytes()), Some(ACCEPTED));
        c
    }

    /// A JWT's `acl` claim is that client's ACL: it replaces the file's
    /// rules for it (docs/security.md, "Per-client rules").
    #[test]
    fn a_jwt_acl_claim_is_the_clients_acl() {
        let dir = tempfile::tempdir().unwrap();
        let secret = b"an HS256 secret shared with the issuer, 32+ bytes";
        let key_file = dir.path().join("jwt.key");
        std::fs::write(&key_file, secret).unwrap();
        // The file lets everyone read and write everything: the claim,
        // narrower, must win for the client that carries it.
        let acl_file = dir.path().join("acl");
        std::fs::write(&acl_file, "pattern readwrite #\n").unwrap();
        let b = broker(&format!(
            "auth_jwt_key_file {}\nacl_file {}\nauth_fail_limit 0",
            key_file.display(),
            acl_file.display()
        ));
        let hs = r#"{"alg":"HS256","typ":"JWT"}"#;
        let claims = format!(
            r#"{{"sub":"alice","exp":{},"acl":{{"pub":["d/dev-1/#"],"sub":["c/dev-1/+","d/#"]}}}}"#,
            now() + 600
        );
        let token = hs256_jwt(secret, hs, &claims);
        let mut dev = raw_with_token(&b, "dev-1", "alice", &token);
        dev.send(&raw::subscribe(
            1,
            &[("c/dev-1/+", 1), ("e/#", 1), ("d/#", 0)],
        ));
        let suback = dev.read_packet(scaled(WAIT)).expect("a SUBACK");
        assert_eq!(raw::parse_suback(&suback), Some((1, vec![1, 0x80, 0])));
        // Its own publishes: the allowed topic comes back, the other is
        // acknowledged and dropped.
        dev.send(&raw::publish("e/x", b"denied", 1, false, false, Some(2)));
        dev.send(&raw::publish(
            "d/dev-1/t",
            b"allowed",
            1,
            false,
            false,
            Some(3),
        ));
        let mut delivered = Vec::new();
        let mut acked = Vec::new();
        while acked.len() < 2 || delivered.is_empty() {
            let p = dev.read_packet(scaled(WAIT)).expect("a packet");
            match raw::parse_publish(&p) {
                Some(publish) => delivered.push((publish.topic, publish.payload)),
                None => acked.push(p),
            }
        }
        assert_eq!(delivered, [("d/dev-1/t".to_owned(), b"allowed".to_vec())]);
        assert!(dev.read_packet(Duration::from_millis(300)).is_none());
    }

    /// An ES256 JWT signed by `openssl dgst -sign` (DER), turned into JWS's
    /// raw R || S.
    fn es256_jwt(private_key: &Path, claims: &str) -> String {
        let signed = format!(
            "{}.{}",
            b64url(br#"{"alg":"ES256"}"#),
            b64url(claims.as_bytes())
        );
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::write(&input, &signed).unwrap();
        let out = run(Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(private_key)
            .arg(&input));
        format!("{signed}.{}", b64url(&der_to_raw(&out.stdout)))
    }

    /// SEQUENCE { INTEGER r, INTEGER s } → r || s, 32 bytes each.
    fn der_to_raw(der: &[u8]) -> Vec<u8> {
        assert_eq!(der[0], 0x30);
        let mut rest = &der[2..];
        let mut out = Vec::new();
        for _ in 0..2 {
            assert_eq!(rest[0], 0x02);
            let len = usize::from(rest[1]);
            let int = &rest[2..2 + len];
            let int = if int.len() > 32 {
                &int[int.len() - 32..]
            } else {
                int
            };
            out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
            out.extend_from_slice(int);
            rest = &rest[2 + len..];
        }
        out
    }

    /// A new P-256 private key at `path`, as an issuer makes one.
    fn p256_key(path: &Path) {
        let mut cmd = Command::new("openssl");
        cmd.args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ]);
        run(cmd.arg(path));
    }

    #[test]
    fn es256_jwts_are_checked_with_the_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("issuer.pem");
        let public = dir.path().join("issuer.pub.pem");
        p256_key(&key);
        run(Command::new("openssl")
            .args(["ec", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&public));
        let b = broker(&format!("auth_jwt_key_file {}", public.display()));
        assert!(b.wait_for_log("credentials: ES256 JWTs", scaled(WAIT)));
        let claims = format!(r#"{{"sub":"sensor-7","exp":{}}}"#, now() + 600);
        let token = es256_jwt(&key, &claims);
        assert!(pub_as(&b, "s7", "sensor-7", &token).0, "{token}");
        assert!(!pub_as(&b, "s7", "sensor-8", &token).0);
        // Another issuer's key signs nothing this broker takes.
        let other = dir.path().join("other.pem");
        p256_key(&other);
        assert!(!pub_as(&b, "s7", "sensor-7", &es256_jwt(&other, &claims)).0);
        // The public key as an HS256 secret: refused by its alg.
        let confused = hs256_jwt(
            &std::fs::read(&public).unwrap(),
            r#"{"alg":"HS256"}"#,
            &claims,
        );
        assert!(!pub_as(&b, "s7", "sensor-7", &confused).0);
        assert!(b.wait_for_log("JWT sub is not the user name", scaled(WAIT)));
        assert_failures(&b, 3);
    }
}

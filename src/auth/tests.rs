//! Tests of the method choice in `mod.rs` (docs/security.md, "Which method
//! applies").

use super::*;

const NOW: u64 = 1_800_000_000;
/// mosquitto_passwd 2.0.11: alice / secret.
const FILE: &str = "alice:$7$101$ENTtIy0JhtQOoMQa$I7BnvpkLC84dwMZCLJLM0wvvGmQs15rGgNlOqgIxCLOosLAlfEFoXISOXS4dEC3drK4M/cUvo4kTSoffvT2JhA==\n";

fn secret() -> Secret {
    Secret::from_file_text(b"0123456789abcdef0123456789abcdef").unwrap()
}

// The update fills `jwt_key` in a build with the `jwt` feature.
#[allow(clippy::needless_update)]
fn creds(file: bool, tokens: bool) -> Credentials {
    Credentials {
        password_file: file.then(|| PasswordFile::parse(FILE).unwrap()),
        token_secret: tokens.then(secret),
        ..Credentials::default()
    }
}

fn attempt<'a>(username: Option<&'a str>, password: Option<&'a [u8]>) -> Attempt<'a> {
    Attempt {
        client_id: "dev-1",
        username,
        password,
        unix_now: Some(NOW),
    }
}

fn method(r: Result<Identity, Refusal>) -> Result<AuthMethod, Refusal> {
    r.map(|id| id.method)
}

#[test]
fn anonymous_clients_follow_allow_anonymous() {
    for c in [creds(false, false), creds(true, true)] {
        let anon = attempt(None, None);
        assert_eq!(
            method(authenticate(&c, true, &anon)),
            Ok(AuthMethod::Anonymous)
        );
        assert_eq!(authenticate(&c, false, &anon), Err(Refusal::Anonymous));
        // A password without a user name (MQTT 5 allows it) is ignored.
        let pw_only = attempt(None, Some(b"secret"));
        assert_eq!(authenticate(&c, false, &pw_only), Err(Refusal::Anonymous));
    }
}

#[test]
fn without_methods_a_name_is_unverified_or_refused() {
    let none = creds(false, false);
    let a = attempt(Some("alice"), Some(b"anything"));
    let id = authenticate(&none, true, &a).unwrap();
    assert_eq!(
        (id.method, id.username.as_deref()),
        (AuthMethod::Unverified, Some("alice"))
    );
    assert_eq!(authenticate(&none, false, &a), Err(Refusal::NoMethod));
    assert!(!Refusal::NoMethod.is_failed_guess());
}

#[test]
fn password_file_decides_whatever_allow_anonymous_says() {
    let c = creds(true, false);
    for anonymous in [true, false] {
        let ok = authenticate(&c, anonymous, &attempt(Some("alice"), Some(b"secret")));
        assert_eq!(method(ok), Ok(AuthMethod::PasswordFile));
        let wrong = attempt(Some("alice"), Some(b"nope"));
        assert_eq!(
            authenticate(&c, anonymous, &wrong),
            Err(Refusal::WrongPassword)
        );
        let unknown = attempt(Some("mallory"), Some(b"secret"));
        assert_eq!(
            authenticate(&c, anonymous, &unknown),
            Err(Refusal::UnknownUser)
        );
        let no_pw = attempt(Some("alice"), None);
        assert_eq!(
            authenticate(&c, anonymous, &no_pw),
            Err(Refusal::NoPassword)
        );
    }
    assert!(Refusal::WrongPassword.is_failed_guess());
}

#[test]
fn v1_passwords_go_to_the_token_check_when_a_secret_is_set() {
    let token = token::make(&secret(), "dev-1", "alice", NOW + 60);
    let both = creds(true, true);
    let ok = authenticate(
        &both,
        false,
        &attempt(Some("alice"), Some(token.as_bytes())),
    );
    assert_eq!(method(ok), Ok(AuthMethod::Token));
    // The password file still serves the other passwords.
    let pw = authenticate(&both, false, &attempt(Some("alice"), Some(b"secret")));
    assert_eq!(method(pw), Ok(AuthMethod::PasswordFile));
    let mut other_client = attempt(Some("alice"), Some(token.as_bytes()));
    other_client.client_id = "dev-2";
    assert_eq!(
        authenticate(&both, false, &other_client),
        Err(Refusal::Token(token::TokenError::BadSignature))
    );
    let expired = token::make(&secret(), "dev-1", "alice", NOW);
    assert_eq!(
        authenticate(
            &both,
            false,
            &attempt(Some("alice"), Some(expired.as_bytes()))
        ),
        Err(Refusal::Token(token::TokenError::Expired))
    );
    let mut no_clock = attempt(Some("alice"), Some(token.as_bytes()));
    no_clock.unix_now = None;
    assert_eq!(
        authenticate(&both, false, &no_clock),
        Err(Refusal::ClockNotSet)
    );
    // Without a secret a v1: password is only a password.
    let file_only = creds(true, false);
    let as_password = authenticate(
        &file_only,
        false,
        &attempt(Some("alice"), Some(token.as_bytes())),
    );
    assert_eq!(as_password, Err(Refusal::WrongPassword));
    // Tokens only: a plain password has nothing to be checked against,
    // and allow_anonymous true does not let the name through unchecked.
    let tokens_only = creds(false, true);
    let plain = attempt(Some("alice"), Some(b"secret"));
    assert_eq!(
        authenticate(&tokens_only, true, &plain),
        Err(Refusal::NoMatchingMethod)
    );
}

#[cfg(feature = "jwt")]
#[test]
fn jwt_shaped_passwords_go_to_the_jwt_check_when_a_key_is_set() {
    use ring::hmac;
    let key_bytes = b"a jwt secret of at least 32 bytes!!";
    let b64 = |b: &[u8]| base64::encode(b, base64::Alphabet::UrlSafe);
    let signed = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256"}"#),
        b64(format!(
            r#"{{"sub":"alice","exp":{},"acl":{{"pub":["a/#"]}}}}"#,
            NOW + 9
        )
        .as_bytes())
    );
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key_bytes),
        signed.as_bytes(),
    );
    let token = format!("{signed}.{}", b64(tag.as_ref()));
    let mut c = creds(true, true);
    c.jwt_key = Some(jwt_key::JwtKey::from_file_text(key_bytes).unwrap());
    let id = authenticate(&c, false, &attempt(Some("alice"), Some(token.as_bytes()))).unwrap();
    assert_eq!(id.method, AuthMethod::Jwt);
    assert_eq!(id.acl.unwrap().publish, vec![Box::from("a/#")]);
    let bob = authenticate(&c, false, &attempt(Some("bob"), Some(token.as_bytes())));
    assert_eq!(bob, Err(Refusal::Jwt(jwt::JwtError::WrongSubject)));
    assert_eq!(
        c.describe(),
        "password file (1 users), signed tokens, HS256 JWTs"
    );
    // Without the key, the same password meets the password file.
    c.jwt_key = None;
    let as_password = authenticate(&c, false, &attempt(Some("alice"), Some(token.as_bytes())));
    assert_eq!(as_password, Err(Refusal::WrongPassword));
}

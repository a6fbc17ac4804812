//! What authentication tells the rest of the broker about an accepted
//! client: under which name and by which method it got in, and the topic
//! lists its JWT carried. The ACL checks (src/acl/) read these; this
//! module only carries them (docs/security.md, "What a session keeps").

/// How a client got in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// No user name, and `allow_anonymous true`.
    Anonymous,
    /// A user name nobody checked: no credential method is configured and
    /// `allow_anonymous true` lets everyone in (mosquitto does the same).
    Unverified,
    /// The name of its TLS client certificate (`use_identity_as_username`,
    /// `use_subject_as_username`).
    Certificate,
    PasswordFile,
    /// A `v1:` signed token (`auth_token_secret_file`).
    Token,
    /// A JWT (`auth_jwt_key_file`).
    Jwt,
}

impl AuthMethod {
    /// How log lines name it.
    pub fn describe(self) -> &'static str {
        match self {
            AuthMethod::Anonymous => "anonymous",
            AuthMethod::Unverified => "unverified user name",
            AuthMethod::Certificate => "certificate",
            AuthMethod::PasswordFile => "password file",
            AuthMethod::Token => "signed token",
            AuthMethod::Jwt => "JWT",
        }
    }
}

/// The `acl` claim of a JWT, `{"pub": [filters], "sub": [filters]}`: the
/// topic filters this client may publish to and subscribe to. Each is a
/// valid topic filter (checked with the default topic limits); an absent
/// list is empty. Only a JWT gives one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenAcl {
    pub publish: Vec<Box<str>>,
    pub subscribe: Vec<Box<str>>,
}

/// An accepted client's identity, kept by the broker for the life of the
/// connection (a reconnect authenticates again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub method: AuthMethod,
    /// The user name the client is known by: CONNECT's, or its
    /// certificate's; `None` for anonymous clients.
    pub username: Option<Box<str>>,
    /// `Some` only for a JWT with an `acl` claim.
    pub acl: Option<Box<TokenAcl>>,
}

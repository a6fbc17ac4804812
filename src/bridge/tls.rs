//! TLS 1.3 for bridges (embedded-tls): not yet.

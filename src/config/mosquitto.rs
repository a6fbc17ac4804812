//! mosquitto.conf keys that edgemq reads differently or not at all.
//!
//! Owns: the catalogue of mosquitto keys edgemq does not implement, and what
//! becomes of a line that holds one. Two kinds:
//! - a key that only tunes behaviour is ignored with a warning, so a
//!   mosquitto config can be tried as is;
//! - a key that decides who may connect, what they may touch or whether
//!   traffic is encrypted is an error: ignoring it would serve less security
//!   than the file asks for (plain text where it asks for TLS, any client
//!   where it asks for passwords, every interface where it names one), and a warning in a router's log goes unread. The error says what
//!   to do instead (README.md, Configuration).
//!
//! A key nobody knows is the parser's error, not this module's. `log_type`
//! lines are mapped onto edgemq's single log level.

use log::LevelFilter;

use super::error::ConfigError;
use super::line::Line;

/// mosquitto 2.0 (and a few 2.1 and 1.x) keys edgemq does not implement,
/// sorted for binary search. The bridge keys edgemq implements are in
/// `config::bridge`; the rest of mosquitto's are here. The TLS listener
/// keys are read by `config::tls` in a build with TLS, and stay here for
/// a build without it. [`refusal`] says
/// which of them are errors; the others are warnings.
const NOT_IMPLEMENTED: &[&str] = &[
    "accept_protocol_versions",
    "allow_duplicate_messages",
    "auth_plugin",
    "auth_plugin_deny_special_chars",
    "autosave_on_changes",
    "bind_address",
    "bind_interface",
    "bridge_attempt_unsubscribe",
    "bridge_bind_address",
    "bridge_identity",
    "bridge_max_packet_size",
    "bridge_max_topic_alias",
    "bridge_outgoing_retain",
    "bridge_psk",
    "bridge_receive_maximum",
    "bridge_require_ocsp",
    "cafile",
    "capath",
    "certfile",
    "check_retain_source",
    "ciphers",
    "ciphers_tls1.3",
    "clientid",
    "clientid_prefixes",
    "crlfile",
    "dhparamfile",
    "disable_client_cert_date_checks",
    "enable_control_api",
    "global_max_clients",
    "global_max_connections",
    "global_plugin",
    "http_dir",
    "idle_timeout",
    "keyfile",
    "local_cleansession",
    "local_clientid",
    "local_password",
    "local_username",
    "max_inflight_bytes",
    "max_qos",
    "max_queued_bytes",
    "message_size_limit",
    "mount_point",
    "notifications_local_only",
    "password",
    "persistence_file",
    "plugin",
    "port",
    "psk_file",
    "psk_hint",
    "require_certificate",
    "retain_available",
    "retry_interval",
    "round_robin",
    "set_tcp_nodelay",
    "socket_domain",
    "start_type",
    "store_clean_interval",
    "threshold",
    "tls_engine",
    "tls_engine_kpass_sha1",
    "tls_keyform",
    "tls_version",
    "upgrade_outgoing_qos",
    "use_identity_as_username",
    "use_subject_as_username",
    "use_username_as_clientid",
    "username",
    "websockets_log_level",
];

/// Families of plugin options with a free suffix (`plugin_opt_foo`); they
/// are refused with their plugin.
const PLUGIN_OPTION_PREFIXES: &[&str] = &["auth_opt_", "global_plugin_opt_", "plugin_opt_"];

/// Keys that belong to a mosquitto bridge `connection` block.
const BRIDGE_KEYS: &[&str] = &[
    "clientid",
    "idle_timeout",
    "local_cleansession",
    "local_clientid",
    "local_password",
    "local_username",
    "notifications_local_only",
    "password",
    "round_robin",
    "start_type",
    "threshold",
    "username",
];

/// What becomes of a line whose key edgemq does not implement.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Ignored with this warning; only tuning is lost.
    Ignored(String),
    /// No mosquitto key either.
    Unknown,
}

/// The verdict on a line no edgemq key claimed, or the error for a key whose
/// absence would lower security.
pub(super) fn unimplemented(line: &Line<'_>) -> Result<Verdict, ConfigError> {
    if let Some(why) = refusal(line.key) {
        return Err(line.error(why));
    }
    Ok(not_implemented(line.key).map_or(Verdict::Unknown, Verdict::Ignored))
}

// Why each security key is refused, and what to do instead. One line each:
// the parser prefixes "FILE:LINE: KEY: ".
/// Refused rather than ignored so that a web page the file asks for does
/// not silently go missing; edgemq has no plan to serve files.
const HTTP_DIR: &str = "edgemq serves no files over HTTP (its WebSocket listeners take MQTT \
    upgrades only): remove the line and serve the files with a web server";
const NO_TLS: &str = "this build of edgemq has no TLS (built without the cargo feature \
    `tls`): use a build with it, remove the TLS keys to serve plain MQTT on a trusted network, or \
    terminate TLS in front of edgemq (e.g. stunnel)";
const TLS_PSK: &str = "TLS-PSK listeners are not available yet in edgemq (this listener would \
    take clients without a key): edgemq supports certificates (certfile and keyfile; cafile and \
    require_certificate true for client certificates)";
const DHPARAM: &str = "DH parameters are not available in edgemq: its TLS offers ECDHE key \
    exchange only, which needs none; remove the line";
const TLS_ENGINE: &str = "TLS engines (hardware keys) are not available yet in edgemq (the \
    listener would have no key): edgemq supports PEM key files (keyfile, RSA or ECDSA)";
const CERT_DATES: &str = "accepting expired client certificates is not available in edgemq (a \
    client certificate is checked against the clock): remove the line and renew the \
    certificates, or set the device's clock";
const CLIENTID_PREFIXES: &str = "client id prefixes are not available yet in edgemq (any \
    client id would be let in): remove the line only if every client that can reach the \
    listeners is trusted (bind them to a trusted network's address)";
const PLUGIN: &str = "plugins are not available yet in edgemq (their authentication and \
    access checks would not run): remove the plugin lines, and keep allow_anonymous false to \
    refuse every client or allow anonymous clients only on listeners bound to a trusted \
    network's address";
const BIND_INTERFACE: &str = "binding to an interface is not available yet in edgemq (a \
    listener without an address would take every interface, WAN included): remove the line and \
    give the listener that interface's address (listener PORT ADDRESS)";
const SOCKET_DOMAIN: &str = "limiting a listener to one address family is not available yet \
    in edgemq (a listener without an address takes IPv4 and IPv6 both): remove the line and \
    give the listener an address (listener PORT 0.0.0.0 for IPv4 only)";
const MOUNT_POINT: &str = "mount points are not available yet in edgemq (this listener's \
    clients would reach every topic, not only those under the mount point): remove the line \
    only if they may";
const BRIDGE_PSK: &str = "TLS-PSK bridges are not available yet in edgemq (without \
    bridge_cafile the bridge connects in plain text): use certificates instead (bridge_cafile; \
    bridge_certfile and bridge_keyfile for a client certificate)";
const BRIDGE_OCSP: &str = "OCSP checks are not available yet in edgemq (a revoked remote \
    certificate would be accepted): remove the line to bridge without a revocation check";

/// The error for a key that changes who may connect, what they may touch or
/// whether traffic is encrypted; `None` for the others.
///
/// Borderline keys, and why: the TLS engine and key-form keys, `dhparamfile`
/// and `disable_client_cert_date_checks` only ever configure a TLS listener,
/// so they are refused with it; `auth_plugin_deny_special_chars` and the
/// plugin option families only matter with a plugin, so they are refused
/// with it. `accept_protocol_versions`, `use_username_as_clientid` (a client
/// keeps the id it sent), `check_retain_source` (a retained message already
/// needs write access when it is stored) and `bridge_bind_address` (routing,
/// not trust) only tune, and stay warnings.
fn refusal(key: &str) -> Option<&'static str> {
    let why = match key {
        // Read by config/tls.rs in a build with TLS; they get here only
        // in a build without it.
        "cafile"
        | "capath"
        | "certfile"
        | "ciphers"
        | "ciphers_tls1.3"
        | "crlfile"
        | "keyfile"
        | "require_certificate"
        | "tls_version"
        | "use_identity_as_username"
        | "use_subject_as_username" => NO_TLS,
        "psk_file" | "psk_hint" => TLS_PSK,
        "dhparamfile" => DHPARAM,
        "tls_engine" | "tls_engine_kpass_sha1" | "tls_keyform" => TLS_ENGINE,
        "disable_client_cert_date_checks" => CERT_DATES,
        "http_dir" => HTTP_DIR,
        "clientid_prefixes" => CLIENTID_PREFIXES,
        "auth_plugin" | "auth_plugin_deny_special_chars" | "global_plugin" | "plugin" => PLUGIN,
        "bind_interface" => BIND_INTERFACE,
        "socket_domain" => SOCKET_DOMAIN,
        "mount_point" => MOUNT_POINT,
        "bridge_identity" | "bridge_psk" => BRIDGE_PSK,
        "bridge_require_ocsp" => BRIDGE_OCSP,
        _ if PLUGIN_OPTION_PREFIXES.iter().any(|p| key.starts_with(p)) => PLUGIN,
        _ => return None,
    };
    Some(why)
}

/// The warning for a mosquitto key edgemq ignores, or `None` if `key` is no
/// mosquitto key either.
fn not_implemented(key: &str) -> Option<String> {
    let known = NOT_IMPLEMENTED.binary_search(&key).is_ok()
        || PLUGIN_OPTION_PREFIXES.iter().any(|p| key.starts_with(p));
    if !known {
        return None;
    }
    let what = if key.starts_with("bridge_") || BRIDGE_KEYS.contains(&key) {
        "mosquitto bridge key"
    } else {
        "mosquitto key"
    };
    let mut msg = format!("{what} '{key}' is not implemented by edgemq; line ignored");
    if let Some(hint) = hint(key) {
        msg.push_str(" (");
        msg.push_str(hint);
        msg.push(')');
    }
    Some(msg)
}

/// Where edgemq has a counterpart, say so.
fn hint(key: &str) -> Option<&'static str> {
    match key {
        "port" | "bind_address" => Some("use 'listener PORT [ADDRESS]'"),
        "message_size_limit" => Some("use max_packet_size"),
        "persistence_file" => Some("the store is the directory persistence_location"),
        "max_queued_bytes" | "max_inflight_bytes" => {
            Some("see max_queued_messages and max_outbound_bytes")
        }
        _ => None,
    }
}

/// One `log_type` value as a level: mosquitto enables message classes one by
/// one, edgemq has one threshold, so each class maps to the level whose
/// messages it is closest to. `None` for a value mosquitto does not know.
pub(crate) fn log_type_level(v: &str) -> Option<LevelFilter> {
    match v {
        "none" => Some(LevelFilter::Off),
        "error" => Some(LevelFilter::Error),
        "warning" => Some(LevelFilter::Warn),
        "notice" | "information" | "subscribe" | "unsubscribe" | "websockets" => {
            Some(LevelFilter::Info)
        }
        "debug" | "all" => Some(LevelFilter::Debug),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Warning};

    #[test]
    fn lists_are_sorted_for_binary_search() {
        assert!(NOT_IMPLEMENTED.windows(2).all(|w| w[0] < w[1]));
        assert!(BRIDGE_KEYS.iter().all(|k| NOT_IMPLEMENTED.contains(k)));
    }

    /// Every key refused as a security downgrade; a change to [`refusal`]
    /// has to change this list too.
    const REFUSED: &[&str] = &[
        "auth_plugin",
        "auth_plugin_deny_special_chars",
        "bind_interface",
        "bridge_identity",
        "bridge_psk",
        "bridge_require_ocsp",
        "clientid_prefixes",
        "dhparamfile",
        "disable_client_cert_date_checks",
        "global_plugin",
        "http_dir",
        "mount_point",
        "plugin",
        "psk_file",
        "psk_hint",
        "socket_domain",
        "tls_engine",
        "tls_engine_kpass_sha1",
        "tls_keyform",
    ];

    /// The TLS listener keys: read by config/tls.rs, refused by a build
    /// without TLS.
    const TLS_KEYS: &[&str] = &[
        "cafile",
        "capath",
        "certfile",
        "ciphers",
        "ciphers_tls1.3",
        "crlfile",
        "keyfile",
        "require_certificate",
        "tls_version",
        "use_identity_as_username",
        "use_subject_as_username",
    ];

    fn parse(text: &str) -> Result<(Config, Vec<Warning>), ConfigError> {
        Config::parse_str(text, "m.conf")
    }

    #[test]
    fn security_keys_are_refused_with_line_and_way_out() {
        for key in REFUSED {
            assert!(NOT_IMPLEMENTED.contains(key), "{key} is no mosquitto key");
            let e = parse(&format!("listener 1883\n{key} x")).unwrap_err();
            assert_eq!(e.line, 2, "{key}: {e}");
            assert!(e.message.starts_with(&format!("{key}: ")), "{e}");
            let way_out = e.message.contains("not available")
                || (*key == "http_dir" && e.message.contains("serves no files"));
            assert!(way_out, "{e}");
            assert!(!e.message.contains('\n'), "{e}");
        }
        for key in TLS_KEYS {
            assert!(NOT_IMPLEMENTED.contains(key), "{key} is no mosquitto key");
            assert_eq!(refusal(key), Some(NO_TLS), "{key}");
        }
        for key in ["plugin_opt_db", "auth_opt_backends", "global_plugin_opt_x"] {
            let e = parse(key).unwrap_err();
            assert!(e.message.contains("plugins are not available yet"), "{e}");
        }
        let e = parse("listener 8883\npsk_hint edgemq").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("m.conf:2: psk_hint: {TLS_PSK}"),
            "what edgemq supports is spelled out"
        );
    }

    /// A build without TLS refuses the TLS keys with the way out.
    #[cfg(not(feature = "tls"))]
    #[test]
    fn a_build_without_tls_refuses_the_tls_keys() {
        for key in TLS_KEYS {
            let e = parse(&format!("listener 8883\n{key} x")).unwrap_err();
            assert_eq!(e.to_string(), format!("m.conf:2: {key}: {NO_TLS}"));
        }
    }

    #[test]
    fn tuning_keys_stay_warnings() {
        for key in NOT_IMPLEMENTED {
            if REFUSED.contains(key) || TLS_KEYS.contains(key) {
                continue;
            }
            assert_eq!(refusal(key), None, "{key}");
            let warning = not_implemented(key).unwrap();
            assert!(warning.contains("line ignored"), "{key}: {warning}");
        }
        assert!(not_implemented("start_type").unwrap().contains("bridge"));
        assert!(not_implemented("bridge_bind_address")
            .unwrap()
            .contains("bridge"));
        assert!(not_implemented("port").unwrap().contains("listener PORT"));
        assert!(not_implemented("frobnicate").is_none());
        assert!(not_implemented("max_sessions").is_none());
        let (_, w) = parse("retry_interval 10\nwebsockets_log_level 255").unwrap();
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn protocol_depends_on_the_value() {
        let (_, w) = parse("listener 1883\nprotocol mqtt\nper_listener_settings false").unwrap();
        assert!(w.is_empty(), "{w:?}");
        // `protocol websockets` is config/websocket.rs's; without the
        // feature it is refused, as a key that would lower what is served.
        let ws = parse("listener 1883\nprotocol websockets");
        if cfg!(feature = "websocket") {
            assert!(ws.is_ok());
        } else {
            let e = ws.unwrap_err();
            assert!(e.message.contains("not in this build"), "{e}");
        }
        let e = parse("protocol mqtts").unwrap_err();
        assert!(e.message.contains("expected mqtt"), "{e}");
        assert!(parse("protocol").unwrap_err().message.contains("missing"));
    }

    #[test]
    fn log_types() {
        assert_eq!(log_type_level("all"), Some(LevelFilter::Debug));
        assert_eq!(log_type_level("none"), Some(LevelFilter::Off));
        assert_eq!(log_type_level("information"), Some(LevelFilter::Info));
        assert_eq!(log_type_level("warning"), Some(LevelFilter::Warn));
        assert_eq!(log_type_level("loud"), None);
    }
}

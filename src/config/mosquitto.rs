//! mosquitto.conf keys that edgemq reads differently or not at all.
//!
//! A mosquitto key edgemq does not implement is a warning, not an error, so
//! a mosquitto config can be tried as is (§7); a key nobody knows stays an
//! error. `log_type` lines are mapped onto edgemq's single log level.

use log::LevelFilter;

/// mosquitto 2.0 (and a few 2.1 and 1.x) keys edgemq does not implement,
/// sorted for binary search. The bridge keys edgemq implements are in
/// `config::bridge`; the rest of mosquitto's are here.
const NOT_IMPLEMENTED: &[&str] = &[
    "accept_protocol_versions",
    "acl_file",
    "allow_duplicate_messages",
    "auth_plugin",
    "auth_plugin_deny_special_chars",
    "autosave_on_changes",
    "bind_address",
    "bind_interface",
    "bridge_alpn",
    "bridge_attempt_unsubscribe",
    "bridge_bind_address",
    "bridge_capath",
    "bridge_identity",
    "bridge_max_packet_size",
    "bridge_max_topic_alias",
    "bridge_outgoing_retain",
    "bridge_psk",
    "bridge_receive_maximum",
    "bridge_require_ocsp",
    "bridge_session_expiry_interval",
    "cafile",
    "capath",
    "certfile",
    "check_retain_source",
    "ciphers",
    "ciphers_tls1.3",
    "clientid",
    "clientid_prefixes",
    "connection_messages",
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
    "log_facility",
    "log_timestamp",
    "log_timestamp_format",
    "max_inflight_bytes",
    "max_qos",
    "max_queued_bytes",
    "max_topic_alias",
    "message_size_limit",
    "mount_point",
    "notifications_local_only",
    "password",
    "password_file",
    "per_listener_settings",
    "persistence_file",
    "plugin",
    "port",
    "protocol",
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
    "sys_interval",
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
    "websockets_headers_size",
    "websockets_log_level",
];

/// Families of keys with a free suffix (`plugin_opt_foo`).
const NOT_IMPLEMENTED_PREFIXES: &[&str] = &["auth_opt_", "global_plugin_opt_", "plugin_opt_"];

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

/// The warning for a mosquitto key edgemq ignores, or `None` if `key` is no
/// mosquitto key either.
pub(crate) fn not_implemented(key: &str) -> Option<String> {
    let known = NOT_IMPLEMENTED.binary_search(&key).is_ok()
        || NOT_IMPLEMENTED_PREFIXES.iter().any(|p| key.starts_with(p));
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
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_for_binary_search() {
        assert!(NOT_IMPLEMENTED.windows(2).all(|w| w[0] < w[1]));
        assert!(BRIDGE_KEYS.iter().all(|k| NOT_IMPLEMENTED.contains(k)));
    }

    #[test]
    fn known_and_unknown() {
        assert!(not_implemented("acl_file").is_some());
        assert!(not_implemented("plugin_opt_db").is_some());
        assert!(not_implemented("start_type").unwrap().contains("bridge"));
        assert!(not_implemented("bridge_capath").unwrap().contains("bridge"));
        assert!(not_implemented("port").unwrap().contains("listener PORT"));
        assert!(not_implemented("frobnicate").is_none());
        assert!(not_implemented("max_sessions").is_none());
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

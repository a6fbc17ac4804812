//! The config file through the library API (`Config::parse_str`,
//! `Config::from_file`): every key with its default, units, errors with file
//! and line, mosquitto warnings, listener rules, include_dir, ceilings.
//! Then through the binary (`edgemq check-config`, `edgemq -c`): mosquitto
//! keys whose absence would lower security stop it, with file and line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use edgemq::config::{limits, Config, ConfigError, DuplicateClientId, Warning};
use log::LevelFilter;

fn parse(text: &str) -> Result<(Config, Vec<Warning>), ConfigError> {
    Config::parse_str(text, "edgemq.conf")
}

fn ok(text: &str) -> Config {
    match parse(text) {
        Ok((c, _)) => c,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(_) => panic!("{text:?} was accepted"),
        Err(e) => e,
    }
}

const SECS: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn defaults_without_a_file_follow_the_readme_table() {
    let c = Config::default();
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].port, 1883);
    assert_eq!(c.listeners[0].address.as_deref(), Some("127.0.0.1"));
    assert!(!c.listeners_from_file);
    assert!(c.allow_anonymous);
    assert_eq!(c.max_connections, 1024);
    assert_eq!(c.max_sessions, 2048);
    assert_eq!(c.max_packet_size, 131_072);
    assert_eq!(c.max_inflight_messages, 20);
    assert_eq!(c.max_queued_messages, 10);
    assert_eq!(c.backpressure_timeout, SECS(5));
    assert_eq!(c.max_outbound_bytes, 262_144);
    assert!(!c.queue_qos0_messages);
    assert_eq!(c.persistent_client_expiration, Some(SECS(7200)));
    assert_eq!(c.duplicate_client_id, DuplicateClientId::Takeover);
    assert_eq!(c.max_client_id_length, 128);
    assert_eq!(c.max_topic_length, 1024);
    assert_eq!(c.max_topic_levels, 32);
    assert_eq!(c.max_subscriptions_per_client, 100);
    assert!(!c.strict_identifiers);
    assert_eq!(c.connect_timeout, SECS(10));
    assert!(c.persistence);
    assert_eq!(c.persistence_location, PathBuf::from("./edgemq-data/"));
    assert_eq!(c.autosave_interval, SECS(1));
    assert!(!c.persistence_sync);
    assert_eq!(c.persistence_cache_bytes, 2_097_152);
    assert_eq!(c.max_store_bytes, 67_108_864);
    assert_eq!(c.max_retained_messages, 10_000);
    assert_eq!(c.memory_limit, 0);
    assert_eq!(c.log_level, LevelFilter::Info);
    assert!(c.allow_zero_length_clientid);
    assert_eq!(c.auto_id_prefix, "auto-");
    assert_eq!(c.max_keepalive, 65_535);
    assert_eq!(c.pid_file, None);

    let (parsed, warnings) = parse("# nothing but a comment\n").unwrap();
    assert_eq!(parsed, c);
    assert!(warnings.is_empty());
}

#[test]
fn every_key_is_read() {
    let text = "
        max_connections 100
        listener 1884 10.0.0.1
        allow_anonymous true
        max_sessions 500
        max_packet_size 4096
        max_inflight_messages 5
        max_queued_messages 50
        backpressure_timeout 2s
        max_outbound_bytes 10000
        queue_qos0_messages true
        persistent_client_expiration 14d
        duplicate_client_id reject
        max_client_id_length 23
        max_topic_length 200
        max_topic_levels 8
        max_subscriptions_per_client 30
        strict_identifiers true
        connect_timeout 3
        persistence false
        persistence_location /etc/edgemq/store/
        autosave_interval 30
        persistence_sync true
        persistence_cache_bytes 1048576
        max_store_bytes 8388608
        max_retained_messages 99
        memory_limit 33554432
        log_level debug
        allow_zero_length_clientid false
        auto_id_prefix gw-
        max_keepalive 300
        pid_file /run/edgemq.pid
    ";
    let (c, warnings) = parse(text).unwrap();
    assert_eq!(c.listeners.len(), 1);
    assert_eq!((c.listeners[0].port, c.listeners[0].line), (1884, 3));
    assert_eq!(c.listeners[0].address.as_deref(), Some("10.0.0.1"));
    assert_eq!(c.listeners[0].max_connections, None);
    assert!(c.listeners_from_file);
    assert!(c.allow_anonymous);
    assert_eq!(c.max_connections, 100);
    assert_eq!(c.max_sessions, 500);
    assert_eq!(c.max_packet_size, 4096);
    assert_eq!(c.max_inflight_messages, 5);
    assert_eq!(c.max_queued_messages, 50);
    assert_eq!(c.backpressure_timeout, SECS(2));
    assert_eq!(c.max_outbound_bytes, 10_000);
    assert!(c.queue_qos0_messages);
    assert_eq!(c.persistent_client_expiration, Some(SECS(14 * 86_400)));
    assert_eq!(c.duplicate_client_id, DuplicateClientId::Reject);
    assert_eq!(c.max_client_id_length, 23);
    assert_eq!(c.max_topic_length, 200);
    assert_eq!(c.max_topic_levels, 8);
    assert_eq!(c.max_subscriptions_per_client, 30);
    assert!(c.strict_identifiers);
    assert_eq!(c.connect_timeout, SECS(3));
    assert!(!c.persistence);
    assert_eq!(c.persistence_location, PathBuf::from("/etc/edgemq/store/"));
    assert_eq!(c.autosave_interval, SECS(30));
    assert!(c.persistence_sync);
    assert_eq!(c.persistence_cache_bytes, 1_048_576);
    assert_eq!(c.max_store_bytes, 8_388_608);
    assert_eq!(c.max_retained_messages, 99);
    assert_eq!(c.memory_limit, 33_554_432);
    assert_eq!(c.log_level, LevelFilter::Debug);
    assert!(!c.allow_zero_length_clientid);
    assert_eq!(c.auto_id_prefix, "gw-");
    assert_eq!(c.max_keepalive, 300);
    assert_eq!(c.pid_file, Some(PathBuf::from("/run/edgemq.pid")));
    // persistence_sync without persistence is pointless, and said so.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].message.contains("persistence_sync"));
}

#[test]
fn duration_units() {
    let exp =
        |v: &str| ok(&format!("persistent_client_expiration {v}")).persistent_client_expiration;
    assert_eq!(exp("90s"), Some(SECS(90)));
    assert_eq!(exp("2h"), Some(SECS(7200)));
    assert_eq!(exp("3d"), Some(SECS(3 * 86_400)));
    assert_eq!(exp("1w"), Some(SECS(604_800)));
    assert_eq!(exp("1m"), Some(SECS(30 * 86_400)));
    assert_eq!(exp("2y"), Some(SECS(2 * 365 * 86_400)));
    assert_eq!(exp("never"), None);
    // A bare number or zero is refused, as mosquitto refuses them.
    let e = err("persistent_client_expiration 2");
    assert!(e.message.contains("unit"), "{e}");
    assert!(err("persistent_client_expiration 0h")
        .message
        .contains("longer than 0"));
    assert!(err("persistent_client_expiration 200y")
        .message
        .contains("ceiling"));

    assert_eq!(
        ok("backpressure_timeout 0").backpressure_timeout,
        Duration::ZERO
    );
    assert_eq!(
        ok("backpressure_timeout 1h").backpressure_timeout,
        SECS(3600)
    );
    assert_eq!(ok("connect_timeout 30s").connect_timeout, SECS(30));
    assert!(err("connect_timeout 0").message.contains("at least 1s"));
    // 'm' is a month, not a minute: the error says so.
    assert!(err("connect_timeout 5m").message.contains("month"));
    assert_eq!(ok("autosave_interval 1h").autosave_interval, SECS(3600));
    assert!(err("autosave_interval 0")
        .message
        .contains("persistence_sync"));
    assert!(err("autosave_interval 5x").message.contains("unit"));
}

#[test]
fn unknown_key_is_an_error_with_file_and_line() {
    let e = err("max_sessions 10\n\n# comment\nfoo bar\n");
    assert_eq!(e.to_string(), "edgemq.conf:4: unknown key 'foo'");
    assert_eq!((e.file.as_str(), e.line), ("edgemq.conf", 4));
}

#[test]
fn bad_values_name_file_line_key_and_expectation() {
    let e = err("listener 1883\nallow_anonymous yes\n");
    assert_eq!(
        e.to_string(),
        "edgemq.conf:2: allow_anonymous: expected true or false, got 'yes'"
    );
    let e = err("max_packet_size lots");
    assert_eq!(
        e.to_string(),
        "edgemq.conf:1: max_packet_size: expected a whole number, got 'lots'"
    );
    let e = err("duplicate_client_id kick");
    assert!(e.to_string().contains("expected takeover or reject"));
    assert!(err("max_sessions 1 2").message.contains("extra value '2'"));
    assert!(err("log_level loud").message.contains("log level"));
}

#[test]
fn mosquitto_tuning_keys_are_warnings_with_their_line() {
    let text = "listener 1883\nmax_queued_bytes 1000\nretry_interval 20\n\
                connection cloud\naddress cloud.example.com:8883\ntopic # both 1\n\
                start_type automatic\nwebsockets_log_level 255\nport 1884\nmessage_size_limit 1000\n";
    let (c, w) = parse(text).unwrap();
    let lines: Vec<usize> = w.iter().map(|w| w.line).collect();
    // The bridge block itself is implemented; its `start_type` is not.
    assert_eq!(lines, [2, 3, 7, 8, 9, 10]);
    assert_eq!(c.bridges.len(), 1);
    assert!(w[0].to_string().starts_with("edgemq.conf:2: "));
    assert!(w[0].message.contains("'max_queued_bytes'"));
    assert!(w[2].message.contains("bridge"));
    assert!(w[4].message.contains("listener PORT"));
    assert!(w[5].message.contains("max_packet_size"));
    // Ignored means ignored: `port` did not open a listener.
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].port, 1883);
}

#[test]
fn mosquitto_security_keys_are_errors() {
    let e = err("listener 1883\nallow_anonymous false\nmount_point site1/\n");
    assert_eq!(e.line, 3);
    assert!(
        e.to_string()
            .starts_with("edgemq.conf:3: mount_point: mount points are not available yet"),
        "{e}"
    );
    // Only the values edgemq already behaves as are accepted, silently.
    let (_, w) = parse("listener 1883\nprotocol mqtt\nper_listener_settings false\n").unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(err("listener 9001\nprotocol mqtts").line, 2);
    assert_eq!(err("listener 9001\nhttp_dir /var/www").line, 2);
}

#[test]
fn honoured_mosquitto_keys() {
    let c = ok("log_type error\nlog_type information\nlog_dest stderr");
    assert_eq!(c.log_level, LevelFilter::Info);
    assert_eq!(ok("log_type all").log_level, LevelFilter::Debug);
    assert_eq!(ok("log_type none").log_level, LevelFilter::Off);
    assert_eq!(ok("log_level none").log_level, LevelFilter::Off);
    assert_eq!(ok("max_inflight_messages 0").max_inflight_messages, 65_535);
    assert_eq!(
        ok("max_connections -1").max_connections,
        limits::MAX_CONNECTIONS_CEILING
    );
    assert_eq!(ok("max_keepalive 0").max_keepalive, 0);
    assert!(!ok("allow_zero_length_clientid false").allow_zero_length_clientid);
    assert_eq!(ok("auto_id_prefix x").auto_id_prefix, "x");
    let (_, w) = parse("log_dest syslog\nlog_timestamp true\nconnection_messages false").unwrap();
    assert!(w.is_empty(), "{w:?}");
    let (_, w) = parse("log_dest topic").unwrap();
    assert_eq!(w.len(), 1);
}

#[test]
fn listener_rules() {
    // No listener: the default one, anonymous allowed.
    let c = ok("max_sessions 4096");
    assert!(!c.listeners_from_file && c.allow_anonymous);
    assert_eq!(
        c.listeners[0].socket_addrs(),
        vec!["127.0.0.1:1883".parse().unwrap()]
    );

    // A listener in the file: anonymous off unless asked for (mosquitto 2.0).
    let c = ok("listener 1883");
    assert!(c.listeners_from_file && !c.allow_anonymous);
    assert_eq!(c.listeners[0].address, None);
    assert_eq!(c.listeners[0].socket_addrs().len(), 2);
    assert!(ok("allow_anonymous true\nlistener 1883").allow_anonymous);
    assert!(!ok("allow_anonymous false").allow_anonymous);

    let c = ok("listener 0 127.0.0.1\nlistener 0 127.0.0.1\nlistener 8883 [::1]\nlistener 1883 ::");
    assert_eq!(c.listeners.len(), 4);
    assert_eq!(
        c.listeners[2].socket_addrs(),
        vec!["[::1]:8883".parse().unwrap()]
    );
    assert_eq!(c.listeners[3].address.as_deref(), Some("::"));
    assert_eq!(
        ok("listener 1883 localhost").listeners[0]
            .address
            .as_deref(),
        Some("127.0.0.1")
    );

    let e = err("listener 1883\nlistener 1883 10.0.0.1");
    assert_eq!(e.line, 2);
    assert!(
        e.message.contains("clashes") && e.message.contains("edgemq.conf:1"),
        "{e}"
    );
    assert!(err("listener 65536").message.contains("ceiling of 65535"));
    assert!(err("listener").message.contains("PORT"));
    assert!(err("listener 1883 gateway.lan")
        .message
        .contains("address literal"));
    assert!(err("listener 1883 1.2.3.4 extra").message.contains("extra"));
    let many: String = (1..=33).map(|p| format!("listener {p}\n")).collect();
    assert!(err(&many).message.contains("more than 32 listeners"));
}

#[test]
fn unix_socket_listeners() {
    let c = ok("listener 0 /run/edgemq/edgemq.sock\n\
                unix_socket_mode 0600\n\
                unix_socket_group dialout\n\
                listener 0 /run/edgemq/other.sock\n\
                listener 1883 127.0.0.1");
    assert_eq!(c.listeners.len(), 3);
    let first = c.listeners[0].unix.as_ref().unwrap();
    assert_eq!(first.path, PathBuf::from("/run/edgemq/edgemq.sock"));
    assert_eq!(
        (first.mode, first.group.as_deref()),
        (0o600, Some("dialout"))
    );
    assert_eq!(
        (c.listeners[0].port, c.listeners[0].address.as_deref()),
        (0, None)
    );
    assert!(
        c.listeners[0].socket_addrs().is_empty(),
        "a unix socket is no TCP address"
    );
    assert_eq!(c.listeners[0].to_string(), "unix:/run/edgemq/edgemq.sock");
    // The defaults: 0660, the group of the user edgemq runs as.
    let second = c.listeners[1].unix.as_ref().unwrap();
    assert_eq!((second.mode, second.group.as_deref()), (0o660, None));
    assert!(c.listeners[2].unix.is_none());

    // Errors name the file and line, and what to write instead.
    let e = err("listener 1883 /run/edgemq.sock");
    assert_eq!((e.file.as_str(), e.line), ("edgemq.conf", 1));
    assert!(e.message.contains("port 0"), "{e}");
    assert!(err("listener 0 run/edgemq.sock")
        .message
        .contains("absolute"));
    let long = format!("listener 0 /{}", "s".repeat(107));
    assert!(err(&long).message.contains("107"), "{}", err(&long));
    let e = err("listener 0 /run/a.sock\nlistener 1883\nlistener 0 /run/a.sock");
    assert_eq!(e.line, 3);
    assert!(
        e.message.contains("clashes") && e.message.contains("edgemq.conf:1"),
        "{e}"
    );
    assert!(
        ok("listener 0 /run/a.sock\nlistener 0 /run/b.sock")
            .listeners
            .len()
            == 2
    );

    let e = err("unix_socket_mode 0600\nlistener 0 /run/a.sock");
    assert_eq!(e.line, 1);
    assert!(e.message.contains("no listener above"), "{e}");
    let e = err("listener 0 /run/a.sock\nlistener 1883\nunix_socket_group dialout");
    assert_eq!(e.line, 3);
    assert!(
        e.message.contains("is TCP") && e.message.contains("edgemq.conf:2"),
        "{e}"
    );
    for bad in ["0680", "1777", "rw", "0o660", ""] {
        let e = err(&format!("listener 0 /run/a.sock\nunix_socket_mode {bad}"));
        assert_eq!(e.line, 2, "{bad}: {e}");
        assert!(e.message.starts_with("unix_socket_mode:"), "{e}");
    }
    let e = err("listener 0 /run/a.sock\nunix_socket_group a:b");
    assert_eq!(e.line, 2);
    assert!(err("listener 0 /run/a.sock\nunix_socket_group")
        .message
        .contains("missing value"));
}

#[test]
fn max_connections_is_global_before_the_first_listener_and_per_listener_after() {
    let c = ok("max_connections 300\n\
                listener 0 127.0.0.1\n\
                max_connections 10\n\
                listener 0 ::1\n\
                listener 0 /run/edgemq/edgemq.sock\n\
                max_connections -1\n\
                listener 1883\n\
                max_connections 20");
    assert_eq!(c.max_connections, 300);
    let caps: Vec<Option<usize>> = c.listeners.iter().map(|l| l.max_connections).collect();
    assert_eq!(caps, [Some(10), None, None, Some(20)]);
    // Whatever per_listener_settings says (mosquitto's rule).
    let c = ok("per_listener_settings false\nlistener 1883\nmax_connections 5");
    assert_eq!(
        (c.max_connections, c.listeners[0].max_connections),
        (1024, Some(5))
    );

    // A listener's cap above the global one is never reached: a warning
    // at the listener's line.
    let (_, w) = parse("max_connections 100\nlistener 1883\nmax_connections 200").unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].line, 2);
    assert!(
        w[0].message
            .contains("above the global max_connections 100"),
        "{w:?}"
    );
    // The max_sessions check looks at the global value only.
    let (_, w) =
        parse("max_sessions 50\nmax_connections 40\nlistener 1883\nmax_connections 35").unwrap();
    assert!(w.is_empty(), "{w:?}");

    let e = err("listener 1883\nmax_connections 0");
    assert_eq!(e.line, 2);
    assert!(e.message.starts_with("max_connections:"), "{e}");
    let e = err("listener 1883\nmax_connections 100001");
    assert!(e.message.contains("ceiling of 100000"), "{e}");
}

#[test]
fn ceilings_are_errors_that_name_them() {
    let cases: &[(&str, u64)] = &[
        ("max_connections", limits::MAX_CONNECTIONS_CEILING as u64),
        ("max_sessions", limits::MAX_SESSIONS_CEILING as u64),
        ("max_packet_size", limits::MAX_PACKET_SIZE_CEILING as u64),
        (
            "max_inflight_messages",
            u64::from(limits::MAX_INFLIGHT_CEILING),
        ),
        ("max_queued_messages", limits::MAX_QUEUED_CEILING as u64),
        (
            "max_outbound_bytes",
            limits::MAX_OUTBOUND_BYTES_CEILING as u64,
        ),
        (
            "max_client_id_length",
            limits::MAX_STRING_LENGTH_CEILING as u64,
        ),
        ("max_topic_length", limits::MAX_STRING_LENGTH_CEILING as u64),
        ("max_topic_levels", limits::MAX_TOPIC_LEVELS_CEILING as u64),
        (
            "max_subscriptions_per_client",
            limits::MAX_SUBSCRIPTIONS_CEILING as u64,
        ),
        ("persistence_cache_bytes", limits::PERSISTENCE_CACHE_CEILING),
        ("max_store_bytes", limits::MAX_STORE_BYTES_CEILING),
        ("max_retained_messages", limits::MAX_RETAINED_CEILING as u64),
        ("memory_limit", limits::MEMORY_LIMIT_CEILING),
        ("max_keepalive", u64::from(u16::MAX)),
    ];
    for &(key, ceiling) in cases {
        parse(&format!("max_sessions 1000000\n{key} {ceiling}"))
            .unwrap_or_else(|e| panic!("{key} at its ceiling: {e}"));
        let e = err(&format!("\n{key} {}", ceiling + 1));
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains(&format!("ceiling of {ceiling}")), "{e}");
    }
    let durations: &[(&str, Duration)] = &[
        ("backpressure_timeout", limits::BACKPRESSURE_TIMEOUT_CEILING),
        ("connect_timeout", limits::CONNECT_TIMEOUT_CEILING),
        ("autosave_interval", limits::AUTOSAVE_INTERVAL_CEILING),
        (
            "persistent_client_expiration",
            limits::SESSION_EXPIRY_CEILING,
        ),
    ];
    for &(key, ceiling) in durations {
        let secs = ceiling.as_secs();
        assert!(parse(&format!("{key} {secs}s")).is_ok(), "{key}");
        let e = err(&format!("{key} {}s", secs + 1));
        assert!(e.message.contains(&format!("ceiling of {secs}s")), "{e}");
    }
    let long = "p".repeat(limits::AUTO_ID_PREFIX_CEILING + 1);
    assert!(err(&format!("auto_id_prefix {long}"))
        .message
        .contains("ceiling"));
}

#[test]
fn floors_and_zeroes() {
    assert!(err("max_connections 0").message.contains("from 1"));
    assert!(err("max_sessions 0").message.contains("from 1"));
    assert!(err("max_packet_size 1").message.contains("from 2"));
    let e = err("max_queued_messages 0");
    assert!(
        e.message.contains("unlimited") && e.message.contains("100000"),
        "{e}"
    );
    assert!(err("max_store_bytes 1000").message.contains("from 1048576"));
    assert!(err("persistence_cache_bytes 1")
        .message
        .contains("from 65536"));
    assert!(err("max_retained_messages 0").message.contains("from 1"));
    assert!(err("max_connections -2").message.contains("whole number"));
}

#[test]
fn cross_key_checks() {
    // Every client needs a session.
    let (_, w) = parse("listener 1883\nmax_sessions 100").unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].line, 2);
    assert!(w[0].message.contains("at most 100"));
    let e = err("strict_identifiers true\nauto_id_prefix auto/");
    assert_eq!(e.line, 2);
}

#[test]
fn include_dir_reads_conf_files_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let conf_d = dir.path().join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    std::fs::write(
        conf_d.join("b.conf"),
        "max_sessions 300\nmax_queued_bytes 10\n",
    )
    .unwrap();
    std::fs::write(conf_d.join("a.conf"), "max_sessions 200\nlistener 1884\n").unwrap();
    std::fs::write(conf_d.join("c.conf.disabled"), "bogus key\n").unwrap();
    let main = dir.path().join("edgemq.conf");
    std::fs::write(
        &main,
        format!(
            "max_connections 10\ninclude_dir {}\nmax_topic_levels 9\n",
            conf_d.display()
        ),
    )
    .unwrap();

    let (c, w) = Config::from_file(&main).unwrap();
    assert_eq!(c.max_sessions, 300, "b.conf is read after a.conf");
    assert_eq!(c.max_topic_levels, 9);
    assert!(c.listeners_from_file && !c.allow_anonymous);
    assert_eq!(
        c.listeners[0].file,
        conf_d.join("a.conf").display().to_string()
    );
    assert_eq!(c.listeners[0].line, 2);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].file, conf_d.join("b.conf").display().to_string());
    assert_eq!(w[0].line, 2);

    // Errors point into the included file.
    std::fs::write(conf_d.join("d.conf"), "\nfoo 1\n").unwrap();
    let e = Config::from_file(&main).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:2: unknown key 'foo'", conf_d.join("d.conf").display())
    );

    // So do refused mosquitto keys.
    std::fs::write(conf_d.join("d.conf"), "\n\npsk_file /etc/psk\n").unwrap();
    let e = Config::from_file(&main).unwrap_err();
    assert_eq!(e.file, conf_d.join("d.conf").display().to_string());
    assert_eq!(e.line, 3);
    assert!(e.message.contains("not available yet"), "{e}");

    // A missing directory is an error on the include_dir line.
    let e = err("\ninclude_dir /nonexistent/edgemq.d");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("cannot read directory"));
}

#[test]
fn include_loops_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("main.conf");
    // The directory holds the main file itself.
    std::fs::write(&main, format!("include_dir {}\n", dir.path().display())).unwrap();
    let e = Config::from_file(&main).unwrap_err();
    assert!(e.message.contains("include loop"), "{e}");

    // Nesting deeper than the bound.
    let deep = tempfile::tempdir().unwrap();
    let mut parent = deep.path().to_path_buf();
    for level in 0..=limits::MAX_INCLUDE_DEPTH {
        let child = parent.join(format!("d{level}"));
        std::fs::create_dir(&child).unwrap();
        std::fs::write(
            parent.join("x.conf"),
            format!("include_dir {}\n", child.display()),
        )
        .unwrap();
        parent = child;
    }
    let e = Config::from_file(&deep.path().join("x.conf")).unwrap_err();
    assert!(e.message.contains("nested"), "{e}");
}

#[test]
fn from_file_errors() {
    let e = Config::from_file(std::path::Path::new("/nonexistent/edgemq.conf")).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(e
        .to_string()
        .starts_with("/nonexistent/edgemq.conf: cannot read"));
}

/// The `edgemq` command as the harness runs it (`EDGEMQ_BIN`, `EDGEMQ_RUNNER`).
fn edgemq(args: &[&str]) -> Output {
    let bin =
        std::env::var("EDGEMQ_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_edgemq").to_owned());
    let prefix = common::runner();
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    cmd.args(args);
    common::run_with_timeout(cmd, common::scaled(SECS(10)))
}

fn write_conf(dir: &Path, body: &str) -> String {
    let path = dir.join("mosquitto.conf");
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `edgemq check-config` on `body` must fail at `line` of the file, naming
/// `key`, saying the feature is not available yet and containing `wording`.
fn check_config_refuses(body: &str, line: usize, key: &str, wording: &str) {
    let stderr = check_config_error(body, line, key, wording);
    assert!(stderr.contains("not available yet in edgemq"), "{stderr}");
}

/// `edgemq check-config` on `body` must fail with one line naming `key` at
/// `line` and saying `wording`; returns that line.
fn check_config_error(body: &str, line: usize, key: &str, wording: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), body);
    let out = edgemq(&["check-config", &conf]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{body:?} accepted: {stderr}");
    assert!(out.stdout.is_empty(), "{body:?}: stdout not empty");
    let expected = format!("error: {conf}:{line}: {key}: ");
    assert!(
        stderr.starts_with(&expected),
        "{expected:?} not in {stderr:?}"
    );
    assert!(stderr.contains(wording), "{wording:?} not in {stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    stderr.into_owned()
}

/// `edgemq check-config` on `body` must pass; returns its warnings.
fn check_config_accepts(body: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), body);
    let out = edgemq(&["check-config", &conf]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{body:?} refused: {stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{conf}: OK\n")
    );
    (conf, stderr)
}

/// A build without TLS refuses the TLS keys with the way out.
#[cfg(not(feature = "tls"))]
#[test]
fn check_config_refuses_tls_listener_keys() {
    check_config_fails(
        "listener 8883\ncafile /etc/mosquitto/ca.pem\ncertfile /etc/mosquitto/server.pem\n\
         keyfile /etc/mosquitto/server.key\n",
        2,
        "cafile",
        "this build of edgemq has no TLS",
    );
}

#[test]
fn check_config_refuses_tls_keys_edgemq_does_not_support() {
    check_config_refuses(
        "listener 8883\npsk_hint edge\n",
        2,
        "psk_hint",
        "edgemq supports certificates",
    );
    check_config_refuses(
        "listener 8883\ntls_engine pkcs11\n",
        2,
        "tls_engine",
        "PEM key files",
    );
}

/// `edgemq check-config` on `body` must fail at `line`, naming `key`, with
/// `wording` in its one-line message.
fn check_config_fails(body: &str, line: usize, key: &str, wording: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), body);
    let out = edgemq(&["check-config", &conf]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{body:?} accepted: {stderr}");
    let expected = format!("error: {conf}:{line}: {key}: ");
    assert!(
        stderr.starts_with(&expected),
        "{expected:?} not in {stderr:?}"
    );
    assert!(stderr.contains(wording), "{wording:?} not in {stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    stderr
}

/// A CA, a server certificate and its key, made by openssl in `dir`.
#[cfg(feature = "tls")]
fn make_server_cert(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "server.key",
    ]);
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "server.key",
        "-subj",
        "/CN=localhost",
        "-days",
        "2",
        "-out",
        "server.pem",
    ]);
}

#[cfg(feature = "tls")]
#[test]
fn tls_listener_keys_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    make_server_cert(dir.path());
    let d = dir.path().display();
    let good = format!("listener 8883\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n");
    check_config_accepts(&format!("{good}allow_anonymous true\n"));
    // certfile without keyfile: the certfile line is named.
    check_config_fails(
        &format!("listener 8883\nallow_anonymous true\ncertfile {d}/server.pem\n"),
        3,
        "certfile",
        "needs keyfile too",
    );
    // A missing certificate: a warning naming its line (check-config may
    // run on a build machine without the device's files); the start fails
    // (below).
    let (conf, warning) = check_config_accepts(&format!(
        "listener 8883\nallow_anonymous true\ncertfile {d}/nope.pem\nkeyfile {d}/server.key\n"
    ));
    assert!(
        warning.starts_with(&format!(
            "warning: {conf}:3: certfile: cannot read '{d}/nope.pem'"
        )) && warning.contains("would refuse to start"),
        "{warning}"
    );
    // A key file that holds no key.
    check_config_fails(
        &format!("listener 8883\nallow_anonymous true\ncertfile {d}/server.pem\nkeyfile {d}/server.pem\n"),
        4,
        "keyfile",
        "no usable PEM private key",
    );
    // A certificate file that holds no certificate.
    check_config_fails(
        &format!("listener 8883\nallow_anonymous true\ncertfile {d}/server.key\nkeyfile {d}/server.key\n"),
        3,
        "certfile",
        "no PEM certificate",
    );
    check_config_fails(
        &format!("{good}allow_anonymous true\nrequire_certificate true\n"),
        1,
        "listener",
        "needs cafile or capath",
    );
    check_config_fails(
        &format!("{good}tls_version tlsv1.1\n"),
        4,
        "tls_version",
        "use tlsv1.2 or tlsv1.3",
    );
    check_config_fails(
        &format!("{good}ciphers HIGH:!aNULL\n"),
        4,
        "ciphers",
        "'HIGH' is not a TLS 1.2 cipher suite",
    );
    check_config_fails(
        "certfile /x.pem\n",
        1,
        "certfile",
        "put this line after the `listener",
    );
    check_config_accepts(&format!(
        "{good}allow_anonymous true\nciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256\n\
         ciphers_tls1.3 TLS_AES_128_GCM_SHA256\ntls_version tlsv1.3\n"
    ));
    // The start fails the same way, before listening.
    let conf = write_conf(
        dir.path(),
        &format!("listener 0 127.0.0.1\nallow_anonymous true\ncertfile {d}/gone.pem\nkeyfile {d}/server.key\n"),
    );
    let out = edgemq(&["-c", &conf]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{conf}:3: certfile: cannot read")),
        "{stderr}"
    );
    assert!(!stderr.contains("listening on"), "{stderr}");
}

#[cfg(feature = "tls")]
#[test]
fn tls_keys_belong_to_the_listener_above_them() {
    let c = ok(
        "listener 1883 127.0.0.1\nlistener 8883\ncertfile /s.pem\nkeyfile /s.key\n\
                cafile /ca.pem\nrequire_certificate true\nuse_identity_as_username true\n",
    );
    assert!(c.listeners[0].tls.is_none());
    let tls = c.listeners[1].tls.as_deref().unwrap();
    assert!(tls.require_certificate);
    assert_eq!(tls.keyfile.as_ref().unwrap().line, 4);
    assert_eq!(tls.username, edgemq::config::tls::CertUsername::CommonName);
    let e = err("listener 8883\ncafile /ca.pem\n");
    assert_eq!(e.line, 1, "{e}");
    assert!(
        e.message.contains("certfile and keyfile are missing"),
        "{e}"
    );
}

#[test]
fn check_config_takes_websocket_listeners_but_refuses_http_dir() {
    let websockets = "listener 1883\nlistener 9001\nprotocol websockets\n\
                      websockets_path /ws\nallow_anonymous true\n";
    if cfg!(feature = "websocket") {
        let (_, warnings) = check_config_accepts(websockets);
        assert_eq!(warnings, "");
    } else {
        check_config_error(websockets, 3, "protocol", "not in this build");
    }
    check_config_error(
        "listener 9001\nhttp_dir /var/www\n",
        2,
        "http_dir",
        "serves no files",
    );
    let (_, warnings) =
        check_config_accepts("listener 1883\nprotocol mqtt\nallow_anonymous true\n");
    assert_eq!(warnings, "", "protocol mqtt is what edgemq does");
}

#[test]
fn check_config_reads_password_files() {
    // A file this machine lacks is a warning: the device may have it.
    let (_, warnings) = check_config_accepts(
        "listener 1883\nallow_anonymous false\npassword_file /nonexistent/edgemq/passwd\n",
    );
    assert!(
        warnings.contains(":3: password_file: cannot read /nonexistent/edgemq/passwd")
            && warnings.contains("would refuse to start"),
        "{warnings}"
    );
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("passwd");
    std::fs::write(&pw, "alice:secret\n").unwrap();
    check_config_error(
        &format!(
            "listener 1883\nallow_anonymous false\npassword_file {}\n",
            pw.display()
        ),
        3,
        "password_file",
        &format!("{}:1: user 'alice': not a hashed password", pw.display()),
    );
}

/// `check-config` reads the `acl_file` too (docs/security.md, "Access
/// control"): a line it cannot parse is an error naming the ACL file and
/// line; a file it cannot open is only a warning (it may be checked on a
/// build machine).
#[test]
fn check_config_reads_the_acl_file() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("bad.acl");
    std::fs::write(&acl, "topic read a/#\n\ntopic sometimes b\n").unwrap();
    let conf = write_conf(
        dir.path(),
        &format!("listener 1883\nacl_file {}\n", acl.display()),
    );
    let out = edgemq(&["check-config", &conf]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected = format!(
        "error: acl_file: {}:3: topic: expected read, write, readwrite or deny",
        acl.display()
    );
    assert!(stderr.starts_with(&expected), "{stderr}");

    std::fs::write(&acl, "topic read a/#\nuser x\npattern write d/%c/#\n").unwrap();
    let out = edgemq(&["check-config", &conf]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");

    let (_, warnings) = check_config_accepts("listener 1883\nacl_file /nonexistent/edgemq.acl\n");
    assert!(
        warnings.contains("warning: acl_file: /nonexistent/edgemq.acl: cannot read"),
        "{warnings}"
    );
}

#[test]
fn check_config_refuses_plugins_and_their_options() {
    check_config_refuses(
        "listener 1883\nplugin /usr/lib/mosquitto_dynamic_security.so\n\
         plugin_opt_config_file /etc/mosquitto/dynamic-security.json\n",
        2,
        "plugin",
        "plugins",
    );
    check_config_refuses(
        "# the plugin line went into another file\nplugin_opt_config_file /etc/ds.json\n",
        2,
        "plugin_opt_config_file",
        "plugins",
    );
}

#[test]
fn check_config_refuses_bind_interface() {
    check_config_refuses(
        "listener 1883\nbind_interface br-lan\nallow_anonymous true\n",
        2,
        "bind_interface",
        "WAN included",
    );
}

/// `per_listener_settings true`: each listener's security keys are its
/// own, check-config reads every listener's files, and a key placed where
/// it would belong to no listener is an error.
#[test]
fn check_config_reads_each_listeners_security_files() {
    let files = tempfile::tempdir().unwrap();
    let good = files.path().join("good.acl");
    std::fs::write(&good, "topic read public/#\n").unwrap();
    let bad = files.path().join("bad.acl");
    std::fs::write(&bad, "topic sometimes public/#\n").unwrap();
    let body = |acl: &Path| {
        format!(
            "per_listener_settings true\nlistener 1883 127.0.0.1\nallow_anonymous true\n\
             listener 8883\nallow_anonymous true\nacl_file {}\n",
            acl.display()
        )
    };
    let (_, warnings) = check_config_accepts(&body(&good));
    assert_eq!(warnings, "");
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path(), &body(&bad));
    let out = edgemq(&["check-config", &conf]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: acl_file:"), "{stderr}");
    check_config_error(
        "per_listener_settings true\npassword_file /etc/passwd\nlistener 1883\n",
        2,
        "password_file",
        "belongs to a listener",
    );
    check_config_error(
        "listener 1883\nper_listener_settings true\n",
        2,
        "per_listener_settings",
        "must come before the first listener line",
    );
    let (_, warnings) = check_config_accepts("per_listener_settings false\nlistener 1883\n");
    assert_eq!(warnings, "");
}

/// A bridge's TLS files are read by check-config as a connect would;
/// what is wrong with them is a warning (the bridge reads them again at
/// each connect), naming the line.
#[cfg(feature = "bridge-tls")]
#[test]
fn check_config_reads_bridge_tls_files_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "no certificate\n").unwrap();
    let body = format!(
        "listener 1883\nconnection cloud\naddress cloud.example.com:8883\n\
         bridge_capath {}\ntopic sensors/# out 1\n\
         connection other\naddress cloud.example.com:8883\n\
         bridge_cafile {}/missing.pem\ntopic sensors/# out 1\n",
        dir.path().display(),
        dir.path().display()
    );
    let (conf, warnings) = check_config_accepts(&body);
    assert!(
        warnings.contains(&format!(
            "warning: {conf}:4: bridge_capath: no PEM certificate"
        )),
        "{warnings}"
    );
    assert!(
        warnings.contains(&format!("warning: {conf}:8: bridge_cafile: cannot read")),
        "{warnings}"
    );
    assert_eq!(warnings.lines().count(), 2, "{warnings}");
}

#[test]
fn check_config_refuses_bridge_security_keys_in_a_connection_block() {
    check_config_refuses(
        "connection cloud\naddress cloud.example.com:8883\ntopic # out 1\n\
         bridge_identity edge-1\nbridge_psk 0123456789abcdef\n",
        4,
        "bridge_identity",
        "TLS-PSK bridges",
    );
}

#[test]
fn check_config_only_warns_about_tuning_keys() {
    let (conf, warnings) =
        check_config_accepts("listener 1883\nallow_anonymous true\nmax_queued_bytes 10\n");
    assert!(
        warnings.starts_with(&format!(
            "warning: {conf}:3: mosquitto key 'max_queued_bytes'"
        )),
        "{warnings:?}"
    );
    assert_eq!(warnings.lines().count(), 1, "{warnings:?}");
}

#[test]
fn a_refused_key_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(
        dir.path(),
        "listener 0 127.0.0.1\nallow_anonymous true\npsk_file /etc/mosquitto/psk\n",
    );
    let out = edgemq(&["-c", &conf]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with a TLS key: {stderr}");
    assert_ne!(
        out.status.code(),
        None,
        "killed at the timeout: it was serving"
    );
    assert!(
        stderr.contains(&format!("{conf}:3: psk_file: ")),
        "{stderr}"
    );
    assert!(stderr.contains("not available yet"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
}

#[test]
fn the_shipped_config_passes_check_config_without_warnings() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/rootfs/etc/edgemq/edgemq.conf");
    let out = edgemq(&["check-config", conf]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "", "warnings about the shipped config");
}

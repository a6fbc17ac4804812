//! The ceilings of every numeric config value, each with the reason for it.
//!
//! A value above its ceiling is a config error naming the ceiling, never a
//! silent clamp: an operator who wrote a number should get that number or be
//! told why not. The rest of the broker may size tables from these.

use std::time::Duration;

/// 1 byte of fixed header + 4 bytes of remaining length + the largest
/// remaining length, 268,435,455 [MQTT-2.2.3].
pub const MAX_PACKET_SIZE_CEILING: usize = 268_435_460;
/// The smallest MQTT packets (PINGREQ, PINGRESP, 3.1.1 DISCONNECT) are 2 bytes.
pub const MAX_PACKET_SIZE_FLOOR: usize = 2;

/// Connection slots are preallocated from `max_connections`; far beyond what
/// a router or gateway serves, and below common fd limits. `-1` (mosquitto's
/// "unlimited") maps here.
pub const MAX_CONNECTIONS_CEILING: usize = 100_000;

/// The session table is fixed-capacity from startup; online and offline
/// sessions together. Ten times the connection ceiling leaves room for many
/// sleeping persistent devices.
pub const MAX_SESSIONS_CEILING: usize = 1_000_000;

/// Receive Maximum is a two-byte integer [MQTT-3.3.4-9]; mosquitto's
/// `0` ("unlimited") maps here.
pub const MAX_INFLIGHT_CEILING: u16 = u16::MAX;

/// Topic aliases one MQTT 5 client may set towards us (`max_topic_alias`):
/// each holds a topic of up to `max_topic_length` bytes for the life of the
/// connection, so 1,024 × 1 KiB is already 1 MiB for one client. The wire
/// allows 65,535 (MQTT 5 §3.2.2.3.8).
pub const MAX_TOPIC_ALIAS_CEILING: u16 = 1024;

/// Per-client queue behind the inflight window. Queued messages sit in RAM
/// and on flash for every persistent session; 100k × max_sessions is already
/// more than any box holds, so mosquitto's `0` ("unlimited") is refused.
pub const MAX_QUEUED_CEILING: usize = 100_000;

/// Bytes of QoS 0 messages held per connection: 64 MiB is more RAM than many
/// target devices have in total.
pub const MAX_OUTBOUND_BYTES_CEILING: usize = 64 * 1024 * 1024;

/// Client ids and topics are MQTT UTF-8 strings with a two-byte length
/// prefix [MQTT-1.5.3].
pub const MAX_STRING_LENGTH_CEILING: usize = u16::MAX as usize;

/// Topic matching walks the trie one level at a time; bounding the depth
/// bounds the work (and any recursion) per PUBLISH. No real deployment nests
/// topics this deep.
pub const MAX_TOPIC_LEVELS_CEILING: usize = 256;

/// Each subscription costs a trie node and a session entry; a client asking
/// for more than this is a bug or an attack.
pub const MAX_SUBSCRIPTIONS_CEILING: usize = 65_536;

/// sled's page cache: its own default is 1 GiB, already far past any device
/// we target.
pub const PERSISTENCE_CACHE_CEILING: u64 = 1024 * 1024 * 1024;
/// Below this sled thrashes on every operation.
pub const PERSISTENCE_CACHE_FLOOR: u64 = 64 * 1024;

/// Flash store cap: 1 TiB is beyond any edge device's storage.
pub const MAX_STORE_BYTES_CEILING: u64 = 1 << 40;
/// sled's own metadata and segment overhead need about this much.
pub const MAX_STORE_BYTES_FLOOR: u64 = 1024 * 1024;

/// Retained messages are indexed in RAM; ten million is past any device.
pub const MAX_RETAINED_CEILING: usize = 10_000_000;

/// `memory_limit` in bytes: 1 TiB, past any edge device.
pub const MEMORY_LIMIT_CEILING: u64 = 1 << 40;

/// Each listener is a socket and a task; more than this is a config mistake.
pub const MAX_LISTENERS: usize = 32;

/// Generated ids are this prefix plus a random suffix; the prefix must leave
/// room under any sane `max_client_id_length`.
pub const AUTO_ID_PREFIX_CEILING: usize = 64;

/// `include_dir` nesting; mosquitto allows one level (only from the main
/// file), a little more is harmless, unbounded is a loop.
pub const MAX_INCLUDE_DEPTH: usize = 4;
/// Config files read in total, includes counted.
pub const MAX_CONFIG_FILES: usize = 256;
/// A config file larger than this is not a config file.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;

/// MQTT 5 Session Expiry Interval is four bytes of seconds and 0xFFFFFFFF
/// means "never" [MQTT-3.1.2-11]; anything finite must fit below it.
pub const SESSION_EXPIRY_CEILING: Duration = Duration::from_secs(u32::MAX as u64 - 1);

/// A socket that has not sent CONNECT holds a slot; longer than 10 minutes
/// only helps slow-loris peers.
pub const CONNECT_TIMEOUT_CEILING: Duration = Duration::from_secs(600);

/// Publishers stay paused at most this long for one slow subscriber.
pub const BACKPRESSURE_TIMEOUT_CEILING: Duration = Duration::from_secs(3600);

/// `auth_fail_limit`: failed logins from one address before it is
/// blocked; past a thousand the throttle no longer throttles.
pub const AUTH_FAIL_LIMIT_CEILING: u64 = 1000;

/// `auth_fail_window` and `auth_fail_delay`: a day. A longer block would
/// lock a NATed site out after a few mistyped passwords.
pub const AUTH_FAIL_DURATION_CEILING: Duration = Duration::from_secs(86_400);

/// The batched-mode flush period: changes since the last flush are lost on
/// power failure, so more than an hour is never what anyone wants.
pub const AUTOSAVE_INTERVAL_CEILING: Duration = Duration::from_secs(3600);

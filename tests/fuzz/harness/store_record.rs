//! The store's record readers, as `recover` meets a corrupt or foreign
//! database: any key and value under any tree, read with the conversion
//! to what the broker restores (topics, QoS, deadlines, wills).

use edgemq::store::{read_entry, schema};

/// The trees in the order the selector byte picks them.
const TREES: [&str; 7] = [
    schema::TREE_META,
    schema::TREE_SESSIONS,
    schema::TREE_MESSAGES,
    schema::TREE_DELIVERIES,
    schema::TREE_INBOUND,
    schema::TREE_RETAINED,
    schema::TREE_BRIDGE,
];

/// 2026-12-01 in Unix milliseconds: a plausible wall clock.
const NOW_WALL_MS: u64 = 1_796_083_200_000;

/// Input: the tree (byte 0), a clock choice (byte 1), the key's length
/// (byte 2), the key, then the value.
pub fn store_record(data: &[u8]) {
    let [tree, clock, key_len, rest @ ..] = data else {
        return;
    };
    let tree = TREES[usize::from(*tree) % TREES.len()];
    let (key, value) = rest.split_at(usize::from(*key_len).min(rest.len()));
    // A plausible clock, the epoch (stale: before the build) and the end
    // of time: deadlines and downtime at their extremes.
    let (now_wall_ms, last_flush) = match clock % 4 {
        0 => (NOW_WALL_MS, NOW_WALL_MS / 1000 - 3600),
        1 => (0, NOW_WALL_MS / 1000),
        2 => (u64::MAX, 0),
        _ => (NOW_WALL_MS, u64::MAX),
    };
    let _ = read_entry(tree, key, value, now_wall_ms, last_flush);
    // The raw readers alone, as the schema tests use them.
    let _ = schema::decode_session(value);
    let _ = schema::decode_message(value);
    let _ = schema::decode_retained(value);
    let _ = schema::decode_bridge_message(value);
    let _ = schema::split_bridge_key(key);
    let _ = schema::split_key(key);
}

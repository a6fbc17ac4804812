//! Golden fixtures of every store record version
//! (docs/design.md ## Durability: a newer broker reads an older store).
//! Each file under `tests/fixtures/store/vN/` holds the exact bytes this
//! edgemq wrote for a sample record of version N; the tests check that
//! today's code still reads them into the same values and still writes them
//! byte for byte. A change that breaks one is a format change: add a new
//! version instead. `EDGEMQ_WRITE_FIXTURES=1` writes the files of the
//! current version (only when adding a version).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use edgemq::store::schema::{
    self, DeliveryV1, MessageV1, RetainedV1, SessionV1, SubscriptionV1, RECORD_V1,
};

fn fixture(version: u8, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/store")
        .join(format!("v{version}"))
        .join(format!("{name}.bin"))
}

/// Compares (or, when asked, writes) one fixture and decodes it back.
fn check<T>(name: &str, record: &T)
where
    T: serde::Serialize + for<'a> serde::Deserialize<'a> + PartialEq + std::fmt::Debug,
{
    let path = fixture(RECORD_V1, name);
    let bytes = schema::encode(record);
    if std::env::var_os("EDGEMQ_WRITE_FIXTURES").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
    }
    let golden = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(golden.first(), Some(&RECORD_V1), "{name}: version byte");
    assert_eq!(
        bytes, golden,
        "{name}: today's encoding differs from the v1 fixture"
    );
    let decoded: T = schema::decode(&golden).unwrap();
    assert_eq!(
        &decoded, record,
        "{name}: the v1 fixture decodes to the sample"
    );
}

#[test]
fn session_v1() {
    check(
        "session",
        &SessionV1 {
            store_id: 7,
            protocol: 4,
            subscriptions: vec![
                SubscriptionV1 {
                    filter: "sensors/+/temp".into(),
                    qos: 1,
                    no_local: false,
                    retain_as_published: false,
                    retain_handling: 0,
                },
                SubscriptionV1 {
                    filter: "cmd/#".into(),
                    qos: 2,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: 2,
                },
            ],
            offline_since: Some(1_795_000_000),
        },
    );
}

#[test]
fn message_v1() {
    check(
        "message",
        &MessageV1 {
            qos: 1,
            retain: false,
            topic: "sensors/kitchen/temp".into(),
            payload: b"21.5".to_vec(),
        },
    );
}

#[test]
fn delivery_v1() {
    check(
        "delivery",
        &DeliveryV1 {
            packet_id: 513,
            awaiting: 7,
        },
    );
}

#[test]
fn retained_v1() {
    check(
        "retained",
        &RetainedV1 {
            qos: 0,
            payload: vec![0, 1, 2, 255],
        },
    );
}

#[test]
fn clock_and_format_v1() {
    check("clock", &1_795_000_000u64);
    check("format", &1u8);
}

#[test]
fn keys_are_stable() {
    assert_eq!(
        schema::message_key(1, 2),
        [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    );
    assert_eq!(
        schema::inbound_key(1, 0x0102),
        [0, 0, 0, 0, 0, 0, 0, 1, 1, 2]
    );
}

//! Golden fixtures of every store record version
//! (docs/design.md ## Durability: a newer broker reads an older store).
//! Each file under `tests/fixtures/store/vN/` holds the exact bytes this
//! edgemq wrote for a sample record of version N; the tests check that
//! today's code still reads them into the same values and still writes them
//! byte for byte. A change that breaks one is a format change: add a new
//! version instead. `EDGEMQ_WRITE_FIXTURES=1` writes the files of the
//! current version (only when adding a version).
//!
//! `v1/trajectory.bin` and `v1/history.bin` are the first versions of
//! the device trajectory and message history records (new kinds of
//! record, so version 1 of their own); `v2/history_chunk.bin` is the
//! history as it is stored today, the messages of one flush in one record
//! (`HistoryChunkV2`); a `history.bin` record is recognised and deleted
//! (tests/e2e_history.rs reads a whole store of them).
//!
//! Each older version must also read as the latest (`schema::decode_*`
//! upgrade it), and `tests/fixtures/store/v1-store/` is a whole sled store
//! written by the last edgemq that wrote only version 1 records (before
//! MQTT 5 persistence): a persistent 3.1.1 session subscribed to
//! `fixture/#` and `other/+` at QoS 1, a 5.0 session `fixture-sub5`
//! subscribed to `fixture/five` at QoS 2, then, both offline, `queued-1..3`
//! on `fixture/a`, `for-five` (QoS 2) on `fixture/five` and `kept`
//! retained on `fixture/retained`. Today's binary serves all of it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::PathBuf;

use common::flow::{collect, expect_silence, wait};
use common::raw::{self, Connect};
use common::{BrokerOptions, RawClient};
use edgemq::store::schema::{
    self, BridgeMessageV1, BridgeMessageV2, DeliveryV1, MessageV1, MessageV2, RetainedV1,
    RetainedV2, SessionV1, SessionV2, SubscriptionV1, SubscriptionV2, Versioned, WillV2, RECORD_V2,
};
use edgemq::store::schema::{HistoryChunkV2, HistoryV1, TrajectoryV1};
use edgemq::sys::history_chunk::{self, HistoryView};

fn fixture(version: u8, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/store")
        .join(format!("v{version}"))
        .join(format!("{name}.bin"))
}

/// Compares (or, when asked, writes) one fixture and decodes it back.
fn check<T>(name: &str, record: &T) -> Vec<u8>
where
    T: serde::Serialize + for<'a> serde::Deserialize<'a> + PartialEq + std::fmt::Debug + Versioned,
{
    let version = T::VERSION;
    let path = fixture(version, name);
    let bytes = schema::encode(record);
    if std::env::var_os("EDGEMQ_WRITE_FIXTURES").is_some() && version == schema::RECORD_LATEST {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
    }
    let golden = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(golden.first(), Some(&version), "{name}: version byte");
    assert_eq!(
        bytes, golden,
        "{name}: today's encoding differs from the v{version} fixture"
    );
    let decoded: T = schema::decode(&golden).unwrap();
    assert_eq!(
        &decoded, record,
        "{name}: the v{version} fixture decodes to the sample"
    );
    golden
}

fn sample_session_v1() -> SessionV1 {
    SessionV1 {
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
    }
}

#[test]
fn session_v1_reads_as_v2() {
    let golden = check("session", &sample_session_v1());
    let v2 = schema::decode_session(&golden).unwrap();
    let v1 = sample_session_v1();
    assert_eq!(v2.store_id, v1.store_id);
    assert_eq!(v2.offline_since, v1.offline_since);
    assert_eq!(v2.session_expiry_interval, None);
    assert_eq!(v2.will, None);
    let filters: Vec<_> = v2
        .subscriptions
        .iter()
        .map(|s| (s.filter.as_str(), s.qos, s.identifier))
        .collect();
    assert_eq!(filters, [("sensors/+/temp", 1, None), ("cmd/#", 2, None)]);
    assert!(v2.subscriptions[1].no_local && v2.subscriptions[1].retain_as_published);
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
fn message_and_retained_v1_read_as_v2() {
    let message = schema::decode_message(&std::fs::read(fixture(1, "message")).unwrap()).unwrap();
    assert_eq!(
        (message.topic.as_str(), &message.payload[..], message.qos),
        ("sensors/kitchen/temp", &b"21.5"[..], 1)
    );
    assert!(message.properties.is_empty() && message.subscription_ids.is_empty());
    assert_eq!(message.expires_at_ms, None);
    let retained =
        schema::decode_retained(&std::fs::read(fixture(1, "retained")).unwrap()).unwrap();
    assert_eq!(retained.payload, vec![0, 1, 2, 255]);
    assert_eq!(retained.expires_at_ms, None);
}

#[test]
fn bridge_message_v1_reads_as_v2() {
    let v1 = BridgeMessageV1 {
        topic: "site1/sensors/a".into(),
        payload: b"x".to_vec(),
        qos: 1,
        retain: true,
    };
    let v2 = schema::decode_bridge_message(&schema::encode(&v1)).unwrap();
    assert_eq!(
        (v2.topic.as_str(), v2.qos, v2.retain),
        ("site1/sensors/a", 1, true)
    );
    assert!(v2.properties.is_empty());
}

/// MQTT 5 user property `k`=`v` then content type `text/plain`, as on
/// the wire.
fn sample_properties() -> Vec<u8> {
    vec![
        0x26, 0, 1, b'k', 0, 1, b'v', 0x03, 0, 10, b't', b'e', b'x', b't', b'/', b'p', b'l', b'a',
        b'i', b'n',
    ]
}

#[test]
fn session_v2() {
    check(
        "session",
        &SessionV2 {
            store_id: 9,
            protocol: 5,
            subscriptions: vec![
                SubscriptionV2 {
                    filter: "sensors/#".into(),
                    qos: 1,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: 1,
                    identifier: Some(268_435_455),
                },
                SubscriptionV2 {
                    filter: "cmd/+".into(),
                    qos: 0,
                    no_local: false,
                    retain_as_published: false,
                    retain_handling: 0,
                    identifier: None,
                },
            ],
            offline_since: Some(1_795_000_000),
            session_expiry_interval: Some(3600),
            will: Some(WillV2 {
                topic: "status/dev1".into(),
                payload: b"gone".to_vec(),
                qos: 1,
                retain: true,
                properties: sample_properties(),
                delay_interval: 30,
                publish_at_ms: Some(1_795_000_030_000),
            }),
        },
    );
}

#[test]
fn message_v2() {
    check(
        "message",
        &MessageV2 {
            qos: 2,
            retain: true,
            topic: "sensors/kitchen/temp".into(),
            payload: b"21.5".to_vec(),
            properties: sample_properties(),
            expires_at_ms: Some(1_795_000_060_000),
            subscription_ids: vec![1, 300],
        },
    );
}

#[test]
fn retained_v2() {
    check(
        "retained",
        &RetainedV2 {
            qos: 1,
            payload: vec![0, 1, 2, 255],
            properties: sample_properties(),
            expires_at_ms: Some(1_795_000_060_000),
        },
    );
}

#[test]
fn bridge_message_v2() {
    check(
        "bridge_message",
        &BridgeMessageV2 {
            topic: "site1/sensors/a".into(),
            payload: b"x".to_vec(),
            qos: 1,
            retain: false,
            properties: sample_properties(),
            expires_at_ms: None,
        },
    );
    assert_eq!(RECORD_V2, schema::RECORD_LATEST);
}

/// The whole store written before MQTT 5 persistence (module docs): the
/// queued messages, in order, and the retained one come back.
#[test]
fn a_store_written_before_mqtt5_persistence_is_served() {
    let data = tempfile::tempdir().unwrap();
    let store = data.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    for file in ["conf", "db"] {
        let from = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/store/v1-store")
            .join(file);
        std::fs::copy(&from, store.join(file)).unwrap();
    }
    // The fixture's sessions were last seen when it was written: without
    // `never` they expire two hours after that, by the wall clock.
    let config = format!(
        "persistence_location {}\npersistent_client_expiration never\n",
        store.display()
    );
    let broker = BrokerOptions::new(&config).start();
    assert!(
        broker
            .log()
            .contains("restored 2 persistent sessions and 1 retained messages"),
        "{}",
        broker.log()
    );
    // Raised before any version 2 record is written: an edgemq of format 1
    // moves it aside instead of deleting what it cannot read.
    assert!(
        broker.log().contains("moves from format 1 to 2"),
        "{}",
        broker.log()
    );
    let addr = broker.addr();

    let mut c = RawClient::connect(addr);
    c.send(&Connect::new("fixture-sub").clean(false).to_bytes());
    let p = c.read_packet(wait()).expect("CONNACK");
    assert_eq!(raw::parse_connack(&p), Some((true, 0)), "session present");
    // `fixture/#` matched everything published after it went offline.
    let got = collect(&mut c, 5);
    let seen: Vec<_> = got
        .iter()
        .map(|m| {
            (
                m.topic.as_str(),
                String::from_utf8_lossy(&m.payload).into_owned(),
            )
        })
        .collect();
    let expected = [
        ("fixture/a", "queued-1"),
        ("fixture/a", "queued-2"),
        ("fixture/a", "queued-3"),
        ("fixture/five", "for-five"),
        ("fixture/retained", "kept"),
    ];
    assert_eq!(seen, expected.map(|(t, p)| (t, p.to_owned())));
    assert!(got.iter().all(|m| m.qos == 1 && !m.retain));
    expect_silence(&mut c, "nothing beyond the five queued messages");

    // Its subscriptions came back too: the retained message matches one.
    let mut fresh = RawClient::connect(addr);
    fresh.send(&Connect::new("fixture-fresh").to_bytes());
    fresh.read_packet(wait()).expect("CONNACK");
    let granted = common::flow::raw_subscribe(&mut fresh, 1, &[("fixture/retained", 1)]);
    assert_eq!(granted, vec![1]);
    let retained = collect(&mut fresh, 1);
    assert_eq!(
        (retained[0].payload.as_slice(), retained[0].retain),
        (&b"kept"[..], true)
    );

    // The 5.0 session resumes with its QoS 2 message.
    let out = common::mosquitto::mosquitto_sub(
        addr,
        &[
            "-V",
            "mqttv5",
            "-i",
            "fixture-sub5",
            "-c",
            "-x",
            "3600",
            "-q",
            "2",
            "-t",
            "fixture/five",
            "-C",
            "1",
            "-W",
            "10",
        ],
        wait() * 3,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "for-five",
        "{out:?}"
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

fn sample_trajectory_v1() -> TrajectoryV1 {
    TrajectoryV1 {
        client_id: "shelf@@ap7".into(),
        ts_ms: 1_796_624_423_887,
        kind: 1,
        details: r#"{"ip":"192.168.1.20","port":51324,"clean":false}"#.into(),
    }
}

fn sample_history_v1() -> HistoryV1 {
    HistoryV1 {
        ts_ms: 1_796_624_423_887,
        topic: "sensors/kitchen/temp".into(),
        qos: 1,
        retain: true,
        payload: vec![b'2', b'1', 0xff],
    }
}

#[test]
fn trajectory_and_history_v1() {
    let trajectory = check("trajectory", &sample_trajectory_v1());
    let history = check("history", &sample_history_v1());
    // The keys: the sequence number big-endian, so sled keeps arrival order.
    assert_eq!(schema::seq_key(258), [0, 0, 0, 0, 0, 0, 1, 2]);
    assert_eq!(schema::split_seq_key(&schema::seq_key(258)), Some(258));
    assert_eq!(schema::split_seq_key(&[1, 2]), None);
    // Corrupt copies: cut short, a byte more, a version from the future.
    for golden in [trajectory, history] {
        let short = &golden[..golden.len() - 1];
        assert_eq!(
            schema::decode::<TrajectoryV1>(short).err(),
            Some(schema::RecordError::Undecodable)
        );
        assert_eq!(
            schema::decode::<HistoryV1>(short).err(),
            Some(schema::RecordError::Undecodable)
        );
        let mut long = golden.clone();
        long.push(0);
        assert!(schema::decode::<TrajectoryV1>(&long).is_err());
        assert!(schema::decode::<HistoryV1>(&long).is_err());
        let mut newer = golden.clone();
        newer[0] = schema::RECORD_LATEST + 1;
        assert_eq!(
            schema::decode::<HistoryV1>(&newer).err(),
            Some(schema::RecordError::Newer(schema::RECORD_LATEST + 1))
        );
    }
}

fn sample_history_chunk_v2() -> HistoryChunkV2 {
    let mut body = Vec::new();
    let messages = [
        (
            1_796_624_423_887,
            "sensors/kitchen/temp",
            1,
            true,
            &b"21"[..],
        ),
        (
            1_796_624_424_002,
            "sensors/hall/door",
            0,
            false,
            &[0xff, 0][..],
        ),
    ];
    for (ts, topic, qos, retain, payload) in messages {
        let view = HistoryView {
            topic,
            qos,
            retain,
            payload,
        };
        assert!(history_chunk::append(&mut body, ts, &view));
    }
    HistoryChunkV2 {
        count: 2,
        min_ts_ms: 1_796_624_423_887,
        max_ts_ms: 1_796_624_424_002,
        body,
    }
}

#[test]
fn history_chunk_v2() {
    let golden = check("history_chunk", &sample_history_chunk_v2());
    let record: HistoryChunkV2 = schema::decode(&golden).unwrap();
    let messages = history_chunk::decode(&record.body).unwrap();
    let topics: Vec<_> = messages.iter().map(|(_, m)| m.topic).collect();
    assert_eq!(topics, ["sensors/kitchen/temp", "sensors/hall/door"]);
    assert_eq!(messages[0].0, 1_796_624_423_887);
    assert!(messages[0].1.retain && messages[0].1.qos == 1);
    assert_eq!(messages[1].1.payload, [0xff, 0]);
    // A per-message record of the version before is not a chunk, nor the
    // other way round: the version byte tells them apart.
    let v1 = std::fs::read(fixture(1, "history")).unwrap();
    assert_eq!(
        schema::decode::<HistoryChunkV2>(&v1).err(),
        Some(schema::RecordError::Undecodable)
    );
    assert!(schema::decode::<HistoryV1>(&golden).is_err());
    // Corrupt copies: cut short, a byte more, a version from the future.
    let short = &golden[..golden.len() - 1];
    assert!(schema::decode::<HistoryChunkV2>(short).is_err());
    let mut long = golden.clone();
    long.push(0);
    assert!(schema::decode::<HistoryChunkV2>(&long).is_err());
    let mut newer = golden.clone();
    newer[0] = schema::RECORD_LATEST + 1;
    assert_eq!(
        schema::decode::<HistoryChunkV2>(&newer).err(),
        Some(schema::RecordError::Newer(schema::RECORD_LATEST + 1))
    );
    // A body cut inside a message does not decode (recovery skips it).
    assert!(history_chunk::decode(&record.body[..record.body.len() - 1]).is_none());
}

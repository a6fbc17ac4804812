//! Access control end to end (docs/security.md, "Access control"): an
//! `acl_file` in mosquitto's format, enforced on SUBSCRIBE, on every
//! PUBLISH a client sends, on every delivery, on retained messages and on
//! wills, with real clients; SIGHUP re-reads it and takes away what it no
//! longer allows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::raw::{self, Connect, ReadEvent};
use common::{
    edgemq_command, mosquitto_pub, scaled, Broker, BrokerOptions, MosquittoSub, RawClient,
};

fn secs(n: u64) -> Duration {
    scaled(Duration::from_secs(n))
}

/// The ACL of the router example in README.md ("Securing edgemq") plus a
/// rule of every kind.
const ACL: &str = "\
# anonymous clients: read the public topics only
topic read public/#
topic deny test/nosubscribe
topic read test/#

user ops
topic readwrite #
topic deny ops/secret/#

user viewer
topic read sensors/#
topic deny sensors/private/#

# every client
pattern write devices/%c/#
pattern read cmd/%c/#
pattern readwrite users/%u/#
";

/// A broker with `acl` as its `acl_file`; the file's path for rewrites.
fn broker_with(acl: &str, extra: &str) -> (Broker, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edgemq.acl");
    std::fs::write(&path, acl).unwrap();
    let broker = Broker::start(&format!("acl_file {}\n{extra}", path.display()));
    (broker, dir, path)
}

fn client(broker: &Broker, id: &str, username: Option<&str>) -> RawClient {
    let mut connect = Connect::new(id);
    if let Some(user) = username {
        connect = connect.username(user);
    }
    let mut c = RawClient::connect(broker.addr());
    assert_eq!(
        c.handshake(&connect.to_bytes()),
        Some(0),
        "CONNACK for {id}"
    );
    c
}

/// SUBSCRIBEs and returns the SUBACK's return codes.
fn subscribe(c: &mut RawClient, filters: &[(&str, u8)]) -> Vec<u8> {
    c.send(&raw::subscribe(7, filters));
    let p = c.read_packet(secs(3)).expect("SUBACK");
    raw::parse_suback(&p).expect("a SUBACK").1
}

/// Every PUBLISH that arrives within `wait`, acknowledged, as (topic, payload).
fn received(c: &mut RawClient, wait: Duration) -> Vec<(String, Vec<u8>)> {
    let mut got = Vec::new();
    while let ReadEvent::Packet(p) = c.read_event(wait) {
        if let Some(publish) = raw::parse_publish(&p) {
            match (publish.qos, publish.pkid) {
                (1, Some(id)) => c.send(&raw::puback(id)),
                (2, Some(id)) => c.send(&raw::pubrec(id)),
                _ => {}
            }
            got.push((publish.topic, publish.payload));
        } else if raw::packet_type(&p) == 6 {
            if let Some((_, id)) = raw::parse_ack(&p) {
                c.send(&raw::pubcomp(id));
            }
        }
    }
    got
}

fn topics(got: &[(String, Vec<u8>)]) -> Vec<&str> {
    got.iter().map(|(t, _)| t.as_str()).collect()
}

/// Publishes at QoS 0 from a fresh client, then waits for its PINGRESP
/// so the broker has handled the PUBLISH.
fn publish0(broker: &Broker, id: &str, username: Option<&str>, topic: &str) {
    let mut c = client(broker, id, username);
    c.send(&raw::publish(
        topic,
        topic.as_bytes(),
        0,
        false,
        false,
        None,
    ));
    c.send(&raw::pingreq());
    assert_eq!(
        c.read_event(secs(3)),
        ReadEvent::Packet(vec![0xD0, 0x00]),
        "PINGRESP after the PUBLISH of {id}"
    );
}

#[test]
fn every_rule_kind_with_real_clients() {
    let (broker, _dir, _) = broker_with(ACL, "");
    // The anonymous section: read public/#, nothing else.
    let mut anon = client(&broker, "anon-1", None);
    assert_eq!(subscribe(&mut anon, &[("public/#", 1)]), vec![1]);
    assert_eq!(subscribe(&mut anon, &[("private/#", 1)]), vec![0x80]);
    // Patterns: each device writes its own devices/%c/#, reads cmd/%c/#.
    let mut dev = client(&broker, "dev-5", None);
    assert_eq!(
        subscribe(
            &mut dev,
            &[("cmd/dev-5/#", 0), ("cmd/dev-8/#", 0), ("cmd/+/x", 0)]
        ),
        vec![0, 0x80, 0x80]
    );
    // %u: a user's own branch.
    let mut ann = client(&broker, "ann-phone", Some("ann"));
    assert_eq!(
        subscribe(&mut ann, &[("users/ann/#", 0), ("users/bob/#", 0)]),
        vec![0, 0x80]
    );
    // A user section: ops reads everything but ops/secret/#.
    let mut ops = client(&broker, "ops-console", Some("ops"));
    assert_eq!(
        subscribe(&mut ops, &[("devices/#", 0), ("ops/secret/#", 0)]),
        vec![0, 0x80]
    );

    publish0(&broker, "dev-7", None, "devices/dev-7/temp"); // allowed
    publish0(&broker, "dev-8", None, "devices/dev-7/temp"); // not its own
    publish0(&broker, "anon-2", None, "public/news"); // read only
    publish0(&broker, "ops-2", Some("ops"), "public/news");
    publish0(&broker, "ops-3", Some("ops"), "cmd/dev-5/reboot");
    publish0(&broker, "ann-2", Some("ann"), "users/ann/x");

    let wait = secs(1);
    let ops_got = received(&mut ops, wait);
    assert_eq!(topics(&ops_got), vec!["devices/dev-7/temp"], "{ops_got:?}");
    assert_eq!(ops_got[0].1, b"devices/dev-7/temp");
    assert_eq!(topics(&received(&mut anon, wait)), vec!["public/news"]);
    assert_eq!(topics(&received(&mut dev, wait)), vec!["cmd/dev-5/reboot"]);
    assert_eq!(topics(&received(&mut ann, wait)), vec!["users/ann/x"]);

    let log = broker.log();
    assert!(
        log.contains("access control: dropped a PUBLISH from client dev-8 (no username) to \"devices/dev-7/temp\""),
        "{log}"
    );
    assert!(log.contains("access control: 10 rules from"), "{log}");
}

#[test]
fn test_nosubscribe_is_refused_with_0x80() {
    let (broker, _dir, _) = broker_with(ACL, "");
    let mut c = client(&broker, "interop", None);
    assert_eq!(
        subscribe(&mut c, &[("test/nosubscribe", 0), ("test/other", 1)]),
        vec![0x80, 1]
    );
    // mosquitto_sub, a second opinion: it is told the request was denied.
    let out = common::mosquitto_sub(
        broker.addr(),
        &["-t", "test/nosubscribe", "-C", "1", "-W", "2"],
        secs(5),
    );
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("denied"), "{said}");
}

/// A denied PUBLISH is acknowledged as the spec requires (PUBACK, PUBREC
/// then PUBCOMP) and goes nowhere.
#[test]
fn denied_publish_is_acknowledged_not_delivered() {
    let (broker, _dir, _) = broker_with(ACL, "");
    let mut ops = client(&broker, "ops-watch", Some("ops"));
    assert_eq!(subscribe(&mut ops, &[("#", 2)]), vec![2]);
    let mut anon = client(&broker, "anon-pub", None);
    anon.send(&raw::publish("public/x", b"q1", 1, false, false, Some(11)));
    let ack = anon.read_packet(secs(3)).expect("PUBACK");
    assert_eq!(
        raw::parse_ack(&ack),
        Some((4, 11)),
        "PUBACK for the denied QoS 1"
    );
    anon.send(&raw::publish("public/y", b"q2", 2, false, false, Some(12)));
    let rec = anon.read_packet(secs(3)).expect("PUBREC");
    assert_eq!(
        raw::parse_ack(&rec),
        Some((5, 12)),
        "PUBREC for the denied QoS 2"
    );
    anon.send(&raw::pubrel(12));
    let comp = anon.read_packet(secs(3)).expect("PUBCOMP");
    assert_eq!(raw::parse_ack(&comp), Some((7, 12)));
    // Still connected, and nothing arrived anywhere.
    anon.send(&raw::pingreq());
    assert_eq!(
        anon.read_event(secs(3)),
        ReadEvent::Packet(vec![0xD0, 0x00])
    );
    assert_eq!(received(&mut ops, secs(1)), vec![]);
    // An allowed one does arrive: the subscriber was listening.
    publish0(&broker, "ops-pub", Some("ops"), "public/z");
    assert_eq!(topics(&received(&mut ops, secs(1))), vec!["public/z"]);
    broker.signal("USR1");
    assert!(
        broker.wait_for_log("acl_denied_publish 2", secs(3)),
        "{}",
        broker.log()
    );
}

/// A wildcard subscription that a deny rule reaches into is allowed, and
/// only the readable topics are delivered (mosquitto_sub as the client).
#[test]
fn wildcard_subscription_gets_only_readable_topics() {
    let (broker, _dir, _) = broker_with(ACL, "");
    let sub = MosquittoSub::start(
        broker.addr(),
        &["-u", "viewer", "-t", "sensors/#", "-v", "-q", "1"],
    );
    for topic in [
        "sensors/a",
        "sensors/private/b",
        "sensors/c/d",
        "sensors/private",
    ] {
        let out = mosquitto_pub(
            broker.addr(),
            &["-u", "ops", "-t", topic, "-m", topic, "-q", "1"],
        );
        assert!(out.status.success(), "{out:?}");
    }
    let lines = sub.wait_messages(2, secs(3));
    assert_eq!(
        lines,
        vec!["sensors/a sensors/a", "sensors/c/d sensors/c/d"],
        "{lines:?}"
    );
    broker.signal("USR1");
    assert!(broker.wait_for_log("acl_denied_delivery 2", secs(3)));
}

#[test]
fn retained_messages_need_write_to_store_and_read_to_receive() {
    let (broker, _dir, _) = broker_with(ACL, "");
    let mut ops = client(&broker, "ops-r", Some("ops"));
    for topic in ["sensors/open", "sensors/private/x"] {
        ops.send(&raw::publish(topic, b"kept", 1, true, false, Some(1)));
        assert!(ops.read_packet(secs(3)).is_some(), "PUBACK");
    }
    // An anonymous client may not write: its retained message is not stored.
    let mut anon = client(&broker, "anon-r", None);
    anon.send(&raw::publish(
        "public/r",
        b"not kept",
        1,
        true,
        false,
        Some(2),
    ));
    assert!(anon.read_packet(secs(3)).is_some(), "PUBACK");

    let mut viewer = client(&broker, "viewer-r", Some("viewer"));
    assert_eq!(subscribe(&mut viewer, &[("sensors/#", 0)]), vec![0]);
    assert_eq!(
        topics(&received(&mut viewer, secs(1))),
        vec!["sensors/open"]
    );
    let mut reader = client(&broker, "anon-reader", None);
    assert_eq!(subscribe(&mut reader, &[("public/#", 0)]), vec![0]);
    assert_eq!(received(&mut reader, secs(1)), vec![]);
}

#[test]
fn wills_are_checked_at_connect_and_when_published() {
    let (broker, _dir, path) = broker_with(ACL, "");
    // A will on a topic the client may not write: CONNACK 5.
    let mut c = RawClient::connect(broker.addr());
    let refused = Connect::new("dev-9").will("devices/dev-1/state", b"gone", 0, false);
    assert_eq!(c.handshake(&refused.to_bytes()), Some(5));
    assert!(broker.wait_for_log("refused the will of client dev-9", secs(3)));

    let mut ops = client(&broker, "ops-w", Some("ops"));
    assert_eq!(subscribe(&mut ops, &[("devices/#", 0)]), vec![0]);
    // Allowed at CONNECT, published when the connection drops.
    let mut dev = RawClient::connect(broker.addr());
    let will = Connect::new("dev-9").will("devices/dev-9/state", b"gone", 0, false);
    assert_eq!(dev.handshake(&will.to_bytes()), Some(0));
    drop(dev);
    assert_eq!(
        topics(&received(&mut ops, secs(2))),
        vec!["devices/dev-9/state"]
    );

    // Allowed at CONNECT, revoked by a reload before it is published.
    let mut dev = RawClient::connect(broker.addr());
    assert_eq!(dev.handshake(&will.to_bytes()), Some(0));
    std::fs::write(&path, ACL.replace("pattern write devices/%c/#\n", "")).unwrap();
    reload(&broker);
    drop(dev);
    assert_eq!(received(&mut ops, secs(1)), vec![]);
    // Its log line falls within the first one's 10 s: the counter says it.
    broker.signal("USR1");
    assert!(
        broker.wait_for_log("acl_denied_will 2", secs(3)),
        "{}",
        broker.log()
    );
}

/// Sends SIGHUP and waits for its outcome: reloaded, or kept.
fn reload(broker: &Broker) {
    let outcomes = |log: &str| {
        log.matches("SIGHUP: reloaded").count() + log.matches("SIGHUP: keeping").count()
    };
    let before = outcomes(&broker.log());
    broker.signal("HUP");
    assert!(
        broker.wait_log(secs(5), |log| outcomes(log) > before),
        "{}",
        broker.log()
    );
}

#[test]
fn reload_takes_away_what_the_new_file_refuses() {
    let (broker, _dir, path) = broker_with(ACL, "");
    let mut viewer = client(&broker, "viewer-1", Some("viewer"));
    assert_eq!(
        subscribe(&mut viewer, &[("sensors/a/#", 0), ("sensors/b/#", 0)]),
        vec![0, 0]
    );
    // A file that does not parse keeps the running rules.
    std::fs::write(&path, "topic read public/#\nfrobnicate\n").unwrap();
    reload(&broker);
    let log = broker.log();
    assert!(
        log.contains("SIGHUP: keeping the running configuration")
            && log.contains(":2: unknown line"),
        "{log}"
    );
    publish0(&broker, "ops-1", Some("ops"), "sensors/b/1");
    assert_eq!(topics(&received(&mut viewer, secs(1))), vec!["sensors/b/1"]);

    // The viewer may now read sensors/a/# only.
    let shrunk = ACL.replace("topic read sensors/#", "topic read sensors/a/#");
    std::fs::write(&path, shrunk).unwrap();
    reload(&broker);
    assert!(
        broker.wait_for_log(
            "removing the subscription of client viewer-1 (username \"viewer\") to \"sensors/b/#\"",
            secs(3)
        ),
        "{}",
        broker.log()
    );
    publish0(&broker, "ops-2", Some("ops"), "sensors/b/2");
    publish0(&broker, "ops-3", Some("ops"), "sensors/a/3");
    // Still connected, and only what it may still read arrives.
    assert_eq!(topics(&received(&mut viewer, secs(1))), vec!["sensors/a/3"]);
    viewer.send(&raw::pingreq());
    assert_eq!(
        viewer.read_event(secs(3)),
        ReadEvent::Packet(vec![0xD0, 0x00])
    );
}

/// A client reconnecting to its session under another username keeps only
/// the subscriptions the new identity may hold.
#[test]
fn a_new_identity_rechecks_a_resumed_session() {
    let (broker, _dir, _) = broker_with(ACL, "");
    let mut c = RawClient::connect(broker.addr());
    let as_ops = Connect::new("shared-id").clean(false).username("ops");
    assert_eq!(c.handshake(&as_ops.to_bytes()), Some(0));
    assert_eq!(
        subscribe(&mut c, &[("sensors/#", 0), ("cmd/#", 0)]),
        vec![0, 0]
    );
    c.send(&raw::disconnect());
    drop(c);
    let mut c = RawClient::connect(broker.addr());
    let as_viewer = Connect::new("shared-id").clean(false).username("viewer");
    assert_eq!(c.handshake(&as_viewer.to_bytes()), Some(0));
    assert!(broker.wait_for_log("to \"cmd/#\": the access rules no longer allow it", secs(3)));
    publish0(&broker, "ops-4", Some("ops"), "cmd/x");
    publish0(&broker, "ops-5", Some("ops"), "sensors/y");
    assert_eq!(topics(&received(&mut c, secs(1))), vec!["sensors/y"]);
}

/// A client's last PUBLISH answer is cached; a reload must not let the
/// cached "yes" outlive the rule that gave it.
#[test]
fn a_reload_reaches_a_publisher_mid_stream() {
    let (broker, _dir, path) = broker_with(ACL, "");
    let mut ops = client(&broker, "ops-m", Some("ops"));
    assert_eq!(subscribe(&mut ops, &[("devices/#", 0)]), vec![0]);
    let mut dev = client(&broker, "dev-3", None);
    let publish = |dev: &mut RawClient, n: u16| {
        dev.send(&raw::publish(
            "devices/dev-3/t",
            b"x",
            1,
            false,
            false,
            Some(n),
        ));
        let ack = dev.read_packet(secs(3)).expect("PUBACK");
        assert_eq!(raw::parse_ack(&ack), Some((4, n)));
    };
    publish(&mut dev, 1);
    publish(&mut dev, 2);
    assert_eq!(received(&mut ops, secs(1)).len(), 2);
    std::fs::write(&path, ACL.replace("pattern write devices/%c/#\n", "")).unwrap();
    reload(&broker);
    publish(&mut dev, 3);
    assert_eq!(received(&mut ops, secs(1)), vec![]);
    assert!(broker.wait_for_log(
        "dropped a PUBLISH from client dev-3 (no username) to \"devices/dev-3/t\"",
        secs(3)
    ));
}

/// CONNECT to `addr`; the CONNACK's return code (`None`: none came).
fn connect_to(
    addr: std::net::SocketAddr,
    id: &str,
    login: Option<(&str, &[u8])>,
) -> (RawClient, Option<u8>) {
    let mut connect = Connect::new(id);
    if let Some((user, password)) = login {
        connect = connect.username(user).password(password);
    }
    let mut c = RawClient::connect(addr);
    let code = c.handshake(&connect.to_bytes());
    (c, code)
}

/// `per_listener_settings true`, the README's router: devices log in with
/// passwords on the LAN listener and are held to its ACL; programs on the
/// box connect anonymously to a loopback listener without one. Each
/// client meets its own listener's rules, at CONNECT, SUBSCRIBE, PUBLISH
/// and delivery, and SIGHUP re-reads each listener's files.
#[test]
fn per_listener_settings_hold_each_client_to_its_listeners_rules() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("passwd");
    let made = edgemq_command()
        .args(["passwd", "-c", "-b"])
        .arg(&passwords)
        .args(["alice", "s3cret"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let acl = dir.path().join("lan.acl");
    std::fs::write(&acl, "user alice\ntopic readwrite sensors/#\n").unwrap();
    let config = format!(
        "per_listener_settings true\n\
         listener 0 127.0.0.1\npassword_file {}\nacl_file {}\n\
         listener 0 127.0.0.1\nallow_anonymous true\n",
        passwords.display(),
        acl.display()
    );
    let broker = BrokerOptions::new(&config).expect_listeners(2).start();
    let (lan, local) = (broker.addrs()[0], broker.addrs()[1]);
    let alice = Some(("alice", b"s3cret".as_slice()));

    assert_eq!(
        connect_to(lan, "anon-lan", None).1,
        Some(5),
        "anonymous on the LAN"
    );
    let (mut program, code) = connect_to(local, "program", None);
    assert_eq!(code, Some(0), "anonymous on loopback");
    assert_eq!(subscribe(&mut program, &[("#", 0)]), [0]);
    // alice's password is the LAN listener's; the loopback one has none
    // and lets her in as it lets everyone in.
    assert_eq!(connect_to(local, "alice-local", alice).1, Some(0));
    let (mut device, code) = connect_to(lan, "alice-lan", alice);
    assert_eq!(code, Some(0), "{}", broker.log());
    assert_eq!(
        subscribe(&mut device, &[("#", 0), ("sensors/#", 0)]),
        [0x80, 0]
    );

    for topic in ["other/x", "sensors/t"] {
        device.send(&raw::publish(topic, b"d", 0, false, false, None));
    }
    let mut local_pub = connect_to(local, "local-pub", None).0;
    for topic in ["other/y", "sensors/u"] {
        local_pub.send(&raw::publish(topic, b"l", 0, false, false, None));
    }
    assert_eq!(
        topics(&received(&mut program, secs(1))),
        ["sensors/t", "other/y", "sensors/u"]
    );
    assert_eq!(
        topics(&received(&mut device, secs(1))),
        ["sensors/t", "sensors/u"]
    );

    std::fs::write(&acl, "user alice\ntopic readwrite #\n").unwrap();
    reload(&broker);
    device.send(&raw::publish("other/z", b"d", 0, false, false, None));
    assert_eq!(topics(&received(&mut program, secs(1))), ["other/z"]);
    assert_eq!(subscribe(&mut device, &[("#", 0)]), [0]);
    assert_eq!(
        connect_to(lan, "anon-lan-2", None).1,
        Some(5),
        "still no anonymous on the LAN"
    );
}

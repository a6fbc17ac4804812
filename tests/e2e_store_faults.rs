//! End-to-end: a store that cannot write, or writes slowly (docs/design.md,
//! "When the store fails").
//!
//! - Sync mode on a full filesystem (a 2 MiB tmpfs, filled up): no PUBACK
//!   for a message that is not on disk; when space comes back the held
//!   PUBACKs go out in order; after SIGKILL and a restart every
//!   acknowledged message is delivered. Needs root for the mount: skipped
//!   with a printed reason otherwise.
//! - The same for a message that comes down a bridge: the cloud's
//!   PUBACK waits for the flush, so a crash before it makes the cloud
//!   resend instead of losing the message.
//! - Sync mode on a filesystem that turns read-only (an ext4 image with
//!   `errors=remount-ro` and an ext4 error raised through sysfs; root):
//!   the same, and once an operator has checked and mounted it again the
//!   broker recovers by itself.
//! - Sync mode whose store directory is removed while running: noticed
//!   after the next flush, nothing acknowledged until the whole store is
//!   written again at the path, nothing acknowledged lost.
//! - A writer slowed on purpose (debug builds' `EDGEMQ_TEST_STORE_DELAY_MS`):
//!   the publisher feeding the store is paused, and a clean-session
//!   client's round trip stays under 100 ms meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::cloud::Cloud;
use common::flow::{collect_within, publish, raw_subscribe, wait};
use common::raw::{self, Connect};
use common::{scaled, Broker, BrokerOptions, RawClient};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn id(prefix: &str) -> String {
    common::unique_id(prefix)
}

fn connect(addr: SocketAddr, client_id: &str, clean: bool) -> RawClient {
    let mut c = RawClient::connect(addr);
    c.send(&Connect::new(client_id).clean(clean).to_bytes());
    let p = c.read_packet(wait()).expect("no CONNACK");
    assert_eq!(raw::parse_connack(&p).map(|(_, code)| code), Some(0));
    c
}

/// A persistent subscriber to `filter` at QoS 1 that then goes offline.
fn park_subscriber(addr: SocketAddr, client_id: &str, filter: &str) {
    let mut c = connect(addr, client_id, false);
    assert_eq!(raw_subscribe(&mut c, 1, &[(filter, 1)]), vec![1]);
    c.send(&raw::disconnect());
    assert!(c.expect_closed(wait()));
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None`, with the reason printed, where it cannot be mounted.
    fn mount(size: &str) -> Option<Tmpfs> {
        // Root, by the effective uid in /proc (no libc call needed).
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let root = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0");
        if !root {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs { dir }),
            Ok(out) => {
                eprintln!(
                    "skipped: mount -t tmpfs failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the filesystem is full.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).and_then(|_| file.sync_all()).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// Publishes at QoS 1 and waits up to `timeout` for the PUBACK.
fn publish_acked(c: &mut RawClient, topic: &str, n: u16, timeout: Duration) -> bool {
    c.send(&raw::publish(topic, &payload(n), 1, false, false, Some(n)));
    wait_puback(c, n, timeout)
}

fn wait_puback(c: &mut RawClient, n: u16, timeout: Duration) -> bool {
    match c.read_packet(timeout) {
        None => false,
        Some(p) => {
            assert_eq!(
                raw::parse_ack(&p),
                Some((4, n)),
                "PUBACKs come in order, for the message sent"
            );
            true
        }
    }
}

/// 1 KB: "m<n>" then padding.
fn payload(n: u16) -> Vec<u8> {
    let mut p = format!("m{n}:").into_bytes();
    p.resize(1000, b'.');
    p
}

#[test]
fn sync_mode_never_acknowledges_what_a_full_disk_did_not_store() {
    let Some(fs) = Tmpfs::mount("2m") else {
        return;
    };
    let store = fs.path().join("data");
    let mut broker = Broker::start_with(BrokerOptions::new(&format!(
        "persistence_sync true\npersistence_location {}\nmax_queued_messages 400\n",
        store.display()
    )));
    let addr = broker.addr();
    let sub = id("durable");
    park_subscriber(addr, &sub, "fault/#");
    let filler = fs.fill();

    let mut publisher = connect(addr, &id("pub"), true);
    let total = 300u16;
    let mut acked = Vec::new();
    let mut stalled = None;
    for n in 1..=total {
        if publish_acked(
            &mut publisher,
            "fault/t",
            n,
            scaled(Duration::from_millis(1500)),
        ) {
            acked.push(n);
        } else {
            stalled = Some(n);
            break;
        }
    }
    let stalled = stalled.unwrap_or_else(|| {
        panic!(
            "all {total} acknowledged on a full disk; log:\n{}",
            broker.log()
        )
    });
    assert!(
        broker.wait_for_log("store failed", wait()),
        "the outage is logged: {}",
        broker.log()
    );

    // Space comes back: the held PUBACK goes out, then the rest.
    std::fs::remove_file(filler).unwrap();
    assert!(
        wait_puback(&mut publisher, stalled, scaled(Duration::from_secs(15))),
        "the held PUBACK once the store is back; log:\n{}",
        broker.log()
    );
    acked.push(stalled);
    assert!(broker.wait_for_log("store is back", wait()));
    for n in stalled + 1..=total {
        assert!(publish_acked(&mut publisher, "fault/t", n, wait()));
        acked.push(n);
    }

    // A crash, then a restart from what is on the tmpfs.
    broker.kill9();
    broker.restart();
    let mut c = connect(broker.addr(), &sub, false);
    let got = collect_within(&mut c, acked.len(), scaled(Duration::from_secs(30)));
    let delivered: Vec<u16> = got
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(&m.payload);
            let number = text.trim_start_matches('m').split(':').next().unwrap_or("");
            number.parse().unwrap()
        })
        .collect();
    assert_eq!(
        delivered,
        acked,
        "every acknowledged message, in order (acknowledged but lost: {})",
        acked.iter().filter(|n| !delivered.contains(n)).count()
    );
}

#[test]
fn a_slow_writer_pauses_its_feeders_and_nobody_else() {
    let broker = Broker::start_with(
        BrokerOptions::new(
            "persistence_sync true\npersistence_cache_bytes 65536\nmax_queued_messages 1000\n",
        )
        .env("EDGEMQ_TEST_STORE_DELAY_MS", "300"),
    );
    if !broker.log().contains("test hook: every store flush waits") {
        eprintln!("skipped: this build ignores EDGEMQ_TEST_STORE_DELAY_MS (release build)");
        return;
    }
    let addr = broker.addr();
    park_subscriber(addr, &id("durable"), "slow/#");

    // A publisher that streams QoS 1 messages the store must keep, without
    // waiting for its PUBACKs.
    let feeder = std::thread::spawn(move || {
        let mut c = connect(addr, &id("feeder"), true);
        c.stream()
            .set_write_timeout(Some(scaled(Duration::from_secs(30))))
            .unwrap();
        for n in 1..=600u16 {
            c.send(&raw::publish(
                "slow/t",
                &payload(n),
                1,
                false,
                false,
                Some(n),
            ));
        }
        let mut acks = 0;
        while acks < 600 && c.read_packet(scaled(Duration::from_secs(30))).is_some() {
            acks += 1;
        }
        acks
    });

    // Meanwhile a clean-session client's round trips.
    let mut live = connect(addr, &id("live"), true);
    assert_eq!(raw_subscribe(&mut live, 1, &[("live/echo", 0)]), vec![0]);
    assert!(
        broker.wait_for_log("the store is behind", scaled(Duration::from_secs(10))),
        "the feeder was paused; log:\n{}",
        broker.log()
    );
    let mut worst = Duration::ZERO;
    for n in 0..20u16 {
        let started = Instant::now();
        live.send(&raw::publish(
            "live/echo",
            &n.to_be_bytes(),
            0,
            false,
            false,
            None,
        ));
        let echo = live.read_packet(wait()).expect("the echo");
        assert_eq!(raw::parse_publish(&echo).unwrap().payload, n.to_be_bytes());
        worst = worst.max(started.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("worst clean-session round trip while the store is behind: {worst:?}");
    assert!(
        worst < scaled(Duration::from_millis(100)),
        "clean-session round trip {worst:?} while the store is behind"
    );
    assert_eq!(feeder.join().unwrap(), 600, "every message acknowledged");
    let mut publisher = connect(addr, &id("after"), true);
    publish(&mut publisher, "live/echo", b"still serving", 1, false, 1);
}

#[test]
fn sync_mode_acknowledges_a_bridged_message_only_once_it_is_stored() {
    let Some(fs) = Tmpfs::mount("2m") else {
        return;
    };
    let cloud = Cloud::start("");
    let store = fs.path().join("data");
    let mut edge = Broker::start_with(BrokerOptions::new(&format!(
        "persistence_sync true\npersistence_location {}\n\
         connection cloud\naddress 127.0.0.1:{}\nremote_clientid {}\n\
         restart_timeout 1 2\ntopic down/# in 1\n",
        store.display(),
        cloud.port(),
        id("edge")
    )));
    let connected = |edge: &Broker, n| {
        assert!(
            edge.wait_for_log_count(
                "bridge cloud: connected",
                n,
                scaled(Duration::from_secs(15))
            ),
            "the bridge did not connect:\n{}",
            edge.log()
        );
    };
    connected(&edge, 1);
    let sub = id("durable");
    park_subscriber(edge.addr(), &sub, "down/#");
    let filler = fs.fill();

    // The cloud's publisher is acknowledged by the cloud; the cloud then
    // waits for the edge's PUBACK, which the full disk holds back.
    // Big enough to need new pages of the full filesystem.
    let kept = vec![b'k'; 16 * 1024];
    let mut cloud_pub = connect(cloud.addr(), &id("cpub"), true);
    publish(&mut cloud_pub, "down/x", &kept, 1, false, 1);
    assert!(
        edge.wait_for_log("store failed", wait()),
        "the outage is logged: {}",
        edge.log()
    );
    std::thread::sleep(scaled(Duration::from_millis(300)));

    // A crash while the message exists only in the edge's memory.
    edge.kill9();
    std::fs::remove_file(filler).unwrap();
    edge.restart();
    connected(&edge, 1);
    let mut c = connect(edge.addr(), &sub, false);
    let got = collect_within(&mut c, 1, scaled(Duration::from_secs(20)));
    assert!(
        got[0].payload == kept,
        "the cloud resent what the edge had not acknowledged"
    );
}

/// `n` messages published at QoS 1, each acknowledged within `wait()`;
/// their numbers.
fn publish_some(addr: SocketAddr, first: u16, n: u16) -> Vec<u16> {
    let mut publisher = connect(addr, &id("pub"), true);
    let numbers: Vec<u16> = (first..first + n).collect();
    for &k in &numbers {
        assert!(publish_acked(&mut publisher, "fault/t", k, wait()));
    }
    numbers
}

/// After SIGKILL and a restart the parked subscriber gets `acked`, in order.
fn check_after_crash(broker: &mut Broker, sub: &str, acked: &[u16]) {
    broker.kill9();
    broker.restart();
    let mut c = connect(broker.addr(), sub, false);
    let got = collect_within(&mut c, acked.len(), scaled(Duration::from_secs(30)));
    let delivered: Vec<u16> = got
        .iter()
        .map(|m| {
            let text = String::from_utf8_lossy(&m.payload);
            let number = text.trim_start_matches('m').split(':').next().unwrap_or("");
            number.parse().unwrap()
        })
        .collect();
    assert_eq!(
        delivered,
        acked,
        "every acknowledged message, in order (acknowledged but lost: {})",
        acked.iter().filter(|n| !delivered.contains(n)).count()
    );
}

/// The store's write errors as the SIGUSR1 report counts them
/// (`SIGUSR1: store ok: N flushes, N write errors, …`).
fn store_write_errors(broker: &Broker) -> u64 {
    const MARK: &str = "SIGUSR1: store";
    let before = broker.log().matches(MARK).count();
    broker.report(wait());
    // The store's line follows the counters' line.
    broker.wait_for_log_count(MARK, before + 1, wait());
    let log = broker.log();
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains(MARK))
        .unwrap_or_else(|| panic!("no store line in the SIGUSR1 report:\n{log}"));
    let (head, _) = line.split_once(" write errors").unwrap();
    head.rsplit(' ').next().unwrap().parse().unwrap()
}

/// A clean-session client's message to itself comes back: the broker
/// serves what needs no store.
fn assert_serving(addr: SocketAddr, what: &str) {
    let mut live = connect(addr, &id("live"), true);
    assert_eq!(raw_subscribe(&mut live, 1, &[("live/echo", 0)]), vec![0]);
    live.send(&raw::publish("live/echo", b"up", 0, false, false, None));
    let echo = live
        .read_packet(wait())
        .unwrap_or_else(|| panic!("{what}: no echo"));
    assert_eq!(raw::parse_publish(&echo).unwrap().payload, b"up", "{what}");
}

#[test]
fn sync_mode_survives_its_store_directory_being_removed() {
    let mut broker = Broker::start("persistence_sync true\nmax_queued_messages 400\n");
    let addr = broker.addr();
    let sub = id("durable");
    park_subscriber(addr, &sub, "fault/#");
    let mut acked = publish_some(addr, 1, 10);

    // sled's files stay open and writable: without a check every flush
    // would "succeed" into files no path reaches.
    std::fs::remove_dir_all(broker.data_dir()).unwrap();
    acked.extend(publish_some(addr, 11, 10));
    assert!(
        broker.wait_for_log("the store directory was removed or replaced", wait()),
        "the removal is noticed and logged:\n{}",
        broker.log()
    );
    assert!(
        broker.wait_for_log("written again, whole, to a new directory", wait()),
        "the store is written again by itself:\n{}",
        broker.log()
    );
    assert!(
        broker.data_dir().join("db").exists(),
        "a new store at the path"
    );
    assert_serving(addr, "after the removal");
    let report = broker.log();
    assert!(report.contains("store is back"), "{report}");
    assert!(store_write_errors(&broker) >= 1, "counted");
    check_after_crash(&mut broker, &sub, &acked);
}

/// An ext4 image on a loop device mounted with `errors=remount-ro`: the
/// kernel's own way for a filesystem to turn read-only under writers (a
/// tmpfs refuses `mount -o remount,ro` while sled has files open for
/// writing: EBUSY). Unmounted when dropped.
struct Ext4 {
    dir: tempfile::TempDir,
    image: PathBuf,
}

impl Ext4 {
    /// `None`, with the reason printed, where it cannot be made.
    fn mount() -> Option<Ext4> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let root = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0");
        if !root {
            eprintln!("skipped: a loop-mounted ext4 needs root");
            return None;
        }
        for (tool, arg) in [
            ("losetup", "--version"),
            ("findmnt", "--version"),
            ("e2fsck", "-V"),
        ] {
            if Command::new(tool).arg(arg).output().is_err() {
                eprintln!("skipped: no {tool} (e2fsprogs, mount, util-linux)");
                return None;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().with_extension("img");
        let ok = |cmd: &mut Command| cmd.output().is_ok_and(|o| o.status.success());
        if !ok(Command::new("truncate").arg("-s").arg("32M").arg(&image))
            || !ok(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image))
        {
            eprintln!("skipped: cannot make an ext4 image (mkfs.ext4, e2fsprogs)");
            let _ = std::fs::remove_file(&image);
            return None;
        }
        let fs = Ext4 { dir, image };
        if !fs.mount_image() {
            eprintln!("skipped: cannot loop-mount an ext4 image here");
            return None;
        }
        Some(fs)
    }

    fn mount_image(&self) -> bool {
        Command::new("mount")
            .args(["-o", "loop,errors=remount-ro"])
            .arg(&self.image)
            .arg(self.dir.path())
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// An ext4 error (as a failing block would raise): the filesystem goes
    /// read-only at once, every write fails with EROFS.
    fn fail(&self) -> bool {
        let out = Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(self.path())
            .output()
            .unwrap();
        let source = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let Some(dev) = source.strip_prefix("/dev/") else {
            return false;
        };
        std::fs::write(format!("/sys/fs/ext4/{dev}/trigger_fs_error"), "1").is_ok()
    }

    /// The operator's repair: detach the read-only filesystem, check the
    /// image, mount it again at the same path.
    fn repair(&self) {
        assert!(Command::new("umount")
            .arg("-l")
            .arg(self.path())
            .status()
            .unwrap()
            .success());
        // The detached filesystem lives on while files on it are open (the
        // broker closes sled after the failure); checking the image before
        // it is gone would race its last writes.
        let deadline = Instant::now() + wait();
        while Instant::now() < deadline {
            let attached = Command::new("losetup")
                .arg("-j")
                .arg(&self.image)
                .output()
                .unwrap();
            if attached.stdout.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let fsck = Command::new("e2fsck")
            .args(["-f", "-y"])
            .arg(&self.image)
            .output()
            .unwrap();
        assert!(
            fsck.status.code().is_some_and(|c| c <= 1),
            "e2fsck: {fsck:?}"
        );
        assert!(self.mount_image(), "mount the repaired image again");
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        let _ = std::fs::remove_file(&self.image);
    }
}

#[test]
fn sync_mode_never_acknowledges_what_a_read_only_disk_did_not_store() {
    let Some(fs) = Ext4::mount() else {
        return;
    };
    let store = fs.path().join("data");
    let mut broker = Broker::start_with(BrokerOptions::new(&format!(
        "persistence_sync true\npersistence_location {}\nmax_queued_messages 400\n",
        store.display()
    )));
    let addr = broker.addr();
    let sub = id("durable");
    park_subscriber(addr, &sub, "fault/#");
    let mut acked = publish_some(addr, 1, 10);
    if !fs.fail() {
        eprintln!("skipped: this kernel has no ext4 trigger_fs_error");
        return;
    }

    let mut publisher = connect(addr, &id("pub"), true);
    assert!(
        !publish_acked(
            &mut publisher,
            "fault/t",
            11,
            scaled(Duration::from_millis(1500))
        ),
        "acknowledged on a read-only filesystem; log:\n{}",
        broker.log()
    );
    assert!(
        broker.wait_for_log("store failed", wait()),
        "the outage is logged: {}",
        broker.log()
    );
    assert_serving(addr, "while the store is read-only");
    assert!(store_write_errors(&broker) >= 1, "counted");

    fs.repair();
    assert!(
        wait_puback(&mut publisher, 11, scaled(Duration::from_secs(15))),
        "the held PUBACK once the store is writable again; log:\n{}",
        broker.log()
    );
    acked.push(11);
    assert!(broker.wait_for_log("store is back", wait()));
    for n in 12..=20 {
        assert!(publish_acked(&mut publisher, "fault/t", n, wait()));
        acked.push(n);
    }
    check_after_crash(&mut broker, &sub, &acked);
}

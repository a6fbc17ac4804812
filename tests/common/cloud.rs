//! A Debian `mosquitto` broker started by a test as "the cloud" for bridge
//! tests: a free loopback port, a config written here, its log in a file,
//! and the process killed by its own PID when the [`Cloud`] is dropped.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{scaled, Broker};

pub struct Cloud {
    dir: tempfile::TempDir,
    port: u16,
    extra: String,
    env: Vec<(String, String)>,
    child: Option<Child>,
    starts: usize,
}

/// A port that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

impl Cloud {
    /// Starts mosquitto on a free port with `extra` config lines after its
    /// own `listener PORT 127.0.0.1` and `allow_anonymous true`; waits until
    /// the port accepts connections.
    pub fn start(extra: &str) -> Cloud {
        Cloud::start_on(free_port(), extra)
    }

    /// Writes the config now but does not start the process (a cloud that
    /// is down when the edge starts).
    pub fn prepared(extra: &str) -> Cloud {
        let dir = tempfile::Builder::new()
            .prefix("edgemq-cloud-")
            .tempdir()
            .expect("create a temporary directory");
        Cloud {
            dir,
            port: free_port(),
            extra: extra.to_owned(),
            env: Vec::new(),
            child: None,
            starts: 0,
        }
    }

    pub fn start_on(port: u16, extra: &str) -> Cloud {
        let mut cloud = Cloud::prepared(extra);
        cloud.port = port;
        cloud.spawn();
        cloud
    }

    /// An environment variable for the process (set before `spawn`).
    pub fn env(mut self, key: &str, value: &str) -> Cloud {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn conf_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    /// Starts the process (again, on the same port and config).
    pub fn spawn(&mut self) {
        let conf = format!(
            "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n{}\n",
            self.port, self.extra
        );
        std::fs::write(self.conf_path(), conf).expect("write mosquitto.conf");
        self.starts += 1;
        let log = File::create(
            self.dir
                .path()
                .join(format!("mosquitto-{}.log", self.starts)),
        )
        .expect("create the log file");
        // Debian installs it in /usr/sbin, not on every user's PATH.
        let program = if Path::new("/usr/sbin/mosquitto").exists() {
            "/usr/sbin/mosquitto"
        } else {
            "mosquitto"
        };
        let child = Command::new(program)
            .arg("-c")
            .arg(self.conf_path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run mosquitto ({e}): install it with `apt-get install mosquitto` (make deps)")
            });
        self.child = Some(child);
        let deadline = Instant::now() + scaled(Duration::from_secs(10));
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "mosquitto did not listen on {} in time:\n{}",
            self.addr(),
            self.log()
        );
    }

    /// Every log file of this cloud, oldest first.
    pub fn log(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                std::fs::read_to_string(self.dir.path().join(format!("mosquitto-{n}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("---- restart ----\n")
    }

    /// Sends a signal by name to the process, by PID.
    pub fn signal(&self, name: &str) {
        let Some(pid) = self.pid() else { return };
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// SIGTERM and wait for the exit (a graceful stop).
    pub fn stop(&mut self) {
        self.signal("TERM");
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + scaled(Duration::from_secs(10));
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // A SIGSTOPped process still dies of SIGKILL.
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("[cloud] mosquitto log:\n{}", self.log());
        }
    }
}

/// Waits (10 s, scaled) until `edge` logged its bridge `cloud` connected
/// `n` times in all; panics with the edge's log otherwise.
pub fn wait_connected(edge: &Broker, n: usize) {
    assert!(
        edge.wait_for_log_count(
            "bridge cloud: connected",
            n,
            scaled(Duration::from_secs(10))
        ),
        "the bridge did not connect:\n{}",
        edge.log()
    );
}

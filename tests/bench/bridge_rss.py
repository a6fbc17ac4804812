#!/usr/bin/env python3
"""RSS per bridge link: an edgemq with N bridges (64 at most) to one
Debian mosquitto over plain TCP (`plain`; `plain5`: the same links
speaking MQTT 5.0, `bridge_protocol_version mqttv50`), TLS with one CA
file (`bridge_cafile`), and TLS with a CA directory holding the system
store and the test CA (`bridge_capath`). The edge's RSS once every link is up, against the same
edge with no bridge, divided by N. One-time costs (TLS code paged in)
are spread over N: use N of 50 or more.

    python3 tests/bench/bridge_rss.py --edgemq target/x86_64-unknown-linux-musl/release/edgemq [-n 60]

Every process is started here and stopped by its PID; only loopback is
used.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tls_idle_rss  # noqa: E402  (its certificates and helpers)
from tls_idle_rss import free_port, rss_kib  # noqa: E402


def make_certs(d):
    """tls_idle_rss's CA and server certificate, plus `cas/`: the system
    store's certificates and that CA."""
    tls_idle_rss.make_certs(d)
    cas = os.path.join(d, "cas")
    os.mkdir(cas, 0o755)
    for name in os.listdir("/etc/ssl/certs"):
        if name.endswith(".pem"):
            shutil.copy(os.path.join("/etc/ssl/certs", name), cas)
    shutil.copy(os.path.join(d, "ca.pem"), os.path.join(cas, "bench-ca.pem"))
    for name in os.listdir(cas):
        os.chmod(os.path.join(cas, name), 0o644)


def wait_port(port):
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"nothing listens on {port}")
            time.sleep(0.05)


def edge(binary, d, mode, n, tls_port, plain_port):
    port = free_port()
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false",
             "log_level info"]
    for i in range(n if mode != "none" else 0):
        lines += [f"connection b{i}", f"remote_clientid edge-b{i}",
                  "topic sensors/# out 1", "notifications false"]
        if mode in ("plain", "plain5"):
            lines.append(f"address 127.0.0.1:{plain_port}")
            if mode == "plain5":
                lines.append("bridge_protocol_version mqttv50")
        else:
            lines.append(f"address localhost:{tls_port}")
            if mode == "cafile":
                lines.append(f"bridge_cafile {d}/ca.pem")
            else:
                lines.append(f"bridge_capath {d}/cas")
    conf = os.path.join(d, f"edge-{mode}.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    log = open(os.path.join(d, f"edge-{mode}.log"), "w+")
    proc = subprocess.Popen([binary, "-c", conf], stdout=log, stderr=log)
    try:
        wait_port(port)
        want = n if mode != "none" else 0
        deadline = time.time() + 60
        while True:
            log.seek(0)
            up = sum(1 for line in log if ": connected (session present" in line)
            if up >= want:
                break
            if time.time() > deadline:
                raise RuntimeError(f"{mode}: {up} of {want} links up")
            time.sleep(0.2)
        time.sleep(2.0)
        return rss_kib(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--edgemq", required=True)
    p.add_argument("-n", type=int, default=60)
    p.add_argument("--modes", default="plain,plain5,cafile,capath")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgemq-bridge-rss-") as d:
        make_certs(d)
        tls_port, plain_port = free_port(), free_port()
        conf = os.path.join(d, "cloud.conf")
        with open(conf, "w") as f:
            f.write(f"listener {tls_port} 127.0.0.1\ncertfile {d}/server.pem\n"
                    f"keyfile {d}/server.key\nlistener {plain_port} 127.0.0.1\n"
                    "allow_anonymous true\nmax_connections -1\nlog_dest stderr\n"
                    "log_type error\n")
        cloud = subprocess.Popen(["/usr/sbin/mosquitto", "-c", conf],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(tls_port)
            base = edge(a.edgemq, d, "none", a.n, tls_port, plain_port)
            print(f"no bridge: {base} KiB")
            for mode in a.modes.split(","):
                rss = edge(a.edgemq, d, mode, a.n, tls_port, plain_port)
                print(f"{a.n} bridges, {mode:<6}: {rss} KiB, {(rss - base) / a.n:.1f} KiB per link")
        finally:
            cloud.kill()
            cloud.wait()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""RSS per idle TLS connection: edgemq against Debian's mosquitto, same
certificate (ECDSA P-256, made here with openssl), same client.

    python3 tests/bench/tls_idle_rss.py --edgemq target/x86_64-unknown-linux-musl/release/edgemq [-n 1000]

compare.sh --tls runs it once per round with its own certificate
(`--certs DIR`: ca.pem, server.pem, server.key) and `--json` (one line per
broker and transport, for its table).

For each broker (and, for reference, each over plain TCP): start it on
127.0.0.1 with persistence off, connect one client, read its RSS, connect
N more clients (TLS handshake, MQTT CONNECT, CONNACK, keepalive 600 s),
wait a second, read its RSS again: (after - before) / N. Every process is
started here and stopped by its PID; only loopback is used.
"""

import argparse
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time


def openssl(cwd, *args):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    openssl(d, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    openssl(d, "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=bench CA",
            "-days", "2", "-out", "ca.pem")
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(d, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key")
    openssl(d, "req", "-new", "-key", "server.key", "-subj", "/CN=localhost", "-out", "server.csr")
    openssl(d, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem")
    os.chmod(d, 0o755)
    for name in os.listdir(d):
        os.chmod(os.path.join(d, name), 0o644)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def config(kind, port, d, certs, tls, n):
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false"]
    if tls:
        lines += [f"certfile {certs}/server.pem", f"keyfile {certs}/server.key"]
    if kind == "edgemq":
        lines += [f"max_connections {n + 16}", f"max_sessions {2 * n + 32}", "log_level warn"]
    else:
        lines += ["max_connections -1", "log_dest stderr", "log_type error"]
    path = os.path.join(d, f"{kind}-{'tls' if tls else 'tcp'}.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def connect_packet(client_id):
    cid = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x02\x58" + len(cid).to_bytes(2, "big") + cid
    return bytes([0x10, len(body)]) + body


def mqtt_client(port, tls_context, client_id):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock = tls_context.wrap_socket(raw, server_hostname="localhost") if tls_context else raw
    sock.sendall(connect_packet(client_id))
    connack = b""
    while len(connack) < 4:
        chunk = sock.recv(4 - len(connack))
        if not chunk:
            raise RuntimeError("closed before CONNACK")
        connack += chunk
    if connack[0] != 0x20 or connack[3] != 0:
        raise RuntimeError(f"CONNACK {connack!r}")
    return sock


def measure(kind, binary, d, certs, tls, n):
    port = free_port()
    conf = config(kind, port, d, certs, tls, n)
    args = [binary, "-c", conf]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError(f"{kind} did not listen")
                time.sleep(0.05)
        context = None
        if tls:
            context = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
        clients = [mqtt_client(port, context, "warm")]
        time.sleep(0.5)
        before = rss_kib(proc.pid)
        for i in range(n):
            clients.append(mqtt_client(port, context, f"c{i}"))
        time.sleep(1.0)
        after = rss_kib(proc.pid)
        for c in clients:
            c.close()
        return before, after, (after - before) / n
    finally:
        proc.kill()
        proc.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--edgemq", required=True)
    p.add_argument("--mosquitto", default="/usr/sbin/mosquitto")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--certs", help="directory with ca.pem, server.pem, server.key "
                   "(default: an ECDSA P-256 set made here)")
    p.add_argument("--json", action="store_true", help="one JSON line per broker and transport")
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4 * a.n + 256)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    with tempfile.TemporaryDirectory(prefix="edgemq-tls-rss-") as d:
        os.chmod(d, 0o755)
        certs = a.certs or d
        if not a.certs:
            make_certs(d)
        if not a.json:
            print(f"{'broker':<10} {'transport':<9} {'RSS before':>11} {'RSS after':>10} {'KiB/conn':>9}")
        for kind, binary in (("edgemq", a.edgemq), ("mosquitto", a.mosquitto)):
            for tls in (False, True):
                before, after, per = measure(kind, binary, d, certs, tls, a.n)
                transport = "tls" if tls else "tcp"
                if a.json:
                    print(f'{{"scenario":"tls_idle_rss","broker":"{kind}","transport":"{transport}",'
                          f'"clients":{a.n},"rss_before_kib":{before},"rss_after_kib":{after},'
                          f'"kib_per_conn":{per:.3f}}}')
                else:
                    print(f"{kind:<10} {transport:<9} {before:>9} K {after:>8} K {per:>9.2f}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()

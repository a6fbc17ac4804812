#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/: real packets of each
MQTT version, broker scripts, the shipped config files and snippets, store
fixture records, password/ACL files and tokens. Run from anywhere; it
rewrites the seed-* files only (regressions-* files are kept). The input
layouts are the harness's (tests/fuzz/harness/*.rs)."""

import base64, hashlib, hmac, json, os, pathlib, struct

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = HERE / "corpus"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / f"seed-{name}").write_bytes(data)


# ---------------------------------------------------------------- codec
def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(b)) + b


def pkt(kind, flags, body):
    return bytes([(kind << 4) | flags]) + varint(len(body)) + body


def props(p=b""):
    return varint(len(p)) + p


def connect(level, client_id, clean=True, will=None, user=None, pw=None, p5=b""):
    name = "MQIsdp" if level == 3 else "MQTT"
    flags = 0x02 if clean else 0
    payload = s(client_id)
    if will:
        flags |= 0x04 | (will[2] << 3) | (0x20 if will[3] else 0)
        if level == 5:
            payload += props(b"\x18\x00\x00\x00\x05")  # will delay 5 s
        payload += s(will[0]) + s(will[1])
    if user is not None:
        flags |= 0x80
        payload += s(user)
    if pw is not None:
        flags |= 0x40
        payload += s(pw)
    body = s(name) + bytes([level, flags]) + struct.pack(">H", 30)
    if level == 5:
        body += props(p5)
    return pkt(1, 0, body + payload)


def publish(v5, topic, payload, qos=0, pid=1, retain=False, dup=False, p5=b""):
    flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
    body = s(topic) + (struct.pack(">H", pid) if qos else b"")
    if v5:
        body += props(p5)
    return pkt(3, flags, body + payload)


def ack(kind, pid, v5=False, reason=None):
    flags = 2 if kind == 6 else 0
    body = struct.pack(">H", pid)
    if v5 and reason is not None:
        body += bytes([reason]) + props()
    return pkt(kind, flags, body)


def subscribe(v5, pid, filters):
    body = struct.pack(">H", pid) + (props(b"\x0b\x05") if v5 else b"")
    for f, o in filters:
        body += s(f) + bytes([o])
    return pkt(8, 2, body)


def unsubscribe(v5, pid, filters):
    body = struct.pack(">H", pid) + (props() if v5 else b"")
    for f in filters:
        body += s(f)
    return pkt(10, 2, body)


def codec_seeds():
    # control byte: version (x % 3: 3.1, 3.1.1, 5.0), read size, cap.
    V31, V311, V5 = 0, 1, 2
    whole = 0x7C  # read size 32, the 4 KiB cap
    streams = {
        "v31-session": (V31, connect(3, "sensor-1") + subscribe(False, 1, [("a/#", 1)])
                        + publish(False, "a/b", b"21.5", 1, 2) + ack(4, 2) + pkt(12, 0, b"") + pkt(14, 0, b"")),
        "v311-session": (V311, connect(4, "dev", clean=False, will=("w/dev", b"gone", 1, True), user="alice", pw="pw")
                         + subscribe(False, 7, [("t/+", 2), ("u/#", 0)]) + publish(False, "t/x", b"hello", 2, 9)
                         + ack(6, 9) + unsubscribe(False, 8, ["t/+"]) + pkt(14, 0, b"")),
        "v311-acks": (V311, ack(4, 1) + ack(5, 2) + ack(6, 3) + ack(7, 4) + pkt(9, 0, b"\x00\x05\x01\x80")
                      + pkt(11, 0, b"\x00\x05") + pkt(2, 0, b"\x01\x00") + pkt(13, 0, b"")),
        "v5-connect-props": (V5, connect(5, "dev5", p5=b"\x11\x00\x00\x0e\x10\x21\x00\x0a\x27\x00\x00\x10\x00\x22\x00\x05"
                                          + b"\x26" + s("k") + s("v"))),
        "v5-will": (V5, connect(5, "w5", will=("w/t", b"bye", 2, False), user="u", pw=b"\x00\xff")),
        "v5-publish-props": (V5, connect(5, "p5") + publish(True, "s/t", b"{}", 1, 3,
                             p5=b"\x01\x01\x02\x00\x00\x00\x3c\x23\x00\x01\x03" + s("application/json")
                             + b"\x08" + s("reply/to") + b"\x09" + s(b"\x01\x02") + b"\x26" + s("a") + s("b"))),
        "v5-alias": (V5, connect(5, "al") + publish(True, "x/y", b"1", 0, p5=b"\x23\x00\x02")
                     + publish(True, "", b"2", 0, p5=b"\x23\x00\x02")),
        "v5-acks": (V5, ack(4, 1, True, 0x10) + ack(5, 2, True, 0x80) + ack(6, 3, True, 0x92) + ack(7, 4, True, 0)
                    + pkt(9, 0, b"\x00\x05\x00\x01\x87") + pkt(11, 0, b"\x00\x05\x00\x00\x11")),
        "v5-subscribe-opts": (V5, connect(5, "s5") + subscribe(True, 3, [("a/+", 0x2e), ("$share/g/b/#", 1)])
                              + unsubscribe(True, 4, ["a/+"])),
        "v5-disconnect": (V5, connect(5, "d5") + pkt(14, 0, b"\x04" + props(b"\x11\x00\x00\x00\x00")) + pkt(14, 0, b"")),
        "v5-auth": (V5, connect(5, "a5", p5=b"\x15" + s("edgemq-token")) + pkt(15, 0, b"\x19" + props(b"\x15" + s("edgemq-token") + b"\x16" + s(b"v1:1:ab")))),
        "v5-connack": (V5, pkt(2, 0, b"\x00\x00" + props(b"\x21\x00\x14\x24\x01\x25\x00\x27\x00\x01\x00\x00"))),
        "split-reads": (0x05 | 0x00, connect(4, "tiny") + publish(False, "a", b"x" * 100, 1, 1)),
        "big-remaining-length": (V311, b"\x30\xff\xff\xff\x7f"),
        "bad-varint": (V311, b"\x30\xff\xff\xff\xff\x01"),
        "reserved-type": (V311, b"\x00\x00"),
        "bad-flags": (V311, b"\x82\x05\x00\x01\x00\x01a"),
        "truncated-connect": (V311, b"\x10\x0c\x00\x04MQTT\x04\x02\x00"),
        "bad-utf8-topic": (V311, publish(False, b"\xed\xa0\x80/\xff", b"")),
        "wildcard-topic": (V311, publish(False, "a/#", b"x")),
        "qos3": (V311, pkt(3, 6, s("a") + b"\x00\x01")),
        "zero-packet-id": (V311, ack(4, 0)),
        "empty-subscribe": (V311, pkt(8, 2, b"\x00\x01")),
        "v5-dup-property": (V5, connect(5, "x", p5=b"\x11\x00\x00\x00\x01\x11\x00\x00\x00\x02")),
        "v5-bad-property-id": (V5, publish(True, "a", b"", 0, p5=b"\x7f\x00")),
        "uncapped-large": (0x80 | V311, publish(False, "a", b"z" * 5000)),
        "pingreq-trailing": (V311, b"\xc0\x01\x00"),
        "unknown-protocol": (V311, b"\x10\x0c\x00\x04MQTT\x07\x02\x00\x1e\x00\x00"),
    }
    for name, (control, stream) in streams.items():
        write("codec", name, bytes([control if control > 2 else control | whole]) + stream)


# ---------------------------------------------------------------- broker
# Opcodes of harness/broker.rs: (client << 4) | op, then the argument.
CONNECT, SUB, UNSUB, PUB, ACK, DISC, DROP, TICK, PING, RAW = 0, 2, 3, 4, 7, 8, 9, 10, 12, 13


def op(client, code, arg=0):
    return bytes([(client << 4) | code, arg])


def raw(client, data):
    assert len(data) < 64, "the harness takes at most 63 raw bytes"
    return bytes([(client << 4) | RAW, len(data)]) + data


def broker_seeds():
    v31, v311, v5 = 0, 1, 2
    clean, expiry, forever, keepalive, silent = 0x04, 0x08, 0x10, 0x20, 0x40
    t_a, t_b, u_c = 0, 1, 2  # topic index << 2 in the publish argument
    scripts = {
        "qos1-fanout": op(0, CONNECT, v311) + op(1, CONNECT, v311) + op(0, SUB, 2) + op(1, SUB, 1)
        + op(2, CONNECT, v311) + op(2, PUB, t_a << 2) + op(0, ACK) + op(1, ACK),
        "qos2-exchange": op(0, CONNECT, v5) + op(0, SUB, 0x80 | 0) + op(1, CONNECT, v5)
        + op(1, PUB, 1 | t_a << 2) + op(0, ACK) + op(0, ACK) + op(0, ACK),
        "offline-queue": op(0, CONNECT, v311) + op(0, SUB, 2) + op(0, DISC) + op(1, CONNECT, v311)
        + op(1, PUB, 0) * 5 + op(0, CONNECT, v311) + op(0, ACK) + op(0, ACK),
        "offline-v5-expiry": op(0, CONNECT, v5 | expiry) + op(0, SUB, 1) + op(0, DROP) + op(1, CONNECT, v5)
        + op(1, PUB, t_b << 2) + op(2, TICK, 2) + op(2, TICK, 3) + op(0, CONNECT, v5 | expiry),
        "clean-start-discards": op(0, CONNECT, v311) + op(0, SUB, 2) + op(0, DISC) + op(1, CONNECT, v31)
        + op(1, PUB, 0) + op(1, PUB, 1) + op(0, CONNECT, v311 | clean),
        "takeover": op(0, CONNECT, v311) + op(0, SUB, 2) + op(1, CONNECT, v311) + op(1, PUB, 0)
        + op(0, CONNECT, v311) + op(0, ACK) + op(1, PUB, 4),
        "inflight-window": op(0, CONNECT, v5) + op(0, SUB, 0x80) + op(1, CONNECT, v311)
        + op(1, PUB, 0) * 3 + op(1, PUB, 1) * 3 + op(0, ACK) + op(0, ACK) + op(0, ACK),
        "lagging-subscriber": op(0, CONNECT, v311) + op(0, SUB, 2) + op(1, CONNECT, v311)
        + op(1, PUB, 0xf0) * 8 + op(2, TICK, 1) * 6 + op(0, ACK),
        "max-connections": op(0, CONNECT, v311) + op(1, CONNECT, v311) + op(2, CONNECT, v311) + op(3, CONNECT, v311),
        "max-sessions": op(0, CONNECT, v5 | expiry) + op(0, DISC) + op(1, CONNECT, v5 | expiry | forever)
        + op(1, DISC) + op(2, CONNECT, v311) + op(2, DISC) + op(3, CONNECT, v311),
        "max-subscriptions": op(0, CONNECT, v311) + b"".join(op(0, SUB, i) for i in range(6)) + op(0, UNSUB, 2),
        "retained": op(0, CONNECT, v311) + op(0, PUB, 2 | t_a << 2) + op(0, PUB, 2 | t_b << 2)
        + op(0, PUB, 2 | u_c << 2) + op(1, CONNECT, v5) + op(1, SUB, 2) + op(1, ACK),
        "keepalive-timeout": op(0, CONNECT, v311 | keepalive) + op(0, SUB, 2) + op(1, TICK, 2) + op(1, TICK, 2)
        + op(1, CONNECT, v311) + op(1, PUB, 0) + op(0, CONNECT, v311),
        "connect-timeout": op(0, CONNECT, silent) + op(1, TICK, 2) + op(0, PING),
        "ping-and-ticks": op(0, CONNECT, v31) + op(0, PING) + op(0, TICK, 0) + op(0, TICK, 1) + op(0, PING),
        "unsubscribe-then-publish": op(0, CONNECT, v311) + op(0, SUB, 1) + op(0, UNSUB, 1)
        + op(1, CONNECT, v311) + op(1, PUB, 4),
        "raw-publish-qos0": op(0, CONNECT, v311) + op(0, SUB, 2) + op(1, CONNECT, v311)
        + raw(1, publish(False, "t/a", b"hi")),
        "raw-garbage": op(0, CONNECT, v311) + raw(0, b"\xf0\x03abc"),
        "raw-second-connect": op(0, CONNECT, v5) + raw(0, connect(4, "again")),
        "raw-will": op(0, CONNECT, v311) + op(0, SUB, 2) + op(1, CONNECT, silent) + raw(1, connect(4, "c1", will=("t/a", b"dead", 1, False)))
        + op(1, DROP) + op(0, ACK),
        "raw-v5-disconnect-expiry": op(0, CONNECT, v5 | expiry)
        + raw(0, pkt(14, 0, b"\x00" + props(b"\x11\x00\x00\x00\x05"))) + op(1, TICK, 1),
    }
    for name, script in scripts.items():
        write("broker", name, script)


# ---------------------------------------------------------------- config
def config_seeds():
    write("config", "shipped-rootfs", (ROOT / "rootfs/etc/edgemq/edgemq.conf").read_bytes())
    write("config", "shipped-systemd", (ROOT / "systemd/edgemq.conf").read_bytes())
    snippets = {
        "empty": "",
        "listeners": "max_connections 100\nlistener 1883 127.0.0.1\nmax_connections 10\nlistener 8883\nprotocol mqtt\n"
        "listener 9001\nprotocol websockets\nlistener 0 /run/edgemq.sock\n",
        "limits": "max_packet_size 65536\nmax_queued_messages 100\nmax_inflight_messages 20\nmax_queued_bytes 1000000\n"
        "queue_qos0_messages true\nmax_keepalive 600\npersistent_client_expiration 2w\nmemory_limit 32M\n",
        "auth": "allow_anonymous false\npassword_file /etc/edgemq/passwd\nacl_file /etc/edgemq/acl\n"
        "auth_token_secret_file /etc/edgemq/token\nauth_jwt_key_file /etc/edgemq/jwt.pem\n",
        "tls": "listener 8883\ncertfile /etc/ssl/c.pem\nkeyfile /etc/ssl/k.pem\ncafile /etc/ssl/ca.pem\n"
        "require_certificate true\nuse_identity_as_username true\ntls_version tlsv1.3\n",
        "bridge": "connection cloud\naddress broker.example.com:8883\ntopic sensors/# out 1 local/ remote/\n"
        "topic cmd/# in 2\nremote_clientid gw-1\nremote_username gw\nremote_password s3cret\ncleansession false\n"
        "keepalive_interval 60\nrestart_timeout 5 60\nbridge_protocol_version mqttv50\nbridge_cafile /etc/ssl/ca.pem\n",
        "persistence": "persistence true\npersistence_location /var/lib/edgemq/\nautosave_interval 30\n",
        "logging": "log_dest syslog\nlog_dest stdout\nlog_type all\nconnection_messages true\nlog_timestamp false\n",
        "rate-limits": "max_connection_rate 20\nmax_publish_rate 100\nmax_publish_bytes_rate 1M\n",
        "observe": "sys_interval 10\nadmin_listener 127.0.0.1:8080\n",
        "bad-values": "max_packet_size lots\nallow_anonymous yes\nlistener -1\n",
        "unknown-key": "foo bar\n",
        "bom-crlf": "\ufeffallow_anonymous true\r\nlistener 1883\r\n",
        "credentials": "listener 1883\npassword_file %CREDENTIALS_DIRECTORY%/passwd\n",
        "durations": "persistent_client_expiration 1y\nmax_keepalive 65535\npersistent_client_expiration 0m\n",
    }
    for name, text in snippets.items():
        write("config", name, text)


# ---------------------------------------------------------------- store
TREES = ["meta", "sessions", "messages", "deliveries", "inbound", "retained", "bridge"]


def store(tree, key, value, clock=0):
    return bytes([TREES.index(tree), clock, len(key)]) + key + value


def store_seeds():
    fx = ROOT / "tests/fixtures/store"
    msg_key = struct.pack(">QQ", 1, 7)
    bridge_key = struct.pack(">H", 5) + b"cloud" + struct.pack(">Q", 3)
    records = {
        "v1-clock": store("meta", b"clock", (fx / "v1/clock.bin").read_bytes()),
        "v1-format": store("meta", b"format", (fx / "v1/format.bin").read_bytes()),
        "v1-session": store("sessions", b"sensor-1", (fx / "v1/session.bin").read_bytes()),
        "v1-message": store("messages", msg_key, (fx / "v1/message.bin").read_bytes()),
        "v1-delivery": store("deliveries", msg_key, (fx / "v1/delivery.bin").read_bytes()),
        "v1-retained": store("retained", b"a/b", (fx / "v1/retained.bin").read_bytes()),
        "v2-session": store("sessions", b"dev-5", (fx / "v2/session.bin").read_bytes()),
        "v2-session-stale-clock": store("sessions", b"dev-5", (fx / "v2/session.bin").read_bytes(), 1),
        "v2-message": store("messages", msg_key, (fx / "v2/message.bin").read_bytes()),
        "v2-message-end-of-time": store("messages", msg_key, (fx / "v2/message.bin").read_bytes(), 2),
        "v2-retained": store("retained", b"status/x", (fx / "v2/retained.bin").read_bytes()),
        "v2-retained-flush-future": store("retained", b"status/x", (fx / "v2/retained.bin").read_bytes(), 3),
        "v2-bridge": store("bridge", bridge_key, (fx / "v2/bridge_message.bin").read_bytes()),
        "inbound": store("inbound", struct.pack(">QH", 1, 9), b""),
        "inbound-zero-id": store("inbound", struct.pack(">QH", 1, 0), b""),
        "newer-version": store("sessions", b"x", b"\x09\x01\x02"),
        "empty-value": store("messages", msg_key, b""),
        "bad-key": store("messages", b"short", (fx / "v2/message.bin").read_bytes()),
    }
    for name, data in records.items():
        write("store_record", name, data)


# ---------------------------------------------------------------- auth files
KEY = b"fuzzing-key-fuzzing-key-fuzzing!"
NOW = 1_780_000_000


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def jwt(header, claims):
    signed = b64url(header.encode()) + b"." + b64url(claims.encode())
    return signed + b"." + b64url(hmac.new(KEY, signed, hashlib.sha256).digest())


def token(client, user, expiry):
    tag = hmac.new(KEY, f"{client}\n{user}\n{expiry}".encode(), hashlib.sha256).hexdigest()
    return f"v1:{expiry}:{tag}"


def auth_seeds():
    pw7 = "alice:$7$101$ENTtIy0JhtQOoMQa$I7BnvpkLC84dwMZCLJLM0wvvGmQs15rGgNlOqgIxCLOosLAlfEFoXISOXS4dEC3drK4M/cUvo4kTSoffvT2JhA=="
    pw6 = "bob:$6$A7DixVtrAE8HlOb4$Nu7GlKfNO3VbWgQxMpb6pVHs6UgrmuUKEULp6a3zEEzEBgaDaxXpxg49Jh8fs8Uiuytaac1rkFabEn6kIv4Lbg=="
    hs = '{"alg":"HS256","typ":"JWT"}'
    inputs = {
        # selector 0: password file
        "passwd": b"\x00" + f"{pw7}\n  {pw6}  \r\n# comment\n\n".encode(),
        "passwd-bad-hash": b"\x00alice:$5$abc$def\n",
        "passwd-two-colons": b"\x00a:b:c\n",
        "passwd-iterations": b"\x00u:$7$0$ENTtIy0JhtQOoMQa$I7Bn\n",
        # selector 1: ACL file
        "acl-basic": b"\x01topic read r/#\ntopic write w/#\ntopic readwrite rw/#\ntopic both/#\n",
        "acl-users": b"\x01user alice\ntopic readwrite devices/alice/#\ntopic deny secret/#\nuser c1\ntopic read a/+\n",
        "acl-patterns": b"\x01pattern readwrite devices/%c/#\npattern deny locked/%u/#\npattern read stat/%u-%c\n",
        "acl-sys": b"\x01topic readwrite #\ntopic read $SYS/broker/#\n",
        "acl-errors": b"\x01topic read a/#/b\npattern write a+\nuser\n",
        # selector 2: signed token
        "token-valid": b"\x02" + token("client", "user", NOW + 60).encode(),
        "token-expired": b"\x02" + token("client", "user", NOW - 1).encode(),
        "token-leading-zero": b"\x02v1:0123:" + b"ab" * 32,
        # selector 3: JWT as a client sends it
        "jwt-valid": b"\x03" + jwt(hs, f'{{"sub":"user","exp":{NOW + 60}}}'),
        "jwt-acl": b"\x03" + jwt(hs, f'{{"sub":"user","clientid":"client","exp":{NOW + 60},"nbf":1700000000,'
                                 '"acl":{"pub":["devices/client/#"],"sub":["cmd/+","b"]}}'),
        "jwt-none": b"\x03" + b64url(b'{"alg":"none"}') + b"." + b64url(b'{"sub":"user"}') + b".",
        "jwt-two-parts": b"\x03eyJhbGciOiJIUzI1NiJ9.e30",
        # selector 4: header and claims, signed by the harness
        "signed-claims": b"\x04" + hs.encode() + b"\0" + f'{{"sub":"user","exp":{NOW + 60}}}'.encode(),
        "signed-crit": b"\x04" + b'{"alg":"HS256","crit":["x"]}\0{"sub":"user","exp":1}',
        "signed-nested": b"\x04" + hs.encode() + b'\0{"sub":"user","exp":1e99,"x":[[[[{"a":"\\u00e9\\ud83d\\ude00"}]]]]}',
        "signed-acl-many": b"\x04" + hs.encode() + b"\0" + ('{"sub":"user","exp":%d,"acl":{"sub":[%s"x"]}}'
                                                          % (NOW + 9, '"x",' * 70)).encode(),
        "signed-bad-json": b"\x04" + hs.encode() + b'\0{"sub":"user",,}',
        "signed-numbers": b"\x04" + hs.encode() + b'\0{"sub":"user","exp":-0.5e-3,"nbf":18446744073709551616}',
    }
    for name, data in inputs.items():
        write("auth_files", name, data)


if __name__ == "__main__":
    for d in CORPUS.glob("*/seed-*"):
        d.unlink()
    codec_seeds()
    broker_seeds()
    config_seeds()
    store_seeds()
    auth_seeds()
    for d in sorted(CORPUS.iterdir()):
        print(d.name, len(list(d.iterdir())))

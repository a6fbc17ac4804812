"""paho-mqtt's WebSocket transport over TLS (wss://) against edgemq
(tests/e2e_wss.rs runs it; mqttjs_wss_round_trip.js is the same script).

Usage: python paho_wss_round_trip.py HOST PORT PATH CLIENT_ID CAFILE CERT KEY EXPECTED
CERT and KEY are "-" for no client certificate. Trusts only CAFILE and
checks the server's name. Subscribes to wss/in/# at QoS 2 and prints
"ready QOS"; then publishes, in this order:
  wss/out/seq "seq I from paho" at QoS I % 3, for I in 0..5,
  wss/out/big, 300,000 bytes of pattern(1) at QoS 2,
  wss/out/seq "seq 6 from paho" at QoS 1.
For each message on wss/in/ prints "got TOPIC QOS PAYLOAD", where a payload
of wss/in/big is printed as "LENGTH ok" if it is pattern(2) and
"LENGTH bad" if not. Exits 0 after EXPECTED messages, 2 after 30 s,
1 on an error.
"""
import sys
import threading

import paho.mqtt.client as mqtt

host, port, path, client_id, cafile, cert, key, expected = sys.argv[1:9]
port, expected = int(port), int(expected)
done = threading.Event()
received = []
BIG = 300000


def pattern(length, seed):
    return bytes((i * 7 + seed) % 251 for i in range(length))


def on_connect(client, userdata, flags, reason_code, properties=None):
    if reason_code != 0:
        print("error connack %s" % reason_code, flush=True)
        sys.exit(1)
    client.subscribe("wss/in/#", qos=2)


def on_subscribe(client, userdata, mid, reason_codes, properties=None):
    print("ready " + ",".join(str(int(getattr(r, "value", r))) for r in reason_codes), flush=True)
    for i in range(6):
        client.publish("wss/out/seq", "seq %d from paho" % i, qos=i % 3)
    client.publish("wss/out/big", pattern(BIG, 1), qos=2)
    client.publish("wss/out/seq", "seq 6 from paho", qos=1)


def on_message(client, userdata, message):
    if message.topic == "wss/in/big":
        ok = "ok" if message.payload == pattern(len(message.payload), 2) else "bad"
        text = "%d %s" % (len(message.payload), ok)
    else:
        text = message.payload.decode()
    print("got %s %d %s" % (message.topic, message.qos, text), flush=True)
    received.append(message)
    if len(received) == expected:
        done.set()


def on_disconnect(client, userdata, flags, reason_code, properties=None):
    if not done.is_set():
        print("error disconnected %s" % reason_code, flush=True)


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, transport="websockets")
client.ws_set_options(path=path)
client.tls_set(
    ca_certs=cafile,
    certfile=None if cert == "-" else cert,
    keyfile=None if key == "-" else key,
)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.on_disconnect = on_disconnect
try:
    client.connect(host, port)
except Exception as e:  # the handshake failed: say why
    print("error %s" % e, flush=True)
    sys.exit(1)
client.loop_start()
ok = done.wait(30)
client.disconnect()
client.loop_stop()
sys.exit(0 if ok else 2)

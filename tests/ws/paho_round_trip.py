"""paho-mqtt's WebSocket transport against edgemq (tests/e2e_websocket.rs).

Usage: python paho_round_trip.py HOST PORT PATH CLIENT_ID
Same script as mqttjs_round_trip.js: subscribes to ws/in/# at QoS 2 and
prints "ready", publishes ws/out/0..2 at QoS 0, 1 and 2, prints
"got TOPIC QOS PAYLOAD" for each message on ws/in/ and exits 0 after three;
exits 2 after 20 s.
"""
import sys
import threading

import paho.mqtt.client as mqtt

host, port, path, client_id = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
done = threading.Event()
received = []


def on_connect(client, userdata, flags, reason_code, properties=None):
    client.subscribe("ws/in/#", qos=2)


def on_subscribe(client, userdata, mid, reason_codes, properties=None):
    print("ready " + ",".join(str(int(getattr(r, "value", r))) for r in reason_codes), flush=True)
    for qos in (0, 1, 2):
        client.publish("ws/out/%d" % qos, "from paho %d" % qos, qos=qos)


def on_message(client, userdata, message):
    print("got %s %d %s" % (message.topic, message.qos, message.payload.decode()), flush=True)
    received.append(message)
    if len(received) == 3:
        done.set()


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, transport="websockets")
client.ws_set_options(path=path)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect(host, port)
client.loop_start()
ok = done.wait(20)
client.disconnect()
client.loop_stop()
sys.exit(0 if ok else 2)

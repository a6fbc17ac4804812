// MQTT.js over ws:// against edgemq (tests/e2e_websocket.rs runs it).
// Usage: node mqttjs_round_trip.js URL CLIENT_ID PROTOCOL_VERSION
// Subscribes to ws/in/# at QoS 2 and prints "ready"; publishes ws/out/0..2
// at QoS 0, 1 and 2 (the test's TCP client subscribes to them); prints
// "got TOPIC QOS PAYLOAD" for each message the test publishes to ws/in/0..2
// and exits 0 after three. Exits 2 after 20 s, 1 on an error.
const mqtt = require('mqtt');
const [url, clientId, version] = process.argv.slice(2);
const client = mqtt.connect(url, {
  clientId,
  protocolVersion: Number(version),
  reconnectPeriod: 0,
  connectTimeout: 10000,
});
const fail = (why) => { console.log('error ' + why); process.exit(1); };
setTimeout(() => { console.log('timeout'); process.exit(2); }, 20000);
client.on('error', (e) => fail(e.message));
client.on('close', () => { if (received < 3) fail('closed'); });
let received = 0;
client.on('connect', () => {
  client.subscribe('ws/in/#', { qos: 2 }, (err, granted) => {
    if (err) return fail(err.message);
    console.log('ready ' + granted.map((g) => g.qos).join(','));
    for (const qos of [0, 1, 2]) {
      client.publish('ws/out/' + qos, 'from mqtt.js ' + qos, { qos }, (e) => {
        if (e) fail(e.message);
      });
    }
  });
});
client.on('message', (topic, payload, packet) => {
  console.log(`got ${topic} ${packet.qos} ${payload.toString()}`);
  if (++received === 3) client.end(false, {}, () => process.exit(0));
});

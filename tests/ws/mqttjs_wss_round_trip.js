// MQTT.js over wss:// against edgemq (tests/e2e_wss.rs runs it;
// paho_wss_round_trip.py is the same script, its docstring says what it
// does).
// Usage: node mqttjs_wss_round_trip.js URL CLIENT_ID PROTOCOL_VERSION CAFILE CERT KEY EXPECTED
// CERT and KEY are "-" for none. Exits 0 after EXPECTED messages, 2 after
// 30 s, 1 on an error.
const fs = require('fs');
const mqtt = require('mqtt');
const [url, clientId, version, cafile, cert, key, expected] = process.argv.slice(2);
const BIG = 300000;
const pattern = (length, seed) => {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 7 + seed) % 251;
  return b;
};
const options = {
  clientId,
  protocolVersion: Number(version),
  reconnectPeriod: 0,
  connectTimeout: 10000,
  ca: [fs.readFileSync(cafile)],
  rejectUnauthorized: true,
};
if (cert !== '-') {
  options.cert = fs.readFileSync(cert);
  options.key = fs.readFileSync(key);
}
const client = mqtt.connect(url, options);
const fail = (why) => { console.log('error ' + why); process.exit(1); };
setTimeout(() => { console.log('timeout'); process.exit(2); }, 30000);
client.on('error', (e) => fail(e.message));
client.on('close', () => { if (received < Number(expected)) fail('closed'); });
let received = 0;
client.on('connect', () => {
  client.subscribe('wss/in/#', { qos: 2 }, (err, granted) => {
    if (err) return fail(err.message);
    console.log('ready ' + granted.map((g) => g.qos).join(','));
    const done = (e) => { if (e) fail(e.message); };
    for (let i = 0; i < 6; i++) {
      client.publish('wss/out/seq', `seq ${i} from mqtt.js`, { qos: i % 3 }, done);
    }
    client.publish('wss/out/big', pattern(BIG, 1), { qos: 2 }, done);
    client.publish('wss/out/seq', 'seq 6 from mqtt.js', { qos: 1 }, done);
  });
});
client.on('message', (topic, payload, packet) => {
  let text;
  if (topic === 'wss/in/big') {
    text = `${payload.length} ${payload.equals(pattern(payload.length, 2)) ? 'ok' : 'bad'}`;
  } else {
    text = payload.toString();
  }
  console.log(`got ${topic} ${packet.qos} ${text}`);
  if (++received === Number(expected)) client.end(false, {}, () => process.exit(0));
});

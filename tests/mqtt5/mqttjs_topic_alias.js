// MQTT.js as an MQTT 5 subscriber that allows topic aliases
// (tests/e2e_mqtt5_session.rs): resolves the aliases edgemq sends.
//
// Usage: node mqttjs_topic_alias.js URL CLIENT_ID TOPIC_ALIAS_MAXIMUM COUNT
// Subscribes to to/# and prints "ready", then "got TOPIC PAYLOAD" for each
// message; exits 0 after COUNT messages, 2 after 20 s.
const mqtt = require('mqtt');

const [url, clientId, aliasMaximum, count] = process.argv.slice(2);
const client = mqtt.connect(url, {
  clientId,
  protocolVersion: 5,
  reconnectPeriod: 0,
  properties: { topicAliasMaximum: Number(aliasMaximum) },
});
let received = 0;
client.on('connect', () => {
  client.subscribe('to/#', { qos: 0 }, () => console.log('ready'));
});
client.on('message', (topic, payload) => {
  console.log(`got ${topic} ${payload.toString()}`);
  received += 1;
  if (received === Number(count)) {
    client.end(false, () => process.exit(0));
  }
});
client.on('error', (e) => {
  console.log(`error ${e.message}`);
  process.exit(1);
});
setTimeout(() => process.exit(2), 20000);

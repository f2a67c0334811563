// MQTT.js, a third-party client, driven by the end-to-end tests.
//
//   node mqttjs_client.js URL [--ca FILE] [--version 4|5] [--username U --password P]
//                         [--subscribe FILTER] [--publish TOPIC] [--count N] [--qos Q] [--timeout MS]
//
// Connects to URL (mqtt://, mqtts://, ws://, wss://), subscribes to FILTER
// (when given), publishes N messages "msg-0".."msg-N-1" to TOPIC (when
// given), waits until N messages arrived on the subscription (or the
// timeout), then prints one JSON line: {"connected": bool, "error": text,
// "suback": [granted QoS...], "published": N, "received": [{topic, payload}]}.
'use strict';

const fs = require('fs');
const mqtt = require('mqtt');

function parseArgs(argv) {
  const args = { url: argv[0], count: 0, qos: 1, version: 4, timeout: 10000 };
  for (let i = 1; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    args[key] = argv[i + 1];
  }
  args.count = Number(args.count);
  args.qos = Number(args.qos);
  args.version = Number(args.version);
  args.timeout = Number(args.timeout);
  return args;
}

const args = parseArgs(process.argv.slice(2));
const result = { connected: false, error: null, suback: [], published: 0, received: [] };
let finished = false;

const options = {
  protocolVersion: args.version,
  clientId: 'mqttjs-' + process.pid,
  reconnectPeriod: 0,
  connectTimeout: args.timeout,
  clean: true,
};
if (args.ca) {
  options.ca = fs.readFileSync(args.ca);
  options.rejectUnauthorized = true;
}
if (args.username !== undefined) options.username = args.username;
if (args.password !== undefined) options.password = args.password;

const client = mqtt.connect(args.url, options);

function finish() {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(result) + '\n');
  client.end(true, () => process.exit(0));
  setTimeout(() => process.exit(0), 1000);
}

setTimeout(() => {
  if (!result.error) result.error = 'timeout';
  finish();
}, args.timeout);

client.on('error', (err) => {
  result.error = String(err && err.message ? err.message : err);
  finish();
});
client.on('close', () => {
  if (!result.connected && !result.error) result.error = 'connection closed';
  if (!result.connected) finish();
});

client.on('message', (topic, payload) => {
  result.received.push({ topic, payload: payload.toString() });
  if (result.received.length >= args.count) finish();
});

async function publishAll() {
  for (let i = 0; i < args.count; i++) {
    await client.publishAsync(args.publish, 'msg-' + i, { qos: args.qos });
    result.published++;
  }
}

client.on('connect', async () => {
  result.connected = true;
  try {
    if (args.subscribe) {
      const granted = await client.subscribeAsync(args.subscribe, { qos: args.qos });
      result.suback = granted.map((g) => g.qos);
    }
    if (args.publish) await publishAll();
    if (!args.subscribe || args.count === 0) finish();
  } catch (err) {
    result.error = String(err && err.message ? err.message : err);
    finish();
  }
});

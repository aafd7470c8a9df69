// The usage queue under sustained load: the gateway (pinned to core 0, as `npm start` runs it)
// serves non-stream requests at N connections for a few seconds, after a warm-up, while this
// script reads its /metrics every 300 ms. Prints the most usage rows that waited for the store,
// the requests held until the store caught up (tollgate_requests_held_total), the load's RPS
// and p99, and the gateway's peak RSS. Never run by CI.
//   node bench/store-behind.mjs [--connections 128] [--seconds 6] [--node-flags '--trace-gc-nvp' --gc-log FILE] [--env JSON]
// --node-flags passes V8/Node flags to the gateway; --gc-log FILE writes its stdout (a GC trace) to
// FILE; --env adds variables to its environment (e.g. '{"MALLOC_ARENA_MAX":"1"}').
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from './load.mjs';
import { ADMIN_TOKEN, benchConfig, createKey, freePort, gateway, killAll, numberOption, option, peakRssMb, start } from './support.mjs';

const connections = numberOption('--connections', 128);
const seconds = numberOption('--seconds', 6);
const upPort = await freePort();
const tgPort = await freePort();
await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(upPort)], 'listening');
const dir = mkdtempSync(join(tmpdir(), 'tollgate-store-behind-'));
writeFileSync(join(dir, 'tollgate.yaml'), benchConfig({ port: tgPort, storageUrl: `sqlite://${join(dir, 'tg.db')}`, upstream: `http://127.0.0.1:${upPort}/v1` }));
const g = gateway(['serve', '--config', join(dir, 'tollgate.yaml')], (option('--node-flags', '') || '').split(' ').filter(Boolean));
const tg = await start(0, g.cmd, 'listening', { ...g.env, ...JSON.parse(option('--env', '{}')) });
const gcLog = option('--gc-log', undefined);
if (gcLog) tg.stdout.pipe(createWriteStream(gcLog));
const url = `http://127.0.0.1:${tgPort}`;
const key = await createKey(url);
const body = { model: 'bench-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64 };
const chat = `${url}/v1/chat/completions`;

const metrics = async () => (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
const metric = (text, name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);

// Warm-up as bench/run.mjs does it: 32 connections, half of the time streamed.
await runLoad({ url: chat, key, body, connections: 32, durationMs: 2000, stream: false });
await runLoad({ url: chat, key, body: { ...body, stream: true }, connections: 32, durationMs: 2000, stream: true });

const heldBefore = metric(await metrics(), 'tollgate_requests_held_total');
let most = 0;
const poll = setInterval(async () => {
  try {
    most = Math.max(most, metric(await metrics(), 'tollgate_usage_queue_length'));
  } catch {}
}, 300);
const r = await runLoad({ url: chat, key, body, connections, durationMs: seconds * 1000, stream: false });
clearInterval(poll);
const held = metric(await metrics(), 'tollgate_requests_held_total') - heldBefore;
const rssMb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${tg.pid}/status`, 'utf8'))[1]) / 1024;
console.table([
  {
    connections,
    requests: r.ok,
    rps: r.rps.toFixed(0),
    'p99 ms': r.p99.toFixed(2),
    'most rows waiting': most,
    'requests held': held,
    'RSS MB': rssMb.toFixed(1),
    'peak RSS MB': peakRssMb(tg.pid).toFixed(1),
    errors: r.errors,
  },
]);
killAll();
process.exit(0);

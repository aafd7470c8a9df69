// What rate limiting costs: one Tollgate with limits on (a huge key rpm, so every request runs
// the limiter and nothing is refused) against the same with limits off (key_rpm null), for the
// memory limiter and the Redis limiter, non-stream at 32 connections against the mock model
// (standalone mock upstream, OpenAI wire format). Gateway pinned to core 0, load and upstream to
// core 1, one gateway at a time. Prints RPS and the on/off ratio. Never run by CI.
//   node bench/limits.mjs [--duration 5] [--connections 32] [--redis redis://127.0.0.1:6379]
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { runLoad } from './load.mjs';
import { ADMIN_TOKEN, cpuMs, createKey, freePort, numberOption, option, start, stop, benchUpstream } from './support.mjs';

const durationMs = numberOption('--duration', 5) * 1000;
const connections = numberOption('--connections', 32);
const redisUrl = option('--redis', 'redis://127.0.0.1:6379');

async function redisReachable() {
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 500, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

async function deletePrefix(prefix) {
  const r = new Redis(redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await r.del(...keys);
  } while (cursor !== '0');
  await r.quit();
}

const upPort = await freePort();
const upstream = await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(upPort)], 'listening');
const upUrl = `http://127.0.0.1:${upPort}/v1`;
const body = { model: 'bench-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64 };

async function measure({ backend, limits }) {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-limits-'));
  const port = await freePort();
  const prefix = `tollgate-bench:${randomUUID()}:`;
  writeFileSync(
    join(dir, 'tollgate.yaml'),
    `server: { host: 127.0.0.1, port: ${port}, admin_token: ${ADMIN_TOKEN}, log_level: warn, max_event_loop_lag_ms: 600000 }
storage: { url: "sqlite://${join(dir, 'tg.db')}" }
${backend === 'redis' ? `redis: { url: "${redisUrl}", key_prefix: "${prefix}" }` : ''}
${benchUpstream(upUrl)}
limits: { key_rpm: ${limits ? 100000000 : 'null'} }
cache: { exact: { enabled: false } }
`,
  );
  const tg = await start(0, ['./bin/tollgate.js', 'serve', '--config', join(dir, 'tollgate.yaml')], 'listening');
  try {
    const url = `http://127.0.0.1:${port}`;
    const target = { url: `${url}/v1/chat/completions`, key: await createKey(url), body, connections };
    // The first response must carry the limiter's headers exactly when limits are on.
    const probe = await fetch(target.url, { method: 'POST', headers: { authorization: `Bearer ${target.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await probe.text();
    const limited = probe.headers.get('x-ratelimit-limit-requests') !== null;
    if (probe.status !== 200 || limited !== limits) throw new Error(`setup check failed: status ${probe.status}, rate-limit headers ${limited} with limits ${limits}`);
    await runLoad({ ...target, durationMs: 1000 });
    const cpu0 = cpuMs(tg.pid);
    const r = await runLoad({ ...target, durationMs });
    r.cpuPerReqMs = (cpuMs(tg.pid) - cpu0) / Math.max(1, r.ok);
    return r;
  } finally {
    await stop(tg);
    rmSync(dir, { recursive: true, force: true });
    if (backend === 'redis') await deletePrefix(prefix);
  }
}

const backends = ['memory'];
if (await redisReachable()) backends.push('redis');
else console.log(`Redis not reachable at ${redisUrl}: measuring the memory limiter only`);

const rows = [];
try {
  for (const backend of backends) {
    const off = await measure({ backend, limits: false });
    const on = await measure({ backend, limits: true });
    for (const [label, r] of [
      ['off', off],
      ['on', on],
    ]) {
      rows.push({
        limiter: backend,
        limits: label,
        rps: r.rps.toFixed(0),
        'p50 ms': r.p50.toFixed(3),
        'p99 ms': r.p99.toFixed(3),
        'cpu/req ms': r.cpuPerReqMs.toFixed(3),
        errors: r.errors,
        'on/off rps': label === 'on' ? (on.rps / off.rps).toFixed(3) : '',
      });
    }
  }
} finally {
  await stop(upstream);
}
console.log(`non-stream, ${connections} connections, ${durationMs / 1000} s per run`);
console.table(rows);

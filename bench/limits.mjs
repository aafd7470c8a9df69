// What rate limiting costs: one Tollgate with limits on (a huge key rpm, so every request runs
// the limiter and nothing is refused) against the same with limits off (key_rpm null), for the
// memory limiter and the Redis limiter, non-stream at 32 connections against the mock model
// (standalone mock upstream, OpenAI wire format). Gateway pinned to core 0, load and upstream to
// core 1, one gateway at a time. Prints RPS and the on/off ratio. Never run by CI.
//   node bench/limits.mjs [--duration 5] [--connections 32] [--redis redis://127.0.0.1:6379]
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { runLoad } from './load.mjs';

const args = process.argv.slice(2);
const arg = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const durationMs = Number(arg('--duration', 5)) * 1000;
const connections = Number(arg('--connections', 32));
const redisUrl = arg('--redis', 'redis://127.0.0.1:6379');
const pin = (core, cmd) => (process.platform === 'linux' ? ['taskset', ['-c', String(core), ...cmd]] : [cmd[0], cmd.slice(1)]);

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

function start(core, cmd, readyText) {
  const [bin, argv] = pin(core, cmd);
  const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes(readyText)) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`${cmd.join(' ')} exited ${code}: ${out}`)));
  });
}

const stop = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
};

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
const admin = 'bench-admin-token';
const body = { model: 'bench-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64 };

async function measure({ backend, limits }) {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-limits-'));
  const port = await freePort();
  const prefix = `tollgate-bench:${randomUUID()}:`;
  writeFileSync(
    join(dir, 'tollgate.yaml'),
    `server: { host: 127.0.0.1, port: ${port}, admin_token: ${admin}, log_level: warn, max_event_loop_lag_ms: 600000 }
storage: { url: "sqlite://${join(dir, 'tg.db')}" }
${backend === 'redis' ? `redis: { url: "${redisUrl}", key_prefix: "${prefix}" }` : ''}
providers:
  - { id: up, type: openai, base_url: "${upUrl}", api_key: unused }
models:
  - id: bench-model
    context_window: 32000
    max_output_tokens: 4096
    pricing: { input_per_mtok: 1, output_per_mtok: 2 }
    channels: [{ provider: up, upstream_model: mock-chat }]
limits: { key_rpm: ${limits ? 100000000 : 'null'} }
cache: { exact: { enabled: false } }
`,
  );
  const tg = await start(0, ['node', 'bin/tollgate.js', 'serve', '--config', join(dir, 'tollgate.yaml')], 'listening');
  try {
    const url = `http://127.0.0.1:${port}`;
    const org = await (
      await fetch(`${url}/admin/orgs`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench', credits_usd: 1e6 }) })
    ).json();
    const created = await (await fetch(`${url}/api/keys`, { method: 'POST', headers: { authorization: `Bearer ${org.management_key}`, 'content-type': 'application/json' }, body: '{}' })).json();
    const target = { url: `${url}/v1/chat/completions`, key: created.key, body, connections };
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

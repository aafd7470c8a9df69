// What an exact cache HIT costs compared with proxying the request. The standalone mock
// upstream (instant answers) runs pinned to core 1, Tollgate with the exact cache on pinned to
// core 0; this process generates the load. For 1 and 32 connections it measures
//   (a) the upstream directly, (b) Tollgate's proxy path (Cache-Control: no-cache, so every
//   request goes upstream), (c) Tollgate answering an exact HIT,
// with Tollgate's CPU per request from /proc and p50 latency, then prints hit / proxy ratios
// (target: a hit costs under 1/4 of proxying). Never run by tests or CI.
//   node bench/cache-hit.mjs [--duration 5]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from './load.mjs';
import { ADMIN_TOKEN, cpuMs, createKey, freePort, numberOption, start, benchUpstream } from './support.mjs';

const durationMs = numberOption('--duration', 5) * 1000;

// bin/tollgate.js runs dist/: rebuild it when src/ is newer.
const newest = (dir) => Math.max(...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
if (!existsSync('dist/cli/index.js') || statSync('dist/cli/index.js').mtimeMs < newest('src')) {
  console.log('dist/ is older than src/: running tsc -p tsconfig.json');
  spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}

const upPort = await freePort();
const tgPort = await freePort();
const upstream = await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(upPort)], 'listening');
const upUrl = `http://127.0.0.1:${upPort}/v1`;

const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-cache-'));
writeFileSync(
  join(dir, 'tollgate.yaml'),
  `server: { host: 127.0.0.1, port: ${tgPort}, admin_token: ${ADMIN_TOKEN}, log_level: warn, max_event_loop_lag_ms: 600000 }
storage: { url: "sqlite://${join(dir, 'tg.db')}" }
${benchUpstream(upUrl)}
limits: { key_rpm: 100000000 }
cache: { exact: { enabled: true, ttl_s: 3600 } }
`,
);
const tg = await start(0, ['./bin/tollgate.js', 'serve', '--config', join(dir, 'tollgate.yaml')], 'listening');
const tgUrl = `http://127.0.0.1:${tgPort}`;
const post = async (url, credential, body, headers = {}) => {
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { res, json: await res.json() };
};
const key = await createKey(tgUrl);

/** tollgate_cache_lookups_total by "layer/result". */
async function cacheCounters() {
  const text = await (await fetch(`${tgUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  const out = {};
  for (const m of text.matchAll(/^tollgate_cache_lookups_total\{([^}]*)\} (\S+)$/gm)) {
    const l = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    out[`${l.layer}/${l.result}`] = Number(m[2]);
  }
  return out;
}

const body = { model: 'bench-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64, temperature: 0 };
const chatUrl = `${tgUrl}/v1/chat/completions`;
// The entry every HIT is served from; check that the headers say what we measure.
for (const [label, headers, want] of [
  ['proxy', { 'cache-control': 'no-cache' }, 'BYPASS'],
  ['warm', {}, undefined],
  ['hit', {}, 'HIT'],
]) {
  const { res } = await post(chatUrl, key, body, headers);
  const got = res.headers.get('x-tollgate-cache');
  if (res.status !== 200 || (want && got !== want)) throw new Error(`${label}: expected 200 ${want}, got ${res.status} ${got}`);
}

const targets = [
  { name: 'direct upstream', url: `${upUrl}/chat/completions`, key: 'x', body: { ...body, model: 'mock-chat' }, headers: {}, pid: undefined },
  { name: 'tollgate proxy (no-cache)', url: chatUrl, key, body, headers: { 'cache-control': 'no-cache' }, pid: tg.pid, counter: 'all/bypass' },
  { name: 'tollgate exact HIT', url: chatUrl, key, body, headers: {}, pid: tg.pid, counter: 'exact/hit' },
];

const rows = [];
const summary = [];
for (const connections of [1, 32]) {
  const results = {};
  for (const t of targets) {
    await runLoad({ url: t.url, key: t.key, body: t.body, headers: t.headers, connections, durationMs: 1000 });
    const before = await cacheCounters();
    const cpu0 = t.pid ? cpuMs(t.pid) : 0;
    const r = await runLoad({ url: t.url, key: t.key, body: t.body, headers: t.headers, connections, durationMs });
    r.cpuPerReqMs = t.pid ? (cpuMs(t.pid) - cpu0) / Math.max(1, r.ok) : Number.NaN;
    const after = await cacheCounters();
    // Requests counted by the cache metric while the load ran: each should be one of ours.
    r.counted = t.counter ? (after[t.counter] ?? 0) - (before[t.counter] ?? 0) : Number.NaN;
    results[t.name] = r;
  }
  const d = results['direct upstream'];
  for (const [name, r] of Object.entries(results)) {
    rows.push({
      connections,
      target: name,
      rps: r.rps.toFixed(0),
      'p50 ms': r.p50.toFixed(3),
      'p99 ms': r.p99.toFixed(3),
      'added p50 ms': name === 'direct upstream' ? '' : (r.p50 - d.p50).toFixed(3),
      'cpu/req ms': Number.isNaN(r.cpuPerReqMs) ? '' : r.cpuPerReqMs.toFixed(4),
      'as expected': Number.isNaN(r.counted) ? '' : `${r.counted}/${r.ok}`,
      errors: r.errors,
    });
  }
  const proxy = results['tollgate proxy (no-cache)'];
  const hit = results['tollgate exact HIT'];
  summary.push({
    connections,
    'cpu/req hit ÷ proxy': (hit.cpuPerReqMs / proxy.cpuPerReqMs).toFixed(3),
    'p50 hit ÷ proxy': (hit.p50 / proxy.p50).toFixed(3),
    'rps hit ÷ proxy': (hit.rps / proxy.rps).toFixed(2),
    'target cpu ratio': '< 0.25',
    met: hit.cpuPerReqMs / proxy.cpuPerReqMs < 0.25 ? 'yes' : 'no',
  });
}
console.table(rows);
console.table(summary);
for (const c of [upstream, tg]) c.kill('SIGTERM');
await new Promise((r) => tg.once('exit', r));
rmSync(dir, { recursive: true, force: true });

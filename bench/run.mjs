// Load benchmark: the standalone mock upstream, a bare Node pass-through proxy (the floor)
// and Tollgate run as separate processes; the gateway under test is pinned to core 0, load
// and upstream to core 1. Prints one table with ratios. Never run by CI.
//   npm run bench [-- --duration 5 --quick]
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from './load.mjs';
import { ADMIN_TOKEN, cpuMs, createKey, flag, freePort, numberOption, peakRssMb, start } from './support.mjs';

const durationMs = numberOption('--duration', 5) * 1000;
const quick = flag('--quick');
const storage = flag('--postgres') ? 'postgres://postgres@127.0.0.1:5432/test' : undefined;

const upPort = await freePort();
const floorPort = await freePort();
const tgPort = await freePort();
const upstream = await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(upPort)], 'listening');
const upUrl = `http://127.0.0.1:${upPort}/v1`;
const floorKey = 'sk-floor-bench';
const floor = await start(0, ['node', 'bench/floor-proxy.mjs', String(floorPort), upUrl, floorKey], 'ready');

const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
const offPort = await freePort();
const writeConfig = (file, port, billing, db) =>
  writeFileSync(
    join(dir, file),
    `server: { host: 127.0.0.1, port: ${port}, admin_token: ${ADMIN_TOKEN}, log_level: warn, max_event_loop_lag_ms: 100000 }
storage: { url: "${storage ?? `sqlite://${join(dir, db)}`}" }
billing: { enabled: ${billing} }
providers:
  - { id: up, type: openai, base_url: "${upUrl}", api_key: unused }
models:
  - id: bench-model
    context_window: 32000
    max_output_tokens: 4096
    pricing: { input_per_mtok: 1, output_per_mtok: 2 }
    channels: [{ provider: up, upstream_model: mock-chat }]
limits: { key_rpm: ${billing ? 100000000 : 'null'} }
cache: { exact: { enabled: false } }
`,
  );
writeConfig('tollgate.yaml', tgPort, true, 'tg.db');
writeConfig('tollgate-off.yaml', offPort, false, 'tg-off.db');
const tg = await start(0, ['node', 'bin/tollgate.js', 'serve', '--config', join(dir, 'tollgate.yaml')], 'listening');
const tgOff = await start(0, ['node', 'bin/tollgate.js', 'serve', '--config', join(dir, 'tollgate-off.yaml')], 'listening');
const tgUrl = `http://127.0.0.1:${tgPort}`;
const key = await createKey(tgUrl, `bench-${Date.now()}`);
const offKey = await createKey(`http://127.0.0.1:${offPort}`, `bench-${Date.now()}`);

const body = { model: 'bench-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64 };
const direct = { ...body, model: 'mock-chat' };
const targets = [
  { name: 'direct upstream', url: `${upUrl}/chat/completions`, key: 'x', body: direct, pid: undefined },
  { name: 'floor (bare Node proxy)', url: `http://127.0.0.1:${floorPort}/v1/chat/completions`, key: floorKey, body: direct, pid: floor.pid },
  { name: 'tollgate', url: `${tgUrl}/v1/chat/completions`, key, body, pid: tg.pid },
  { name: 'tollgate, billing+limits off', url: `http://127.0.0.1:${offPort}/v1/chat/completions`, key: offKey, body, pid: tgOff.pid },
];

const scenarios = quick
  ? [{ label: 'non-stream c=32', connections: 32, stream: false }]
  : [
      { label: 'non-stream c=1', connections: 1, stream: false },
      { label: 'non-stream c=32', connections: 32, stream: false },
      { label: 'non-stream c=128', connections: 128, stream: false },
      { label: 'stream c=1', connections: 1, stream: true },
      { label: 'stream c=32', connections: 32, stream: true },
      { label: 'stream c=128', connections: 128, stream: true },
    ];

const rows = [];
for (const sc of scenarios) {
  const results = {};
  for (const t of targets) {
    const b = sc.stream ? { ...t.body, stream: true } : t.body;
    await runLoad({ url: t.url, key: t.key, body: b, connections: sc.connections, durationMs: 1000, stream: sc.stream });
    const cpu0 = t.pid ? cpuMs(t.pid) : 0;
    const r = await runLoad({ url: t.url, key: t.key, body: b, connections: sc.connections, durationMs, stream: sc.stream });
    r.cpuPerReqMs = t.pid ? (cpuMs(t.pid) - cpu0) / Math.max(1, r.ok) : Number.NaN;
    r.rssMb = t.pid ? peakRssMb(t.pid) : Number.NaN;
    results[t.name] = r;
  }
  const d = results['direct upstream'];
  const f = results['floor (bare Node proxy)'];
  for (const [name, r] of Object.entries(results)) {
    rows.push({
      scenario: sc.label,
      target: name,
      rps: r.rps.toFixed(0),
      'p50 ms': r.p50.toFixed(3),
      'p99 ms': r.p99.toFixed(3),
      'ttfb p50 ms': sc.stream ? r.ttfb50.toFixed(3) : '',
      'added p50 ms': name === 'direct upstream' ? '' : (r.p50 - d.p50).toFixed(3),
      'cpu/req ms': Number.isNaN(r.cpuPerReqMs) ? '' : r.cpuPerReqMs.toFixed(3),
      'peak RSS MB': Number.isNaN(r.rssMb) ? '' : r.rssMb.toFixed(0),
      'rps / floor': (r.rps / f.rps).toFixed(2),
      errors: r.errors,
    });
  }
}
console.table(rows);
for (const c of [upstream, floor, tg, tgOff]) c.kill('SIGTERM');
console.log(`storage: ${storage ?? 'sqlite'}; "tollgate" runs auth, limits, reservation, routing and usage records; the last row turns billing and limits off.`);

// What OpenTelemetry export costs: Tollgate in front of the standalone mock upstream, measured
// with telemetry off and then on (exporting to a local OTLP/HTTP sink in this process that
// accepts and discards), at 1 and 32 connections: requests per second, p50/p99 latency and
// Tollgate's CPU per request. The mock runs pinned to core 1, Tollgate to core 0. Never run by
// tests or CI.
//   node bench/otel.mjs [--duration 5]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from './load.mjs';
import { ADMIN_TOKEN, cpuMs, createKey, freePort, numberOption, start, stop } from './support.mjs';

const durationMs = numberOption('--duration', 5) * 1000;

const newest = (dir) => Math.max(...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
if (!existsSync('dist/cli/index.js') || statSync('dist/cli/index.js').mtimeMs < newest('src')) {
  console.log('dist/ is older than src/: running tsc -p tsconfig.json');
  spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}

let exported = 0;
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    exported++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
await new Promise((r) => sink.listen(0, '127.0.0.1', r));
const sinkUrl = `http://127.0.0.1:${sink.address().port}`;

const upPort = await freePort();
const upstream = await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(upPort)], 'listening');
const upUrl = `http://127.0.0.1:${upPort}/v1`;
const body = { model: 'bench-model', messages: [{ role: 'user', content: 'Say hello in a few words.' }], max_tokens: 16 };

async function measure(telemetry) {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-otel-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'tollgate.yaml'),
    `server: { host: 127.0.0.1, port: ${port}, admin_token: ${ADMIN_TOKEN}, log_level: warn, max_event_loop_lag_ms: 600000 }
storage: { url: "sqlite://${join(dir, 'tg.db')}" }
providers:
  - { id: up, type: openai, base_url: "${upUrl}", api_key: unused }
models:
  - id: bench-model
    pricing: { input_per_mtok: 1, output_per_mtok: 2 }
    channels: [{ provider: up, upstream_model: mock-chat }]
limits: { key_rpm: 100000000, key_tpm: 100000000000 }
${telemetry ? `telemetry: { otlp: { endpoint: "${sinkUrl}", interval_ms: 1000 } }` : ''}
`,
  );
  const tg = await start(0, ['./bin/tollgate.js', 'serve', '--config', join(dir, 'tollgate.yaml')], 'listening');
  const url = `http://127.0.0.1:${port}`;
  const key = await createKey(url);
  const rows = [];
  for (const connections of [1, 32]) {
    await runLoad({ url: `${url}/v1/chat/completions`, key, body, connections, durationMs: 1000 });
    const cpu0 = cpuMs(tg.pid);
    const r = await runLoad({ url: `${url}/v1/chat/completions`, key, body, connections, durationMs });
    rows.push({ connections, rps: r.rps, p50: r.p50, p99: r.p99, cpuPerReqMs: (cpuMs(tg.pid) - cpu0) / Math.max(1, r.ok), errors: r.errors });
  }
  await stop(tg);
  rmSync(dir, { recursive: true, force: true });
  return rows;
}

const off = await measure(false);
const on = await measure(true);
await stop(upstream);
sink.close();

console.log(`machine: ${cpus().length} cores, ${cpus()[0]?.model}, node ${process.version}; ${durationMs / 1000} s per point`);
console.log('telemetry  conns      rps    p50 ms   p99 ms  cpu ms/req  errors');
for (const [name, rows] of [['off', off], ['on', on]]) {
  for (const r of rows) {
    console.log(`${name.padEnd(9)}  ${String(r.connections).padStart(5)}  ${r.rps.toFixed(0).padStart(7)}  ${r.p50.toFixed(2).padStart(8)}  ${r.p99.toFixed(2).padStart(7)}  ${r.cpuPerReqMs.toFixed(3).padStart(10)}  ${r.errors}`);
  }
}
for (let i = 0; i < off.length; i++) {
  console.log(`c=${off[i].connections}: on/off rps ${(on[i].rps / off[i].rps).toFixed(3)}, cpu per request ${(on[i].cpuPerReqMs / off[i].cpuPerReqMs).toFixed(3)}×`);
}
console.log(`OTLP exports received: ${exported}`);

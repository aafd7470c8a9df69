// A/B comparison of two builds of Tollgate in one run: the same mock upstream (core 1), both
// gateways pinned to core 0 (only one is under load at a time), the same configuration as
// bench/run.mjs, and alternating rounds of the same load so that drift in the machine's load hits
// both alike. Prints per-round figures and the median ratio B/A. Never run by CI.
//   node bench/ab.mjs --a /path/to/checkout-a --b /path/to/checkout-b [--rounds 5 --duration 3 --connections 32 --stream]
//     [--a-flags '--node-flag ...' --b-flags '...']  (the same checkout twice with different Node/V8 flags works too)
// Each checkout must have its dist/ built (npx tsc -p tsconfig.json).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runLoad } from './load.mjs';
import { cpuMs, flag, freePort, numberOption, option, start, startBenchGateway, stop } from './support.mjs';

const a = resolve(option('--a', '.'));
const b = resolve(option('--b', '.'));
const rounds = numberOption('--rounds', 5);
const durationMs = numberOption('--duration', 3) * 1000;
const connections = numberOption('--connections', 32);
const stream = flag('--stream');

const upPort = await freePort();
const upstream = await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(upPort)], 'listening');
const dir = mkdtempSync(join(tmpdir(), 'tollgate-ab-'));
const flagsOf = (name) => (option(`--${name.toLowerCase()}-flags`, '') || '').split(' ').filter(Boolean);
const launch = async (name, root) => {
  const g = await startBenchGateway({ dir, name, upstream: `http://127.0.0.1:${upPort}/v1`, root, nodeFlags: flagsOf(name) });
  return { name, child: g.child, url: g.base, key: g.key };
};
const gws = [await launch('A', a), await launch('B', b)];
const body = { model: 'bench-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64, ...(stream ? { stream: true } : {}) };
const results = { A: [], B: [] };
for (const g of gws) await runLoad({ url: `${g.url}/v1/chat/completions`, key: g.key, body, connections, durationMs: 1000, stream });
for (let r = 0; r < rounds; r++) {
  for (const g of r % 2 === 0 ? gws : [...gws].reverse()) {
    const cpu0 = cpuMs(g.child.pid);
    const res = await runLoad({ url: `${g.url}/v1/chat/completions`, key: g.key, body, connections, durationMs, stream });
    res.cpuPerReqMs = (cpuMs(g.child.pid) - cpu0) / Math.max(1, res.ok);
    results[g.name].push(res);
  }
}
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const rows = [];
for (let r = 0; r < rounds; r++) {
  const ra = results.A[r];
  const rb = results.B[r];
  const firstByte = stream ? { 'A ttfb p50': ra.ttfb50.toFixed(3), 'B ttfb p50': rb.ttfb50.toFixed(3) } : {};
  rows.push({ round: r + 1, 'A rps': ra.rps.toFixed(0), 'B rps': rb.rps.toFixed(0), 'B/A rps': (rb.rps / ra.rps).toFixed(3), 'A cpu/req ms': ra.cpuPerReqMs.toFixed(3), 'B cpu/req ms': rb.cpuPerReqMs.toFixed(3), 'A p99': ra.p99.toFixed(1), 'B p99': rb.p99.toFixed(1), ...firstByte, errors: ra.errors + rb.errors });
}
console.log(`A = ${a} ${flagsOf('A').join(' ')}\nB = ${b} ${flagsOf('B').join(' ')}\n${connections} connections, ${stream ? 'stream' : 'non-stream'}, ${durationMs / 1000} s per round`);
console.table(rows);
console.log(
  `median B/A: rps ${median(rows.map((x) => Number(x['B/A rps']))).toFixed(3)}, cpu/req ${(median(results.B.map((x) => x.cpuPerReqMs)) / median(results.A.map((x) => x.cpuPerReqMs))).toFixed(3)}`,
);
await Promise.all([upstream, ...gws.map((g) => g.child)].map(stop));

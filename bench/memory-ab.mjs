// A/B of two builds' memory under the load that sets bench/run.mjs's peak: in each repetition
// both builds start afresh (core 0, the order alternating), then each in turn takes streamed
// requests at c=16, non-stream at c=32 and non-stream at c=128, and the table gives each one's
// peak RSS (VmHWM) and its malloc heap (the `[heap]` mapping of /proc/PID/smaps, glibc's main
// arena) at the end. One run's peak moves by 10–20 MB on its own, so compare medians of several
// repetitions. Never run by CI.
//   node bench/memory-ab.mjs --a /path/to/checkout-a --b /path/to/checkout-b [--reps 4 --duration 4]
//     [--a-flags '--node-flag ...' --b-flags '...']  (the same checkout twice with different flags works too)
// Each checkout must have its dist/ built (npx tsc -p tsconfig.json).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runLoad } from './load.mjs';
import { freePort, numberOption, option, peakRssMb, start, startBenchGateway, stop } from './support.mjs';

const roots = { A: resolve(option('--a', '.')), B: resolve(option('--b', '.')) };
const reps = numberOption('--reps', 4);
const durationMs = numberOption('--duration', 4) * 1000;
const flagsOf = (name) => (option(`--${name.toLowerCase()}-flags`, '') || '').split(' ').filter(Boolean);
const PHASES = [
  { connections: 16, stream: true },
  { connections: 32, stream: false },
  { connections: 128, stream: false },
];

/** Resident size of the `[heap]` mapping (the main malloc arena), in MB. */
function mallocHeapMb(pid) {
  let kb = 0;
  let inHeap = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inHeap = line.endsWith('[heap]');
    else if (inHeap && line.startsWith('Rss:')) kb += Number(line.split(/\s+/)[1]);
  }
  return kb / 1024;
}

const upPort = await freePort();
const upstream = await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(upPort)], 'listening');
const dir = mkdtempSync(join(tmpdir(), 'tollgate-memory-ab-'));
const body = { model: 'bench-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64 };

async function launch(name, rep) {
  const g = await startBenchGateway({ dir, name: `${name}-${rep}`, upstream: `http://127.0.0.1:${upPort}/v1`, root: roots[name], nodeFlags: flagsOf(name) });
  return { name, child: g.child, url: g.url, key: g.key, startMb: peakRssMb(g.child.pid) };
}

const rows = [];
const figures = { A: [], B: [] };
for (let rep = 0; rep < reps; rep++) {
  const gws = [];
  for (const name of rep % 2 === 0 ? ['A', 'B'] : ['B', 'A']) gws.push(await launch(name, rep));
  for (const p of PHASES) {
    for (const g of gws) {
      const res = await runLoad({ url: g.url, key: g.key, body: p.stream ? { ...body, stream: true } : body, connections: p.connections, durationMs, stream: p.stream });
      if (res.errors > 0) throw new Error(`${g.name}: ${res.errors} errors at c=${p.connections}`);
    }
  }
  const row = { rep: rep + 1 };
  for (const g of gws) {
    const f = { start: g.startMb, peak: peakRssMb(g.child.pid), heap: mallocHeapMb(g.child.pid) };
    figures[g.name].push(f);
    Object.assign(row, { [`${g.name} start MB`]: f.start.toFixed(1), [`${g.name} peak MB`]: f.peak.toFixed(1), [`${g.name} [heap] MB`]: f.heap.toFixed(1) });
  }
  rows.push(row);
  await Promise.all(gws.map((g) => stop(g.child)));
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
console.log(`A = ${roots.A} ${flagsOf('A').join(' ')}\nB = ${roots.B} ${flagsOf('B').join(' ')}`);
console.log(`per repetition: both start afresh, then ${PHASES.map((p) => `${p.stream ? 'streamed' : 'non-stream'} c=${p.connections}`).join(', ')}, ${durationMs / 1000} s each per build`);
console.table(rows);
for (const name of ['A', 'B']) {
  const f = figures[name];
  console.log(`${name}: median start ${median(f.map((x) => x.start)).toFixed(1)} MB, peak ${median(f.map((x) => x.peak)).toFixed(1)} MB (${Math.min(...f.map((x) => x.peak)).toFixed(1)}–${Math.max(...f.map((x) => x.peak)).toFixed(1)}), [heap] ${median(f.map((x) => x.heap)).toFixed(1)} MB`);
}
await stop(upstream);

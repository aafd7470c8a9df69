// Summarises a `--trace-gc-nvp` log per V8 isolate (the request thread and the store worker
// each have their own): collections by kind, and for scavenges their count, pause (mean,
// median, largest), the phases that make up the pause, and bytes allocated, survived and
// promoted per scavenge. Never run by CI.
//   node bench/serve-under-test.mjs --node-flags '--trace-gc-nvp' --stdout /tmp/gc.txt
//   (load it, e.g. with wrk or bench/load.mjs)  then  node bench/gc-trace-summary.mjs /tmp/gc.txt
// The floor the same way: node --trace-gc-nvp bench/floor-proxy.mjs … > /tmp/floor-gc.txt
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/gc-trace-summary.mjs <file written with --trace-gc-nvp>');
  process.exit(2);
}

const PHASES = ['scavenge.roots', 'scavenge.parallel', 'scavenge.sweep_array_buffers'];
const isolates = new Map();
// A truncated or interleaved log has lines without the isolate prefix: they are skipped.
for (const line of readFileSync(file, 'latin1').split('\n')) {
  const id = /\[\d+:(0x[0-9a-f]+)\]/.exec(line);
  const kind = / gc=(\w+)/.exec(line);
  if (!id || !kind) continue;
  const fields = Object.fromEntries([...line.matchAll(/ ([\w.]+)=([-\d.]+)/g)].map((m) => [m[1], Number(m[2])]));
  let iso = isolates.get(id[1]);
  if (!iso) isolates.set(id[1], (iso = { kinds: new Map(), scavenges: [] }));
  iso.kinds.set(kind[1], (iso.kinds.get(kind[1]) ?? 0) + 1);
  if (kind[1] === 's') iso.scavenges.push(fields);
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const rows = [];
for (const [id, iso] of isolates) {
  const s = iso.scavenges;
  const col = (name) => s.map((f) => f[name] ?? 0);
  const pauses = col('pause');
  const row = {
    isolate: id,
    collections: [...iso.kinds].map(([k, n]) => `${k} ${n}`).join(', '),
    scavenges: s.length,
    'pause ms mean / median / max': `${mean(pauses).toFixed(2)} / ${median(pauses).toFixed(2)} / ${Math.max(0, ...pauses).toFixed(1)}`,
  };
  for (const p of PHASES) row[`${p.replace(/^scavenge\./, '')} ms`] = mean(col(p)).toFixed(2);
  row['KB allocated / survived / promoted'] = ['allocated', 'new_space_survived', 'promoted'].map((k) => (mean(col(k)) / 1024).toFixed(0)).join(' / ');
  rows.push(row);
}
if (rows.length === 0) console.log(`no collections found in ${file}: was the process run with --trace-gc-nvp?`);
else console.table(rows);

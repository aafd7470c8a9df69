// Load benchmark: the standalone mock upstream, a bare Node pass-through proxy (the floor)
// and Tollgate run as separate processes; the gateway under test is pinned to core 0, load
// and upstream to core 1. Tollgate runs as `npm start` runs it: the config keeps every default
// (billing, limits, usage records, the exact cache, logging at info, overload shedding) and
// sets only the port, the store, the admin token, the upstream and a key_rpm high enough
// not to refuse the benchmark's own load. Prints one table per scenario, then the headline
// figures against their targets. Never run by CI.
//   npm run bench [-- --duration 5 --quick | --only 'non-stream c=1'] [--rounds N] [--warmup S] [--billing-off --postgres --profile DIR --trace-gc FILE --node-flags '...']
// --rounds N runs each scenario N times, the targets taking turns, and prints each figure's
// median: on a machine whose load drifts, one run's verdicts can flip.
// --profile DIR writes a .cpuprofile of the gateway to DIR (summarise it with
// bench/profile-summary.mjs); --trace-gc FILE writes its GC trace to FILE; --node-flags passes
// V8/Node flags to the gateway (to try e.g. a young-generation size).
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runLoad } from './load.mjs';
import { ADMIN_TOKEN, benchConfig, cpuMs, createKey, flag, freePort, gateway, numberOption, option, peakRssMb, start, stop } from './support.mjs';

const durationMs = numberOption('--duration', 5) * 1000;
const quick = flag('--quick');
const withOff = flag('--billing-off');
const storage = flag('--postgres') ? 'postgres://postgres@127.0.0.1:5432/test' : undefined;
const profileDir = option('--profile', undefined);
const gcTrace = option('--trace-gc', undefined);

const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

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
    benchConfig({ port, storageUrl: storage ?? `sqlite://${join(dir, db)}`, upstream: upUrl, billing }),
  );
writeConfig('tollgate.yaml', tgPort, true, 'tg.db');
const nodeFlags = [
  ...(option('--node-flags', '') || '').split(' ').filter(Boolean),
  ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profileDir)}`] : []),
  ...(gcTrace ? ['--trace-gc'] : []),
];
const tgCmd = gateway(['serve', '--config', join(dir, 'tollgate.yaml')], nodeFlags);
const tg = await start(0, tgCmd.cmd, 'listening', tgCmd.env);
if (gcTrace) tg.stdout.pipe(createWriteStream(gcTrace));
const tgUrl = `http://127.0.0.1:${tgPort}`;
const key = await createKey(tgUrl, `bench-${Date.now()}`);

/** The gateway's V8 heap in use, from its own /metrics. */
const heapMb = async (url) => {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  const m = /^tollgate_nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
  return m ? Number(m[1]) / 1024 / 1024 : Number.NaN;
};
const memory = [
  { when: 'after start (and one admin call)', 'RSS MB': rssMb(tg.pid).toFixed(1), 'heap used MB': (await heapMb(tgUrl)).toFixed(1) },
  { when: 'peak until then (VmHWM)', 'RSS MB': peakRssMb(tg.pid).toFixed(1), 'heap used MB': '' },
];

const body = { model: 'bench-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64 };
const direct = { ...body, model: 'mock-chat' };
const targets = [
  { name: 'direct', url: `${upUrl}/chat/completions`, key: 'x', body: direct, pid: undefined },
  { name: 'floor', url: `http://127.0.0.1:${floorPort}/v1/chat/completions`, key: floorKey, body: direct, pid: floor.pid },
  { name: 'tollgate', url: `${tgUrl}/v1/chat/completions`, key, body, pid: tg.pid },
];
let tgOff;
if (withOff) {
  writeConfig('tollgate-off.yaml', offPort, false, 'tg-off.db');
  const offCmd = gateway(['serve', '--config', join(dir, 'tollgate-off.yaml')]);
  tgOff = await start(0, offCmd.cmd, 'listening', offCmd.env);
  const offKey = await createKey(`http://127.0.0.1:${offPort}`, `bench-${Date.now()}`);
  targets.push({ name: 'tollgate, billing+limits off', url: `http://127.0.0.1:${offPort}/v1/chat/completions`, key: offKey, body, pid: tgOff.pid });
}

const only = option('--only', undefined);
const rounds = Math.max(1, Math.floor(numberOption('--rounds', 1)));

/** Each figure's median over the rounds (the peak RSS is the highest, errors the sum). */
function medianRun(list) {
  const median = (pick) => {
    const v = list.map(pick).sort((a, b) => a - b);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  return {
    rps: median((r) => r.rps),
    p50: median((r) => r.p50),
    p90: median((r) => r.p90),
    p99: median((r) => r.p99),
    ttfb50: median((r) => r.ttfb50),
    cpuPerReqMs: median((r) => r.cpuPerReqMs),
    rssMb: Math.max(...list.map((r) => r.rssMb)),
    errors: list.reduce((n, r) => n + r.errors, 0),
  };
}
const all = [
  { label: 'non-stream c=1', connections: 1, stream: false },
  { label: 'non-stream c=32', connections: 32, stream: false },
  { label: 'non-stream c=128', connections: 128, stream: false },
  { label: 'stream c=1', connections: 1, stream: true },
];
const scenarios = quick ? [all[1]] : only ? all.filter((s) => s.label === only) : all;

// Every target first serves a few seconds of load at 32 connections, half of it streamed, so
// that the scenarios measure the steady state: otherwise the first one (c=1) and the stream
// scenario also measure V8 compiling the gateway's hot paths, on the gateway's one core.
const warmupMs = numberOption('--warmup', 4) * 1000;
for (const t of targets) {
  if (warmupMs <= 0) continue;
  await runLoad({ url: t.url, key: t.key, body: t.body, connections: 32, durationMs: warmupMs / 2, stream: false });
  await runLoad({ url: t.url, key: t.key, body: { ...t.body, stream: true }, connections: 32, durationMs: warmupMs / 2, stream: true });
}

const rows = [];
const at = {};
for (const sc of scenarios) {
  const runs = Object.fromEntries(targets.map((t) => [t.name, []]));
  // With --rounds N the targets take turns N times, so drift in the machine's load hits each alike.
  for (let round = 0; round < rounds; round++) {
    for (const t of targets) {
      const b = sc.stream ? { ...t.body, stream: true } : t.body;
      await runLoad({ url: t.url, key: t.key, body: b, connections: sc.connections, durationMs: 1000, stream: sc.stream });
      const cpu0 = t.pid ? cpuMs(t.pid) : 0;
      const r = await runLoad({ url: t.url, key: t.key, body: b, connections: sc.connections, durationMs, stream: sc.stream });
      r.cpuPerReqMs = t.pid ? (cpuMs(t.pid) - cpu0) / Math.max(1, r.ok) : Number.NaN;
      r.rssMb = t.pid ? peakRssMb(t.pid) : Number.NaN;
      runs[t.name].push(r);
    }
  }
  const results = Object.fromEntries(Object.entries(runs).map(([name, list]) => [name, medianRun(list)]));
  if (sc.connections === 128 && !sc.stream) memory.push({ when: 'after non-stream c=128', 'RSS MB': rssMb(tg.pid).toFixed(1), 'heap used MB': (await heapMb(tgUrl)).toFixed(1) });
  at[sc.label] = results;
  const d = results.direct;
  const f = results.floor;
  for (const [name, r] of Object.entries(results)) {
    rows.push({
      scenario: sc.label,
      target: name,
      rps: r.rps.toFixed(0),
      'p50 ms': r.p50.toFixed(3),
      'p90 ms': r.p90.toFixed(3),
      'p99 ms': r.p99.toFixed(3),
      'ttfb p50 ms': sc.stream ? r.ttfb50.toFixed(3) : '',
      'added p50 ms': name === 'direct' ? '' : (r.p50 - d.p50).toFixed(3),
      'cpu/req ms': Number.isNaN(r.cpuPerReqMs) ? '' : r.cpuPerReqMs.toFixed(3),
      'peak RSS MB': Number.isNaN(r.rssMb) ? '' : r.rssMb.toFixed(0),
      'rps / floor': (r.rps / f.rps).toFixed(2),
      errors: r.errors,
    });
  }
}
memory.push({ when: 'peak over the whole run (VmHWM)', 'RSS MB': peakRssMb(tg.pid).toFixed(1), 'heap used MB': '' });

const model = cpus()[0]?.model ?? 'unknown';
console.log(`machine: ${cpus().length} cores, ${model}, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`);
console.log(`storage: ${storage ?? 'sqlite'}; every target warmed with ${warmupMs / 1000} s at c=32 (half streamed), then ${durationMs / 1000} s per target and scenario after a 1 s warm-up${rounds > 1 ? `, ${rounds} rounds with the targets taking turns, each figure the median of the rounds` : ''}; gateway and floor on core 0, load and upstream on core 1`);
console.table(rows);
console.log('Tollgate memory:');
console.table(memory);

// The headline figures and their targets (one run; the floor is measured in the same run).
const get = (label) => at[label];
const CPU_TARGET_RATIO = 0.15 / 0.097;
const figure = (name, floorVal, tgVal, target, met) => ({ figure: name, floor: floorVal, tollgate: tgVal, target, result: met === undefined ? 'n/a' : met ? 'met' : 'MISSED' });
const summary = [];
const c32 = get('non-stream c=32');
if (c32) {
  const ratio = c32.tollgate.rps / c32.floor.rps;
  summary.push(figure('non-stream RPS at c=32', c32.floor.rps.toFixed(0), `${c32.tollgate.rps.toFixed(0)} (${ratio.toFixed(2)}x)`, '>= 0.5x the floor', ratio >= 0.5));
  summary.push(figure('gateway CPU per non-stream request (c=32)', `${c32.floor.cpuPerReqMs.toFixed(3)} ms`, `${c32.tollgate.cpuPerReqMs.toFixed(3)} ms`, '<= 0.15 ms', c32.tollgate.cpuPerReqMs <= 0.15));
  // The 0.15 ms target was set on a machine where the floor took 0.097 ms: the same target as a
  // ratio, for machines whose floor alone is slower (the absolute row above stays the verdict).
  const cpuRatio = c32.tollgate.cpuPerReqMs / c32.floor.cpuPerReqMs;
  summary.push(figure('the same, as a ratio to the floor (for reading)', '1.00x', `${cpuRatio.toFixed(2)}x`, `<= ${CPU_TARGET_RATIO.toFixed(2)}x (0.15 / 0.097 ms)`, undefined));
}
const c1 = get('non-stream c=1');
if (c1) {
  summary.push(
    figure(
      'p90 / p99 at c=1',
      `${c1.floor.p90.toFixed(2)} / ${c1.floor.p99.toFixed(2)} ms`,
      `${c1.tollgate.p90.toFixed(2)} / ${c1.tollgate.p99.toFixed(2)} ms`,
      `p99 <= 1.5x floor (${(1.5 * c1.floor.p99).toFixed(2)} ms)`,
      c1.tollgate.p99 <= 1.5 * c1.floor.p99,
    ),
  );
}
if (c32) {
  summary.push(figure('p99 at c=32', `${c32.floor.p99.toFixed(2)} ms`, `${c32.tollgate.p99.toFixed(2)} ms`, `<= 1.5x floor (${(1.5 * c32.floor.p99).toFixed(2)} ms)`, c32.tollgate.p99 <= 1.5 * c32.floor.p99));
}
const c128 = get('non-stream c=128');
if (c128) summary.push(figure('peak RSS under c=128', `${c128.floor.rssMb.toFixed(0)} MB`, `${c128.tollgate.rssMb.toFixed(0)} MB`, '<= 150 MB', c128.tollgate.rssMb <= 150));
const s1 = get('stream c=1');
if (s1) {
  const added = (r) => r.ttfb50 - s1.direct.ttfb50;
  summary.push(figure('stream first byte at c=1, added over direct (p50)', `${added(s1.floor).toFixed(3)} ms`, `${added(s1.tollgate).toFixed(3)} ms`, '<= 0.5 ms', added(s1.tollgate) <= 0.5));
}
console.log('Targets:');
console.table(summary);

await Promise.all([upstream, floor, tg, tgOff].filter(Boolean).map(stop));

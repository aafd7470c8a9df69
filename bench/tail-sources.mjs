// Where the slow requests come from: a fixed number of requests at a fixed concurrency, each timed
// on the wall clock, set against what the process under test recorded meanwhile: its garbage
// collections (a PerformanceObserver), the pauses of its event loop (a 1 ms timer that fired
// more than 4 ms late) and, for Tollgate, its store worker's commits. The mock upstream and
// this load generator record their collections too, since a pause of either delays the request
// as much. Tollgate (as `npm start` runs it, bench/run.mjs's configuration) and, with --floor,
// the bare Node relay take the same load in turn; each runs on core 0, the load and the mock
// upstream on core 1. Prints, per target:
// latency percentiles (the first tenth of the requests left out as warm-up), the share of
// requests that overlapped one of the target's collections, how many of the slowest 1 % did (and
// how many overlapped one of the upstream's or the load generator's instead), collections per
// request by kind, and how the slowest 1 % bunch together (requests ending within 2 ms of each
// other: a cluster as large as the concurrency is the whole process standing still). Never run by CI.
//   npx tsc -p tsconfig.json && node bench/tail-sources.mjs [--requests 30000] [--connections 1] [--floor] [--node-flags '...']
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Agent, request } from 'undici';
import { benchConfig, createKey, flag, freePort, gateway, killAll, numberOption, option, start, stop } from './support.mjs';

const requests = numberOption('--requests', 30000);
const connections = numberOption('--connections', 1);
const withFloor = flag('--floor');
const nodeFlags = (option('--node-flags', '') || '').split(' ').filter(Boolean);

const dir = mkdtempSync(join(tmpdir(), 'tollgate-tail-'));
// Loaded into the process under test with --import: on SIGWINCH, writes what it saw to TAIL_PROBE.
const PROBE = `
import { writeFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
const gcs = [];
const pauses = [];
// Tollgate's store commits, as the request thread sees them: from handing a batch to the store
// worker (a 'write' message) to its reply. Those run on the same core as the requests.
const commits = [];
const posted = new Map();
const post = Worker.prototype.postMessage;
Worker.prototype.postMessage = function (msg, ...rest) {
  if (msg?.kind === 'write') posted.set(msg.id, performance.timeOrigin + performance.now());
  return post.call(this, msg, ...rest);
};
const emit = Worker.prototype.emit;
Worker.prototype.emit = function (event, msg, ...rest) {
  const t = event === 'message' ? posted.get(msg?.id) : undefined;
  if (t !== undefined) {
    posted.delete(msg.id);
    commits.push([t, performance.timeOrigin + performance.now() - t]);
  }
  return emit.call(this, event, msg, ...rest);
};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push([performance.timeOrigin + e.startTime, e.duration, e.detail?.kind ?? 0]);
}).observe({ entryTypes: ['gc'] });
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  if (now - last > 4) pauses.push([performance.timeOrigin + last, now - last]);
  last = now;
}, 1).unref();
process.on('SIGWINCH', () => writeFileSync(process.env.TAIL_PROBE, JSON.stringify({ gcs, pauses, commits })));`;
const probeModule = join(dir, 'probe.mjs');
writeFileSync(probeModule, PROBE);
const probeFlags = ['--import', pathToFileURL(probeModule).href];

// This process's own collections: the load generator's pauses delay requests too.
const loadGcs = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) loadGcs.push([performance.timeOrigin + e.startTime, e.duration, e.detail?.kind ?? 0]);
}).observe({ entryTypes: ['gc'] });

const upPort = await freePort();
const upProbe = join(dir, 'upstream-probe.json');
const upstream = await start(1, ['node', ...probeFlags, 'bin/tollgate.js', 'mock-upstream', '--port', String(upPort)], 'listening', { TAIL_PROBE: upProbe });
const upUrl = `http://127.0.0.1:${upPort}/v1`;
const body = JSON.stringify({ model: 'bench-model', messages: [{ role: 'user', content: 'Say hello.' }] });

/** Runs the load against `url` and returns [start (wall-clock ms), duration ms] per request, in start order. */
async function load(url, key) {
  const agent = new Agent({ connections });
  const timed = [];
  let left = requests;
  const worker = async () => {
    while (left-- > 0) {
      const t0 = performance.timeOrigin + performance.now();
      const res = await request(`${url}/v1/chat/completions`, { method: 'POST', dispatcher: agent, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode}`);
      timed.push([t0, performance.timeOrigin + performance.now() - t0]);
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  await agent.close();
  return timed.sort((a, b) => a[0] - b[0]);
}

/** Asks the process under test for what its probe saw. */
async function probed(child, file) {
  rmSync(file, { force: true });
  child.kill('SIGWINCH');
  for (;;) {
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const GC_KIND = { 1: 'minor', 2: 'major', 4: 'major', 8: 'incremental', 16: 'weak callbacks' };
const ms = (v) => v.toFixed(3);

function analyse(target, timed, { gcs, pauses, commits }, upstreamGcs) {
  const kept = timed.slice(Math.floor(timed.length / 10));
  const from = kept[0][0];
  const to = kept.at(-1)[0] + kept.at(-1)[1];
  const sorted = kept.map((r) => r[1]).sort((a, b) => a - b);
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  const overlapsAny = (list) => (r) => list.some((g) => g[0] < r[0] + r[1] && g[0] + g[1] > r[0]);
  const overlaps = overlapsAny(gcs);
  const overlapsUpstream = overlapsAny(upstreamGcs);
  const overlapsLoad = overlapsAny(loadGcs);
  const threshold = pct(0.99);
  const slow = kept.filter((r) => r[1] >= threshold);
  const inWindow = gcs.filter((g) => g[0] >= from && g[0] <= to);
  const kinds = {};
  for (const g of inWindow) (kinds[GC_KIND[g[2]] ?? g[2]] ??= []).push(g[1]);
  const ends = slow.map((r) => r[0] + r[1]).sort((a, b) => a - b);
  const clusters = [];
  for (const e of ends) {
    const last = clusters.at(-1);
    if (last && e - last.end < 2) {
      last.size++;
      last.end = e;
    } else clusters.push({ end: e, size: 1 });
  }
  const whole = clusters.filter((c) => c.size >= connections && connections > 1).length;
  const windowCommits = commits.filter((c) => c[0] + c[1] >= from && c[0] <= to);
  const commitMs = windowCommits.map((c) => c[1]).sort((a, b) => a - b);
  const overlapsCommit = overlapsAny(windowCommits);
  const windowPauses = pauses.filter((p) => p[0] >= from && p[0] <= to).map((p) => p[1]).sort((a, b) => b - a);
  console.log(`\n${target}: ${kept.length} requests at ${connections} connection(s), ${((to - from) / 1000).toFixed(1)} s`);
  console.table({
    'p50 / p90 / p99 / p99.9 (ms)': `${ms(pct(0.5))} / ${ms(pct(0.9))} / ${ms(threshold)} / ${ms(pct(0.999))}`,
    'requests overlapping a collection': `${((100 * kept.filter(overlaps).length) / kept.length).toFixed(2)} %`,
    'slowest 1 % overlapping a collection': `${slow.filter(overlaps).length} of ${slow.length}`,
    'the others overlapping the upstream\'s or the load generator\'s': `${slow.filter((r) => !overlaps(r) && (overlapsUpstream(r) || overlapsLoad(r))).length}`,
    ...Object.fromEntries(
      Object.entries(kinds).map(([k, d]) => {
        d.sort((a, b) => a - b);
        return [`${k} collections: one per … requests, median / max ms`, `${Math.round(kept.length / d.length)}, ${ms(d[d.length >> 1])} / ${ms(d.at(-1))}`];
      }),
    ),
    'slowest 1 % in clusters (ends within 2 ms)': `${clusters.length} clusters, largest ${Math.max(...clusters.map((c) => c.size))}${connections > 1 ? `, ${whole} of all ${connections} in flight` : ''}`,
    ...(commitMs.length > 0
      ? {
          'store commits: count, median / max ms': `${commitMs.length}, ${ms(commitMs[commitMs.length >> 1])} / ${ms(commitMs.at(-1))}`,
          'requests / slowest 1 % overlapping a store commit': `${((100 * kept.filter(overlapsCommit).length) / kept.length).toFixed(1)} % / ${slow.filter(overlapsCommit).length} of ${slow.length}`,
        }
      : {}),
    'event-loop pauses over 4 ms': `${windowPauses.length}, longest ${windowPauses.slice(0, 5).map((p) => p.toFixed(1)).join(', ') || '—'} ms`,
  });
}

try {
  const tgPort = await freePort();
  writeFileSync(join(dir, 'tollgate.yaml'), benchConfig({ port: tgPort, storageUrl: `sqlite://${join(dir, 'tg.db')}`, upstream: upUrl }));
  const tgCmd = gateway(['serve', '--config', join(dir, 'tollgate.yaml')], [...probeFlags, ...nodeFlags]);
  const tgProbe = join(dir, 'tollgate-probe.json');
  const tg = await start(0, tgCmd.cmd, 'listening', { ...tgCmd.env, TAIL_PROBE: tgProbe });
  const tgUrl = `http://127.0.0.1:${tgPort}`;
  const timed = await load(tgUrl, await createKey(tgUrl, `tail-${Date.now()}`));
  const tgSeen = await probed(tg, tgProbe);
  analyse('Tollgate', timed, tgSeen, (await probed(upstream, upProbe)).gcs);
  await stop(tg);
  if (withFloor) {
    const floorPort = await freePort();
    const floorProbe = join(dir, 'floor-probe.json');
    const floor = await start(0, ['node', ...probeFlags, 'bench/floor-proxy.mjs', String(floorPort), upUrl, 'sk-floor-bench'], 'ready', { TAIL_PROBE: floorProbe });
    const floorTimed = await load(`http://127.0.0.1:${floorPort}`, 'sk-floor-bench');
    const floorSeen = await probed(floor, floorProbe);
    analyse('floor (bare Node relay)', floorTimed, floorSeen, (await probed(upstream, upProbe)).gcs);
  }
} finally {
  killAll();
}

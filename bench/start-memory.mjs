// What a gateway holds after start, with bench/run.mjs's configuration (SQLite, billing and
// limits on, no requests served): resident memory (VmRSS), V8 heap in use as /metrics reports it,
// and the live heap after a full collection, each the median of several starts.
//   node bench/start-memory.mjs [--runs 3] [--settle-ms 1500]
// Needs a build (npx tsc -p tsconfig.json). No load is generated, so a busy machine changes the
// figures little; the live heap after a collection is the steadiest of the three.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ADMIN_TOKEN, benchConfig, freePort, gateway, numberOption, ROOT } from './support.mjs';

const runs = numberOption('--runs', 3);
const settleMs = numberOption('--settle-ms', 1500);

// Loaded into the gateway: on SIGWINCH, a full collection, then the live heap and RSS to a file.
const PROBE = `
import { readFileSync, writeFileSync } from 'node:fs';
process.on('SIGWINCH', () => {
  globalThis.gc(); globalThis.gc();
  const rss = Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
  writeFileSync(process.env.START_MEMORY_PROBE, JSON.stringify({ live: process.memoryUsage().heapUsed, rss }));
});`;

const rssOf = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
const waitFor = (file) =>
  new Promise((resolve) => {
    const poll = () => {
      try {
        resolve(JSON.parse(readFileSync(file, 'utf8')));
      } catch {
        setTimeout(poll, 20);
      }
    };
    poll();
  });

async function oneStart() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-start-memory-'));
  const config = join(dir, 'tollgate.yaml');
  // bench/run.mjs's configuration; the upstream is never called, so it need not exist.
  writeFileSync(
    config,
    benchConfig({ port, storageUrl: `sqlite://${join(dir, 'tg.db')}`, upstream: 'http://127.0.0.1:9/v1' }),
  );
  const probe = join(dir, 'probe.json');
  const probeModule = join(dir, 'probe.mjs');
  writeFileSync(probeModule, PROBE);
  // Started as `npm start` starts it (the launcher's memory settings), with the probe added.
  const { cmd, env } = gateway(['serve', '--config', config], ['--expose-gc', '--import', pathToFileURL(probeModule).href]);
  const child = spawn(cmd[0], cmd.slice(1), {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env, START_MEMORY_PROBE: probe },
  });
  try {
    await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('listening')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the gateway exited (${code}): ${out}`)));
    });
    await new Promise((r) => setTimeout(r, settleMs));
    const rss = rssOf(child.pid);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    const heapUsed = Number(/^tollgate_nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)[1]);
    child.kill('SIGWINCH');
    const afterGc = await waitFor(probe);
    return { rss, heapUsed, liveHeap: afterGc.live, rssAfterGc: afterGc.rss };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r()));
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows = [];
for (let i = 0; i < runs; i++) rows.push(await oneStart());
const mb = (b) => (b / 2 ** 20).toFixed(1);
const median = (k) => rows.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(rows.length / 2)];
console.log(`after start, median of ${runs} (MB): RSS ${mb(median('rss'))}, heap used ${mb(median('heapUsed'))}, live heap after a full GC ${mb(median('liveHeap'))} (RSS then ${mb(median('rssAfterGc'))})`);
console.log(`each start: ${rows.map((r) => `${mb(r.rss)}/${mb(r.heapUsed)}/${mb(r.liveHeap)}`).join(', ')} (RSS/heap used/live heap)`);

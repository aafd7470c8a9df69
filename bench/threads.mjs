// CPU per request by thread, user and system time apart: the floor (one thread does it all) and
// Tollgate (as `npm start` runs it: the request thread, the store worker, and the rest: V8's
// helpers and libuv's pool), each on core 0 in turn, the load and the mock upstream on core 1.
// Read from /proc/PID/task/*/stat around each window of load; Linux only. Never run by CI.
//   npx tsc -p tsconfig.json && node bench/threads.mjs [--connections 32] [--seconds 5] [--windows 3]
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from './load.mjs';
import { freePort, killAll, numberOption, start, startBenchGateway, stop } from './support.mjs';

const connections = numberOption('--connections', 32);
const durationMs = numberOption('--seconds', 5) * 1000;
const windows = numberOption('--windows', 3);
const TICK_US = 1e6 / 100; // USER_HZ

/** Per thread of `pid`: [user µs, system µs, nice]. */
function threads(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, [Number(f[11]) * TICK_US, Number(f[12]) * TICK_US, Number(f[16])]);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

const GROUPS = ['request thread', 'store worker', 'other threads'];

/** The store worker runs at a lower priority than the rest of the process (store-worker.ts). */
function group(pid, tid, nice) {
  if (tid === String(pid)) return 'request thread';
  return nice > 0 ? 'store worker' : 'other threads';
}

async function measure(name, pid, url, key) {
  const body = { model: 'bench-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64 };
  await runLoad({ url, key, body, connections, durationMs: 2000 });
  const rows = [];
  for (let w = 0; w < windows; w++) {
    const before = threads(pid);
    const res = await runLoad({ url, key, body, connections, durationMs });
    const after = threads(pid);
    const sums = {};
    for (const [tid, [u, s, nice]] of after) {
      const [u0, s0] = before.get(tid) ?? [0, 0];
      const g = group(pid, tid, nice);
      sums[g] ??= [0, 0];
      sums[g][0] += (u - u0) / res.ok;
      sums[g][1] += (s - s0) / res.ok;
    }
    const row = { target: name, window: w + 1, rps: Math.round(res.rps) };
    let total = 0;
    for (const g of GROUPS) {
      const [u, s] = sums[g] ?? [0, 0];
      row[`${g} user+sys µs`] = sums[g] ? `${u.toFixed(0)} + ${s.toFixed(0)}` : '-';
      total += u + s;
    }
    row['all µs'] = total.toFixed(0);
    rows.push(row);
  }
  return rows;
}

try {
  const upPort = await freePort();
  await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(upPort)], 'listening');
  const upstream = `http://127.0.0.1:${upPort}/v1`;
  const floorPort = await freePort();
  const floor = await start(0, ['node', 'bench/floor-proxy.mjs', String(floorPort), upstream, 'sk-floor-bench'], 'ready');
  const rows = await measure('floor', floor.pid, `http://127.0.0.1:${floorPort}/v1/chat/completions`, 'sk-floor-bench');
  await stop(floor);
  const tg = await startBenchGateway({ dir: mkdtempSync(join(tmpdir(), 'tollgate-threads-')), name: 'tg', upstream });
  rows.push(...(await measure('tollgate', tg.child.pid, tg.url, tg.key)));
  console.log(`${connections} connections, non-stream, ${durationMs / 1000} s per window; CPU per request in µs (user + system)`);
  console.table(rows);
} finally {
  killAll();
}

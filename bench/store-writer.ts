// The store worker's cost on SQLite: CPU per committed row, and the worker's memory after start.
//
// CPU (in-process, both writers of this checkout, decode of the spool lines included, as the worker does):
//   npx tsx bench/store-writer.ts cpu [rows] [--batch 400]
// --batch sets the rows per commit: the usage writer commits every billing.flush_interval_ms
// (200) or at flush_batch_size (500) rows, so 1,000 requests a second make commits of about 200.
// The rows come from 4 orgs, 12 keys and 3 models, with ids as the gateway makes them: each
// (org, key) and (org, model) is its own run of an index, so a commit changes a page in each.
// Memory of the store worker of a compiled tree (plain JS, as `npm start` runs it; each figure is a
// fresh process: worker started, one 400-row batch committed, gc in the worker):
//   npx tsc -p tsconfig.json --outDir .bench/after
//   mkdir -p .bench/before-src && git archive <rev> src tsconfig.json | tar -x -C .bench/before-src
//   npx tsc -p .bench/before-src/tsconfig.json --outDir .bench/before
//   node --expose-gc --import tsx bench/store-writer.ts memory .bench/before
//   node --expose-gc --import tsx bench/store-writer.ts memory .bench/after
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { encodeFinished } from '../src/billing/spool/rows.js';
import { decodeLines } from '../src/billing/spool/rows.js';
import type { FinishedRequest } from '../src/billing/usage-writer.js';
import { openStore } from '../src/store/index.js';
import { SqliteBatchWriter } from '../src/store/sqlite-batch-writer.js';

const BATCH_OPTION = process.argv.indexOf('--batch');
const BATCH = BATCH_OPTION > 0 ? Number(process.argv[BATCH_OPTION + 1]) : 400;
if (!Number.isInteger(BATCH) || BATCH < 1) throw new Error('--batch takes a whole number of rows');
const ROUNDS = 5;
const MODELS = ['mock-chat', 'gpt-5.4', 'claude-sonnet-4.5'];

/** Ids as the gateway makes them (RequestGate.nextId: a per-process stem and a counter), so index inserts land where they do under load. */
const ID_STEM = randomBytes(12).toString('base64url');
let idCounter = 0;

function record(i: number, now: number): FinishedRequest {
  const request_id = `req_${ID_STEM}${(idCounter++).toString(36)}`;
  const org_id = `org_${i % 4}`;
  const key_id = `key_${i % 12}`;
  const cost = 4_860 + (i % 997);
  return {
    usage: { request_id, org_id, key_id, model: MODELS[i % 3]!, requested_model: MODELS[i % 3]!, provider: 'mock', prompt_tokens: 120 + (i % 50), completion_tokens: 300 + (i % 70), cost_micros: cost, cached: i % 20 === 0 ? 'exact' : null, status: i % 50 === 0 ? 500 : 200, error_code: i % 50 === 0 ? 'upstream_error' : null, latency_ms: 12 + (i % 900), stream: i % 2 === 0, estimated: false, fallback: null, attempts: 1, created_at: now + i, surface: 'chat', cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 },
    charge: { id: `chg_${request_id}`, org_id, key_id, kind: 'charge', amount_micros: -cost, note: null, request_id, idempotency_key: null, created_at: now + i },
  };
}

/** Spool payloads as the usage writer hands them to the worker: BATCH lines joined by newlines. */
function payloads(rows: number): string[] {
  const now = Date.now();
  const out: string[] = [];
  for (let b = 0; b < rows; b += BATCH) {
    const lines: string[] = [];
    for (let i = b; i < Math.min(rows, b + BATCH); i++) lines.push(encodeFinished(record(i, now)));
    out.push(lines.join('\n'));
  }
  return out;
}

/** Bytes this process has written through write(2) and its kind (Linux's /proc/self/io), NaN elsewhere. */
function bytesWritten(): number {
  try {
    return Number(/^wchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

async function migrated(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  const store = await openStore(`sqlite://${path}`);
  await store.migrate();
  await store.close();
  return path;
}

async function cpu(rows: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-writer-'));
  const kysely: number[] = [];
  const direct: number[] = [];
  const decode: number[] = [];
  const writes: number[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      // Fresh rows and a fresh database per round and writer: every row is new, as under load.
      const forKysely = payloads(rows);
      const forDirect = payloads(rows);
      const store = await openStore(`sqlite://${await migrated(dir, `k${r}.db`)}`);
      let t = process.cpuUsage();
      for (const p of forKysely) {
        const b = decodeLines(p.split('\n'));
        await store.writeBatch({ usage: b.usage, charges: b.charges });
      }
      kysely.push((cpuMs(process.cpuUsage(t)) * 1000) / rows);
      await store.close();

      const writer = new SqliteBatchWriter(await migrated(dir, `d${r}.db`));
      const written = bytesWritten();
      t = process.cpuUsage();
      for (const p of forDirect) {
        const b = decodeLines(p.split('\n'));
        writer.write({ usage: b.usage, charges: b.charges });
      }
      direct.push((cpuMs(process.cpuUsage(t)) * 1000) / rows);
      writes.push((bytesWritten() - written) / rows);
      writer.close();

      t = process.cpuUsage();
      for (const p of forKysely) decodeLines(p.split('\n'));
      decode.push((cpuMs(process.cpuUsage(t)) * 1000) / rows);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const f = (xs: number[]) => `${median(xs).toFixed(1)} ms  (runs: ${xs.map((x) => x.toFixed(1)).join(', ')})`;
  console.log(`store worker CPU per 1,000 rows (usage + charge + roll-ups), batches of ${BATCH}, ${rows} rows per run, median of ${ROUNDS}; ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}, Node ${process.version}`);
  console.log(`  Kysely writeBatch       ${f(kysely)}`);
  console.log(`  prepared statements     ${f(direct)}`);
  console.log(`  of which decoding lines ${f(decode)}`);
  if (writes.every(Number.isFinite)) console.log(`  bytes written per row (prepared statements: WAL, checkpoints) ${median(writes).toFixed(0)}  (runs: ${writes.map((x) => x.toFixed(0)).join(', ')})`);
}

/** One fresh worker of the compiled tree: heap after one committed batch, and the process RSS it added. */
async function memoryOnce(dist: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-worker-'));
  try {
    const path = await migrated(dir, 'w.db');
    const batch = payloads(BATCH)[0]!;
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('run with node --expose-gc');
    gc();
    const rssBefore = process.memoryUsage().rss;
    const { port1, port2 } = new MessageChannel();
    const entry = pathToFileURL(join(dist, 'billing/spool/store-worker.js')).href;
    // The real worker module, plus a side channel that reads its heap; the worker ignores extra data.
    const boot = `Promise.all([import('node:worker_threads'), import('node:v8')]).then(async ([wt, v8]) => {
      await import(${JSON.stringify(entry)});
      const heap = wt.workerData.heapPort;
      heap.on('message', () => { globalThis.gc(); globalThis.gc(); heap.postMessage(v8.getHeapStatistics()); heap.close(); });
    })`;
    const w = new Worker(boot, {
      eval: true,
      workerData: { url: `sqlite://${path}`, sqlitePath: path, heapPort: port2 },
      transferList: [port2],
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 128 },
    });
    const reply = new Promise<{ ok: boolean; error?: string }>((res) => w.once('message', res));
    w.postMessage({ kind: 'write', id: 1, payload: batch });
    const r = await reply;
    if (!r.ok) throw new Error(`worker failed: ${r.error}`);
    const stats = new Promise<{ used_heap_size: number; total_heap_size: number }>((res) => port1.once('message', res));
    port1.postMessage('heap');
    const heap = await stats;
    gc();
    const rssAfter = process.memoryUsage().rss;
    console.log(JSON.stringify({ heapUsedMB: heap.used_heap_size / 2 ** 20, heapTotalMB: heap.total_heap_size / 2 ** 20, rssAddedMB: (rssAfter - rssBefore) / 2 ** 20 }));
    port1.close();
    await w.terminate();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function memory(dist: string): void {
  const runs = Array.from({ length: ROUNDS }, () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', new URL(import.meta.url).pathname, 'memory-once', dist], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').pop()!) as { heapUsedMB: number; heapTotalMB: number; rssAddedMB: number };
  });
  const f = (k: 'heapUsedMB' | 'heapTotalMB' | 'rssAddedMB') => `${median(runs.map((r) => r[k])).toFixed(1)} MB  (runs: ${runs.map((r) => r[k].toFixed(1)).join(', ')})`;
  console.log(`store worker of ${dist}, SQLite, after start and one ${BATCH}-row batch, median of ${ROUNDS} fresh processes; Node ${process.version}`);
  console.log(`  worker heap used        ${f('heapUsedMB')}`);
  console.log(`  worker heap total       ${f('heapTotalMB')}`);
  console.log(`  process RSS added       ${f('rssAddedMB')}`);
}

const [mode = 'cpu', given] = process.argv.slice(2);
const arg = given?.startsWith('--') ? undefined : given;
if (mode === 'cpu') await cpu(Number(arg ?? 20_000));
else if (mode === 'memory') memory(resolve(arg ?? 'dist'));
else if (mode === 'memory-once') await memoryOnce(resolve(arg!));
else throw new Error(`unknown mode ${mode}: cpu | memory <dist>`);

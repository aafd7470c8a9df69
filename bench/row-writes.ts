// The request thread's share of writing stored Responses and request logs on SQLite: through the
// Kysely store on this thread, or handed to the store worker (WorkerSink). For each, per round of
// writes: the better-sqlite3 statements run on this thread, the time this thread spent inside
// them (blocked: better-sqlite3 is synchronous), and this thread's event-loop active time
// (encoding, Kysely, postMessage, the statements). Median of ROUNDS rounds.
//   npx tsx bench/row-writes.ts [responses] [contextKiB]
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { WorkerSink } from '../src/billing/spool/worker-sink.js';
import { openStore } from '../src/store/index.js';
import type { RequestLogRow, StoredResponseRow } from '../src/store/types.js';

const ROUNDS = 5;
const RESPONSES = Number(process.argv[2] ?? 200);
const CONTEXT_KIB = Number(process.argv[3] ?? 32);
const LOGS_PER_BATCH = 20;

const require = createRequire(import.meta.url);
const Sqlite = require('better-sqlite3') as typeof import('better-sqlite3');
const probe = new Sqlite(':memory:');
const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, unknown>;
probe.close();
const seen = { statements: 0, blockedNs: 0n };
for (const name of ['run', 'get', 'all', 'iterate']) {
  const f = proto[name] as (...a: unknown[]) => unknown;
  proto[name] = function (this: unknown, ...args: unknown[]) {
    seen.statements++;
    const t = process.hrtime.bigint();
    try {
      return f.apply(this, args);
    } finally {
      seen.blockedNs += process.hrtime.bigint() - t;
    }
  };
}

/** A Codex-like stored response: the conversation so far as message items, about CONTEXT_KIB of JSON. */
function responseRow(i: number, now: number): StoredResponseRow {
  const context: Record<string, unknown>[] = [];
  let size = 0;
  for (let t = 0; size < CONTEXT_KIB * 1024; t++) {
    const item = { id: `msg_${i}_${t}`, type: 'message', role: t % 2 ? 'assistant' : 'user', content: [{ type: t % 2 ? 'output_text' : 'input_text', text: `turn ${t}: ${'lorem ipsum dolor sit amet '.repeat(20)}` }] };
    size += JSON.stringify(item).length;
    context.push(item);
  }
  const id = `resp_${i}_${now}`;
  return {
    id,
    org_id: 'org_a',
    key_id: 'key_1',
    model: 'gpt-5.4',
    previous_response_id: null,
    response: { id, object: 'response', status: 'completed', output: [context[context.length - 1]], usage: { input_tokens: 9000, output_tokens: 300 } },
    input_items: context.slice(-1),
    context,
    created_at: now,
    expires_at: now + 30 * 86_400_000,
  };
}

function logRow(i: number, now: number): RequestLogRow {
  return { request_id: `req_${i}_${now}`, org_id: 'org_a', key_id: 'key_1', route: 'chat', request: 'x'.repeat(2048), response: 'y'.repeat(4096), truncated: false, created_at: now, expires_at: now + 86_400_000 };
}

interface Writes {
  putResponse(row: StoredResponseRow): Promise<void>;
  insertRequestLogs(rows: RequestLogRow[]): Promise<void>;
}

async function round(w: Writes, offset: number): Promise<{ statements: number; blockedMs: number; activeMs: number }> {
  const now = Date.now() + offset;
  const rows = Array.from({ length: RESPONSES }, (_, i) => responseRow(i, now));
  const logs = Array.from({ length: RESPONSES / LOGS_PER_BATCH }, (_, b) => Array.from({ length: LOGS_PER_BATCH }, (_, i) => logRow(b * LOGS_PER_BATCH + i, now)));
  const before = { ...seen };
  const elu = performance.eventLoopUtilization();
  // As the gateway does: each answer's save is started and not awaited by the request.
  const pending: Promise<void>[] = [];
  for (const r of rows) pending.push(w.putResponse(r));
  for (const batch of logs) pending.push(w.insertRequestLogs(batch));
  await Promise.all(pending);
  const active = performance.eventLoopUtilization(elu).active;
  return { statements: seen.statements - before.statements, blockedMs: Number(seen.blockedNs - before.blockedNs) / 1e6, activeMs: active };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-row-writes-'));
try {
  const path = join(dir, 'tollgate.db');
  const store = await openStore(`sqlite://${path}`);
  await store.migrate();
  const sink = new WorkerSink({ url: `sqlite://${path}` });
  sink.start();
  const rowWrites = sink.rowWrites!;
  const ways: Array<[string, Writes]> = [
    ['kysely on the request thread', store],
    ['store worker', rowWrites],
  ];
  // Warm both (statement caches, JIT, the worker's start).
  for (const [, w] of ways) await round(w, -1);
  console.log(`${RESPONSES} stored responses (~${CONTEXT_KIB} KiB of context each) + ${RESPONSES / LOGS_PER_BATCH} request-log batches of ${LOGS_PER_BATCH}, median of ${ROUNDS}:`);
  for (const [name, w] of ways) {
    const results = [];
    for (let r = 0; r < ROUNDS; r++) results.push(await round(w, r + (name.length << 8)));
    console.log(
      `  ${name}: ${median(results.map((x) => x.statements))} SQLite statements on the request thread, ${median(results.map((x) => x.blockedMs)).toFixed(1)} ms blocked in them, ${median(results.map((x) => x.activeMs)).toFixed(1)} ms event-loop active`,
    );
  }
  await sink.close();
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

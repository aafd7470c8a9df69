// Cost of the write-ahead spool on the request thread, per finished request: encoding the row,
// the append (one write(2), no fsync), and a whole enqueue with and without the spool.
// Group commits run in the store worker and are not on this thread, so a sink that takes the
// batch at once stands in for it here.
// Run: npx tsx bench/spool.ts [records]
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFinished } from '../src/billing/spool/rows.js';
import { claimSlots } from '../src/billing/spool/slots.js';
import { Spool } from '../src/billing/spool/spool.js';
import { type FinishedRequest, UsageWriter } from '../src/billing/usage-writer.js';
import { createLogger } from '../src/observability/logger.js';

const N = Number(process.argv[2] ?? 200_000);
const ROUNDS = 5;

function record(i: number): FinishedRequest {
  const now = Date.now();
  const request_id = `req_${randomUUID()}`;
  return {
    usage: { request_id, org_id: 'org_bench', key_id: 'key_bench', model: 'mock-chat', requested_model: 'mock-chat', provider: 'mock', prompt_tokens: 120 + (i % 50), completion_tokens: 300 + (i % 70), cost_micros: 4_860 + i, cached: null, status: 200, error_code: null, latency_ms: 12, stream: i % 2 === 0, estimated: false, fallback: null, attempts: 1, created_at: now, surface: 'chat', cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 },
    charge: { id: `chg_${randomUUID()}`, org_id: 'org_bench', key_id: 'key_bench', kind: 'charge', amount_micros: -(4_860 + i), note: null, request_id, idempotency_key: null, created_at: now },
  };
}

/**
 * Best of ROUNDS, in µs of this process's CPU (user + system) per record: on a shared machine
 * wall time also counts the time other processes held the core.
 */
function best(fn: () => void): number {
  let min = Number.POSITIVE_INFINITY;
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.cpuUsage();
    fn();
    const used = process.cpuUsage(t);
    min = Math.min(min, (used.user + used.system) / N);
  }
  return min;
}

const items = Array.from({ length: N }, (_, i) => record(i));
const lines = items.map(encodeFinished);
const root = mkdtempSync(join(tmpdir(), 'tollgate-bench-spool-'));
const log = createLogger({ level: 'silent' });
const instant = { write: async () => undefined };

try {
  const encode = best(() => {
    for (const it of items) encodeFinished(it);
  });
  const append = best(() => {
    const spool = new Spool(claimSlots(root).slot, { segmentBytes: 64 * 1024 * 1024, onError: () => undefined });
    for (const l of lines) spool.append(l);
    spool.close();
  });
  const enqueue = (withSpool: boolean) =>
    best(() => {
      const spool = withSpool ? new Spool(claimSlots(root).slot, { segmentBytes: 8 * 1024 * 1024, onError: () => undefined }) : undefined;
      const w = new UsageWriter({ writeBatch: async () => undefined }, log, { flushIntervalMs: 200, batchSize: 500, maxQueue: N + 1, sink: instant, ...(spool ? { spool } : {}) });
      for (const it of items) w.enqueue(it);
      spool?.close();
    });
  const memoryOnly = enqueue(false);
  const spooled = enqueue(true);
  const bytes = lines.reduce((s, l) => s + Buffer.byteLength(l) + 1, 0) / N;
  console.log(`spool cost per finished request, ${N} records, best of ${ROUNDS}, CPU time; ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}, Node ${process.version}`);
  console.log(`  row size                       ${bytes.toFixed(0)} bytes`);
  console.log(`  encode (JSON line)             ${encode.toFixed(2)} µs`);
  console.log(`  append (write(2), no fsync)    ${append.toFixed(2)} µs`);
  console.log(`  enqueue, memory only           ${memoryOnly.toFixed(2)} µs`);
  console.log(`  enqueue, spooled               ${spooled.toFixed(2)} µs`);
  console.log(`  spool's added cost per request ${(spooled - memoryOnly).toFixed(2)} µs`);
} finally {
  rmSync(root, { recursive: true, force: true });
}

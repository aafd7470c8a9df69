// The store worker writes SQLite with prepared better-sqlite3 statements. A batch it cannot commit
// must come back to the usage writer as a failure (so the rows stay queued and are retried), and
// the retry must commit them once, with the worker closing cleanly afterwards.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkerSink } from '../../src/billing/spool/worker-sink.js';
import { type FinishedRequest, UsageWriter } from '../../src/billing/usage-writer.js';
import { createLogger } from '../../src/observability/logger.js';
import { openStore } from '../../src/store/index.js';

function finished(orgId: string, cost: number): FinishedRequest {
  const now = Date.now();
  const request_id = `req_${randomUUID()}`;
  return {
    usage: { request_id, org_id: orgId, key_id: 'key_w', model: 'mock-chat', requested_model: 'mock-chat', provider: 'mock', prompt_tokens: 5, completion_tokens: 7, cost_micros: cost, cached: null, status: 200, error_code: null, latency_ms: 3, stream: false, estimated: false, fallback: null, attempts: 1, created_at: now, surface: 'chat', cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 },
    charge: { id: `chg_${randomUUID()}`, org_id: orgId, key_id: 'key_w', kind: 'charge', amount_micros: -cost, note: null, request_id, idempotency_key: null, created_at: now },
  };
}

describe('SQLite store worker', () => {
  let dir: string;
  let dbPath: string;
  let sink: WorkerSink;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-sqlite-worker-'));
    dbPath = join(dir, 'tollgate.db');
    sink = new WorkerSink({ url: `sqlite://${dbPath}` });
    sink.start();
  });
  afterEach(async () => {
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports a batch it cannot commit, and commits it exactly once when the writer retries', async () => {
    const failures: unknown[] = [];
    let failed: () => void = () => undefined;
    const firstFailure = new Promise<void>((resolve) => (failed = resolve));
    const log = createLogger({ level: 'silent' });
    log.warn = ((obj: unknown) => {
      failures.push(obj);
      failed();
    }) as typeof log.warn;
    // The database has no tables yet: the worker's insert cannot be prepared.
    const writer = new UsageWriter({ writeBatch: async () => undefined }, log, { flushIntervalMs: 1, batchSize: 10, maxQueue: 100, sink });
    const items = [finished('org_x', 120), finished('org_x', 80), finished('org_y', 5)];
    for (const it of items) writer.enqueue(it);
    await firstFailure;
    expect(String((failures[0] as { err: Error }).err.message)).toMatch(/no such table/);
    expect(writer.pending).toBe(3);

    const store = await openStore(`sqlite://${dbPath}`);
    try {
      await store.migrate();
      expect(await writer.flushAll(30_000)).toBe(0);
      const balances = await store.balances();
      expect(balances.get('org_x')).toBe(-200);
      expect(balances.get('org_y')).toBe(-5);
      // The same rows again (a retry after a lost reply) change nothing.
      await sink.write(Buffer.from(items.map((i) => JSON.stringify(i)).join('\n')));
      expect((await store.balances()).get('org_x')).toBe(-200);
    } finally {
      await store.close();
    }
    await sink.close();
    // SQLite removes the WAL file when the last connection to the database closes: the worker closed its own.
    expect(existsSync(`${dbPath}-wal`)).toBe(false);
    const other = new BetterSqlite3(dbPath, { readonly: true });
    try {
      expect(other.prepare('select count(*) as n from usage').get()).toEqual({ n: 3 });
    } finally {
      other.close();
    }
  });
});

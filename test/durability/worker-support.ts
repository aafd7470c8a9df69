// Shared by the store-worker suites: a finished request's rows, and a fresh migrated SQLite
// store with a started store worker on it for each test.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { WorkerSink } from '../../src/billing/spool/worker-sink.js';
import type { FinishedRequest } from '../../src/billing/usage-writer.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';

/** A finished, charged chat request of `orgId` costing `cost` micro-USD, under a new request id. */
export function finishedRequest(orgId: string, cost = 100, keyId = 'key_w'): FinishedRequest {
  const now = Date.now();
  const request_id = `req_${randomUUID()}`;
  return {
    usage: { request_id, org_id: orgId, key_id: keyId, model: 'mock-chat', requested_model: 'mock-chat', provider: 'mock', prompt_tokens: 5, completion_tokens: 7, cost_micros: cost, cached: null, status: 200, error_code: null, latency_ms: 3, stream: false, estimated: false, fallback: null, attempts: 1, created_at: now, surface: 'chat', cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 },
    charge: { id: `chg_${randomUUID()}`, org_id: orgId, key_id: keyId, kind: 'charge', amount_micros: -cost, note: null, request_id, idempotency_key: null, created_at: now },
  };
}

export interface SqliteWithWorker {
  dir: string;
  dbPath: string;
  store: Store;
  sink: WorkerSink;
}

/**
 * Registers, in the calling describe block, a fresh SQLite store (migrated) and a started store
 * worker on it before each test, both closed and the directory removed after it.
 */
export function useSqliteWithWorker(prefix: string): SqliteWithWorker {
  const f = {} as SqliteWithWorker;
  beforeEach(async () => {
    f.dir = mkdtempSync(join(tmpdir(), prefix));
    f.dbPath = join(f.dir, 'tollgate.db');
    f.store = await openStore(`sqlite://${f.dbPath}`);
    await f.store.migrate();
    f.sink = new WorkerSink({ url: `sqlite://${f.dbPath}` });
    f.sink.start();
  });
  afterEach(async () => {
    await f.sink.close();
    await f.store.close();
    rmSync(f.dir, { recursive: true, force: true });
  });
  return f;
}

// ARCHITECTURE hot-path rule 1: this thread's own writes to the store (the sole-instance lease,
// pruning) run between the usage writer's batch commits, never while a commit holds SQLite's
// write lock in the worker, so they cannot block the event loop in SQLite's busy wait.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkerSink } from '../../src/billing/spool/worker-sink.js';
import { type BatchSink, type FinishedRequest, UsageWriter } from '../../src/billing/usage-writer.js';
import { createLogger } from '../../src/observability/logger.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';

function finished(orgId: string): FinishedRequest {
  const now = Date.now();
  const request_id = `req_${randomUUID()}`;
  return {
    usage: { request_id, org_id: orgId, key_id: 'key_x', model: 'mock-chat', requested_model: 'mock-chat', provider: 'mock', prompt_tokens: 5, completion_tokens: 7, cost_micros: 100, cached: null, status: 200, error_code: null, latency_ms: 3, stream: false, estimated: false, fallback: null, attempts: 1, created_at: now, surface: 'chat', cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 },
    charge: { id: `chg_${randomUUID()}`, org_id: orgId, key_id: 'key_x', kind: 'charge', amount_micros: -100, note: null, request_id, idempotency_key: null, created_at: now },
  };
}

const silent = createLogger({ level: 'silent' });
const turn = () => new Promise((r) => setImmediate(r));

function deferred<T = void>(): { promise: Promise<T>; resolve(v?: T): void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve: (v?: T) => resolve(v as T) };
}

describe('UsageWriter.exclusive', () => {
  it('waits for the batch being committed, and holds the next batch until its work settles', async () => {
    const events: string[] = [];
    const commits: Array<{ done: ReturnType<typeof deferred> }> = [];
    const started = [deferred(), deferred()];
    const sink: BatchSink = {
      write(payload) {
        const n = commits.length;
        events.push(`commit ${n} starts (${payload.split('\n').length} rows)`);
        const done = deferred();
        commits.push({ done });
        started[n]?.resolve();
        return done.promise.then(() => void events.push(`commit ${n} ends`));
      },
    };
    const writer = new UsageWriter({ writeBatch: async () => undefined }, silent, { flushIntervalMs: 1, batchSize: 100, maxQueue: 1000, sink });
    writer.enqueue(finished('org_a'));
    await started[0]!.promise;

    const workStarted = deferred();
    const workDone = deferred<string>();
    const exclusive = writer.exclusive(async () => {
      events.push('work starts');
      workStarted.resolve();
      const v = await workDone.promise;
      events.push('work ends');
      return v;
    });
    for (let i = 0; i < 5; i++) await turn();
    expect(events, 'the work waits for the commit in progress').toEqual(['commit 0 starts (1 rows)']);

    commits[0]!.done.resolve();
    await workStarted.promise;
    writer.enqueue(finished('org_a'));
    writer.enqueue(finished('org_a'));
    const flushed = writer.flushAll(5000);
    for (let i = 0; i < 5; i++) await turn();
    expect(commits.length, 'no batch is committed while the work runs').toBe(1);

    workDone.resolve('lease taken');
    expect(await exclusive).toBe('lease taken');
    await started[1]!.promise;
    commits[1]!.done.resolve();
    expect(await flushed).toBe(0);
    expect(events).toEqual(['commit 0 starts (1 rows)', 'commit 0 ends', 'work starts', 'work ends', 'commit 1 starts (2 rows)', 'commit 1 ends']);
  });

  it('lets the next batch go when the work fails', async () => {
    let writes = 0;
    const writer = new UsageWriter({ writeBatch: async () => undefined }, silent, {
      flushIntervalMs: 1,
      batchSize: 100,
      maxQueue: 1000,
      sink: {
        async write() {
          writes++;
        },
      },
    });
    await expect(writer.exclusive(async () => Promise.reject(new Error('store refused')))).rejects.toThrow('store refused');
    writer.enqueue(finished('org_b'));
    expect(await writer.flushAll(5000)).toBe(0);
    expect(writes).toBe(1);
  });
});

describe('a write from the request thread while the worker waits on the SQLite lock', () => {
  let dir: string;
  let dbPath: string;
  let store: Store;
  let sink: WorkerSink;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-exclusive-'));
    dbPath = join(dir, 'tollgate.db');
    store = await openStore(`sqlite://${dbPath}`);
    await store.migrate();
    sink = new WorkerSink({ url: `sqlite://${dbPath}` });
    sink.start();
  });
  afterEach(async () => {
    await sink.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the event loop turning, then takes the lease once the commit is through', async () => {
    await sink.write('');
    const committing = deferred();
    const watched: BatchSink = {
      write(payload) {
        committing.resolve();
        return sink.write(payload);
      },
    };
    const writer = new UsageWriter(store, silent, { flushIntervalMs: 1, batchSize: 10, maxQueue: 100, sink: watched });
    // Another connection holds the write lock: the worker's commit waits on it.
    const other = new BetterSqlite3(dbPath);
    other.prepare('begin immediate').run();
    try {
      writer.enqueue(finished('org_c'));
      // Once the commit is under way, the lease write queues behind it instead of meeting the lock.
      await committing.promise;
      let leased = false;
      const lease = writer.exclusive(() => store.takeLease('test-lease', 'holder-1', 60_000)).then((r) => {
        leased = true;
        return r;
      });
      let turns = 0;
      for (; turns < 50; turns++) await turn();
      expect(leased, 'the lease waits for the commit').toBe(false);
      other.prepare('commit').run();
      expect((await lease).ok).toBe(true);
      expect(await writer.flushAll(5000)).toBe(0);
      expect(other.prepare('select count(*) as n from usage where org_id = ?').get('org_c')).toEqual({ n: 1 });
    } finally {
      if (other.inTransaction) other.prepare('rollback').run();
      other.close();
    }
  });
});


import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { type BatchSink, UsageWriter } from '../../src/billing/usage-writer.js';
import { createLogger } from '../../src/observability/logger.js';
import { finishedRequest, useSqliteWithWorker } from './worker-support.js';


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
        events.push(`commit ${n} starts (${Buffer.from(payload).toString('utf8').split('\n').length} rows)`);
        const done = deferred();
        commits.push({ done });
        started[n]?.resolve();
        return done.promise.then(() => void events.push(`commit ${n} ends`));
      },
    };
    const writer = new UsageWriter({ writeBatch: async () => undefined }, silent, { flushIntervalMs: 1, batchSize: 100, maxQueue: 1000, sink });
    writer.enqueue(finishedRequest('org_a'));
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
    writer.enqueue(finishedRequest('org_a'));
    writer.enqueue(finishedRequest('org_a'));
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
    writer.enqueue(finishedRequest('org_b'));
    expect(await writer.flushAll(5000)).toBe(0);
    expect(writes).toBe(1);
  });
});

describe('a write from the request thread while the worker waits on the SQLite lock', () => {
  const w = useSqliteWithWorker('tollgate-exclusive-');

  it('keeps the event loop turning, then takes the lease once the commit is through', async () => {
    await w.sink.write(new Uint8Array(0));
    const committing = deferred();
    const watched: BatchSink = {
      write(payload) {
        committing.resolve();
        return w.sink.write(payload);
      },
    };
    const writer = new UsageWriter(w.store, silent, { flushIntervalMs: 1, batchSize: 10, maxQueue: 100, sink: watched });
    // Another connection holds the write lock: the worker's commit waits on it.
    const other = new BetterSqlite3(w.dbPath);
    other.prepare('begin immediate').run();
    try {
      writer.enqueue(finishedRequest('org_c'));
      // Once the commit is under way, the lease write queues behind it instead of meeting the lock.
      await committing.promise;
      let leased = false;
      const lease = writer.exclusive(() => w.store.takeLease('test-lease', 'holder-1', 60_000)).then((r) => {
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

// Back-pressure from the store: the store worker runs below the request thread's priority, so on
// a core the requests keep busy it gets only what they leave. When more than a few batches of
// usage rows wait while the store does commit them, new inference requests wait (at most a
// tenth of a second at a time) until the queue is down to a couple of batches, instead of the
// queue growing for as long as the load lasts. A failing store is not waited for. The batches
// reach the sink as bytes, split into lines where they are committed.
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linesOf } from '../../src/billing/spool/rows.js';
import { type BatchSink, UsageWriter } from '../../src/billing/usage-writer.js';
import { createLogger } from '../../src/observability/logger.js';
import { usageOf } from '../helpers/account.js';
import { chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { finishedRequest } from './worker-support.js';

const silent = createLogger({ level: 'silent' });
const turn = () => new Promise<void>((r) => setImmediate(r));

interface Commit {
  promise: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

/** A sink whose commits the test ends one by one. */
function heldSink() {
  const commits: Commit[] = [];
  const sink: BatchSink = {
    write() {
      const c = {} as Commit;
      c.promise = new Promise<void>((resolve, reject) => Object.assign(c, { resolve, reject }));
      commits.push(c);
      return c.promise;
    },
  };
  return { sink, commits };
}

describe('UsageWriter: a full batch', () => {
  it('is committed at once, not after the flush interval that a partial batch started', async () => {
    const { sink, commits } = heldSink();
    // An hour's interval: only a full batch can start a commit within the test.
    const writer = new UsageWriter({ writeBatch: async () => undefined }, silent, { flushIntervalMs: 3_600_000, batchSize: 3, maxQueue: 1000, sink });
    writer.enqueue(finishedRequest('org_a'));
    await turn();
    expect(commits.length).toBe(0);
    writer.enqueue(finishedRequest('org_a'));
    writer.enqueue(finishedRequest('org_a'));
    while (commits.length === 0) await turn();
    commits[0]!.resolve();
    // The next partial batch waits for the interval again; a full one does not.
    for (let i = 0; i < 4; i++) writer.enqueue(finishedRequest('org_a'));
    while (commits.length < 2) await turn();
    commits[1]!.resolve();
    await turn();
    expect(commits.length).toBe(2);
    expect(writer.pending).toBe(1);
    writer.drain(1000).catch(() => undefined);
    while (commits.length < 3) await turn();
    commits[2]!.resolve();
  });
});

describe('UsageWriter: behind and caughtUp', () => {
  it('is behind past four batches while commits succeed, and lets held callers go at two batches', async () => {
    const { sink, commits } = heldSink();
    const writer = new UsageWriter({ writeBatch: async () => undefined }, silent, { flushIntervalMs: 1, batchSize: 2, maxQueue: 1000, sink });
    writer.enqueue(finishedRequest('org_a'));
    writer.enqueue(finishedRequest('org_a'));
    while (commits.length === 0) await turn();
    for (let i = 0; i < 6; i++) writer.enqueue(finishedRequest('org_a'));
    expect(writer.pending).toBe(8);
    expect(writer.behind).toBe(false);
    writer.enqueue(finishedRequest('org_a'));
    expect(writer.behind).toBe(true);

    let released = -1;
    const held = writer.caughtUp().then(() => {
      released = writer.pending;
    });
    // One hold for every caller.
    expect(writer.caughtUp()).toBe(writer.caughtUp());
    // The first commit leaves 7 rows: still more than two batches.
    commits[0]!.resolve();
    while (commits.length < 2) await turn();
    await turn();
    expect(released).toBe(-1);
    // The next leaves 5, then 3: down to two batches (4 rows), the hold ends.
    commits[1]!.resolve();
    while (commits.length < 3) await turn();
    expect(released).toBe(-1);
    commits[2]!.resolve();
    await held;
    expect(released).toBe(3);
    expect(writer.behind).toBe(false);
    while (commits.length < 4) await turn();
    commits[3]!.resolve();
    while (commits.length < 5) await turn();
    commits[4]!.resolve();
    expect(await writer.flushAll(1000)).toBe(0);
  });

  /** Batches of one row, the first commit waiting, five rows behind it: the store is behind. */
  async function behindByFive(orgId: string) {
    const { sink, commits } = heldSink();
    const writer = new UsageWriter({ writeBatch: async () => undefined }, silent, { flushIntervalMs: 1, batchSize: 1, maxQueue: 1000, sink });
    writer.enqueue(finishedRequest(orgId));
    while (commits.length === 0) await turn();
    for (let i = 0; i < 5; i++) writer.enqueue(finishedRequest(orgId));
    return { writer, commits };
  }

  it('lets held callers go when a commit fails, and is not behind a failing store', async () => {
    const { writer, commits } = await behindByFive('org_b');
    expect(writer.behind).toBe(true);
    const held = writer.caughtUp();
    commits[0]!.reject(new Error('store down'));
    await held;
    expect(writer.pending).toBe(6);
    expect(writer.behind).toBe(false);
    await writer.close();
  });

  it('lets held callers go after at most a tenth of a second when the store takes longer', async () => {
    const { writer } = await behindByFive('org_c');
    const held = writer.caughtUp();
    await held;
    // The commit has not ended: the hold ran out, and the next caller gets a new one.
    expect(writer.behind).toBe(true);
    expect(writer.caughtUp()).not.toBe(held);
    await writer.close();
  });
});

describe('inference requests while the store is behind', () => {
  let gw: TestGateway;
  let key: string;
  let mk: string;

  beforeAll(async () => {
    // Batches of one row: a handful of requests puts the store four batches behind.
    gw = await startTestGateway({ raw: { billing: { flush_interval_ms: 1, flush_batch_size: 1 } } });
    ({ mk } = await gw.createOrg(10));
    ({ key } = await gw.createKey(mk));
  });
  afterAll(() => gw.close());

  const held = async () => {
    const text = await (await gw.admin('/metrics')).text();
    const m = /^tollgate_requests_held_total (\d+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  };
  const body = { model: 'mock-chat', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 };
  const embed = () =>
    fetch(`${gw.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'mock-embedding', input: 'hi' }) });

  it('are held while commits wait on the database, answered, and every row is committed once it is free', async () => {
    const usage = gw.running.gateway.usage;
    expect((await chat(gw.url, key, body)).status).toBe(200);
    expect(await held()).toBe(0);
    // That request's row is committed before the lock is taken, so the count below starts at zero.
    expect(await usage.flushAll(5000)).toBe(0);

    // Another connection holds the write lock: the store worker's commits wait on it (not fail).
    const other = new BetterSqlite3(`${gw.dir}/tollgate.db`);
    other.prepare('begin immediate').run();
    let answered = 0;
    try {
      while (!usage.behind) {
        expect((await chat(gw.url, key, body)).status).toBe(200);
        answered++;
      }
      expect(answered).toBeGreaterThan(4);
      // The direct lane (chat) and the routed path (embeddings) both hold a request, then answer it.
      expect((await chat(gw.url, key, body)).status).toBe(200);
      expect(await held()).toBe(1);
      expect((await embed()).status).toBe(200);
      expect(await held()).toBe(2);
    } finally {
      other.prepare('commit').run();
      other.close();
    }
    expect(await usage.flushAll(10_000)).toBe(0);
    expect(usage.behind).toBe(false);
    // The first request, those that put the store behind, and the two held ones.
    expect((await usageOf(gw, mk)).length).toBe(answered + 3);
    // Not behind: no request waits.
    expect((await chat(gw.url, key, body)).status).toBe(200);
    expect(await held()).toBe(2);
  });
});

describe('a batch as bytes', () => {
  it('is split into the same lines as its text, multi-byte characters and empty lines included', () => {
    for (const text of ['', 'one', 'one\ntwo', 'one\n', '\n', 'caf\u00e9\n\u2603 \ud83d\ude42\n\nlast']) {
      // A view into a larger buffer, as the batch's bytes are.
      const whole = Buffer.from(`xx${text}yy`);
      expect(linesOf(whole.subarray(2, whole.length - 2))).toEqual(text.split('\n'));
    }
  });
});

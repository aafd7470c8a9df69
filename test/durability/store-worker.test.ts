
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeLines, encodeFinished } from '../../src/billing/spool/rows.js';
import { claimSlots } from '../../src/billing/spool/slots.js';
import { Spool } from '../../src/billing/spool/spool.js';
import { UsageWriter } from '../../src/billing/usage-writer.js';
import { createLogger } from '../../src/observability/logger.js';
import { finishedRequest, useSqliteWithWorker } from './worker-support.js';


const silent = createLogger({ level: 'silent' });
const turn = () => new Promise((r) => setTimeout(r, 0));

describe('usage rows are committed off the request thread', () => {
  const w = useSqliteWithWorker('tollgate-worker-');

  it('keeps the event loop turning while a commit waits on the database lock, and commits once the lock is free', async () => {
    // Warm the worker so the write below really waits on the lock, not on the worker's start.
    await w.sink.write(new Uint8Array(0));
    const failures: unknown[] = [];
    const log = createLogger({ level: 'silent' });
    log.warn = ((obj: unknown) => void failures.push(obj)) as typeof log.warn;
    const writer = new UsageWriter(w.store, log, { flushIntervalMs: 1, batchSize: 10, maxQueue: 100, sink: w.sink });
    const other = new BetterSqlite3(w.dbPath);
    other.prepare('begin immediate').run();
    let locked = true;
    try {
      writer.enqueue(finishedRequest('org_w', 120));
      const flushed = writer.flushAll(60_000);
      // On the request thread a locked SQLite write blocks in its busy handler and then fails;
      // here the thread goes on, and nothing has failed.
      for (let i = 0; i < 5; i++) await turn();
      expect(failures).toEqual([]);
      expect(writer.pending).toBe(1);
      other.prepare('commit').run();
      locked = false;
      expect(await flushed).toBe(0);
    } finally {
      if (locked) other.prepare('rollback').run();
      other.close();
    }
    expect(failures).toEqual([]);
    expect((await w.store.balances()).get('org_w')).toBe(-120);
  });
});

describe('the write-ahead spool', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'tollgate-spool-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('holds every accepted row while the store takes none, and signals full instead of blocking enqueue', async () => {
    const { slot } = claimSlots(root);
    const spool = new Spool(slot, { segmentBytes: 1 << 20, onError: () => undefined });
    const never = { write: () => new Promise<void>(() => undefined) };
    const writer = new UsageWriter({ writeBatch: async () => undefined }, silent, { flushIntervalMs: 1, batchSize: 2, maxQueue: 5, sink: never, spool });
    const items = Array.from({ length: 5 }, () => finishedRequest('org_s', 10));
    for (const it of items) writer.enqueue(it);
    expect(writer.full).toBe(true);
    const lines = readdirSync(slot)
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) => readFileSync(join(slot, f), 'utf8').split('\n').filter(Boolean));
    expect(decodeLines(lines).usage.map((u) => u.request_id)).toEqual(items.map((i) => i.usage.request_id));
    expect(spool.close()).toBe(5);
  });

  it('drops a segment once all its rows are in the store, and truncates the live one', async () => {
    const { slot } = claimSlots(root);
    const spool = new Spool(slot, { segmentBytes: 2000, onError: () => undefined });
    const committed: string[] = [];
    const writer = new UsageWriter({ writeBatch: async (b) => void committed.push(...b.usage.map((u) => u.request_id)) }, silent, { flushIntervalMs: 1, batchSize: 1000, maxQueue: 10_000, spool });
    for (let i = 0; i < 20; i++) writer.enqueue(finishedRequest('org_t', 10));
    expect(readdirSync(slot).filter((f) => f.endsWith('.jsonl')).length).toBeGreaterThan(1);
    expect(await writer.flushAll(10_000)).toBe(0);
    expect(committed).toHaveLength(20);
    const left = readdirSync(slot).filter((f) => f.endsWith('.jsonl'));
    expect(left).toHaveLength(1);
    expect(readFileSync(join(slot, left[0]!), 'utf8')).toBe('');
    expect(await writer.close()).toBe(0);
    expect(readdirSync(root)).toEqual([]);
  });

  it('keeps rows waiting for their commit as bytes outside the JavaScript heap, and commits them in order after a failure', async () => {
    const { slot } = claimSlots(root);
    const spool = new Spool(slot, { segmentBytes: 3000, onError: () => undefined });
    const payloads: string[] = [];
    let fail = true;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const sink = {
      async write(payload: Uint8Array) {
        await held;
        payloads.push(Buffer.from(payload).toString('utf8'));
        if (fail) {
          fail = false;
          throw new Error('store down');
        }
      },
    };
    const writer = new UsageWriter({ writeBatch: async () => undefined }, silent, { flushIntervalMs: 1, batchSize: 8, maxQueue: 10_000, sink, spool });
    const items = Array.from({ length: 40 }, () => finishedRequest('org_b', 10));
    const before = process.memoryUsage().arrayBuffers;
    for (const it of items) writer.enqueue(it);
    // The rows' bytes are held in ArrayBuffers (off the V8 heap) until their batch commits.
    const bytes = items.reduce((n, it) => n + Buffer.byteLength(encodeFinished(it)) + 1, 0);
    expect(process.memoryUsage().arrayBuffers - before).toBeGreaterThanOrEqual(bytes);
    expect(readdirSync(slot).filter((f) => f.endsWith('.jsonl')).length).toBeGreaterThan(1);
    release();
    expect(await writer.flushAll(10_000)).toBe(0);
    // Five batches of eight, the first sent twice (it failed once), every row once in order after it.
    expect(payloads).toHaveLength(6);
    expect(payloads[0]).toBe(payloads[1]);
    const ids = payloads.slice(1).flatMap((p) => decodeLines(p.split('\n')).usage.map((u) => u.request_id));
    expect(ids).toEqual(items.map((i) => i.usage.request_id));
    // Every segment's rows were counted committed: the spool keeps nothing.
    expect(await writer.close()).toBe(0);
    expect(readdirSync(root)).toEqual([]);
  });

  it('gives a slot whose process is gone to the next process, and never one whose process is alive', () => {
    const mine = claimSlots(root);
    // This process is alive: a second claim gets a slot of its own and no orphans.
    const second = claimSlots(root);
    expect(second.slot).not.toBe(mine.slot);
    expect(second.orphans).toEqual([]);
    // A released slot (its owner shut down with rows left) is taken over for replay.
    const spool = new Spool(second.slot, { segmentBytes: 1 << 20, onError: () => undefined });
    spool.append(JSON.stringify(finishedRequest('org_r', 5)));
    spool.close();
    const third = claimSlots(root);
    expect(third.orphans).toHaveLength(1);
    expect(readdirSync(third.orphans[0]!).some((f) => f.endsWith('.jsonl'))).toBe(true);
  });
});

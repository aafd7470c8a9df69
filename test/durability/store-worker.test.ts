// ARCHITECTURE hot-path rule 1 (no store round trip on the request path): usage and charge rows
// are committed by a worker thread, so a commit waiting on the database never holds the thread
// that answers requests; and the spool keeps every accepted row whatever the store does.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimSlots } from '../../src/billing/spool/slots.js';
import { Spool } from '../../src/billing/spool/spool.js';
import { WorkerSink } from '../../src/billing/spool/worker-sink.js';
import { type FinishedRequest, UsageWriter } from '../../src/billing/usage-writer.js';
import { createLogger } from '../../src/observability/logger.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';

function finished(orgId: string, cost: number): FinishedRequest {
  const now = Date.now();
  const request_id = `req_${randomUUID()}`;
  return {
    usage: { request_id, org_id: orgId, key_id: 'key_w', model: 'mock-chat', requested_model: 'mock-chat', provider: 'mock', prompt_tokens: 5, completion_tokens: 7, cost_micros: cost, cached: null, status: 200, error_code: null, latency_ms: 3, stream: false, estimated: false, fallback: null, attempts: 1, created_at: now, surface: 'chat', cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 },
    charge: { id: `chg_${randomUUID()}`, org_id: orgId, key_id: 'key_w', kind: 'charge', amount_micros: -cost, note: null, request_id, idempotency_key: null, created_at: now },
  };
}

const silent = createLogger({ level: 'silent' });
const turn = () => new Promise((r) => setTimeout(r, 0));

describe('usage rows are committed off the request thread', () => {
  let dir: string;
  let dbPath: string;
  let store: Store;
  let sink: WorkerSink;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-worker-'));
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

  it('keeps the event loop turning while a commit waits on the database lock, and commits once the lock is free', async () => {
    // Warm the worker so the write below really waits on the lock, not on the worker's start.
    await sink.write('');
    const failures: unknown[] = [];
    const log = createLogger({ level: 'silent' });
    log.warn = ((obj: unknown) => void failures.push(obj)) as typeof log.warn;
    const writer = new UsageWriter(store, log, { flushIntervalMs: 1, batchSize: 10, maxQueue: 100, sink });
    const other = new BetterSqlite3(dbPath);
    other.prepare('begin immediate').run();
    let locked = true;
    try {
      writer.enqueue(finished('org_w', 120));
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
    expect((await store.balances()).get('org_w')).toBe(-120);
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
    const items = Array.from({ length: 5 }, () => finished('org_s', 10));
    for (const it of items) writer.enqueue(it);
    expect(writer.full).toBe(true);
    const lines = readdirSync(slot)
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) => readFileSync(join(slot, f), 'utf8').split('\n').filter(Boolean));
    expect(lines.map((l) => (JSON.parse(l) as FinishedRequest).usage.request_id)).toEqual(items.map((i) => i.usage.request_id));
    expect(spool.close()).toBe(5);
  });

  it('drops a segment once all its rows are in the store, and truncates the live one', async () => {
    const { slot } = claimSlots(root);
    const spool = new Spool(slot, { segmentBytes: 2000, onError: () => undefined });
    const committed: string[] = [];
    const writer = new UsageWriter({ writeBatch: async (b) => void committed.push(...b.usage.map((u) => u.request_id)) }, silent, { flushIntervalMs: 1, batchSize: 1000, maxQueue: 10_000, spool });
    for (let i = 0; i < 20; i++) writer.enqueue(finished('org_t', 10));
    expect(readdirSync(slot).filter((f) => f.endsWith('.jsonl')).length).toBeGreaterThan(1);
    expect(await writer.flushAll(10_000)).toBe(0);
    expect(committed).toHaveLength(20);
    const left = readdirSync(slot).filter((f) => f.endsWith('.jsonl'));
    expect(left).toHaveLength(1);
    expect(readFileSync(join(slot, left[0]!), 'utf8')).toBe('');
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
    spool.append(JSON.stringify(finished('org_r', 5)));
    spool.close();
    const third = claimSlots(root);
    expect(third.orphans).toHaveLength(1);
    expect(readdirSync(third.orphans[0]!).some((f) => f.endsWith('.jsonl'))).toBe(true);
  });
});

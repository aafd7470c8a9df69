// A batch of usage rows is held as bytes outside the JavaScript heap until its commit. The next
// batch reuses a committed batch's buffer instead of leaving one buffer per batch for a
// collection to find (under load they outlived the young generation and piled up in the old
// one), and the store worker receives exactly the batch's bytes, moved rather than cloned (a
// clone copies the whole buffer under the view, spare capacity included, on both sides).
import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeLines, encodeFinished, linesOf } from '../../src/billing/spool/rows.js';
import { type BatchSink, UsageWriter } from '../../src/billing/usage-writer.js';
import { createLogger } from '../../src/observability/logger.js';
import { finishedRequest, useSqliteWithWorker } from './worker-support.js';

const silent = createLogger({ level: 'silent' });
const turn = () => new Promise<void>((r) => setImmediate(r));

interface Call {
  /** The bytes as they were when handed over. */
  text: string;
  payload: Uint8Array;
  settle(err?: Error): void;
}

/** A sink whose commits the test settles one by one, recording what each was handed. */
function recordingSink() {
  const calls: Call[] = [];
  const sink: BatchSink = {
    write(payload) {
      return new Promise<void>((resolve, reject) => {
        calls.push({ text: Buffer.from(payload).toString('utf8'), payload, settle: (err) => (err ? reject(err) : resolve()) });
      });
    },
  };
  return { sink, calls };
}

const requestIds = (text: string) => decodeLines(linesOf(Buffer.from(text))).usage.map((u) => u.request_id);

describe('UsageWriter: batch buffers', () => {
  it('reuses a committed batch buffer for the next batch, holding only the new rows', async () => {
    const { sink, calls } = recordingSink();
    const writer = new UsageWriter({ writeBatch: async () => undefined }, silent, { flushIntervalMs: 1, batchSize: 2, maxQueue: 100, sink });
    const first = [finishedRequest('org_a'), finishedRequest('org_a')];
    for (const item of first) writer.enqueue(item);
    while (calls.length < 1) await turn();
    calls[0]!.settle();
    await turn();

    const second = [finishedRequest('org_a')];
    for (const item of second) writer.enqueue(item);
    while (calls.length < 2) await turn();
    expect(calls[1]!.payload.buffer === calls[0]!.payload.buffer, 'the second batch is in the first one\'s buffer').toBe(true);
    expect(calls[1]!.payload.byteLength).toBe(Buffer.byteLength(calls[1]!.text));
    expect(calls[1]!.text.split('\n')).toHaveLength(1);
    expect(calls[1]!.text).toContain(second[0]!.usage.request_id);
    expect(calls[1]!.text).not.toContain(first[0]!.usage.request_id);
    calls[1]!.settle();
    expect(await writer.flushAll(1000)).toBe(0);
  });

  it('keeps a failed batch its own bytes for the retry while the rows after it take another buffer', async () => {
    const { sink, calls } = recordingSink();
    const writer = new UsageWriter({ writeBatch: async () => undefined }, silent, { flushIntervalMs: 1, batchSize: 2, maxQueue: 100, sink });
    // A committed batch first, so that a spare buffer exists to be (wrongly) handed out.
    writer.enqueue(finishedRequest('org_a'));
    writer.enqueue(finishedRequest('org_a'));
    while (calls.length < 1) await turn();
    calls[0]!.settle();
    await turn();

    const failing = [finishedRequest('org_b'), finishedRequest('org_b')];
    for (const item of failing) writer.enqueue(item);
    while (calls.length < 2) await turn();
    const attempt = calls[1]!;
    // Rows arriving while the commit is out go to a batch of their own.
    const later = [finishedRequest('org_c'), finishedRequest('org_c')];
    for (const item of later) writer.enqueue(item);
    attempt.settle(new Error('store unreachable'));

    const seen = new Map<string, number>();
    const deadline = Date.now() + 20_000;
    for (let i = 2; writer.pending > 0 && Date.now() < deadline; i++) {
      while (calls.length <= i && Date.now() < deadline) await turn();
      const call = calls[i]!;
      if (call.text === attempt.text) expect(call.payload.buffer === attempt.payload.buffer, 'the retry is in the failed batch\'s buffer').toBe(true);
      for (const id of requestIds(call.text)) seen.set(id, (seen.get(id) ?? 0) + 1);
      call.settle();
      await turn();
    }
    expect(writer.pending).toBe(0);
    // The retry carried the failed batch's rows unchanged, and no row went twice or was lost.
    expect(calls.some((c, i) => i > 1 && c.text === attempt.text)).toBe(true);
    for (const item of [...failing, ...later]) expect(seen.get(item.usage.request_id)).toBe(1);
    const other = calls.find((c) => c.text.includes(later[0]!.usage.request_id))!;
    expect(other.payload.buffer === attempt.payload.buffer, 'the later rows share the failed batch\'s buffer').toBe(false);
  });
});

describe('WorkerSink: a batch handed to the store worker', () => {
  const f = useSqliteWithWorker('tollgate-batch-buffers-');
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('carries exactly the payload bytes, moved, and leaves the caller its own', async () => {
    const writes: Array<{ view: number; buffer: number; moved: boolean }> = [];
    const original = Worker.prototype.postMessage;
    vi.spyOn(Worker.prototype, 'postMessage').mockImplementation(function (this: Worker, message: unknown, transfer?: readonly unknown[]) {
      const m = message as { kind: string; payload?: Uint8Array };
      // Read before the call: a moved buffer is detached once it is posted.
      if (m.kind === 'write' && m.payload) writes.push({ view: m.payload.byteLength, buffer: m.payload.buffer.byteLength, moved: transfer?.includes(m.payload.buffer) === true });
      return original.call(this, message, transfer as never);
    });
    const rows = [finishedRequest('org_w', 70), finishedRequest('org_w', 30)];
    const text = rows.map(encodeFinished).join('\n');
    // A batch's bytes at the start of a buffer with room to spare, as the usage writer holds them.
    const room = Buffer.alloc(256 * 1024, 0x20);
    const used = room.write(text, 0, 'utf8');
    const payload = room.subarray(0, used);
    await f.sink.write(payload);

    expect(writes).toEqual([{ view: used, buffer: used, moved: true }]);
    // The caller's bytes are untouched (a retry needs them) and the rows are in the store.
    expect(room.byteLength).toBe(256 * 1024);
    expect(payload.toString('utf8')).toBe(text);
    const db = new BetterSqlite3(f.dbPath, { readonly: true });
    try {
      expect(db.prepare('select count(*) as n from usage where org_id = ?').get('org_w')).toEqual({ n: 2 });
    } finally {
      db.close();
    }
  });
});

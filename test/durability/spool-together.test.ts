// The usage rows of requests that finish in one event-loop turn go to the write-ahead spool in one
// write, and no answer is written before its rows are in the spool (SPEC §6: every charge durable
// before the response completes).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeLines } from '../../src/billing/spool/rows.js';
import { claimSlots } from '../../src/billing/spool/slots.js';
import { Spool } from '../../src/billing/spool/spool.js';
import { UsageWriter } from '../../src/billing/usage-writer.js';
import type { EngineResult, InboundMeta } from '../../src/core/context.js';
import { ClientSignal } from '../../src/core/request-signal.js';
import type { Gateway } from '../../src/gateway.js';
import { type AnswerWriter, answerSurface } from '../../src/http/surface-answer.js';
import { createLogger } from '../../src/observability/logger.js';
import type { Surface } from '../../src/surfaces/types.js';
import { finishedRequest } from './worker-support.js';

const silent = createLogger({ level: 'silent' });

/** A finished request with the given request id. */
function rowsOf(requestId: string): ReturnType<typeof finishedRequest> {
  const item = finishedRequest('org_a', 10);
  item.usage.request_id = requestId;
  if (item.charge) item.charge.request_id = requestId;
  return item;
}
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

let root: string;
let spool: Spool;
let slot: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tollgate-together-'));
  slot = claimSlots(root).slot;
  spool = new Spool(slot, { segmentBytes: 1 << 20, onError: () => undefined });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** The lines in the spool, in file order. */
function spoolLines(): string[] {
  return readdirSync(slot)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => readFileSync(join(slot, f), 'utf8').split('\n').filter(Boolean));
}

/** Request ids of the rows in the spool, in file order. */
function spooledIds(): string[] {
  return decodeLines(spoolLines()).usage.map((u) => u.request_id);
}

/**
 * A writer whose store commits nothing until flushAll (a long flush interval), with `answers`
 * answers in progress (beginTogether): rows are deferred only while there are at least two.
 */
function writer(answers: number, commit: (ids: string[]) => void = () => undefined): UsageWriter {
  const w = new UsageWriter(
    {
      writeBatch: async (b) => {
        commit(b.usage.map((u) => u.request_id));
        return undefined;
      },
    },
    silent,
    { flushIntervalMs: 60_000, batchSize: 1000, maxQueue: 10_000, spool },
  );
  for (let i = 0; i < answers; i++) w.beginTogether();
  return w;
}

describe('rows of one event-loop turn share one spool write', () => {
  it('appends deferred rows together at the end of the turn, and spooled() resolves once they are on disk', async () => {
    const w = writer(2);
    const items = Array.from({ length: 3 }, () => finishedRequest('org_t', 10));
    for (const it of items) w.enqueue(it, true);
    expect(spooledIds()).toEqual([]);
    const spooled = w.spooled();
    expect(spooled).toBeInstanceOf(Promise);
    await spooled;
    expect(spooledIds()).toEqual(items.map((i) => i.usage.request_id));
    expect(spool.writes).toBe(1);
    expect(w.spooled()).toBeUndefined();
    await w.close();
  });

  it('still writes each row at once without deferSpool', () => {
    const w = writer(2);
    const items = Array.from({ length: 3 }, () => finishedRequest('org_t', 10));
    for (const it of items) w.enqueue(it);
    expect(spooledIds()).toEqual(items.map((i) => i.usage.request_id));
    expect(spool.writes).toBe(3);
    expect(w.spooled()).toBeUndefined();
  });

  it('writes the row of a lone answer at once: there is no other to share its write with', () => {
    const w = writer(1);
    const item = finishedRequest('org_t', 10);
    w.enqueue(item, true);
    expect(spooledIds()).toEqual([item.usage.request_id]);
    expect(w.spooled()).toBeUndefined();
    expect(w.endTogether()).toBeUndefined();
  });

  it('reaches the spool within the turn even when nobody waits for it', async () => {
    const w = writer(2);
    const item = finishedRequest('org_t', 10);
    w.enqueue(item, true);
    await nextTurn();
    expect(spooledIds()).toEqual([item.usage.request_id]);
  });

  it('takes the waiting rows along with a row that is written at once, and lets their callers go', async () => {
    const w = writer(2);
    const deferred = [finishedRequest('org_t', 10), finishedRequest('org_t', 10)];
    for (const it of deferred) w.enqueue(it, true);
    let released = false;
    void w.spooled()!.then(() => (released = true));
    const now = finishedRequest('org_t', 10);
    w.enqueue(now);
    expect(spooledIds()).toEqual([...deferred, now].map((i) => i.usage.request_id));
    expect(spool.writes).toBe(1);
    await Promise.resolve();
    expect(released).toBe(true);
  });

  it('writes a stream final row at once even when deferred: it releases the stream checkpoint', () => {
    const w = writer(2);
    const item = finishedRequest('org_t', 10);
    w.checkpoint(item);
    w.enqueue(item, true);
    // The checkpoint and the final row are both in the spool, and only the final row counts.
    expect(spoolLines()).toHaveLength(2);
    expect(spooledIds()).toEqual([item.usage.request_id]);
    expect(spool.pending).toBe(1);
  });

  it('lets the answers go when the spool cannot be written, keeps the rows for the store, and reports it once', async () => {
    // A segment that is /dev/full: every write fails with ENOSPC, as on a full disk.
    const dir = join(root, 'full');
    mkdirSync(dir);
    symlinkSync('/dev/full', join(dir, '00000000.jsonl'));
    const errors: unknown[] = [];
    const full = new Spool(dir, { segmentBytes: 1 << 20, onError: (err) => void errors.push(err) });
    const committed: string[] = [];
    const w = new UsageWriter(
      {
        writeBatch: async (b) => {
          committed.push(...b.usage.map((u) => u.request_id));
          return undefined;
        },
      },
      silent,
      { flushIntervalMs: 60_000, batchSize: 1000, maxQueue: 10_000, spool: full },
    );
    w.beginTogether();
    w.beginTogether();
    const items = Array.from({ length: 3 }, () => finishedRequest('org_t', 10));
    for (const it of items) w.enqueue(it, true);
    await w.spooled();
    expect(errors).toHaveLength(1);
    expect((errors[0] as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(full.pending).toBe(0);
    expect(await w.flushAll(10_000)).toBe(0);
    expect(committed).toEqual(items.map((i) => i.usage.request_id));
    expect(await w.close()).toBe(0);
  });

  it('spools deferred rows before their batch commits, so the committed rows leave the spool', async () => {
    const committed: string[] = [];
    const w = writer(2, (ids) => committed.push(...ids));
    const items = Array.from({ length: 4 }, () => finishedRequest('org_t', 10));
    for (const it of items) w.enqueue(it, true);
    // The commit starts before the end of the turn.
    expect(await w.flushAll(10_000)).toBe(0);
    expect(committed).toEqual(items.map((i) => i.usage.request_id));
    expect(spool.pending).toBe(0);
    expect(spooledIds()).toEqual([]);
    expect(await w.close()).toBe(0);
  });
});

describe('an answer waits for its rows to be in the spool', () => {
  const surface = { id: 'chat' } as Surface;

  /** A gateway whose engine settles each request (a usage row, deferred as answerSurface asks) and answers or throws. */
  function gateway(usage: UsageWriter, outcome: (meta: InboundMeta) => EngineResult | Error): Gateway {
    const engine = {
      async handle(_s: Surface, _body: unknown, meta: InboundMeta): Promise<EngineResult> {
        await Promise.resolve();
        usage.enqueue(rowsOf(meta.requestId), meta.spoolTogether?.on === true);
        const r = outcome(meta);
        if (r instanceof Error) throw r;
        return r;
      },
    };
    return { engine, usage } as unknown as Gateway;
  }

  /** An answer writer that records which request ids were in the spool when the answer went out. */
  function recorder(seen: Map<string, string[]>, id: string): AnswerWriter {
    return {
      json: () => void seen.set(id, spooledIds()),
      stream: async () => undefined,
    };
  }

  it('writes no answer before its row is in the spool, and concurrent answers share one write', async () => {
    const usage = writer(0);
    const gw = gateway(usage, () => ({ kind: 'json', status: 200, headers: {}, body: { ok: true } }));
    const seen = new Map<string, string[]>();
    const ids = Array.from({ length: 5 }, (_, i) => `req_together_${i}`);
    await Promise.all(ids.map((id) => answerSurface(gw, surface, { id, headers: {}, body: {}, principal: undefined }, new ClientSignal(), recorder(seen, id))));
    for (const id of ids) expect(seen.get(id), id).toContain(id);
    expect(spool.writes).toBe(1);
    await usage.close();
  });

  it('lets a refusal settled before it out only once its row is in the spool', async () => {
    const usage = writer(0);
    const gw = gateway(usage, () => new Error('upstream refused'));
    const id = 'req_refused';
    const answered = answerSurface(gw, surface, { id, headers: {}, body: {}, principal: undefined }, new ClientSignal(), recorder(new Map(), id));
    await expect(answered).rejects.toThrow('upstream refused');
    expect(spooledIds()).toEqual([id]);
  });

  it('writes rows settled after the engine answered (a stream end) at once', async () => {
    // Two other answers are in progress, so a row still marked to share a write would wait.
    const usage = writer(2);
    let meta!: InboundMeta;
    const gw = gateway(usage, (m) => {
      meta = m;
      return { kind: 'json', status: 200, headers: {}, body: {} };
    });
    await answerSurface(gw, surface, { id: 'req_first', headers: {}, body: {}, principal: undefined }, new ClientSignal(), recorder(new Map(), 'req_first'));
    const late = rowsOf('req_late');
    // A copy of the meta (as the exact cache's shared call makes) sees the flag turned off too.
    usage.enqueue(late, { ...meta }.spoolTogether?.on === true);
    expect(spooledIds()).toContain('req_late');
  });
});

// The store worker commits SQLite batches with prepared better-sqlite3 statements instead of the
// Kysely store's writeBatch. Both must leave the same rows: the same batches go through each into
// a fresh database, and every table a batch touches is compared row for row, with each value's
// storage type and the rows' insertion order (rowid).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { SqliteBatchWriter } from '../../src/store/sqlite-batch-writer.js';
import type { LedgerRow, Store, UsageRow, WrittenBatch } from '../../src/store/types.js';
import { DAY, HOUR, T0 } from './fixtures.js';

const TABLES = ['usage', 'ledger', 'usage_rollup_hour', 'usage_rollup_day', 'usage_rollup_ops_hour'] as const;

interface Batch {
  usage: UsageRow[];
  charges: LedgerRow[];
}

/** A small deterministic generator, so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function pick<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)]!;
}

const ORGS = ['org_a', 'org_b'];
const KEYS = ['key_1', 'key_2', 'key_3'];
const MODELS = ['mock-chat', 'gpt-5.4', 'claude-sonnet-4.5'];
const PROVIDERS = ['mock', 'openai', null];
const LATENCIES = [0, 40, 100, 101, 499, 500, 900, 1000, 4_999, 5_000, 29_000, 30_000, 30_001, 120_000];

/** A finished request with a spread of every field the roll-ups read. */
function request(r: () => number, id: string, created_at: number): { usage: UsageRow; charge: LedgerRow } {
  const status = pick(r, [200, 200, 200, 400, 429, 500, 502]);
  const cached = status === 200 ? pick(r, [null, null, 'exact', 'semantic'] as const) : null;
  const model = pick(r, MODELS);
  const cost = status === 200 && cached === null ? 1 + Math.floor(r() * 90_000) : 0;
  const org_id = pick(r, ORGS);
  const key_id = pick(r, KEYS);
  const prompt = Math.floor(r() * 4000);
  const completion = status === 200 ? Math.floor(r() * 2000) : 0;
  const usage: UsageRow = {
    request_id: id,
    org_id,
    key_id,
    model,
    requested_model: r() < 0.2 ? 'gpt-5.4' : model,
    provider: status === 502 ? null : pick(r, PROVIDERS),
    surface: pick(r, ['chat', 'messages', 'responses', 'completions', 'embeddings']),
    cache_read_tokens: Math.floor(prompt * r() * 0.5),
    cache_write_tokens: r() < 0.3 ? Math.floor(prompt * 0.1) : 0,
    reasoning_tokens: r() < 0.3 ? Math.floor(completion * 0.4) : 0,
    prompt_tokens: prompt,
    completion_tokens: completion,
    cost_micros: cost,
    cached,
    status,
    error_code: status >= 400 ? pick(r, ['rate_limited', 'upstream_error', 'invalid_request']) : null,
    latency_ms: pick(r, LATENCIES),
    stream: r() < 0.5,
    estimated: r() < 0.2,
    fallback: r() < 0.1 ? 'gpt-5.4 -> claude-sonnet-4.5' : null,
    attempts: 1 + Math.floor(r() * 3),
    created_at,
  };
  const charge: LedgerRow = {
    id: `chg_${id}`,
    org_id,
    key_id,
    kind: 'charge',
    amount_micros: -cost,
    note: r() < 0.2 ? 'streamed' : null,
    request_id: id,
    idempotency_key: null,
    created_at,
  };
  return { usage, charge };
}

/**
 * Batches as the spool hands them over: several hours and days, error and cached rows, a request
 * id twice in one batch, whole batches retried, charges whose usage row is not in the batch (new
 * and already written), charges without usage at all, and batches that are all repeats.
 */
function scenario(): Batch[] {
  const r = rng(17);
  let n = 0;
  const fresh = (time: number) => request(r, `req_${String(n++).padStart(5, '0')}_${Math.floor(r() * 1e6).toString(36)}`, time);
  const when = () => T0 + Math.floor(r() * 3) * DAY + Math.floor(r() * 5) * HOUR + Math.floor(r() * HOUR);
  const batches: Batch[] = [];

  const first = Array.from({ length: 120 }, () => fresh(when()));
  // One request id twice in a batch: the first row (and both charges, the second refused by the ledger) count.
  const twin = request(r, first[3]!.usage.request_id, when());
  batches.push({
    usage: [...first.map((x) => x.usage), twin.usage],
    charges: [...first.filter((x) => x.usage.status === 200).map((x) => x.charge), { ...twin.charge, id: 'chg_twin' }],
  });
  // The same batch again (a retry after a lost reply): nothing new.
  batches.push(structuredClone(batches[0]!));

  // Half repeats, half new, shuffled.
  const second = Array.from({ length: 80 }, () => fresh(when()));
  const mixed = [...first.slice(40, 100), ...second].sort(() => r() - 0.5);
  batches.push({ usage: mixed.map((x) => x.usage), charges: mixed.map((x) => x.charge) });

  // Charges whose usage rows are not in the batch: of requests already written, and of new ones.
  const orphans = Array.from({ length: 10 }, () => fresh(when()));
  batches.push({ usage: [], charges: [...orphans.map((x) => x.charge), ...second.slice(0, 5).map((x) => x.charge)] });
  // Those new charges again, now with their usage rows, plus a new request in the same hour as an old one.
  const late = fresh(first[0]!.usage.created_at + 1);
  batches.push({ usage: [...orphans.map((x) => x.usage), late.usage], charges: [...orphans.map((x) => x.charge), late.charge] });

  // Usage without charges (free or failed requests), an empty batch, and one of only repeats.
  const free = Array.from({ length: 30 }, () => fresh(when()));
  batches.push({ usage: free.map((x) => x.usage), charges: [] });
  batches.push({ usage: [], charges: [] });
  batches.push({ usage: free.slice(0, 10).map((x) => x.usage), charges: second.slice(10, 20).map((x) => x.charge) });

  // Large batches of one hour, as under steady load.
  for (let b = 0; b < 3; b++) {
    const hour = T0 + 4 * DAY + b * HOUR;
    const rows = Array.from({ length: 400 }, () => fresh(hour + Math.floor(r() * HOUR)));
    batches.push({ usage: rows.map((x) => x.usage), charges: rows.map((x) => x.charge) });
  }
  return batches;
}

/** Every row of a table in insertion order, each value as SQLite holds it (quote() keeps 5 and 5.0 apart). */
function dump(db: BetterSqlite3.Database, table: string): string[][] {
  const cols = (db.prepare(`pragma table_info("${table}")`).all() as { name: string }[]).map((c) => c.name);
  const sql = `select rowid, ${cols.map((c) => `quote("${c}")`).join(', ')} from "${table}" order by rowid`;
  return db.prepare(sql).raw().all() as string[][];
}

describe('SQLite batch writer (store worker)', () => {
  let dir: string;
  let kyselyPath: string;
  let directPath: string;
  let store: Store;
  let writer: SqliteBatchWriter;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-batch-writer-'));
    kyselyPath = join(dir, 'kysely.db');
    directPath = join(dir, 'direct.db');
    store = await openStore(`sqlite://${kyselyPath}`);
    await store.migrate();
    const migrating = await openStore(`sqlite://${directPath}`);
    await migrating.migrate();
    await migrating.close();
    writer = new SqliteBatchWriter(directPath);
  });
  afterEach(async () => {
    writer.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function tables(path: string): Record<string, string[][]> {
    const db = new BetterSqlite3(path, { readonly: true });
    try {
      return Object.fromEntries(TABLES.map((t) => [t, dump(db, t)]));
    } finally {
      db.close();
    }
  }

  it('leaves every usage, ledger and roll-up row exactly as the Kysely writeBatch does', async () => {
    const batches = scenario();
    const viaKysely: (WrittenBatch | undefined)[] = [];
    const direct: WrittenBatch[] = [];
    for (const b of batches) {
      viaKysely.push(await store.writeBatch(structuredClone(b)));
      direct.push(writer.write(structuredClone(b)));
    }
    expect(direct).toEqual(viaKysely);

    const a = tables(kyselyPath);
    const b = tables(directPath);
    for (const t of TABLES) expect(b[t], t).toEqual(a[t]);
    // The scenario really exercised what it claims.
    expect(a.usage!.length).toBe(120 + 80 + 10 + 1 + 30 + 1200);
    expect(a.usage_rollup_day!.length).toBeGreaterThan(10);
    expect(a.usage_rollup_ops_hour!.length).toBeGreaterThan(20);
    expect(direct[1]!.inserted).toEqual([]);
    expect(direct[2]!.inserted).toHaveLength(80);
  });

  it('adds nothing when a committed batch is retried', () => {
    const batch = scenario()[0]!;
    writer.write(batch);
    const once = tables(directPath);
    expect(writer.write(structuredClone(batch))).toEqual({ inserted: [] });
    expect(tables(directPath)).toEqual(once);
  });

  it('refuses a charge without a request id and writes nothing of its batch, like writeBatch', async () => {
    const [batch] = scenario();
    const bad = { ...batch!, charges: [...batch!.charges, { ...batch!.charges[0]!, id: 'chg_anon', request_id: null }] };
    await expect(store.writeBatch(structuredClone(bad))).rejects.toThrow(TypeError);
    expect(() => writer.write(structuredClone(bad))).toThrow(TypeError);
    expect(tables(directPath)).toEqual(tables(kyselyPath));
    expect(tables(directPath).usage).toEqual([]);
  });

  it('rolls the whole batch back when one row fails, so the retry writes it in full', () => {
    const [batch] = scenario();
    const broken = structuredClone(batch!);
    (broken.usage[50] as { model: string | null }).model = null;
    expect(() => writer.write(broken)).toThrow(/NOT NULL/);
    expect(Object.values(tables(directPath)).every((rows) => rows.length === 0)).toBe(true);
    expect(writer.write(structuredClone(batch!)).inserted).toHaveLength(120);
  });

  it('fails while the schema is missing and commits once it is migrated', async () => {
    const path = join(dir, 'late.db');
    const early = new SqliteBatchWriter(path);
    try {
      const [batch] = scenario();
      expect(() => early.write(structuredClone(batch!))).toThrow(/no such table/);
      const migrating = await openStore(`sqlite://${path}`);
      await migrating.migrate();
      await migrating.close();
      expect(early.write(structuredClone(batch!)).inserted).toHaveLength(120);
    } finally {
      early.close();
    }
  });
});

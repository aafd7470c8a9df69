// The operator roll-up (every org's traffic per hour, model and provider, with latency) on SQLite
// and Postgres: what the series say must equal what the raw usage rows say, and an upgrade from
// a version without the roll-up fills it from the usage already written.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { LATENCY_BOUNDS_MS } from '../../src/store/schema.js';
import type { OpsStat, Store, UsageRow } from '../../src/store/types.js';
import { DAY, HOUR, T0, batchOf, makeKey, makeOrg, makeUsage } from './fixtures.js';
import { freshPostgresSchema } from './pg.js';

function expected(rows: UsageRow[], size: number, by: ('model' | 'provider')[], from = -Infinity, to = Infinity): OpsStat[] {
  const map = new Map<string, OpsStat>();
  for (const u of rows) {
    const hour = Math.floor(u.created_at / HOUR) * HOUR;
    if (hour + HOUR <= from || hour >= to) continue;
    const bucket = Math.floor(u.created_at / size) * size;
    const model = by.includes('model') ? u.model : undefined;
    const provider = by.includes('provider') ? (u.provider ?? '') : undefined;
    const id = `${bucket}|${model}|${provider}`;
    let s = map.get(id);
    if (!s) {
      s = {
        bucket,
        ...(model !== undefined ? { model } : {}),
        ...(provider !== undefined ? { provider } : {}),
        requests: 0,
        errors: 0,
        cache_hits: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        cost_micros: 0,
        latency_ms_sum: 0,
        latency_le: LATENCY_BOUNDS_MS.map(() => 0),
      };
      map.set(id, s);
    }
    s.requests += 1;
    s.errors += u.status >= 400 ? 1 : 0;
    s.cache_hits += u.cached ? 1 : 0;
    s.prompt_tokens += u.prompt_tokens;
    s.completion_tokens += u.completion_tokens;
    s.cost_micros += u.cost_micros;
    s.latency_ms_sum += u.latency_ms;
    LATENCY_BOUNDS_MS.forEach((b, i) => {
      if (u.latency_ms <= b) (s as OpsStat).latency_le[i] += 1;
    });
  }
  const cmp = (a = '', b = '') => (a < b ? -1 : a > b ? 1 : 0);
  return [...map.values()].sort((a, b) => a.bucket - b.bucket || cmp(a.model, b.model) || cmp(a.provider, b.provider));
}

/** Two orgs' traffic over two UTC days, across models, providers (one row answered by none) and latencies. */
async function seed(store: Store): Promise<{ rows: UsageRow[]; orgs: string[] }> {
  const orgs: string[] = [];
  const keys: string[] = [];
  for (let i = 0; i < 2; i++) {
    const org = makeOrg();
    await store.insertOrg(org);
    const key = makeKey(org.id);
    await store.insertKey(key);
    orgs.push(org.id);
    keys.push(key.id);
  }
  const latencies = [40, 100, 101, 700, 1000, 4000, 9000, 45000];
  const rows = Array.from({ length: 48 }, (_, i) =>
    makeUsage(orgs[i % 3 === 0 ? 1 : 0]!, keys[i % 3 === 0 ? 1 : 0]!, {
      created_at: T0 + 20 * HOUR + i * 41 * 60_000,
      model: i % 2 ? 'gpt-5.4' : 'claude-sonnet-4.5',
      provider: i === 5 ? null : i % 4 < 2 ? 'openai' : 'backup',
      status: i % 6 === 0 ? 502 : 200,
      cached: i % 5 === 0 ? 'exact' : null,
      cost_micros: i % 6 === 0 ? 0 : 200 + i * 3,
      latency_ms: latencies[i % latencies.length]!,
      prompt_tokens: 10 + i,
      completion_tokens: i,
    }),
  );
  for (let i = 0; i < rows.length; i += 7) await store.writeBatch(batchOf(rows.slice(i, i + 7)));
  // A retried batch must not count twice.
  await store.writeBatch(batchOf(rows.slice(3, 12)));
  return { rows, orgs };
}

interface Target {
  name: string;
  open(): Promise<{ store: Store; cleanup(): Promise<void> } | undefined>;
}

const targets: Target[] = [
  {
    name: 'sqlite',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'tollgate-ops-'));
      const store = await openStore(`sqlite://${join(dir, 'tollgate.db')}`);
      return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    async open() {
      const s = await freshPostgresSchema('the Postgres operator roll-up');
      if (!s) return undefined;
      const store = await openStore(s.url, { schema: s.schema });
      return { store, cleanup: s.drop };
    },
  },
];

describe.each(targets)('operator roll-up on $name', (target) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  let rows: UsageRow[];
  let orgs: string[];
  let skipped = false;

  beforeAll(async () => {
    const opened = await target.open();
    if (!opened) {
      skipped = true;
      return;
    }
    ({ store, cleanup } = opened);
    await store.migrate();
    ({ rows, orgs } = await seed(store));
  });
  afterAll(async () => {
    if (skipped) return;
    await store.close();
    await cleanup();
  });

  const range = { from: T0, to: T0 + 3 * DAY };
  it.each([
    ['hour', []],
    ['hour', ['model']],
    ['hour', ['provider']],
    ['day', ['model', 'provider']],
    ['day', []],
  ] as const)('matches the raw rows per %s split by %j', async (bucket, by) => {
    if (skipped) return;
    const got = await store.operatorStats({ ...range, bucket, by: [...by] });
    expect(got).toEqual(expected(rows, bucket === 'hour' ? HOUR : DAY, [...by]));
  });

  it('keeps the range to whole hours and returns nothing outside it', async () => {
    if (skipped) return;
    const from = T0 + DAY + 3 * HOUR + 5;
    const to = T0 + DAY + 9 * HOUR;
    expect(await store.operatorStats({ from, to, bucket: 'hour', by: [] })).toEqual(expected(rows, HOUR, [], from, to));
    expect(await store.operatorStats({ from: T0 - DAY, to: T0, bucket: 'day', by: [] })).toEqual([]);
  });

  it('ranks orgs by charges', async () => {
    if (skipped) return;
    const top = await store.topOrgs({ ...range, limit: 10 });
    const spend = (o: string) => rows.filter((r) => r.org_id === o).reduce((s, r) => s + r.cost_micros, 0);
    const want = [...orgs].sort((a, b) => spend(b) - spend(a));
    expect(top.map((t) => t.org_id)).toEqual(want);
    expect(top.map((t) => t.cost_micros)).toEqual(want.map(spend));
    expect(top[0]!.requests).toBe(rows.filter((r) => r.org_id === want[0]).length);
    expect(await store.topOrgs({ ...range, limit: 1 })).toHaveLength(1);
  });

  it('lists usage across every org when no org is named', async () => {
    if (skipped) return;
    const all = await store.listUsage({ limit: 1000 });
    expect(new Set(all.rows.map((r) => r.org_id))).toEqual(new Set(orgs));
    expect(all.rows).toHaveLength(rows.length);
  });
});

describe('upgrading a SQLite store that has usage but no operator roll-up', () => {
  it('fills the roll-up from the usage rows already written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-ops-up-'));
    const file = join(dir, 'tollgate.db');
    try {
      let store = await openStore(`sqlite://${file}`);
      await store.migrate();
      const { rows } = await seed(store);
      await store.close();
      // Back to the schema before the roll-up existed (and what came after it), usage rows kept.
      const db = new Database(file);
      db.exec("drop table usage_rollup_ops_hour; drop table request_logs; delete from tollgate_migration where name >= '0010_operator_rollup'");
      db.close();
      store = await openStore(`sqlite://${file}`);
      await store.migrate();
      expect(await store.operatorStats({ from: T0, to: T0 + 3 * DAY, bucket: 'hour', by: ['model', 'provider'] })).toEqual(
        expected(rows, HOUR, ['model', 'provider']),
      );
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

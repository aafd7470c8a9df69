// The Store contract (SPEC §1, §2, §6), run case for case against SQLite and Postgres.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidCursorError, isUniqueViolation, type OpenStoreOptions, openStore } from '../../src/store/index.js';
import type { LedgerRow, Store, UsageAggregate, UsageGroup, UsageRow } from '../../src/store/types.js';
import { DAY, HOUR, T0, batchOf, chargeFor, makeGrant, makeKey, makeOrg, makeUsage, uid } from './fixtures.js';
import { freshPostgresSchema } from './pg.js';

interface Location {
  url: string;
  opts: OpenStoreOptions;
  cleanup(): Promise<void>;
}

interface Target {
  name: 'sqlite' | 'postgres';
  main: Location | undefined;
  fresh(): Promise<Location>;
}

function sqliteLocation(): Location {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-store-'));
  return {
    url: `sqlite://${join(dir, 'tollgate.db')}`,
    opts: {},
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function postgresLocation(): Promise<Location | undefined> {
  const s = await freshPostgresSchema('the Postgres store contract');
  return s && { url: s.url, opts: { schema: s.schema }, cleanup: s.drop };
}

const pgMain = await postgresLocation();
const targets: Target[] = [
  { name: 'sqlite', main: sqliteLocation(), fresh: async () => sqliteLocation() },
  {
    name: 'postgres',
    main: pgMain,
    fresh: async () => {
      const loc = await postgresLocation();
      if (!loc) throw new Error('Postgres went away during the run');
      return loc;
    },
  },
];

/** What the roll-ups should say, computed from the raw rows that were written once each. */
function expectedAggregates(rows: UsageRow[], groupBy: UsageGroup[]): UsageAggregate[] {
  const size = groupBy.includes('hour') ? HOUR : DAY;
  const timed = groupBy.includes('hour') || groupBy.includes('day');
  const map = new Map<string, UsageAggregate>();
  for (const u of rows) {
    const agg: UsageAggregate = {
      requests: 0,
      errors: 0,
      cache_hits: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      cost_micros: 0,
    };
    if (timed) agg.bucket = Math.floor(u.created_at / size) * size;
    if (groupBy.includes('model')) agg.model = u.model;
    if (groupBy.includes('key')) agg.key_id = u.key_id;
    const id = `${agg.bucket}|${agg.model}|${agg.key_id}`;
    const cur = map.get(id) ?? agg;
    map.set(id, cur);
    cur.requests += 1;
    cur.errors += u.status >= 400 ? 1 : 0;
    cur.cache_hits += u.cached ? 1 : 0;
    cur.prompt_tokens += u.prompt_tokens;
    cur.completion_tokens += u.completion_tokens;
    cur.cost_micros += u.cost_micros;
  }
  const cmp = (a = '', b = '') => (a < b ? -1 : a > b ? 1 : 0);
  return [...map.values()].sort(
    (a, b) => (a.bucket ?? 0) - (b.bucket ?? 0) || cmp(a.model, b.model) || cmp(a.key_id, b.key_id),
  );
}

async function allUsage(store: Store, orgId: string): Promise<UsageRow[]> {
  return (await store.listUsage({ org_id: orgId, limit: 1000 })).rows;
}

async function allLedger(store: Store, orgId: string): Promise<LedgerRow[]> {
  return (await store.listLedger(orgId, { limit: 1000 })).rows;
}

describe.each(targets)('Store contract on $name', (target) => {
  if (!target.main) {
    it.skip('Postgres not reachable: the Postgres store contract is skipped', () => undefined);
    return;
  }
  const main: Location = target.main;

  let store: Store;
  const openedStores: Store[] = [];
  const locations: Location[] = [main];

  async function open(loc: Location = main): Promise<Store> {
    const s = await openStore(loc.url, loc.opts);
    openedStores.push(s);
    return s;
  }

  async function freshLocation(): Promise<Location> {
    const loc = await target.fresh();
    locations.push(loc);
    return loc;
  }

  /** A new org with one inference key: each test works in its own org of the shared database. */
  async function orgWithKeys(n = 1): Promise<{ orgId: string; keyIds: string[] }> {
    const org = makeOrg();
    await store.insertOrg(org);
    const keyIds: string[] = [];
    for (let i = 0; i < n; i++) {
      const key = makeKey(org.id, { created_at: T0 + i });
      await store.insertKey(key);
      keyIds.push(key.id);
    }
    return { orgId: org.id, keyIds };
  }

  beforeAll(async () => {
    store = await open();
    await store.migrate();
  });

  afterAll(async () => {
    for (const s of openedStores) await s.close().catch(() => undefined);
    for (const loc of locations) await loc.cleanup().catch(() => undefined);
  });

  describe('migrations', () => {
    it('reports its dialect and answers ping', async () => {
      expect(store.dialect).toBe(target.name);
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('treats a second migrate as a no-op that keeps data', async () => {
      const s = await open(await freshLocation());
      await s.migrate();
      const org = makeOrg();
      await s.insertOrg(org);
      await s.migrate();
      await expect(s.getOrg(org.id)).resolves.toEqual(org);
    });

    it('lets two Store instances migrate the same database at once', async () => {
      const loc = await freshLocation();
      const [a, b] = [await open(loc), await open(loc)];
      await Promise.all([a.migrate(), b.migrate(), a.migrate()]);
      const org = makeOrg();
      await a.insertOrg(org);
      await expect(b.getOrg(org.id)).resolves.toEqual(org);
    });
  });

  describe('orgs', () => {
    it('round-trips booleans, JSON columns and nulls', async () => {
      const org = makeOrg({
        disabled: true,
        allowed_models: ['gpt-5.4', 'claude-sonnet-4.5'],
        spend_cap_micros: 25_000_000,
        fallbacks: { 'gpt-5.4': ['claude-sonnet-4.5', 'gemini-3-flash-preview'] },
        rpm: 600,
        tpm: 1_000_000,
        settings: { semantic_cache: true, nested: { a: [1, null, 'x'] } },
      });
      await store.insertOrg(org);
      await expect(store.getOrg(org.id)).resolves.toEqual(org);
      await expect(store.getOrgByName(org.name)).resolves.toEqual(org);
      const plain = makeOrg();
      await store.insertOrg(plain);
      const got = await store.getOrg(plain.id);
      expect(got?.disabled).toBe(false);
      expect(got?.allowed_models).toBeNull();
      expect(got?.fallbacks).toEqual({});
    });

    it('returns undefined for a missing org', async () => {
      await expect(store.getOrg('org_missing')).resolves.toBeUndefined();
      await expect(store.getOrgByName('no such org')).resolves.toBeUndefined();
      await expect(store.updateOrg('org_missing', { disabled: true })).resolves.toBeUndefined();
    });

    it('updates only the patched fields and returns the new row', async () => {
      const org = makeOrg({ allowed_models: ['a'], rpm: 10 });
      await store.insertOrg(org);
      const updated = await store.updateOrg(org.id, {
        disabled: true,
        allowed_models: null,
        fallbacks: { a: ['b'] },
        updated_at: T0 + 5,
      });
      expect(updated).toEqual({ ...org, disabled: true, allowed_models: null, fallbacks: { a: ['b'] }, updated_at: T0 + 5 });
      await expect(store.getOrg(org.id)).resolves.toEqual(updated);
      const touched = await store.updateOrg(org.id, { rpm: null });
      expect(touched?.rpm).toBeNull();
      expect(touched?.updated_at).toBeGreaterThan(T0 + 5);
    });

    it('rejects a duplicate name as a unique violation', async () => {
      const org = makeOrg();
      await store.insertOrg(org);
      const err = await store.insertOrg(makeOrg({ name: org.name })).catch((e: unknown) => e);
      expect(isUniqueViolation(err)).toBe(true);
    });

    it('lists orgs ordered by creation', async () => {
      const later = makeOrg({ created_at: T0 + 2 * DAY });
      const earlier = makeOrg({ created_at: T0 - 2 * DAY });
      await store.insertOrg(later);
      await store.insertOrg(earlier);
      const ids = (await store.listOrgs()).map((o) => o.id);
      expect(ids.indexOf(earlier.id)).toBeLessThan(ids.indexOf(later.id));
    });
  });

  describe('api keys', () => {
    it('round-trips a key and finds it by hash', async () => {
      const { orgId } = await orgWithKeys(0);
      const key = makeKey(orgId, {
        kind: 'mk',
        name: 'deploy',
        disabled: true,
        expires_at: T0 + DAY,
        budget_micros: 5_000_000,
        rpm: 60,
        tpm: 1000,
        allowed_models: ['gpt-5.4'],
        fallbacks: { 'gpt-5.4': ['claude-sonnet-4.5'] },
        cache: { exact: false, semantic: true, threshold: 0.97 },
        rotated_from: 'key_old',
      });
      await store.insertKey(key);
      await expect(store.getKey(key.id)).resolves.toEqual(key);
      await expect(store.getKeyByHash(key.hash)).resolves.toEqual(key);
      await expect(store.getKeyByHash('0'.repeat(64))).resolves.toBeUndefined();
      await expect(store.getKey('key_missing')).resolves.toBeUndefined();
    });

    it('updates a key, including clearing JSON columns to null', async () => {
      const { orgId, keyIds } = await orgWithKeys(1);
      const id = keyIds[0]!;
      await store.updateKey(id, { cache: { exact: true }, allowed_models: ['x'] });
      const updated = await store.updateKey(id, { revoked_at: T0 + 9, cache: null, disabled: true, name: 'n' });
      expect(updated).toMatchObject({ id, org_id: orgId, revoked_at: T0 + 9, cache: null, disabled: true, name: 'n' });
      expect(updated?.allowed_models).toEqual(['x']);
      await expect(store.getKey(id)).resolves.toEqual(updated);
      await expect(store.updateKey('key_missing', { disabled: true })).resolves.toBeUndefined();
    });

    it('lists keys per org or across orgs, ordered by creation', async () => {
      const a = await orgWithKeys(3);
      const b = await orgWithKeys(1);
      const listed = await store.listKeys(a.orgId);
      expect(listed.map((k) => k.id)).toEqual(a.keyIds);
      const all = (await store.listKeys()).map((k) => k.id);
      expect(all).toEqual(expect.arrayContaining([...a.keyIds, ...b.keyIds]));
      await expect(store.listKeys('org_missing')).resolves.toEqual([]);
    });

    it('rejects a duplicate hash and a key of an unknown org', async () => {
      const { orgId, keyIds } = await orgWithKeys(1);
      const existing = await store.getKey(keyIds[0]!);
      const dup = await store.insertKey(makeKey(orgId, { hash: existing!.hash })).catch((e: unknown) => e);
      expect(isUniqueViolation(dup)).toBe(true);
      await expect(store.insertKey(makeKey('org_missing'))).rejects.toThrow();
    });
  });

  describe('credit grants', () => {
    it('applies a grant once per idempotency key and returns the first entry', async () => {
      const { orgId } = await orgWithKeys(0);
      const first = makeGrant(orgId, 25_000_000, { idempotency_key: 'topup-1', note: 'first' });
      await expect(store.grantCredit(first)).resolves.toEqual({ entry: first, applied: true });
      const again = makeGrant(orgId, 99_000_000, { idempotency_key: 'topup-1', note: 'retry' });
      await expect(store.grantCredit(again)).resolves.toEqual({ entry: first, applied: false });
      expect((await store.balances()).get(orgId)).toBe(25_000_000);
      expect(await allLedger(store, orgId)).toEqual([first]);
    });

    it('scopes idempotency keys to the org', async () => {
      const a = await orgWithKeys(0);
      const b = await orgWithKeys(0);
      const ra = await store.grantCredit(makeGrant(a.orgId, 1, { idempotency_key: 'same' }));
      const rb = await store.grantCredit(makeGrant(b.orgId, 2, { idempotency_key: 'same' }));
      expect([ra.applied, rb.applied]).toEqual([true, true]);
    });

    it('applies exactly one of ten concurrent identical grants', async () => {
      const { orgId } = await orgWithKeys(0);
      const grant = makeGrant(orgId, 7_000_000, { idempotency_key: uid('idem') });
      const results = await Promise.all(Array.from({ length: 10 }, () => store.grantCredit({ ...grant })));
      expect(results.filter((r) => r.applied)).toHaveLength(1);
      for (const r of results) expect(r.entry).toEqual(grant);
      expect((await store.balances()).get(orgId)).toBe(7_000_000);
      expect(await allLedger(store, orgId)).toHaveLength(1);
    });

    it('keeps charges, which carry no idempotency key, out of the key index', async () => {
      const loc = await freshLocation();
      const s = await open(loc);
      await s.migrate();
      const org = makeOrg();
      await s.insertOrg(org);
      const key = makeKey(org.id);
      await s.insertKey(key);
      const topup = uid('topup');
      await s.grantCredit(makeGrant(org.id, 5_000_000, { idempotency_key: topup }));
      await s.writeBatch(batchOf(Array.from({ length: 20 }, (_, i) => makeUsage(org.id, key.id, { cost_micros: 100 + i, created_at: T0 + i }))));
      if (target.name === 'sqlite') {
        const db = new BetterSqlite3(loc.url.slice('sqlite://'.length), { readonly: true });
        try {
          const entries = db.prepare("select sum(ncell) as n from dbstat where name = 'ledger_org_idempotency' and pagetype = 'leaf'").get() as { n: number };
          expect(entries.n).toBe(1);
        } finally {
          db.close();
        }
      } else {
        const client = new pg.Client({ connectionString: loc.url });
        await client.connect();
        try {
          const r = await client.query<{ indexdef: string }>('select indexdef from pg_indexes where schemaname = $1 and indexname = $2', [loc.opts.schema, 'ledger_org_idempotency']);
          expect(r.rows[0]?.indexdef).toMatch(/^CREATE UNIQUE INDEX .* \(org_id, idempotency_key\) WHERE \(idempotency_key IS NOT NULL\)$/);
        } finally {
          await client.end();
        }
      }
      // The key still decides a repeated grant.
      expect((await s.grantCredit(makeGrant(org.id, 9, { idempotency_key: topup }))).applied).toBe(false);
      expect((await s.balances()).get(org.id)).toBe(5_000_000 - (20 * 100 + 190));
    });

    it('applies grants without an idempotency key every time', async () => {
      const { orgId } = await orgWithKeys(0);
      await store.grantCredit(makeGrant(orgId, 1_000_000));
      await store.grantCredit(makeGrant(orgId, 2_000_000));
      expect((await store.balances()).get(orgId)).toBe(3_000_000);
    });
  });

  describe('writeBatch', () => {
    it('writes a retried batch once: no duplicate usage, charges or balance change', async () => {
      const { orgId, keyIds } = await orgWithKeys(2);
      await store.grantCredit(makeGrant(orgId, 10_000_000));
      const usage = Array.from({ length: 6 }, (_, i) =>
        makeUsage(orgId, keyIds[i % 2]!, { cost_micros: 1000 + i, created_at: T0 + i }),
      );
      const batch = batchOf(usage);
      await store.writeBatch(batch);
      await store.writeBatch(batch);
      await Promise.all([store.writeBatch(batch), store.writeBatch(batch)]);

      expect(await allUsage(store, orgId)).toHaveLength(6);
      const ledger = await allLedger(store, orgId);
      expect(ledger.filter((l) => l.kind === 'charge')).toHaveLength(6);
      const sum = ledger.reduce((s, l) => s + l.amount_micros, 0);
      expect((await store.balances()).get(orgId)).toBe(sum);
      expect(sum).toBe(10_000_000 - usage.reduce((s, u) => s + u.cost_micros, 0));

      const spends = await store.keySpends();
      expect(spends.get(keyIds[0]!)).toBe(1000 + 1002 + 1004);
      expect(spends.get(keyIds[1]!)).toBe(1001 + 1003 + 1005);
    });

    it('inserts only the new rows of a batch that overlaps an earlier one', async () => {
      const { orgId, keyIds } = await orgWithKeys(1);
      const rows = Array.from({ length: 4 }, (_, i) => makeUsage(orgId, keyIds[0]!, { created_at: T0 + i }));
      await store.writeBatch(batchOf(rows.slice(0, 2)));
      // The retry carries a changed cost for an already-written request: the first write stands.
      const changed = { ...rows[1]!, cost_micros: 999_999 };
      await store.writeBatch(batchOf([changed, rows[2]!, rows[3]!]));
      const written = await allUsage(store, orgId);
      expect(written.map((u) => u.request_id).sort()).toEqual(rows.map((r) => r.request_id).sort());
      expect(written.find((u) => u.request_id === changed.request_id)?.cost_micros).toBe(rows[1]!.cost_micros);
      expect((await store.balances()).get(orgId)).toBe(-4 * rows[0]!.cost_micros);
    });

    it('writes a charge that arrives without its usage row once, even when retried', async () => {
      const { orgId, keyIds } = await orgWithKeys(1);
      const charge = chargeFor(makeUsage(orgId, keyIds[0]!, { cost_micros: 700 }));
      await store.writeBatch({ usage: [], charges: [charge] });
      await store.writeBatch({ usage: [], charges: [charge] });
      expect(await allLedger(store, orgId)).toEqual([charge]);
      expect((await store.keySpends()).get(keyIds[0]!)).toBe(700);
    });

    it('round-trips usage booleans, nulls and the cache layer', async () => {
      const { orgId, keyIds } = await orgWithKeys(1);
      const u = makeUsage(orgId, keyIds[0]!, {
        stream: true,
        estimated: true,
        cached: 'semantic',
        provider: null,
        cost_micros: 0,
        fallback: 'gpt-5.4 -> claude-sonnet-4.5 ü 😀',
        // Characters that need escaping in a Postgres array literal, and the word NULL.
        error_code: 'we"ird\\,{x} NULL \'q\'',
        status: 504,
      });
      const plain = makeUsage(orgId, keyIds[0]!, { created_at: T0 - 1 });
      await store.writeBatch({ usage: [u, plain], charges: [] });
      expect(await allUsage(store, orgId)).toEqual([u, plain]);
    });

    it('rejects a charge without request_id before writing anything', async () => {
      const { orgId, keyIds } = await orgWithKeys(1);
      const u = makeUsage(orgId, keyIds[0]!);
      const bad = { ...chargeFor(u), request_id: null };
      await expect(store.writeBatch({ usage: [u], charges: [bad] })).rejects.toThrow(TypeError);
      expect(await allUsage(store, orgId)).toEqual([]);
    });

    it('leaves no partial writes when a statement inside the batch fails', async () => {
      const { orgId, keyIds } = await orgWithKeys(1);
      const usage = [makeUsage(orgId, keyIds[0]!), makeUsage(orgId, keyIds[0]!)];
      const charges = usage.map(chargeFor);
      charges[1] = { ...charges[1]!, org_id: null as unknown as string };
      await expect(store.writeBatch({ usage, charges })).rejects.toThrow();
      expect(await allUsage(store, orgId)).toEqual([]);
      expect(await allLedger(store, orgId)).toEqual([]);
      await expect(store.aggregateUsage({ org_id: orgId, group_by: ['day'] })).resolves.toEqual([]);
      // The same batch, fixed, then goes through whole: the caller's retry works.
      await store.writeBatch(batchOf(usage));
      expect(await allUsage(store, orgId)).toHaveLength(2);
    });

    it('rejects on a closed store so the caller can retry, and writes nothing', async () => {
      const { orgId, keyIds } = await orgWithKeys(1);
      const s = await open();
      await s.close();
      await expect(s.ping()).rejects.toThrow();
      await expect(s.writeBatch(batchOf([makeUsage(orgId, keyIds[0]!)]))).rejects.toThrow();
      expect(await allUsage(store, orgId)).toEqual([]);
    });

    it.runIf(target.name === 'postgres')('rejects when the database is unreachable', async () => {
      const s = await open({ url: 'postgres://postgres@127.0.0.1:1/test', opts: {}, cleanup: async () => undefined });
      await expect(s.writeBatch(batchOf([makeUsage('org_x', 'key_x')]))).rejects.toThrow();
      await expect(s.ping()).rejects.toThrow();
    });

    it('writes a batch of 500 quickly', async () => {
      const { orgId, keyIds } = await orgWithKeys(4);
      const make = (n: number) =>
        batchOf(
          Array.from({ length: 500 }, (_, i) =>
            makeUsage(orgId, keyIds[i % 4]!, {
              created_at: T0 + n * HOUR + i * 1000,
              model: i % 3 ? 'gpt-5.4' : 'claude-sonnet-4.5',
              cost_micros: 100 + i,
            }),
          ),
        );
      const times: number[] = [];
      for (let n = 0; n < 6; n++) {
        const batch = make(n);
        const t = performance.now();
        await store.writeBatch(batch);
        times.push(performance.now() - t);
      }
      const warm = times.slice(1).sort((a, b) => a - b);
      console.log(
        `[store perf] ${target.name}: writeBatch of 500 usage + 500 charges: first ${times[0]!.toFixed(1)} ms, ` +
          `median of next 5 ${warm[2]!.toFixed(1)} ms`,
      );
      const agg = await store.aggregateUsage({ org_id: orgId, group_by: [] });
      expect(agg[0]?.requests).toBe(3000);
    });
  });

  describe('roll-ups', () => {
    let orgId: string;
    let keyIds: string[];
    let rows: UsageRow[];

    beforeAll(async () => {
      ({ orgId, keyIds } = await orgWithKeys(2));
      rows = Array.from({ length: 60 }, (_, i) =>
        makeUsage(orgId, keyIds[i % 2]!, {
          // 37-minute steps cross hour and UTC-day boundaries (T0 is midnight UTC).
          created_at: T0 + 20 * HOUR + i * 37 * 60_000,
          model: i % 3 ? 'gpt-5.4' : 'claude-sonnet-4.5',
          status: i % 7 === 0 ? 500 : 200,
          cached: i % 5 === 0 ? 'exact' : null,
          cost_micros: i % 5 === 0 ? 0 : 100 + i,
          prompt_tokens: 10 + i,
          completion_tokens: i,
        }),
      );
      for (let i = 0; i < rows.length; i += 8) await store.writeBatch(batchOf(rows.slice(i, i + 8)));
      await store.writeBatch(batchOf(rows.slice(8, 16)));
      await store.writeBatch(batchOf(rows.slice(12, 30)));
    });

    const groupings: UsageGroup[][] = [
      ['hour'],
      ['day'],
      ['hour', 'model'],
      ['day', 'key'],
      ['day', 'model', 'key'],
      ['hour', 'model', 'key'],
      ['model'],
      ['key'],
      ['model', 'key'],
      [],
    ];

    it.each(groupings.map((g) => [g.join(',') || '(none)', g] as const))('aggregates by %s', async (_n, groupBy) => {
      const got = await store.aggregateUsage({ org_id: orgId, group_by: groupBy });
      expect(got).toEqual(expectedAggregates(rows, groupBy));
    });

    it('puts rows in UTC hour and day buckets', async () => {
      const days = await store.aggregateUsage({ org_id: orgId, group_by: ['day'] });
      expect(days.map((d) => d.bucket)).toEqual([T0, T0 + DAY, T0 + 2 * DAY]);
      const hours = await store.aggregateUsage({ org_id: orgId, group_by: ['hour'] });
      for (const h of hours) expect(h.bucket! % HOUR).toBe(0);
    });

    it('filters by key, model and time range', async () => {
      const k = keyIds[1]!;
      expect(await store.aggregateUsage({ org_id: orgId, key_id: k, group_by: ['day', 'model'] })).toEqual(
        expectedAggregates(
          rows.filter((r) => r.key_id === k),
          ['day', 'model'],
        ),
      );
      expect(await store.aggregateUsage({ org_id: orgId, model: 'claude-sonnet-4.5', group_by: ['hour'] })).toEqual(
        expectedAggregates(
          rows.filter((r) => r.model === 'claude-sonnet-4.5'),
          ['hour'],
        ),
      );
      const from = T0 + 24 * HOUR;
      const to = T0 + 30 * HOUR;
      expect(await store.aggregateUsage({ org_id: orgId, from, to, group_by: ['hour', 'key'] })).toEqual(
        expectedAggregates(
          rows.filter((r) => r.created_at >= from && r.created_at < to),
          ['hour', 'key'],
        ),
      );
    });

    it('includes the whole bucket that holds an unaligned from', async () => {
      const from = T0 + DAY + 5 * HOUR + 1;
      const got = await store.aggregateUsage({ org_id: orgId, from, group_by: ['day'] });
      expect(got.map((g) => g.bucket)).toEqual([T0 + DAY, T0 + 2 * DAY]);
    });

    it('returns nothing for an org or range without usage', async () => {
      await expect(store.aggregateUsage({ org_id: 'org_missing', group_by: [] })).resolves.toEqual([]);
      await expect(store.aggregateUsage({ org_id: orgId, to: T0, group_by: ['hour'] })).resolves.toEqual([]);
    });

    it('refuses hour and day together', async () => {
      await expect(store.aggregateUsage({ org_id: orgId, group_by: ['hour', 'day'] })).rejects.toThrow(RangeError);
    });
  });

  describe('listing usage and ledger', () => {
    it('walks every row exactly once across pages, newest first, with equal timestamps', async () => {
      const { orgId, keyIds } = await orgWithKeys(1);
      const rows = Array.from({ length: 25 }, (_, i) =>
        makeUsage(orgId, keyIds[0]!, { created_at: T0 + Math.floor(i / 5) * 1000 }),
      );
      await store.writeBatch(batchOf(rows));
      for (const limit of [1, 4, 5, 7]) {
        const seen: UsageRow[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.listUsage({ org_id: orgId, limit, cursor });
          expect(page.rows.length).toBeLessThanOrEqual(limit);
          seen.push(...page.rows);
          cursor = page.next_cursor;
          pages++;
        } while (cursor !== undefined && pages < 100);
        expect(pages).toBe(Math.ceil(25 / limit));
        expect(new Set(seen.map((r) => r.request_id)).size).toBe(25);
        expect(seen.map((r) => r.request_id).sort()).toEqual(rows.map((r) => r.request_id).sort());
        for (let i = 1; i < seen.length; i++) expect(seen[i]!.created_at).toBeLessThanOrEqual(seen[i - 1]!.created_at);
      }
      const one = await store.listUsage({ org_id: orgId, limit: 1000 });
      expect(one.rows).toHaveLength(25);
      expect(one.next_cursor).toBeUndefined();
    });

    it('filters usage by key, model, from (inclusive) and to (exclusive)', async () => {
      const { orgId, keyIds } = await orgWithKeys(2);
      const rows = Array.from({ length: 10 }, (_, i) =>
        makeUsage(orgId, keyIds[i % 2]!, { created_at: T0 + i * HOUR, model: i < 5 ? 'm-a' : 'm-b' }),
      );
      await store.writeBatch(batchOf(rows));
      const ids = async (f: { key_id?: string; model?: string; from?: number; to?: number }) =>
        (await store.listUsage({ org_id: orgId, limit: 100, ...f })).rows.map((r) => r.request_id);
      const expectIds = (pick: (u: UsageRow, i: number) => boolean) =>
        rows
          .filter(pick)
          .map((r) => r.request_id)
          .reverse();
      expect(await ids({ key_id: keyIds[0] })).toEqual(expectIds((_u, i) => i % 2 === 0));
      expect(await ids({ model: 'm-b' })).toEqual(expectIds((_u, i) => i >= 5));
      expect(await ids({ from: T0 + 3 * HOUR, to: T0 + 6 * HOUR })).toEqual(expectIds((_u, i) => i >= 3 && i < 6));
      expect(await ids({ key_id: keyIds[1], model: 'm-a', from: T0 + HOUR })).toEqual(
        expectIds((_u, i) => i % 2 === 1 && i < 5),
      );
      expect(await ids({ key_id: 'key_missing' })).toEqual([]);
    });

    it('pages the ledger newest first with a stable cursor', async () => {
      const { orgId } = await orgWithKeys(0);
      const grants = Array.from({ length: 12 }, (_, i) => makeGrant(orgId, 1 + i, { created_at: T0 + (i % 3) }));
      for (const g of grants) await store.grantCredit(g);
      const seen: LedgerRow[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listLedger(orgId, { limit: 5, cursor });
        seen.push(...page.rows);
        cursor = page.next_cursor;
      } while (cursor !== undefined);
      expect(seen).toHaveLength(12);
      expect(new Set(seen.map((l) => l.id)).size).toBe(12);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!.created_at).toBeLessThanOrEqual(seen[i - 1]!.created_at);
    });

    it('clamps the page size to 1..1000', async () => {
      const { orgId, keyIds } = await orgWithKeys(1);
      await store.writeBatch(batchOf([makeUsage(orgId, keyIds[0]!), makeUsage(orgId, keyIds[0]!, { created_at: T0 + 1 })]));
      expect((await store.listUsage({ org_id: orgId, limit: 0 })).rows).toHaveLength(1);
      expect((await store.listUsage({ org_id: orgId, limit: 5000 })).rows).toHaveLength(2);
    });

    it('rejects a cursor it did not issue', async () => {
      await expect(store.listUsage({ org_id: 'o', limit: 10, cursor: 'not-a-cursor' })).rejects.toThrow(
        InvalidCursorError,
      );
      await expect(store.listLedger('o', { limit: 10, cursor: 'W10' })).rejects.toThrow(InvalidCursorError);
    });
  });

  describe('pruneUsage', () => {
    it('deletes raw usage older than the cutoff and keeps the roll-ups', async () => {
      const { orgId, keyIds } = await orgWithKeys(1);
      // Far older than every other row in the shared database, so the cutoff touches only these.
      const base = Date.UTC(2001, 0, 1);
      const rows = Array.from({ length: 6 }, (_, i) => makeUsage(orgId, keyIds[0]!, { created_at: base + i * HOUR }));
      await store.writeBatch(batchOf(rows));
      const before = await store.aggregateUsage({ org_id: orgId, group_by: ['hour'] });
      await expect(store.pruneUsage(base + 4 * HOUR)).resolves.toBe(4);
      expect((await allUsage(store, orgId)).map((r) => r.request_id)).toEqual([rows[5]!.request_id, rows[4]!.request_id]);
      await expect(store.aggregateUsage({ org_id: orgId, group_by: ['hour'] })).resolves.toEqual(before);
      expect((await allLedger(store, orgId)).filter((l) => l.kind === 'charge')).toHaveLength(6);
      await expect(store.pruneUsage(base)).resolves.toBe(0);
    });
  });

  describe('alert settings', () => {
    it('returns undefined until set, then the latest document', async () => {
      const { orgId } = await orgWithKeys(0);
      await expect(store.getAlertSettings(orgId)).resolves.toBeUndefined();
      const first = { org_id: orgId, settings: { webhook_url: 'https://x.test/h', events: ['balance.low'] }, updated_at: T0 };
      await store.putAlertSettings(first);
      await expect(store.getAlertSettings(orgId)).resolves.toEqual(first);
      const second = { org_id: orgId, settings: { email: 'ops@x.test', threshold: null }, updated_at: T0 + 1 };
      await store.putAlertSettings(second);
      await expect(store.getAlertSettings(orgId)).resolves.toEqual(second);
    });
  });
});

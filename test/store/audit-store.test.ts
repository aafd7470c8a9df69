// The audit table on both dialects: rows go in once and come back as written (JSON before/after
// included), newest first, filtered, and paged by cursor without loss or repetition.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { AuditRow, Store } from '../../src/store/types.js';
import { freshPostgresSchema } from './pg.js';

const T0 = Date.UTC(2026, 0, 1);

function row(i: number, extra: Partial<AuditRow> = {}): AuditRow {
  return {
    id: `aud_${String(i).padStart(4, '0')}`,
    org_id: i % 2 === 0 ? 'org_a' : 'org_b',
    actor: i % 3 === 0 ? 'operator' : 'mk-tg-abcd…',
    action: i % 2 === 0 ? 'key.update' : 'org.update',
    target: `key_${i % 4}`,
    before: { rpm: i, nested: { list: [1, 'two'] } },
    after: { rpm: i + 1 },
    source_ip: '127.0.0.1',
    // Pairs share a timestamp so the cursor's id tie-break is exercised.
    created_at: T0 + Math.floor(i / 2) * 1000,
    ...extra,
  };
}

const targets = [
  {
    name: 'sqlite',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'tollgate-audit-'));
      const store = await openStore(`sqlite://${join(dir, 'tollgate.db')}`);
      return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    async open() {
      const s = await freshPostgresSchema('the Postgres audit table');
      if (!s) return undefined;
      const store = await openStore(s.url, { schema: s.schema });
      return { store, cleanup: s.drop };
    },
  },
];

describe.each(targets)('audit table on $name', (target) => {
  let store: Store | undefined;
  let cleanup: () => Promise<void> = async () => {};
  const rows = Array.from({ length: 25 }, (_, i) => row(i));

  beforeAll(async () => {
    const opened = await target.open();
    if (!opened) return;
    store = opened.store;
    cleanup = opened.cleanup;
    await store.migrate();
    for (const r of rows) await store.insertAudit(r);
  });

  afterAll(async () => {
    await store?.close();
    await cleanup();
  });

  const newestFirst = (rs: AuditRow[]) => [...rs].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1));

  it('lists every row newest first, as written', async (ctx) => {
    if (!store) return ctx.skip();
    const page = await store.listAudit({ limit: 1000 });
    expect(page.rows).toEqual(newestFirst(rows));
    expect(page.next_cursor).toBeUndefined();
  });

  it('filters by org, action, actor, target and time', async (ctx) => {
    if (!store) return ctx.skip();
    const f = { org_id: 'org_a', action: 'key.update', actor: 'operator', target: 'key_2', since: T0 + 2000, until: T0 + 12_000 };
    const expected = newestFirst(rows.filter((r) => r.org_id === f.org_id && r.action === f.action && r.actor === f.actor && r.target === f.target && r.created_at >= f.since && r.created_at < f.until));
    expect(expected.length).toBeGreaterThan(0);
    expect((await store.listAudit({ ...f, limit: 1000 })).rows).toEqual(expected);
  });

  it('pages by cursor without loss or repetition, across equal timestamps', async (ctx) => {
    if (!store) return ctx.skip();
    const seen: AuditRow[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listAudit({ limit: 3, cursor });
      seen.push(...page.rows);
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen.map((r) => r.id)).toEqual(newestFirst(rows).map((r) => r.id));
  });

  it('refuses a second row with the same id (append-only, never overwritten)', async (ctx) => {
    if (!store) return ctx.skip();
    await expect(store.insertAudit(row(0, { action: 'org.disable' }))).rejects.toThrow();
    expect((await store.listAudit({ target: 'key_0', action: 'org.disable', limit: 10 })).rows).toEqual([]);
  });
});

// Stored responses in the Store, on SQLite and on Postgres: kept per org, invisible once
// expired, deleted only by their org, pruned by expiry.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { Store, StoredResponseRow } from '../../src/store/types.js';
import { freshPostgresSchema } from '../store/pg.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-responses-store-'));
const pg = await freshPostgresSchema('the Postgres stored-responses tests');
if (!pg && process.env.CI === 'true') throw new Error('Postgres is required under CI=true (127.0.0.1:5432)');

const targets: Array<{ name: string; open: () => Promise<Store> }> = [{ name: 'sqlite', open: () => openStore(`sqlite://${join(dir, 't.db')}`) }];
if (pg) targets.push({ name: 'postgres', open: () => openStore(pg.url, { schema: pg.schema }) });

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await pg?.drop();
});

function row(id: string, over: Partial<StoredResponseRow> = {}): StoredResponseRow {
  return {
    id,
    org_id: 'org_a',
    key_id: 'key_1',
    model: 'm',
    previous_response_id: null,
    response: { id, object: 'response', output: [{ type: 'message', content: [{ type: 'output_text', text: 'ünïcode ✓' }] }] },
    input_items: [{ id: 'msg_1', type: 'message', role: 'user', content: 'hi' }],
    context: [{ id: 'msg_1', type: 'message', role: 'user', content: 'hi' }],
    created_at: 1_000,
    expires_at: 10_000,
    ...over,
  };
}

for (const t of targets) {
  describe(`stored responses on ${t.name}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await t.open();
      await store.migrate();
    });
    afterAll(async () => store.close());

    it('reads back what was kept, only for its own org and only before it expires', async () => {
      await store.putResponse(row('resp_a'));
      expect(await store.getResponse('org_a', 'resp_a', 5_000)).toEqual(row('resp_a'));
      expect(await store.getResponse('org_b', 'resp_a', 5_000)).toBeUndefined();
      expect(await store.getResponse('org_a', 'resp_a', 10_000)).toBeUndefined();
    });

    it('writes an id once: a repeat changes nothing', async () => {
      await store.putResponse(row('resp_once'));
      await store.putResponse(row('resp_once', { org_id: 'org_b', model: 'other' }));
      expect((await store.getResponse('org_a', 'resp_once', 0))?.model).toBe('m');
      expect(await store.getResponse('org_b', 'resp_once', 0)).toBeUndefined();
    });

    it("deletes only the org's own response", async () => {
      await store.putResponse(row('resp_del'));
      expect(await store.deleteResponse('org_b', 'resp_del')).toBe(false);
      expect(await store.deleteResponse('org_a', 'resp_del')).toBe(true);
      expect(await store.getResponse('org_a', 'resp_del', 0)).toBeUndefined();
      expect(await store.deleteResponse('org_a', 'resp_del')).toBe(false);
    });

    it('prunes what expired before the cutoff and keeps the rest', async () => {
      await store.putResponse(row('resp_old', { expires_at: 2_000 }));
      await store.putResponse(row('resp_new', { expires_at: 50_000 }));
      expect(await store.pruneResponses(20_000)).toBeGreaterThanOrEqual(1);
      expect(await store.getResponse('org_a', 'resp_old', 0)).toBeUndefined();
      expect(await store.getResponse('org_a', 'resp_new', 0)).toBeDefined();
    });
  });
}

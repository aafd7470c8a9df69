import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { UsageRow } from '../../src/store/types.js';
import { startTestGateway } from '../helpers/gateway.js';

const DAY = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'tollgate-retention-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function row(id: string, orgId: string, keyId: string, createdAt: number): UsageRow {
  return {
    request_id: id,
    org_id: orgId,
    key_id: keyId,
    model: 'mock-chat',
    requested_model: 'mock-chat',
    surface: 'chat',
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    reasoning_tokens: 0,
    provider: 'mock',
    prompt_tokens: 10,
    completion_tokens: 5,
    cost_micros: 20,
    cached: null,
    status: 200,
    error_code: null,
    latency_ms: 3,
    stream: false,
    estimated: false,
    fallback: null,
    attempts: 1,
    created_at: createdAt,
  };
}

describe('SPEC §2 usage: raw records are kept for a configurable retention, aggregates stay', () => {
  it('deletes raw usage older than billing.usage_retention_days at start and keeps the roll-ups', async () => {
    const url = `sqlite://${join(dir, 't.db')}`;
    // First run: create an org and key, then write one old and one recent record directly.
    const first = await startTestGateway({ raw: { storage: { url } } });
    const { orgId, mk } = await first.createOrg(1);
    const { id: keyId } = await first.createKey(mk);
    await first.close().catch(() => {});
    const store = await openStore(url);
    const now = Date.now();
    await store.writeBatch({ usage: [row('req_old', orgId, keyId, now - 10 * DAY), row('req_new', orgId, keyId, now - DAY / 2)], charges: [] });
    await store.close();

    const second = await startTestGateway({ raw: { storage: { url }, billing: { usage_retention_days: 7 } } });
    try {
      const list = async () => {
        const res = await fetch(`${second.url}/api/usage`, { headers: { authorization: `Bearer ${mk}` } });
        return ((await res.json()) as { data: Array<{ request_id: string }> }).data.map((r) => r.request_id);
      };
      // Pruning runs in the background at start; wait for its effect.
      const deadline = Date.now() + 3000;
      let ids = await list();
      while (ids.includes('req_old') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        ids = await list();
      }
      expect(ids).toEqual(['req_new']);
      const agg = await fetch(`${second.url}/api/usage?group_by=day`, { headers: { authorization: `Bearer ${mk}` } });
      const days = ((await agg.json()) as { data: Array<{ requests: number }> }).data;
      expect(days.reduce((n, d) => n + d.requests, 0)).toBe(2);
    } finally {
      await second.running.shutdown();
    }
  });
});

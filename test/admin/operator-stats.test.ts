// The operator's traffic endpoints over a real gateway: series per model and provider, orgs by
// spend and usage across orgs agree with what the requests were charged; bad queries are 400s.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, expectError, flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';

interface Stat {
  bucket: string;
  model?: string;
  provider?: string | null;
  requests: number;
  errors: number;
  error_rate: number;
  revenue_usd: number;
  avg_latency_ms: number;
  p95_latency_le_ms: number | null;
}

const round = (n: number) => Math.round(n * 1e6) / 1e6;

describe('operator traffic endpoints', () => {
  let gw: TestGateway;
  let big: { orgId: string; mk: string };
  let small: { orgId: string; mk: string };

  beforeAll(async () => {
    gw = await startTestGateway();
    big = await gw.createOrg(10);
    small = await gw.createOrg(10);
    const bigKey = await gw.createKey(big.mk);
    const smallKey = await gw.createKey(small.mk);
    for (let i = 0; i < 3; i++) {
      expect((await chat(gw.url, bigKey.key, { model: 'mock-chat-large', messages: [{ role: 'user', content: `a long question number ${i} with more words in it` }] })).status).toBe(200);
    }
    expect((await chat(gw.url, bigKey.key, { model: 'mock-chat', messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);
    expect((await chat(gw.url, smallKey.key, { model: 'mock-chat', messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);
    // A failed request (the upstream answers 500 every time): counted as an error, costs nothing.
    const bad = await chat(gw.url, smallKey.key, { model: 'mock-chat', messages: [{ role: 'user', content: 'x' }] }, { 'x-mock-fault': 'status=500' });
    expect(bad.status).toBeGreaterThanOrEqual(500);
    await flushed(gw);
  });
  afterAll(async () => {
    await gw?.close();
  });

  /** Every usage row of both orgs, from the org's own usage API (what each org was charged). */
  async function orgRows(mk: string): Promise<{ model: string; cost_usd: number; status: number; provider: string | null }[]> {
    const res = await fetch(`${gw.url}/api/usage?limit=1000`, { headers: { authorization: `Bearer ${mk}` } });
    return ((await res.json()) as { data: { model: string; cost_usd: number; status: number; provider: string | null }[] }).data;
  }

  it('splits traffic and revenue by model, equal to what the orgs were charged', async () => {
    const res = await gw.admin('/admin/stats?by=model');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: Stat[]; totals: Stat; latency_bounds_ms: number[] };
    const rows = [...(await orgRows(big.mk)), ...(await orgRows(small.mk))];
    const models = new Set(rows.map((r) => r.model));
    for (const model of models) {
      const mine = rows.filter((r) => r.model === model);
      const got = body.data.filter((d) => d.model === model);
      expect(got.reduce((s, d) => s + d.requests, 0)).toBe(mine.length);
      expect(round(got.reduce((s, d) => s + d.revenue_usd, 0))).toBe(round(mine.reduce((s, r) => s + r.cost_usd, 0)));
      expect(got.reduce((s, d) => s + d.errors, 0)).toBe(mine.filter((r) => r.status >= 400).length);
    }
    expect(body.totals.requests).toBe(rows.length);
    expect(round(body.totals.revenue_usd)).toBe(round(rows.reduce((s, r) => s + r.cost_usd, 0)));
    expect(body.totals.errors).toBeGreaterThan(0);
    expect(body.totals.error_rate).toBe(Math.round((body.totals.errors / rows.length) * 10_000) / 10_000);
    expect(body.latency_bounds_ms.length).toBeGreaterThan(0);
    for (const d of body.data) expect(new Date(d.bucket).getTime() % 3_600_000).toBe(0);
  });

  it('splits by provider, naming the provider that answered', async () => {
    const body = (await (await gw.admin('/admin/stats?by=provider&bucket=day')).json()) as { data: Stat[] };
    const served = body.data.filter((d) => d.provider === 'mock');
    expect(served.reduce((s, d) => s + d.requests, 0)).toBeGreaterThanOrEqual(5);
    for (const d of body.data) expect(new Date(d.bucket).getTime() % 86_400_000).toBe(0);
  });

  it('ranks orgs by spend', async () => {
    const body = (await (await gw.admin('/admin/stats/orgs?limit=5')).json()) as { data: { org_id: string; name: string; revenue_usd: number; requests: number }[] };
    const ids = body.data.map((d) => d.org_id);
    expect(ids.indexOf(big.orgId)).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf(big.orgId)).toBeLessThan(ids.indexOf(small.orgId));
    const bigSpend = (await orgRows(big.mk)).reduce((s, r) => s + r.cost_usd, 0);
    expect(round(body.data.find((d) => d.org_id === big.orgId)!.revenue_usd)).toBe(round(bigSpend));
    expect(body.data.find((d) => d.org_id === small.orgId)!.requests).toBe(2);
    expect(typeof body.data[0]!.name).toBe('string');
  });

  it('lists usage across orgs, with the org, and filters by org, model and time', async () => {
    const all = (await (await gw.admin('/admin/usage')).json()) as { data: { org_id: string; org_name: string; model: string }[] };
    expect(new Set(all.data.map((d) => d.org_id))).toEqual(new Set([big.orgId, small.orgId]));
    expect(all.data.every((d) => typeof d.org_name === 'string')).toBe(true);
    const one = (await (await gw.admin(`/admin/usage?org_id=${small.orgId}`)).json()) as { data: { org_id: string }[] };
    expect(one.data).toHaveLength(2);
    expect(one.data.every((d) => d.org_id === small.orgId)).toBe(true);
    const large = (await (await gw.admin('/admin/usage?model=mock-chat-large&limit=2')).json()) as { data: { model: string }[]; next_cursor: string | null };
    expect(large.data).toHaveLength(2);
    expect(large.next_cursor).not.toBeNull();
    const rest = (await (await gw.admin(`/admin/usage?model=mock-chat-large&cursor=${large.next_cursor}`)).json()) as { data: { model: string }[] };
    expect(rest.data).toHaveLength(1);
    const future = (await (await gw.admin(`/admin/usage?from=${Date.now() + 3_600_000}`)).json()) as { data: unknown[] };
    expect(future.data).toEqual([]);
  });

  it('refuses bad queries with a 400 and an unknown org with a 404', async () => {
    await expectError(await gw.admin('/admin/stats?bucket=minute'), 400, 'invalid_value');
    await expectError(await gw.admin('/admin/stats?by=key'), 400, 'invalid_value');
    await expectError(await gw.admin('/admin/stats?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z'), 400, 'invalid_value');
    await expectError(await gw.admin('/admin/stats?from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z'), 400, 'invalid_value');
    await expectError(await gw.admin('/admin/stats/orgs?limit=0'), 400, 'invalid_value');
    await expectError(await gw.admin('/admin/usage?cursor=zzz'), 400, 'invalid_value');
    await expectError(await gw.admin('/admin/usage?org_id=org_nope'), 404, 'not_found');
  });

  it('answers only the admin token', async () => {
    for (const path of ['/admin/stats', '/admin/stats/orgs', '/admin/usage']) {
      expect((await fetch(gw.url + path)).status).toBe(401);
      expect((await fetch(gw.url + path, { headers: { authorization: `Bearer ${big.mk}` } })).status).toBe(403);
    }
  });
});

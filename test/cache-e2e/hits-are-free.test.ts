// SPEC §9 "Hits cost nothing and are recorded in usage as hits" (and §6 "Cache hits are
// free"), seen from the outside: the org balance, GET /api/usage, GET /api/ledger and /metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { type CountingUpstream, call, startCountingUpstream } from '../helpers/money.js';
import { type Answer, ask, balanceUsd, cacheable, cacheLookupSamples, gatewayConfig, MODEL, tapCacheWrites, type UsageItem, usageRows, type WriteTap } from './support.js';

let upstream: CountingUpstream;
let gw: TestGateway;
let mk: string;
let key: string;
let keyId: string;
let writes: WriteTap;

// One MISS and its exact HIT, shared by the tests below.
let miss: Answer;
let hit: Answer;
let balanceAfterMiss: number;
let balanceAfterHit: number;
let rows: UsageItem[];

beforeAll(async () => {
  upstream = await startCountingUpstream();
  gw = await startTestGateway({ raw: gatewayConfig(upstream.url) });
  writes = tapCacheWrites(gw);
  ({ mk } = await gw.createOrg(10));
  ({ key, id: keyId } = await gw.createKey(mk));

  const body = cacheable('Explain in one sentence why caches save money.', { max_tokens: 200 });
  miss = await ask(gw.url, key, body);
  await writes.settled();
  await flushed(gw);
  balanceAfterMiss = await balanceUsd(gw, mk);
  hit = await ask(gw.url, key, body);
  await flushed(gw);
  balanceAfterHit = await balanceUsd(gw, mk);
  rows = await usageRows(gw, mk);
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('SPEC §9 caching: hits are free and recorded in usage as hits', () => {
  it('the MISS is charged and the HIT leaves the balance unchanged', () => {
    expect(miss).toMatchObject({ status: 200, cache: 'MISS' });
    expect(hit).toMatchObject({ status: 200, cache: 'HIT', cacheType: 'exact' });
    expect(upstream.chatRequests).toBe(1);
    expect(balanceAfterMiss).toBeLessThan(10);
    expect(balanceAfterHit).toBe(balanceAfterMiss);
  });

  it('GET /api/usage shows the hit as cached: true, cache_type "exact", cost 0, with the prompt and completion tokens it saved', () => {
    const paid = rows.find((r) => r.request_id === miss.requestId);
    const free = rows.find((r) => r.request_id === hit.requestId);
    expect(paid, JSON.stringify(rows)).toBeDefined();
    expect(free, JSON.stringify(rows)).toBeDefined();
    expect(paid).toMatchObject({ cached: false, cache_type: null, status: 200, model: MODEL, key_id: keyId });
    expect(paid!.cost_usd).toBeGreaterThan(0);
    expect(paid!.prompt_tokens).toBeGreaterThan(0);
    expect(paid!.completion_tokens).toBeGreaterThan(0);
    expect(free).toMatchObject({ cached: true, cache_type: 'exact', cost_usd: 0, status: 200, model: MODEL, key_id: keyId });
    expect({ prompt: free!.prompt_tokens, completion: free!.completion_tokens }).toEqual({ prompt: paid!.prompt_tokens, completion: paid!.completion_tokens });
    // The tokens saved are the ones the original answer reported.
    const usage = (JSON.parse(hit.text) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    expect(free!.prompt_tokens).toBe(usage.prompt_tokens);
    expect(free!.completion_tokens).toBe(usage.completion_tokens);
    expect(rows).toHaveLength(2);
  });

  it('GET /api/ledger has a charge for the MISS and none for the HIT', async () => {
    const ledger = await call<{ data: Array<{ kind: string; request_id?: string | null }> }>(gw.url, mk, '/api/ledger');
    expect(ledger.status).toBe(200);
    const charges = ledger.body.data.filter((e) => e.kind === 'charge');
    expect(charges.map((c) => c.request_id)).toEqual([miss.requestId]);
  });

  it('GET /metrics counts the exact-layer hit in tollgate_cache_lookups_total', async () => {
    const samples = await cacheLookupSamples(gw);
    expect(samples.get('exact/hit'), JSON.stringify([...samples])).toBe(1);
  });

  it('GET /metrics counts the miss in tollgate_cache_lookups_total by layer (layer="exact", result="miss")', async () => {
    const samples = await cacheLookupSamples(gw);
    expect(samples.get('exact/miss'), JSON.stringify([...samples])).toBe(1);
  });

  it('GET /metrics counts a BYPASS in tollgate_cache_lookups_total', async () => {
    const before = await cacheLookupSamples(gw);
    expect((await ask(gw.url, key, cacheable('Bypass me.'), { 'cache-control': 'no-store' })).cache).toBe('BYPASS');
    const after = await cacheLookupSamples(gw);
    const bypasses = (m: Map<string, number>) => [...m].filter(([k]) => k.endsWith('/bypass')).reduce((s, [, v]) => s + v, 0);
    expect(bypasses(after) - bypasses(before), JSON.stringify([...after])).toBe(1);
  });
});

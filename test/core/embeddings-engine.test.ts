// SPEC §2, §5, §7: embeddings go through the same stages as chat: one attempt executor that
// records breaker outcomes (so the semantic cache's own embedding can close a half-open
// channel), a usage row for a failed request, and Idempotency-Key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { until } from '../resilience/support.js';

let gw: TestGateway;
let org: { orgId: string; mk: string };
let key: string;

beforeAll(async () => {
  gw = await startTestGateway({
    raw: {
      providers: [{ id: 'mock', type: 'mock' }],
      circuit_breaker: { failure_threshold: 1, min_requests: 1000, cooldown_s: 0.2 },
      routing: { max_attempts: 1 },
      cache: { semantic: { enabled: true, embedding_model: 'mock-embedding' } },
      limits: { key_rpm: null },
    },
  });
  org = await gw.createOrg(10);
  key = (await gw.createKey(org.mk)).key;
});

afterAll(async () => {
  await gw?.close();
});

function embed(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gw.url}/v1/embeddings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

async function usageRows(): Promise<Array<{ request_id: string; status: number; error_code: string | null; cost_usd: number }>> {
  await flushed(gw);
  const res = await fetch(`${gw.url}/api/usage?model=mock-embedding`, { headers: { authorization: `Bearer ${org.mk}` } });
  return ((await res.json()) as { data: Array<{ request_id: string; status: number; error_code: string | null; cost_usd: number }> }).data;
}

describe('SPEC §2 embeddings through the shared stages', () => {
  it('answers a repeated Idempotency-Key with the first answer, charged once', async () => {
    const body = { model: 'mock-embedding', input: 'idempotent embedding text' };
    const first = await embed(body, { 'idempotency-key': 'emb-1' });
    expect(first.status).toBe(200);
    const firstBody = await first.text();
    const again = await embed(body, { 'idempotency-key': 'emb-1' });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(JSON.parse(await again.text())).toEqual(JSON.parse(firstBody));
    const rows = (await usageRows()).filter((r) => r.status === 200);
    expect(rows).toHaveLength(1);
    const other = await embed({ ...body, input: 'different text' }, { 'idempotency-key': 'emb-1' });
    expect(other.status).toBe(409);
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe('idempotency_conflict');
  });

  it('records a failed request that reached the upstream, at no cost', async () => {
    const res = await embed({ model: 'mock-embedding', input: 'failing embedding' }, { 'x-mock-fault': 'status=500' });
    expect(res.status).toBe(502);
    const id = res.headers.get('x-request-id');
    const row = (await usageRows()).find((r) => r.request_id === id);
    expect(row).toMatchObject({ status: 502, error_code: 'provider_error', cost_usd: 0 });
  });

  it("the semantic cache's own embedding records success: a recovering channel closes instead of staying half-open", async () => {
    const channel = gw.running.gateway.channels.get('mock-embedding')!.channels[0];
    // The failure above opened the breaker (threshold 1); after its cooldown the next call is the probe.
    expect(channel.breaker.state).toBe('open');
    await until(() => channel.breaker.isAvailable(), 'the breaker cooldown to pass');
    const vec = await gw.running.gateway.engine.embedForCache('a probe through the cache path');
    expect(vec.length).toBeGreaterThan(0);
    expect(channel.breaker.state).toBe('closed');
  });
});

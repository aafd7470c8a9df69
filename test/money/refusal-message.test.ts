// SPEC §6 and issue wording: a 402 caused by this request's worst case says so and says how
// many output tokens the request can afford; asking for that many is admitted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({
    raw: {
      models: [{ id: 'dear', context_window: 200_000, max_output_tokens: 100_000, pricing: { input_per_mtok: 1, output_per_mtok: 10 }, channels: [{ provider: 'mock', upstream_model: 'mock-chat' }] }],
      limits: { key_rpm: null },
    },
  });
});

afterAll(async () => {
  await gw?.close();
});

describe('SPEC §6 a refusal names the affordable output', () => {
  it("a key budget too small for this request's worst case: 402 budget_exceeded naming the output tokens it can afford, which are then admitted", async () => {
    const { mk } = await gw.createOrg(10);
    const { key } = await gw.createKey(mk, { budget_usd: 0.01 });
    const body = { model: 'dear', max_tokens: 100_000, messages: [{ role: 'user', content: 'Hello there' }] };
    const res = await chat(gw.url, key, body);
    expect(res.status).toBe(402);
    const err = ((await res.json()) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('budget_exceeded');
    expect(err.message).toContain("this request's worst case");
    const tokens = Number(/afford about (\d+) output tokens/.exec(err.message)?.[1]);
    expect(tokens).toBeGreaterThan(0);
    expect(tokens).toBeLessThan(1000);
    const ok = await chat(gw.url, key, { ...body, max_tokens: tokens });
    expect(ok.status, await ok.clone().text()).toBe(200);
  });
});

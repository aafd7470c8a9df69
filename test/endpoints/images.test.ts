// POST /v1/images/generations through the official `openai` SDK: the mock's deterministic PNG,
// a charge of n × the price of the size and quality, the whole price reserved first, and
// nothing charged when the upstream fails or the size is not priced.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balanceOf, usageOf } from '../helpers/account.js';
import { expectError, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let client: OpenAI;
let key: string;
let mk: string;

const IMAGE_MODELS = [
  {
    id: 'mock-image',
    kind: 'image',
    pricing: { per_image: { '1024x1024': { standard: 0.04, hd: 0.08 }, '256x256': 0.01 } },
    channels: [{ provider: 'mock', upstream_model: 'mock-image' }],
  },
  { id: 'mock-image-flat', kind: 'image', pricing: { per_image: 0.02 }, channels: [{ provider: 'mock', upstream_model: 'mock-image' }] },
];

const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${gw.url}/v1/images/generations`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

beforeAll(async () => {
  gw = await startTestGateway({ raw: { models: [...MOCK_MODELS, ...IMAGE_MODELS], limits: { key_rpm: null } } });
  const org = await gw.createOrg(10);
  mk = org.mk;
  key = (await gw.createKey(mk)).key;
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0, timeout: 30_000 });
});

afterAll(async () => {
  await gw?.close();
});

describe('POST /v1/images/generations', () => {
  it('returns the PNGs and charges n × the price of the size and quality', async () => {
    const before = await balanceOf(gw.url, mk);
    const res = await client.images.generate({ model: 'mock-image', prompt: 'a lighthouse at dusk', n: 2, quality: 'hd', size: '1024x1024', response_format: 'b64_json' });
    expect(res.data).toHaveLength(2);
    const png = Buffer.from(res.data![0].b64_json!, 'base64');
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    expect(res.data![0].b64_json).not.toBe(res.data![1].b64_json);
    const again = await client.images.generate({ model: 'mock-image', prompt: 'a lighthouse at dusk', n: 1, quality: 'hd', size: '1024x1024', response_format: 'b64_json' });
    expect(again.data![0].b64_json).toBe(res.data![0].b64_json);
    const after = await balanceOf(gw.url, mk);
    expect(before.balance_usd - after.balance_usd).toBeCloseTo(0.16 + 0.08, 6);
    const rows = (await usageOf(gw, mk)).filter((r) => r.model === 'mock-image');
    expect(rows.map((r) => r.cost_usd).sort()).toEqual([0.08, 0.16]);
  });

  it('prices the default quality and a flat price; a data URL when asked for one', async () => {
    const before = await balanceOf(gw.url, mk);
    const std = await client.images.generate({ model: 'mock-image', prompt: 'a red kite' });
    expect(std.data).toHaveLength(1);
    const flat = await client.images.generate({ model: 'mock-image-flat', prompt: 'a red kite', n: 3, response_format: 'url' });
    expect(flat.data![0].url).toMatch(/^data:image\/png;base64,/);
    const after = await balanceOf(gw.url, mk);
    expect(before.balance_usd - after.balance_usd).toBeCloseTo(0.04 + 0.06, 6);
  });

  it('refuses an unpriced size or quality with a 400 naming the priced ones, at no cost', async () => {
    const before = await balanceOf(gw.url, mk);
    const e1 = await expectError(await post({ model: 'mock-image', prompt: 'x', size: '512x512' }), 400, 'invalid_value');
    expect(e1.param).toBe('size');
    expect(e1.message).toContain('1024x1024');
    const e2 = await expectError(await post({ model: 'mock-image', prompt: 'x', quality: 'ultra' }), 400, 'invalid_value');
    expect(e2.param).toBe('quality');
    await expectError(await post({ model: 'mock-image', prompt: 'x', n: 11 }), 400, 'invalid_value');
    await expectError(await post({ model: 'mock-image', prompt: '' }), 400, 'invalid_value');
    await expectError(await post({ model: 'mock-image', prompt: 'x', colour: 'red' }), 400, 'unknown_parameter');
    await expectError(await post({ model: 'mock-chat', prompt: 'x' }), 400, 'invalid_value');
    expect((await balanceOf(gw.url, mk)).balance_usd).toBe(before.balance_usd);
  });

  it('charges nothing when the upstream fails, and records the failure', async () => {
    const before = await balanceOf(gw.url, mk);
    const res = await post({ model: 'mock-image-flat', prompt: 'failing' }, { 'x-mock-fault': 'status=400' });
    expect(res.status).toBe(400);
    const id = res.headers.get('x-request-id');
    expect((await balanceOf(gw.url, mk)).balance_usd).toBe(before.balance_usd);
    const row = (await usageOf(gw, mk)).find((r) => r.request_id === id);
    expect(row).toMatchObject({ status: 400, cost_usd: 0 });
  });

  it('refuses when the balance cannot cover the whole price, before the upstream is called', async () => {
    const poor = await gw.createOrg(0.05);
    const k = (await gw.createKey(poor.mk)).key;
    const res = await fetch(`${gw.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-image', prompt: 'too dear', n: 2 }),
    });
    expect(res.status).toBe(402);
    expect((await balanceOf(gw.url, poor.mk)).balance_usd).toBe(0.05);
  });
});

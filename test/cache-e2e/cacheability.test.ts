// SPEC §9 through HTTP: which requests are cacheable, what an exact HIT looks like, and which
// differences in a request must miss. The upstream is the mock model behind an `openai`-type
// provider that counts every chat call it receives, so "no second upstream call" is measured.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { type CountingUpstream, startCountingUpstream } from '../helpers/money.js';
import { ask, cacheable, gatewayConfig, MODEL, tapCacheWrites, type WriteTap, withoutCost } from './support.js';

let upstream: CountingUpstream;
let gw: TestGateway;
let key: string;
let writes: WriteTap;

beforeAll(async () => {
  upstream = await startCountingUpstream();
  gw = await startTestGateway({ raw: gatewayConfig(upstream.url) });
  writes = tapCacheWrites(gw);
  const { mk } = await gw.createOrg(10);
  key = (await gw.createKey(mk)).key;
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

/** Sends `body` and reports its cache header and how many upstream calls it caused. */
async function send(body: Record<string, unknown> | string, headers: Record<string, string> = {}) {
  const before = upstream.chatRequests;
  const a = await ask(gw.url, key, body, headers);
  expect(a.status, a.text).toBe(200);
  // Entries are written after the answer is sent; the next request must find them.
  await writes.settled();
  return { ...a, upstreamCalls: upstream.chatRequests - before };
}

const SYSTEM = { role: 'system', content: 'You are terse.' };
const base = (prompt: string, extra: Record<string, unknown> = {}) => cacheable(prompt, { messages: [SYSTEM, { role: 'user', content: prompt }], ...extra });

describe('SPEC §9 caching: which requests are cached, over HTTP', () => {
describe('cacheable requests', () => {
  it('a temperature 0 non-stream request is a MISS, then its repeat is an exact HIT with an identical body and no second upstream call', async () => {
    const body = base('Name three primary colours.');
    const first = await send(body);
    expect(first).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
    expect(first.cacheType).toBeNull();
    const second = await send(body);
    expect(second).toMatchObject({ cache: 'HIT', cacheType: 'exact', upstreamCalls: 0 });
    expect(withoutCost(second.text)).toBe(withoutCost(first.text));
    expect(JSON.parse(second.text).usage.cost).toBe(0);
  });

  it('top_p 1 is the default and stays cacheable (MISS then HIT)', async () => {
    const body = base('List two prime numbers.', { top_p: 1 });
    expect(await send(body)).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
    expect(await send(body)).toMatchObject({ cache: 'HIT', cacheType: 'exact', upstreamCalls: 0 });
  });

  it('answers with the exact HIT regardless of the order of keys in the JSON body, at every depth', async () => {
    const prompt = 'Spell the word cache backwards.';
    const ordered = `{"model":"${MODEL}","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"${prompt}"}],"temperature":0,"max_tokens":50}`;
    const shuffled = `{"max_tokens":50,"temperature":0,"messages":[{"content":"You are terse.","role":"system"},{"content":"${prompt}","role":"user"}],"model":"${MODEL}"}`;
    const first = await send(ordered);
    expect(first).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
    const second = await send(shuffled);
    expect(second).toMatchObject({ cache: 'HIT', cacheType: 'exact', upstreamCalls: 0 });
    expect(withoutCost(second.text)).toBe(withoutCost(first.text));
    expect(JSON.parse(second.text).usage.cost).toBe(0);
  });
});

describe('requests that bypass the cache', () => {
  const bypassing: Array<[string, Record<string, unknown>]> = [
    ['temperature absent (the provider default, not deterministic)', { temperature: undefined }],
    ['temperature 0.7', { temperature: 0.7 }],
    ['top_p 0.9 with temperature 0', { top_p: 0.9 }],
  ];
  for (const [name, extra] of bypassing) {
    it(`${name}: BYPASS every time, each call goes upstream`, async () => {
      const body = base(`Describe a bypass case: ${name}.`, extra);
      expect(await send(body)).toMatchObject({ cache: 'BYPASS', upstreamCalls: 1 });
      expect(await send(body)).toMatchObject({ cache: 'BYPASS', upstreamCalls: 1 });
    });
  }

  it('stream: true at temperature 0 is a BYPASS (header on the event stream), each call goes upstream', async () => {
    const body = base('Stream a short greeting.', { stream: true });
    for (let i = 0; i < 2; i++) {
      const a = await send(body);
      expect(a.text).toContain('data: [DONE]');
      expect(a.upstreamCalls).toBe(1);
      expect(a.cache).toBe('BYPASS');
    }
  });

  for (const directive of ['no-cache', 'no-store']) {
    it(`Cache-Control: ${directive} is a BYPASS even when an entry exists, and goes upstream`, async () => {
      const body = base(`Opt out of the cache with ${directive}.`);
      expect(await send(body)).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
      expect(await send(body, { 'cache-control': directive })).toMatchObject({ cache: 'BYPASS', upstreamCalls: 1 });
      // The entry is still there for requests that do not opt out.
      expect(await send(body)).toMatchObject({ cache: 'HIT', cacheType: 'exact', upstreamCalls: 0 });
    });
  }
});

describe('every output-affecting parameter is part of the key', () => {
  const WEATHER_TOOL = {
    type: 'function',
    function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
  };
  const variants: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    ['a different system message', { messages: [SYSTEM, { role: 'user', content: 'Variant: system.' }] }, { messages: [{ role: 'system', content: 'You are verbose.' }, { role: 'user', content: 'Variant: system.' }] }],
    ['different tools', { tools: [WEATHER_TOOL], tool_choice: 'none' }, { tools: [{ ...WEATHER_TOOL, function: { ...WEATHER_TOOL.function, name: 'get_forecast' } }], tool_choice: 'none' }],
    ['a different stop', { stop: ['zzz'] }, { stop: ['yyy'] }],
    ['a different max_tokens', { max_tokens: 60 }, { max_tokens: 61 }],
    ['a different seed', { seed: 1 }, { seed: 2 }],
  ];
  for (const [name, a, b] of variants) {
    it(`${name} is a MISS that goes upstream, while the original still HITs`, async () => {
      const prompt = `Key component: ${name}.`;
      const original = base(prompt, a);
      expect(await send(original)).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
      expect(await send(base(prompt, b))).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
      expect(await send(original)).toMatchObject({ cache: 'HIT', cacheType: 'exact', upstreamCalls: 0 });
    });
  }
});
});

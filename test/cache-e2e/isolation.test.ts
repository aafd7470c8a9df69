// SPEC §9 "Caches never cross orgs", with the in-process memory backend and with the Redis
// backend shared by two gateways. The upstream numbers its answers, so a response tells which
// upstream call produced it: an org served another org's answer would show the other number.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { completionBody, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';
import { connectTestClient, deleteKeys, freshPrefix, isRedisReachable, TEST_REDIS_URL } from '../limits/redis-test-support.js';
import { ask, cacheable, gatewayConfig, tapCacheWrites, type WriteTap, withoutCost } from './support.js';

const redisUp = await isRedisReachable();
if (!redisUp) console.log(`Redis not reachable at ${TEST_REDIS_URL}: skipping the Redis-backend isolation tests (the memory-backend ones still run)`);

/** An OpenAI-compatible upstream answering "answer #n" to its n-th chat call. */
async function numberingUpstream(): Promise<ScriptedUpstream> {
  let n = 0;
  return startScriptedUpstream((_req, res) => {
    const body = completionBody(`answer #${++n}`);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

const chatCalls = (up: ScriptedUpstream) => up.requests.filter((r) => r.path.endsWith('/chat/completions')).length;

describe('SPEC §9 caching: caches never cross orgs', () => {
describe('memory backend', () => {
  let upstream: ScriptedUpstream;
  let gw: TestGateway;
  let writes: WriteTap;
  const keys: Record<'a' | 'b', string> = { a: '', b: '' };

  beforeAll(async () => {
    upstream = await numberingUpstream();
    gw = await startTestGateway({ raw: gatewayConfig(upstream.url) });
    writes = tapCacheWrites(gw);
    for (const org of ['a', 'b'] as const) keys[org] = (await gw.createKey((await gw.createOrg(5)).mk)).key;
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('org A and org B sending the same prompt make two upstream calls; each then HITs only its own answer', async () => {
    const body = cacheable('Which org am I?');
    const a1 = await ask(gw.url, keys.a, body);
    await writes.settled();
    const b1 = await ask(gw.url, keys.b, body);
    await writes.settled();
    expect(a1).toMatchObject({ status: 200, cache: 'MISS', content: 'answer #1' });
    expect(b1).toMatchObject({ status: 200, cache: 'MISS', content: 'answer #2' });
    expect(chatCalls(upstream)).toBe(2);

    const a2 = await ask(gw.url, keys.a, body);
    const b2 = await ask(gw.url, keys.b, body);
    expect(a2).toMatchObject({ cache: 'HIT', cacheType: 'exact', content: 'answer #1' });
    expect(b2).toMatchObject({ cache: 'HIT', cacheType: 'exact', content: 'answer #2' });
    expect(chatCalls(upstream)).toBe(2);
  });
});

describe.skipIf(!redisUp)('Redis backend shared by two gateways', () => {
  const prefix = freshPrefix();
  let redis: Redis;
  let upstream: ScriptedUpstream;
  let gw1: TestGateway;
  let gw2: TestGateway;
  let writes1: WriteTap;
  let writes2: WriteTap;
  const keys: Record<'a' | 'b', string> = { a: '', b: '' };

  beforeAll(async () => {
    redis = await connectTestClient();
    upstream = await numberingUpstream();
    const raw = (extra: Record<string, unknown>) => gatewayConfig(upstream.url, { redis: { url: TEST_REDIS_URL, key_prefix: prefix }, ...extra });
    gw1 = await startTestGateway({ raw: raw({}) });
    // Both orgs exist before the second gateway starts on the same database, so it loads them.
    for (const org of ['a', 'b'] as const) keys[org] = (await gw1.createKey((await gw1.createOrg(5)).mk)).key;
    gw2 = await startTestGateway({ raw: raw({ storage: { url: gw1.config.storage.url } }) });
    writes1 = tapCacheWrites(gw1);
    writes2 = tapCacheWrites(gw2);
  });

  afterAll(async () => {
    await gw2?.close();
    await gw1?.close();
    await upstream?.close();
    if (redis) {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
  });

  const cacheKeys = async () => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}cache:*`, 'COUNT', 500);
      cursor = next;
      found.push(...batch);
    } while (cursor !== '0');
    return found;
  };

  it('A on gateway 1 and B on gateway 2 with the same prompt: two upstream calls, both MISS, two entries in Redis', async () => {
    const body = cacheable('Shared Redis, separate orgs.');
    const a = await ask(gw1.url, keys.a, body);
    await writes1.settled();
    expect(await cacheKeys()).toHaveLength(1);
    const b = await ask(gw2.url, keys.b, body);
    await writes2.settled();
    expect(a).toMatchObject({ status: 200, cache: 'MISS', content: 'answer #1' });
    expect(b).toMatchObject({ status: 200, cache: 'MISS', content: 'answer #2' });
    expect(chatCalls(upstream)).toBe(2);
    expect(await cacheKeys()).toHaveLength(2);
  });

  it('A on both gateways: gateway 2 HITs the entry gateway 1 stored (the backend is shared), and B never gets A\'s answer', async () => {
    const body = cacheable('One org, two gateways.');
    const onGw1 = await ask(gw1.url, keys.a, body);
    await writes1.settled();
    const calls = chatCalls(upstream);
    const onGw2 = await ask(gw2.url, keys.a, body);
    expect(onGw1).toMatchObject({ status: 200, cache: 'MISS' });
    expect(onGw2).toMatchObject({ status: 200, cache: 'HIT', cacheType: 'exact', content: onGw1.content });
    expect(withoutCost(onGw2.text)).toBe(withoutCost(onGw1.text));
    expect(chatCalls(upstream)).toBe(calls);

    // The same prompt from org B, on either gateway, is its own MISS.
    const b = await ask(gw2.url, keys.b, body);
    await writes2.settled();
    expect(b).toMatchObject({ status: 200, cache: 'MISS' });
    expect(b.content).not.toBe(onGw1.content);
    const bAgain = await ask(gw1.url, keys.b, body);
    expect(bAgain).toMatchObject({ cache: 'HIT', cacheType: 'exact', content: b.content });
    expect(chatCalls(upstream)).toBe(calls + 1);
  });
});
});

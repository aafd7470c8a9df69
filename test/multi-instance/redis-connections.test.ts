// One owner for Redis (issue 11, item 13): a gateway opens exactly one command connection and
// one subscriber, shares them between limits, credit, cache, alerts, readiness and the change
// feeds, and closes them itself; closing the parts in any order neither hangs nor throws.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisCreditLedger } from '../../src/billing/redis-ledger.js';
import { Kv } from '../../src/kv/kv.js';
import { createRedisLimiter } from '../../src/limits/index.js';
import { chat, startTestGateway } from '../helpers/gateway.js';
import { connectTestClient, deleteKeys, freshPrefix, isRedisReachable, TEST_REDIS_URL } from '../limits/redis-test-support.js';

const redisUp = await isRedisReachable();
if (!redisUp) console.log(`Redis not reachable at ${TEST_REDIS_URL}: skipping the Redis connection ownership tests`);

let redis: Redis | undefined;
const prefixes: string[] = [];

beforeAll(async () => {
  if (redisUp) redis = await connectTestClient();
});

afterAll(async () => {
  if (!redis) return;
  for (const p of prefixes) await deleteKeys(redis, p);
  redis.disconnect();
});

/** Connections Redis sees under one run's client names (CLIENT LIST, name=<prefix>…). */
async function connectionsNamed(prefix: string): Promise<string[]> {
  const list = (await redis!.call('CLIENT', 'LIST')) as string;
  return list
    .split('\n')
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '')
    .filter((name) => name.startsWith(prefix));
}

function prefix(): string {
  const p = freshPrefix();
  prefixes.push(p);
  return p;
}

describe.skipIf(!redisUp)('Redis connections of one gateway', () => {
  it('opens one command connection and one subscriber, whatever it does, and closes both', async () => {
    const p = prefix();
    const gw = await startTestGateway({ raw: { redis: { url: TEST_REDIS_URL, key_prefix: p }, cache: { exact: { enabled: true } }, limits: { key_rpm: 1000 } } });
    try {
      const { mk } = await gw.createOrg(5);
      const { key } = await gw.createKey(mk);
      for (let i = 0; i < 3; i++) expect((await chat(gw.url, key, { model: 'mock-chat', messages: [{ role: 'user', content: `hi ${i}` }], temperature: 0 })).status).toBe(200);
      expect((await gw.admin('/readyz')).status).toBe(200);
      const names = await connectionsNamed(p);
      expect(names.sort()).toEqual([`${p}cmd`, `${p}sub`]);
    } finally {
      await gw.close();
    }
    expect(await connectionsNamed(p)).toEqual([]);
  });
});

describe.skipIf(!redisUp)('closing the Redis owner and its users', () => {
  async function parts(p: string) {
    const kv = new Kv({ url: TEST_REDIS_URL, prefix: p });
    await kv.ready(2000);
    const limiter = createRedisLimiter(kv.redis, p);
    const ledger = new RedisCreditLedger(kv.redis, { prefix: p, instance: kv.instance, loadOrg: async () => ({ balance: 1000, orgSpend: 0, keySpends: new Map() }) });
    await ledger.start();
    const feed = kv.feed<{ n: number }>('test');
    const unsubscribe = feed.subscribe({ onMessage: () => {} });
    const lease = kv.lease('job', 5000);
    expect(await lease.acquire()).toBe(true);
    await ledger.reserve({ orgId: 'o', keyId: 'k', amount: 1, keyBudget: null, orgCap: null });
    return { kv, limiter, ledger, unsubscribe, lease };
  }

  it('closes the owner first, then its users, without hanging or throwing', async () => {
    const p = prefix();
    const x = await parts(p);
    await x.kv.close();
    await x.kv.close();
    await x.lease.release();
    x.unsubscribe();
    await x.ledger.close();
    await x.limiter.close();
    expect(await connectionsNamed(p)).toEqual([]);
  });

  it('closes the users first, then the owner, and leaves no connection behind', async () => {
    const p = prefix();
    const x = await parts(p);
    await x.limiter.close();
    await x.ledger.close();
    x.unsubscribe();
    await x.lease.release();
    await x.kv.close();
    expect(await connectionsNamed(p)).toEqual([]);
  });

  it('a user closing does not close the connection the others still use', async () => {
    const p = prefix();
    const x = await parts(p);
    try {
      await x.ledger.close();
      await x.limiter.close();
      expect(await x.kv.redis.ping()).toBe('PONG');
      expect((await connectionsNamed(p)).sort()).toEqual([`${p}cmd`, `${p}sub`]);
    } finally {
      await x.kv.close();
    }
  });
});

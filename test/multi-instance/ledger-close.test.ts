// A stopping instance leaves Redis holding none of its reservations: on close the Redis credit
// ledger sets its hold fields to what it still holds. Before, a reservation Redis had counted
// twice (a reserve sent again after seeding the org, or one whose answer was lost) stayed in
// Redis until a heartbeat that an instance stopping within the second never ran.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisCreditLedger } from '../../src/billing/redis-ledger.js';
import { Kv } from '../../src/kv/kv.js';
import { connectTestClient, deleteKeys, freshPrefix, isRedisReachable, TEST_REDIS_URL } from '../limits/redis-test-support.js';

const redisUp = await isRedisReachable();
if (!redisUp) console.log(`Redis not reachable at ${TEST_REDIS_URL}: skipping the Redis ledger close test`);

let redis: Redis | undefined;
const prefix = freshPrefix();

beforeAll(async () => {
  if (redisUp) redis = await connectTestClient();
});

afterAll(async () => {
  if (!redis) return;
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

describe.skipIf(!redisUp)('a Redis credit ledger that stops', () => {
  it('sets its hold fields to what it still holds, also when Redis counted a reservation twice', async () => {
    const kv = new Kv({ url: TEST_REDIS_URL, prefix });
    await kv.ready(2000);
    // No heartbeat runs during the test: only close() can repair the fields.
    const ledger = new RedisCreditLedger(kv.redis, { prefix, instance: kv.instance, heartbeatMs: 600_000, loadOrg: async () => ({ balance: 10_000, orgSpend: 0, keySpends: new Map() }) });
    await ledger.start();
    const r = await ledger.reserve({ orgId: 'o', keyId: 'k', amount: 100, keyBudget: null, orgCap: null });
    if (!r.ok) throw new Error(r.message);
    // Redis applies the hold once more than this instance took.
    await redis!.hincrby(`${prefix}cr:ores:o`, kv.instance, 100);
    await redis!.hincrby(`${prefix}cr:kres:k`, kv.instance, 100);
    await ledger.settle(r.reservation, 40);
    expect(Number(await redis!.hget(`${prefix}cr:ores:o`, kv.instance))).toBe(100);
    await ledger.close();
    await kv.close();
    expect(await redis!.hgetall(`${prefix}cr:ores:o`)).toEqual({});
    expect(await redis!.hgetall(`${prefix}cr:kres:k`)).toEqual({});
    // The charge itself stands.
    expect(Number(await redis!.get(`${prefix}cr:bal:o`))).toBe(10_000 - 40);
  });
});

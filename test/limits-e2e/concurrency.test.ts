// max_concurrency: requests in flight at once per key and per org. Over the limit is 429
// concurrency_exceeded saying how many run; a slot comes back when the request completes, when
// its client disconnects mid-stream, and when its instance dies (Redis leases lapse); with Redis
// the count is shared by every gateway; GET /api/balance shows in_flight and the limit.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryConcurrency, createRedisConcurrency } from '../../src/limits/concurrency.js';
import { pollFor } from '../helpers/cluster.js';
import { chat, expectError, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { chatModel, chunkFrame, type Deferred, deferred, openaiProvider, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';
import { connectTestClient, deleteKeys, freshPrefix, isRedisReachable, TEST_REDIS_URL } from '../limits/redis-test-support.js';

const redisUp = await isRedisReachable();
if (!redisUp) console.log(`Redis not reachable at ${TEST_REDIS_URL}: skipping the shared concurrency tests`);

/** An upstream whose streams send their first token, then wait until the test lets them finish. */
let upstream: ScriptedUpstream;
const gates: Deferred<void>[] = [];
let opened = 0;

beforeAll(async () => {
  upstream = await startScriptedUpstream(async (req, res) => {
    if (req.json?.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'held', choices: [{ index: 0, message: { role: 'assistant', content: 'done' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }));
      return;
    }
    const gate = deferred();
    gates.push(gate);
    opened++;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunkFrame({ role: 'assistant', content: 'first ' }));
    res.on('close', () => gate.resolve());
    await gate.promise;
    if (res.destroyed) return;
    res.write(chunkFrame({}, 'stop', { usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } }));
    res.end('data: [DONE]\n\n');
  });
});

afterAll(async () => {
  for (const g of gates) g.resolve();
  await upstream?.close();
});

function gatewayRaw(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { providers: [openaiProvider('held', upstream.url)], models: [chatModel('held-chat', 'held', 'held-chat')], ...extra };
}

const body = { model: 'held-chat', messages: [{ role: 'user', content: 'hold on' }] };

/** A stream that has started (its first token arrived): it holds a slot until it ends or is aborted. */
async function openStream(url: string, key: string): Promise<{ abort: () => void; finish: () => Promise<string> }> {
  const ac = new AbortController();
  const before = opened;
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
    signal: ac.signal,
  });
  if (res.status !== 200) throw new Error(`stream: ${res.status} ${await res.text()}`);
  const reader = res.body!.getReader();
  await reader.read();
  expect(opened).toBeGreaterThan(before);
  const gate = gates[gates.length - 1];
  return {
    abort: () => ac.abort(),
    finish: async () => {
      gate.resolve();
      let text = '';
      for (;;) {
        const step = await reader.read();
        if (step.done) return text;
        text += new TextDecoder().decode(step.value);
      }
    },
  };
}

async function balance(url: string, key: string): Promise<{ concurrency: { in_flight: number | null; limit: number | null }; key?: { concurrency: { in_flight: number | null; limit: number | null } } }> {
  const res = await fetch(`${url}/api/balance`, { headers: { authorization: `Bearer ${key}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as never;
}

/** Waits until the key's in-flight count is `n` (a released slot is given back asynchronously). */
async function keyInFlight(url: string, key: string, n: number): Promise<void> {
  const r = await pollFor(async () => ((await balance(url, key)).key?.concurrency.in_flight === n ? true : undefined), 5000);
  expect(r.value, `in_flight never became ${n}`).toBe(true);
}

describe('per key, in memory', () => {
  let gw: TestGateway;
  let mk: string;
  beforeAll(async () => {
    gw = await startTestGateway({ raw: gatewayRaw() });
    mk = (await gw.createOrg(10)).mk;
  });
  afterAll(async () => {
    for (const g of gates) g.resolve();
    await gw?.close();
  });

  it('admits up to the key limit, refuses the next with 429 concurrency_exceeded naming the count, and frees slots on completion and on disconnect', async () => {
    const { key, id } = await gw.createKey(mk, { max_concurrency: 2 });
    const keyRow = await (await fetch(`${gw.url}/api/keys/${id}`, { headers: { authorization: `Bearer ${mk}` } })).json();
    expect(keyRow).toMatchObject({ max_concurrency: 2 });
    const a = await openStream(gw.url, key);
    const b = await openStream(gw.url, key);
    expect((await balance(gw.url, key)).key?.concurrency).toEqual({ in_flight: 2, limit: 2 });

    const refused = await chat(gw.url, key, body);
    const err = await expectError(refused, 429, 'concurrency_exceeded');
    expect(err.type).toBe('rate_limit_error');
    expect(err.message).toMatch(/2 running/);
    expect(err.message).toMatch(/limit is 2/);
    expect(refused.headers.get('retry-after')).toBe('1');
    // Embeddings and every other route count too (the refusal happens before any model check).
    expect((await fetch(`${gw.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'held-chat', input: 'x' }) })).status).toBe(400);

    // A client that goes away mid-stream gives its slot back.
    a.abort();
    await keyInFlight(gw.url, key, 1);
    const c = await openStream(gw.url, key);
    expect((await chat(gw.url, key, body)).status).toBe(429);

    // Completion gives it back too.
    expect(await b.finish()).toContain('data: [DONE]');
    await keyInFlight(gw.url, key, 1);
    expect(await c.finish()).toContain('data: [DONE]');
    await keyInFlight(gw.url, key, 0);
    expect((await chat(gw.url, key, body)).status).toBe(200);
    await keyInFlight(gw.url, key, 0);
  });

  it('a key without its own setting and no default is unlimited; a refused request costs nothing', async () => {
    const { key } = await gw.createKey(mk);
    expect((await balance(gw.url, key)).key?.concurrency).toEqual({ in_flight: 0, limit: null });
    const streams = [await openStream(gw.url, key), await openStream(gw.url, key), await openStream(gw.url, key)];
    for (const s of streams) await s.finish();
  });

  it('the org limit (PATCH /admin/orgs) covers all its keys; the message says it is the organisation\'s', async () => {
    const org = await gw.createOrg(10);
    expect((await gw.admin(`/admin/orgs/${org.orgId}`, { method: 'PATCH', body: { max_concurrency: 1 } })).status).toBe(200);
    const k1 = await gw.createKey(org.mk);
    const k2 = await gw.createKey(org.mk);
    const s = await openStream(gw.url, k1.key);
    const err = await expectError(await chat(gw.url, k2.key, body), 429, 'concurrency_exceeded');
    expect(err.message).toMatch(/organisation's limit is 1/);
    expect((await balance(gw.url, org.mk)).concurrency).toEqual({ in_flight: 1, limit: 1 });
    await s.finish();
    const r = await pollFor(async () => ((await chat(gw.url, k2.key, body)).status === 200 ? true : undefined), 5000);
    expect(r.value).toBe(true);
  });

  it('bad settings are 400s and change nothing', async () => {
    for (const v of [0, -1, 1.5, 'two']) {
      const res = await fetch(`${gw.url}/api/keys`, { method: 'POST', headers: { authorization: `Bearer ${mk}`, 'content-type': 'application/json' }, body: JSON.stringify({ max_concurrency: v }) });
      expect(res.status).toBe(400);
    }
  });
});

describe('the configured default', () => {
  it('limits.key_max_concurrency applies to keys without their own setting', async () => {
    const gw = await startTestGateway({ raw: gatewayRaw({ limits: { key_max_concurrency: 1 } }) });
    try {
      const { key } = await gw.createKey((await gw.createOrg(10)).mk);
      const s = await openStream(gw.url, key);
      await expectError(await chat(gw.url, key, body), 429, 'concurrency_exceeded');
      expect((await balance(gw.url, key)).key?.concurrency).toEqual({ in_flight: 1, limit: 1 });
      await s.finish();
    } finally {
      await gw.close();
    }
  });
});

describe.skipIf(!redisUp)('shared through Redis', () => {
  let redis: Redis;
  const prefix = freshPrefix();
  let dir: string;
  let gw1: TestGateway;
  let gw2: TestGateway;

  beforeAll(async () => {
    redis = await connectTestClient();
    dir = mkdtempSync(join(tmpdir(), 'tollgate-conc-'));
    // One store and one Redis: two instances of the same deployment.
    const raw = gatewayRaw({ redis: { url: TEST_REDIS_URL, key_prefix: prefix }, storage: { url: `sqlite://${join(dir, 'shared.db')}` } });
    gw1 = await startTestGateway({ raw });
    gw2 = await startTestGateway({ raw });
  });
  afterAll(async () => {
    for (const g of gates) g.resolve();
    await gw1?.close();
    await gw2?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (redis) {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
  });

  it('two gateways share one count: a stream on one fills the key limit on the other; a disconnect frees it for both', async () => {
    const org = await gw1.createOrg(10);
    const made = await gw1.createKey(org.mk, { max_concurrency: 1 });
    // The key reaches the second instance through the change feed.
    const known = await pollFor(async () => ((await fetch(`${gw2.url}/api/balance`, { headers: { authorization: `Bearer ${made.key}` } })).status === 200 ? true : undefined), 5000);
    expect(known.value).toBe(true);
    const s = await openStream(gw1.url, made.key);
    expect((await balance(gw2.url, made.key)).key?.concurrency).toEqual({ in_flight: 1, limit: 1 });
    const err = await expectError(await chat(gw2.url, made.key, body), 429, 'concurrency_exceeded');
    expect(err.message).toMatch(/1 running/);
    s.abort();
    await keyInFlight(gw2.url, made.key, 0);
    expect((await chat(gw2.url, made.key, body)).status).toBe(200);
  });

  it('a crashed holder (no renewal, no release) frees its slot when the lease lapses; a live holder keeps renewing its own', async () => {
    const p = freshPrefix();
    const ttl = 300;
    const dying = createRedisConcurrency(redis, p, { leaseTtlMs: ttl });
    const living = createRedisConcurrency(redis, p, { leaseTtlMs: ttl });
    const other = createRedisConcurrency(redis, p, { leaseTtlMs: ttl });
    try {
      const held = await dying.acquire([{ key: 'key:crash', limit: 1 }]);
      expect(held.allowed).toBe(true);
      await dying.close(); // the instance is gone: nothing renews or releases its lease
      const kept = await living.acquire([{ key: 'key:alive', limit: 1 }]);
      expect(kept.allowed).toBe(true);
      const firstExpiry = Number((await redis.zrange(`${p}conc:key:alive`, 0, -1, 'WITHSCORES'))[1]);
      expect((await other.acquire([{ key: 'key:crash', limit: 1 }])).allowed).toBe(false);
      const freed = await pollFor(async () => {
        const d = await other.acquire([{ key: 'key:crash', limit: 1 }]);
        return d.allowed ? d : undefined;
      }, 5000);
      expect(freed.value?.allowed).toBe(true);
      // The live holder's lease was pushed out (renewed) and still holds its slot.
      const renewed = await pollFor(async () => {
        const score = Number((await redis.zrange(`${p}conc:key:alive`, 0, -1, 'WITHSCORES'))[1]);
        return score > firstExpiry ? score : undefined;
      }, 5000);
      expect(renewed.value).toBeGreaterThan(firstExpiry);
      expect((await other.acquire([{ key: 'key:alive', limit: 1 }])).allowed).toBe(false);
      if (kept.allowed) kept.release();
      const after = await pollFor(async () => ((await other.inFlight(['key:alive']))[0] === 0 ? true : undefined), 5000);
      expect(after.value).toBe(true);
    } finally {
      await Promise.all([dying.close(), living.close(), other.close()]);
      await deleteKeys(redis, p);
    }
  });
});

describe('the in-memory limiter', () => {
  it('takes a slot in every scope or none, and a release is counted once', async () => {
    const l = createMemoryConcurrency();
    const a = await l.acquire([{ key: 'k', limit: 2 }, { key: 'o', limit: 1 }]);
    expect(a.allowed).toBe(true);
    const b = await l.acquire([{ key: 'k', limit: 2 }, { key: 'o', limit: 1 }]);
    expect(b).toEqual({ allowed: false, failed: 1, inFlight: 1 });
    expect(await l.inFlight(['k', 'o'])).toEqual([1, 1]);
    if (a.allowed) {
      a.release();
      a.release();
    }
    expect(await l.inFlight(['k', 'o'])).toEqual([0, 0]);
  });
});

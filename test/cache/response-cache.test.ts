import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { type CacheProbe, type CacheTicket, cachedCompletion, createResponseCache, type ResponseCacheDeps } from '../../src/cache/index.js';
import type { Config } from '../../src/config/schema.js';
import type { ChatRequest } from '../../src/core/types.js';
import { bagOfWords, chatRequest, completion, connectTestRedis, deleteByPrefix, manualClock } from './helpers.js';

const redis = await connectTestRedis();
const redisPrefix = `tollgate-test:rc:${randomUUID()}:`;
afterAll(async () => {
  if (redis === undefined) return;
  await deleteByPrefix(redis, redisPrefix);
  redis.disconnect();
});

function cacheConfig(overrides: { exact?: Partial<Config['cache']['exact']>; semantic?: Partial<Config['cache']['semantic']> } = {}): Config['cache'] {
  return {
    exact: { enabled: true, ttl_s: 3600, max_bytes: 1 << 20, ...overrides.exact },
    semantic: { enabled: true, threshold: 0.85, embedding_model: 'test-embed', ttl_s: 3600, max_entries_per_org: 100, ...overrides.semantic },
  };
}

const embed = (_org: string, text: string) => Promise.resolve(bagOfWords(text));

const ask = (text: string, overrides: Partial<ChatRequest> = {}) =>
  chatRequest({ messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: text }], ...overrides });

function ticketOf(probe: CacheProbe): CacheTicket {
  if (probe.status !== 'miss') throw new Error(`expected a miss, got a ${probe.layer} hit`);
  return probe.ticket;
}

const backends: Array<[string, () => ResponseCacheDeps | undefined]> = [
  ['memory', () => ({})],
  ['redis', () => (redis === undefined ? undefined : { redis, redisPrefix: `${redisPrefix}${randomUUID()}:` })],
];

describe.each(backends)('SPEC §9 caching through createResponseCache (%s exact backend)', (_name, depsFor) => {
  // A fresh prefix per test: entries must not leak from one test into the next.
  const run = depsFor() === undefined ? it.skip : it;

  run('misses, stores, then serves the identical request as an exact HIT', async () => {
    const cache = createResponseCache(cacheConfig(), { ...depsFor(), embed });
    const req = ask('What is the capital of France?');
    const first = await cache.lookup('org-a', 'gpt-test', req);
    await cache.store(ticketOf(first), completion('Paris.'));
    const second = await cache.lookup('org-a', 'gpt-test', req);
    expect(second).toMatchObject({ status: 'hit', layer: 'exact' });
    if (second.status === 'hit') {
      expect(cachedCompletion(second.entry).choices[0].message.content).toBe('Paris.');
      expect(second.entry.usage).toEqual({ prompt_tokens: 12, completion_tokens: 3 });
      expect(second.entry.model).toBe('gpt-test-2025');
    }
    expect(cache.stats.exact).toEqual({ hits: 1, misses: 1, errors: 0 });
  });

  run('serves a paraphrase as a semantic HIT after an exact MISS', async () => {
    const cache = createResponseCache(cacheConfig(), { ...depsFor(), embed });
    const first = await cache.lookup('org-a', 'gpt-test', ask('What is the capital of France?'));
    await cache.store(ticketOf(first), completion('Paris.'));
    const para = await cache.lookup('org-a', 'gpt-test', ask("what's the capital city of France"));
    expect(para).toMatchObject({ status: 'hit', layer: 'semantic' });
    expect(cache.stats.semantic.hits).toBe(1);
    expect(cache.stats.exact.misses).toBe(2);
  });

  run('never answers org B with org A’s answer, in either layer', async () => {
    const cache = createResponseCache(cacheConfig(), { ...depsFor(), embed });
    const req = ask('What is the capital of France?');
    const a = await cache.lookup('org-a', 'gpt-test', req);
    await cache.store(ticketOf(a), completion('A’s answer'));

    const b = await cache.lookup('org-b', 'gpt-test', req);
    expect(b.status).toBe('miss');
    const bPara = await cache.lookup('org-b', 'gpt-test', ask("what's the capital city of France"));
    expect(bPara.status).toBe('miss');
    expect(cache.stats.exact.misses).toBe(3);
    expect(cache.stats.semantic.misses).toBe(3);
    expect((await cache.lookup('org-a', 'gpt-test', req)).status).toBe('hit');
  });
});

describe('SPEC §9 caching: engine-facing behaviour', () => {
  it('counts bypasses and bypasses everything when both layers are off', () => {
    const cache = createResponseCache(cacheConfig(), { embed });
    expect(cache.decide(chatRequest(), {})).toBe('cacheable');
    expect(cache.decide(chatRequest({ stream: true }), {})).toBe('bypass');
    expect(cache.decide(chatRequest(), { cacheControl: 'no-store' })).toBe('bypass');
    expect(cache.stats.bypass).toBe(2);
    const off = createResponseCache(cacheConfig({ exact: { enabled: false }, semantic: { enabled: false } }), { embed });
    expect(off.decide(chatRequest(), {})).toBe('bypass');
  });

  it('leaves the semantic layer off without an embedding function', async () => {
    const cache = createResponseCache(cacheConfig());
    expect(cache.semanticEnabled).toBe(false);
    const probe = await cache.lookup('org-a', 'gpt-test', chatRequest());
    expect(ticketOf(probe).scope).toBeUndefined();
  });

  it('honours per-request switches: exact off, semantic off, a raised similarity', async () => {
    const cache = createResponseCache(cacheConfig(), { embed });
    const req = ask('What is the capital of France?');
    await cache.store(ticketOf(await cache.lookup('org-a', 'm', req)), completion('Paris.'));

    expect(await cache.lookup('org-a', 'm', req, { exact: false })).toMatchObject({ status: 'hit', layer: 'semantic' });
    expect((await cache.lookup('org-a', 'm', req, { exact: false, semantic: false })).status).toBe('miss');
    const para = ask("what's the capital city of France");
    expect((await cache.lookup('org-a', 'm', para, { minSimilarity: 0.9 })).status).toBe('miss');
    expect((await cache.lookup('org-a', 'm', para, { minSimilarity: 0.1 })).status).toBe('hit');
  });

  it('stores nothing for an incomplete answer and keeps the body it is given verbatim', async () => {
    const cache = createResponseCache(cacheConfig(), { embed });
    const req = ask('Tell me something');
    const ticket = ticketOf(await cache.lookup('org-a', 'm', req));
    const filtered = completion('…');
    filtered.choices[0].finish_reason = 'content_filter';
    await cache.store(ticket, filtered);
    expect((await cache.lookup('org-a', 'm', req)).status).toBe('miss');

    const body = '{"object":"chat.completion","exact":"bytes"}';
    await cache.store(ticket, completion('fine'), body);
    const hit = await cache.lookup('org-a', 'm', req);
    expect(hit.status === 'hit' && hit.entry.body).toBe(body);
  });

  it('expires exact and semantic entries after ttl_s (injected clock)', async () => {
    const clock = manualClock();
    const cache = createResponseCache(cacheConfig({ exact: { ttl_s: 10 }, semantic: { ttl_s: 10 } }), { embed, now: clock.now });
    const req = ask('What is the capital of France?');
    await cache.store(ticketOf(await cache.lookup('org-a', 'm', req)), completion('Paris.'));
    clock.advance(9_999);
    expect((await cache.lookup('org-a', 'm', req)).status).toBe('hit');
    clock.advance(1);
    expect((await cache.lookup('org-a', 'm', req)).status).toBe('miss');
    expect((await cache.lookup('org-a', 'm', ask("what's the capital city of France"))).status).toBe('miss');
  });

  it('shares one upstream call among 100 identical concurrent misses', async () => {
    const cache = createResponseCache(cacheConfig(), { embed });
    const req = ask('What is the capital of France?');
    const probes = await Promise.all(Array.from({ length: 100 }, () => cache.lookup('org-a', 'm', req)));
    const upstream = vi.fn(() => new Promise<string>((r) => setImmediate(() => r('Paris.'))));
    const answers = await Promise.all(probes.map((p) => cache.coalesce(ticketOf(p), upstream)));
    expect(upstream).toHaveBeenCalledOnce();
    expect(new Set(answers.map((a) => a.value))).toEqual(new Set(['Paris.']));
    expect(answers.filter((a) => !a.shared)).toHaveLength(1);
    expect(cache.stats.coalesced).toBe(99);
  });

  it('treats a request it cannot key as a MISS that is neither stored nor coalesced', async () => {
    const onError = vi.fn();
    const cache = createResponseCache(cacheConfig(), { embed, onError });
    let deep: unknown = 'x';
    for (let i = 0; i < 1000; i++) deep = { d: deep };
    const probe = await cache.lookup('org-a', 'm', chatRequest({ extra: deep }));
    const ticket = ticketOf(probe);
    expect(onError).toHaveBeenCalledWith(expect.any(RangeError), 'key');
    await cache.store(ticket, completion('x'));
    const run = vi.fn(() => Promise.resolve(1));
    const results = await Promise.all([cache.coalesce(ticket, run), cache.coalesce(ticket, run)]);
    expect(run).toHaveBeenCalledTimes(2);
    expect(results).toEqual([{ value: 1, shared: false }, { value: 1, shared: false }]);
  });

  it('keeps serving (as MISS) when Redis is unreachable', async () => {
    const port = await closedPort();
    const dead = new Redis({ host: '127.0.0.1', port });
    dead.on('error', () => {});
    try {
      const onError = vi.fn();
      const cache = createResponseCache(cacheConfig({ semantic: { enabled: false } }), { redis: dead, redisTimeoutMs: 50, onError });
      const probe = await cache.lookup('org-a', 'm', chatRequest());
      expect(probe.status).toBe('miss');
      await expect(cache.store(ticketOf(probe), completion('x'))).resolves.toBeUndefined();
      expect(cache.stats.exact.errors).toBe(2);
      expect(onError.mock.calls.map((c) => c[1])).toEqual(['exact.lookup', 'exact.store']);
      await cache.close();
    } finally {
      dead.disconnect();
    }
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

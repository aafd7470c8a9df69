// SPEC §9 semantic layer through HTTP: a paraphrase within the same org, model, parameters and
// earlier turns is served the stored answer when the prompt embeddings are similar enough.
// Embeddings come from the mock provider's `mock-embedding` model (a deterministic bag of words)
// through Tollgate's own routing; chat goes to a counting upstream behind an `openai` provider.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mockEmbedding } from '../../src/providers/mock/model.js';
import { flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { type CountingUpstream, call, startCountingUpstream } from '../helpers/money.js';
import { ask, balanceUsd, cacheable, gatewayConfig, MODEL, tapCacheWrites, usageRows, type WriteTap, withoutCost } from './support.js';

const THRESHOLD = 0.8;
const QUESTION = 'What is the capital of France?';
const PARAPHRASE = 'what is the capital city of France?';
/** The same words as QUESTION, so similarity 1, but not the same text (an exact MISS). */
const SAME_WORDS = 'what is the capital of france';
const UNRELATED = 'Write a haiku about autumn leaves.';
/** Similar to QUESTION, but less than THRESHOLD. */
const SOMEWHAT_SIMILAR = 'What is the largest city of France?';

/** Cosine similarity of two prompts under the mock embedding (256 dimensions, as the mock serves). */
function similarity(a: string, b: string): number {
  const x = mockEmbedding(a, 256);
  const y = mockEmbedding(b, 256);
  return x.reduce((s, v, i) => s + v * y[i], 0);
}

let upstream: CountingUpstream;
let gw: TestGateway;
let writes: WriteTap;

beforeAll(async () => {
  upstream = await startCountingUpstream();
  gw = await startTestGateway({
    raw: gatewayConfig(upstream.url, { cache: { semantic: { enabled: true, threshold: THRESHOLD, embedding_model: 'mock-embedding' } } }),
  });
  writes = tapCacheWrites(gw);
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

/** A fresh org (so its semantic index is empty), optionally opted in, and a key with `keyBody`. */
async function tenant(optIn: boolean, keyBody: Record<string, unknown> = {}) {
  const { orgId, mk } = await gw.createOrg(10);
  if (optIn) {
    const res = await gw.admin(`/admin/orgs/${orgId}`, { method: 'PATCH', body: { semantic_cache: true } });
    expect(res.status, await res.text()).toBe(200);
  }
  const { key } = await gw.createKey(mk, keyBody);
  return { orgId, mk, key };
}

/** Sends a cacheable request, waits for the entry it may store, and counts the upstream calls it caused. */
async function send(key: string, body: Record<string, unknown>) {
  const before = upstream.chatRequests;
  const a = await ask(gw.url, key, body);
  expect(a.status, a.text).toBe(200);
  await writes.settled();
  return { ...a, upstreamCalls: upstream.chatRequests - before };
}

describe('SPEC §9 caching: the semantic layer', () => {
  it('the mock embedding puts the test prompts where the tests need them', () => {
    expect(similarity(QUESTION, PARAPHRASE)).toBeGreaterThanOrEqual(THRESHOLD);
    expect(similarity(QUESTION, PARAPHRASE)).toBeLessThan(0.97);
    expect(similarity(QUESTION, SAME_WORDS)).toBeGreaterThan(0.999);
    expect(similarity(QUESTION, UNRELATED)).toBeLessThan(0.2);
    expect(similarity(QUESTION, SOMEWHAT_SIMILAR)).toBeGreaterThan(0.5);
    expect(similarity(QUESTION, SOMEWHAT_SIMILAR)).toBeLessThan(THRESHOLD);
  });

  it('an opted-in org asking a paraphrase gets a HIT with X-Tollgate-Cache-Type: semantic, the stored answer and no upstream call', async () => {
    const { key } = await tenant(true);
    const first = await send(key, cacheable(QUESTION));
    expect(first).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
    const second = await send(key, cacheable(PARAPHRASE));
    expect(second).toMatchObject({ cache: 'HIT', cacheType: 'semantic', upstreamCalls: 0 });
    expect(withoutCost(second.text)).toBe(withoutCost(first.text));
    expect(JSON.parse(second.text).usage.cost).toBe(0);
  });

  it('an unrelated prompt is a MISS', async () => {
    const { key } = await tenant(true);
    await send(key, cacheable(QUESTION));
    expect(await send(key, cacheable(UNRELATED))).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
  });

  it('the same last question after a different earlier turn is a MISS; after the same earlier turn, a paraphrase HITs', async () => {
    const { key } = await tenant(true);
    const conversation = (topic: string, last: string) =>
      cacheable(last, {
        messages: [
          { role: 'user', content: `Tell me about ${topic}.` },
          { role: 'assistant', content: `${topic} is a continent.` },
          { role: 'user', content: last },
        ],
      });
    expect(await send(key, conversation('Europe', QUESTION))).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
    expect(await send(key, conversation('Asia', QUESTION))).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
    expect(await send(key, conversation('Europe', PARAPHRASE))).toMatchObject({ cache: 'HIT', cacheType: 'semantic', upstreamCalls: 0 });
  });

  it('a key threshold above the configured one raises it: 0.999 turns the paraphrase into a MISS, same words still HIT', async () => {
    const { key } = await tenant(true, { cache: { threshold: 0.999 } });
    await send(key, cacheable(QUESTION));
    expect(await send(key, cacheable(PARAPHRASE))).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
    expect(await send(key, cacheable(SAME_WORDS))).toMatchObject({ cache: 'HIT', cacheType: 'semantic', upstreamCalls: 0 });
  });

  it('a key threshold below the configured one cannot lower it: a prompt under the configured threshold stays a MISS', async () => {
    const { key } = await tenant(true, { cache: { threshold: 0.5 } });
    await send(key, cacheable(QUESTION));
    expect(await send(key, cacheable(SOMEWHAT_SIMILAR))).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
    // The layer is on for this key: a close enough paraphrase still HITs.
    expect(await send(key, cacheable(PARAPHRASE))).toMatchObject({ cache: 'HIT', cacheType: 'semantic' });
  });

  it('a key can opt in for itself with {"semantic": true, "threshold": 0.97} (set with PATCH /api/keys) when its org has not', async () => {
    const { mk, key } = await tenant(false);
    const keys = await call<{ data: Array<{ id: string }> }>(gw.url, mk, '/api/keys');
    const patched = await call(gw.url, mk, `/api/keys/${keys.body.data[0].id}`, { method: 'PATCH', body: { cache: { semantic: true, threshold: 0.97 } } });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    await send(key, cacheable(QUESTION));
    expect(await send(key, cacheable(PARAPHRASE))).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
    expect(await send(key, cacheable(SAME_WORDS))).toMatchObject({ cache: 'HIT', cacheType: 'semantic', upstreamCalls: 0 });
  });

  it('an org that has not opted in never gets semantic hits, neither from its own entries nor from an opted-in org\'s', async () => {
    const optedIn = await tenant(true);
    const plain = await tenant(false);
    await send(optedIn.key, cacheable(QUESTION));
    expect(await send(plain.key, cacheable(PARAPHRASE))).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
    expect(await send(plain.key, cacheable(QUESTION))).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
    expect(await send(plain.key, cacheable(SAME_WORDS))).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
    // Its exact layer still works.
    expect(await send(plain.key, cacheable(QUESTION))).toMatchObject({ cache: 'HIT', cacheType: 'exact', upstreamCalls: 0 });
  });

  it('a key with {"semantic": false} in an opted-in org gets no semantic hits', async () => {
    const { key } = await tenant(true, { cache: { semantic: false } });
    await send(key, cacheable(QUESTION));
    expect(await send(key, cacheable(SAME_WORDS))).toMatchObject({ cache: 'MISS', upstreamCalls: 1 });
  });

  it('a key with {"exact": false} skips the exact layer: the identical request is served by the semantic layer instead', async () => {
    const { key } = await tenant(true, { cache: { exact: false } });
    await send(key, cacheable(QUESTION));
    expect(await send(key, cacheable(QUESTION))).toMatchObject({ cache: 'HIT', cacheType: 'semantic', upstreamCalls: 0 });
  });

  it('embedding calls are billed to no org: the balance moves only by the chat charges, and usage has no embedding rows', async () => {
    const { mk, key } = await tenant(true);
    await send(key, cacheable(QUESTION));
    const hit = await send(key, cacheable(PARAPHRASE));
    await send(key, cacheable(UNRELATED));
    expect(hit).toMatchObject({ cache: 'HIT', cacheType: 'semantic' });
    await flushed(gw);

    const rows = await usageRows(gw, mk);
    expect(rows.map((r) => r.model)).toEqual([MODEL, MODEL, MODEL]);
    const semanticRow = rows.find((r) => r.request_id === hit.requestId);
    expect(semanticRow).toMatchObject({ cached: true, cache_type: 'semantic', cost_usd: 0 });
    expect(semanticRow!.completion_tokens).toBeGreaterThan(0);

    const paidMicros = rows.reduce((s, r) => s + Math.round(r.cost_usd * 1e6), 0);
    expect(paidMicros).toBeGreaterThan(0);
    expect(Math.round((await balanceUsd(gw, mk)) * 1e6)).toBe(10_000_000 - paidMicros);
    const ledger = await call<{ data: Array<{ kind: string; request_id?: string | null }> }>(gw.url, mk, '/api/ledger');
    expect(ledger.body.data.filter((e) => e.kind === 'charge')).toHaveLength(2);
  });
});

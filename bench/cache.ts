// Micro-benchmark of the cache's hot-path costs: `npx tsx bench/cache.ts`. Not run by tests.
// Figures are per operation on one core; run on an idle machine and compare runs, not machines.
import { createResponseCache, createSemanticCache, exactCacheKey, semanticScope } from '../src/cache/index.js';
import { createMemoryBackend } from '../src/cache/memory-backend.js';
import type { ChatRequest } from '../src/core/types.js';

function typicalRequest(i: number): ChatRequest {
  return {
    model: 'gpt-4o-mini',
    temperature: 0,
    max_tokens: 256,
    user: `user-${i}`,
    messages: [
      { role: 'system', content: 'You are a helpful assistant for an online hardware store. Answer briefly, cite the product SKU when you mention a product, and never invent prices. If unsure, say so and suggest contacting support.' },
      { role: 'user', content: 'I need a drill for hanging shelves on a concrete wall.' },
      { role: 'assistant', content: 'For concrete you want a hammer drill. The SKU HD-220 (18V, 2-speed) handles 6-10 mm masonry bits, which suits standard wall plugs for shelves.' },
      { role: 'user', content: `Which masonry bit size should I use for 8 mm plugs, and do I need anything else? (order ${i})` },
    ],
    tools: [{ type: 'function', function: { name: 'lookup_sku', description: 'Find a product by SKU', parameters: { type: 'object', properties: { sku: { type: 'string' } }, required: ['sku'] } } }],
  };
}

// The best of several rounds: on a shared machine the minimum is the figure least
// distorted by other processes.
const ROUNDS = 7;

function report(name: string, ns: number): void {
  console.log(`${name.padEnd(56)} ${(ns / 1000).toFixed(2).padStart(8)} µs/op  (${Math.round(1e9 / ns).toLocaleString('en')} op/s)`);
}

function measure(name: string, iterations: number, op: (i: number) => unknown): void {
  for (let i = 0; i < Math.min(iterations, 20_000); i++) op(i);
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) op(i);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / iterations);
  }
  report(name, best);
}

async function measureAsync(name: string, iterations: number, op: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < Math.min(iterations, 5_000); i++) await op(i);
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await op(i);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / iterations);
  }
  report(name, best);
}

/** Deterministic pseudo-random unit-ish vectors, far apart from one another as real embeddings are. */
function randomVectors(count: number, dims: number): Float32Array[] {
  let seed = 0x9e3779b9;
  const next = () => {
    seed = Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5;
    return ((seed >>> 0) / 0x100000000) * 2 - 1;
  };
  return Array.from({ length: count }, () => Float32Array.from({ length: dims }, next));
}

async function main(): Promise<void> {
  const requests = Array.from({ length: 1024 }, (_, i) => typicalRequest(i));
  console.log(`request size: ${JSON.stringify(requests[0]).length} bytes of JSON\n`);

  measure('exactCacheKey', 200_000, (i) => exactCacheKey('org-1', 'gpt-4o-mini', requests[i & 1023]));
  measure('semanticScope', 200_000, (i) => semanticScope('org-1', 'gpt-4o-mini', requests[i & 1023]));

  const mem = createMemoryBackend({ maxBytes: 64 * 1024 * 1024 });
  const keys = requests.map((r) => exactCacheKey('org-1', 'gpt-4o-mini', r));
  const body = JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'Use an 8 mm bit. '.repeat(20) }, finish_reason: 'stop' }] });
  for (const k of keys) await mem.set(k, { body, usage: { prompt_tokens: 250, completion_tokens: 80 }, model: 'gpt-4o-mini', createdAt: 0 }, 3_600_000);
  await measureAsync('memory backend get (hit)', 500_000, (i) => mem.get(keys[i & 1023]));
  await measureAsync('exactCacheKey + memory get (hit)', 200_000, (i) => mem.get(exactCacheKey('org-1', 'gpt-4o-mini', requests[i & 1023])));

  const cache = createResponseCache({
    exact: { enabled: true, ttl_s: 3600, max_bytes: 64 * 1024 * 1024 },
    semantic: { enabled: false, threshold: 0.95, embedding_model: 'none', ttl_s: 3600, max_entries_per_org: 10_000 },
  });
  for (const r of requests) {
    const probe = await cache.lookup('org-1', 'gpt-4o-mini', r);
    if (probe.status === 'miss') await cache.store(probe.ticket, JSON.parse(body), body);
  }
  // The in-memory exact layer answers at once (no promise).
  measure('createResponseCache: decide + lookup (exact hit)', 200_000, (i) => {
    const r = requests[i & 1023];
    cache.decide(r, {});
    return cache.lookup('org-1', 'gpt-4o-mini', r);
  });

  for (const entries of [1_000, 10_000]) {
    const dims = 1536;
    const vectors = randomVectors(entries * 2, dims);
    const sem = createSemanticCache({
      embed: (_org, text) => Promise.resolve(vectors[Number(text)]),
      threshold: 0.999,
      ttlMs: 3_600_000,
      maxEntriesPerOrg: entries,
    });
    const stored = { body, usage: { prompt_tokens: 1, completion_tokens: 1 }, model: 'm', createdAt: 0 };
    for (let n = 0; n < entries; n++) await sem.store('org-1', 'scope', String(n), stored);
    if (sem.entries !== entries) throw new Error(`expected ${entries} entries, have ${sem.entries}`);
    // Queries are unseen vectors (a miss scans the whole bucket); the embedding memo keeps
    // them after the first round, so the figure is the scan, not the embedding call.
    await measureAsync(`semantic lookup miss, ${entries.toLocaleString('en')} entries × ${dims} dims`, entries >= 10_000 ? 50 : 200, (i) =>
      sem.lookup('org-1', 'scope', String(entries + (i % 200))),
    );
  }
}

await main();

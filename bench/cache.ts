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

function measure(name: string, iterations: number, op: (i: number) => unknown): void {
  for (let i = 0; i < Math.min(iterations, 20_000); i++) op(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) op(i);
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  console.log(`${name.padEnd(52)} ${(ns / 1000).toFixed(2).padStart(8)} µs/op  (${Math.round(1e9 / ns).toLocaleString('en')} op/s)`);
}

async function measureAsync(name: string, iterations: number, op: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < Math.min(iterations, 5_000); i++) await op(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await op(i);
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  console.log(`${name.padEnd(52)} ${(ns / 1000).toFixed(2).padStart(8)} µs/op  (${Math.round(1e9 / ns).toLocaleString('en')} op/s)`);
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
  await measureAsync('createResponseCache: decide + lookup (exact hit)', 200_000, (i) => {
    const r = requests[i & 1023];
    cache.decide(r, {});
    return cache.lookup('org-1', 'gpt-4o-mini', r);
  });

  for (const entries of [1_000, 10_000]) {
    const dims = 1536;
    const vectors = Array.from({ length: entries + 1 }, (_, n) => {
      const v = new Float32Array(dims);
      for (let d = 0; d < dims; d++) v[d] = Math.sin(n * 31 + d * 7);
      return v;
    });
    const sem = createSemanticCache({
      embed: (_org, text) => Promise.resolve(vectors[Number(text)]),
      threshold: 0.999,
      ttlMs: 3_600_000,
      maxEntriesPerOrg: entries,
    });
    const stored = { body, usage: { prompt_tokens: 1, completion_tokens: 1 }, model: 'm', createdAt: 0 };
    for (let n = 0; n < entries; n++) await sem.store('org-1', 'scope', String(n), stored);
    // The query text differs each time so the embedding memo does not hide the scan.
    await measureAsync(`semantic lookup, ${entries.toLocaleString('en')} entries × ${dims} dims (scan)`, entries >= 10_000 ? 200 : 2_000, (i) =>
      sem.lookup('org-1', 'scope', String(entries - (i % entries))),
    );
  }
}

await main();

import { describe, expect, it, vi } from 'vitest';
import { semanticScope } from '../../src/cache/canonical.js';
import { createSemanticCache, requiredSimilarity } from '../../src/cache/semantic-cache.js';
import type { EmbedFn } from '../../src/cache/types.js';
import type { ChatRequest } from '../../src/core/types.js';
import { bagOfWords, chatRequest, entry, manualClock } from './helpers.js';

// With the test embedding the paraphrase scores 0.866, "…of Spain?" 0.667, unrelated 0.
const THRESHOLD = 0.85;
const ORIGINAL = 'What is the capital of France?';
const PARAPHRASE = "what's the capital city of France";
const UNRELATED = 'How do I bake sourdough bread?';
const NEAR_MISS = 'What is the capital of Spain?';

const embed: EmbedFn = (_org, text) => Promise.resolve(bagOfWords(text));

function make(overrides: Partial<Parameters<typeof createSemanticCache>[0]> = {}) {
  return createSemanticCache({ embed, threshold: THRESHOLD, ttlMs: 60_000, maxEntriesPerOrg: 100, ...overrides });
}

const ask = (text: string, earlier: ChatRequest['messages'] = [{ role: 'system', content: 'You are terse.' }]) =>
  chatRequest({ messages: [...earlier, { role: 'user', content: text }] });

describe('SPEC §9 caching: the semantic layer', () => {
  it('answers a paraphrase from the stored answer and misses an unrelated prompt', async () => {
    const cache = make();
    const stored = semanticScope('org-a', 'gpt-test', ask(ORIGINAL));
    await cache.store('org-a', stored.scopeKey, stored.promptText, entry('paris'));

    const para = semanticScope('org-a', 'gpt-test', ask(PARAPHRASE));
    expect(para.scopeKey).toBe(stored.scopeKey);
    const hit = await cache.lookup('org-a', para.scopeKey, para.promptText);
    expect(hit?.entry.body).toBe('paris');
    expect(hit?.similarity).toBeCloseTo(0.866, 3);

    const other = semanticScope('org-a', 'gpt-test', ask(UNRELATED));
    expect(await cache.lookup('org-a', other.scopeKey, other.promptText)).toBeUndefined();
  });

  it('misses when an earlier turn differs, however similar the last prompt', async () => {
    const cache = make();
    const stored = semanticScope('org-a', 'gpt-test', ask(ORIGINAL));
    await cache.store('org-a', stored.scopeKey, stored.promptText, entry('paris'));
    const pirate = semanticScope('org-a', 'gpt-test', ask(ORIGINAL, [{ role: 'system', content: 'You are a pirate.' }]));
    expect(await cache.lookup('org-a', pirate.scopeKey, pirate.promptText)).toBeUndefined();
  });

  it('lets a request raise the threshold but never lower it', async () => {
    const cache = make();
    const stored = semanticScope('org-a', 'gpt-test', ask(ORIGINAL));
    await cache.store('org-a', stored.scopeKey, stored.promptText, entry('paris'));
    const { scopeKey } = stored;

    expect(await cache.lookup('org-a', scopeKey, PARAPHRASE, 0.9)).toBeUndefined();
    expect(await cache.lookup('org-a', scopeKey, PARAPHRASE, 0.8)).toBeDefined();
    expect(await cache.lookup('org-a', scopeKey, ORIGINAL.toLowerCase(), 1)).toBeDefined();
    // 0.667 is below the configured 0.85, so a request asking for 0.5 still misses.
    expect(await cache.lookup('org-a', scopeKey, NEAR_MISS, 0.5)).toBeUndefined();
    expect(await cache.lookup('org-a', scopeKey, NEAR_MISS, Number.NaN)).toBeUndefined();
    expect(requiredSimilarity(0.95, 0.5)).toBe(0.95);
    expect(requiredSimilarity(0.95, 0.99)).toBe(0.99);
  });

  it('never answers one org from another org’s entries, even under the same scope key', async () => {
    const cache = make();
    await cache.store('org-a', 'shared-scope', ORIGINAL, entry('for A'));
    expect(await cache.lookup('org-b', 'shared-scope', ORIGINAL)).toBeUndefined();
    expect((await cache.lookup('org-a', 'shared-scope', ORIGINAL))?.entry.body).toBe('for A');
  });

  it('expires entries after the TTL (injected clock)', async () => {
    const clock = manualClock();
    const cache = make({ now: clock.now, ttlMs: 1_000 });
    await cache.store('org-a', 's', ORIGINAL, entry('paris'));
    clock.advance(999);
    expect(await cache.lookup('org-a', 's', PARAPHRASE)).toBeDefined();
    clock.advance(1);
    expect(await cache.lookup('org-a', 's', PARAPHRASE)).toBeUndefined();
    expect(cache.entries).toBe(0);
  });

  it('evicts an org’s oldest entry beyond maxEntriesPerOrg without touching other orgs', async () => {
    const cache = make({ maxEntriesPerOrg: 2 });
    await cache.store('org-b', 's', UNRELATED, entry('bread'));
    await cache.store('org-a', 's1', ORIGINAL, entry('1'));
    await cache.store('org-a', 's2', ORIGINAL, entry('2'));
    await cache.store('org-a', 's3', ORIGINAL, entry('3'));
    expect(await cache.lookup('org-a', 's1', ORIGINAL)).toBeUndefined();
    expect((await cache.lookup('org-a', 's2', ORIGINAL))?.entry.body).toBe('2');
    expect((await cache.lookup('org-a', 's3', ORIGINAL))?.entry.body).toBe('3');
    expect((await cache.lookup('org-b', 's', UNRELATED))?.entry.body).toBe('bread');
    expect(cache.entries).toBe(3);
  });

  it('drops the least recently used org beyond maxOrgs', async () => {
    const cache = make({ maxOrgs: 2 });
    await cache.store('org-a', 's', ORIGINAL, entry('a'));
    await cache.store('org-b', 's', ORIGINAL, entry('b'));
    await cache.lookup('org-a', 's', ORIGINAL);
    await cache.store('org-c', 's', ORIGINAL, entry('c'));
    expect(await cache.lookup('org-b', 's', ORIGINAL)).toBeUndefined();
    expect(await cache.lookup('org-a', 's', ORIGINAL)).toBeDefined();
    expect(cache.entries).toBe(2);
  });

  it('replaces rather than duplicates a prompt stored twice', async () => {
    const cache = make();
    await cache.store('org-a', 's', ORIGINAL, entry('old'));
    await cache.store('org-a', 's', ORIGINAL, entry('new'));
    expect(cache.entries).toBe(1);
    expect((await cache.lookup('org-a', 's', ORIGINAL))?.entry.body).toBe('new');
  });

  it('treats an embedding failure as a MISS and a skipped store, never an error', async () => {
    const onError = vi.fn();
    let fail = false;
    const flaky: EmbedFn = (org, text) => (fail ? Promise.reject(new Error('embeddings down')) : embed(org, text));
    const cache = make({ embed: flaky, onError });
    await cache.store('org-a', 's', ORIGINAL, entry('paris'));
    fail = true;
    await expect(cache.lookup('org-a', 's', PARAPHRASE)).resolves.toBeUndefined();
    await expect(cache.store('org-a', 's', UNRELATED, entry('bread'))).resolves.toBeUndefined();
    expect(onError.mock.calls.map((c) => c[1])).toEqual(['semantic.lookup', 'semantic.store']);
  });

  it('treats a zero embedding as a MISS', async () => {
    const cache = make({ embed: () => Promise.resolve(new Float32Array(8)) });
    await cache.store('org-a', 's', ORIGINAL, entry('x'));
    expect(cache.entries).toBe(0);
    expect(await cache.lookup('org-a', 's', ORIGINAL)).toBeUndefined();
  });

  it('embeds nothing for a scope with no entries and reuses a lookup’s embedding for the store', async () => {
    const spy = vi.fn(embed);
    const cache = make({ embed: spy });
    expect(await cache.lookup('org-a', 's', ORIGINAL)).toBeUndefined();
    expect(spy).toHaveBeenCalledTimes(0);
    await cache.store('org-a', 's', ORIGINAL, entry('paris'));
    expect(await cache.lookup('org-a', 's', UNRELATED)).toBeUndefined();
    await cache.store('org-a', 's', UNRELATED, entry('bread'));
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it('never matches vectors of a different dimension (embedding model changed)', async () => {
    let dims = 8;
    const cache = make({ embed: () => Promise.resolve(new Float32Array(dims).fill(1)) });
    await cache.store('org-a', 's', 'first', entry('x'));
    dims = 16;
    expect(await cache.lookup('org-a', 's', 'second')).toBeUndefined();
  });

  it('has nothing to do for an empty prompt', async () => {
    const spy = vi.fn(embed);
    const cache = make({ embed: spy });
    await cache.store('org-a', 's', '', entry('x'));
    expect(await cache.lookup('org-a', 's', '')).toBeUndefined();
    expect(spy).not.toHaveBeenCalled();
  });
});

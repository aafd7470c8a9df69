import { describe, expect, it } from 'vitest';
import { createMemoryBackend, entryBytes } from '../../src/cache/memory-backend.js';
import { entry, manualClock } from './helpers.js';

const HOUR = 3_600_000;

describe('SPEC §9 caching: the in-memory exact backend', () => {
  it('returns what was stored and undefined for an unknown key', async () => {
    const mem = createMemoryBackend({ maxBytes: 1_000_000 });
    await mem.set('k', entry('{"a":1}'), HOUR);
    expect(await mem.get('k')).toEqual(entry('{"a":1}'));
    expect(await mem.get('other')).toBeUndefined();
  });

  it('stays within its byte budget by evicting the least recently used entries', async () => {
    const mem = createMemoryBackend({ maxBytes: 10_000 });
    const body = 'x'.repeat(1_000);
    for (let i = 0; i < 30; i++) {
      await mem.set(`k${i}`, entry(body), HOUR);
      // Keep k0 hot: it must survive while colder entries go.
      await mem.get('k0');
      expect(mem.bytes).toBeLessThanOrEqual(10_000);
    }
    const perEntry = entryBytes('k10', entry(body));
    expect(mem.entries).toBe(Math.floor(10_000 / perEntry));
    expect(await mem.get('k0')).toBeDefined();
    expect(await mem.get('k1')).toBeUndefined();
    expect(await mem.get('k29')).toBeDefined();
  });

  it('counts non-Latin text at two bytes a character', () => {
    // Both bodies are 200 UTF-16 units; V8 stores the Japanese one in twice the bytes.
    expect(entryBytes('k', entry('東京'.repeat(100))) - entryBytes('k', entry('ab'.repeat(100)))).toBe(200);
  });

  it('does not keep an entry larger than the whole budget', async () => {
    const mem = createMemoryBackend({ maxBytes: 1_000 });
    await mem.set('small', entry('s'), HOUR);
    await mem.set('huge', entry('h'.repeat(5_000)), HOUR);
    expect(await mem.get('huge')).toBeUndefined();
    expect(await mem.get('small')).toBeDefined();
  });

  it('expires an entry when its TTL has passed (injected clock)', async () => {
    const clock = manualClock();
    const mem = createMemoryBackend({ maxBytes: 1_000_000, now: clock.now });
    await mem.set('k', entry('{}'), 1_000);
    clock.advance(999);
    expect(await mem.get('k')).toBeDefined();
    clock.advance(1);
    expect(await mem.get('k')).toBeUndefined();
    expect(mem.entries).toBe(0);
  });

  it('is empty after close', async () => {
    const mem = createMemoryBackend({ maxBytes: 1_000_000 });
    await mem.set('k', entry('{}'), HOUR);
    await mem.close();
    expect(await mem.get('k')).toBeUndefined();
  });
});

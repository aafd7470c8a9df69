// SPEC §1: key format — prefix, 32 random base62 characters, a 6-character base62 CRC32
// checksum; only a SHA-256 hash and a short display prefix are stored.
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { checkKeyShape, displayPrefix, generateKey, hashKey } from '../../src/auth/keys.js';
import { chat, expectError, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { call } from '../helpers/money.js';

const SHAPE = /^(sk|mk)-tg-[0-9A-Za-z]{32}[0-9A-Za-z]{6}$/;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Independent reference: the checksum is CRC32 of everything before it, as 6 big-endian base62 digits. */
function referenceChecksum(body: string): string {
  let n = crc32(body);
  let out = '';
  for (let i = 0; i < 6; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

describe('SPEC §1 key format', () => {
  it('generates sk-tg- and mk-tg- keys of prefix + 32 base62 characters + 6-character checksum', () => {
    for (const kind of ['sk', 'mk'] as const) {
      for (let i = 0; i < 50; i++) {
        const key = generateKey(kind);
        expect(key).toMatch(SHAPE);
        expect(key.startsWith(`${kind}-tg-`)).toBe(true);
        expect(key).toHaveLength(6 + 32 + 6);
        expect(checkKeyShape(key)).toEqual({ ok: true, kind });
      }
    }
  });

  it('carries at least 190 bits of randomness: 32 characters drawn from all 62 symbols, never repeating', () => {
    expect(32 * Math.log2(62)).toBeGreaterThanOrEqual(190);
    const seen = new Set<string>();
    const counts = new Map<string, number>();
    const n = 2000;
    for (let i = 0; i < n; i++) {
      const random = generateKey('sk').slice(6, 38);
      seen.add(random);
      for (const ch of random) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(seen.size).toBe(n);
    // Every base62 symbol is used, and roughly uniformly (expected ~1032 each).
    expect(counts.size).toBe(62);
    const expected = (n * 32) / 62;
    for (const c of counts.values()) {
      expect(c).toBeGreaterThan(expected * 0.75);
      expect(c).toBeLessThan(expected * 1.25);
    }
  });

  it('ends with the base62 CRC32 of prefix + random part, and checkKeyShape verifies it', () => {
    for (let i = 0; i < 100; i++) {
      const key = generateKey(i % 2 ? 'sk' : 'mk');
      expect(key.slice(38)).toBe(referenceChecksum(key.slice(0, 38)));
    }
  });

  it('rejects every single-character change of a key by shape or checksum alone', () => {
    const key = generateKey('sk');
    let checksumRejections = 0;
    for (let pos = 0; pos < key.length; pos++) {
      for (const ch of `${BASE62}-_ `) {
        if (ch === key[pos]) continue;
        const changed = key.slice(0, pos) + ch + key.slice(pos + 1);
        const shape = checkKeyShape(changed);
        expect(shape.ok, `${changed} (position ${pos}) must be rejected`).toBe(false);
        if (!shape.ok && shape.reason === 'checksum') checksumRejections++;
      }
    }
    // The base62 substitutions inside the random part and the checksum are caught by the checksum.
    expect(checksumRejections).toBeGreaterThanOrEqual(38 * 61);
    // sk <-> mk swap keeps the shape but breaks the checksum.
    expect(checkKeyShape(`mk${key.slice(2)}`)).toEqual({ ok: false, reason: 'checksum' });
  });

  it('rejects truncated, extended and wrongly prefixed keys as malformed', () => {
    const key = generateKey('sk');
    expect(checkKeyShape(key.slice(0, -1))).toEqual({ ok: false, reason: 'format' });
    expect(checkKeyShape(`${key}a`)).toEqual({ ok: false, reason: 'format' });
    expect(checkKeyShape(`xk${key.slice(2)}`)).toEqual({ ok: false, reason: 'format' });
    expect(checkKeyShape(`sk-TG-${key.slice(6)}`)).toEqual({ ok: false, reason: 'format' });
    expect(checkKeyShape('')).toEqual({ ok: false, reason: 'format' });
  });

  it('hashes the whole key with SHA-256 (hex) and shows only a short display prefix', () => {
    const key = generateKey('sk');
    expect(hashKey(key)).toBe(createHash('sha256').update(key).digest('hex'));
    expect(hashKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashKey(key)).not.toBe(hashKey(generateKey('sk')));
    const prefix = displayPrefix(key);
    expect(prefix).toBe(`${key.slice(0, 10)}…`);
    // The prefix reveals at most 4 of the 32 random characters.
    expect(prefix.replace('…', '').length - 'sk-tg-'.length).toBeLessThanOrEqual(4);
  });
});

describe('SPEC §1 key format over HTTP', () => {
  let gw: TestGateway;
  let key: string;
  let mk: string;
  beforeAll(async () => {
    gw = await startTestGateway();
    ({ mk } = await gw.createOrg(1));
    ({ key } = await gw.createKey(mk));
  });
  afterAll(() => gw?.close());

  it('refuses a mistyped key as a bad checksum without looking it up', async () => {
    const spy = vi.spyOn(gw.running.gateway.view, 'keyByHash');
    try {
      const last = key[20] === 'a' ? 'b' : 'a';
      const typo = key.slice(0, 20) + last + key.slice(21);
      const err = await expectError(await chat(gw.url, typo, { model: 'mock-chat', messages: [{ role: 'user', content: 'hi' }] }), 401, 'invalid_api_key');
      expect(err.message).toMatch(/checksum/i);
      expect(err.message).not.toContain(typo);
      expect(spy).not.toHaveBeenCalled();
      // Control: a well-formed key is looked up.
      const ok = await chat(gw.url, key, { model: 'mock-chat', messages: [{ role: 'user', content: 'hi' }] });
      expect(ok.status).toBe(200);
      expect(spy).toHaveBeenCalledWith(hashKey(key));
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses a key of the wrong shape as malformed, naming the expected shape', async () => {
    const err = await expectError(await chat(gw.url, 'sk-proj-abcdef', { model: 'mock-chat', messages: [{ role: 'user', content: 'hi' }] }), 401, 'invalid_api_key');
    expect(err.message).toMatch(/malformed/i);
    expect(err.message).toContain('sk-tg-');
  });

  it('stores and lists the display prefix of a created key, never the key', async () => {
    const created = await call<{ id: string; key: string; prefix: string }>(gw.url, mk, '/api/keys', { body: { name: 'prefix check' } });
    expect(created.status).toBe(201);
    expect(created.body.prefix).toBe(displayPrefix(created.body.key));
    const row = await gw.running.gateway.store.getKey(created.body.id);
    expect(row?.hash).toBe(hashKey(created.body.key));
    expect(row?.prefix).toBe(displayPrefix(created.body.key));
    expect(JSON.stringify(row)).not.toContain(created.body.key);
  });
});

// Key format (SPEC §1): `sk-tg-` / `mk-tg-` + 32 random base62 characters + a 6-character
// base62 CRC32 checksum, so scanners recognise keys and typos are refused without a lookup.
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { KeyKind } from '../store/types.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_LEN = 32;
const CHECK_LEN = 6;
export const KEY_PREFIXES: Record<KeyKind, string> = { sk: 'sk-tg-', mk: 'mk-tg-' };
const KEY_SHAPE = /^(sk|mk)-tg-([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/;

function base62(n: number, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

function checksum(body: string): string {
  return base62(crc32(body), CHECK_LEN);
}

export function generateKey(kind: KeyKind): string {
  let random = '';
  for (let i = 0; i < RANDOM_LEN; i++) random += ALPHABET[randomInt(62)];
  const body = KEY_PREFIXES[kind] + random;
  return body + checksum(body);
}

export type KeyShape = { ok: true; kind: KeyKind } | { ok: false; reason: 'format' | 'checksum' };

/** Checks the shape and checksum only; says nothing about whether the key exists. */
export function checkKeyShape(key: string): KeyShape {
  const m = KEY_SHAPE.exec(key);
  if (!m) return { ok: false, reason: 'format' };
  const body = key.slice(0, key.length - CHECK_LEN);
  if (checksum(body) !== m[3]) return { ok: false, reason: 'checksum' };
  return { ok: true, kind: m[1] as KeyKind };
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The display prefix stored and shown in listings, e.g. `sk-tg-AbC1…`. */
export function displayPrefix(key: string): string {
  return `${key.slice(0, 10)}…`;
}

/** Constant-time comparison of two hex digests. */
export function sameHash(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/** Constant-time comparison for the admin token (hashing first equalises lengths). */
export function sameSecret(given: string, expected: string): boolean {
  return sameHash(hashKey(given), hashKey(expected));
}

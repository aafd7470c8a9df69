// Webhook signatures: each org has its own secret, and each delivery is signed over its
// timestamp and body, so a receiver can check who sent it and refuse a replayed capture.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-tollgate-signature';
/** How old a signed delivery a receiver should still accept (documented in docs/webhooks.md). */
export const DEFAULT_TOLERANCE_S = 300;

export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` */
export function signDelivery(secret: string, body: string, nowMs = Date.now()): string {
  if (secret.length === 0) throw new Error('a webhook signing secret must not be empty');
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** What a receiver does: parse the header, recompute, compare in constant time, check the age. */
export function verifyDelivery(secret: string, body: string, header: string, nowMs = Date.now(), toleranceS = DEFAULT_TOLERANCE_S): boolean {
  const parts = new Map<string, string[]>();
  for (const item of header.split(',')) {
    const i = item.indexOf('=');
    if (i <= 0) continue;
    const k = item.slice(0, i).trim();
    parts.set(k, [...(parts.get(k) ?? []), item.slice(i + 1).trim()]);
  }
  const t = Number(parts.get('t')?.[0]);
  if (!Number.isInteger(t) || Math.abs(nowMs / 1000 - t) > toleranceS) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return (parts.get('v1') ?? []).some((hex) => {
    const got = Buffer.from(hex, 'hex');
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

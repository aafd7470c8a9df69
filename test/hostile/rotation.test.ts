// Key rotation cannot reset or break a key: the replacement never inherits an overlap expiry,
// and an expired or revoked key cannot be rotated (SPEC §1, §13).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { call } from '../helpers/money.js';

type KeyOut = { id: string; key: string; expires_at: string | null; status: string; rotated_from: string | null };

let gw: TestGateway;
let mk: string;
const rotate = (id: string, body: Record<string, unknown> = {}) => call<KeyOut & { error?: { code: string; message: string } }>(gw.url, mk, `/api/keys/${id}/rotate`, { body });
const getKey = (id: string) => call<KeyOut>(gw.url, mk, `/api/keys/${id}`);
const keyCount = async () => (await call<{ data: KeyOut[] }>(gw.url, mk, '/api/keys')).body.data.length;

beforeAll(async () => {
  gw = await startTestGateway();
  ({ mk } = await gw.createOrg(1));
});
afterAll(() => gw?.close());

describe('a replacement key never inherits an overlap expiry', () => {
  it('rotating a key a second time (while in its overlap) gives a key without expiry', async () => {
    const a = await gw.createKey(mk, { name: 'twice' });
    const first = await rotate(a.id, { overlap_s: 3600 });
    expect(first.status).toBe(201);
    expect(first.body.expires_at).toBeNull();
    const second = await rotate(a.id, { overlap_s: 3600 });
    expect(second.status).toBe(201);
    expect(second.body.expires_at).toBeNull();
    expect((await getKey(a.id)).body.expires_at).not.toBeNull();
  });

  it('keeps the expiry the key was given, not the overlap end, on every replacement', async () => {
    const own = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const a = await gw.createKey(mk, { name: 'dated', expires_at: own });
    const first = await rotate(a.id, { overlap_s: 60 });
    const second = await rotate(a.id, { overlap_s: 60 });
    expect(Date.parse(first.body.expires_at!)).toBe(Date.parse(own));
    expect(Date.parse(second.body.expires_at!)).toBe(Date.parse(own));
  });
});

describe('a key that can no longer be used cannot be rotated', () => {
  it('refuses to rotate an expired key with 400 and a clear message, creating nothing', async () => {
    const a = await gw.createKey(mk, { name: 'old' });
    const past = new Date(Date.now() - 60_000).toISOString();
    expect((await call(gw.url, mk, `/api/keys/${a.id}`, { method: 'PATCH', body: { expires_at: past } })).status).toBe(200);
    const before = await keyCount();
    const r = await rotate(a.id);
    expect(r.status).toBe(400);
    expect(r.body.error?.code).toBe('invalid_value');
    expect(r.body.error?.message).toMatch(/expired/);
    expect(await keyCount()).toBe(before);
  });

  it('refuses to rotate a key whose overlap has ended', async () => {
    const a = await gw.createKey(mk, { name: 'overlapped' });
    expect((await rotate(a.id, { overlap_s: 0 })).status).toBe(201);
    const again = await rotate(a.id);
    expect(again.status).toBe(400);
    expect(again.body.error?.message).toMatch(/expired/);
  });

  it('refuses to rotate a revoked key', async () => {
    const a = await gw.createKey(mk, { name: 'gone' });
    await call(gw.url, mk, `/api/keys/${a.id}`, { method: 'DELETE' });
    const r = await rotate(a.id);
    expect(r.status).toBe(400);
    expect(r.body.error?.message).toMatch(/revoked/);
  });
});

describe('rotation carries spend and budget over', () => {
  it("the replacement starts at the old key's spend, and its budget refuses what the old one would have", async () => {
    const a = await gw.createKey(mk, { name: 'budgeted', budget_usd: 0.0002 });
    const ask = { model: 'mock-chat', max_tokens: 8, messages: [{ role: 'user', content: 'spend a little' }] };
    let spent = 0;
    for (let i = 0; i < 50 && spent === 0; i++) {
      const r = await chat(gw.url, a.key, ask);
      await r.text();
      spent = (await call<{ spend_usd: number }>(gw.url, mk, `/api/keys/${a.id}`)).body.spend_usd;
    }
    expect(spent).toBeGreaterThan(0);
    const fresh = await rotate(a.id, { overlap_s: 0 });
    expect(fresh.status).toBe(201);
    const shown = (await call<{ spend_usd: number; budget_usd: number }>(gw.url, mk, `/api/keys/${fresh.body.id}`)).body;
    expect(shown.spend_usd).toBe(spent);
    expect(shown.budget_usd).toBe(0.0002);
    // Keep asking with the new key: it stops at the same budget, never a fresh one.
    let refused = false;
    for (let i = 0; i < 200 && !refused; i++) {
      const r = await chat(gw.url, fresh.body.key, ask);
      const body = await r.text();
      if (r.status === 402) {
        refused = true;
        expect(JSON.parse(body).error.code).toBe('budget_exceeded');
      }
    }
    expect(refused).toBe(true);
    const after = (await call<{ spend_usd: number }>(gw.url, mk, `/api/keys/${fresh.body.id}`)).body.spend_usd;
    expect(after).toBeLessThanOrEqual(0.0002);
  });
});

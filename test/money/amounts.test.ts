// SPEC §2: USD amounts are JSON numbers with up to 6 decimals, and Tollgate counts them in
// whole micro-dollars. An amount it cannot keep exactly is refused, never rounded into a
// different grant, budget or cap.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, expectError, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { allLedger, call } from '../helpers/money.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});

afterAll(async () => {
  await gw?.close();
});

const send = (token: string, path: string, method: string, body: unknown) =>
  fetch(gw.url + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('USD amounts with more than 6 decimals', () => {
  it('refuses a credit grant that would be rounded, and applies nothing', async () => {
    const { orgId } = await gw.createOrg(1);
    for (const amount_usd of [1.1234567, 0.0000001, 1e-7]) {
      const err = await expectError(await send(ADMIN_TOKEN, `/admin/orgs/${orgId}/credits`, 'POST', { amount_usd }), 400, 'invalid_value');
      expect(err.param).toBe('amount_usd');
      expect(err.message).toContain('6 decimals');
    }
    const grants = (await allLedger(gw.running.gateway.store, orgId)).filter((l) => l.kind === 'grant');
    expect(grants.map((g) => g.amount_micros)).toEqual([1_000_000]);
    // Six decimals, down to one micro-dollar, are kept exactly.
    const top = await call<{ balance_usd: number; ledger_entry: { amount_usd: number } }>(gw.url, ADMIN_TOKEN, `/admin/orgs/${orgId}/credits`, { body: { amount_usd: 0.000001 } });
    expect(top.status).toBe(201);
    expect(top.body).toMatchObject({ balance_usd: 1.000001, ledger_entry: { amount_usd: 0.000001 } });
  });

  it('refuses such a budget, spend cap, starting credit or alert threshold instead of rounding it', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    expect((await expectError(await send(mk, '/api/keys', 'POST', { budget_usd: 0.0000004 }), 400, 'invalid_value')).param).toBe('budget_usd');
    const { id } = await gw.createKey(mk, { budget_usd: 0.5 });
    expect((await expectError(await send(mk, `/api/keys/${id}`, 'PATCH', { budget_usd: 2.0000001 }), 400, 'invalid_value')).param).toBe('budget_usd');
    expect((await call<{ budget_usd: number }>(gw.url, mk, `/api/keys/${id}`)).body.budget_usd).toBe(0.5);
    expect((await expectError(await send(ADMIN_TOKEN, `/admin/orgs/${orgId}`, 'PATCH', { spend_cap_usd: 3.1234567 }), 400, 'invalid_value')).param).toBe('spend_cap_usd');
    expect((await expectError(await send(ADMIN_TOKEN, '/admin/orgs', 'POST', { name: `decimals-${orgId}`, credits_usd: 0.0000001 }), 400, 'invalid_value')).param).toBe('credits_usd');
    expect((await expectError(await send(mk, '/api/alerts', 'PUT', { balance_low_usd: 1.1234567 }), 400, 'invalid_value')).param).toBe('balance_low_usd');
  });
});

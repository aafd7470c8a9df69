// SPEC §13 keys: management keys minted by the operator (POST /admin/orgs/{id}/keys) and by
// an org admin (POST /api/keys with "type": "management"); orgs addressed by name on /admin;
// and credential mix-ups that say which credential is needed (issue 14, items 2 and 10).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, expectError, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { call } from '../helpers/money.js';

const MK = /^mk-tg-[0-9A-Za-z]{38}$/;
const SK = /^sk-tg-[0-9A-Za-z]{38}$/;

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});

afterAll(async () => {
  await gw?.close();
});

const request = (path: string, credential: string, body?: unknown, method?: string) =>
  fetch(gw.url + path, {
    method: method ?? (body === undefined ? 'GET' : 'POST'),
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function orgNamed(name: string, credits = 5): Promise<{ id: string; mk: string }> {
  const res = await gw.admin('/admin/orgs', { body: { name, credits_usd: credits } });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { org: { id: string }; management_key: string };
  return { id: body.org.id, mk: body.management_key };
}

describe('the operator mints keys for any org over /admin', () => {
  it('POST /admin/orgs/{id}/keys returns a management key, shown once, that works on /api', async () => {
    const org = await orgNamed('minted-by-operator');
    const res = await gw.admin(`/admin/orgs/${org.id}/keys`, { body: { name: 'ops laptop' } });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { id: string; key: string; type: string; name: string; prefix: string };
    expect(created).toMatchObject({ type: 'management', name: 'ops laptop' });
    expect(created.key).toMatch(MK);
    const keys = await call<{ data: Array<{ id: string; type: string; key?: string }> }>(gw.url, created.key, '/api/keys');
    expect(keys.status).toBe(200);
    expect(keys.body.data.map((k) => k.id)).toContain(created.id);
    expect(keys.body.data.every((k) => k.key === undefined)).toBe(true);
    const usage = await call(gw.url, created.key, '/api/usage');
    expect(usage.status).toBe(200);
  });

  it('mints an inference key when asked with "type": "inference", and lists the org\'s keys', async () => {
    const org = await orgNamed('operator-inference');
    const res = await gw.admin(`/admin/orgs/${org.id}/keys`, { body: { type: 'inference', budget_usd: 1, rpm: 30 } });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { key: string; type: string; budget_usd: number; rpm: number };
    expect(created).toMatchObject({ type: 'inference', budget_usd: 1, rpm: 30 });
    expect(created.key).toMatch(SK);
    const list = await gw.admin(`/admin/orgs/${org.id}/keys`);
    expect(list.status).toBe(200);
    const types = ((await list.json()) as { data: Array<{ type: string }> }).data.map((k) => k.type).sort();
    expect(types).toEqual(['inference', 'management']);
  });

  it('refuses settings a management key cannot have, and an unknown org, changing nothing', async () => {
    const org = await orgNamed('operator-refusals');
    const bad = await expectError(await gw.admin(`/admin/orgs/${org.id}/keys`, { body: { type: 'management', budget_usd: 2 } }), 400, 'invalid_value');
    expect(bad.param).toBe('budget_usd');
    expect(bad.message).toMatch(/inference keys only/);
    await expectError(await gw.admin(`/admin/orgs/${org.id}/keys`, { body: { type: 'admin' } }), 400, 'invalid_value');
    const missing = await expectError(await gw.admin('/admin/orgs/org_doesnotexist/keys', { body: {} }), 404, 'not_found');
    expect(missing.message).toMatch(/org_/);
    const list = (await (await gw.admin(`/admin/orgs/${org.id}/keys`)).json()) as { data: unknown[] };
    expect(list.data).toHaveLength(1);
  });

  it('needs the admin token: a management key is refused', async () => {
    const org = await orgNamed('operator-only');
    await expectError(await request(`/admin/orgs/${org.id}/keys`, org.mk, {}), 403, 'wrong_key_type');
  });
});

describe('an org admin creates further management keys with POST /api/keys', () => {
  it('"type": "management" makes a management key that can manage the org, including revoking the first one', async () => {
    const org = await orgNamed('self-service');
    const res = await request('/api/keys', org.mk, { type: 'management', name: 'second admin' });
    expect(res.status).toBe(201);
    const second = (await res.json()) as { id: string; key: string; type: string };
    expect(second.type).toBe('management');
    expect(second.key).toMatch(MK);
    const list = await call<{ data: Array<{ id: string; type: string; name: string | null }> }>(gw.url, second.key, '/api/keys');
    const first = list.body.data.find((k) => k.type === 'management' && k.id !== second.id)!;
    expect((await request(`/api/keys/${first.id}`, second.key, undefined, 'DELETE')).status).toBe(200);
    await expectError(await request('/api/keys', org.mk), 401, 'invalid_api_key');
    expect((await request('/api/keys', second.key)).status).toBe(200);
  });

  it('without a type, POST /api/keys still makes an inference key', async () => {
    const org = await orgNamed('default-type');
    const res = await request('/api/keys', org.mk, {});
    expect(res.status).toBe(201);
    const k = (await res.json()) as { key: string; type: string };
    expect(k.type).toBe('inference');
    expect(k.key).toMatch(SK);
  });

  it('refuses inference-only settings on a management key', async () => {
    const org = await orgNamed('mk-refusal');
    const err = await expectError(await request('/api/keys', org.mk, { type: 'management', rpm: 10 }), 400, 'invalid_value');
    expect(err.param).toBe('rpm');
    const list = (await (await request('/api/keys', org.mk)).json()) as { data: unknown[] };
    expect(list.data).toHaveLength(1);
  });

  it('refuses them on PATCH too, so a management key never shows a budget or limit that nothing enforces', async () => {
    const org = await orgNamed('mk-patch-refusal');
    const second = (await (await request('/api/keys', org.mk, { type: 'management', name: 'second' })).json()) as { id: string };
    for (const [field, value] of [
      ['budget_usd', 1],
      ['rpm', 10],
      ['allowed_models', ['mock-chat']],
      ['cache', { exact: false }],
    ] as const) {
      const err = await expectError(await request(`/api/keys/${second.id}`, org.mk, { [field]: value }, 'PATCH'), 400, 'invalid_value');
      expect(err.param).toBe(field);
    }
    const renamed = await request(`/api/keys/${second.id}`, org.mk, { name: 'renamed', budget_usd: null }, 'PATCH');
    expect(renamed.status).toBe(200);
    expect(await renamed.json()).toMatchObject({ type: 'management', name: 'renamed', budget_usd: null, rpm: null, allowed_models: null, cache: null });
  });
});

describe('messages that point at the fix', () => {
  it('the admin token sent to /api is named as the admin token, with the credential /api needs', async () => {
    for (const path of ['/api/keys', '/api/usage', '/api/balance']) {
      const err = await expectError(await request(path, ADMIN_TOKEN), 403, 'wrong_key_type');
      expect(err.message).toMatch(/admin token/);
      expect(err.message).toMatch(/management key \(mk-tg-…\)/);
      expect(err.message).not.toMatch(/malformed/);
      expect(err.message).not.toContain(ADMIN_TOKEN);
    }
    const v1 = await expectError(await request('/v1/models', ADMIN_TOKEN), 403, 'wrong_key_type');
    expect(v1.message).toMatch(/admin token.*inference key \(sk-tg-…\)/);
  });

  it('/admin/orgs/{name} accepts the org name as well as its org_… id', async () => {
    const org = await orgNamed('addressed-by-name', 2);
    const byName = await gw.admin('/admin/orgs/addressed-by-name');
    expect(byName.status).toBe(200);
    expect(((await byName.json()) as { id: string }).id).toBe(org.id);
    const credited = await gw.admin('/admin/orgs/addressed-by-name/credits', { body: { amount_usd: 3 } });
    expect(credited.status).toBe(201);
    expect(((await credited.json()) as { balance_usd: number }).balance_usd).toBe(5);
    const patched = await gw.admin('/admin/orgs/addressed-by-name', { method: 'PATCH', body: { rpm: 77 } });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as { rpm: number }).rpm).toBe(77);
    const keyRes = await gw.admin('/admin/orgs/addressed-by-name/keys', { body: {} });
    expect(keyRes.status).toBe(201);
  });

  it('an unknown org says to use the org_… id from GET /admin/orgs', async () => {
    const err = await expectError(await gw.admin('/admin/orgs/nobody-by-this-name'), 404, 'not_found');
    expect(err.message).toContain('nobody-by-this-name');
    expect(err.message).toMatch(/org_… ids?, with GET \/admin\/orgs/);
  });
});

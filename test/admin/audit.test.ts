// The audit trail over HTTP: each management action leaves one record (who, what, on what,
// before/after, when, from where) that GET /api/audit (the org's own) and GET /admin/audit
// (all) list, filtered and paginated; records never hold a key, token or secret; failed
// actions and hostile queries change nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';

interface AuditEvent {
  id: string;
  object: string;
  org_id: string | null;
  actor: string;
  action: string;
  target: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source_ip: string | null;
  created_at: string;
}

let gw: TestGateway;
/** every secret handed out during the suite: none may appear in any record */
const secrets: string[] = [ADMIN_TOKEN];

beforeAll(async () => {
  gw = await startTestGateway();
});

afterAll(async () => {
  await gw?.close();
});

async function call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(gw.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function list(token: string, path: string): Promise<AuditEvent[]> {
  const r = await call(token, 'GET', path);
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.data as AuditEvent[];
}

async function orgAudit(mk: string, query = ''): Promise<AuditEvent[]> {
  return list(mk, `/api/audit${query}`);
}

async function newOrg(): Promise<{ orgId: string; mk: string; prefix: string }> {
  const o = await gw.createOrg(5);
  secrets.push(o.mk);
  const keys = (await call(o.mk, 'GET', '/api/keys')).body.data as Array<{ prefix: string; type: string }>;
  return { ...o, prefix: keys.find((k) => k.type === 'management')!.prefix };
}

describe('each management action leaves one record', () => {
  let org: { orgId: string; mk: string; prefix: string };
  beforeAll(async () => {
    org = await newOrg();
  });

  it('org.create and the initial credit.grant, by the operator, from the caller address, with no key in it', async () => {
    const events = await orgAudit(org.mk);
    const created = events.find((e) => e.action === 'org.create')!;
    expect(created).toMatchObject({ object: 'audit_event', org_id: org.orgId, actor: 'operator', target: org.orgId, before: null });
    expect(created.after).toMatchObject({ id: org.orgId, disabled: false, management_key_prefix: org.prefix });
    expect(created.source_ip).toMatch(/127\.0\.0\.1/);
    expect(Date.parse(created.created_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(events.find((e) => e.action === 'credit.grant')?.after).toMatchObject({ amount_usd: 5 });
  });

  it('org.update with before and after; org.disable and org.enable', async () => {
    expect((await gw.admin(`/admin/orgs/${org.orgId}`, { method: 'PATCH', body: { rpm: 77 } })).status).toBe(200);
    expect((await gw.admin(`/admin/orgs/${org.orgId}`, { method: 'PATCH', body: { disabled: true } })).status).toBe(200);
    expect((await gw.admin(`/admin/orgs/${org.orgId}`, { method: 'PATCH', body: { disabled: false } })).status).toBe(200);
    const all = await list(ADMIN_TOKEN, `/admin/audit?org_id=${org.orgId}`);
    const update = all.find((e) => e.action === 'org.update')!;
    expect(update.before).toMatchObject({ rpm: null });
    expect(update.after).toMatchObject({ rpm: 77 });
    expect(all.find((e) => e.action === 'org.disable')).toMatchObject({ before: { disabled: false }, after: { disabled: true }, actor: 'operator' });
    expect(all.find((e) => e.action === 'org.enable')).toMatchObject({ before: { disabled: true }, after: { disabled: false } });
  });

  it('credit.grant once per idempotency key', async () => {
    const grant = { amount_usd: 3, note: 'top-up', idempotency_key: 'audit-grant-1' };
    expect((await gw.admin(`/admin/orgs/${org.orgId}/credits`, { body: grant })).status).toBe(201);
    expect((await gw.admin(`/admin/orgs/${org.orgId}/credits`, { body: grant })).status).toBe(200);
    const grants = (await orgAudit(org.mk, '?action=credit.grant')).filter((e) => e.after?.note === 'top-up');
    expect(grants).toHaveLength(1);
    expect(grants[0].after).toMatchObject({ amount_usd: 3, idempotency_key: 'audit-grant-1' });
  });

  it('management_key.mint by the operator and by a management key', async () => {
    const byOperator = (await (await gw.admin(`/admin/orgs/${org.orgId}/keys`, { body: { name: 'operator-minted' } })).json()) as { id: string; key: string };
    secrets.push(byOperator.key);
    const byOrg = await call(org.mk, 'POST', '/api/keys', { type: 'management', name: 'org-minted' });
    expect(byOrg.status).toBe(201);
    secrets.push(byOrg.body.key as string);
    const mints = await orgAudit(org.mk, '?action=management_key.mint');
    expect(mints.find((e) => e.target === byOperator.id)).toMatchObject({ actor: 'operator', after: { name: 'operator-minted', type: 'management' } });
    expect(mints.find((e) => e.target === byOrg.body.id)).toMatchObject({ actor: org.prefix, after: { name: 'org-minted' } });
  });

  it('key.create, key.update, key.rotate and key.revoke by the management key, with before and after', async () => {
    const created = await call(org.mk, 'POST', '/api/keys', { name: 'backend', rpm: 10 });
    expect(created.status).toBe(201);
    secrets.push(created.body.key as string);
    const id = created.body.id as string;
    expect((await call(org.mk, 'PATCH', `/api/keys/${id}`, { rpm: 20 })).status).toBe(200);
    const rotated = await call(org.mk, 'POST', `/api/keys/${id}/rotate`, { overlap_s: 0 });
    expect(rotated.status).toBe(201);
    secrets.push(rotated.body.key as string);
    const newId = rotated.body.id as string;
    expect((await call(org.mk, 'DELETE', `/api/keys/${newId}`)).status).toBe(200);
    expect((await call(org.mk, 'DELETE', `/api/keys/${newId}`)).status).toBe(200);

    const onKey = await orgAudit(org.mk, `?target=${id}`);
    expect(onKey.map((e) => e.action).sort()).toEqual(['key.create', 'key.rotate', 'key.update']);
    expect(onKey.every((e) => e.actor === org.prefix)).toBe(true);
    expect(onKey.find((e) => e.action === 'key.create')?.after).toMatchObject({ id, name: 'backend', rpm: 10, prefix: created.body.prefix });
    expect(onKey.find((e) => e.action === 'key.update')).toMatchObject({ before: { rpm: 10 }, after: { rpm: 20 } });
    const rotation = onKey.find((e) => e.action === 'key.rotate')!;
    expect(rotation.after).toMatchObject({ previous: { id }, replacement: { id: newId, rotated_from: id } });
    const revokes = await orgAudit(org.mk, `?action=key.revoke&target=${newId}`);
    expect(revokes).toHaveLength(1);
    expect(revokes[0]).toMatchObject({ before: { status: 'active' }, after: { status: 'revoked' } });
  });

  it('alerts.update and alerts.secret_rotate, without the signing secret', async () => {
    const put = await call(org.mk, 'PUT', '/api/alerts', { webhook_url: 'https://hooks.example.com/tollgate', balance_low_usd: 1 });
    expect(put.status).toBe(200);
    expect(typeof put.body.webhook_secret).toBe('string');
    secrets.push(put.body.webhook_secret as string);
    const rotated = await call(org.mk, 'POST', '/api/alerts/secret/rotate');
    expect(rotated.status).toBe(201);
    secrets.push(rotated.body.webhook_secret as string);
    const update = (await orgAudit(org.mk, '?action=alerts.update'))[0];
    expect(update).toMatchObject({ actor: org.prefix, before: { webhook_url: null, webhook_secret_set: false }, after: { webhook_url: 'https://hooks.example.com/tollgate', balance_low_usd: 1, webhook_secret_set: true } });
    expect(update.after).not.toHaveProperty('webhook_secret');
    expect((await orgAudit(org.mk, '?action=alerts.secret_rotate'))[0]).toMatchObject({ after: { webhook_secret_set: true } });
  });

  it('admin_token.use for reads with the admin token, at most once a minute per address and route', async () => {
    const before = (await list(ADMIN_TOKEN, '/admin/audit?action=admin_token.use&target=GET%20/admin/models')).length;
    expect((await gw.admin('/admin/models')).status).toBe(200);
    expect((await gw.admin('/admin/models')).status).toBe(200);
    // The record is written after the answer: poll for it.
    const deadline = Date.now() + 5000;
    let uses: AuditEvent[] = [];
    while (Date.now() < deadline) {
      uses = await list(ADMIN_TOKEN, '/admin/audit?action=admin_token.use&target=GET%20/admin/models');
      if (uses.length > before) break;
      await new Promise((r) => setImmediate(r));
    }
    expect(uses.length).toBe(1);
    expect(uses[0]).toMatchObject({ actor: 'operator', org_id: null });
    // A refused token is no use of the admin token.
    expect((await call('wrong-token-0123456789', 'GET', '/admin/orgs')).status).toBe(401);
  });

  it('no record holds a key, the admin token or a webhook secret', async () => {
    const all = JSON.stringify(await list(ADMIN_TOKEN, '/admin/audit?limit=1000'));
    for (const s of secrets) expect(all.includes(s)).toBe(false);
    expect(all).not.toMatch(/"(hash|key|webhook_secret)":/);
  });
});

describe('scope, filters and pages', () => {
  it('an org sees its own records only; the operator sees all', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const mineA = await orgAudit(a.mk);
    expect(mineA.length).toBeGreaterThan(0);
    expect(mineA.every((e) => e.org_id === a.orgId)).toBe(true);
    expect((await orgAudit(b.mk)).some((e) => e.org_id === a.orgId)).toBe(false);
    const all = await list(ADMIN_TOKEN, '/admin/audit?action=org.create&limit=1000');
    expect(all.map((e) => e.org_id)).toEqual(expect.arrayContaining([a.orgId, b.orgId]));
    // A target filter cannot reach another org's records through /api/audit.
    expect(await orgAudit(b.mk, `?target=${a.orgId}`)).toEqual([]);
  });

  it('/admin/audit takes org_id as the org_… id or the name, like the other /admin routes; an unknown org is 404', async () => {
    const a = await newOrg();
    const name = ((await call(ADMIN_TOKEN, 'GET', `/admin/orgs/${a.orgId}`)).body as { name: string }).name;
    const byId = await list(ADMIN_TOKEN, `/admin/audit?org_id=${a.orgId}`);
    expect(byId.length).toBeGreaterThan(0);
    expect(await list(ADMIN_TOKEN, `/admin/audit?org_id=${encodeURIComponent(name)}`)).toEqual(byId);
    const unknown = await call(ADMIN_TOKEN, 'GET', '/admin/audit?org_id=no-such-org');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'not_found', type: 'not_found_error' });
  });

  it('filters by actor, since and until; pages with a cursor cover every record once, newest first', async () => {
    const o = await newOrg();
    for (let i = 0; i < 5; i++) expect((await call(o.mk, 'POST', '/api/keys', { name: `k${i}` })).status).toBe(201);
    const byKey = await orgAudit(o.mk, `?actor=${encodeURIComponent(o.prefix)}`);
    expect(byKey).toHaveLength(5);
    expect(byKey.map((e) => e.after?.name)).toEqual(['k4', 'k3', 'k2', 'k1', 'k0']);
    const all = await orgAudit(o.mk);
    const paged: AuditEvent[] = [];
    let cursor: string | null = null;
    do {
      const r = await call(o.mk, 'GET', `/api/audit?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      paged.push(...(r.body.data as AuditEvent[]));
      cursor = r.body.next_cursor as string | null;
    } while (cursor);
    expect(paged.map((e) => e.id)).toEqual(all.map((e) => e.id));
    const oldest = Date.parse(all.at(-1)!.created_at);
    const newest = Date.parse(all[0].created_at);
    expect(await orgAudit(o.mk, `?since=${newest + 1}`)).toEqual([]);
    expect(await orgAudit(o.mk, `?until=${oldest}`)).toEqual([]);
    expect((await orgAudit(o.mk, `?since=${new Date(oldest).toISOString()}&until=${newest + 1}`)).length).toBe(all.length);
  });

  it('hostile queries are 400s in the error envelope; keys without the right are refused', async () => {
    const o = await newOrg();
    for (const q of ['action=drop%20table', 'limit=0', 'limit=abc', 'cursor=not-a-cursor', 'since=yesterday', `target=${'x'.repeat(300)}`]) {
      const r = await call(o.mk, 'GET', `/api/audit?${q}`);
      expect(r.status, q).toBe(400);
      expect((r.body.error as { code: string }).code, q).toMatch(/invalid_value|invalid_cursor/);
    }
    const sk = await gw.createKey(o.mk);
    expect((await call(sk.key, 'GET', '/api/audit')).status).toBe(403);
    expect((await call(o.mk, 'GET', '/admin/audit')).status).toBe(403);
  });

  it('a refused action leaves no record', async () => {
    const o = await newOrg();
    const before = (await orgAudit(o.mk)).length;
    expect((await call(o.mk, 'POST', '/api/keys', { rpm: -5 })).status).toBe(400);
    expect((await call(o.mk, 'PATCH', '/api/keys/key_missing', { rpm: 5 })).status).toBe(404);
    expect((await gw.admin(`/admin/orgs/${o.orgId}`, { method: 'PATCH', body: { disabled: 'yes' } })).status).toBe(400);
    expect((await call(o.mk, 'PUT', '/api/alerts', { webhook_url: 'ftp://x' })).status).toBe(400);
    expect(await orgAudit(o.mk)).toHaveLength(before);
  });
});

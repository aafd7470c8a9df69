// The operator's organisation routes (SPEC §2): a body that clashes with another org is the
// client's mistake, answered with the documented envelope, never a 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});

afterAll(async () => {
  await gw?.close();
});

const nameOf = async (orgId: string) => ((await (await gw.admin(`/admin/orgs/${orgId}`)).json()) as { name: string }).name;

describe('PATCH /admin/orgs/{id} name', () => {
  it("refuses another org's name with 400 invalid_value and keeps both orgs as they were", async () => {
    const a = await gw.createOrg(1);
    const b = await gw.createOrg(1);
    const taken = await nameOf(b.orgId);
    const err = await expectError(await gw.admin(`/admin/orgs/${a.orgId}`, { method: 'PATCH', body: { name: taken } }), 400, 'invalid_value');
    expect(err).toMatchObject({ type: 'invalid_request_error', param: 'name' });
    expect(err.message).toContain(taken);
    expect((await gw.admin(`/admin/orgs/${taken}`).then((r) => r.json())) as { id: string }).toMatchObject({ id: b.orgId });
  });

  it('lets an org keep its own name, and frees the old name on a rename', async () => {
    const a = await gw.createOrg(1);
    const old = await nameOf(a.orgId);
    expect((await gw.admin(`/admin/orgs/${a.orgId}`, { method: 'PATCH', body: { name: old } })).status).toBe(200);
    expect((await gw.admin(`/admin/orgs/${a.orgId}`, { method: 'PATCH', body: { name: `${old}-renamed` } })).status).toBe(200);
    expect((await gw.admin('/admin/orgs', { body: { name: old } })).status).toBe(201);
  });
});

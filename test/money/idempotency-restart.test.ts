// SPEC §7 idempotency across restarts without Redis: a finished request's answer is kept in
// the store under its Idempotency-Key, so a restarted gateway replays it and charges once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chat, flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-idem-restart-'));
const raw = { storage: { url: `sqlite://${join(dir, 'shared.db')}` }, cache: { exact: { enabled: false } }, limits: { key_rpm: null } };
let gw: TestGateway | undefined;

afterAll(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SPEC §7 Idempotency-Key survives a restart (no Redis)', () => {
  it('replays the first answer after a restart, charged once; another body under the key is 409', async () => {
    gw = await startTestGateway({ raw });
    const { orgId, mk } = await gw.createOrg(5);
    const { key } = await gw.createKey(mk);
    const body = { model: 'mock-chat', messages: [{ role: 'user', content: 'kept across a restart' }] };
    const first = await chat(gw.url, key, body, { 'idempotency-key': 'restart-1' });
    expect(first.status).toBe(200);
    const firstBody = await first.json();
    await flushed(gw);
    await gw.close();

    gw = await startTestGateway({ raw });
    const again = await chat(gw.url, key, body, { 'idempotency-key': 'restart-1' });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(firstBody);
    const other = await chat(gw.url, key, { ...body, messages: [{ role: 'user', content: 'another body' }] }, { 'idempotency-key': 'restart-1' });
    expect(other.status).toBe(409);
    await flushed(gw);
    const ledger = (await (await fetch(`${gw.url}/api/ledger`, { headers: { authorization: `Bearer ${mk}` } })).json()) as { data: Array<{ kind: string }> };
    expect(ledger.data.filter((e) => e.kind === 'charge')).toHaveLength(1);
    expect(orgId).toMatch(/^org_/);
  });
});

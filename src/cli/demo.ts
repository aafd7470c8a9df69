// The embedded default's demo tenant: a demo org with demo credit and a fresh demo key on
// every start (the previous demo key is revoked, since only its hash was kept).
import { usdToMicros } from '../billing/money.js';
import type { Gateway } from '../gateway.js';

export const DEMO_ORG = 'demo';
const DEMO_KEY_NAME = 'demo key';

export async function ensureDemoTenant(gw: Gateway, creditsUsd: number): Promise<{ orgId: string; key: string; created: boolean }> {
  let org = gw.view.orgByName(DEMO_ORG);
  let created = false;
  if (!org) {
    const r = await gw.tenants.createOrg({ name: DEMO_ORG, creditsMicros: usdToMicros(creditsUsd) });
    org = r.org;
    created = true;
  }
  for (const k of gw.view.keysOf(org.id)) {
    if (k.kind === 'sk' && k.name === DEMO_KEY_NAME && k.revoked_at === null) await gw.tenants.revokeKey(org.id, k.id);
  }
  const { key } = await gw.tenants.createKey(org.id, 'sk', { name: DEMO_KEY_NAME });
  return { orgId: org.id, key, created };
}

// The demo tenant of `demo.enabled`: a demo org with demo credit, one inference key and one
// management key, made on the first start and reused on every later one. Nothing here ever
// revokes a key: a key pasted into an app keeps working across restarts.
import { usdToMicros } from '../billing/money.js';
import type { Gateway } from '../gateway.js';
import type { KeyKind } from '../store/types.js';
import { readDemoKeys, writeDemoKeys } from './credentials.js';

export const DEMO_ORG = 'demo';
const KEY_NAMES: Record<KeyKind, string> = { sk: 'demo key', mk: 'demo management key' };

export interface DemoTenant {
  orgId: string;
  inferenceKey: string;
  managementKey: string;
  /** the org was created by this start (with the demo credit) */
  createdOrg: boolean;
  /** keys made by this start (the others came from the keys file) */
  createdKeys: KeyKind[];
  file: string;
}

/** A key from the file that still works for the demo org, or undefined. */
function usable(gw: Gateway, orgId: string, kind: KeyKind, key: string | undefined): string | undefined {
  if (!key) return undefined;
  const row = gw.view.keyByHash(gw.view.hashOf(key));
  if (!row || row.org_id !== orgId || row.kind !== kind || row.revoked_at !== null || row.disabled) return undefined;
  if (row.expires_at !== null && row.expires_at <= Date.now()) return undefined;
  return key;
}

export async function ensureDemoTenant(gw: Gateway, opts: { creditsUsd: number; keysFile: string }): Promise<DemoTenant> {
  const saved = readDemoKeys(opts.keysFile);
  let org = gw.view.orgByName(DEMO_ORG);
  let createdOrg = false;
  let fresh: string | undefined;
  if (!org) {
    const r = await gw.tenants.createOrg({ name: DEMO_ORG, creditsMicros: usdToMicros(opts.creditsUsd) });
    org = r.org;
    createdOrg = true;
    fresh = r.managementKey;
  }
  const createdKeys: KeyKind[] = [];
  const keyFor = async (kind: KeyKind, fromFile: string | undefined): Promise<string> => {
    const kept = usable(gw, org.id, kind, fromFile);
    if (kept) return kept;
    createdKeys.push(kind);
    if (kind === 'mk' && fresh) return fresh;
    return (await gw.tenants.createKey(org.id, kind, { name: KEY_NAMES[kind] })).key;
  };
  const inferenceKey = await keyFor('sk', saved?.inference_key);
  const managementKey = await keyFor('mk', saved?.management_key);
  if (createdKeys.length > 0 || saved?.org_id !== org.id) {
    writeDemoKeys(opts.keysFile, { org: DEMO_ORG, org_id: org.id, inference_key: inferenceKey, management_key: managementKey });
  }
  return { orgId: org.id, inferenceKey, managementKey, createdOrg, createdKeys, file: opts.keysFile };
}

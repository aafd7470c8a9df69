// The in-memory view of orgs and keys that authentication reads on every request, so the
// request path never queries the database. Changes go store-first, then here.
import { LRUCache } from 'lru-cache';
import { hashKey } from '../auth/keys.js';
import type { KeyRow, OrgRow, Store } from '../store/types.js';

export class TenantView {
  private readonly orgs = new Map<string, OrgRow>();
  private readonly orgsByName = new Map<string, OrgRow>();
  private readonly keysByHash = new Map<string, KeyRow>();
  private readonly keysById = new Map<string, KeyRow>();
  /** SHA-256 of recently seen well-formed keys: hashing every request costs more than the lookup. Kept in memory only. */
  private readonly hashes = new LRUCache<string, string>({ max: 10_000 });

  /** The hash of a token seen before, or undefined (nothing is hashed or remembered). */
  cachedHashOf(token: string): string | undefined {
    return this.hashes.get(token);
  }

  hashOf(token: string): string {
    let h = this.hashes.get(token);
    if (h === undefined) {
      h = hashKey(token);
      this.hashes.set(token, h);
    }
    return h;
  }

  async load(store: Store): Promise<void> {
    const [orgs, keys] = await Promise.all([store.listOrgs(), store.listKeys()]);
    this.orgs.clear();
    this.orgsByName.clear();
    this.keysByHash.clear();
    this.keysById.clear();
    for (const o of orgs) this.putOrg(o);
    for (const k of keys) this.putKey(k);
  }

  putOrg(org: OrgRow): void {
    const old = this.orgs.get(org.id);
    if (old && old.name !== org.name) this.orgsByName.delete(old.name);
    this.orgs.set(org.id, org);
    this.orgsByName.set(org.name, org);
  }

  putKey(key: KeyRow): void {
    this.keysById.set(key.id, key);
    this.keysByHash.set(key.hash, key);
  }

  org(id: string): OrgRow | undefined {
    return this.orgs.get(id);
  }

  orgByName(name: string): OrgRow | undefined {
    return this.orgsByName.get(name);
  }

  allOrgs(): OrgRow[] {
    return [...this.orgs.values()];
  }

  keyByHash(hash: string): KeyRow | undefined {
    return this.keysByHash.get(hash);
  }

  key(id: string): KeyRow | undefined {
    return this.keysById.get(id);
  }

  keysOf(orgId: string): KeyRow[] {
    const out: KeyRow[] = [];
    for (const k of this.keysById.values()) if (k.org_id === orgId) out.push(k);
    return out;
  }
}

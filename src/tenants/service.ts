// Operator and org-admin operations on orgs, keys and credit. Every change is written to
// the store first, then applied to the in-memory view and the credit accounts.
import { randomBytes, randomUUID } from 'node:crypto';
import { displayPrefix, generateKey, hashKey } from '../auth/keys.js';
import type { CreditLedger } from '../billing/accounts.js';
import { GatewayError } from '../core/errors.js';
import { isUniqueViolation } from '../store/errors.js';
import type { KeyKind, KeyRow, LedgerRow, OrgRow, Store } from '../store/types.js';
import type { TenantView } from './view.js';

export interface NewOrgInput {
  name: string;
  creditsMicros?: number;
  allowedModels?: string[] | null;
  spendCapMicros?: number | null;
}

export interface KeySettings {
  name?: string | null;
  budget_micros?: number | null;
  rpm?: number | null;
  tpm?: number | null;
  max_concurrency?: number | null;
  allowed_models?: string[] | null;
  fallbacks?: Record<string, string[]>;
  expires_at?: number | null;
  cache?: Record<string, unknown> | null;
  disabled?: boolean;
}

export type OrgPatch = Partial<Pick<OrgRow, 'allowed_models' | 'spend_cap_micros' | 'disabled' | 'fallbacks' | 'rpm' | 'tpm' | 'max_concurrency' | 'name' | 'settings'>>;

/** Hook for other instances: called after each local change (Redis pub/sub fans it out). */
export type ChangeListener = (change: { kind: 'org' | 'key'; id: string } | { kind: 'grant'; orgId: string; amount: number }) => void;

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url')}`;

const nameTaken = (name: string) => new GatewayError('invalid_value', `An organisation named "${name}" already exists; choose another name.`, { param: 'name' });

export class TenantService {
  onChange: ChangeListener | undefined;

  constructor(
    private readonly store: Store,
    private readonly view: TenantView,
    private readonly accounts: CreditLedger,
  ) {}

  async createOrg(input: NewOrgInput): Promise<{ org: OrgRow; managementKey: string }> {
    await this.assertNameFree(input.name);
    const now = Date.now();
    const org: OrgRow = {
      id: newId('org'),
      name: input.name,
      disabled: false,
      allowed_models: input.allowedModels ?? null,
      spend_cap_micros: input.spendCapMicros ?? null,
      fallbacks: {},
      rpm: null,
      tpm: null,
      max_concurrency: null,
      settings: {},
      created_at: now,
      updated_at: now,
    };
    await this.store.insertOrg(org).catch((err: unknown) => {
      // Another call took the name between the check above and this write.
      throw isUniqueViolation(err) ? nameTaken(input.name) : err;
    });
    this.view.putOrg(org);
    const { key } = await this.createKey(org.id, 'mk', { name: 'first management key' });
    if (input.creditsMicros && input.creditsMicros > 0) await this.grantCredit(org.id, input.creditsMicros, 'initial credit', `create:${org.id}`);
    this.onChange?.({ kind: 'org', id: org.id });
    return { org, managementKey: key };
  }

  async patchOrg(id: string, patch: OrgPatch): Promise<OrgRow> {
    if (patch.name !== undefined) await this.assertNameFree(patch.name, id);
    const updated = await this.store.updateOrg(id, { ...patch, updated_at: Date.now() }).catch((err: unknown) => {
      throw isUniqueViolation(err) && patch.name !== undefined ? nameTaken(patch.name) : err;
    });
    if (!updated) throw new GatewayError('not_found', `No organisation with id "${id}".`);
    this.view.putOrg(updated);
    this.onChange?.({ kind: 'org', id });
    return updated;
  }

  /** Org names are unique (the CLI and the /admin routes find orgs by name); `self` may keep its own. */
  private async assertNameFree(name: string, self?: string): Promise<void> {
    const holder = this.view.orgByName(name) ?? (await this.store.getOrgByName(name));
    if (holder && holder.id !== self) throw nameTaken(name);
  }

  async grantCredit(orgId: string, amountMicros: number, note: string | null, idempotencyKey: string | null): Promise<{ entry: LedgerRow; applied: boolean }> {
    const entry: LedgerRow = {
      id: newId('grt'),
      org_id: orgId,
      key_id: null,
      kind: 'grant',
      amount_micros: amountMicros,
      note,
      request_id: null,
      idempotency_key: idempotencyKey ?? `auto:${randomUUID()}`,
      created_at: Date.now(),
    };
    const result = await this.store.grantCredit(entry);
    if (result.applied) {
      await this.accounts.grant(orgId, amountMicros, entry.id);
      this.onChange?.({ kind: 'grant', orgId, amount: amountMicros });
    }
    return result;
  }

  async createKey(orgId: string, kind: KeyKind, s: KeySettings, rotatedFrom: string | null = null, spendOffsetMicros = 0): Promise<{ row: KeyRow; key: string }> {
    const key = generateKey(kind);
    const now = Date.now();
    const row: KeyRow = {
      id: newId('key'),
      org_id: orgId,
      kind,
      name: s.name ?? null,
      hash: hashKey(key),
      prefix: displayPrefix(key),
      disabled: s.disabled ?? false,
      revoked_at: null,
      expires_at: s.expires_at ?? null,
      budget_micros: s.budget_micros ?? null,
      rpm: s.rpm ?? null,
      tpm: s.tpm ?? null,
      max_concurrency: s.max_concurrency ?? null,
      allowed_models: s.allowed_models ?? null,
      fallbacks: s.fallbacks ?? {},
      cache: s.cache ?? null,
      rotated_from: rotatedFrom,
      spend_offset_micros: spendOffsetMicros,
      created_at: now,
      updated_at: now,
    };
    await this.store.insertKey(row);
    this.view.putKey(row);
    this.onChange?.({ kind: 'key', id: row.id });
    return { row, key };
  }

  ownedKey(orgId: string, id: string): KeyRow {
    const k = this.view.key(id);
    if (!k || k.org_id !== orgId) throw new GatewayError('not_found', `No key with id "${id}" in this organisation. List keys with GET /api/keys.`);
    return k;
  }

  async patchKey(orgId: string, id: string, s: KeySettings): Promise<KeyRow> {
    const current = this.ownedKey(orgId, id);
    if (current.revoked_at !== null) throw new GatewayError('invalid_value', 'This key is revoked and cannot be changed; create a new key.');
    const updated = await this.store.updateKey(id, { ...s, updated_at: Date.now() });
    if (!updated) throw new GatewayError('not_found', `No key with id "${id}".`);
    this.view.putKey(updated);
    this.onChange?.({ kind: 'key', id });
    return updated;
  }

  async revokeKey(orgId: string, id: string): Promise<KeyRow> {
    const current = this.ownedKey(orgId, id);
    if (current.revoked_at !== null) return current;
    const updated = await this.store.updateKey(id, { revoked_at: Date.now(), updated_at: Date.now() });
    this.view.putKey(updated!);
    this.onChange?.({ kind: 'key', id });
    return updated!;
  }

  /**
   * Issues a replacement with the same settings; the old key stays valid for `overlapS` seconds.
   * A key that can no longer be used (revoked, expired) cannot be rotated: rotation must not
   * revive it. The replacement keeps the key's own expiry, never an overlap end set by an
   * earlier rotation (the first replacement of this key holds that own expiry). A disabled key's
   * replacement is disabled too: rotating changes the secret, never whether the key may be used.
   */
  async rotateKey(orgId: string, id: string, overlapS: number, now = Date.now(), spentMicros?: number): Promise<{ row: KeyRow; key: string; previous: KeyRow }> {
    const old = this.ownedKey(orgId, id);
    if (old.revoked_at !== null) throw new GatewayError('invalid_value', 'A revoked key cannot be rotated; create a new key with POST /api/keys.');
    if (old.expires_at !== null && old.expires_at <= now) {
      throw new GatewayError('invalid_value', `This key expired at ${new Date(old.expires_at).toISOString()} and cannot be rotated; rotate its replacement or create a new key with POST /api/keys.`);
    }
    const ownExpiry = this.ownExpiry(orgId, old);
    if (ownExpiry !== null && ownExpiry <= now) {
      throw new GatewayError('invalid_value', `This key's replacement expired at ${new Date(ownExpiry).toISOString()}; create a new key with POST /api/keys.`);
    }
    const fresh = await this.createKey(
      orgId,
      old.kind,
      {
        name: old.name,
        budget_micros: old.budget_micros,
        rpm: old.rpm,
        tpm: old.tpm,
        max_concurrency: old.max_concurrency ?? null,
        allowed_models: old.allowed_models,
        fallbacks: old.fallbacks,
        expires_at: ownExpiry,
        cache: old.cache,
        disabled: old.disabled,
      },
      old.id,
      // The budget goes on where it stood: what the old key (and those before it) spent counts against the new one.
      (old.spend_offset_micros ?? 0) + (spentMicros ?? (await this.store.keySpends()).get(old.id) ?? 0),
    );
    const overlapEnd = now + overlapS * 1000;
    const expires = old.expires_at !== null && old.expires_at < overlapEnd ? old.expires_at : overlapEnd;
    const previous = (await this.store.updateKey(id, { expires_at: expires, updated_at: Date.now() }))!;
    this.view.putKey(previous);
    this.onChange?.({ kind: 'key', id });
    return { ...fresh, previous };
  }

  /** The expiry a key was given (at creation or by PATCH), following its replacements past the overlap ends rotations set. */
  private ownExpiry(orgId: string, key: KeyRow): number | null {
    const keys = this.view.keysOf(orgId);
    let current = key;
    const seen = new Set<string>([key.id]);
    for (;;) {
      const next = keys.find((k) => k.rotated_from === current.id && !seen.has(k.id));
      if (!next) return current.expires_at;
      seen.add(next.id);
      current = next;
    }
  }
}

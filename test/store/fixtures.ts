// Row builders for the store contract suite: complete, valid rows with overridable fields and
// ids unique per call, so tests sharing one database never collide.
import { randomBytes } from 'node:crypto';
import type { KeyRow, LedgerRow, OrgRow, UsageRow } from '../../src/store/types.js';

export const T0 = Date.UTC(2025, 0, 6, 0, 0, 0);
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export function uid(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export function makeOrg(over: Partial<OrgRow> = {}): OrgRow {
  const id = over.id ?? uid('org');
  return {
    id,
    name: `name-${id}`,
    disabled: false,
    allowed_models: null,
    spend_cap_micros: null,
    fallbacks: {},
    rpm: null,
    tpm: null,
    max_concurrency: null,
    settings: {},
    created_at: T0,
    updated_at: T0,
    ...over,
  };
}

export function makeKey(orgId: string, over: Partial<KeyRow> = {}): KeyRow {
  const id = over.id ?? uid('key');
  return {
    id,
    org_id: orgId,
    kind: 'sk',
    name: null,
    hash: randomBytes(32).toString('hex'),
    prefix: 'sk-tg-AbC1…',
    disabled: false,
    revoked_at: null,
    expires_at: null,
    budget_micros: null,
    rpm: null,
    tpm: null,
    max_concurrency: null,
    allowed_models: null,
    fallbacks: {},
    cache: null,
    rotated_from: null,
    spend_offset_micros: 0,
    created_at: T0,
    updated_at: T0,
    ...over,
  };
}

export function makeGrant(orgId: string, amount: number, over: Partial<LedgerRow> = {}): LedgerRow {
  return {
    id: uid('led'),
    org_id: orgId,
    key_id: null,
    kind: 'grant',
    amount_micros: amount,
    note: null,
    request_id: null,
    idempotency_key: null,
    created_at: T0,
    ...over,
  };
}

export function makeUsage(orgId: string, keyId: string, over: Partial<UsageRow> = {}): UsageRow {
  return {
    request_id: uid('req'),
    org_id: orgId,
    key_id: keyId,
    model: 'gpt-5.4',
    requested_model: 'gpt-5.4',
    surface: 'chat',
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    reasoning_tokens: 0,
    provider: 'openai',
    prompt_tokens: 100,
    completion_tokens: 20,
    cost_micros: 325,
    cached: null,
    status: 200,
    error_code: null,
    latency_ms: 120,
    stream: false,
    estimated: false,
    fallback: null,
    attempts: 1,
    created_at: T0,
    ...over,
  };
}

/** The charge that accompanies a usage row, as the billing queue would produce it. */
export function chargeFor(u: UsageRow): LedgerRow {
  return {
    id: `chg_${u.request_id}`,
    org_id: u.org_id,
    key_id: u.key_id,
    kind: 'charge',
    amount_micros: -u.cost_micros,
    note: null,
    request_id: u.request_id,
    idempotency_key: null,
    created_at: u.created_at,
  };
}

export function batchOf(usage: UsageRow[]): { usage: UsageRow[]; charges: LedgerRow[] } {
  return { usage, charges: usage.filter((u) => u.cost_micros > 0).map(chargeFor) };
}

// The JSON shapes of management answers (SPEC §2): micro-USD to decimal USD, epoch ms to ISO.
// Typed by the answer schemas in management-schemas.ts, which the OpenAPI document is generated
// from. Also the snapshots of orgs and keys that the audit trail records.
import { requestLogSetting } from '../observability/request-log.js';
import { microsToUsd } from '../billing/money.js';
import type { KeyRow, LedgerRow, OrgRow, UsageRow } from '../store/types.js';
import type { KeyObject, LedgerObject, OrgObject, UsageObject } from './management-schemas.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const usdOrNull = (m: number | null) => (m === null ? null : microsToUsd(m));

export function presentOrg(o: OrgRow, balanceMicros: number, spendMicros: number): OrgObject {
  return {
    id: o.id,
    object: 'organization',
    name: o.name,
    balance_usd: microsToUsd(balanceMicros),
    spend_usd: microsToUsd(spendMicros),
    disabled: o.disabled,
    allowed_models: o.allowed_models,
    spend_cap_usd: usdOrNull(o.spend_cap_micros),
    fallbacks: o.fallbacks,
    rpm: o.rpm,
    tpm: o.tpm,
    max_concurrency: o.max_concurrency ?? null,
    semantic_cache: o.settings.semantic_cache === true,
    request_logs: requestLogSetting(o),
    created_at: iso(o.created_at),
    updated_at: iso(o.updated_at),
  };
}

export function presentKey(k: KeyRow, spendMicros: number, now = Date.now()): KeyObject {
  const status = k.revoked_at !== null ? 'revoked' : k.expires_at !== null && k.expires_at <= now ? 'expired' : k.disabled ? 'disabled' : 'active';
  return {
    id: k.id,
    object: 'api_key',
    type: k.kind === 'sk' ? 'inference' : 'management',
    name: k.name,
    prefix: k.prefix,
    status,
    disabled: k.disabled,
    revoked_at: iso(k.revoked_at),
    expires_at: iso(k.expires_at),
    budget_usd: usdOrNull(k.budget_micros),
    // Spend carried over from the keys it replaced counts too: a rotation never resets a budget.
    spend_usd: microsToUsd(spendMicros + (k.spend_offset_micros ?? 0)),
    rpm: k.rpm,
    tpm: k.tpm,
    max_concurrency: k.max_concurrency ?? null,
    allowed_models: k.allowed_models,
    fallbacks: k.fallbacks,
    cache: k.cache,
    rotated_from: k.rotated_from,
    created_at: iso(k.created_at),
    updated_at: iso(k.updated_at),
  };
}

export function presentLedger(e: LedgerRow): LedgerObject {
  return {
    id: e.id,
    kind: e.kind,
    amount_usd: microsToUsd(e.amount_micros),
    note: e.note,
    key_id: e.key_id,
    request_id: e.request_id,
    created_at: iso(e.created_at),
  };
}

export function presentUsage(u: UsageRow): UsageObject {
  return {
    request_id: u.request_id,
    key_id: u.key_id,
    model: u.model,
    requested_model: u.requested_model,
    provider: u.provider,
    surface: u.surface,
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    cache_read_tokens: u.cache_read_tokens,
    cache_write_tokens: u.cache_write_tokens,
    reasoning_tokens: u.reasoning_tokens,
    cost_usd: microsToUsd(u.cost_micros),
    cached: u.cached !== null,
    cache_type: u.cached,
    status: u.status,
    error_code: u.error_code,
    latency_ms: u.latency_ms,
    stream: u.stream,
    estimated: u.estimated,
    fallback: u.fallback,
    attempts: u.attempts,
    created_at: iso(u.created_at),
  };
}

/** An org as the trail records it: its settings, without balance or spend (those move on their own). */
export function orgSnapshot(o: OrgRow): Record<string, unknown> {
  const { balance_usd: _b, spend_usd: _s, ...rest } = presentOrg(o, 0, 0);
  return rest;
}

/** A key as the trail records it: its settings and prefix (never the key), without spend. */
export function keySnapshot(k: KeyRow): Record<string, unknown> {
  const { spend_usd: _s, ...rest } = presentKey(k, 0);
  return rest;
}

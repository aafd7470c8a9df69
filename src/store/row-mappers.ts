// Conversions between contract rows and database rows: JSON columns travel as text and
// booleans in the dialect's own form, so callers always get objects, arrays, null and booleans.
import type { AlertSettingsRow, KeyKind, KeyRow, LedgerKind, LedgerRow, OrgRow, UsageRow } from './types.js';
import { type DialectName, fromDbBool, toDbBool } from './dialect.js';
import type { AlertSettingsTable, ApiKeysTable, LedgerTable, OrgsTable, UsageTable } from './schema.js';

function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

function parseJson<T>(text: string | null, fallback: T): T {
  return text === null ? fallback : (JSON.parse(text) as T);
}

type Converter = (dialect: DialectName, value: never) => unknown;
const same: Converter = (_d, v) => v;
const bool: Converter = (d, v: boolean) => toDbBool(d, v);
const json: Converter = (_d, v: unknown) => jsonOrNull(v);
const jsonObject: Converter = (_d, v: unknown) => JSON.stringify(v ?? {});

/** Only the fields present in a patch become columns in the UPDATE. */
function patchColumns(dialect: DialectName, patch: object, converters: Record<string, Converter>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(patch)) {
    const convert = converters[field];
    if (convert === undefined || value === undefined) continue;
    out[field] = convert(dialect, value as never);
  }
  return out;
}

const orgConverters: Record<keyof OrgRow, Converter> = {
  id: same,
  name: same,
  disabled: bool,
  allowed_models: json,
  spend_cap_micros: same,
  fallbacks: jsonObject,
  rpm: same,
  tpm: same,
  max_concurrency: same,
  settings: jsonObject,
  created_at: same,
  updated_at: same,
};

export function orgToDb(dialect: DialectName, org: OrgRow): OrgsTable {
  return {
    id: org.id,
    name: org.name,
    disabled: toDbBool(dialect, org.disabled),
    allowed_models: jsonOrNull(org.allowed_models),
    spend_cap_micros: org.spend_cap_micros,
    fallbacks: JSON.stringify(org.fallbacks ?? {}),
    rpm: org.rpm,
    tpm: org.tpm,
    max_concurrency: org.max_concurrency ?? null,
    settings: JSON.stringify(org.settings ?? {}),
    created_at: org.created_at,
    updated_at: org.updated_at,
  };
}

export function orgPatchToDb(dialect: DialectName, patch: Partial<OrgRow>): Partial<OrgsTable> {
  return patchColumns(dialect, patch, orgConverters) as Partial<OrgsTable>;
}

export function orgFromDb(row: OrgsTable): OrgRow {
  return {
    id: row.id,
    name: row.name,
    disabled: fromDbBool(row.disabled),
    allowed_models: parseJson<string[] | null>(row.allowed_models, null),
    spend_cap_micros: row.spend_cap_micros,
    fallbacks: parseJson<Record<string, string[]>>(row.fallbacks, {}),
    rpm: row.rpm,
    tpm: row.tpm,
    max_concurrency: row.max_concurrency == null ? null : Number(row.max_concurrency),
    settings: parseJson<Record<string, unknown>>(row.settings, {}),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

const keyConverters: Record<keyof KeyRow, Converter> = {
  id: same,
  org_id: same,
  kind: same,
  name: same,
  hash: same,
  prefix: same,
  disabled: bool,
  revoked_at: same,
  expires_at: same,
  budget_micros: same,
  rpm: same,
  tpm: same,
  max_concurrency: same,
  allowed_models: json,
  fallbacks: jsonObject,
  cache: json,
  rotated_from: same,
  spend_offset_micros: same,
  created_at: same,
  updated_at: same,
};

export function keyToDb(dialect: DialectName, key: KeyRow): ApiKeysTable {
  return {
    id: key.id,
    org_id: key.org_id,
    kind: key.kind,
    name: key.name,
    hash: key.hash,
    prefix: key.prefix,
    disabled: toDbBool(dialect, key.disabled),
    revoked_at: key.revoked_at,
    expires_at: key.expires_at,
    budget_micros: key.budget_micros,
    rpm: key.rpm,
    tpm: key.tpm,
    max_concurrency: key.max_concurrency ?? null,
    allowed_models: jsonOrNull(key.allowed_models),
    fallbacks: JSON.stringify(key.fallbacks ?? {}),
    cache: jsonOrNull(key.cache),
    rotated_from: key.rotated_from,
    spend_offset_micros: key.spend_offset_micros ?? 0,
    created_at: key.created_at,
    updated_at: key.updated_at,
  };
}

export function keyPatchToDb(dialect: DialectName, patch: Partial<KeyRow>): Partial<ApiKeysTable> {
  return patchColumns(dialect, patch, keyConverters) as Partial<ApiKeysTable>;
}

export function keyFromDb(row: ApiKeysTable): KeyRow {
  return {
    id: row.id,
    org_id: row.org_id,
    kind: row.kind as KeyKind,
    name: row.name,
    hash: row.hash,
    prefix: row.prefix,
    disabled: fromDbBool(row.disabled),
    revoked_at: row.revoked_at,
    expires_at: row.expires_at,
    budget_micros: row.budget_micros,
    rpm: row.rpm,
    tpm: row.tpm,
    max_concurrency: row.max_concurrency == null ? null : Number(row.max_concurrency),
    allowed_models: parseJson<string[] | null>(row.allowed_models, null),
    fallbacks: parseJson<Record<string, string[]>>(row.fallbacks, {}),
    cache: parseJson<Record<string, unknown> | null>(row.cache, null),
    rotated_from: row.rotated_from,
    spend_offset_micros: Number(row.spend_offset_micros ?? 0),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export function ledgerToDb(entry: LedgerRow): LedgerTable {
  return {
    id: entry.id,
    org_id: entry.org_id,
    key_id: entry.key_id,
    kind: entry.kind,
    amount_micros: entry.amount_micros,
    note: entry.note,
    request_id: entry.request_id,
    idempotency_key: entry.idempotency_key,
    created_at: entry.created_at,
  };
}

export function ledgerFromDb(row: LedgerTable): LedgerRow {
  return { ...row, kind: row.kind as LedgerKind };
}

export function usageToDb(dialect: DialectName, u: UsageRow): UsageTable {
  return {
    request_id: u.request_id,
    org_id: u.org_id,
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
    cost_micros: u.cost_micros,
    cached: u.cached,
    status: u.status,
    error_code: u.error_code,
    latency_ms: u.latency_ms,
    stream: toDbBool(dialect, u.stream),
    estimated: toDbBool(dialect, u.estimated),
    fallback: u.fallback,
    attempts: u.attempts,
    created_at: u.created_at,
  };
}

export function usageFromDb(row: UsageTable): UsageRow {
  return {
    ...row,
    cached: row.cached as UsageRow['cached'],
    prompt_tokens: Number(row.prompt_tokens),
    completion_tokens: Number(row.completion_tokens),
    cache_read_tokens: Number(row.cache_read_tokens ?? 0),
    cache_write_tokens: Number(row.cache_write_tokens ?? 0),
    reasoning_tokens: Number(row.reasoning_tokens ?? 0),
    surface: row.surface ?? 'chat',
    stream: fromDbBool(row.stream),
    estimated: fromDbBool(row.estimated),
  };
}

export function alertSettingsFromDb(row: AlertSettingsTable): AlertSettingsRow {
  return { org_id: row.org_id, settings: parseJson<Record<string, unknown>>(row.settings, {}), updated_at: row.updated_at };
}

import type { Generated } from 'kysely';

// Kysely table types: the shape of each row as the database holds it (JSON as text,
// booleans as the dialect's own representation), before row-mappers turn it into a contract row.

/** SQLite has no boolean type, so a flag reads back as 0/1 there and as true/false on Postgres. */
export type DbBool = boolean | number;

export interface OrgsTable {
  id: string;
  name: string;
  disabled: DbBool;
  allowed_models: string | null;
  spend_cap_micros: number | null;
  fallbacks: string;
  rpm: number | null;
  tpm: number | null;
  max_concurrency: number | null;
  settings: string;
  created_at: number;
  updated_at: number;
}

export interface ApiKeysTable {
  id: string;
  org_id: string;
  kind: string;
  name: string | null;
  hash: string;
  prefix: string;
  disabled: DbBool;
  revoked_at: number | null;
  expires_at: number | null;
  budget_micros: number | null;
  rpm: number | null;
  tpm: number | null;
  max_concurrency: number | null;
  allowed_models: string | null;
  fallbacks: string;
  cache: string | null;
  rotated_from: string | null;
  spend_offset_micros: number;
  created_at: number;
  updated_at: number;
}

export interface LedgerTable {
  id: string;
  org_id: string;
  key_id: string | null;
  kind: string;
  amount_micros: number;
  note: string | null;
  request_id: string | null;
  idempotency_key: string | null;
  created_at: number;
}

export interface UsageTable {
  request_id: string;
  org_id: string;
  key_id: string;
  model: string;
  requested_model: string;
  provider: string | null;
  surface: string;
  cache_read_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micros: number;
  cached: string | null;
  status: number;
  error_code: string | null;
  latency_ms: number;
  stream: DbBool;
  estimated: DbBool;
  fallback: string | null;
  attempts: number;
  created_at: number;
}

export interface RollupTable {
  org_id: string;
  bucket: number;
  model: string;
  key_id: string;
  requests: number;
  errors: number;
  cache_hits: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micros: number;
}

export interface RequestLogTable {
  request_id: string;
  org_id: string;
  key_id: string;
  route: string;
  request: string;
  response: string;
  /** 1 when either body was cut at the size cap */
  truncated: number;
  created_at: number;
  expires_at: number;
}

/** Latency thresholds (ms) of the operator roll-up's histogram; requests above the last are the rest. */
export const LATENCY_BOUNDS_MS = [100, 500, 1000, 5000, 30000] as const;

/** Every org's traffic per hour, model and provider ('' when none answered), for the operator. */
export interface OpsRollupTable {
  bucket: number;
  model: string;
  provider: string;
  requests: number;
  errors: number;
  cache_hits: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micros: number;
  latency_ms_sum: number;
  latency_le_100: number;
  latency_le_500: number;
  latency_le_1000: number;
  latency_le_5000: number;
  latency_le_30000: number;
}

/** The audit trail: append-only, one row per management action. before/after are JSON text. */
export interface AuditLogTable {
  id: string;
  org_id: string | null;
  actor: string;
  action: string;
  target: string | null;
  before: string | null;
  after: string | null;
  source_ip: string | null;
  created_at: number;
}

export interface AlertSettingsTable {
  org_id: string;
  settings: string;
  updated_at: number;
}

export interface IdempotencyRecordsTable {
  key_id: string;
  idem_key: string;
  body_hash: string;
  /** the first answer, JSON (status, headers, body or stream frames) */
  response: string;
  expires_at: number;
}

export interface StoredResponsesTable {
  id: string;
  org_id: string;
  key_id: string;
  model: string;
  previous_response_id: string | null;
  response: string;
  input_items: string;
  context: string;
  created_at: number;
  expires_at: number;
}

/** One row per change to orgs, keys or credit, so other processes can follow them in order. */
export interface ChangesTable {
  seq: Generated<number>;
  kind: string;
  ref: string;
  org_id: string | null;
  amount_micros: number | null;
  created_at: number;
}

export interface LeasesTable {
  name: string;
  holder: string;
  expires_at: number;
}

export interface Database {
  changes: ChangesTable;
  leases: LeasesTable;
  orgs: OrgsTable;
  api_keys: ApiKeysTable;
  ledger: LedgerTable;
  usage: UsageTable;
  usage_rollup_hour: RollupTable;
  usage_rollup_day: RollupTable;
  usage_rollup_ops_hour: OpsRollupTable;
  request_logs: RequestLogTable;
  alert_settings: AlertSettingsTable;
  audit_log: AuditLogTable;
  stored_responses: StoredResponsesTable;
  idempotency_records: IdempotencyRecordsTable;
}

export type RollupTableName = 'usage_rollup_hour' | 'usage_rollup_day';

// The storage contract: every durable read and write Tollgate makes goes through Store.
// Implementations (SQLite, Postgres) must behave identically; test/store-contract runs on both.

/** Money is integer micro-USD everywhere inside Tollgate. Times are epoch milliseconds. */
export interface OrgRow {
  id: string;
  name: string;
  disabled: boolean;
  /** null = every model. */
  allowed_models: string[] | null;
  spend_cap_micros: number | null;
  /** model id -> ordered fallback model ids */
  fallbacks: Record<string, string[]>;
  rpm: number | null;
  tpm: number | null;
  /** requests in flight at once; null: the configured default */
  max_concurrency?: number | null;
  /** Org-level settings that have no column of their own (e.g. semantic cache opt-in). */
  settings: Record<string, unknown>;
  created_at: number;
  updated_at: number;
}

export type KeyKind = 'sk' | 'mk';

export interface KeyRow {
  id: string;
  org_id: string;
  kind: KeyKind;
  name: string | null;
  /** hex SHA-256 of the whole key; the key itself is never stored. */
  hash: string;
  /** display prefix such as `sk-tg-AbC1…` */
  prefix: string;
  disabled: boolean;
  revoked_at: number | null;
  expires_at: number | null;
  budget_micros: number | null;
  rpm: number | null;
  tpm: number | null;
  /** requests in flight at once; null: the configured default */
  max_concurrency?: number | null;
  allowed_models: string[] | null;
  fallbacks: Record<string, string[]>;
  /** per-key cache settings, e.g. {"exact": false, "semantic": true, "threshold": 0.97} */
  cache: Record<string, unknown> | null;
  /** id of the key this one replaced by rotation */
  rotated_from: string | null;
  /** spend carried over from the keys this one replaced (rotation): counts against its budget */
  spend_offset_micros?: number;
  created_at: number;
  updated_at: number;
}

export type LedgerKind = 'grant' | 'charge';

export interface LedgerRow {
  id: string;
  org_id: string;
  key_id: string | null;
  kind: LedgerKind;
  /** signed: grants positive, charges negative, so balance = sum(amount_micros) */
  amount_micros: number;
  note: string | null;
  /** unique among charges: one charge per request */
  request_id: string | null;
  /** unique per org among grants */
  idempotency_key: string | null;
  created_at: number;
}

export interface UsageRow {
  request_id: string;
  org_id: string;
  key_id: string;
  /** the model that served (after fallback); the requested one when nothing served */
  model: string;
  requested_model: string;
  provider: string | null;
  /** the inbound protocol: chat, messages, responses, completions, embeddings */
  surface: string;
  /** parts of prompt_tokens read from / written to the provider's cache, and of completion_tokens spent reasoning */
  cache_read_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micros: number;
  /** null = not from cache; otherwise the layer */
  cached: 'exact' | 'semantic' | null;
  /** HTTP status sent to the client */
  status: number;
  error_code: string | null;
  latency_ms: number;
  stream: boolean;
  /** token counts were computed by Tollgate, not reported by the upstream */
  estimated: boolean;
  /** e.g. "gpt-5.4 -> claude-sonnet-4.5" */
  fallback: string | null;
  attempts: number;
  created_at: number;
}

export interface Page<T> {
  rows: T[];
  /** opaque; undefined when there is no next page */
  next_cursor: string | undefined;
}

export interface UsageFilter {
  /** absent only for the operator's listing across every org */
  org_id?: string;
  key_id?: string;
  model?: string;
  /** the route (usage row `surface`): chat, messages, responses, completions, embeddings, images, transcriptions, translations */
  surface?: string;
  /** inclusive, epoch ms */
  from?: number;
  /** exclusive, epoch ms */
  to?: number;
  cursor?: string;
  /** 1..1000 */
  limit: number;
}

export type UsageGroup = 'hour' | 'day' | 'model' | 'key';

export interface UsageAggregateFilter {
  org_id: string;
  key_id?: string;
  model?: string;
  from?: number;
  to?: number;
  /** must contain exactly one of 'hour' | 'day' when time-bucketed; may add 'model' and/or 'key' */
  group_by: UsageGroup[];
}

export interface UsageAggregate {
  /** bucket start (epoch ms) when grouped by hour/day */
  bucket?: number;
  model?: string;
  key_id?: string;
  requests: number;
  errors: number;
  cache_hits: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micros: number;
}

/** A request's bodies, kept for an org with request logs on (redacted and size-capped before they get here). */
export interface RequestLogRow {
  request_id: string;
  org_id: string;
  key_id: string;
  /** the inbound API: chat, messages, responses, completions, embeddings, images */
  route: string;
  request: string;
  response: string;
  truncated: boolean;
  created_at: number;
  expires_at: number;
}

export interface OpsStatsFilter {
  /** inclusive, epoch ms (the hour holding it is included whole) */
  from: number;
  /** exclusive, epoch ms */
  to: number;
  bucket: 'hour' | 'day';
  /** split each bucket by model or by provider; both together are allowed */
  by: ('model' | 'provider')[];
}

export interface OpsStat {
  bucket: number;
  model?: string;
  provider?: string;
  requests: number;
  errors: number;
  cache_hits: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micros: number;
  latency_ms_sum: number;
  /** requests at or under each of LATENCY_BOUNDS_MS, in order */
  latency_le: number[];
}

export interface OrgSpend {
  org_id: string;
  requests: number;
  errors: number;
  cost_micros: number;
}

export interface AlertSettingsRow {
  org_id: string;
  /** JSON document validated by the alerts module */
  settings: Record<string, unknown>;
  updated_at: number;
}

/** A response kept for the Responses API (`store: true`): the answer, its input and the conversation before it. */
export interface StoredResponseRow {
  /** the public response id (`resp_…`) */
  id: string;
  org_id: string;
  key_id: string;
  model: string;
  previous_response_id: string | null;
  /** the response object, encrypted reasoning included */
  response: Record<string, unknown>;
  /** the request's own input items */
  input_items: Record<string, unknown>[];
  /** the conversation items the answer followed (continued history + this input) */
  context: Record<string, unknown>[];
  created_at: number;
  /** after this (epoch ms) the row is gone for readers and pruned */
  expires_at: number;
}

export type ChangeKind = 'org' | 'key' | 'grant';

/** An entry of the change sequence: what changed (`ref`: org, key or ledger entry id). */
export interface ChangeRow {
  seq: number;
  kind: ChangeKind;
  ref: string;
  org_id: string | null;
  /** grants: the amount granted */
  amount_micros: number | null;
  created_at: number;
}

/** One management action in the audit trail (never a key, token or secret in before/after). */
export interface AuditRow {
  id: string;
  /** the org acted on; null for actions on no org */
  org_id: string | null;
  /** "operator" (admin token) or the management key's display prefix */
  actor: string;
  action: string;
  /** the id of what was acted on (org, key), or the admin route used */
  target: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source_ip: string | null;
  created_at: number;
}

export interface AuditFilter {
  org_id?: string;
  action?: string;
  actor?: string;
  target?: string;
  /** inclusive, ms */
  since?: number;
  /** exclusive, ms */
  until?: number;
  cursor?: string;
  limit: number;
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /** Create or upgrade the schema. Safe to run on every start and concurrently from several instances. */
  migrate(): Promise<void>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;

  insertOrg(org: OrgRow): Promise<void>;
  updateOrg(id: string, patch: Partial<Omit<OrgRow, 'id' | 'created_at'>>): Promise<OrgRow | undefined>;
  getOrg(id: string): Promise<OrgRow | undefined>;
  getOrgByName(name: string): Promise<OrgRow | undefined>;
  listOrgs(): Promise<OrgRow[]>;

  insertKey(key: KeyRow): Promise<void>;
  updateKey(id: string, patch: Partial<Omit<KeyRow, 'id' | 'org_id' | 'hash' | 'created_at'>>): Promise<KeyRow | undefined>;
  getKey(id: string): Promise<KeyRow | undefined>;
  getKeyByHash(hash: string): Promise<KeyRow | undefined>;
  /** every key (all orgs) when orgId is omitted; ordered by created_at */
  listKeys(orgId?: string): Promise<KeyRow[]>;

  /**
   * Append a grant. Idempotent per (org_id, idempotency_key): a repeat returns the first entry
   * with applied=false and writes nothing.
   */
  grantCredit(entry: LedgerRow): Promise<{ entry: LedgerRow; applied: boolean }>;
  /**
   * Write finished requests in one transaction: usage rows, their charge rows, and the
   * roll-up increments. A usage row whose request_id exists is skipped together with its
   * charge and roll-up increment, so a retried batch never duplicates.
   */
  /** Writes usage rows and their charges once per request id; says which request ids were new. */
  writeBatch(batch: { usage: UsageRow[]; charges: LedgerRow[] }): Promise<WrittenBatch | undefined>;
  /** org_id -> sum of its ledger */
  balances(): Promise<Map<string, number>>;
  /** key_id -> total charged (positive micros) */
  keySpends(): Promise<Map<string, number>>;
  /** newest first */
  listLedger(orgId: string, opts: { cursor?: string; limit: number }): Promise<Page<LedgerRow>>;
  /** newest first */
  listUsage(filter: UsageFilter): Promise<Page<UsageRow>>;
  /** Appends one audit record (never updated or deleted). */
  insertAudit(row: AuditRow): Promise<void>;
  /** newest first */
  listAudit(filter: AuditFilter): Promise<Page<AuditRow>>;
  /** served from the roll-up tables, never by scanning raw usage */
  aggregateUsage(filter: UsageAggregateFilter): Promise<UsageAggregate[]>;
  /** one usage record of an org, or undefined */
  getUsage(orgId: string, requestId: string): Promise<UsageRow | undefined>;
  /** keeps request logs; a request id already kept is left as it is */
  insertRequestLogs(rows: RequestLogRow[]): Promise<void>;
  /** an org's request log that has not expired at `now`, or undefined */
  getRequestLog(orgId: string, requestId: string, now: number): Promise<RequestLogRow | undefined>;
  /** deletes request logs expired at `now`; returns how many */
  pruneRequestLogs(now: number): Promise<number>;
  /** every org's traffic per time bucket, optionally split by model and provider (operator) */
  operatorStats(filter: OpsStatsFilter): Promise<OpsStat[]>;
  /** orgs ranked by charges in [from, to), highest first */
  topOrgs(filter: { from: number; to: number; limit: number }): Promise<OrgSpend[]>;
  /** delete raw usage rows older than the cutoff (roll-ups stay); returns rows deleted */
  pruneUsage(before: number): Promise<number>;

  /**
   * The change sequence: every insert or update of an org or key and every applied grant appends
   * one entry. Sequence numbers only grow, but on Postgres an entry may become visible after a
   * later one, so followers re-read a short window behind the last number they saw.
   */
  changesAfter(seq: number, limit: number): Promise<ChangeRow[]>;
  lastChangeSeq(): Promise<number>;
  /** Takes or renews a named lease for `holder` unless another holder's lease is still running. */
  takeLease(name: string, holder: string, ttlMs: number): Promise<{ ok: boolean; holder: string; expiresAt: number }>;
  releaseLease(name: string, holder: string): Promise<void>;

  getAlertSettings(orgId: string): Promise<AlertSettingsRow | undefined>;
  putAlertSettings(row: AlertSettingsRow): Promise<void>;

  /** Keep a response (an id is written once; a repeat is ignored). */
  putResponse(row: StoredResponseRow): Promise<void>;
  /** The org's response with this id, unless expired at `now`. */
  getResponse(orgId: string, id: string, now: number): Promise<StoredResponseRow | undefined>;
  /** Deletes the org's response; false when it has none with this id. */
  deleteResponse(orgId: string, id: string): Promise<boolean>;
  /** Deletes responses that expired before the cutoff; returns rows deleted. */
  pruneResponses(before: number): Promise<number>;

  /** Keeps a finished request's answer under its Idempotency-Key (the first write wins). */
  putIdempotencyRecord(row: IdempotencyRecordRow): Promise<void>;
  /** The record for this key and Idempotency-Key, unless expired at `now`. */
  getIdempotencyRecord(keyId: string, idemKey: string, now: number): Promise<IdempotencyRecordRow | undefined>;
}

export interface IdempotencyRecordRow {
  key_id: string;
  idem_key: string;
  body_hash: string;
  /** JSON of the first answer */
  response: string;
  expires_at: number;
}

export interface WrittenBatch {
  /** request ids whose usage row this batch inserted (the others were already there) */
  inserted: string[];
}

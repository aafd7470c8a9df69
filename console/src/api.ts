// The console's only door to Tollgate: the public routes of SPEC §2, each call carrying the
// session credential as a Bearer token. Failures become ApiError with the envelope's message,
// which is written for people and is shown to them as is.
import {
  asObject,
  listOf,
  pageOf,
  readAdminModel,
  readAggregate,
  readAlerts,
  readAuditEvent,
  readBalance,
  readCreatedKey,
  readKey,
  readLedgerEntry,
  readOrg,
  readOrgModel,
  readOrgSpend,
  readTraffic,
  readUsageRecord,
} from './normalize';
import { currentCredential } from './session';
import type {
  AdminModel,
  AuditEvent,
  AlertSettings,
  ApiKey,
  Balance,
  CreatedKey,
  FallbackRules,
  LedgerEntry,
  Org,
  OrgModel,
  OrgSpend,
  Page,
  Traffic,
  UsageAggregate,
  UsageRecord,
} from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string | null;
  readonly type: string | null;
  readonly param: string | null;

  constructor(status: number, message: string, code: string | null = null, type: string | null = null, param: string | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.type = type;
    this.param = param;
  }
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof Error) return new ApiError(0, error.message);
  return new ApiError(0, String(error));
}

type Query = Record<string, string | undefined>;

interface CallOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Use this credential instead of the session's (login checks a credential before keeping it). */
  credential?: string;
}

async function readError(res: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON: a proxy or a crash page; fall through to a generic message.
  }
  const err = asObject(asObject(body).error);
  const message = typeof err.message === 'string' && err.message ? err.message : `Tollgate answered HTTP ${res.status} ${res.statusText}`.trim();
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return new ApiError(res.status, message, text(err.code), text(err.type), text(err.param));
}

async function call(method: string, path: string, opts: CallOptions = {}): Promise<unknown> {
  const credential = opts.credential ?? currentCredential();
  if (!credential) throw new ApiError(401, 'You are not logged in. Paste a management key or the admin token.', 'missing_api_key');
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') params.set(k, v);
  const url = params.size > 0 ? `${path}?${params}` : path;
  const headers: Record<string, string> = { Accept: 'application/json', Authorization: `Bearer ${credential}` };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'Could not reach Tollgate. Check that the server is running and your network is up, then try again.');
  }
  if (!res.ok) throw await readError(res);
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(res.status, 'Tollgate sent a response the console could not read.');
  }
}

/* ---- login ---- */

/** Checks a credential against the routes it should open and says which view it unlocks. */
export async function verifyCredential(credential: string): Promise<'org' | 'operator'> {
  if (credential.startsWith('mk-tg-')) {
    await call('GET', '/api/keys', { credential });
    return 'org';
  }
  await call('GET', '/admin/orgs', { credential });
  return 'operator';
}

/* ---- org: balance, keys ---- */

export async function getBalance(signal?: AbortSignal): Promise<Balance> {
  return readBalance(await call('GET', '/api/balance', { signal }));
}

export async function listKeys(signal?: AbortSignal): Promise<ApiKey[]> {
  return listOf(await call('GET', '/api/keys', { signal })).map(readKey);
}

export interface KeyFields {
  name?: string;
  budget_usd?: number | null;
  rpm?: number | null;
  tpm?: number | null;
  allowed_models?: string[] | null;
  fallbacks?: FallbackRules;
  expires_at?: string | null;
  disabled?: boolean;
}

export async function createKey(fields: KeyFields): Promise<CreatedKey> {
  return readCreatedKey(await call('POST', '/api/keys', { body: fields }));
}

/** A further management key (mk-tg-…) for the signed-in organisation. */
export async function createManagementKey(name: string): Promise<CreatedKey> {
  return readCreatedKey(await call('POST', '/api/keys', { body: { name, type: 'management' } }));
}

/** Operator: a management key for any organisation. */
export async function mintOrgManagementKey(orgId: string, name: string): Promise<CreatedKey> {
  return readCreatedKey(await call('POST', `/admin/orgs/${encodeURIComponent(orgId)}/keys`, { body: { name, type: 'management' } }));
}

export async function updateKey(id: string, fields: KeyFields): Promise<ApiKey> {
  return readKey(await call('PATCH', `/api/keys/${encodeURIComponent(id)}`, { body: fields }));
}

export async function revokeKey(id: string): Promise<ApiKey> {
  return readKey(await call('DELETE', `/api/keys/${encodeURIComponent(id)}`));
}

export async function rotateKey(id: string, overlapSeconds: number): Promise<CreatedKey> {
  return readCreatedKey(await call('POST', `/api/keys/${encodeURIComponent(id)}/rotate`, { body: { overlap_s: overlapSeconds } }));
}

/* ---- org: usage, ledger ---- */

export interface UsageFilters {
  key_id?: string;
  model?: string;
  /** the inference route (the records' surface): chat, completions, images … */
  route?: string;
  from?: string;
  to?: string;
}

export async function listUsage(filters: UsageFilters, cursor: string | undefined, signal?: AbortSignal): Promise<Page<UsageRecord>> {
  return pageOf(await call('GET', '/api/usage', { query: { ...filters, cursor }, signal }), readUsageRecord);
}

export async function aggregateUsage(
  groupBy: 'day' | 'hour' | 'model' | 'key',
  filters: UsageFilters,
  signal?: AbortSignal,
): Promise<UsageAggregate[]> {
  return listOf(await call('GET', '/api/usage', { query: { ...filters, group_by: groupBy }, signal })).map(readAggregate);
}

export async function listLedger(cursor: string | undefined, signal?: AbortSignal): Promise<Page<LedgerEntry>> {
  return pageOf(await call('GET', '/api/ledger', { query: { cursor }, signal }), readLedgerEntry);
}

/* ---- org: alerts, models ---- */

export async function getAlerts(signal?: AbortSignal): Promise<AlertSettings> {
  return readAlerts(await call('GET', '/api/alerts', { signal }));
}

export async function putAlerts(settings: AlertSettings): Promise<AlertSettings> {
  return readAlerts(await call('PUT', '/api/alerts', { body: settings }));
}

/** The delivery report is shown as returned; its fields vary by channel (webhook, email). */
export async function testAlerts(): Promise<unknown> {
  return call('POST', '/api/alerts/test', { body: {} });
}

export async function listOrgModels(signal?: AbortSignal): Promise<OrgModel[]> {
  return listOf(await call('GET', '/api/models', { signal })).map(readOrgModel);
}

/* ---- operator ---- */

export async function listOrgs(signal?: AbortSignal): Promise<Org[]> {
  return listOf(await call('GET', '/admin/orgs', { signal })).map(readOrg);
}

export interface OrgFields {
  name?: string;
  credits_usd?: number;
  allowed_models?: string[] | null;
  spend_cap_usd?: number | null;
  disabled?: boolean;
}

export async function createOrg(fields: OrgFields): Promise<{ org: Org; management_key: string }> {
  const o = asObject(await call('POST', '/admin/orgs', { body: fields }));
  const key = o.management_key;
  return { org: readOrg(o.org), management_key: typeof key === 'string' ? key : '' };
}

export async function updateOrg(id: string, fields: OrgFields): Promise<Org> {
  return readOrg(await call('PATCH', `/admin/orgs/${encodeURIComponent(id)}`, { body: fields }));
}

export async function creditOrg(id: string, grant: { amount_usd: number; note?: string; idempotency_key: string }): Promise<number | null> {
  const o = asObject(await call('POST', `/admin/orgs/${encodeURIComponent(id)}/credits`, { body: grant }));
  return typeof o.balance_usd === 'number' ? o.balance_usd : null;
}

export async function listAdminModels(signal?: AbortSignal): Promise<AdminModel[]> {
  return listOf(await call('GET', '/admin/models', { signal })).map(readAdminModel);
}

export interface AdminUsageFilters extends UsageFilters {
  org_id?: string;
}

export async function listAdminUsage(filters: AdminUsageFilters, cursor: string | undefined, signal?: AbortSignal): Promise<Page<UsageRecord>> {
  return pageOf(await call('GET', '/admin/usage', { query: { ...filters, cursor }, signal }), readUsageRecord);
}

export async function getTraffic(query: { from: string; bucket: 'hour' | 'day'; by?: 'model' | 'provider' }, signal?: AbortSignal): Promise<Traffic> {
  return readTraffic(await call('GET', '/admin/stats', { query, signal }));
}

export async function listTopOrgs(from: string, limit: number, signal?: AbortSignal): Promise<OrgSpend[]> {
  return listOf(await call('GET', '/admin/stats/orgs', { query: { from, limit: String(limit) }, signal })).map(readOrgSpend);
}

/* ---- audit trail ---- */

export interface AuditFilters {
  action?: string;
  actor?: string;
  target?: string;
  since?: string;
  until?: string;
  org_id?: string;
}

/** The org's own audit trail (management key) or every org's (admin token). */
export async function listAudit(scope: 'org' | 'operator', filters: AuditFilters, cursor: string | undefined, signal?: AbortSignal): Promise<Page<AuditEvent>> {
  const path = scope === 'operator' ? '/admin/audit' : '/api/audit';
  const query = scope === 'operator' ? { ...filters, cursor } : { ...filters, org_id: undefined, cursor };
  return pageOf(await call('GET', path, { query, signal }), readAuditEvent);
}

export interface RequestLog {
  route: string;
  request: string;
  response: string;
  truncated: boolean;
  expires_at: Date | null;
}

/** The bodies kept for one request, or null when the org keeps none (or they expired). */
export async function getRequestLog(requestId: string, signal?: AbortSignal): Promise<RequestLog | null> {
  const o = asObject(await call('GET', `/api/usage/${encodeURIComponent(requestId)}`, { signal }));
  const log = o.request_log;
  if (!log || typeof log !== 'object') return null;
  const l = log as Record<string, unknown>;
  return {
    route: typeof l.route === 'string' ? l.route : '',
    request: typeof l.request === 'string' ? l.request : '',
    response: typeof l.response === 'string' ? l.response : '',
    truncated: l.truncated === true,
    expires_at: typeof l.expires_at === 'string' ? new Date(l.expires_at) : null,
  };
}

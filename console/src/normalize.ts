// Reads the server's JSON into the console's types. The API may add fields (SPEC §2) and a
// few names have equivalents (epoch ms or ISO times, micro-USD or USD), so every reader is
// lenient about extras and strict about what it shows.
import type {
  AdminModel,
  AuditEvent,
  AlertSettings,
  ApiKey,
  Balance,
  BreakerState,
  ChannelState,
  CreatedKey,
  FallbackRules,
  KeyStatus,
  LedgerEntry,
  ModelPricing,
  Org,
  OrgModel,
  OrgSpend,
  Page,
  Traffic,
  TrafficPoint,
  UsageAggregate,
  UsageRecord,
} from './types';

type Obj = Record<string, unknown>;

export function asObject(value: unknown): Obj {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Obj) : {};
}

function pick(o: Obj, names: string[]): unknown {
  for (const n of names) if (o[n] !== undefined && o[n] !== null) return o[n];
  return undefined;
}

function num(o: Obj, ...names: string[]): number | null {
  const v = pick(o, names);
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function str(o: Obj, ...names: string[]): string | null {
  const v = pick(o, names);
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return null;
}

function bool(o: Obj, ...names: string[]): boolean | null {
  const v = pick(o, names);
  return typeof v === 'boolean' ? v : null;
}

/** USD from a `*_usd` field, or from its integer `*_micros` twin. */
function usd(o: Obj, base: string): number | null {
  const direct = num(o, `${base}_usd`);
  if (direct !== null) return direct;
  const micros = num(o, `${base}_micros`);
  return micros === null ? null : micros / 1_000_000;
}

export function toDate(value: unknown): Date | null {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') {
    // Seconds and milliseconds are both common epoch units; 1e12 ms is in 2001.
    const date = new Date(value < 1e12 ? value * 1000 : value);
    return Number.isNaN(date.getTime()) ? null : date;
  }
  if (typeof value === 'string') {
    const date = /^\d+$/.test(value) ? toDate(Number(value)) : new Date(value);
    return date && !Number.isNaN(date.getTime()) ? date : null;
  }
  return null;
}

function stringList(value: unknown): string[] | null {
  if (!Array.isArray(value)) return null;
  return value.filter((v): v is string => typeof v === 'string');
}

function fallbackRules(value: unknown): FallbackRules {
  const out: FallbackRules = {};
  for (const [model, list] of Object.entries(asObject(value))) {
    const targets = stringList(list);
    if (targets) out[model] = targets;
  }
  return out;
}

/** Lists come as `{data: [...]}` (OpenAI style) or as a bare array. */
export function listOf(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  const data = asObject(value).data;
  return Array.isArray(data) ? data : [];
}

export function pageOf<T>(value: unknown, read: (raw: unknown) => T): Page<T> {
  const cursor = asObject(value).next_cursor;
  return { data: listOf(value).map(read), next_cursor: typeof cursor === 'string' && cursor ? cursor : null };
}

export function readBalance(raw: unknown): Balance {
  const o = asObject(raw);
  return { balance_usd: usd(o, 'balance'), currency: str(o, 'currency') ?? 'USD' };
}

export function readKey(raw: unknown): ApiKey {
  const o = asObject(raw);
  const disabled = bool(o, 'disabled') ?? false;
  const revoked = bool(o, 'revoked') === true || pick(o, ['revoked_at']) !== undefined;
  const expires = toDate(pick(o, ['expires_at']));
  let status: KeyStatus = 'active';
  const declared = str(o, 'status');
  if (declared === 'revoked' || revoked) status = 'revoked';
  else if (declared === 'expired' || (expires !== null && expires.getTime() <= Date.now())) status = 'expired';
  else if (disabled || declared === 'disabled') status = 'disabled';
  const prefix = str(o, 'prefix', 'display_prefix') ?? '';
  return {
    id: str(o, 'id') ?? '',
    kind: str(o, 'type') === 'management' || prefix.startsWith('mk-') ? 'management' : 'inference',
    name: str(o, 'name'),
    prefix,
    status,
    disabled,
    expires_at: expires,
    budget_usd: usd(o, 'budget'),
    spend_usd: usd(o, 'spend'),
    rpm: num(o, 'rpm'),
    tpm: num(o, 'tpm'),
    allowed_models: stringList(o.allowed_models),
    fallbacks: fallbackRules(o.fallbacks),
    created_at: toDate(pick(o, ['created_at'])),
  };
}

export function readCreatedKey(raw: unknown): CreatedKey {
  const o = asObject(raw);
  const inner = asObject(o.api_key);
  return {
    id: str(o, 'id') ?? str(inner, 'id') ?? '',
    key: str(o, 'key') ?? str(inner, 'key') ?? '',
    prefix: str(o, 'prefix') ?? str(inner, 'prefix') ?? '',
  };
}

export function readUsageRecord(raw: unknown): UsageRecord {
  const o = asObject(raw);
  const cachedRaw = pick(o, ['cached', 'cache']);
  let cached: false | string = false;
  if (cachedRaw === true) cached = str(o, 'cache_type') ?? 'hit';
  else if (typeof cachedRaw === 'string' && cachedRaw && cachedRaw !== 'MISS' && cachedRaw !== 'BYPASS') cached = cachedRaw;
  return {
    request_id: str(o, 'request_id', 'id') ?? '',
    org_id: str(o, 'org_id'),
    org_name: str(o, 'org_name'),
    key_id: str(o, 'key_id') ?? '',
    model: str(o, 'model') ?? '',
    requested_model: str(o, 'requested_model'),
    surface: str(o, 'surface'),
    prompt_tokens: num(o, 'prompt_tokens') ?? 0,
    completion_tokens: num(o, 'completion_tokens') ?? 0,
    cost_usd: usd(o, 'cost') ?? 0,
    cached,
    status: num(o, 'status') ?? 0,
    error_code: str(o, 'error_code'),
    latency_ms: num(o, 'latency_ms'),
    fallback: str(o, 'fallback'),
    stream: bool(o, 'stream'),
    estimated: bool(o, 'estimated'),
    attempts: num(o, 'attempts'),
    created_at: toDate(pick(o, ['created_at'])),
  };
}

export function readAggregate(raw: unknown): UsageAggregate {
  const o = asObject(raw);
  return {
    bucket: toDate(pick(o, ['bucket', 'day', 'date', 'period', 'start', 'hour'])),
    model: str(o, 'model'),
    key_id: str(o, 'key_id'),
    requests: num(o, 'requests', 'count', 'request_count') ?? 0,
    errors: num(o, 'errors', 'error_count') ?? 0,
    cache_hits: num(o, 'cache_hits') ?? 0,
    prompt_tokens: num(o, 'prompt_tokens') ?? 0,
    completion_tokens: num(o, 'completion_tokens') ?? 0,
    cost_usd: usd(o, 'cost') ?? 0,
  };
}

export function readTrafficPoint(raw: unknown): TrafficPoint {
  const o = asObject(raw);
  return {
    bucket: toDate(pick(o, ['bucket'])),
    model: str(o, 'model'),
    provider: str(o, 'provider'),
    requests: num(o, 'requests') ?? 0,
    errors: num(o, 'errors') ?? 0,
    cache_hits: num(o, 'cache_hits') ?? 0,
    prompt_tokens: num(o, 'prompt_tokens') ?? 0,
    completion_tokens: num(o, 'completion_tokens') ?? 0,
    revenue_usd: usd(o, 'revenue') ?? 0,
    avg_latency_ms: num(o, 'avg_latency_ms') ?? 0,
    p95_latency_le_ms: num(o, 'p95_latency_le_ms'),
  };
}

export function readTraffic(raw: unknown): Traffic {
  const o = asObject(raw);
  return { bucket: o.bucket === 'day' ? 'day' : 'hour', totals: readTrafficPoint(o.totals), data: listOf(raw).map(readTrafficPoint) };
}

export function readOrgSpend(raw: unknown): OrgSpend {
  const o = asObject(raw);
  return {
    org_id: str(o, 'org_id') ?? '',
    name: str(o, 'name'),
    requests: num(o, 'requests') ?? 0,
    errors: num(o, 'errors') ?? 0,
    revenue_usd: usd(o, 'revenue') ?? 0,
  };
}

export function readLedgerEntry(raw: unknown): LedgerEntry {
  const o = asObject(raw);
  return {
    id: str(o, 'id') ?? '',
    kind: str(o, 'kind') ?? '',
    amount_usd: usd(o, 'amount') ?? 0,
    note: str(o, 'note'),
    request_id: str(o, 'request_id'),
    key_id: str(o, 'key_id'),
    created_at: toDate(pick(o, ['created_at'])),
  };
}

export function readAlerts(raw: unknown): AlertSettings {
  const o = asObject(raw);
  // Some servers wrap the settings document; accept both.
  const s = o.settings && typeof o.settings === 'object' ? asObject(o.settings) : o;
  return {
    webhook_url: str(s, 'webhook_url'),
    email: str(s, 'email'),
    events: stringList(s.events) ?? [],
    balance_low_usd: num(s, 'balance_low_usd'),
    budget_threshold_pct: num(s, 'budget_threshold_pct'),
  };
}

function readPricing(raw: unknown): ModelPricing {
  const o = asObject(raw);
  const input = num(o, 'input_per_mtok', 'input');
  const output = num(o, 'output_per_mtok', 'output');
  // OpenRouter-style listings quote USD per single token as `prompt` / `completion`.
  const perTokenIn = num(o, 'prompt');
  const perTokenOut = num(o, 'completion');
  return {
    input_per_mtok: input ?? (perTokenIn === null ? null : perTokenIn * 1_000_000),
    output_per_mtok: output ?? (perTokenOut === null ? null : perTokenOut * 1_000_000),
  };
}

export function readOrgModel(raw: unknown): OrgModel {
  const o = asObject(raw);
  const maintenance = bool(o, 'maintenance');
  return {
    id: str(o, 'id') ?? '',
    context_length: num(o, 'context_length', 'context_window'),
    max_output_tokens: num(o, 'max_output_tokens'),
    pricing: readPricing(o.pricing),
    available: bool(o, 'available') ?? (maintenance === null ? null : !maintenance),
    owned_by: str(o, 'owned_by', 'provider'),
    mock: bool(o, 'mock') === true || /(^|[-,])mock($|,)/.test(str(o, 'owned_by') ?? ''),
  };
}

export function readOrg(raw: unknown): Org {
  const o = asObject(raw);
  return {
    id: str(o, 'id') ?? '',
    name: str(o, 'name') ?? '',
    balance_usd: usd(o, 'balance'),
    disabled: bool(o, 'disabled') ?? false,
    allowed_models: stringList(o.allowed_models),
    spend_cap_usd: usd(o, 'spend_cap'),
    spend_usd: usd(o, 'spend'),
    created_at: toDate(pick(o, ['created_at'])),
  };
}

function readBreaker(value: unknown): BreakerState {
  const s = typeof value === 'string' ? value.toLowerCase().replace(/[_ ]/g, '-') : '';
  if (s === 'closed' || s === 'open' || s === 'half-open') return s;
  return 'unknown';
}

function readChannel(raw: unknown, index: number): ChannelState {
  const o = asObject(raw);
  const breaker = pick(o, ['state', 'breaker', 'circuit', 'breaker_state', 'circuit_state']);
  const rate = num(o, 'error_rate', 'recent_error_rate');
  return {
    id: str(o, 'id') ?? `${str(o, 'provider') ?? 'channel'}-${index}`,
    provider: str(o, 'provider', 'provider_id') ?? '',
    provider_type: str(o, 'provider_type', 'type'),
    upstream_model: str(o, 'upstream_model') ?? '',
    state: typeof breaker === 'object' ? readBreaker(asObject(breaker).state) : readBreaker(breaker),
    // Rates are fractions; a value above 1 can only be a percentage.
    error_rate: rate === null ? null : rate > 1 ? rate / 100 : rate,
    latency_ms: num(o, 'latency_ms', 'latency_p50_ms', 'p50_latency_ms', 'avg_latency_ms', 'latency_avg_ms'),
    requests: num(o, 'requests', 'recent_requests'),
    priority: num(o, 'priority'),
    weight: num(o, 'weight'),
  };
}

export function readAdminModel(raw: unknown): AdminModel {
  const o = asObject(raw);
  const channels = Array.isArray(o.channels) ? o.channels : [];
  return {
    id: str(o, 'id') ?? '',
    maintenance: bool(o, 'maintenance') ?? false,
    context_length: num(o, 'context_length', 'context_window'),
    pricing: readPricing(o.pricing),
    channels: channels.map(readChannel),
  };
}

function snapshotOf(value: unknown): Record<string, unknown> | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

export function readAuditEvent(raw: unknown): AuditEvent {
  const o = asObject(raw);
  return {
    id: str(o, 'id') ?? '',
    org_id: str(o, 'org_id'),
    actor: str(o, 'actor') ?? '',
    action: str(o, 'action') ?? '',
    target: str(o, 'target'),
    before: snapshotOf(o.before),
    after: snapshotOf(o.after),
    source_ip: str(o, 'source_ip'),
    created_at: toDate(pick(o, ['created_at'])),
  };
}

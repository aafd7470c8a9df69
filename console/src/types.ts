// The shapes the console works with, after normalize.ts has read the server's JSON.

export type FallbackRules = Record<string, string[]>;

export interface Balance {
  balance_usd: number | null;
  currency: string;
}

export type KeyStatus = 'active' | 'disabled' | 'revoked' | 'expired';

export interface ApiKey {
  id: string;
  /** management keys (mk-tg-…) are listed beside inference keys */
  kind: 'inference' | 'management';
  name: string | null;
  prefix: string;
  status: KeyStatus;
  disabled: boolean;
  expires_at: Date | null;
  budget_usd: number | null;
  spend_usd: number | null;
  rpm: number | null;
  tpm: number | null;
  allowed_models: string[] | null;
  fallbacks: FallbackRules;
  created_at: Date | null;
}

export interface CreatedKey {
  id: string;
  key: string;
  prefix: string;
}

export interface UsageRecord {
  request_id: string;
  /** set on the operator's listing across orgs */
  org_id: string | null;
  org_name: string | null;
  key_id: string;
  model: string;
  requested_model: string | null;
  /** the inference route it came in on (chat, completions, images …) */
  surface: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  /** false, or the cache layer that answered */
  cached: false | string;
  status: number;
  error_code: string | null;
  latency_ms: number | null;
  fallback: string | null;
  stream: boolean | null;
  estimated: boolean | null;
  attempts: number | null;
  created_at: Date | null;
}

export interface UsageAggregate {
  bucket: Date | null;
  model: string | null;
  key_id: string | null;
  requests: number;
  errors: number;
  cache_hits: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
}

export interface LedgerEntry {
  id: string;
  kind: string;
  amount_usd: number;
  note: string | null;
  request_id: string | null;
  key_id: string | null;
  created_at: Date | null;
}

export interface AuditEvent {
  id: string;
  org_id: string | null;
  actor: string;
  action: string;
  target: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source_ip: string | null;
  created_at: Date | null;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export const ALERT_EVENTS = ['model.unavailable', 'model.recovered', 'balance.low', 'budget.threshold'] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number];

export interface AlertSettings {
  webhook_url: string | null;
  email: string | null;
  events: string[];
  balance_low_usd: number | null;
  budget_threshold_pct: number | null;
}

export interface ModelPricing {
  input_per_mtok: number | null;
  output_per_mtok: number | null;
}

export interface OrgModel {
  id: string;
  context_length: number | null;
  max_output_tokens: number | null;
  pricing: ModelPricing;
  available: boolean | null;
  owned_by: string | null;
  /** served by the built-in mock provider: labelled so nobody mistakes it for a real model */
  mock: boolean;
}

export interface Org {
  id: string;
  name: string;
  balance_usd: number | null;
  disabled: boolean;
  allowed_models: string[] | null;
  spend_cap_usd: number | null;
  spend_usd: number | null;
  created_at: Date | null;
}

export type BreakerState = 'closed' | 'open' | 'half-open' | 'unknown';

export interface ChannelState {
  id: string;
  provider: string;
  provider_type: string | null;
  upstream_model: string;
  state: BreakerState;
  error_rate: number | null;
  latency_ms: number | null;
  requests: number | null;
  priority: number | null;
  weight: number | null;
}

export interface AdminModel {
  id: string;
  maintenance: boolean;
  context_length: number | null;
  pricing: ModelPricing;
  channels: ChannelState[];
}

/** One point of the operator's traffic series (GET /admin/stats). */
export interface TrafficPoint {
  bucket: Date | null;
  model: string | null;
  provider: string | null;
  requests: number;
  errors: number;
  cache_hits: number;
  prompt_tokens: number;
  completion_tokens: number;
  revenue_usd: number;
  avg_latency_ms: number;
  p95_latency_le_ms: number | null;
}

export interface Traffic {
  bucket: 'hour' | 'day';
  totals: TrafficPoint;
  data: TrafficPoint[];
}

export interface OrgSpend {
  org_id: string;
  name: string | null;
  requests: number;
  errors: number;
  revenue_usd: number;
}

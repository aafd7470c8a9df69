// The shapes of the answers of /api and /admin, declared once: the present* functions are typed
// by them (a field added to an answer must be added here), and the OpenAPI document is generated
// from them. Management answers are exact. Only the management routes import this module (they
// load on their first request, see routes/management.ts), so a gateway that serves inference
// alone never builds these schemas.
import { z } from 'zod';
import { isoTime, modelObject, pageOf, usd } from './schemas.js';

const fallbacks = z.record(z.string(), z.array(z.string())).meta({ description: 'model id -> ordered fallback model ids' });

/** An org's request log setting (bodies kept for `retention_days`, off by default). */
export const requestLogSettingObject = z.object({
  enabled: z.boolean(),
  retention_days: z.number().int().min(1).max(90),
});
/** The body that changes it: `enabled`, and optionally `retention_days` (1–90, default 7). */
export const requestLogSettingBody = z.object({ enabled: z.boolean(), retention_days: z.number().int().min(1).max(90).optional() }).strict();

export const orgObject = z.object({
  id: z.string(),
  object: z.literal('organization'),
  name: z.string(),
  balance_usd: usd,
  spend_usd: usd,
  disabled: z.boolean(),
  allowed_models: z.array(z.string()).nullable(),
  spend_cap_usd: usd.nullable(),
  fallbacks,
  rpm: z.number().int().nullable(),
  tpm: z.number().int().nullable(),
  max_concurrency: z.number().int().nullable().meta({ description: 'Requests in flight at once; null: the configured default.' }),
  semantic_cache: z.boolean(),
  request_logs: requestLogSettingObject,
  created_at: isoTime.nullable(),
  updated_at: isoTime.nullable(),
});
export type OrgObject = z.infer<typeof orgObject>;

export const keyObject = z.object({
  id: z.string(),
  object: z.literal('api_key'),
  type: z.enum(['inference', 'management']),
  name: z.string().nullable(),
  prefix: z.string(),
  status: z.enum(['active', 'revoked', 'expired', 'disabled']),
  disabled: z.boolean(),
  revoked_at: isoTime.nullable(),
  expires_at: isoTime.nullable(),
  budget_usd: usd.nullable(),
  spend_usd: usd,
  rpm: z.number().int().nullable(),
  tpm: z.number().int().nullable(),
  max_concurrency: z.number().int().nullable().meta({ description: 'Requests in flight at once; null: the configured default.' }),
  allowed_models: z.array(z.string()).nullable(),
  fallbacks,
  cache: z.record(z.string(), z.unknown()).nullable(),
  rotated_from: z.string().nullable(),
  created_at: isoTime.nullable(),
  updated_at: isoTime.nullable(),
});
export type KeyObject = z.infer<typeof keyObject>;
/** A key as made: the only answer that shows the whole key. */
export const createdKeyObject = keyObject.extend({ key: z.string().meta({ description: 'The whole key, shown once.' }) });
export const rotatedKeyObject = createdKeyObject.extend({ previous: keyObject });

export const ledgerObject = z.object({
  id: z.string(),
  kind: z.enum(['grant', 'charge']),
  amount_usd: usd.meta({ description: 'Signed: grants positive, charges negative.' }),
  note: z.string().nullable(),
  key_id: z.string().nullable(),
  request_id: z.string().nullable(),
  created_at: isoTime.nullable(),
});
export type LedgerObject = z.infer<typeof ledgerObject>;

export const usageObject = z.object({
  request_id: z.string(),
  key_id: z.string(),
  model: z.string(),
  requested_model: z.string(),
  provider: z.string().nullable(),
  surface: z.string(),
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  cache_read_tokens: z.number().int(),
  cache_write_tokens: z.number().int(),
  reasoning_tokens: z.number().int(),
  cost_usd: usd,
  cached: z.boolean(),
  cache_type: z.enum(['exact', 'semantic']).nullable(),
  status: z.number().int(),
  error_code: z.string().nullable(),
  latency_ms: z.number(),
  stream: z.boolean(),
  estimated: z.boolean(),
  fallback: z.string().nullable(),
  attempts: z.number().int(),
  created_at: isoTime.nullable(),
});
export type UsageObject = z.infer<typeof usageObject>;
/** One usage record with the bodies kept for it, if its org keeps request logs. */
export const usageDetailObject = usageObject.extend({
  request_log: z
    .object({
      route: z.string(),
      request: z.string().meta({ description: 'The request body as JSON text, secrets redacted, cut at 65 536 characters.' }),
      response: z.string().meta({ description: 'The JSON answer, or the stream as sent (server-sent events), secrets redacted, cut at 65 536 characters.' }),
      truncated: z.boolean(),
      expires_at: isoTime,
    })
    .nullable(),
});

export const usageGroupObject = z.object({
  bucket: isoTime.optional(),
  model: z.string().optional(),
  key_id: z.string().optional(),
  requests: z.number().int(),
  errors: z.number().int(),
  cache_hits: z.number().int(),
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  cost_usd: usd,
});
export const usageGroupsAnswer = z.object({ object: z.literal('list'), group_by: z.array(z.enum(['hour', 'day', 'model', 'key'])), data: z.array(usageGroupObject), next_cursor: z.null() });

const concurrencyState = z
  .object({
    in_flight: z.number().int().nullable().meta({ description: 'Requests running now (null when the count could not be read).' }),
    limit: z.number().int().nullable().meta({ description: 'max_concurrency in force; null: unlimited.' }),
  })
  .meta({ description: 'Requests in flight against max_concurrency.' });

export const balanceAnswer = z.object({
  balance_usd: usd,
  currency: z.literal('USD'),
  reserved_usd: usd.meta({ description: 'Held for requests in flight.' }),
  spend_cap_usd: usd.optional(),
  concurrency: concurrencyState,
  key: z
    .object({
      id: z.string(),
      spend_usd: usd,
      budget_usd: usd.nullable(),
      remaining_usd: usd.nullable(),
      rpm: z.number().int().nullable(),
      tpm: z.number().int().nullable(),
      concurrency: concurrencyState,
    })
    .optional()
    .meta({ description: 'The calling inference key (absent for a management key).' }),
});

export const ledgerPage = pageOf(ledgerObject).extend({ balance_usd: usd });

export const alertSettingsAnswer = z.object({
  webhook_url: z.string().nullable(),
  email: z.string().nullable(),
  events: z.array(z.string()),
  balance_low_usd: usd.nullable(),
  budget_threshold_pct: z.number().nullable(),
  webhook_secret_set: z.boolean(),
  webhook_secret: z.string().optional().meta({ description: 'Shown once, when first made.' }),
});
export const alertTestAnswer = z.object({ delivered: z.boolean(), channel: z.enum(['webhook', 'email', 'none']), status: z.number().int().optional(), attempts: z.number().int() });
export const webhookSecretAnswer = z.object({ webhook_secret: z.string() });

export const creditAnswer = z.object({ balance_usd: usd, ledger_entry: ledgerObject, applied: z.boolean().meta({ description: 'false when the idempotency key had already been used' }) });
export const createdOrgAnswer = z.object({ org: orgObject, management_key: z.string().meta({ description: 'The org\'s first management key, shown once.' }) });

export const adminModelObject = z.object({
  id: z.string(),
  type: z.string().meta({ description: 'The model kind: chat, embedding, image, …' }),
  maintenance: z.boolean(),
  available: z.boolean(),
  context_length: z.number().int(),
  max_output_tokens: z.number().int(),
  pricing: z.record(z.string(), z.unknown()),
  channels: z.array(
    z.object({
      id: z.string(),
      provider: z.string(),
      provider_type: z.string(),
      upstream_model: z.string(),
      priority: z.number(),
      weight: z.number(),
      state: z.enum(['closed', 'open', 'half-open']),
      error_rate: z.number(),
      requests: z.number().int(),
      latency_ms: z.number().nullable(),
    }),
  ),
});
export const accountModelObject = modelObject.extend({ maintenance: z.boolean(), available: z.boolean() });

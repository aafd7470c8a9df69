// The shapes of the answers of /v1, /api and /admin, declared once: the present* functions are
// typed by them (a field added to an answer must be added here), and the OpenAPI document
// (GET /openapi.json) is generated from them. Management answers are exact; inference answers
// follow OpenAI's and Anthropic's objects, whose optional fields vary, so they list the fields
// every answer has and allow the rest.
import { z } from 'zod';

const isoTime = z.string().meta({ description: 'ISO 8601 time' });
const usd = z.number().meta({ description: 'US dollars' });
const fallbacks = z.record(z.string(), z.array(z.string())).meta({ description: 'model id -> ordered fallback model ids' });

export const listOf = <T extends z.ZodType>(item: T) => z.object({ object: z.literal('list'), data: z.array(item) });
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ object: z.literal('list'), data: z.array(item), next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page.' }) });

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

/** A model as the inference API lists it (OpenAI's and Anthropic's fields, plus Tollgate's). */
export const modelObject = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.number().int(),
    display_name: z.string(),
    created_at: isoTime,
    owned_by: z.string(),
    type: z.literal('model'),
    kind: z.string().meta({ description: 'chat, embedding, image, …' }),
    aliases: z.array(z.string()),
    context_length: z.number().int(),
    max_output_tokens: z.number().int(),
    pricing: z.object({ input_per_mtok: z.number(), output_per_mtok: z.number(), currency: z.literal('USD') }).loose(),
    supported_parameters: z.array(z.string()),
  })
  .loose();
export const modelPage = listOf(modelObject).extend({ has_more: z.boolean(), first_id: z.string().nullable(), last_id: z.string().nullable() });
export const accountModelObject = modelObject.extend({ maintenance: z.boolean(), available: z.boolean() });

// Inference: request bodies are checked by each surface's own validator (one pass, SPEC's exact
// errors); these describe their main fields, and answers list the fields every answer has.
const message = z.object({ role: z.string(), content: z.unknown().optional() }).loose();
export const chatRequest = z
  .object({
    model: z.string(),
    messages: z.array(message).min(1),
    stream: z.boolean().optional(),
    max_tokens: z.number().int().optional(),
    max_completion_tokens: z.number().int().optional(),
    temperature: z.number().optional(),
    tools: z.array(z.object({ type: z.string() }).loose()).optional(),
  })
  .loose()
  .meta({ description: 'OpenAI Chat Completions request; other OpenAI parameters are accepted as documented in docs/api.md.' });
const tokenUsage = z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() }).loose();
export const chatCompletion = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(z.object({ index: z.number().int(), message: z.object({ role: z.literal('assistant') }).loose(), finish_reason: z.string().nullable() }).loose()),
    usage: tokenUsage,
  })
  .loose();

export const completionsRequest = z
  .object({
    model: z.string(),
    prompt: z.union([z.string(), z.array(z.string()), z.array(z.number().int()), z.array(z.array(z.number().int()))]),
    suffix: z.string().nullable().optional(),
    max_tokens: z.number().int().optional(),
    stream: z.boolean().optional(),
  })
  .loose()
  .meta({ description: 'OpenAI legacy Completions request.' });
export const textCompletion = z
  .object({
    id: z.string(),
    object: z.literal('text_completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(z.object({ index: z.number().int(), text: z.string(), finish_reason: z.string().nullable() }).loose()),
    usage: tokenUsage,
  })
  .loose();

export const responsesRequest = z
  .object({ model: z.string(), input: z.unknown().optional(), instructions: z.string().optional(), stream: z.boolean().optional(), store: z.boolean().optional(), previous_response_id: z.string().optional() })
  .loose()
  .meta({ description: 'OpenAI Responses request.' });
export const responseObject = z
  .object({
    id: z.string(),
    object: z.literal('response'),
    created_at: z.number().int(),
    status: z.string(),
    model: z.string(),
    output: z.array(z.object({ type: z.string() }).loose()),
  })
  .loose();
export const responseDeleted = z.object({ id: z.string(), object: z.literal('response'), deleted: z.literal(true) });
export const inputItemsPage = z.object({ object: z.literal('list'), data: z.array(z.object({ type: z.string() }).loose()), first_id: z.string().nullable(), last_id: z.string().nullable(), has_more: z.boolean() }).loose();

export const messagesRequest = z
  .object({ model: z.string(), max_tokens: z.number().int(), messages: z.array(message), system: z.unknown().optional(), stream: z.boolean().optional() })
  .loose()
  .meta({ description: 'Anthropic Messages request.' });
export const messageObject = z
  .object({
    id: z.string(),
    type: z.literal('message'),
    role: z.literal('assistant'),
    model: z.string(),
    content: z.array(z.object({ type: z.string() }).loose()),
    stop_reason: z.string().nullable(),
    usage: z.object({ input_tokens: z.number().int(), output_tokens: z.number().int() }).loose(),
  })
  .loose();
export const countTokensRequest = z.object({ model: z.string(), messages: z.array(message), system: z.unknown().optional() }).loose();
export const countTokensAnswerSchema = z.object({ input_tokens: z.number().int() });

export const embeddingsRequest = z
  .object({ model: z.string(), input: z.union([z.string(), z.array(z.string()), z.array(z.number()), z.array(z.array(z.number()))]), encoding_format: z.enum(['float', 'base64']).optional(), dimensions: z.number().int().optional() })
  .loose();
export const embeddingsAnswer = z
  .object({
    object: z.literal('list'),
    data: z.array(z.object({ object: z.literal('embedding'), index: z.number().int(), embedding: z.union([z.array(z.number()), z.string()]) }).loose()),
    model: z.string(),
    usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }).loose(),
  })
  .loose();

export const imagesRequest = z
  .object({
    model: z.string(),
    prompt: z.string(),
    n: z.number().int().optional(),
    size: z.string().optional(),
    quality: z.string().optional(),
    response_format: z.enum(['b64_json', 'url']).optional(),
  })
  .loose()
  .meta({ description: 'OpenAI Images generation request.' });
export const imagesAnswer = z
  .object({
    created: z.number().int(),
    data: z.array(z.object({ b64_json: z.string().optional(), url: z.string().optional(), revised_prompt: z.string().optional() }).loose()),
  })
  .loose();

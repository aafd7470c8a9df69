// The config file's shape (SPEC §8) as a zod schema with every default.
// It validates only; loading, ${ENV} interpolation and the embedded default live beside it.
import { isIP } from 'node:net';
import { z } from 'zod';
import { extraParameterProblem } from '../core/extra-parameters.js';
import { parseStorageUrl } from '../store/storage-url.js';

const positiveInt = z.number().int().positive();
const usd = z.number().nonnegative().finite();

/** An alerts.allowed_hosts entry: a host name, an IP address, or an IP/prefix range. */
function validHostEntry(entry: string): boolean {
  const [net, bits, extra] = entry.split('/');
  if (extra !== undefined) return false;
  const family = isIP(net);
  if (bits === undefined) return family !== 0 || /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(net);
  const n = Number(bits);
  return family !== 0 && /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128);
}

export const timeoutsSchema = z
  .object({
    connect_ms: positiveInt.default(5000),
    first_byte_ms: positiveInt.default(60000),
    idle_ms: positiveInt.default(30000),
    /** a non-stream request's whole duration (its answer arrives only when generation ends) */
    request_ms: positiveInt.default(600000),
  })
  .strict();

export const providerTypes = ['openai', 'anthropic', 'gemini', 'mock', 'azure-openai'] as const;

export const mockFaultSchema = z
  .object({
    latency_ms: z.number().int().nonnegative().default(0),
    /** probability 0..1 of each fault per request */
    error_rate: z.number().min(0).max(1).default(0),
    error_status: z.number().int().min(400).max(599).default(500),
    hang: z.boolean().default(false),
    reset_after_chunks: z.number().int().nonnegative().nullable().default(null),
    malformed: z.boolean().default(false),
  })
  .strict();

/** Provider-specific request fields forwarded upstream (vLLM's top_k, Ollama's options …): names, or "any". */
const extraParametersSchema = z
  .union([
    z.literal('any'),
    z.array(
      z.string().superRefine((name, ctx) => {
        const problem = extraParameterProblem(name);
        if (problem) ctx.addIssue({ code: 'custom', message: `${problem}; it cannot be an extra parameter` });
      }),
    ),
  ])
  .optional();

export const providerSchema = z
  .object({
    id: z.string().min(1).regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, "_", "-" or "."'),
    type: z.enum(providerTypes),
    base_url: z.string().url().optional(),
    api_key: z.string().optional(),
    /** Extra headers sent upstream (e.g. an organisation id). */
    headers: z.record(z.string(), z.string()).default({}),
    timeouts: timeoutsSchema.prefault({}),
    /** Max sockets to the provider's origin; null: as many as requests in flight (see max_in_flight). */
    connections: positiveInt.nullable().default(null),
    /** Requests in flight to this provider at once; beyond it a bounded wait, then 503 overloaded. */
    max_in_flight: positiveInt.default(20000),
    /** How long a request waits for a free slot at max_in_flight before 503 overloaded (0: refuse at once). */
    queue_timeout_ms: z.number().int().nonnegative().default(2000),
    /** The provider speaks HTTP/2: h2 by ALPN over https, prior-knowledge h2c over http; many streams per connection. */
    http2: z.boolean().default(false),
    /** azure-openai only. */
    api_version: z.string().optional(),
    /** mock only: token rate for streaming (tokens/s, 0 = as fast as possible) and faults. */
    tokens_per_second: z.number().nonnegative().default(0),
    faults: mockFaultSchema.optional(),
    extra_parameters: extraParametersSchema,
    /**
     * openai only: the upstream speaks the Responses API (POST {base_url}/responses), so
     * /v1/responses passes through natively. Default: true for OpenAI's own base URL.
     */
    responses: z.boolean().optional(),
    /** Serve any model name as "<id>/<name>", priced from the built-in catalogue by the name (a wildcard route "<id>/*"). */
    pass_through: z.boolean().optional(),
  })
  .strict();

export const channelSchema = z
  .object({
    provider: z.string().min(1),
    upstream_model: z.string().min(1),
    priority: z.number().int().default(0),
    weight: z.number().positive().default(1),
  })
  .strict();

const modelSlug = /^[a-z0-9][a-z0-9._:/-]*$/;
/** A model id: a slug, or a wildcard route such as "openai/*" or "*" (a slug prefix and a final "*"). */
const modelIdPattern = /^(?:[a-z0-9][a-z0-9._:/-]*\*?|\*)$/;

/** True for a wildcard route's id ("openai/*", "*"). */
export function isWildcardId(id: string): boolean {
  return id.endsWith('*');
}

export const PRICING_HELP = 'set pricing: { input_per_mtok, output_per_mtok } in USD per million tokens, or pricing: free for a model that costs nothing';
/** Image prices: one price for every image, or by size (`1024x1024`) and optionally quality (`standard`, `hd`, `low` …). */
export const perImageSchema = z.union([usd, z.record(z.string().min(1), z.union([usd, z.record(z.string().min(1), usd)]))]);
export type PerImagePrice = z.infer<typeof perImageSchema>;

const pricingObject = z
  .object({
    input_per_mtok: usd.default(0),
    output_per_mtok: usd.default(0),
    /** prompt tokens read from the provider's cache; default: a tenth of the input price */
    cache_read_per_mtok: usd.optional(),
    /** prompt tokens written to the provider's cache; default: 1.25× input on Anthropic, the input price elsewhere */
    cache_write_per_mtok: usd.optional(),
    /** image models: USD per image, flat or by size and then quality ({ "1024x1024": { standard: 0.04, hd: 0.08 } }) */
    per_image: perImageSchema.optional(),
    /** transcription models: USD per second of audio (when set, it replaces the token prices) */
    per_audio_second: usd.optional(),
  })
  .strict();
/**
 * `free` is the explicit zero price. The config loader refuses a model without pricing, so none is free by omission.
 * `catalogue` (wildcard routes only, their default) prices each name from the built-in catalogue at request time.
 */
export const pricingSchema = z.union([z.literal('free').transform(() => pricingObject.parse({})), z.literal('catalogue').transform(() => ({ ...pricingObject.parse({}), from_catalogue: true as const })), pricingObject], {
  error: (iss) => (iss.code === 'invalid_union' ? `expected an object or "free" (or "catalogue" on a wildcard route): ${PRICING_HELP}` : undefined),
});

export const modelSchema = z
  .object({
    id: z.string().regex(modelIdPattern, 'a model id is a lowercase slug such as gpt-5.4, or a wildcard route such as openai/*'),
    /** Start from this built-in catalogue entry (its id or alias); every other field given here overrides the entry's. */
    catalogue: z.string().min(1).optional(),
    /** Other names clients send for this model (e.g. claude-sonnet-4-5, claude-sonnet-4-5-20250929). */
    aliases: z.array(z.string().regex(modelSlug, 'an alias is a lowercase slug such as claude-sonnet-4-5')).optional(),
    /** chat (chat, messages, responses, completions), embedding, image (/v1/images/generations), transcription (/v1/audio/*) */
    kind: z.enum(['chat', 'embedding', 'image', 'transcription']).default('chat'),
    context_window: positiveInt.default(128000),
    max_output_tokens: positiveInt.default(16384),
    pricing: pricingSchema.prefault({}),
    supported_parameters: z.array(z.string()).optional(),
    extra_parameters: extraParametersSchema,
    maintenance: z.boolean().default(false),
    description: z.string().optional(),
    channels: z.array(channelSchema).min(1, 'a model needs at least one channel'),
  })
  .strict();

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        admin_token: z.string().optional(),
        /** Without admin_token: a file holding the admin token, created once (mode 0600) and reused. */
        admin_token_file: z.string().min(1).optional(),
        max_body_bytes: positiveInt.default(10 * 1024 * 1024),
        /** largest audio upload /v1/audio/* accepts (the multipart body); larger is 413 payload_too_large as soon as the limit is passed */
        max_audio_bytes: positiveInt.default(75 * 1024 * 1024),
        shutdown_grace_s: z.number().nonnegative().default(30),
        public_metrics: z.boolean().default(false),
        header_timeout_ms: positiveInt.default(10000),
        request_timeout_ms: positiveInt.default(60000),
        heartbeat_ms: positiveInt.default(15000),
        max_in_flight: positiveInt.default(4096),
        max_event_loop_lag_ms: positiveInt.default(500),
        log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        // Checked here, not first when the store opens, so `tollgate check` refuses it and the error names the line.
        url: z
          .string()
          .default('sqlite://./data/tollgate.db')
          .superRefine((url, ctx) => {
            try {
              parseStorageUrl(url);
            } catch (err) {
              ctx.addIssue({ code: 'custom', message: (err as Error).message });
            }
          }),
      })
      .strict()
      .prefault({}),
    redis: z
      .object({
        url: z.string().optional(),
        /** What limits/budgets do when Redis is unreachable: refuse (503) or use a bounded local limiter. */
        on_unavailable: z.enum(['fail_closed', 'local']).default('fail_closed'),
        key_prefix: z.string().default('tollgate:'),
      })
      .strict()
      .prefault({}),
    providers: z.array(providerSchema).min(1, 'configure at least one provider'),
    models: z.array(modelSchema).min(1, 'configure at least one model'),
    routing: z
      .object({
        max_attempts: positiveInt.default(4),
        retry_base_ms: z.number().int().nonnegative().default(250),
        retry_max_ms: z.number().int().nonnegative().default(30000),
        retry_budget_ratio: z.number().min(0).max(1).default(0.2),
      })
      .strict()
      .prefault({}),
    circuit_breaker: z
      .object({
        failure_threshold: positiveInt.default(5),
        failure_rate: z.number().min(0).max(1).default(0.5),
        min_requests: positiveInt.default(10),
        window_s: z.number().positive().default(30),
        cooldown_s: z.number().positive().default(30),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        key_rpm: positiveInt.nullable().default(600),
        key_tpm: positiveInt.nullable().default(null),
        org_rpm: positiveInt.nullable().default(null),
        org_tpm: positiveInt.nullable().default(null),
        /** Requests in flight at once per key and per org (null: unlimited); per-key and per-org settings override. */
        key_max_concurrency: positiveInt.nullable().default(null),
        org_max_concurrency: positiveInt.nullable().default(null),
      })
      .strict()
      .prefault({}),
    billing: z
      .object({
        /** false: no balances, reservations or charges (an internal gateway); usage is still recorded. */
        enabled: z.boolean().default(true),
        /** Output tokens reserved when a request sets no max_tokens. */
        default_reserve_output_tokens: positiveInt.default(4096),
        /**
         * A commit has a fixed cost besides its rows (a WAL frame for every page it changes, on
         * SQLite about 0.9 ms with a dozen keys), so fewer, larger commits leave the shared core to
         * the requests; the rows are in the spool meanwhile, and the store has them within 0.2 s.
         */
        flush_interval_ms: positiveInt.default(200),
        flush_batch_size: positiveInt.default(500),
        max_queue: positiveInt.default(100000),
        /**
         * Write-ahead spool for usage and charge rows (replayed at start after a crash). Default:
         * next to the SQLite file (`<file>-spool`), or `./data/spool/<database>` for Postgres.
         */
        spool_dir: z.string().min(1).nullable().default(null),
        usage_retention_days: positiveInt.default(90),
      })
      .strict()
      .prefault({}),
    cache: z
      .object({
        exact: z
          .object({
            enabled: z.boolean().default(true),
            ttl_s: positiveInt.default(3600),
            max_bytes: positiveInt.default(64 * 1024 * 1024),
          })
          .strict()
          .prefault({}),
        semantic: z
          .object({
            enabled: z.boolean().default(false),
            threshold: z.number().min(0).max(1).default(0.95),
            embedding_model: z.string().default('text-embedding-3-small'),
            ttl_s: positiveInt.default(3600),
            max_entries_per_org: positiveInt.default(10000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    alerts: z
      .object({
        /** no longer used: each organisation has its own signing secret; accepted so existing configs still load */
        webhook_secret: z.string().optional(),
        smtp_url: z.string().nullable().default(null),
        /** deliver webhooks to inside addresses too (loopback, private, link-local, metadata): development only */
        allow_private_targets: z.boolean().default(false),
        /** host names, IP addresses and CIDR ranges webhooks may reach even though they are inside addresses */
        allowed_hosts: z.array(z.string().min(1).refine(validHostEntry, 'must be a host name, an IP address or a CIDR range such as 10.1.0.0/16')).max(100).default([]),
        /** waits before each webhook retry after a failed delivery */
        retry_delays_ms: z.array(z.number().int().nonnegative()).max(10).default([1000, 5000, 30000, 120000]),
        from: z.string().nullable().default(null),
      })
      .strict()
      .prefault({}),
    telemetry: z
      .object({
        otlp: z
          .object({
            /** OTLP/HTTP collector base URL (…:4318); traces go to /v1/traces, metrics to /v1/metrics. null: off (unless OTEL_EXPORTER_OTLP_ENDPOINT is set). */
            endpoint: z.string().regex(/^https?:\/\/[^/\s]+/, 'must be an http(s) URL such as http://127.0.0.1:4318').nullable().default(null),
            /** extra headers on every export, e.g. a collector's API key */
            headers: z.record(z.string(), z.string()).default({}),
            service_name: z.string().min(1).default('tollgate'),
            /** how often queued spans and the metrics are sent */
            interval_ms: z.number().int().min(100).max(600_000).default(5000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    responses: z
      .object({
        /** Days a response created with `store: true` stays retrievable and continuable. */
        retention_days: positiveInt.default(30),
      })
      .strict()
      .prefault({}),
    demo: z
      .object({
        enabled: z.boolean().default(false),
        credits_usd: usd.default(10),
        /** Where the demo org's keys are kept in plain text (mode 0600) so later starts reuse them. */
        keys_file: z.string().min(1).default('./data/demo-keys.json'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type ChannelConfig = z.infer<typeof channelSchema>;
export type MockFaults = z.infer<typeof mockFaultSchema>;
export type ProviderType = (typeof providerTypes)[number];

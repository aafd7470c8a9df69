// The routes priced by the caller rather than by chat tokens: images (per image, or by the
// upstream's tokens) and audio transcriptions and translations (per audio second, or by tokens).
// Each validates, resolves the model, applies the limits, and runs its attempts through the
// engine's priced runner, which reserves first and settles at the price computed here.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Principal } from '../auth/authenticate.js';
import { MICROS_PER_USD, worstCaseMicros } from '../billing/money.js';
import type { Config } from '../config/schema.js';
import type { ConcurrencyLimiter } from '../limits/concurrency.js';
import type { RateLimiter } from '../limits/index.js';
import type { AdapterContext } from '../providers/types.js';
import type { ChannelRuntime, ChannelTable, ModelRuntime } from '../routing/channels.js';
import { MAX_UPSTREAM_BODY, readBody } from '../routing/transport.js';
import { AUDIO_TOKENS_PER_SECOND_BOUND, type AudioOperation, type AudioUpload, MIN_AUDIO_BYTES_PER_SECOND, reportedAudioUsage, TEXT_TOKENS_PER_SECOND_BOUND, validateAudioFields, wavDurationSeconds } from './audio.js';
import { NO_TOKENS, type TokenUsage, tokenUsageOf } from './canonical.js';
import { type EngineResult, type InboundMeta, type JsonResult, newRequestContext, type RequestContext } from './context.js';
import { GatewayError } from './errors.js';
import { imageCount, perImageMicros, validateImagesRequest } from './images.js';
import { acquireConcurrency, applyLimits } from './limit-stage.js';
import { isModelAllowed, notAllowed, resolveModel, wrongKind } from './models.js';
import { multipartBody } from './multipart.js';
import { countTextTokens } from './tokens.js';
import type { Usage } from './types.js';
import type { RequestSignal } from './request-signal.js';

/** Output tokens one image may cost when a model is priced by tokens (a large, high-quality image). */
const IMAGE_OUTPUT_TOKEN_BOUND = 6240;

/** An audio route's answer: the upstream's text in the format asked for. */
export interface AudioAnswer {
  status: number;
  headers: Record<string, string>;
  contentType: string;
  body: string;
}

/** What these routes use of the engine. */
export interface PricedHost {
  deps: { channels: ChannelTable; limiter: RateLimiter; concurrency: ConcurrencyLimiter; config: Config };
  principal(meta: InboundMeta): Principal;
  adapterContext(channel: ChannelRuntime, model: ModelRuntime, ctx: RequestContext, stream: boolean): AdapterContext;
  withIdempotency(ctx: RequestContext, hashed: unknown, run: () => Promise<EngineResult>): Promise<EngineResult>;
  runPriced<T>(
    ctx: RequestContext,
    model: ModelRuntime,
    reserveMicros: number,
    hooks: {
      attempt: (channel: ChannelRuntime, m: ModelRuntime, signal: RequestSignal) => Promise<T>;
      price: (value: T) => { usage: TokenUsage; estimated: boolean; cost: number | undefined };
    },
  ): Promise<T>;
}

/** POST /v1/images/generations: priced per image (size × quality) or by the upstream's tokens; the whole price reserved first. */
export async function serveImages(host: PricedHost, body: unknown, meta: InboundMeta): Promise<JsonResult> {
  const { org, key } = host.principal(meta);
  const req = validateImagesRequest(body);
  const visible = (id: string) => isModelAllowed(id, org, key);
  const model = resolveModel(host.deps.channels, req.model, visible);
  if (model.config.kind !== 'image') throw wrongKind(model, 'image');
  if (!visible(model.config.id)) throw notAllowed(model.config.id, org, key);
  const count = imageCount(req);
  const each = perImageMicros(model.config, req);
  const promptTokens = countTextTokens(req.prompt);
  // Without a per-image price, images are billed by tokens: the reservation covers the prompt and a large image's output tokens.
  const reserve = each !== undefined ? each * count : worstCaseMicros(model.config, promptTokens, IMAGE_OUTPUT_TOKEN_BOUND * count);
  const ctx = newRequestContext(meta, org, key, model, promptTokens, 'images');
  await applyLimits(host.deps.limiter, host.deps.config.limits, ctx, promptTokens);
  const run = () =>
    host.runPriced<{ body: Record<string, unknown>; images: number; usage: Usage | undefined }>(ctx, model, reserve, {
      attempt: async (channel, m, sig) => {
        const adapter = channel.adapter;
        if (!adapter.imagesRequest) throw new GatewayError('invalid_value', `The provider behind "${m.config.id}" does not generate images.`, { param: 'model' });
        const actx = host.adapterContext(channel, m, ctx, false);
        const up = adapter.imagesRequest({ ...req }, actx);
        if (channel.provider.type === 'mock' && meta.mockHeaders) up.headers = { ...up.headers, ...meta.mockHeaders };
        up.timeoutMs = channel.provider.timeouts.request_ms;
        const res = await channel.transport.send(up, sig);
        const text = await readBody(res, MAX_UPSTREAM_BODY, channel.provider.id);
        if (res.status < 200 || res.status >= 300) throw adapter.mapError(res.status, text, res.headers);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw new GatewayError('provider_error', `The provider (${channel.provider.id}) sent an images answer that is not JSON.`, { blame: 'channel' });
        }
        const data = (parsed as { data?: unknown } | null)?.data;
        if (!Array.isArray(data)) throw new GatewayError('provider_error', `The provider (${channel.provider.id}) sent an images answer without "data".`, { blame: 'channel' });
        const u = (parsed as { usage?: { input_tokens?: unknown; output_tokens?: unknown } }).usage;
        const usage =
          typeof u?.input_tokens === 'number' && typeof u.output_tokens === 'number'
            ? { prompt_tokens: u.input_tokens, completion_tokens: u.output_tokens, total_tokens: u.input_tokens + u.output_tokens }
            : undefined;
        return { body: parsed as Record<string, unknown>, images: data.length, usage };
      },
      price: (v) => {
        // Per image: the images delivered (never more than asked for); by tokens: the upstream's count, or the reservation's bound.
        if (each !== undefined) return { usage: { ...NO_TOKENS, prompt: promptTokens }, estimated: false, cost: each * Math.min(v.images, count) };
        if (v.usage) return { usage: tokenUsageOf(v.usage), estimated: false, cost: undefined };
        return { usage: { ...NO_TOKENS, prompt: promptTokens, completion: IMAGE_OUTPUT_TOKEN_BOUND * v.images }, estimated: true, cost: undefined };
      },
    }).then((v) => ({ kind: 'json' as const, status: 200, headers: ctx.headers, body: v.body }));
  const release = await acquireConcurrency(host.deps.concurrency, host.deps.config.limits, ctx);
  try {
    if (!meta.idempotencyKey) return await run();
    return (await host.withIdempotency(ctx, { surface: 'images', body: req }, run)) as JsonResult;
  } finally {
    release();
  }
}

/**
 * POST /v1/audio/transcriptions and /translations. The upload is already spooled to disk; it is
 * sent upstream as multipart with the upstream model's name. Priced per audio second
 * (`pricing.per_audio_second`) from the duration the upstream reports or the WAV header, else by
 * the upstream's tokens; the reservation covers the longest the file can be.
 */
export async function serveAudio(host: PricedHost, op: AudioOperation, upload: AudioUpload, meta: InboundMeta): Promise<AudioAnswer> {
  const { org, key } = host.principal(meta);
  const req = validateAudioFields(op, upload.fields, upload.file !== undefined);
  const file = upload.file!;
  const visible = (id: string) => isModelAllowed(id, org, key);
  const model = resolveModel(host.deps.channels, req.model, visible);
  if (model.config.kind !== 'transcription') throw wrongKind(model, 'transcription');
  if (!visible(model.config.id)) throw notAllowed(model.config.id, org, key);
  const wavSeconds = wavDurationSeconds(file.head, file.size);
  const boundSeconds = wavSeconds ?? file.size / MIN_AUDIO_BYTES_PER_SECOND;
  const perSecondUsd = model.config.pricing.per_audio_second;
  const promptTokens = countTextTokens(req.fields.find(([n]) => n === 'prompt')?.[1] ?? '');
  const reserve =
    perSecondUsd !== undefined
      ? Math.ceil(boundSeconds * perSecondUsd * MICROS_PER_USD)
      : worstCaseMicros(model.config, promptTokens + Math.ceil(boundSeconds * AUDIO_TOKENS_PER_SECOND_BOUND), Math.ceil(boundSeconds * TEXT_TOKENS_PER_SECOND_BOUND));
  const ctx = newRequestContext(meta, org, key, model, promptTokens, op === 'transcriptions' ? 'transcriptions' : 'translations');
  await applyLimits(host.deps.limiter, host.deps.config.limits, ctx, promptTokens);
  const release = await acquireConcurrency(host.deps.concurrency, host.deps.config.limits, ctx);
  const result = await host.runPriced<{ body: string; contentType: string }>(ctx, model, reserve, {
    attempt: async (channel, m, sig) => {
      const adapter = channel.adapter;
      if (!adapter.audioRequest) throw new GatewayError('invalid_value', `The provider behind "${m.config.id}" does not transcribe audio.`, { param: 'model' });
      const actx = host.adapterContext(channel, m, ctx, false);
      const boundary = `tollgate-${randomBytes(12).toString('hex')}`;
      const fields = req.fields.map(([n, v]): [string, string] => [n, n === 'model' ? channel.upstreamModel : v]);
      const body = () => multipartBody(boundary, fields, { field: 'file', filename: file.filename, contentType: file.contentType, read: () => createReadStream(file.path) });
      const up = adapter.audioRequest(op, `multipart/form-data; boundary=${boundary}`, body, actx);
      if (channel.provider.type === 'mock' && meta.mockHeaders) up.headers = { ...up.headers, ...meta.mockHeaders };
      up.timeoutMs = channel.provider.timeouts.request_ms;
      const res = await channel.transport.send(up, sig);
      const text = await readBody(res, MAX_UPSTREAM_BODY, channel.provider.id);
      if (res.status < 200 || res.status >= 300) throw adapter.mapError(res.status, text, res.headers);
      const ct = res.headers['content-type'];
      return { body: text, contentType: (Array.isArray(ct) ? ct[0] : ct) ?? (req.responseFormat.endsWith('json') ? 'application/json' : 'text/plain; charset=utf-8') };
    },
    price: (v) => {
      const reported = reportedAudioUsage(v.body, req.responseFormat);
      const textTokens = countTextTokens(reported.text ?? '');
      if (perSecondUsd !== undefined) {
        const seconds = reported.seconds ?? wavSeconds;
        // Neither the upstream nor the file says how long it is: the bound the reservation used, marked estimated.
        const billed = seconds ?? boundSeconds;
        return { usage: { ...NO_TOKENS, prompt: promptTokens, completion: textTokens }, estimated: seconds === undefined, cost: Math.round(billed * perSecondUsd * MICROS_PER_USD) };
      }
      if (reported.inputTokens !== undefined && reported.outputTokens !== undefined) {
        return { usage: { ...NO_TOKENS, prompt: reported.inputTokens, completion: reported.outputTokens }, estimated: false, cost: undefined };
      }
      const seconds = reported.seconds ?? wavSeconds ?? boundSeconds;
      return { usage: { ...NO_TOKENS, prompt: promptTokens + Math.ceil(seconds * AUDIO_TOKENS_PER_SECOND_BOUND), completion: textTokens }, estimated: true, cost: undefined };
    },
  }).finally(release);
  return { status: 200, headers: ctx.headers, contentType: result.contentType, body: result.body };
}

// The gateway engine. A chat request runs these stages, in this order, each a plain function
// or method with the RequestContext as its state:
//   1 authenticate (auth/)   2 validate (validate.ts)   3 resolve + permit (models.ts)
//   4 limit (limit-stage.ts)  5 idempotency (idempotency.ts)   6 cache (serve)
//   7 route: attempts over channels and fallbacks (attempts.ts), reserving credit before
//     each (credit-stage.ts)   8 relay (stream-relay.ts)   9 settle (settle + records.ts)
// It returns a JSON result or a stream of SSE frames, and knows nothing about HTTP. Embeddings
// share the stages; images and audio (priced-routes.ts) run through runPriced.
import type { Telemetry } from '../observability/otel.js';
import { authenticateKey, type Principal } from '../auth/authenticate.js';
import type { CreditLedger, Reservation, ReserveInput } from '../billing/accounts.js';
import { costMicros, worstCaseMicros } from '../billing/money.js';
import type { UsageWriter } from '../billing/usage-writer.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { type CacheLayer, cachedCompletion, type ResponseCache } from '../cache/index.js';
import type { RateLimiter } from '../limits/index.js';
import type { Metrics } from '../observability/metrics.js';
import type { AdapterContext, NativeProtocol, UpstreamRequest } from '../providers/types.js';
import { chatSurface } from '../surfaces/chat/index.js';
import type { AnswerInfo, ParsedRequest, Surface } from '../surfaces/types.js';
import { NO_TOKENS, type TokenUsage, tokenUsageOf } from './canonical.js';
import type { ChannelRuntime, ChannelTable, ModelRuntime } from '../routing/channels.js';
import { MAX_UPSTREAM_BODY, readBody, sendForText } from '../routing/transport.js';
import type { KeyRow, OrgRow } from '../store/types.js';
import type { TenantView } from '../tenants/view.js';
import { type AttemptHooks, AttemptsExhausted, RetryBudget, runAttempts } from '../routing/attempt-executor.js';
import type { Slot } from '../routing/in-flight.js';
import { type EngineResult, type InboundMeta, type JsonResult, newRequestContext, type RequestContext } from './context.js';
import { bodyWithCost, costHeader, costUsd } from './answer-cost.js';
import { estimateEmbeddingTokens, validateEmbeddingsRequest } from './embeddings.js';
import type { AudioOperation, AudioUpload } from './audio.js';
import { type AudioAnswer, type PricedHost, serveAudio, serveImages } from './priced-routes.js';
import { GatewayError, toGatewayError } from './errors.js';
import { IdempotencyCache } from './idempotency.js';
import { describeModel, isModelAllowed, notAllowed, resolveModel, wrongKind } from './models.js';
import { openStream, RelayFrames } from './stream-relay.js';
import { reserveCredit, releaseCredit } from './credit-stage.js';
import { acquireConcurrency, applyLimits, correctTokenLimits, NOTHING_TO_RELEASE, releaseTokenLimits, releasingAtEnd } from './limit-stage.js';
import type { ConcurrencyLimiter } from '../limits/concurrency.js';
import { finishedRequest } from './records.js';
import { approximatePromptTokens, countPromptTokens, countTextTokens } from './tokens.js';
import type { ChatCompletion, ChatRequest, EmbeddingsRequest, EmbeddingsResponse, Usage } from './types.js';
import { ClientSignal, type RequestSignal } from './request-signal.js';
import { type ChatAnswer, ChatAttempts, ChatRelay, type Served } from './chat-hooks.js';

export interface EngineDeps {
  config: Config;
  channels: ChannelTable;
  view: TenantView;
  accounts: CreditLedger;
  usage: UsageWriter;
  metrics: Metrics;
  log: Logger;
  limiter: RateLimiter;
  /** slots for requests in flight (max_concurrency) */
  concurrency: ConcurrencyLimiter;
  cache?: ResponseCache;
  /** Called after a charge is applied (alerts watch balances and budgets); never blocks, never throws. */
  onCharged?: (org: OrgRow, key: KeyRow) => void;
  random?: () => number;
  /** OpenTelemetry, when configured: told of every upstream attempt. */
  telemetry?: Telemetry;
}

/** A fallback id served through a wildcard route (priced), if any. */
function wildcardModel(table: ChannelTable, id: string): ModelRuntime | undefined {
  const routed = table.matchWildcard(id);
  return routed?.kind === 'model' ? routed.model : undefined;
}

/** How a finished request is recorded and billed. */
export interface Settlement {
  status: number;
  errorCode: string | null;
  servedModel: ModelRuntime;
  channel: ChannelRuntime | undefined;
  usage: TokenUsage;
  estimated: boolean;
  stream: boolean;
  /** The cost in micro-USD when it is not the tokens at the token prices (images, audio seconds). */
  costMicros?: number;
}

/** A cache hit is served by no upstream and costs nothing. */
const FREE_HIT_HEADERS = { 'x-tollgate-cost-usd': costHeader(0), 'x-tollgate-attempts': '0' } as const;

/** A non-stream answer from one attempt: canonical (translated lane) or the provider's own body (native lane). */
export type JsonAnswer =
  | { kind: 'canonical'; completion: ChatCompletion }
  | { kind: 'native'; body: string; usage: Usage | undefined; text: string | undefined; object: Record<string, unknown> | undefined };

export class Engine {
  readonly idempotency = new IdempotencyCache();
  private readonly retryBudget: RetryBudget;
  private readonly random: () => number;

  /** The images and audio routes' view of the engine. */
  private readonly priced: PricedHost;

  constructor(private readonly deps: EngineDeps) {
    this.retryBudget = new RetryBudget(deps.config.routing.retry_budget_ratio);
    this.random = deps.random ?? Math.random;
    this.priced = {
      deps,
      principal: (meta) => this.principal(meta),
      adapterContext: (channel, model, ctx, stream) => this.adapterContext(channel, model, ctx, stream),
      withIdempotency: (ctx, hashed, run) => this.withIdempotency(ctx, hashed, run),
      runPriced: (ctx, model, reserve, hooks) => this.runPriced(ctx, model, reserve, hooks),
    };
  }

  /** The request's inference key: as the transport authenticated it, or checked here. */
  private principal(meta: Pick<InboundMeta, 'auth' | 'principal'>): Principal {
    return meta.principal ?? authenticateKey(this.deps.view, meta.auth, ['sk']);
  }

  /** GET /v1/models: models this key may use that are not in maintenance. */
  listModels(meta: Pick<InboundMeta, 'auth'>): { object: 'list'; data: Record<string, unknown>[] } {
    const { org, key } = this.principal(meta);
    const data: Record<string, unknown>[] = [];
    const listed = new Set<string>();
    // Configured models, then the catalogue models reachable through wildcard routes.
    for (const m of [...this.deps.channels.models.values(), ...this.deps.channels.wildcardModels()]) {
      if (m.config.maintenance || listed.has(m.config.id) || !isModelAllowed(m.config.id, org, key)) continue;
      listed.add(m.config.id);
      data.push(describeModel(m));
    }
    return { object: 'list', data };
  }

  getModel(meta: Pick<InboundMeta, 'auth'>, id: string): Record<string, unknown> {
    const { org, key } = this.principal(meta);
    const visible = (mid: string) => isModelAllowed(mid, org, key) && !this.deps.channels.get(mid)?.config.maintenance;
    const m = resolveModel(this.deps.channels, id, visible);
    if (!visible(m.config.id)) {
      if (m.config.maintenance) throw new GatewayError('model_not_found', `The model "${id}" is in maintenance and not listed right now.`, { param: 'model' });
      throw notAllowed(m.config.id, org, key, undefined, id);
    }
    return describeModel(m);
  }

  /** POST /v1/chat/completions: the Chat Completions surface. */
  chat(body: unknown, meta: InboundMeta): Promise<EngineResult> {
    return this.handle(chatSurface, body, meta);
  }

  /** One inference request on any surface, through every stage in order. */
  async handle(surface: Surface, body: unknown, meta: InboundMeta): Promise<EngineResult> {
    const { org, key } = this.principal(meta);
    const parsing = surface.parse(body, meta.headers ?? {}, { orgId: org.id, keyId: key.id, requestId: meta.requestId });
    // Most surfaces parse synchronously: awaiting a plain value would cost a promise turn.
    const parsed = parsing instanceof Promise ? await parsing : parsing;
    const facts = parsed.facts;
    const table = this.deps.channels;
    const visible = (id: string) => isModelAllowed(id, org, key);
    const model = resolveModel(table, facts.model, visible);
    if (model.config.kind !== 'chat') throw wrongKind(model, 'chat');
    if (!visible(model.config.id)) throw notAllowed(model.config.id, org, key);
    for (const extra of facts.fallbacks) {
      if ((table.get(extra) || wildcardModel(table, extra)) && !visible(extra)) throw notAllowed(extra, org, key, 'requested in "models"');
    }
    if (parsed.requiresNative && !speaksNatively(model, surface)) throw parsed.requiresNative.refusal;
    const promptEstimate = surface.checkModel(parsed, model);
    const ctx = newRequestContext(meta, org, key, model, promptEstimate, surface.id);
    // Both stages usually decide at once: then there is nothing to await.
    const limiting = applyLimits(this.deps.limiter, this.deps.config.limits, ctx, promptEstimate + (facts.maxOutputTokens ?? 0));
    if (limiting) await limiting;
    const acquiring = acquireConcurrency(this.deps.concurrency, this.deps.config.limits, ctx);
    const release = typeof acquiring === 'function' ? acquiring : await acquiring;
    const req: Served = { surface, parsed };
    let result: EngineResult;
    try {
      result = await (meta.idempotencyKey ? this.withIdempotency(ctx, { surface: surface.id, body: parsed.native ?? parsed.canonical }, () => this.serve(ctx, req)) : this.serve(ctx, req));
    } catch (err) {
      release();
      throw toGatewayError(err).withHeaders(ctx.headers);
    }
    // Without a concurrency limit there is nothing to release: no wrapper around every frame.
    if (result.kind === 'stream') {
      if (release === NOTHING_TO_RELEASE) return result;
      // The relay itself releases the slot when it ends, so its frames can still be pushed.
      if (result.frames instanceof RelayFrames) {
        result.frames.finally(release);
        return result;
      }
      return { ...result, frames: releasingAtEnd(result.frames, release) };
    }
    release();
    return result;
  }

  /** Counts a request's prompt tokens as the surface would bill them (Messages count_tokens), with no upstream call. */
  countTokens(surface: Surface, body: unknown, meta: InboundMeta): Promise<{ model: string; input_tokens: number }> {
    return (async () => {
      const { org, key } = this.principal(meta);
      const parsed = await surface.parse(body, meta.headers ?? {}, { orgId: org.id, keyId: key.id, requestId: meta.requestId });
      const visible = (id: string) => isModelAllowed(id, org, key);
      const model = resolveModel(this.deps.channels, parsed.facts.model, visible);
      if (!visible(model.config.id)) throw notAllowed(model.config.id, org, key);
      const c = parsed.canonical;
      return { model: model.config.id, input_tokens: countPromptTokens(c.messages, c.tools ?? c.functions) };
    })();
  }

  /** The cache stage (SPEC §9): exact then semantic lookup, coalescing of identical misses, free hits. */
  private serve(ctx: RequestContext, served: Served): Promise<EngineResult> {
    const cache = this.deps.cache;
    if (!cache) return this.run(ctx, served);
    // Not async itself: a request the cache passes by gets run()'s promise, not one around it.
    if (cache.decide(served.parsed.canonical, { cacheControl: ctx.meta.cacheControl }) === 'bypass') {
      ctx.headers['x-tollgate-cache'] = 'BYPASS';
      this.deps.metrics.cache.inc(['all', 'bypass']);
      return this.run(ctx, served);
    }
    return this.serveCacheable(ctx, served, cache);
  }

  private async serveCacheable(ctx: RequestContext, served: Served, cache: ResponseCache): Promise<EngineResult> {
    const m = this.deps.metrics;
    const surface = served.surface;
    const req = served.parsed.canonical;
    // A cached answer is in its surface's shape, each surface keeping its own entries; a surface
    // that encodes its hits keeps canonical completions, under a name of their own.
    const cacheModel = surface.id === 'chat' ? ctx.model.config.id : `${surface.id}${surface.encodesHits ? '+completion' : ''}:${ctx.model.config.id}`;
    const keyCache = (ctx.key.cache ?? {}) as { exact?: unknown; semantic?: unknown; threshold?: unknown };
    const semantic = keyCache.semantic === true || (ctx.org.settings.semantic_cache === true && keyCache.semantic !== false);
    const probing = cache.lookup(ctx.org.id, cacheModel, req, {
      exact: keyCache.exact !== false,
      semantic,
      minSimilarity: typeof keyCache.threshold === 'number' ? keyCache.threshold : undefined,
    });
    // An in-process exact layer answers at once: nothing to await.
    const probe = probing instanceof Promise ? await probing : probing;
    if (probe.status === 'hit') {
      m.cache.inc([probe.layer, 'hit']);
      releaseTokenLimits(this.deps.limiter, ctx);
      this.recordHit(ctx, probe.layer, probe.entry.usage);
      const headers = { ...ctx.headers, ...FREE_HIT_HEADERS, 'x-tollgate-model': ctx.model.config.id, 'x-tollgate-cache': 'HIT', 'x-tollgate-cache-type': probe.layer };
      if (surface.encodesHits) return { kind: 'json', status: 200, headers, body: this.encodeHit(ctx, served, cachedCompletion(probe.entry), ctx.model.config.id) };
      return { kind: 'json', status: 200, headers, body: undefined, serialized: bodyWithCost(probe.entry.body, 0) };
    }
    if (cache.exactEnabled && keyCache.exact !== false) m.cache.inc(['exact', 'miss']);
    if (cache.semanticEnabled && semantic) m.cache.inc(['semantic', 'miss']);
    ctx.headers['x-tollgate-cache'] = 'MISS';
    // The shared upstream call must not die with the first caller's connection: waiters depend on it.
    const detached: RequestContext = { ...ctx, meta: { ...ctx.meta, signal: new ClientSignal() } };
    // A native answer is the upstream's own body and cannot be encoded for another request: a
    // request that may be served natively is not coalesced.
    if (surface.encodesHits && this.mayServeNatively(ctx, served)) return this.run(ctx, served);
    const { value, shared } = await cache.coalesce(probe.ticket, () => this.run(detached, served));
    if (shared) {
      if (value.kind !== 'json') return value;
      const completion = value.completion;
      // The answer shared was native after all: this request is served on its own.
      if (surface.encodesHits && !completion) return this.run(ctx, served);
      const usage = { prompt_tokens: completion?.usage?.prompt_tokens ?? 0, completion_tokens: completion?.usage?.completion_tokens ?? 0 };
      this.recordHit(ctx, 'exact', usage);
      const headers = { ...value.headers, ...ctx.headers, ...FREE_HIT_HEADERS, 'x-tollgate-cache': 'HIT', 'x-tollgate-cache-type': 'exact' };
      if (surface.encodesHits && completion) return { kind: 'json', status: value.status, headers, body: this.encodeHit(ctx, served, completion, value.headers['x-tollgate-model'] ?? ctx.model.config.id) };
      return { kind: 'json', status: value.status, headers, body: undefined, serialized: bodyWithCost(value.serialized ?? JSON.stringify(value.body), 0) };
    }
    if (value.kind === 'json' && value.status === 200 && !detached.fallback && value.completion) {
      void cache.store(probe.ticket, value.completion, surface.id === 'chat' || surface.encodesHits ? undefined : (value.serialized ?? JSON.stringify(value.body)));
    }
    return value;
  }

  /** Whether a native lane may serve the request: a channel of the model, or of a fallback, speaks its surface's protocol. */
  private mayServeNatively(ctx: RequestContext, served: Served): boolean {
    return served.parsed.native !== undefined && this.candidates(ctx, served).some((m) => speaksNatively(m, served.surface));
  }

  /** A cached or shared canonical completion as this request's own answer (Surface.encodesHits), at no cost. */
  private encodeHit(ctx: RequestContext, served: Served, completion: ChatCompletion, model: string): unknown {
    const info: AnswerInfo = { requestId: ctx.meta.requestId, model, created: Math.floor(Date.now() / 1000), native: false, request: served.parsed };
    return served.surface.encodeResponse(completion, info, { usage: tokenUsageOf(completion.usage), estimated: false, costMicros: 0 });
  }

  /** A cache hit: free, recorded in usage with the tokens it saved. */
  private recordHit(ctx: RequestContext, layer: CacheLayer, saved: { prompt_tokens: number; completion_tokens: number }): void {
    this.deps.usage.enqueue(
      finishedRequest(ctx, {
        model: ctx.model.config.id,
        provider: null,
        prompt_tokens: saved.prompt_tokens,
        completion_tokens: saved.completion_tokens,
        cost_micros: 0,
        cached: layer,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
        status: 200,
        error_code: null,
        stream: false,
        estimated: false,
        fallback: null,
        attempts: 0,
      }),
      ctx.meta.spoolTogether?.on === true,
    );
  }

  /** Embeddings for the semantic cache, through Tollgate's own routing; billed to no org (the operator's cost). */
  async embedForCache(text: string): Promise<Float32Array> {
    const id = this.deps.config.cache.semantic.embedding_model;
    const model = this.deps.channels.get(id);
    if (model?.config.kind !== 'embedding') throw new Error(`semantic cache embedding model "${id}" is not a configured embedding model`);
    const req = { model: id, input: text };
    const outcome = await runAttempts<number[]>(this.deps.channels, [model], this.deps.config.routing, this.retryBudget, AbortSignal.timeout(10_000), {
      beforeAttempt: () => {},
      run: async (channel, m, sig) => {
        const adapter = channel.adapter;
        if (!adapter.embeddingsRequest || !adapter.embeddingsResponse) throw new GatewayError('invalid_value', 'no embeddings');
        const actx: AdapterContext = { provider: channel.provider, model: m.config, upstreamModel: channel.upstreamModel, stream: false, requestId: 'cache' };
        const res = await channel.transport.send(adapter.embeddingsRequest(req, actx), sig);
        const body = await readBody(res, MAX_UPSTREAM_BODY, channel.provider.id);
        if (res.status < 200 || res.status >= 300) throw adapter.mapError(res.status, body, res.headers);
        const vec = adapter.embeddingsResponse(body, actx).data[0]?.embedding;
        if (!Array.isArray(vec)) throw new GatewayError('provider_error', 'embedding missing');
        return vec;
      },
    });
    return Float32Array.from(outcome.value);
  }

  /** The idempotency stage: the first request with a key runs; repeats (any instance, 24 h) get its answer. */
  private async withIdempotency(ctx: RequestContext, hashed: unknown, run: () => Promise<EngineResult>): Promise<EngineResult> {
    const claim = await this.idempotency.claim(ctx.key.id, ctx.meta.idempotencyKey!, IdempotencyCache.hashBody(hashed), ctx.meta.signal);
    if (claim.kind === 'replay') {
      const stored = await claim.response;
      if (!stored) return this.withIdempotency(ctx, hashed, run);
      const headers = { ...stored.headers, 'idempotent-replayed': 'true' };
      if (stored.frames) {
        const frames = stored.frames;
        return { kind: 'stream', headers, frames: (async function* () { yield* frames; })() };
      }
      return { kind: 'json', status: stored.status, headers, body: stored.body };
    }
    let result: EngineResult;
    try {
      result = await run();
    } catch (err) {
      claim.complete(undefined);
      throw err;
    }
    if (result.kind === 'json') {
      const body = result.body ?? (result.serialized === undefined ? undefined : JSON.parse(result.serialized));
      claim.complete(result.status < 400 ? { status: result.status, headers: result.headers, body } : undefined);
      return result;
    }
    const source = result.frames;
    const captured: string[] = [];
    let complete = false;
    const frames = (async function* () {
      try {
        for await (const f of source) {
          captured.push(f);
          yield f;
        }
        complete = ctx.streamCompleted === true;
      } finally {
        claim.complete(complete ? { status: 200, headers: result.headers, frames: captured } : undefined);
      }
    })();
    return { ...result, frames };
  }

  private candidates(ctx: RequestContext, served: Served): ModelRuntime[] {
    const facts = served.parsed.facts;
    const table = this.deps.channels;
    const primary = ctx.model.config.id;
    const keyFallbacks = ctx.key.fallbacks[primary];
    const orgFallbacks = ctx.org.fallbacks[primary];
    // No fallback of any kind (the usual request): the requested model alone.
    if (facts.fallbacks.length === 0 && !keyFallbacks?.length && !orgFallbacks?.length) {
      return served.parsed.requiresNative && !speaksNatively(ctx.model, served.surface) ? [] : [ctx.model];
    }
    const ids = [primary, ...facts.fallbacks, ...(keyFallbacks ?? []), ...(orgFallbacks ?? [])];
    const out: ModelRuntime[] = [];
    const seen = new Set<string>();
    // Context windows are judged on the approximation; the reservation keeps the byte bound.
    const c = served.parsed.canonical;
    const needed = approximatePromptTokens(c.messages, c.tools ?? c.functions) + (facts.maxOutputTokens ?? 0);
    for (const id of ids) {
      if (seen.has(id)) continue;
      seen.add(id);
      const m = id === primary ? ctx.model : (table.get(id) ?? wildcardModel(table, id));
      if (m?.config.kind !== 'chat') continue;
      if (id !== primary && (!isModelAllowed(id, ctx.org, ctx.key) || needed > m.config.context_window)) continue;
      // A fallback that cannot serve the request natively is no fallback for it.
      if (served.parsed.requiresNative && !speaksNatively(m, served.surface)) continue;
      out.push(m);
    }
    return out;
  }

  /**
   * Reserve the worst-case cost of serving with `model`; re-reserves when a fallback changes the
   * price. Nothing to await (undefined) when no reservation is needed or the ledger decides at once.
   */
  ensureReservation(ctx: RequestContext, model: ModelRuntime, facts: ParsedRequest['facts']): void | Promise<void> {
    if (!this.deps.config.billing.enabled) return;
    if (ctx.reservedFor === model.config.id && ctx.reservation) return;
    const maxOut = Math.min(facts.maxOutputTokens ?? this.deps.config.billing.default_reserve_output_tokens, model.config.max_output_tokens) * facts.n;
    const anthropic = model.channels.some(isAnthropic);
    const amount = worstCaseMicros(model.config, ctx.promptEstimate, maxOut, anthropic ? 'anthropic' : undefined);
    // The parts of the worst case, so a refusal can say how many output tokens the request could afford.
    const outputMicrosPerToken = model.config.pricing.output_per_mtok;
    const input: ReserveInput = {
      orgId: ctx.org.id,
      keyId: ctx.key.id,
      amount,
      keyBudget: budgetLeftOf(ctx.key),
      orgCap: ctx.org.spend_cap_micros,
      quote: { promptMicros: amount - Math.ceil(maxOut * outputMicrosPerToken), outputMicrosPerToken, maxOutputTokens: maxOut },
    };
    if (ctx.reservation) return this.reserveAgain(ctx, model, input);
    const outcome = reserveCredit(this.deps.accounts, input);
    if (outcome instanceof Promise) return outcome.then((r) => reservedFor(ctx, model, r.reservation));
    reservedFor(ctx, model, outcome.reservation);
  }

  /** A fallback priced differently: the earlier hold is released before the new one. */
  private async reserveAgain(ctx: RequestContext, model: ModelRuntime, input: ReserveInput): Promise<void> {
    if (ctx.reservation) await this.deps.accounts.settle(ctx.reservation, 0);
    ctx.reservation = undefined;
    reservedFor(ctx, model, (await reserveCredit(this.deps.accounts, input)).reservation);
  }

  private adapterContext(channel: ChannelRuntime, model: ModelRuntime, ctx: RequestContext, stream: boolean, native = false): AdapterContext {
    return { provider: channel.provider, model: model.config, upstreamModel: channel.upstreamModel, stream, requestId: ctx.meta.requestId, native };
  }

  /** The native lane when the channel's provider speaks the surface's own protocol; else undefined (translated lane). */
  nativeLane(channel: ChannelRuntime, served: Served): NativeProtocol | undefined {
    return served.parsed.native === undefined ? undefined : channel.adapter.native?.[served.surface.id];
  }

  private upstreamRequest(channel: ChannelRuntime, served: Served, actx: AdapterContext, ctx: RequestContext, native: NativeProtocol | undefined): UpstreamRequest {
    const up = native ? native.request(served.parsed.native!, actx, served.parsed.forwardHeaders) : channel.adapter.chatRequest(served.parsed.canonical, actx);
    if (channel.provider.type === 'mock' && ctx.meta.mockHeaders) up.headers = { ...up.headers, ...ctx.meta.mockHeaders };
    return up;
  }

  /** One attempt of a chat request on `channel` (ChatAttempts.run): an open stream, or the whole answer. */
  async chatAttempt(ctx: RequestContext, served: Served, channel: ChannelRuntime, model: ModelRuntime, sig: RequestSignal, slot: Slot): Promise<ChatAnswer> {
    ctx.attempts++;
    const stream = served.parsed.facts.stream;
    const native = this.nativeLane(channel, served);
    const actx = this.adapterContext(channel, model, ctx, stream, native !== undefined);
    const up = this.upstreamRequest(channel, served, actx, ctx, native);
    if (stream) {
      const start = await openStream(channel, actx, up, sig, native ? native.streamTranslator : channel.adapter.streamTranslator);
      // The provider slot stays taken until the relay ends (completion, error or client gone).
      slot.handedOver = true;
      start.slot = slot;
      return { kind: 'stream', start, native: native !== undefined };
    }
    up.timeoutMs = channel.provider.timeouts.request_ms;
    const res = await sendForText(channel.transport, up, sig, MAX_UPSTREAM_BODY, channel.provider.id);
    const text = res.text;
    if (res.status < 200 || res.status >= 300) throw channel.adapter.mapError(res.status, text, res.headers);
    if (native?.response) {
      const a = native.response(text, actx);
      return { kind: 'native', body: a.body, usage: a.usage, text: a.text, object: a.object };
    }
    return { kind: 'canonical', completion: channel.adapter.chatResponse(text, actx) };
  }

  /** A stream's checkpoint (ChatRelay.checkpoint): what it delivered so far, kept in case the process dies. */
  checkpointStream(ctx: RequestContext, s: Settlement): void {
    this.deps.usage.checkpoint(this.usageRecord(ctx, s).record);
  }

  /** A served attempt of a chat request (ChatAttempts.onAttemptOk): counted. */
  chatAttemptOk(channel: ChannelRuntime, model: ModelRuntime): void {
    this.deps.metrics.upstreamAttempts.inc([channel.provider.id, model.config.id, 'ok']);
  }

  /** A failed attempt of a chat request (ChatAttempts.onAttemptError): counted and logged. */
  chatAttemptFailed(ctx: RequestContext, channel: ChannelRuntime, err: GatewayError): void {
    const m = this.deps.metrics;
    m.upstreamAttempts.inc([channel.provider.id, channel.model.id, 'error']);
    m.upstreamErrors.inc([channel.provider.id, channel.model.id, err.code]);
    this.deps.log.warn({ requestId: ctx.meta.requestId, channel: channel.id, code: err.code, status: err.upstreamStatus }, 'upstream attempt failed');
  }

  private async run(ctx: RequestContext, served: Served): Promise<EngineResult> {
    const { surface, parsed } = served;
    const facts = parsed.facts;
    const candidates = this.candidates(ctx, served);
    const signal = ctx.meta.signal;
    const stream = facts.stream;
    try {
      const outcome = await runAttempts(this.deps.channels, candidates, this.deps.config.routing, this.retryBudget, signal, new ChatAttempts(this, ctx, served), this.random);
      if (outcome.model.config.id !== ctx.requestedModel) {
        ctx.fallback = `${ctx.requestedModel} -> ${outcome.model.config.id}`;
        ctx.headers['x-tollgate-fallback'] = ctx.fallback;
      }
      ctx.headers['x-tollgate-attempts'] = String(ctx.attempts);
      ctx.headers['x-tollgate-model'] = outcome.model.config.id;
      const value = outcome.value;
      const canonical = parsed.canonical;
      if (value.kind === 'stream') {
        const info: AnswerInfo = { requestId: ctx.meta.requestId, model: outcome.model.config.id, created: Math.floor(Date.now() / 1000), native: value.native, request: parsed };
        return { kind: 'stream', headers: ctx.headers, frames: new RelayFrames(value.start, new ChatRelay(this, ctx, canonical, outcome, surface.streamEncoder(info, facts), facts.relayUsageFrames, signal)) };
      }
      const info: AnswerInfo = { requestId: ctx.meta.requestId, model: outcome.model.config.id, created: Math.floor(Date.now() / 1000), native: value.kind === 'native', request: parsed };
      if (value.kind === 'native') {
        const estimated = value.usage === undefined;
        const usage = estimated ? { ...NO_TOKENS, prompt: countPromptTokens(canonical.messages, canonical.tools ?? canonical.functions), completion: countTextTokens(value.text ?? '') } : tokenUsageOf(value.usage);
        const costMicros = this.settle(ctx, { status: 200, errorCode: null, servedModel: outcome.model, channel: outcome.channel, usage, estimated, stream: false });
        ctx.headers['x-tollgate-cost-usd'] = costHeader(costMicros);
        const relayed = surface.encodeNative ? surface.encodeNative({ body: value.body, object: value.object }, info, { usage, estimated, costMicros }) : value.body;
        return { kind: 'json', status: 200, headers: ctx.headers, body: undefined, serialized: bodyWithCost(relayed, costMicros) };
      }
      const completion = value.completion;
      const usage = this.completionUsage(completion, canonical);
      const costMicros = this.settle(ctx, { status: 200, errorCode: null, servedModel: outcome.model, channel: outcome.channel, usage: usage.usage, estimated: usage.estimated, stream: false });
      const body = surface.encodeResponse(completion, info, { usage: usage.usage, estimated: usage.estimated, costMicros });
      ctx.headers['x-tollgate-cost-usd'] = costHeader(costMicros);
      return { kind: 'json', status: 200, headers: ctx.headers, body, completion };
    } catch (err) {
      const gerr = err instanceof AttemptsExhausted ? err.error : toGatewayError(err);
      // A request that reached an upstream is recorded (at no cost) even when it ends in an error.
      const reachedUpstream = ctx.attempts > 0;
      if (reachedUpstream) ctx.headers['x-tollgate-attempts'] = String(ctx.attempts);
      if (!reachedUpstream) {
        releaseCredit(this.deps.accounts, this.deps.log, ctx);
      } else {
        this.settle(ctx, {
          status: signal.aborted ? 499 : gerr.status,
          errorCode: signal.aborted ? 'client_closed' : gerr.code,
          servedModel: ctx.model,
          channel: undefined,
          usage: NO_TOKENS,
          estimated: false,
          stream,
        });
      }
      throw gerr;
    }
  }

  async embeddings(body: unknown, meta: InboundMeta): Promise<JsonResult> {
    const { org, key } = this.principal(meta);
    const req = validateEmbeddingsRequest(body);
    const visible = (id: string) => isModelAllowed(id, org, key);
    const model = resolveModel(this.deps.channels, req.model, visible);
    if (model.config.kind !== 'embedding') throw wrongKind(model, 'embedding');
    if (!visible(model.config.id)) throw notAllowed(model.config.id, org, key);
    const promptEstimate = estimateEmbeddingTokens(req);
    if (promptEstimate > model.config.context_window * (Array.isArray(req.input) ? req.input.length : 1)) {
      throw new GatewayError('context_exceeded', `The input has about ${promptEstimate} tokens, more than "${model.config.id}" accepts (${model.config.context_window} per input).`, { param: 'input' });
    }
    const ctx = newRequestContext(meta, org, key, model, promptEstimate, 'embeddings');
    await applyLimits(this.deps.limiter, this.deps.config.limits, ctx, promptEstimate);
    const release = await acquireConcurrency(this.deps.concurrency, this.deps.config.limits, ctx);
    try {
      const run = () => this.runEmbeddings(ctx, req, model, promptEstimate);
      if (!meta.idempotencyKey) return await run();
      const result = await this.withIdempotency(ctx, { surface: 'embeddings', body: req }, run);
      return result as JsonResult;
    } finally {
      release();
    }
  }

  private async runEmbeddings(ctx: RequestContext, req: EmbeddingsRequest, model: ModelRuntime, promptEstimate: number): Promise<JsonResult> {
    const { org, key, meta } = ctx;
    try {
      const outcome = await runAttempts<EmbeddingsResponse>(this.deps.channels, [model], this.deps.config.routing, this.retryBudget, meta.signal, {
        onAttemptEnd: this.traceAttempt(ctx),
        beforeAttempt: async (m) => {
          if (ctx.reservation || !this.deps.config.billing.enabled) return;
          const amount = worstCaseMicros(m.config, promptEstimate, 0);
          const r = await reserveCredit(this.deps.accounts, { orgId: org.id, keyId: key.id, amount, keyBudget: budgetLeftOf(key), orgCap: org.spend_cap_micros });
          ctx.reservation = r.reservation;
          ctx.reservedFor = m.config.id;
        },
        run: async (channel, m, sig) => {
          ctx.attempts++;
          const adapter = channel.adapter;
          if (!adapter.embeddingsRequest || !adapter.embeddingsResponse) {
            throw new GatewayError('invalid_value', `The provider behind "${m.config.id}" does not offer embeddings.`, { param: 'model' });
          }
          const actx = this.adapterContext(channel, m, ctx, false);
          const up = adapter.embeddingsRequest(req, actx);
          if (channel.provider.type === 'mock' && meta.mockHeaders) up.headers = { ...up.headers, ...meta.mockHeaders };
          up.timeoutMs = channel.provider.timeouts.request_ms;
          const res = await channel.transport.send(up, sig);
          const text = await readBody(res, MAX_UPSTREAM_BODY, channel.provider.id);
          if (res.status < 200 || res.status >= 300) throw adapter.mapError(res.status, text, res.headers);
          const parsed = adapter.embeddingsResponse(text, actx);
          return adapter.completeEmbeddings ? adapter.completeEmbeddings(parsed, req) : parsed;
        },
      });
      const reported = outcome.value.usage?.prompt_tokens;
      const estimated = !(typeof reported === 'number' && reported > 0);
      const promptTokens = estimated ? promptEstimate : reported;
      const cost = this.settle(ctx, { status: 200, errorCode: null, servedModel: outcome.model, channel: outcome.channel, usage: { ...NO_TOKENS, prompt: promptTokens }, estimated, stream: false });
      outcome.value.usage = { prompt_tokens: promptTokens, total_tokens: promptTokens, cost: costUsd(cost) };
      ctx.headers['x-tollgate-cost-usd'] = costHeader(cost);
      ctx.headers['x-tollgate-attempts'] = String(ctx.attempts);
      ctx.headers['x-tollgate-model'] = outcome.model.config.id;
      return { kind: 'json', status: 200, headers: ctx.headers, body: outcome.value };
    } catch (err) {
      const gerr = toGatewayError(err instanceof AttemptsExhausted ? err.error : err);
      // A request that reached an upstream is recorded (at no cost) even when it ends in an error.
      if (ctx.attempts > 0) {
        ctx.headers['x-tollgate-attempts'] = String(ctx.attempts);
        this.settle(ctx, {
          status: meta.signal.aborted ? 499 : gerr.status,
          errorCode: meta.signal.aborted ? 'client_closed' : gerr.code,
          servedModel: model,
          channel: undefined,
          usage: NO_TOKENS,
          estimated: false,
          stream: false,
        });
      } else if (ctx.reservation) releaseCredit(this.deps.accounts, this.deps.log, ctx);
      throw gerr.withHeaders(ctx.headers);
    }
  }

  /** POST /v1/images/generations (see priced-routes.ts). */
  images(body: unknown, meta: InboundMeta): Promise<JsonResult> {
    return serveImages(this.priced, body, meta);
  }

  /** POST /v1/audio/transcriptions and /translations (see priced-routes.ts). */
  audio(op: AudioOperation, upload: AudioUpload, meta: InboundMeta): Promise<AudioAnswer> {
    return serveAudio(this.priced, op, upload, meta);
  }

  /**
   * A non-chat request priced by the caller: reserves `reserveMicros` before the first attempt,
   * runs the attempts, settles at `price(value)` (token prices when it gives no cost), and on a
   * failure settles at zero (a request that reached an upstream is recorded) or releases.
   */
  async runPriced<T>(
    ctx: RequestContext,
    model: ModelRuntime,
    reserveMicros: number,
    hooks: {
      attempt: (channel: ChannelRuntime, m: ModelRuntime, signal: RequestSignal) => Promise<T>;
      price: (value: T) => { usage: TokenUsage; estimated: boolean; cost: number | undefined };
    },
  ): Promise<T> {
    const { org, key, meta } = ctx;
    try {
      const outcome = await runAttempts<T>(this.deps.channels, [model], this.deps.config.routing, this.retryBudget, meta.signal, {
        onAttemptEnd: this.traceAttempt(ctx),
        beforeAttempt: async (m) => {
          if (ctx.reservation || !this.deps.config.billing.enabled) return;
          const r = await reserveCredit(this.deps.accounts, { orgId: org.id, keyId: key.id, amount: reserveMicros, keyBudget: budgetLeftOf(key), orgCap: org.spend_cap_micros });
          ctx.reservation = r.reservation;
          ctx.reservedFor = m.config.id;
        },
        run: (channel, m, sig) => {
          ctx.attempts++;
          return hooks.attempt(channel, m, sig);
        },
      });
      const p = hooks.price(outcome.value);
      this.settle(ctx, { status: 200, errorCode: null, servedModel: outcome.model, channel: outcome.channel, usage: p.usage, estimated: p.estimated, stream: false, costMicros: p.cost });
      return outcome.value;
    } catch (err) {
      const gerr = toGatewayError(err instanceof AttemptsExhausted ? err.error : err);
      if (ctx.attempts > 0) {
        this.settle(ctx, {
          status: meta.signal.aborted ? 499 : gerr.status,
          errorCode: meta.signal.aborted ? 'client_closed' : gerr.code,
          servedModel: model,
          channel: undefined,
          usage: NO_TOKENS,
          estimated: false,
          stream: false,
          costMicros: 0,
        });
      } else if (ctx.reservation) releaseCredit(this.deps.accounts, this.deps.log, ctx);
      throw gerr.withHeaders(ctx.headers);
    }
  }

  /** Usage from the upstream, or Tollgate's own count (marked estimated) when it sent none. */
  private completionUsage(c: ChatCompletion, req: ChatRequest): { usage: TokenUsage; estimated: boolean } {
    const u = c.usage as Usage | undefined | null;
    if (u && typeof u.prompt_tokens === 'number' && typeof u.completion_tokens === 'number') return { usage: tokenUsageOf(u), estimated: false };
    let completion = 0;
    for (const ch of c.choices) {
      const msg = ch.message;
      if (typeof msg?.content === 'string') completion += countTextTokens(msg.content);
      if (typeof msg?.reasoning_content === 'string') completion += countTextTokens(msg.reasoning_content);
      if (msg?.tool_calls) completion += countTextTokens(JSON.stringify(msg.tool_calls));
    }
    const prompt = countPromptTokens(req.messages, req.tools ?? req.functions);
    c.usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
    return { usage: { ...NO_TOKENS, prompt, completion }, estimated: true };
  }

  /** The usage row and charge of a settlement, and its cost in micro-USD. */
  private usageRecord(ctx: RequestContext, s: Settlement): { record: ReturnType<typeof finishedRequest>; cost: number } {
    const model = s.servedModel.config;
    const u = s.usage;
    const providerType = s.channel?.provider.type ?? s.servedModel.channels[0]?.provider.type;
    const cost = !this.deps.config.billing.enabled ? 0 : s.costMicros !== undefined ? s.costMicros : u.prompt + u.completion > 0 ? costMicros(model, u, providerType) : 0;
    const record = finishedRequest(ctx, {
      model: model.id,
      provider: s.channel?.provider.id ?? null,
      prompt_tokens: u.prompt,
      completion_tokens: u.completion,
      cache_read_tokens: u.cacheRead,
      cache_write_tokens: u.cacheWrite,
      reasoning_tokens: u.reasoning,
      cost_micros: cost,
      cached: null,
      status: s.status,
      error_code: s.errorCode,
      stream: s.stream,
      estimated: s.estimated,
      fallback: ctx.fallback ?? null,
      attempts: ctx.attempts,
    });
    return { record, cost };
  }

  /** The attempt hook of a traced request; undefined (nothing to call) when telemetry is off. */
  traceAttempt(ctx: RequestContext): AttemptHooks<unknown>['onAttemptEnd'] {
    const t = this.deps.telemetry;
    if (!t) return undefined;
    const id = ctx.meta.requestId;
    return (channel, model, startMs, endMs, error) =>
      t.attempt(id, { provider: channel.provider.id, channel: channel.id, model: model.config.id, upstreamModel: channel.upstreamModel, startMs, endMs, error });
  }

  /** Settles the reservation at the real cost and queues the usage and charge rows; returns the cost in micro-USD. */
  settle(ctx: RequestContext, s: Settlement): number {
    const model = s.servedModel.config;
    const u = s.usage;
    const { record, cost } = this.usageRecord(ctx, s);
    const ledger = this.deps.accounts;
    // An in-process ledger settles at once: no promise and no callbacks per request.
    let chargedNow = false;
    if (ctx.reservation && ledger.settleSync) {
      try {
        ledger.settleSync(ctx.reservation, cost);
        chargedNow = cost > 0;
      } catch (err) {
        this.chargeFailed(err, ctx);
      }
    } else {
      const applied = ctx.reservation ? ledger.settle(ctx.reservation, cost) : cost > 0 ? ledger.charge(ctx.org.id, ctx.key.id, cost) : undefined;
      applied?.then(
        () => {
          if (cost > 0) this.deps.onCharged?.(ctx.org, ctx.key);
        },
        (err) => this.chargeFailed(err, ctx),
      );
    }
    this.deps.usage.enqueue(record, ctx.meta.spoolTogether?.on === true);
    correctTokenLimits(this.deps.limiter, this.deps.log, ctx, u.prompt + u.completion);
    const m = this.deps.metrics;
    m.tokens.inc([model.id, 'prompt'], u.prompt);
    m.tokens.inc([model.id, 'completion'], u.completion);
    if (cost > 0) m.costMicros.inc([model.id], cost);
    if (chargedNow) this.deps.onCharged?.(ctx.org, ctx.key);
    return cost;
  }

  private chargeFailed(err: unknown, ctx: RequestContext): void {
    this.deps.log.error({ err, requestId: ctx.meta.requestId }, 'applying a charge to the credit ledger failed');
  }
}

function reservedFor(ctx: RequestContext, model: ModelRuntime, reservation: Reservation): void {
  ctx.reservation = reservation;
  ctx.reservedFor = model.config.id;
}

/** The key's budget as this key's own spend may use it: less what the keys it replaced spent. */
function budgetLeftOf(key: KeyRow): number | null {
  return key.budget_micros === null ? null : key.budget_micros - (key.spend_offset_micros ?? 0);
}

const isAnthropic = (c: ChannelRuntime) => c.provider.type === 'anthropic';

/** Whether any channel of the model speaks the surface's protocol natively. */
function speaksNatively(model: ModelRuntime, surface: Surface): boolean {
  return model.channels.some((c) => c.adapter.native?.[surface.id] !== undefined);
}

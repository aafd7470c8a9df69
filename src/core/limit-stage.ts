// The limit stage (SPEC §7): RPM and TPM per key and org. Admits or refuses with 429 and
// Retry-After; leaves OpenAI's rate-limit headers on the context for every answer; TPM
// counts an estimate up front and is corrected to the real tokens when the request ends.
import type { Config } from '../config/schema.js';
import { exceededCode, headerStates, type LimitDecision, LimiterUnavailableError, type LimitPlan, planLimits, type RateLimiter, rateLimitHeaders, retryAfterSeconds, tokenKeys } from '../limits/index.js';
import type { Logger } from '../observability/logger.js';
import type { RequestContext } from './context.js';
import { GatewayError } from './errors.js';
import { type ConcurrencyLimiter, ConcurrencyUnavailableError } from '../limits/concurrency.js';

/**
 * Admits the request or throws its 429. An in-process limiter (acquireSync) decides at once,
 * with no promise on the way; a shared one (Redis) is awaited.
 */
export function applyLimits(limiter: RateLimiter, defaults: Config['limits'], ctx: RequestContext, tokens: number): void | Promise<void> {
  const plan = planLimits({
    keyId: ctx.key.id,
    orgId: ctx.org.id,
    key: { rpm: ctx.key.rpm ?? defaults.key_rpm, tpm: ctx.key.tpm ?? defaults.key_tpm },
    org: { rpm: ctx.org.rpm ?? defaults.org_rpm, tpm: ctx.org.tpm ?? defaults.org_tpm },
    tokens,
  });
  if (plan.specs.length === 0) return;
  if (limiter.acquireSync) {
    let decision: LimitDecision;
    try {
      decision = limiter.acquireSync(plan.specs);
    } catch (err) {
      throw limiterFailure(err);
    }
    admit(plan, decision, ctx, tokens);
    return;
  }
  return limiter.acquire(plan.specs).then(
    (decision) => admit(plan, decision, ctx, tokens),
    (err) => {
      throw limiterFailure(err);
    },
  );
}

/** A limiter that cannot answer refuses the request (503), to stay within limits. */
function limiterFailure(err: unknown): unknown {
  if (err instanceof LimiterUnavailableError) {
    return new GatewayError('overloaded', 'Rate limiting is temporarily unavailable, so the gateway is refusing requests to stay within limits. Retry shortly.', {
      retryAfterS: err.retryAfterS,
      cause: err,
    });
  }
  return err;
}

/** The limiter's decision: the rate-limit headers and TPM ticket on the context, or the 429. */
function admit(plan: LimitPlan, decision: LimitDecision, ctx: RequestContext, tokens: number): void {
  const states = headerStates(plan, decision.states);
  const headers = rateLimitHeaders(states.rpm, states.tpm);
  if (!decision.allowed) {
    const code = exceededCode(plan, decision.failed);
    const spec = plan.specs[decision.failed];
    const scope = spec.key.includes(':org:') ? "the organisation's" : "this key's";
    const wait = retryAfterSeconds(decision.retryAfterMs);
    const what = code === 'rpm_exceeded' ? `${spec.limit} requests per minute` : `${spec.limit} tokens per minute`;
    const tooBig = code === 'tpm_exceeded' && spec.cost > spec.limit;
    throw new GatewayError(
      code,
      tooBig
        ? `This request needs about ${spec.cost} tokens, more than ${scope} limit of ${what}; it can never fit. Lower max_tokens or shorten the prompt.`
        : `Rate limit reached: ${scope} limit is ${what}. Retry after ${wait} s.`,
      { retryAfterS: wait, headers },
    );
  }
  Object.assign(ctx.headers, headers);
  ctx.limitTicket = decision.ticket;
  ctx.tokenLimitKeys = tokenKeys(plan);
  ctx.limitTokens = tokens;
}

/** The request ended: count its real tokens against TPM instead of the estimate. */
export function correctTokenLimits(limiter: RateLimiter, log: Logger, ctx: RequestContext, real: number): void {
  if (!ctx.limitTicket || ctx.tokenLimitKeys.length === 0 || real === ctx.limitTokens) return;
  for (const k of ctx.tokenLimitKeys) limiter.adjust(ctx.limitTicket, k, real).catch((err) => log.warn({ err }, 'tpm correction failed'));
}

/** A cache hit used no upstream tokens: give its TPM estimate back. */
export function releaseTokenLimits(limiter: RateLimiter, ctx: RequestContext): void {
  if (!ctx.limitTicket) return;
  for (const k of ctx.tokenLimitKeys) limiter.adjust(ctx.limitTicket, k, 0).catch(() => {});
  ctx.tokenLimitKeys = [];
}

/** The limits on requests in flight at once that apply to this key and org (key's or org's own setting, else the configured default). */
export function concurrencyLimits(defaults: Config['limits'], key: { id: string; max_concurrency?: number | null }, org: { id: string; max_concurrency?: number | null }): { key: number | null; org: number | null } {
  return { key: key.max_concurrency ?? defaults.key_max_concurrency ?? null, org: org.max_concurrency ?? defaults.org_max_concurrency ?? null };
}

/** What acquireConcurrency returns when no concurrency limit applies: nothing to release. */
export const NOTHING_TO_RELEASE = (): void => {};

/**
 * The concurrency stage: a slot per key and per org for as long as the request runs, or 429
 * concurrency_exceeded saying how many are in flight. Returns the release: at once, a no-op
 * and no promise, when no limit applies (the usual case), else once the limiter has decided.
 */
export function acquireConcurrency(limiter: ConcurrencyLimiter, defaults: Config['limits'], ctx: RequestContext): (() => void) | Promise<() => void> {
  const limits = concurrencyLimits(defaults, ctx.key, ctx.org);
  if (limits.key === null && limits.org === null) return NOTHING_TO_RELEASE;
  return acquireSlots(limiter, limits, ctx);
}

async function acquireSlots(limiter: ConcurrencyLimiter, limits: { key: number | null; org: number | null }, ctx: RequestContext): Promise<() => void> {
  const scopes: Array<{ key: string; limit: number; who: string }> = [];
  if (limits.key !== null) scopes.push({ key: `key:${ctx.key.id}`, limit: limits.key, who: "this key's" });
  if (limits.org !== null) scopes.push({ key: `org:${ctx.org.id}`, limit: limits.org, who: "the organisation's" });
  if (scopes.length === 0) return NOTHING_TO_RELEASE;
  let decision: Awaited<ReturnType<ConcurrencyLimiter['acquire']>>;
  try {
    decision = await limiter.acquire(scopes);
  } catch (err) {
    if (err instanceof ConcurrencyUnavailableError) {
      throw new GatewayError('overloaded', 'Concurrency limits are temporarily unavailable, so the gateway is refusing requests to stay within them. Retry shortly.', { retryAfterS: 1, cause: err });
    }
    throw err;
  }
  if (!decision.allowed) {
    const s = scopes[decision.failed];
    throw new GatewayError(
      'concurrency_exceeded',
      `Too many requests in flight: ${decision.inFlight} running, and ${s.who} limit is ${s.limit} at once (max_concurrency). Retry when one finishes.`,
      { retryAfterS: 1, headers: { ...ctx.headers } },
    );
  }
  return decision.release;
}

/** A stream's frames that give the request's concurrency slots back when the stream ends, however it ends. */
export async function* releasingAtEnd(frames: AsyncIterable<string>, release: () => void): AsyncGenerator<string> {
  try {
    yield* frames;
  } finally {
    release();
  }
}

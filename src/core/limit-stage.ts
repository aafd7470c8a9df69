// The limit stage (SPEC §7): RPM and TPM per key and org. Admits or refuses with 429 and
// Retry-After; leaves OpenAI's rate-limit headers on the context for every answer; TPM
// counts an estimate up front and is corrected to the real tokens when the request ends.
import type { Config } from '../config/schema.js';
import { exceededCode, headerStates, LimiterUnavailableError, planLimits, type RateLimiter, rateLimitHeaders, retryAfterSeconds, tokenKeys } from '../limits/index.js';
import type { Logger } from '../observability/logger.js';
import type { RequestContext } from './context.js';
import { GatewayError } from './errors.js';

export async function applyLimits(limiter: RateLimiter, defaults: Config['limits'], ctx: RequestContext, tokens: number): Promise<void> {
  const plan = planLimits({
    keyId: ctx.key.id,
    orgId: ctx.org.id,
    key: { rpm: ctx.key.rpm ?? defaults.key_rpm, tpm: ctx.key.tpm ?? defaults.key_tpm },
    org: { rpm: ctx.org.rpm ?? defaults.org_rpm, tpm: ctx.org.tpm ?? defaults.org_tpm },
    tokens,
  });
  if (plan.specs.length === 0) return;
  let decision: Awaited<ReturnType<RateLimiter['acquire']>>;
  try {
    decision = await limiter.acquire(plan.specs);
  } catch (err) {
    if (err instanceof LimiterUnavailableError) {
      throw new GatewayError('overloaded', 'Rate limiting is temporarily unavailable, so the gateway is refusing requests to stay within limits. Retry shortly.', {
        retryAfterS: err.retryAfterS,
        cause: err,
      });
    }
    throw err;
  }
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

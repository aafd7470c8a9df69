// The usage row and charge of one finished request, built the same way for every outcome
// (served, failed, cache hit) so the write-behind queue gets one shape.
import type { FinishedRequest } from '../billing/usage-writer.js';
import type { UsageRow } from '../store/types.js';
import type { RequestContext } from './context.js';

export type Outcome = Pick<
  UsageRow,
  | 'model'
  | 'provider'
  | 'prompt_tokens'
  | 'completion_tokens'
  | 'cache_read_tokens'
  | 'cache_write_tokens'
  | 'reasoning_tokens'
  | 'cost_micros'
  | 'cached'
  | 'status'
  | 'error_code'
  | 'stream'
  | 'estimated'
  | 'fallback'
  | 'attempts'
>;

/**
 * A request's charge id, made from its request id (unique, and one charge per request): the
 * same charge has the same id in its checkpoint and final rows, and ids of one process sort in
 * the order they were issued, so the ledger's primary-key index grows at its end instead of
 * writing a random page of it for every charge.
 */
export function chargeId(requestId: string): string {
  return `chg_${requestId}`;
}

export function finishedRequest(ctx: RequestContext, o: Outcome, now = Date.now()): FinishedRequest {
  const requestId = ctx.meta.requestId;
  return {
    // Every field named, not spread from `o`: a literal of one shape is one allocation, where a
    // spread grows the row's property store field by field.
    usage: {
      request_id: requestId,
      org_id: ctx.org.id,
      key_id: ctx.key.id,
      requested_model: ctx.requestedModel,
      surface: ctx.surface,
      latency_ms: now - ctx.meta.receivedAt,
      created_at: now,
      model: o.model,
      provider: o.provider,
      prompt_tokens: o.prompt_tokens,
      completion_tokens: o.completion_tokens,
      cache_read_tokens: o.cache_read_tokens,
      cache_write_tokens: o.cache_write_tokens,
      reasoning_tokens: o.reasoning_tokens,
      cost_micros: o.cost_micros,
      cached: o.cached,
      status: o.status,
      error_code: o.error_code,
      stream: o.stream,
      estimated: o.estimated,
      fallback: o.fallback,
      attempts: o.attempts,
    },
    charge:
      o.cost_micros > 0
        ? {
            id: chargeId(requestId),
            org_id: ctx.org.id,
            key_id: ctx.key.id,
            kind: 'charge',
            amount_micros: -o.cost_micros,
            note: null,
            request_id: requestId,
            idempotency_key: null,
            created_at: now,
          }
        : undefined,
  };
}

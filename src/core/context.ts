// What the engine knows about one request while it runs. Built by the engine from the
// transport's InboundMeta; stages read and fill it in order.
import type { AuthHeaders, Principal } from '../auth/authenticate.js';
import type { Reservation } from '../billing/accounts.js';
import type { ModelRuntime } from '../routing/channels.js';
import type { RequestSignal } from './request-signal.js';
import type { KeyRow, OrgRow } from '../store/types.js';

/** What the HTTP layer passes in: nothing HTTP-specific beyond plain header values. */
export interface InboundMeta {
  requestId: string;
  auth: AuthHeaders;
  /**
   * The inference key's org and key when the transport already authenticated `auth` with the
   * engine's own check (an inference key, before the body was read); else the engine does.
   */
  principal?: Principal;
  /** aborted when the client goes away */
  signal: RequestSignal;
  idempotencyKey?: string;
  cacheControl?: string;
  /** `x-mock-*` headers, forwarded only to mock providers */
  mockHeaders?: Record<string, string>;
  /** the inbound request's headers (lower-cased); surfaces read what they need */
  headers?: Readonly<Record<string, string | undefined>>;
  receivedAt: number;
  /**
   * Set by a caller that waits for the usage spool before it answers (UsageWriter.beginTogether
   * and endTogether): rows settled while `on` holds may be appended with the others of the same
   * event-loop turn, in one write. An object, so that copies of the meta see it turned off.
   */
  spoolTogether?: { on: boolean };
}

export interface RequestContext {
  /** the inbound surface's id (chat, messages, responses, completions, embeddings) */
  surface: string;
  meta: InboundMeta;
  org: OrgRow;
  key: KeyRow;
  requestedModel: string;
  model: ModelRuntime;
  promptEstimate: number;
  reservation: Reservation | undefined;
  /** the model the reservation was made for */
  reservedFor: string | undefined;
  attempts: number;
  /** "a -> b" once a fallback served */
  fallback: string | undefined;
  /** rate-limit ticket and the TPM counters to correct once real tokens are known */
  limitTicket: string | undefined;
  tokenLimitKeys: string[];
  /** tokens counted against TPM up front */
  limitTokens: number;
  /** response headers collected by stages (rate limits, cache) */
  headers: Record<string, string>;
  /** set once a stream ended normally and was settled */
  streamCompleted?: boolean;
}

export interface JsonResult {
  kind: 'json';
  status: number;
  headers: Record<string, string>;
  body: unknown;
  /** the body already serialized (cache hits, native answers), sent as is */
  serialized?: string;
  /** the canonical completion behind the body, when there is one (the cache stores it) */
  completion?: import('./types.js').ChatCompletion;
}

export interface StreamResult {
  kind: 'stream';
  headers: Record<string, string>;
  /** SSE frames ready to write; the iterator ends after the surface's closing frames or an error frame. */
  frames: AsyncIterable<string>;
}

export type EngineResult = JsonResult | StreamResult;

/** A request's context as the engine starts it: nothing reserved, attempted or limited yet. */
export function newRequestContext(meta: InboundMeta, org: OrgRow, key: KeyRow, model: ModelRuntime, promptEstimate: number, surface = 'chat'): RequestContext {
  return {
    surface,
    meta,
    org,
    key,
    requestedModel: model.config.id,
    model,
    promptEstimate,
    reservation: undefined,
    reservedFor: undefined,
    attempts: 0,
    fallback: undefined,
    limitTicket: undefined,
    tokenLimitKeys: [],
    limitTokens: 0,
    headers: {},
  };
}

// Owns the response cache: which requests are cacheable, their keys, the exact (memory or Redis) and semantic layers, and their hit/miss counts.
// Must not call upstreams, bill, or know HTTP: it answers hit/miss/bypass and the engine decides what that costs and which headers say it.
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import type { ChatCompletion, ChatRequest } from '../core/types.js';
import { exactCacheKey, type SemanticScope, semanticScope } from './canonical.js';
import { createExactCache, type ExactCache } from './exact-cache.js';
import { createMemoryBackend } from './memory-backend.js';
import { type CacheDecision, cacheDecision } from './policy.js';
import { createRedisBackend } from './redis-backend.js';
import { createSemanticCache, type SemanticCache } from './semantic-cache.js';
import type { CacheBackend, CachedEntry, CacheErrorHandler, CacheLayer, Clock, EmbedFn } from './types.js';

export { canonicalJson, exactCacheKey, type SemanticScope, semanticScope } from './canonical.js';
export { createExactCache, type ExactCache, type ExactCacheOptions } from './exact-cache.js';
export { createMemoryBackend, type MemoryBackend, type MemoryBackendOptions } from './memory-backend.js';
export { type CacheDecision, cacheDecision, optsOutOfCache } from './policy.js';
export { createRedisBackend, type RedisBackendOptions } from './redis-backend.js';
export { createSemanticCache, type SemanticCache, type SemanticCacheOptions, type SemanticHit } from './semantic-cache.js';
export type { CacheBackend, CachedEntry, CacheErrorHandler, CacheErrorSite, CacheLayer, Clock, EmbedFn } from './types.js';

export interface ResponseCacheDeps {
  /** when given, exact entries live in Redis and are shared by every instance */
  redis?: Redis;
  /** default `tollgate:cache:`; pass `${config.redis.key_prefix}cache:` */
  redisPrefix?: string;
  redisTimeoutMs?: number;
  /** without it the semantic layer stays off even if configured */
  embed?: EmbedFn;
  onError?: CacheErrorHandler;
  now?: Clock;
}

/** Per-request switches, e.g. from the key's cache settings; they can only narrow the config. */
export interface CacheLookupOptions {
  exact?: boolean;
  semantic?: boolean;
  /** raises the semantic threshold for this request; a lower value is ignored */
  minSimilarity?: number;
}

/** What a miss needs to store the answer later, so keys are hashed once per request. */
export interface CacheTicket {
  orgId: string;
  /** undefined when the request could not be keyed; then nothing is stored or coalesced */
  exactKey: string | undefined;
  storeExact: boolean;
  scope: SemanticScope | undefined;
}

export type CacheProbe =
  | { status: 'hit'; layer: CacheLayer; entry: CachedEntry; similarity?: number }
  | { status: 'miss'; ticket: CacheTicket };

export interface LayerStats {
  hits: number;
  misses: number;
  /** failures absorbed as a miss or a skipped write */
  errors: number;
}

/** Monotonic counters for the metrics module to read (it owns the Prometheus side). */
export interface CacheStats {
  bypass: number;
  exact: LayerStats;
  semantic: LayerStats;
  /** callers that joined an identical request already in flight instead of calling upstream */
  coalesced: number;
}

export interface Coalesced<T> {
  value: T;
  shared: boolean;
}

export interface ResponseCache {
  readonly exactEnabled: boolean;
  readonly semanticEnabled: boolean;
  /** SPEC §9 cacheability, also 'bypass' when every layer is off; counts bypasses */
  decide(req: ChatRequest, headers: { cacheControl?: string }): CacheDecision;
  /**
   * exact layer first, then semantic; never rejects. Answered at once (no promise) when only an
   * in-process exact layer is asked.
   */
  lookup(orgId: string, model: string, req: ChatRequest, opts?: CacheLookupOptions): CacheProbe | Promise<CacheProbe>;
  /** stores a fresh answer after a miss; never rejects, so it may be left un-awaited */
  store(ticket: CacheTicket, completion: ChatCompletion, body?: string): Promise<void>;
  /**
   * Shares one `run` among concurrent identical misses (see ExactCache.coalesce).
   * `shared` is true for callers that got another request's result without an upstream
   * call of their own: they should be billed and recorded like an exact hit. The value is
   * the same object for every caller, so treat it as read-only.
   */
  coalesce<T>(ticket: CacheTicket, run: () => Promise<T>): Promise<Coalesced<T>>;
  readonly stats: CacheStats;
  close(): Promise<void>;
}

const DEFAULT_REDIS_PREFIX = 'tollgate:cache:';

/** Finish reasons that describe a complete, replayable answer (not a filtered or cut-off one). */
const STORABLE_FINISH = new Set(['stop', 'length', 'tool_calls', 'function_call']);

export function createResponseCache(config: Config['cache'], deps: ResponseCacheDeps = {}): ResponseCache {
  const now = deps.now ?? Date.now;
  const stats: CacheStats = {
    bypass: 0,
    exact: { hits: 0, misses: 0, errors: 0 },
    semantic: { hits: 0, misses: 0, errors: 0 },
    coalesced: 0,
  };
  const onError: CacheErrorHandler = (err, where) => {
    if (where.startsWith('semantic')) stats.semantic.errors++;
    else stats.exact.errors++;
    deps.onError?.(err, where);
  };

  const backend: CacheBackend = deps.redis
    ? createRedisBackend(deps.redis, { prefix: deps.redisPrefix ?? DEFAULT_REDIS_PREFIX, timeoutMs: deps.redisTimeoutMs })
    : createMemoryBackend({ maxBytes: config.exact.max_bytes, now });
  const exact: ExactCache = createExactCache(backend, { ttlMs: config.exact.ttl_s * 1000, onError });
  const semantic: SemanticCache | undefined =
    config.semantic.enabled && deps.embed
      ? createSemanticCache({
          embed: deps.embed,
          threshold: config.semantic.threshold,
          ttlMs: config.semantic.ttl_s * 1000,
          maxEntriesPerOrg: config.semantic.max_entries_per_org,
          now,
          onError,
        })
      : undefined;
  const exactEnabled = config.exact.enabled;
  const semanticEnabled = semantic !== undefined;

  /** lookup() through layers that answer with promises (a shared backend, the semantic layer). */
  async function lookupAwaited(orgId: string, exactKey: string, ticket: CacheTicket, useExact: boolean, scope: SemanticScope | undefined, opts: CacheLookupOptions): Promise<CacheProbe> {
    if (useExact) {
      const entry = await exact.lookup(exactKey);
      if (entry !== undefined) {
        stats.exact.hits++;
        return { status: 'hit', layer: 'exact', entry };
      }
      stats.exact.misses++;
    }
    if (semantic !== undefined && scope !== undefined && scope.promptText !== '') {
      const hit = await semantic.lookup(orgId, scope.scopeKey, scope.promptText, opts.minSimilarity);
      if (hit !== undefined) {
        stats.semantic.hits++;
        return { status: 'hit', layer: 'semantic', entry: hit.entry, similarity: hit.similarity };
      }
      stats.semantic.misses++;
    }
    return { status: 'miss', ticket };
  }

  return {
    exactEnabled,
    semanticEnabled,
    stats,

    decide(req, headers) {
      const d = exactEnabled || semanticEnabled ? cacheDecision(req, headers) : 'bypass';
      if (d === 'bypass') stats.bypass++;
      return d;
    },

    lookup(orgId, model, req, opts = {}) {
      const useExact = exactEnabled && opts.exact !== false;
      const useSemantic = semantic !== undefined && opts.semantic !== false;
      let exactKey: string | undefined;
      let scope: SemanticScope | undefined;
      try {
        // The exact key is needed even with the exact layer off: it is the coalescing key.
        exactKey = exactCacheKey(orgId, model, req);
        if (useSemantic) scope = semanticScope(orgId, model, req);
      } catch (err) {
        onError(err, 'key');
        return { status: 'miss', ticket: { orgId, exactKey: undefined, storeExact: false, scope: undefined } };
      }
      const ticket: CacheTicket = { orgId, exactKey, storeExact: useExact, scope };
      const semanticStep = semantic !== undefined && scope !== undefined && scope.promptText !== '';
      if (!semanticStep && (!useExact || exact.lookupNow !== undefined)) {
        if (useExact) {
          const entry = exact.lookupNow!(exactKey);
          if (entry !== undefined) {
            stats.exact.hits++;
            return { status: 'hit', layer: 'exact', entry };
          }
          stats.exact.misses++;
        }
        return { status: 'miss', ticket };
      }
      return lookupAwaited(orgId, exactKey, ticket, useExact, scope, opts);
    },

    async store(ticket, completion, body) {
      if (ticket.exactKey === undefined || !isStorable(completion)) return;
      const entry: CachedEntry = {
        body: body ?? JSON.stringify(completion),
        usage: {
          prompt_tokens: completion.usage?.prompt_tokens ?? 0,
          completion_tokens: completion.usage?.completion_tokens ?? 0,
        },
        model: completion.model,
        createdAt: now(),
      };
      const writes: Promise<void>[] = [];
      if (ticket.storeExact) writes.push(exact.store(ticket.exactKey, entry));
      const scope = ticket.scope;
      if (semantic !== undefined && scope !== undefined && scope.promptText !== '') {
        writes.push(semantic.store(ticket.orgId, scope.scopeKey, scope.promptText, entry));
      }
      await Promise.all(writes);
    },

    async coalesce(ticket, run) {
      if (ticket.exactKey === undefined) return { value: await run(), shared: false };
      // The exact layer calls `run` synchronously for the first caller only.
      let led = false;
      const flight = exact.coalesce(ticket.exactKey, () => {
        led = true;
        return run();
      });
      if (!led) stats.coalesced++;
      return { value: await flight, shared: !led };
    },

    async close() {
      semantic?.clear();
      await backend.close();
    },
  };
}

/** The stored answer as an object, for an engine that post-processes rather than sending `entry.body` as is. */
export function cachedCompletion(entry: CachedEntry): ChatCompletion {
  return JSON.parse(entry.body) as ChatCompletion;
}

function isStorable(c: ChatCompletion): boolean {
  if (c.object !== 'chat.completion' || !Array.isArray(c.choices) || c.choices.length === 0) return false;
  for (const choice of c.choices) {
    if (choice.finish_reason === null || !STORABLE_FINISH.has(choice.finish_reason)) return false;
  }
  return true;
}

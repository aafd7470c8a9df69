// The contracts every cache backend and layer speaks. Kept free of any backend import so
// the engine can depend on these types without pulling in ioredis or lru-cache.

/** A stored non-streaming answer, exactly as it was first returned to a client. */
export interface CachedEntry {
  /** the serialized `chat.completion` object */
  body: string;
  usage: { prompt_tokens: number; completion_tokens: number };
  /** the model that actually served the original request (after any fallback) */
  model: string;
  /** epoch ms when the answer was stored */
  createdAt: number;
}

/**
 * Key/value storage for exact-match entries. Implementations may reject (network down,
 * corrupt value); the exact layer turns every rejection into a MISS, so a backend never
 * has to decide what an outage means for a request.
 */
export interface CacheBackend {
  get(key: string): Promise<CachedEntry | undefined>;
  /** get() answered at once, by a backend that keeps its entries in this process. */
  getNow?(key: string): CachedEntry | undefined;
  set(key: string, entry: CachedEntry, ttlMs: number): Promise<void>;
  close(): Promise<void>;
}

export type CacheLayer = 'exact' | 'semantic';

/** Receives failures the cache absorbed (backend outage, embedding error) so they can be logged. */
export type CacheErrorHandler = (err: unknown, where: CacheErrorSite) => void;
export type CacheErrorSite = 'exact.lookup' | 'exact.store' | 'semantic.lookup' | 'semantic.store' | 'key';

/** Epoch-ms clock; injectable so TTL behaviour is tested without sleeping. */
export type Clock = () => number;

/** Produces an embedding for one text on behalf of one org (so its cost lands on that org). */
export type EmbedFn = (orgId: string, text: string) => Promise<Float32Array>;

/** Parses a stored value; rejects anything that is not a well-formed entry. */
export function parseCachedEntry(raw: string): CachedEntry {
  const v: unknown = JSON.parse(raw);
  if (!isCachedEntry(v)) throw new Error('cached value is not a CachedEntry');
  return v;
}

export function isCachedEntry(v: unknown): v is CachedEntry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  const u = e.usage as Record<string, unknown> | null | undefined;
  return (
    typeof e.body === 'string' &&
    typeof e.model === 'string' &&
    typeof e.createdAt === 'number' &&
    typeof u === 'object' &&
    u !== null &&
    typeof u.prompt_tokens === 'number' &&
    typeof u.completion_tokens === 'number'
  );
}

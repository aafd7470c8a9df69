// Shared plumbing for the end-to-end cache suites (SPEC §9 through HTTP): gateway configs with
// an `openai`-type provider in front of a counting or scripted upstream, one request helper
// that reads the cache headers, usage/balance/metrics readers, and taps on the response cache
// so a test can await a write or a coalesced join instead of sleeping.
import type { Server } from 'node:http';
import type { ResponseCache } from '../../src/cache/index.js';
import type { EngineDeps } from '../../src/core/engine.js';
import { ADMIN_TOKEN, MOCK_MODELS, type TestGateway } from '../helpers/gateway.js';
import { chatModel, deferred, openaiProvider } from '../helpers/upstream.js';

/** The chat model every suite caches: an `openai`-type channel to a local upstream. */
export const MODEL = 'cached-chat';

/** Priced high on purpose, so an embedding billed to an org would move its balance by whole micro-dollars. */
export const EMBEDDING_MODEL = {
  ...MOCK_MODELS.find((m) => m.id === 'mock-embedding')!,
  pricing: { input_per_mtok: 5000, output_per_mtok: 0 },
};

/** Raw config for startTestGateway: MODEL served by `upstreamUrl`, the mock provider for embeddings. */
export function gatewayConfig(upstreamUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server: { max_event_loop_lag_ms: 600_000 },
    providers: [openaiProvider('counted', upstreamUrl), { id: 'mock', type: 'mock' }],
    models: [chatModel(MODEL, 'counted', 'mock-chat'), EMBEDDING_MODEL],
    ...extra,
  };
}

export interface Answer {
  status: number;
  /** X-Tollgate-Cache */
  cache: string | null;
  /** X-Tollgate-Cache-Type */
  cacheType: string | null;
  requestId: string | null;
  text: string;
  /** first choice's message content, when the body is a chat.completion */
  content: string | undefined;
}

/** POSTs a chat completion (`body` as an object, or as a raw JSON string to control key order). */
export async function ask(url: string, key: string, body: Record<string, unknown> | string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Answer> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  let content: string | undefined;
  if (res.headers.get('content-type')?.includes('application/json')) {
    const parsed = JSON.parse(text) as { choices?: Array<{ message?: { content?: string } }> };
    content = parsed.choices?.[0]?.message?.content ?? undefined;
  }
  return {
    status: res.status,
    cache: res.headers.get('x-tollgate-cache'),
    cacheType: res.headers.get('x-tollgate-cache-type'),
    requestId: res.headers.get('x-request-id'),
    text,
    content,
  };
}

/** A cacheable request (temperature 0, non-stream) for MODEL. */
export function cacheable(prompt: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: MODEL, messages: [{ role: 'user', content: prompt }], temperature: 0, ...extra };
}

export interface UsageItem {
  request_id: string;
  key_id: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  cached: boolean;
  cache_type: string | null;
  status: number;
}

async function getJson<T>(url: string, credential: string, path: string): Promise<T> {
  const res = await fetch(url + path, { headers: { authorization: `Bearer ${credential}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Every usage record of the management key's org, through GET /api/usage. */
export async function usageRows(gw: TestGateway, mk: string): Promise<UsageItem[]> {
  const out: UsageItem[] = [];
  let cursor: string | null = null;
  do {
    const page: { data: UsageItem[]; next_cursor: string | null } = await getJson(gw.url, mk, `/api/usage?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    out.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

/** The org balance in USD, through GET /api/balance. */
export async function balanceUsd(gw: TestGateway, mk: string): Promise<number> {
  return (await getJson<{ balance_usd: number }>(gw.url, mk, '/api/balance')).balance_usd;
}

/** `tollgate_cache_lookups_total` samples from GET /metrics, keyed `layer/result`. */
export async function cacheLookupSamples(gw: TestGateway): Promise<Map<string, number>> {
  const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${text}`);
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^tollgate_cache_lookups_total\{([^}]*)\}\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    samples.set(`${labels.layer}/${labels.result}`, Number(m[2]));
  }
  return samples;
}

/**
 * The gateway's response cache. Not part of the public surface: the taps below wrap its
 * methods so tests can await what the engine does in the background (a write after a miss)
 * or concurrently (callers joining one upstream call).
 */
export function responseCacheOf(gw: TestGateway): ResponseCache {
  const deps = (gw.running.gateway.engine as unknown as { deps?: EngineDeps }).deps;
  if (!deps?.cache) throw new Error('the gateway engine has no response cache (deps.cache); the cache e2e taps need it');
  return deps.cache;
}

export interface WriteTap {
  /** cache writes started so far */
  readonly started: number;
  /** resolves once every write started so far has finished */
  settled(): Promise<void>;
}

/** Tracks the stores the engine leaves un-awaited after a miss. */
export function tapCacheWrites(gw: TestGateway): WriteTap {
  const cache = responseCacheOf(gw);
  const original = cache.store.bind(cache);
  const pending = new Set<Promise<void>>();
  let started = 0;
  (cache as { store: ResponseCache['store'] }).store = (ticket, completion, body) => {
    started++;
    const p = original(ticket, completion, body).finally(() => pending.delete(p));
    pending.add(p);
    return p;
  };
  return {
    get started() {
      return started;
    },
    async settled() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}

export interface CoalesceTap {
  /** requests that reached the coalescing step so far */
  readonly joined: number;
  /** resolves when `n` requests have reached it (rejects after `timeoutMs`) */
  reached(n: number, timeoutMs?: number): Promise<void>;
}

/** Counts requests entering ResponseCache.coalesce (after their lookup missed). */
export function tapCoalesce(gw: TestGateway): CoalesceTap {
  const cache = responseCacheOf(gw);
  const original = cache.coalesce.bind(cache);
  let joined = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  (cache as { coalesce: ResponseCache['coalesce'] }).coalesce = (ticket, run) => {
    joined++;
    for (const w of waiters.splice(0)) {
      if (joined >= w.n) w.resolve();
      else waiters.push(w);
    }
    return original(ticket, run);
  };
  return {
    get joined() {
      return joined;
    },
    reached(n, timeoutMs = 20_000) {
      if (joined >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${joined} of ${n} requests reached the coalescing step within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}

/** Resolves when the gateway's server-side response for `requestId` closes (e.g. its client went away). */
export function serverResponseClosed(gw: TestGateway, requestId: string): Promise<void> {
  const server = gw.running.http.app.server as Server;
  const closed = deferred();
  const onRequest = (req: { headers: Record<string, unknown> }, res: { once(event: 'close', cb: () => void): void }) => {
    if (req.headers['x-request-id'] !== requestId) return;
    server.off('request', onRequest);
    res.once('close', () => closed.resolve());
  };
  server.on('request', onRequest);
  return closed.promise;
}

/** An answer body without its usage.cost (a hit is the stored answer, at cost 0). */
export function withoutCost(text: string): string {
  const body = JSON.parse(text) as { usage?: Record<string, unknown> };
  if (body.usage) delete body.usage.cost;
  return JSON.stringify(body);
}

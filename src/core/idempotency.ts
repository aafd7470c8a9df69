// Idempotent inference requests (SPEC §7): a repeated Idempotency-Key for the same key
// within 24 h replays the first response; a different body under the same header is 409.
// The record lives behind a small contract: in this process (one instance), or in Redis so
// that every instance (and a restarted one) sees it; duplicates wait for the first.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { GatewayError } from './errors.js';
import type { RequestSignal } from './request-signal.js';

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  /** JSON body, or the SSE frames of a stream */
  body?: unknown;
  frames?: string[];
}

export type IdempotencyClaim =
  | { kind: 'first'; complete(r: StoredResponse | undefined): void }
  /** Resolves with the first response, or undefined when the first attempt failed (claim again). */
  | { kind: 'replay'; response: Promise<StoredResponse | undefined> };

/** Where idempotency records live. */
export interface IdempotencyBackend {
  /**
   * The first caller gets `first` and must call complete(); later callers wait for it and
   * replay. A failed first request (complete(undefined)) frees the key for a new attempt.
   * Throws idempotency_conflict when the key was used with another body.
   */
  claim(keyId: string, idemKey: string, bodyHash: string, signal?: RequestSignal): Promise<IdempotencyClaim>;
}

export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

export function idempotencyConflict(): GatewayError {
  return new GatewayError('idempotency_conflict', 'This Idempotency-Key was already used with a different request body. Use a new key for a new request.');
}

interface Entry {
  bodyHash: string;
  done: Promise<StoredResponse | undefined>;
}

/** Records in this process only: right for one instance, lost on restart. */
export class MemoryIdempotency implements IdempotencyBackend {
  private cache: LRUCache<string, Entry> | undefined;

  constructor(private readonly opts: { ttlMs?: number; max?: number } = {}) {}

  /** Made at the first Idempotency-Key: an LRU this size preallocates its index (megabytes). */
  private get entries(): LRUCache<string, Entry> {
    this.cache ??= new LRUCache<string, Entry>({ max: this.opts.max ?? 50_000, ttl: this.opts.ttlMs ?? IDEMPOTENCY_TTL_MS });
    return this.cache;
  }

  claimNow(keyId: string, idemKey: string, bodyHash: string): IdempotencyClaim {
    const id = `${keyId}\u0000${idemKey}`;
    const existing = this.entries.get(id);
    if (existing) {
      if (existing.bodyHash !== bodyHash) throw idempotencyConflict();
      return { kind: 'replay', response: existing.done };
    }
    let resolve!: (r: StoredResponse | undefined) => void;
    const done = new Promise<StoredResponse | undefined>((r) => {
      resolve = r;
    });
    this.entries.set(id, { bodyHash, done });
    return {
      kind: 'first',
      complete: (r) => {
        if (!r) this.entries.delete(id);
        resolve(r);
      },
    };
  }

  async claim(keyId: string, idemKey: string, bodyHash: string): Promise<IdempotencyClaim> {
    return this.claimNow(keyId, idemKey, bodyHash);
  }
}

/** The part of the store that keeps idempotency records. */
export interface IdempotencyRecords {
  putIdempotencyRecord(row: { key_id: string; idem_key: string; body_hash: string; response: string; expires_at: number }): Promise<void>;
  getIdempotencyRecord(keyId: string, idemKey: string, now: number): Promise<{ body_hash: string; response: string } | undefined>;
}

/**
 * Records in this process for requests in flight (duplicates wait for the first), and in the
 * store once finished, so a restarted gateway without Redis still replays them for 24 h.
 */
export class StoreIdempotency implements IdempotencyBackend {
  private readonly memory: MemoryIdempotency;

  constructor(
    private readonly store: IdempotencyRecords,
    private readonly onError: (err: unknown) => void,
    private readonly ttlMs = IDEMPOTENCY_TTL_MS,
  ) {
    this.memory = new MemoryIdempotency({ ttlMs });
  }

  async claim(keyId: string, idemKey: string, bodyHash: string): Promise<IdempotencyClaim> {
    const claim = this.memory.claimNow(keyId, idemKey, bodyHash);
    if (claim.kind === 'replay') return claim;
    let kept: { body_hash: string; response: string } | undefined;
    try {
      kept = await this.store.getIdempotencyRecord(keyId, idemKey, Date.now());
    } catch (err) {
      // The store is unreachable: this process's own records still catch duplicates.
      this.onError(err);
    }
    if (kept) {
      if (kept.body_hash !== bodyHash) {
        claim.complete(undefined);
        throw idempotencyConflict();
      }
      const stored = JSON.parse(kept.response) as StoredResponse;
      claim.complete(stored);
      return { kind: 'replay', response: Promise.resolve(stored) };
    }
    return {
      kind: 'first',
      complete: (r) => {
        claim.complete(r);
        if (!r) return;
        this.store
          .putIdempotencyRecord({ key_id: keyId, idem_key: idemKey, body_hash: bodyHash, response: JSON.stringify(r), expires_at: Date.now() + this.ttlMs })
          .catch(this.onError);
      },
    };
  }
}

/**
 * What the engine holds. The backend is chosen by the composition root (memory by default,
 * Redis when configured), so the engine's stage stays the same either way.
 */
export class IdempotencyCache implements IdempotencyBackend {
  private backend: IdempotencyBackend;

  constructor(opts: { ttlMs?: number; max?: number } = {}) {
    this.backend = new MemoryIdempotency(opts);
  }

  static hashBody(body: unknown): string {
    return createHash('sha256').update(JSON.stringify(body)).digest('hex');
  }

  /** Switches where records live; call once, at start, before any request. */
  use(backend: IdempotencyBackend): void {
    this.backend = backend;
  }

  claim(keyId: string, idemKey: string, bodyHash: string, signal?: RequestSignal): Promise<IdempotencyClaim> {
    return this.backend.claim(keyId, idemKey, bodyHash, signal);
  }
}

// Idempotent inference requests (SPEC §7): a repeated Idempotency-Key for the same key
// within 24 h replays the first response; a different body under the same header is 409.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { GatewayError } from './errors.js';

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  /** JSON body, or the SSE frames of a stream */
  body?: unknown;
  frames?: string[];
}

interface Entry {
  bodyHash: string;
  done: Promise<StoredResponse | undefined>;
}

export type IdempotencyClaim =
  | { kind: 'first'; complete(r: StoredResponse | undefined): void }
  | { kind: 'replay'; response: Promise<StoredResponse | undefined> };

export class IdempotencyCache {
  private readonly entries: LRUCache<string, Entry>;

  constructor(opts: { ttlMs?: number; max?: number } = {}) {
    this.entries = new LRUCache<string, Entry>({ max: opts.max ?? 50_000, ttl: opts.ttlMs ?? 24 * 3600 * 1000 });
  }

  static hashBody(body: unknown): string {
    return createHash('sha256').update(JSON.stringify(body)).digest('hex');
  }

  /**
   * The first caller gets `first` and must call complete(); later callers wait for it and
   * replay. A failed first request (complete(undefined)) frees the key for a new attempt.
   */
  claim(keyId: string, idemKey: string, bodyHash: string): IdempotencyClaim {
    const id = `${keyId}\u0000${idemKey}`;
    const existing = this.entries.get(id);
    if (existing) {
      if (existing.bodyHash !== bodyHash) {
        throw new GatewayError('idempotency_conflict', 'This Idempotency-Key was already used with a different request body. Use a new key for a new request.');
      }
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
}

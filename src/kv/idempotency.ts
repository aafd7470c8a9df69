// Idempotency records in Redis, shared by every instance and surviving restarts. A record is
// pending while its first request runs (a lease its owner renews, so a crashed owner's claim
// lapses) and holds the response for 24 h once done. Duplicates poll until it is done.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type IdempotencyBackend, type IdempotencyClaim, IDEMPOTENCY_TTL_MS, idempotencyConflict, type MemoryIdempotency, type StoredResponse } from '../core/idempotency.js';
import type { RequestSignal } from '../core/request-signal.js';

interface RecordValue {
  /** body hash */
  h: string;
  /** owner (instance) while pending */
  o?: string;
  /** the response, once done */
  r?: StoredResponse;
}

// KEYS: record   ARGV: pending record JSON, pendingTtlMs → nil when claimed, else the current record
const CLAIM = `
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
return false
`;

// KEYS: record   ARGV: owner, new value ('' = delete), ttlMs — only while the owner still holds it pending.
const FINISH = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local rec = cjson.decode(cur)
if rec.o ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[3])) end
return 1
`;

// KEYS: record   ARGV: owner, ttlMs
const RENEW = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if cjson.decode(cur).o ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
`;

export interface RedisIdempotencyOptions {
  prefix: string;
  /** This instance's id (owner of its pending records). */
  instance: string;
  /** Used while Redis cannot be reached: duplicates are then only caught within this instance. */
  fallback: MemoryIdempotency;
  onError?: (err: unknown) => void;
  /** How long a pending record outlives its owner's last renewal. Default 30 s. */
  pendingTtlMs?: number;
  ttlMs?: number;
}

export class RedisIdempotency implements IdempotencyBackend {
  private readonly pendingTtlMs: number;
  private readonly ttlMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly opts: RedisIdempotencyOptions,
  ) {
    this.pendingTtlMs = opts.pendingTtlMs ?? 30_000;
    this.ttlMs = opts.ttlMs ?? IDEMPOTENCY_TTL_MS;
  }

  private recordKey(keyId: string, idemKey: string): string {
    // Hashed: the client's header is hostile input of any length.
    return `${this.opts.prefix}idem:${createHash('sha256').update(`${keyId}\u0000${idemKey}`).digest('base64url')}`;
  }

  async claim(keyId: string, idemKey: string, bodyHash: string, signal?: RequestSignal): Promise<IdempotencyClaim> {
    const key = this.recordKey(keyId, idemKey);
    const pending: RecordValue = { h: bodyHash, o: this.opts.instance };
    let current: string | null;
    try {
      current = (await this.redis.eval(CLAIM, 1, key, JSON.stringify(pending), this.pendingTtlMs)) as string | null;
    } catch (err) {
      this.opts.onError?.(err);
      return this.opts.fallback.claimNow(keyId, idemKey, bodyHash);
    }
    if (current === null) return this.first(key, bodyHash);
    const rec = parseRecord(current);
    if (rec && rec.h !== bodyHash) throw idempotencyConflict();
    return { kind: 'replay', response: this.awaitDone(key, bodyHash, signal) };
  }

  private first(key: string, bodyHash: string): IdempotencyClaim {
    const owner = this.opts.instance;
    const renew = setInterval(() => {
      this.redis.eval(RENEW, 1, key, owner, this.pendingTtlMs).catch(() => undefined);
    }, Math.max(50, Math.floor(this.pendingTtlMs / 3)));
    renew.unref();
    let completed = false;
    return {
      kind: 'first',
      complete: (r) => {
        if (completed) return;
        completed = true;
        clearInterval(renew);
        const value = r ? JSON.stringify({ h: bodyHash, r } satisfies RecordValue) : '';
        this.redis.eval(FINISH, 1, key, owner, value, this.ttlMs).catch((err) => this.opts.onError?.(err));
      },
    };
  }

  /** Polls until the first request's record is done (its response) or gone (undefined: claim again). */
  private async awaitDone(key: string, bodyHash: string, signal?: RequestSignal): Promise<StoredResponse | undefined> {
    let delay = 10;
    let unreadableSince: number | undefined;
    for (;;) {
      if (signal?.aborted) throw new Error('the client closed the connection while waiting for the first request');
      let raw: string | null;
      try {
        raw = await this.redis.get(key);
      } catch (err) {
        this.opts.onError?.(err);
        unreadableSince ??= Date.now();
        // The record cannot be read back for longer than a pending claim lives: claim afresh.
        if (Date.now() - unreadableSince > this.pendingTtlMs) return undefined;
        raw = '';
      }
      if (raw === null) return undefined;
      if (raw !== '') unreadableSince = undefined;
      const rec = parseRecord(raw);
      if (rec?.r) {
        if (rec.h !== bodyHash) throw idempotencyConflict();
        return rec.r;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 200);
    }
  }
}

function parseRecord(raw: string): RecordValue | undefined {
  try {
    const rec = JSON.parse(raw) as RecordValue;
    return rec && typeof rec.h === 'string' ? rec : undefined;
  } catch {
    return undefined;
  }
}

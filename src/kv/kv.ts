// The one owner of Tollgate's Redis connections: one command connection shared by every user
// (limits, credit, cache, idempotency, alerts, readiness) and one subscriber that carries every
// change feed. Built once by the composition root; closed once, by it, after its users.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { closeRedisClient, createCommandClient, createSubscriberClient, waitUntilReady } from './clients.js';
import { type ChangeFeed, type Envelope, type FeedHandlers, parseEnvelope } from './feed.js';
import { createLease, type Lease } from './lease.js';

export interface KvOptions {
  url: string;
  /** Prefix of every key and channel name, e.g. `tollgate:`. */
  prefix: string;
  /** Connection-level errors (reconnect attempts); commands report their own failures. */
  onError?: (err: Error) => void;
  commandTimeoutMs?: number;
}

/** Client names allow no spaces; the prefix makes one deployment's connections easy to find. */
function clientName(prefix: string, role: string): string {
  return `${prefix}${role}`.replace(/[^\x21-\x7e]/g, '_');
}

export class Kv {
  /** Unique per process: tags feed messages, holds and leases as this instance's. */
  readonly instance = randomBytes(8).toString('hex');
  readonly prefix: string;
  /** The shared command connection. Borrow it; never close it. */
  readonly redis: Redis;
  private readonly sub: Redis;
  private readonly topics = new Map<string, Set<FeedHandlers<unknown>>>();
  private connectedOnce = false;
  private closing: Promise<void> | undefined;

  constructor(opts: KvOptions) {
    this.prefix = opts.prefix;
    this.redis = createCommandClient(opts.url, {
      connectionName: clientName(opts.prefix, 'cmd'),
      commandTimeoutMs: opts.commandTimeoutMs,
      onError: opts.onError,
    });
    this.sub = createSubscriberClient(opts.url, { connectionName: clientName(opts.prefix, 'sub'), onError: opts.onError });
    this.sub.on('message', (channel: string, text: string) => this.dispatch(channel, text));
    // After a reconnect, messages sent while we were away are lost: every receiver resyncs.
    this.sub.on('ready', () => {
      if (this.connectedOnce) for (const set of this.topics.values()) for (const h of set) h.onResync?.();
      this.connectedOnce = true;
    });
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Resolves true once the command connection is up, false after `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean> {
    return waitUntilReady(this.redis, timeoutMs);
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  /** Full key name under this deployment's prefix. */
  key(name: string): string {
    return this.prefix + name;
  }

  /** A change feed on `topic`, shared through the one subscriber connection. */
  feed<T>(topic: string): ChangeFeed<T> {
    const channel = this.key(`feed:${topic}`);
    return {
      publish: (msg: T) => {
        if (this.closed) return;
        const env: Envelope<T> = { from: this.instance, msg };
        this.redis.publish(channel, JSON.stringify(env)).catch(() => undefined);
      },
      subscribe: (handlers: FeedHandlers<T>) => {
        let set = this.topics.get(channel);
        if (!set) {
          set = new Set();
          this.topics.set(channel, set);
          if (!this.closed) this.sub.subscribe(channel).catch(() => undefined);
        }
        set.add(handlers as FeedHandlers<unknown>);
        return () => {
          set.delete(handlers as FeedHandlers<unknown>);
        };
      },
    };
  }

  /** A lease named `name`, owned by this instance while it renews it within `ttlMs`. */
  lease(name: string, ttlMs: number): Lease {
    return createLease(this.redis, this.key(`lease:${name}`), this.instance, ttlMs);
  }

  private dispatch(channel: string, text: string): void {
    const set = this.topics.get(channel);
    if (!set) return;
    const env = parseEnvelope<unknown>(text);
    if (!env || env.from === this.instance) return;
    for (const h of set) {
      try {
        h.onMessage(env.msg);
      } catch {
        // One receiver's bug must not starve the others.
      }
    }
  }

  /** Closes both connections; safe to call more than once and before or after the users close. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.topics.clear();
      await Promise.all([closeRedisClient(this.sub), closeRedisClient(this.redis)]);
    })();
    return this.closing;
  }
}

// Without Redis, balances and holds live in each instance's memory, so two instances serving
// one store would each spend the same credit. A lease in the store makes the second refuse to
// start, naming the fix (redis.url). The CLI does not take it: it changes data, it does not serve.
import { randomBytes } from 'node:crypto';
import type { Store } from '../store/types.js';

const LEASE = 'serve-without-redis';

export interface SoleInstance {
  /** From now on each renewal runs through `run` (e.g. between the usage writer's commits). */
  renewThrough(run: <T>(work: () => Promise<T>) => Promise<T>): void;
  release(): Promise<void>;
}

export class AnotherInstanceError extends Error {}

export async function claimSoleInstance(store: Store, opts: { ttlMs?: number; onError?: (err: unknown) => void } = {}): Promise<SoleInstance> {
  const holder = randomBytes(8).toString('hex');
  const ttlMs = opts.ttlMs ?? 6_000;
  let got = await store.takeLease(LEASE, holder, ttlMs);
  if (!got.ok) {
    // A lease left by an instance that died (kill -9) lapses on its own: wait for it once.
    const wait = got.expiresAt - Date.now() + 100;
    if (wait > 0 && wait <= ttlMs + 100) await new Promise((r) => setTimeout(r, wait));
    got = await store.takeLease(LEASE, holder, ttlMs);
  }
  if (!got.ok) {
    throw new AnotherInstanceError(
      'Another Tollgate instance is already serving this store and redis.url is not set. Without Redis each instance keeps balances in its own memory, so several of them could spend the same credit. Set redis.url in the config to run several instances on one store, or stop the other instance.',
    );
  }
  let through = <T>(work: () => Promise<T>) => work();
  const timer = setInterval(() => {
    through(() => store.takeLease(LEASE, holder, ttlMs)).then(
      (r) => {
        if (!r.ok) opts.onError?.(new Error('the store lease for serving without Redis was taken by another instance'));
      },
      (err) => opts.onError?.(err),
    );
  }, Math.floor(ttlMs / 3));
  timer.unref();
  return {
    renewThrough(run) {
      through = run;
    },
    async release() {
      clearInterval(timer);
      await store.releaseLease(LEASE, holder).catch(() => undefined);
    },
  };
}

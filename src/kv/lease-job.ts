// A periodic job that runs on one instance at a time: each tick takes or renews a lease in
// Redis and runs the job only while holding it. When the holder dies, its lease lapses and
// another instance takes over within one lease time.
import type { Lease } from './lease.js';

export interface LeaseJob {
  /** Stops ticking, waits for a running pass, and gives the lease up. */
  stop(): Promise<void>;
}

export function runUnderLease(lease: Lease, everyMs: number, job: (tick: number) => Promise<void>, onError: (err: unknown) => void): LeaseJob {
  let tick = 0;
  let running: Promise<void> | undefined;
  let stopped = false;
  const timer = setInterval(() => {
    if (running || stopped) return;
    running = (async () => {
      try {
        if (await lease.acquire()) await job(tick++);
      } catch (err) {
        onError(err);
      } finally {
        running = undefined;
      }
    })();
  }, everyMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      await lease.release();
    },
  };
}

// Follows the store's change sequence: the change feed that works without Redis, and the one
// that still works while Redis is down. A cheap indexed read every interval; entries made by
// this process come back too, so handlers must be idempotent.
import type { ChangeRow, Store } from '../store/types.js';

/** Postgres may make a sequence number visible after a later one: re-read this far behind. */
const LOOKBACK = 64;
const PAGE = 1000;

export interface StoreFollowerOptions {
  intervalMs: number;
  onChange(row: ChangeRow): void;
  onError(err: unknown): void;
}

export class StoreChangeFollower {
  private last: number;
  /** Entries up to here were reflected before following began. */
  private readonly floor: number;
  private readonly seen = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  /** `since`: the last sequence number already reflected in memory (read before loading it). */
  constructor(
    private readonly store: Store,
    since: number,
    private readonly opts: StoreFollowerOptions,
  ) {
    this.last = since;
    this.floor = since;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.poll().finally(() => {
        this.running = undefined;
      });
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  /** One pass; exposed so a caller can catch up at once. */
  async poll(): Promise<void> {
    try {
      for (;;) {
        const from = Math.max(0, this.last - LOOKBACK);
        const rows = await this.store.changesAfter(from, PAGE);
        for (const row of rows) {
          if (row.seq <= this.floor || this.seen.has(row.seq)) continue;
          this.seen.add(row.seq);
          if (row.seq > this.last) this.last = row.seq;
          try {
            this.opts.onChange(row);
          } catch (err) {
            this.opts.onError(err);
          }
        }
        for (const s of this.seen) if (s <= this.last - LOOKBACK) this.seen.delete(s);
        if (rows.length < PAGE) return;
      }
    } catch (err) {
      this.opts.onError(err);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}

// Write-behind queue for usage and charge rows: small group commits off the request path,
// retried until the store takes them (a unique request id makes a retried batch harmless),
// bounded, and drained completely on shutdown.
import type { Logger } from '../observability/logger.js';
import type { LedgerRow, Store, UsageRow } from '../store/types.js';

export interface FinishedRequest {
  usage: UsageRow;
  charge: LedgerRow | undefined;
}

export interface UsageWriterOptions {
  flushIntervalMs: number;
  batchSize: number;
  maxQueue: number;
  onQueueLength?: (n: number) => void;
}

export class UsageWriter {
  private queue: FinishedRequest[] = [];
  private inFlight: FinishedRequest[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: UsageWriterOptions,
  ) {}

  /** True when the queue is at its bound: the caller should refuse new work (503 overloaded). */
  get full(): boolean {
    return this.queue.length + this.inFlight.length >= this.opts.maxQueue;
  }

  get pending(): number {
    return this.queue.length + this.inFlight.length;
  }

  enqueue(item: FinishedRequest): void {
    this.queue.push(item);
    this.opts.onQueueLength?.(this.pending);
    if (this.queue.length >= this.opts.batchSize) this.kick(0);
    else this.kick(this.opts.flushIntervalMs);
  }

  private kick(delayMs: number): void {
    if (this.closed && delayMs > 0) delayMs = 0;
    if (this.timer || this.flushing) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flushOnce();
    }, delayMs);
  }

  private flushOnce(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.queue.length === 0) return Promise.resolve();
    this.inFlight = this.queue.splice(0, this.opts.batchSize);
    const batch = this.inFlight;
    this.flushing = (async () => {
      try {
        await this.store.writeBatch({
          usage: batch.map((b) => b.usage),
          charges: batch.flatMap((b) => (b.charge ? [b.charge] : [])),
        });
        this.failures = 0;
        this.inFlight = [];
      } catch (err) {
        this.failures++;
        // Keep the rows, in order, for the next try; the store skips ones already written.
        this.queue = batch.concat(this.queue);
        this.inFlight = [];
        this.log.warn({ err, rows: batch.length, attempt: this.failures }, 'usage flush failed; will retry');
      } finally {
        this.flushing = undefined;
        this.opts.onQueueLength?.(this.pending);
      }
      if (this.queue.length > 0) {
        const backoff = this.failures === 0 ? 0 : Math.min(100 * 2 ** Math.min(this.failures, 6), 5000);
        this.kick(this.queue.length >= this.opts.batchSize ? backoff : Math.max(backoff, this.closed ? 0 : this.opts.flushIntervalMs));
      }
    })();
    return this.flushing;
  }

  /** Shutdown: from now on every enqueue flushes at once; then writes everything queued. */
  async drain(deadlineMs: number): Promise<number> {
    this.closed = true;
    return this.flushAll(deadlineMs);
  }

  /** Writes everything queued, retrying failures, until empty or the deadline passes. Returns rows left unwritten. */
  async flushAll(deadlineMs: number): Promise<number> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const end = Date.now() + deadlineMs;
    while (this.pending > 0 && Date.now() < end) {
      await this.flushOnce();
      if (this.failures > 0 && this.queue.length > 0) {
        if (this.timer) {
          clearTimeout(this.timer);
          this.timer = undefined;
        }
        await new Promise((r) => setTimeout(r, Math.min(200 * this.failures, 2000)));
      }
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    return this.pending;
  }
}

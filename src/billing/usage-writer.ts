// Write-behind queue for usage and charge rows. enqueue() appends the row to the write-ahead
// spool (when there is one) before returning, so it is durable before the response completes;
// small group commits then go to the store through a sink (a worker thread in the server),
// retried until the store takes them (a unique request id makes a retried batch harmless).
// The queue is bounded: when it is full, `full` tells the HTTP layer to shed new requests
// with 503 while the rows already accepted wait in the spool; enqueue itself never blocks.
import type { Logger } from '../observability/logger.js';
import type { LedgerRow, Store, UsageRow } from '../store/types.js';
import { decodeLines, encodeCheckpoint, encodeFinished } from './spool/rows.js';
import { NOT_SPOOLED, type Spool } from './spool/spool.js';

export interface FinishedRequest {
  usage: UsageRow;
  charge: LedgerRow | undefined;
}

/** Commits a batch of spool lines (newline-separated) to the store. */
export interface BatchSink {
  write(payload: string): Promise<void>;
  close?(): Promise<void>;
}

export interface UsageWriterOptions {
  flushIntervalMs: number;
  batchSize: number;
  maxQueue: number;
  onQueueLength?: (n: number) => void;
  /** Makes each row durable on local disk at enqueue; without it rows live in memory until committed. */
  spool?: Spool;
  /** Where batches are committed; by default the store on this thread. */
  sink?: BatchSink;
}

interface Entry {
  line: string;
  /** Spool segment holding the line, or NOT_SPOOLED. */
  seg: number;
}

/** Commits on the calling thread: for tests, the CLI and an in-memory SQLite store. */
export function storeSink(store: Pick<Store, 'writeBatch'>): BatchSink {
  return {
    async write(payload) {
      const batch = decodeLines(payload.split('\n'));
      await store.writeBatch({ usage: batch.usage, charges: batch.charges });
    },
  };
}

export class UsageWriter {
  private queue: Entry[] = [];
  private inFlight: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private failures = 0;
  private closed = false;
  private readonly sink: BatchSink;
  private readonly spool: Spool | undefined;
  /** Open streams' latest checkpoint line: its spool segment, released once superseded. */
  private readonly checkpoints = new Map<string, number>();
  /** Set while exclusive() work runs: no batch is committed until it settles. */
  private gate: Promise<void> | undefined;

  constructor(
    store: Pick<Store, 'writeBatch'>,
    private readonly log: Logger,
    private readonly opts: UsageWriterOptions,
  ) {
    this.sink = opts.sink ?? storeSink(store);
    this.spool = opts.spool;
  }

  /** True when the queue is at its bound: the caller should refuse new work (503 overloaded). */
  get full(): boolean {
    return this.queue.length + this.inFlight.length >= this.opts.maxQueue;
  }

  get pending(): number {
    return this.queue.length + this.inFlight.length;
  }

  /**
   * A stream in progress: what it delivered so far goes to the spool only (never the store), so
   * a process killed mid-stream bills it at the next start. The final row supersedes it.
   */
  checkpoint(item: FinishedRequest): void {
    const spool = this.spool;
    if (!spool || this.closed) return;
    const seg = spool.append(encodeCheckpoint(item));
    const id = item.usage.request_id;
    const previous = this.checkpoints.get(id);
    if (previous !== undefined) spool.durable(previous, 1);
    if (seg === NOT_SPOOLED) this.checkpoints.delete(id);
    else this.checkpoints.set(id, seg);
  }

  enqueue(item: FinishedRequest): void {
    const line = encodeFinished(item);
    const seg = this.spool ? this.spool.append(line) : NOT_SPOOLED;
    const checkpoint = this.checkpoints.get(item.usage.request_id);
    if (checkpoint !== undefined) {
      // The final row is in the spool now: the checkpoint it replaces need not be kept.
      this.checkpoints.delete(item.usage.request_id);
      this.spool?.durable(checkpoint, 1);
    }
    this.queue.push({ line, seg });
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

  private committed(batch: Entry[]): void {
    const spool = this.spool;
    if (!spool) return;
    let seg = NOT_SPOOLED;
    let n = 0;
    for (const e of batch) {
      if (e.seg !== seg) {
        if (n > 0) spool.durable(seg, n);
        seg = e.seg;
        n = 0;
      }
      n++;
    }
    if (n > 0) spool.durable(seg, n);
  }

  /**
   * Runs `work` (another write to the same store from this thread) while no batch is being
   * committed, and holds the next batch until it settles. With SQLite the batch commits hold the
   * database's write lock in another thread: a write from this thread meeting that lock would
   * block the event loop in SQLite's busy wait (sleeps of 1 to 100 ms) instead of never waiting.
   */
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    while (this.gate || this.flushing) await (this.gate ?? this.flushing);
    let open!: () => void;
    this.gate = new Promise<void>((resolve) => (open = resolve));
    try {
      return await work();
    } finally {
      this.gate = undefined;
      open();
    }
  }

  private flushOnce(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.gate) return this.gate.then(() => this.flushOnce());
    if (this.queue.length === 0) return Promise.resolve();
    this.inFlight = this.queue.splice(0, this.opts.batchSize);
    const batch = this.inFlight;
    this.flushing = (async () => {
      try {
        await this.sink.write(batch.map((e) => e.line).join('\n'));
        this.failures = 0;
        this.inFlight = [];
        this.committed(batch);
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
      // A write stuck on an unreachable store must not hold shutdown past the deadline.
      const flush = this.flushOnce();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([flush, new Promise((r) => (timer = setTimeout(r, Math.max(0, end - Date.now()))))]);
      clearTimeout(timer);
      if (this.failures > 0 && this.queue.length > 0) {
        if (this.timer) {
          clearTimeout(this.timer);
          this.timer = undefined;
        }
        const pause = Math.min(200 * this.failures, 2000, Math.max(0, end - Date.now()));
        await new Promise((r) => setTimeout(r, pause));
      }
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    return this.pending;
  }

  /**
   * Stops the sink and closes the spool. Rows not yet in the store stay in the spool and are
   * replayed at the next start. Returns how many that is.
   */
  async close(): Promise<number> {
    this.closed = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    await this.sink.close?.();
    return this.spool ? this.spool.close() : this.pending;
  }
}

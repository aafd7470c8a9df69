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

/**
 * Rows waiting for one commit, as UTF-8 bytes outside the JavaScript heap, each line followed by
 * a newline. A row waits for the flush interval and then for the commit: as strings, at high
 * concurrency the rows outlived two young-generation collections and were promoted to the old
 * generation, which then grew until a full collection (about 1.2 KB per request).
 */
class Batch {
  private buf: Buffer;
  private len = 0;
  rows = 0;
  /** The rows' spool segments, run-length encoded: segment, count, segment, count, ... */
  readonly segs: number[] = [];

  constructor(bytes: number) {
    this.buf = Buffer.allocUnsafeSlow(bytes);
  }

  /** Adds a line; returns the bytes it occupies (with its newline) for the spool to write. */
  add(line: string): Buffer {
    // At most 3 bytes per UTF-16 unit: the line always fits without measuring it first.
    const room = this.len + line.length * 3 + 1;
    if (room > this.buf.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(room, this.buf.length * 2));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    const start = this.len;
    this.len += this.buf.write(line, start, 'utf8');
    this.buf[this.len++] = 0x0a;
    this.rows++;
    return this.buf.subarray(start, this.len);
  }

  /** Records the spool segment of the row just added (NOT_SPOOLED when it is not in the spool). */
  note(seg: number): void {
    const n = this.segs.length;
    if (n > 0 && this.segs[n - 2] === seg) this.segs[n - 1]!++;
    else this.segs.push(seg, 1);
  }

  /** The rows as one string of newline-separated lines, for the sink. */
  text(): string {
    return this.buf.toString('utf8', 0, Math.max(0, this.len - 1));
  }
}

/** Bytes reserved for a new batch: about a hundred typical rows; it grows as needed. */
const BATCH_START_BYTES = 64 * 1024;

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
  /** Batches waiting, oldest first; only the last one takes new rows. */
  private queue: Batch[] = [];
  private queued = 0;
  private inFlight: Batch | undefined;
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
    return this.pending >= this.opts.maxQueue;
  }

  get pending(): number {
    return this.queued + (this.inFlight?.rows ?? 0);
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
    let batch = this.queue[this.queue.length - 1];
    if (!batch || batch.rows >= this.opts.batchSize) {
      batch = new Batch(BATCH_START_BYTES);
      this.queue.push(batch);
    }
    const bytes = batch.add(line);
    batch.note(this.spool ? this.spool.appendBytes(bytes) : NOT_SPOOLED);
    const checkpoint = this.checkpoints.get(item.usage.request_id);
    if (checkpoint !== undefined) {
      // The final row is in the spool now: the checkpoint it replaces need not be kept.
      this.checkpoints.delete(item.usage.request_id);
      this.spool?.durable(checkpoint, 1);
    }
    this.queued++;
    this.opts.onQueueLength?.(this.pending);
    if (batch.rows >= this.opts.batchSize) this.kick(0);
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

  private committed(batch: Batch): void {
    const spool = this.spool;
    if (!spool) return;
    const segs = batch.segs;
    for (let i = 0; i < segs.length; i += 2) spool.durable(segs[i]!, segs[i + 1]!);
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
    const batch = this.queue.shift();
    if (!batch) return Promise.resolve();
    this.queued -= batch.rows;
    this.inFlight = batch;
    this.flushing = (async () => {
      try {
        await this.sink.write(batch.text());
        this.failures = 0;
        this.inFlight = undefined;
        this.committed(batch);
      } catch (err) {
        this.failures++;
        // Keep the rows, in order, for the next try; the store skips ones already written.
        this.queue.unshift(batch);
        this.queued += batch.rows;
        this.inFlight = undefined;
        this.log.warn({ err, rows: batch.rows, attempt: this.failures }, 'usage flush failed; will retry');
      } finally {
        this.flushing = undefined;
        this.opts.onQueueLength?.(this.pending);
      }
      if (this.queued > 0) {
        const backoff = this.failures === 0 ? 0 : Math.min(100 * 2 ** Math.min(this.failures, 6), 5000);
        this.kick(this.queue[0]!.rows >= this.opts.batchSize ? backoff : Math.max(backoff, this.closed ? 0 : this.opts.flushIntervalMs));
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
      if (this.failures > 0 && this.queued > 0) {
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

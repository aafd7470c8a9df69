// Write-behind queue for usage and charge rows. enqueue() appends the row to the write-ahead
// spool (when there is one) before returning, so it is durable before the response completes,
// or, for answers that wait for spooled() before they are written (beginTogether), together
// with the other rows of the same event-loop turn in one write;
// small group commits then go to the store through a sink (a worker thread in the server),
// retried until the store takes them (a unique request id makes a retried batch harmless).
// The queue is bounded: when it is full, `full` tells the HTTP layer to shed new requests
// with 503 while the rows already accepted wait in the spool; enqueue itself never blocks.
import type { Logger } from '../observability/logger.js';
import type { LedgerRow, Store, UsageRow } from '../store/types.js';
import { decodeLines, encodeCheckpoint, encodeFinished, linesOf } from './spool/rows.js';
import { NOT_SPOOLED, type Spool } from './spool/spool.js';

export interface FinishedRequest {
  usage: UsageRow;
  charge: LedgerRow | undefined;
}

/**
 * Commits a batch of spool lines (UTF-8, newline-separated) to the store. The payload's bytes are
 * the writer's again once the promise settles (it reuses them for the next batch): a sink that
 * needs them longer copies them.
 */
export interface BatchSink {
  write(payload: Uint8Array): Promise<void>;
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

  /** `spare`, a committed batch's buffer, is taken when it holds `bytes`. */
  constructor(bytes: number, spare: Buffer | undefined) {
    this.buf = spare !== undefined && spare.length >= bytes ? spare : Buffer.allocUnsafeSlow(bytes);
  }

  /**
   * The buffer, for the next batch, once this one is committed: every view of it given out (the
   * spool's rows, the sink's payload) has been written by then. The batch is left empty.
   */
  release(): Buffer {
    const buf = this.buf;
    this.buf = EMPTY;
    this.len = 0;
    this.rows = 0;
    this.segs.length = 0;
    return buf;
  }

  /** Bytes in use. */
  get size(): number {
    return this.len;
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

  /**
   * The rows' bytes, newline-separated, for the sink: the request thread never decodes them into
   * one string (at a few hundred rows that is a string too large for the young generation).
   */
  bytes(): Uint8Array {
    return this.buf.subarray(0, Math.max(0, this.len - 1));
  }
}

/**
 * Bytes reserved for a new batch: at least about a hundred typical rows, else a little more than
 * the last full batch took, so that a batch under load is not copied to ever larger buffers.
 */
const BATCH_MIN_BYTES = 64 * 1024;
const BATCH_MAX_START_BYTES = 8 * 1024 * 1024;
/**
 * The largest committed batch buffer kept for the next batch. A buffer per batch, freed only by
 * the collection that finds it, outlived its young generation under load (a batch waits out the
 * flush interval and its commit) and piled up in the old one: about 2.5 MB a second of
 * off-heap memory at c=32, until a full collection.
 */
const SPARE_MAX_BYTES = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/** Batches waiting past which the store is behind the requests (see UsageWriter.behind). */
const BEHIND_BATCHES = 4;
/** Batches waiting at which requests held for the store go on. */
const CAUGHT_UP_BATCHES = 2;
/** The longest requests are held for the store at a time. */
const MAX_HOLD_MS = 100;

/** Commits on the calling thread: for tests, the CLI and an in-memory SQLite store. */
export function storeSink(store: Pick<Store, 'writeBatch'>): BatchSink {
  return {
    async write(payload) {
      const batch = decodeLines(linesOf(payload));
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
  /** True while `timer` is the flush interval's (not an immediate flush's). */
  private timerWaits = false;
  private flushing: Promise<void> | undefined;
  private failures = 0;
  private closed = false;
  private readonly sink: BatchSink;
  private readonly spool: Spool | undefined;
  /** Open streams' latest checkpoint line: its spool segment, released once superseded. */
  private readonly checkpoints = new Map<string, number>();
  /** Set while exclusive() work runs: no batch is committed until it settles. */
  private gate: Promise<void> | undefined;
  /** Bytes to reserve for the next batch (see BATCH_MIN_BYTES). */
  private batchBytes = BATCH_MIN_BYTES;
  /** The last committed batch's buffer, reused by the next batch (see SPARE_MAX_BYTES). */
  private spare: Buffer | undefined;
  /** Rows enqueued with deferSpool and not yet in the spool, in order, and the batch of each. */
  private readonly unspooled: Buffer[] = [];
  private readonly unspooledIn: Batch[] = [];
  /** Set while rows wait for the spool: callers of spooled() wait on it; the write is scheduled. */
  private spoolWait: { promise: Promise<void>; resolve(): void } | undefined;
  private spoolScheduled = false;
  /** Answers between beginTogether and endTogether. */
  private together = 0;
  /** Requests held until the store catches up (see caughtUp), and the hold's time limit. */
  private hold: { promise: Promise<void>; release(): void; timer: NodeJS.Timeout } | undefined;

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
   * True when rows arrive faster than the store commits them, while it does commit them: more
   * than a few batches wait and the last commit succeeded. The store worker runs at a lower
   * priority than the request thread, so on a core the requests keep busy it gets only what
   * they leave; without a pause for it, the queue would grow for as long as the load lasts.
   * A store that fails is not waited for (the rows wait in the spool, and `full` sheds load).
   */
  get behind(): boolean {
    return this.failures === 0 && !this.closed && this.pending > this.opts.batchSize * BEHIND_BATCHES;
  }

  /**
   * Resolves when the queue is down to a couple of batches, when a commit fails, or after at
   * most MAX_HOLD_MS, whichever comes first. Every caller of one hold shares one promise.
   */
  caughtUp(): Promise<void> {
    if (this.hold) return this.hold.promise;
    let release!: () => void;
    const promise = new Promise<void>((resolve) => (release = resolve));
    const timer = setTimeout(() => this.releaseHold(), MAX_HOLD_MS);
    timer.unref();
    this.hold = { promise, release, timer };
    return promise;
  }

  private releaseHold(): void {
    const hold = this.hold;
    if (!hold) return;
    this.hold = undefined;
    clearTimeout(hold.timer);
    hold.release();
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

  /**
   * Queues a finished request's rows and appends them to the spool. With `deferSpool`, while
   * other answers are in progress (beginTogether), the append waits for the end of this
   * event-loop turn, so that the requests finishing in one turn share one write: the caller must
   * then wait for spooled() before any of its answer goes out.
   */
  enqueue(item: FinishedRequest, deferSpool = false): void {
    const line = encodeFinished(item);
    let batch = this.queue[this.queue.length - 1];
    if (!batch || batch.rows >= this.opts.batchSize) {
      if (batch) this.batchBytes = Math.min(BATCH_MAX_START_BYTES, Math.max(BATCH_MIN_BYTES, Math.ceil(batch.size * 1.125)));
      batch = new Batch(this.batchBytes, this.spare);
      this.spare = undefined;
      this.queue.push(batch);
    }
    const bytes = batch.add(line);
    const checkpoint = this.checkpoints.get(item.usage.request_id);
    if (!this.spool) batch.note(NOT_SPOOLED);
    else {
      this.unspooled.push(bytes);
      this.unspooledIn.push(batch);
      // A stream's final row releases its checkpoint, so it goes to the spool at once.
      // Alone, a row has no other to share its write with: it is written now, as without deferSpool.
      if (!deferSpool || checkpoint !== undefined || this.together < 2) this.writeSpool();
      else if (!this.spoolScheduled) {
        this.spoolScheduled = true;
        setImmediate(() => this.writeSpool());
      }
    }
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

  /** An answer starts that will wait for endTogether()'s promise before it is written. */
  beginTogether(): void {
    this.together++;
  }

  /** The answer's engine work is over: what to wait for before writing it (see spooled). */
  endTogether(): Promise<void> | undefined {
    this.together--;
    return this.spooled();
  }

  /**
   * Resolves once every row enqueued with deferSpool is in the spool (or could not be written
   * there, as enqueue without it); undefined when none waits. Every caller in one event-loop turn
   * shares one promise.
   */
  spooled(): Promise<void> | undefined {
    if (this.unspooled.length === 0) return undefined;
    if (!this.spoolWait) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.spoolWait = { promise, resolve };
    }
    return this.spoolWait.promise;
  }

  /** Appends the rows waiting for the spool in one write, and lets their answers go. */
  private writeSpool(): void {
    this.spoolScheduled = false;
    const rows = this.unspooled;
    const n = rows.length;
    if (n > 0 && this.spool) {
      const seg = this.spool.appendAll(rows);
      const batches = this.unspooledIn;
      for (let i = 0; i < n; i++) batches[i]!.note(seg);
      rows.length = 0;
      batches.length = 0;
    }
    const wait = this.spoolWait;
    if (wait) {
      this.spoolWait = undefined;
      wait.resolve();
    }
  }

  /**
   * Schedules a flush in `delayMs` unless one is already scheduled or running. A full batch
   * (delayMs 0) does not wait out the flush interval's timer: it replaces it.
   */
  private kick(delayMs: number): void {
    if (this.closed && delayMs > 0) delayMs = 0;
    if (this.flushing) return;
    if (this.timer) {
      if (delayMs > 0 || !this.timerWaits) return;
      clearTimeout(this.timer);
    }
    this.timerWaits = delayMs > 0;
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
    // A batch's rows are counted against their spool segments before it commits (see committed).
    this.writeSpool();
    if (this.flushing) return this.flushing;
    if (this.gate) return this.gate.then(() => this.flushOnce());
    const batch = this.queue.shift();
    if (!batch) return Promise.resolve();
    this.queued -= batch.rows;
    this.inFlight = batch;
    this.flushing = (async () => {
      try {
        await this.sink.write(batch.bytes());
        this.failures = 0;
        this.inFlight = undefined;
        this.committed(batch);
        const buf = batch.release();
        if (buf.length <= SPARE_MAX_BYTES && buf.length > (this.spare?.length ?? 0)) this.spare = buf;
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
        if (this.hold && (this.failures > 0 || this.pending <= this.opts.batchSize * CAUGHT_UP_BATCHES)) this.releaseHold();
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
    this.writeSpool();
    this.closed = true;
    this.releaseHold();
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
    this.writeSpool();
    this.closed = true;
    this.releaseHold();
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    await this.sink.close?.();
    return this.spool ? this.spool.close() : this.pending;
  }
}

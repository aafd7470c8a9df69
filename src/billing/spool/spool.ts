// The write-ahead spool: each finished request's usage and charge rows are appended to a local
// file before its response completes (a plain write, no fsync: a process crash cannot lose what
// the kernel already has; the rows of requests finishing in one event-loop turn may share one
// write). A segment is deleted, or the live one truncated, once every row written to it is
// durable in the store; whatever is left is replayed at the next start.
import { closeSync, ftruncateSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { releaseOwner } from './slots.js';

const SEGMENT = /^(\d+)\.jsonl$/;

export interface SpoolOptions {
  /** A new segment starts once the current one holds this many bytes. */
  segmentBytes: number;
  onError(err: unknown, what: string): void;
}

/** Returned by append when the row could not be written to the spool (it is still queued in memory). */
export const NOT_SPOOLED = -1;

export class Spool {
  private fd: number;
  private seq = 0;
  private bytes = 0;
  /** Rows written to each segment and not yet durable in the store. */
  private readonly open = new Map<number, number>();
  private failing = false;
  private closed = false;
  /** Appends made (each one write of one or more rows): for reading, never for control. */
  writes = 0;

  constructor(
    readonly dir: string,
    private readonly opts: SpoolOptions,
  ) {
    this.fd = openSync(this.segmentPath(0), 'a');
  }

  private segmentPath(seq: number): string {
    return join(this.dir, `${String(seq).padStart(8, '0')}.jsonl`);
  }

  /** Appends one row (a JSON line without its newline); returns the segment it went to. */
  append(line: string): number {
    return this.appendAll([Buffer.from(`${line}\n`)]);
  }

  /**
   * Appends rows, each given as its UTF-8 bytes with its newline, in one write; returns the
   * segment they all went to. One system call however many rows: requests that finish in the
   * same turn of the event loop share it.
   */
  appendAll(rows: readonly Uint8Array[]): number {
    if (this.closed) return NOT_SPOOLED;
    try {
      if (this.bytes >= this.opts.segmentBytes) this.rotate();
      let total = 0;
      for (const r of rows) total += r.length;
      const n = rows.length === 1 ? writeSync(this.fd, rows[0]!) : writevSync(this.fd, rows as Uint8Array[]);
      // A short write to a regular file means the disk is full; the rest goes as bytes.
      if (n < total) this.writeRest((rows.length === 1 ? rows[0]! : Buffer.concat(rows as Uint8Array[])).subarray(n));
      this.writes++;
      this.bytes += total;
      this.open.set(this.seq, (this.open.get(this.seq) ?? 0) + rows.length);
      this.failing = false;
      return this.seq;
    } catch (err) {
      if (!this.failing) this.opts.onError(err, 'writing to the usage spool failed; rows stay in memory only');
      this.failing = true;
      return NOT_SPOOLED;
    }
  }

  private writeRest(buf: Uint8Array): void {
    let off = 0;
    while (off < buf.length) {
      const n = writeSync(this.fd, buf, off);
      if (n <= 0) throw new Error('the usage spool accepts no more bytes');
      off += n;
    }
  }

  private rotate(): void {
    const next = openSync(this.segmentPath(this.seq + 1), 'a');
    closeSync(this.fd);
    this.fd = next;
    this.seq += 1;
    this.bytes = 0;
    this.forgetIfDone(this.seq - 1);
  }

  /** The store has `count` rows of segment `seq`: a segment with nothing left goes away. */
  durable(seq: number, count: number): void {
    if (seq === NOT_SPOOLED || this.closed) return;
    const left = (this.open.get(seq) ?? 0) - count;
    if (left > 0) {
      this.open.set(seq, left);
      return;
    }
    this.open.delete(seq);
    this.forgetIfDone(seq);
  }

  private forgetIfDone(seq: number): void {
    if ((this.open.get(seq) ?? 0) > 0) return;
    try {
      if (seq === this.seq) {
        if (this.bytes > 0) ftruncateSync(this.fd, 0);
        this.bytes = 0;
      } else {
        unlinkSync(this.segmentPath(seq));
      }
    } catch (err) {
      this.opts.onError(err, 'trimming the usage spool failed; its rows are replayed (once) at the next start');
    }
  }

  /** Rows in the spool that the store does not have yet. */
  get pending(): number {
    let n = 0;
    for (const v of this.open.values()) n += v;
    return n;
  }

  /**
   * Stops writing. With nothing pending the slot is removed; otherwise it is left for the next
   * start (of this or any process on this data directory) to replay.
   */
  close(): number {
    if (this.closed) return this.pending;
    this.closed = true;
    const left = this.pending;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    if (left === 0) rmSync(this.dir, { recursive: true, force: true });
    else releaseOwner(this.dir);
    return left;
  }
}

export interface SpooledRows {
  lines: string[];
  /** Lines cut short by a crash in the middle of a write (never acknowledged to a client). */
  torn: number;
}

/** Every complete row in a spool directory, oldest segment first. */
export function readSpoolDir(dir: string): SpooledRows {
  const segments = readdirSync(dir)
    .map((name) => SEGMENT.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[0], seq: Number(m[1]) }))
    .sort((a, b) => a.seq - b.seq);
  const lines: string[] = [];
  let torn = 0;
  for (const s of segments) {
    const text = readFileSync(join(dir, s.name), 'utf8');
    const parts = text.split('\n');
    // The text after the last newline is a write the crash interrupted.
    const tail = parts.pop();
    if (tail !== undefined && tail !== '') torn++;
    for (const p of parts) if (p !== '') lines.push(p);
  }
  return { lines, torn };
}

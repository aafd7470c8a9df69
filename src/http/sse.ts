// Writes an engine stream to the socket as Server-Sent Events, honouring backpressure, with
// one shared heartbeat timer for all open streams (": ping" after 15 s of silence).
import type { ServerResponse } from 'node:http';
import { type FrameSink, type PushedStream, RelayFrames } from '../core/stream-relay.js';

interface OpenStream {
  res: ServerResponse;
  lastWrite: number;
  /** ends the stream from the gateway's side (shutdown): the engine bills and writes an error event */
  abort: (reason: unknown) => void;
  done: Promise<void>;
}

export class StreamRegistry {
  private readonly open = new Set<OpenStream>();
  private timer: NodeJS.Timeout | undefined;
  /** Streams written as their upstream pushed them (RelayFrames.pushTo), not iterated. */
  pushed = 0;

  constructor(private readonly heartbeatMs: number) {}

  get size(): number {
    return this.open.size;
  }

  private ensureTimer(): void {
    if (this.timer) return;
    const tick = Math.max(50, Math.min(1000, Math.floor(this.heartbeatMs / 3)));
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const s of this.open) {
        if (now - s.lastWrite >= this.heartbeatMs) {
          s.res.write(': ping\n\n');
          s.lastWrite = now;
        }
      }
    }, tick);
    this.timer.unref();
  }

  /**
   * Writes every frame; resolves when the stream ended or the client left. `headers` is the
   * answer's own, in an object of the caller's that this completes with the event-stream headers.
   */
  pipe(res: ServerResponse, status: number, headers: Record<string, string>, frames: AsyncIterable<string>, abort: (reason: unknown) => void): Promise<void> {
    const entry: OpenStream = { res, lastWrite: Date.now(), abort, done: Promise.resolve() };
    entry.done = this.run(entry, status, headers, frames);
    return entry.done;
  }

  private run(entry: OpenStream, status: number, headers: Record<string, string>, frames: AsyncIterable<string>): Promise<void> {
    const res = entry.res;
    headers['content-type'] = 'text/event-stream; charset=utf-8';
    headers['cache-control'] = 'no-cache';
    headers['x-accel-buffering'] = 'no';
    res.writeHead(status, headers);
    res.socket?.setNoDelay(true);
    this.open.add(entry);
    this.ensureTimer();
    if (frames instanceof RelayFrames) {
      const pushed = new PushedWriter(entry, () => this.closed(entry));
      if (pushed.take(frames)) {
        this.pushed++;
        return pushed.done;
      }
    }
    return this.pull(entry, frames);
  }

  /** An entry's stream is over. */
  private closed(entry: OpenStream): void {
    this.open.delete(entry);
    if (this.open.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Writes a stream that is iterated: each frame awaited, then written. */
  private async pull(entry: OpenStream, frames: AsyncIterable<string>): Promise<void> {
    const res = entry.res;
    const it = frames[Symbol.asyncIterator]();
    try {
      for (;;) {
        const step = await it.next();
        if (step.done) break;
        if (res.destroyed) break;
        entry.lastWrite = Date.now();
        if (!res.write(step.value)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              res.off('drain', done);
              res.off('close', done);
              resolve();
            };
            res.on('drain', done);
            res.on('close', done);
          });
        }
      }
    } finally {
      this.closed(entry);
      // Ends the engine's generator (and so the upstream request) if we stopped early.
      await it.return?.();
      if (!res.destroyed) res.end();
    }
  }

  /** Waits until every open stream has ended, or the deadline. */
  async drain(deadlineMs: number): Promise<void> {
    if (this.open.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((r) => {
      timer = setTimeout(r, deadlineMs);
    });
    await Promise.race([Promise.all([...this.open].map((s) => s.done)), deadline]);
    clearTimeout(timer);
  }

  /**
   * Ends every open stream from our side (after the grace period): each gets an error event
   * and a clean end, and is billed for what it delivered before this resolves.
   */
  async endAll(reason: unknown, deadlineMs: number): Promise<void> {
    const open = [...this.open];
    for (const s of open) s.abort(reason);
    await this.drain(deadlineMs);
    for (const s of this.open) s.res.destroy();
  }
}

/**
 * Writes a stream whose upstream pushes (RelayFrames.pushTo): frames are written in the
 * callback that brought their chunk, the upstream pauses while the socket is full and resumes
 * on drain, and a client that leaves cancels the stream. One object per stream.
 */
class PushedWriter implements FrameSink {
  readonly done: Promise<void>;
  private resolve!: () => void;
  private stream: PushedStream | undefined;
  private ended = false;

  constructor(
    private readonly entry: OpenStream,
    private readonly onEnd: () => void,
  ) {
    this.done = new Promise<void>((resolve) => {
      this.resolve = resolve;
    });
  }

  /** Starts pushing `frames`; false (nothing started) when they cannot be pushed. */
  take(frames: RelayFrames): boolean {
    const res = this.entry.res;
    res.on('drain', this.onDrain);
    res.on('close', this.onClose);
    // Frames may be written, and the stream may even end, before pushTo returns.
    const stream = frames.pushTo(this);
    if (stream === undefined) {
      res.off('drain', this.onDrain);
      res.off('close', this.onClose);
      return false;
    }
    this.stream = stream;
    // Ended meanwhile, or the client left before it could be cancelled.
    if (!this.ended && res.destroyed) stream.cancel();
    return true;
  }

  write(frame: string): boolean {
    const res = this.entry.res;
    if (res.destroyed) return true;
    this.entry.lastWrite = Date.now();
    return res.write(frame);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const res = this.entry.res;
    res.off('drain', this.onDrain);
    res.off('close', this.onClose);
    if (!res.destroyed) res.end();
    this.onEnd();
    this.resolve();
  }

  private readonly onDrain = (): void => {
    this.stream?.resume();
  };

  private readonly onClose = (): void => {
    if (!this.ended) this.stream?.cancel();
  };
}

// Writes an engine stream to the socket as Server-Sent Events, honouring backpressure, with
// one shared heartbeat timer for all open streams (": ping" after 15 s of silence).
import type { ServerResponse } from 'node:http';

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

  private async run(entry: OpenStream, status: number, headers: Record<string, string>, frames: AsyncIterable<string>): Promise<void> {
    const res = entry.res;
    headers['content-type'] = 'text/event-stream; charset=utf-8';
    headers['cache-control'] = 'no-cache';
    headers['x-accel-buffering'] = 'no';
    res.writeHead(status, headers);
    res.socket?.setNoDelay(true);
    this.open.add(entry);
    this.ensureTimer();
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
      this.open.delete(entry);
      if (this.open.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
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

// Writes an engine stream to the socket as Server-Sent Events, honouring backpressure, with
// one shared heartbeat timer for all open streams (": ping" after 15 s of silence).
import type { ServerResponse } from 'node:http';

interface OpenStream {
  res: ServerResponse;
  lastWrite: number;
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

  /** Writes every frame; resolves when the stream ended or the client left. */
  async pipe(res: ServerResponse, status: number, headers: Record<string, string>, frames: AsyncIterable<string>): Promise<void> {
    res.writeHead(status, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.socket?.setNoDelay(true);
    const entry: OpenStream = { res, lastWrite: Date.now() };
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
    const end = Date.now() + deadlineMs;
    while (this.open.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  }

  /** Cuts every open stream (after the grace period). */
  destroyAll(): void {
    for (const s of this.open) s.res.destroy();
  }
}

// The log sink for a file descriptor (stdout by default): asynchronous writes, a bounded
// buffer, and no retry once the reader is gone. A closed pipe (EPIPE) or any other write
// error makes it drop further lines instead of retrying: logging must never keep the process
// from shutting down, and nothing is flushed synchronously at exit.
import { write as fsWrite } from 'node:fs';

/** Lines beyond this many buffered bytes are dropped (a reader that stopped reading). */
const MAX_BUFFERED = 8 * 1024 * 1024;
const RETRY_MS = 10;

export interface FdSink {
  write(line: string): void;
  /** Calls back once everything buffered is written, or dropped. */
  flush(cb?: (err?: Error) => void): void;
  /** Lines dropped because the destination was gone or too slow. */
  readonly dropped: number;
}

export function createFdSink(fd = 1): FdSink {
  let queue: string[] = [];
  let buffered = 0;
  let writing = false;
  let broken = false;
  let dropped = 0;
  let waiters: Array<(err?: Error) => void> = [];

  const settle = () => {
    if (writing || (queue.length > 0 && !broken)) return;
    const done = waiters;
    waiters = [];
    for (const cb of done) cb();
  };
  const pump = () => {
    if (writing || broken || queue.length === 0) return settle();
    const chunk = Buffer.from(queue.join(''));
    queue = [];
    buffered = 0;
    writing = true;
    const send = (buf: Buffer) => {
      fsWrite(fd, buf, 0, buf.length, null, (err, n) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
            setTimeout(() => send(buf), RETRY_MS).unref();
            return;
          }
          broken = true;
          dropped += 1 + queue.length;
          queue = [];
          buffered = 0;
          writing = false;
          return settle();
        }
        if (n < buf.length) return send(buf.subarray(n));
        writing = false;
        pump();
      });
    };
    send(chunk);
  };

  return {
    write(line) {
      if (broken || buffered + line.length > MAX_BUFFERED) {
        dropped++;
        return;
      }
      queue.push(line);
      buffered += line.length;
      if (!writing) pump();
    },
    flush(cb) {
      if (cb) waiters.push(cb);
      settle();
    },
    get dropped() {
      return dropped;
    },
  };
}

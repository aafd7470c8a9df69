// Structured logging with pino. Secrets never reach the log: auth headers are redacted by
// path and any Tollgate key shape that slips into a message is masked by the serializer.
import { type DestinationStream, type Logger, pino } from 'pino';
import { createFdSink } from './fd-sink.js';

export type { Logger };

const KEY_PATTERN = /\b(sk|mk)-tg-[A-Za-z0-9]{8,}/g;

export function maskKeys(text: string): string {
  return text.replace(KEY_PATTERN, (_m, kind: string) => `${kind}-tg-[redacted]`);
}

/**
 * Masks keys in every serialised line, so a key inside any field (a URL, a nested object, an
 * error's message or stack) never reaches the log, not only keys in top-level strings.
 */
function maskingDestination(dest: DestinationStream): DestinationStream {
  const flushable = dest as DestinationStream & { flush?: (cb?: (err?: Error) => void) => void };
  return {
    write: (line: string) => dest.write(line.includes('-tg-') ? maskKeys(line) : line),
    ...(typeof flushable.flush === 'function' ? { flush: (cb?: (err?: Error) => void) => flushable.flush?.(cb) } : {}),
  } as DestinationStream;
}

export function createLogger(opts: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: opts.level,
      base: undefined,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers["x-api-key"]',
          'headers.authorization',
          'headers["x-api-key"]',
          'api_key',
          '*.api_key',
          'key',
          '*.key',
          'admin_token',
        ],
        censor: '[redacted]',
      },
      hooks: {
        // Masks keys inside free-text messages and error strings before they are written.
        logMethod(args, method) {
          for (let i = 0; i < args.length; i++) {
            const a = args[i];
            if (typeof a === 'string') args[i] = maskKeys(a) as never;
            else if (a instanceof Error) args[i] = { err: { type: a.name, message: maskKeys(a.message), stack: maskKeys(a.stack ?? '') } } as never;
          }
          method.apply(this, args);
        },
      },
    },
    // Not pino's stdout destination: flushed at exit, it retries a write to a closed pipe forever.
    maskingDestination(opts.destination ?? (createFdSink(1) as DestinationStream)),
  );
}

// Composition root: config → store → gateway → HTTP server, and orderly shutdown
// (stop accepting, let streams finish within the grace period, flush every record).
import type { AddressInfo } from 'node:net';
import type { Config } from './config/schema.js';
import { GatewayError } from './core/errors.js';
import { openUsageDurability } from './billing/spool/index.js';
import { buildGateway, type Gateway } from './gateway.js';
import { claimSoleInstance } from './kv/sole-instance.js';
import { buildHttpApp, type HttpApp } from './http/app.js';
import { createLogger, type Logger } from './observability/logger.js';
import { openStore } from './store/index.js';

export interface RunningGateway {
  gateway: Gateway;
  http: HttpApp;
  url: string;
  port: number;
  /**
   * Drain and stop; resolves when every record is durable (or could not be written in time).
   * With `now`, open streams are ended at once instead of after the grace period.
   */
  shutdown(opts?: ShutdownOptions): Promise<void>;
}

export interface ShutdownOptions {
  now?: boolean;
}

/** The listening socket's accept queue (see listen below). */
export const LISTEN_BACKLOG = 8192;

/** What shutdown may take beyond server.shutdown_grace_s: ending streams, closing, flushing money. */
export const SHUTDOWN_MARGIN_MS = 5000;

/** Resolves when `p` settles or after `ms`, whichever is first; never rejects. */
function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * SIGTERM and SIGINT for the server process: the first drains (streams get the grace period)
 * and exits 0; a second ends open streams at once, flushes money and exits; and whatever
 * hangs, the process exits when the grace period plus SHUTDOWN_MARGIN_MS have passed.
 */
export function exitOnSignals(running: RunningGateway, graceS: number, proc: NodeJS.Process = process): void {
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals > 1) {
      void running.shutdown({ now: true });
      return;
    }
    setTimeout(() => {
      try {
        proc.stderr.write('tollgate: shutdown did not finish in time; exiting\n');
      } catch {
        // stderr may be gone as well
      }
      proc.exit(1);
    }, graceS * 1000 + SHUTDOWN_MARGIN_MS).unref();
    running.shutdown().then(
      () => proc.exit(0),
      (err) => {
        try {
          proc.stderr.write(`tollgate: shutdown failed: ${(err as Error).message}\n`);
        } catch {
          // stderr may be gone as well
        }
        proc.exit(1);
      },
    );
  };
  proc.on('SIGTERM', onSignal);
  proc.on('SIGINT', onSignal);
}

export interface StartOptions {
  config: Config;
  logger?: Logger;
  /** Postgres schema (tests); ignored for SQLite. */
  storeSchema?: string;
}

export async function startGateway(opts: StartOptions): Promise<RunningGateway> {
  const { config } = opts;
  const log = opts.logger ?? createLogger({ level: config.server.log_level });
  const store = await openStore(config.storage.url, { schema: opts.storeSchema });
  await store.migrate();
  // Without Redis, balances live in this process: a second instance on the store must not start.
  const sole = config.redis.url ? undefined : await claimSoleInstance(store, { onError: (err) => log.error({ err }, 'lost the store lease for serving without Redis') }).catch(async (err) => {
    await store.close();
    throw err;
  });
  // Before the gateway reads balances from the store: rows a killed process spooled land first.
  const durability = await openUsageDurability(store, log, { storageUrl: config.storage.url, storeSchema: opts.storeSchema, spoolDir: config.billing.spool_dir });
  const gateway = await buildGateway(config, store, log, durability);
  // Renewing the lease writes to the store: never while a usage batch holds SQLite's write lock.
  sole?.renewThrough((work) => gateway.usage.exclusive(work));
  const http = buildHttpApp(gateway);
  // Connections a burst opens wait in the kernel's accept queue until the event loop takes them;
  // Node's default of 511 overflows when thousands of agents connect at once, and an overflowed
  // connection waits out TCP's retransmission back-off (seconds). The kernel caps it at
  // net.core.somaxconn.
  await http.app.listen({ host: config.server.host, port: config.server.port, backlog: LISTEN_BACKLOG });
  const { port } = http.app.server.address() as AddressInfo;
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  let stopping: Promise<void> | undefined;
  let hurry: () => void = () => undefined;
  const hurried = new Promise<void>((resolve) => {
    hurry = resolve;
  });
  const shutdown = (opts: ShutdownOptions = {}) => {
    if (opts.now) hurry();
    stopping ??= (async () => {
      const graceMs = config.server.shutdown_grace_s * 1000;
      // Every stage is bounded so that the whole shutdown ends within the grace period plus
      // SHUTDOWN_MARGIN_MS, whatever hangs (a client, the store, Redis, the log destination).
      const deadline = Date.now() + graceMs + SHUTDOWN_MARGIN_MS - 1000;
      const left = (cap: number) => Math.max(0, Math.min(cap, deadline - Date.now()));
      http.draining.value = true;
      log.info({ graceMs, openStreams: http.streams.size }, 'shutting down: draining');
      const closed = http.app.close();
      http.app.server.closeIdleConnections();
      await Promise.race([http.streams.drain(graceMs), hurried]);
      await http.streams.endAll(new GatewayError('overloaded', 'The gateway is shutting down; the stream was ended. Retry the request.', { retryAfterS: 1 }), left(2000));
      await within(closed, left(1000));
      http.app.server.closeAllConnections();
      // Money first: the store gets what time is left (at least 2 s); rows it cannot take in
      // time stay in the spool for the next start.
      const unwritten = await gateway.usage.drain(Math.max(2000, left(Number.POSITIVE_INFINITY)));
      if (unwritten > 0) log.warn({ left: unwritten }, 'usage records not yet in the store stay in the spool and are replayed at the next start');
      await within(gateway.close(), Math.max(1000, left(2000)));
      await within(sole?.release() ?? Promise.resolve(), 500);
      await within(store.close(), Math.max(200, left(1000)));
      log.info('shutdown complete');
      await within(new Promise<void>((resolve) => log.flush(() => resolve())), 500);
    })();
    return stopping;
  };
  return { gateway, http, url, port, shutdown };
}

// Composition root: config → store → gateway → HTTP server, and orderly shutdown
// (stop accepting, let streams finish within the grace period, flush every record).
import type { AddressInfo } from 'node:net';
import type { Config } from './config/schema.js';
import { GatewayError } from './core/errors.js';
import { openUsageDurability } from './billing/spool/index.js';
import { buildGateway, type Gateway } from './gateway.js';
import { buildHttpApp, type HttpApp } from './http/app.js';
import { createLogger, type Logger } from './observability/logger.js';
import { openStore } from './store/index.js';

export interface RunningGateway {
  gateway: Gateway;
  http: HttpApp;
  url: string;
  port: number;
  /** Drain and stop; resolves when every record is durable. */
  shutdown(): Promise<void>;
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
  // Before the gateway reads balances from the store: rows a killed process spooled land first.
  const durability = await openUsageDurability(store, log, { storageUrl: config.storage.url, storeSchema: opts.storeSchema, spoolDir: config.billing.spool_dir });
  const gateway = await buildGateway(config, store, log, durability);
  const http = buildHttpApp(gateway);
  await http.app.listen({ host: config.server.host, port: config.server.port });
  const { port } = http.app.server.address() as AddressInfo;
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      const graceMs = config.server.shutdown_grace_s * 1000;
      const started = Date.now();
      http.draining.value = true;
      log.info({ graceMs, openStreams: http.streams.size }, 'shutting down: draining');
      const closed = http.app.close();
      http.app.server.closeIdleConnections();
      await http.streams.drain(graceMs);
      await http.streams.endAll(new GatewayError('overloaded', 'The gateway is shutting down; the stream was ended. Retry the request.', { retryAfterS: 1 }), 5000);
      await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())]);
      http.app.server.closeAllConnections();
      // Rows the store cannot take in time stay in the spool for the next start.
      const left = await gateway.usage.drain(Math.max(2000, started + graceMs - Date.now()));
      if (left > 0) log.warn({ left }, 'usage records not yet in the store stay in the spool and are replayed at the next start');
      await gateway.close();
      await store.close();
      log.info('shutdown complete');
    })();
    return stopping;
  };
  return { gateway, http, url, port, shutdown };
}

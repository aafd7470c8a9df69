// Runs an administrative CLI command directly against the configured storage (no server
// needed); a running gateway picks up the change on its next start or refresh.
import type { Env } from '../config/load.js';
import { loadConfig } from '../config/load.js';
import { buildGateway, type Gateway } from '../gateway.js';
import { createLogger } from '../observability/logger.js';
import { openStore } from '../store/index.js';

export async function withAdminGateway(configPath: string | undefined, env: Env, fn: (gw: Gateway) => Promise<void>): Promise<void> {
  const { config } = loadConfig({ path: configPath, env });
  const store = await openStore(config.storage.url);
  try {
    await store.migrate();
    const gw = await buildGateway(config, store, createLogger({ level: 'warn' }));
    await fn(gw);
    await gw.close();
  } finally {
    await store.close();
  }
}

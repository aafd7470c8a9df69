// `tollgate serve`: load the config, settle the admin token, start the gateway, make or reuse
// the demo tenant, and tell the operator which config runs, where the credentials are and
// how to use them.
import type { Env, LoadedConfig } from '../config/load.js';
import { loadConfig } from '../config/load.js';
import { type RunningGateway, startGateway } from '../main.js';
import { type AdminTokenSource, looseModeWarning, resolveAdminToken } from './credentials.js';
import { DEMO_ORG, type DemoTenant, ensureDemoTenant } from './demo.js';

export interface ServeOptions {
  config?: string;
  host?: string;
  port?: number;
}

const isAdminTokenRef = (path: readonly PropertyKey[]) => path.length === 2 && path[0] === 'server' && path[1] === 'admin_token';

/** Warnings worth printing: an unset admin token variable is expected when a token file stands in for it. */
function warningsFor(loaded: LoadedConfig): string[] {
  const fileStandsIn = loaded.config.server.admin_token_file !== undefined;
  return loaded.unset.flatMap((u, i) => (fileStandsIn && isAdminTokenRef(u.path) ? [] : [loaded.warnings[i]]));
}

function configLine(loaded: LoadedConfig): string {
  if (loaded.path) return `Config: ${loaded.path}`;
  return 'Config: the embedded default (no tollgate.yaml here; `npx tollgate init` writes one to edit)';
}

function adminLines(url: string, admin: AdminTokenSource, token: string | undefined): string[] {
  const where = `for /admin/* and the console at ${url}/console`;
  if (admin.from === 'config') return [`Admin token: from the config (server.admin_token), ${where}.`];
  if (admin.from === 'none') {
    return ['Admin routes are off: no admin token. Set TOLLGATE_ADMIN_TOKEN with server.admin_token: "${TOLLGATE_ADMIN_TOKEN}", or set server.admin_token_file.'];
  }
  const lines = admin.created
    ? [`Admin token (${where}), created and kept in ${admin.file} (mode 0600):`, `  ${token}`]
    : [`Admin token: kept in ${admin.file} (${where}); print it with: cat ${admin.file}`];
  lines.push('  Set TOLLGATE_ADMIN_TOKEN to use your own token instead.');
  const loose = looseModeWarning(admin.file);
  if (loose) lines.push(`  Warning: ${loose}`);
  return lines;
}

function demoLines(url: string, demo: DemoTenant, creditsUsd: number, model: string): string[] {
  const made = (k: 'sk' | 'mk') => (demo.createdKeys.includes(k) ? 'new' : 'kept');
  const head = demo.createdOrg
    ? `Demo org "${DEMO_ORG}" created with $${creditsUsd} credit. Its keys are kept in ${demo.file} (mode 0600) and reused on every start:`
    : `Demo org "${DEMO_ORG}": keys from ${demo.file}${demo.createdKeys.length > 0 ? ' (missing or revoked ones were replaced; nothing was revoked)' : ''}:`;
  return [
    head,
    `  inference key   ${demo.inferenceKey}   (${made('sk')}; for /v1/*)`,
    `  management key  ${demo.managementKey}   (${made('mk')}; for /api/* and the console)`,
    '',
    'Try it:',
    `  curl ${url}/v1/chat/completions -H "Authorization: Bearer ${demo.inferenceKey}" -H "Content-Type: application/json" -d '{"model":"${model}","messages":[{"role":"user","content":"Hello!"}]}'`,
    '',
    `More keys: npx tollgate key create --org ${DEMO_ORG} [--management], or POST /api/keys with the management key ({"type": "management"} for a management key).`,
  ];
}

/** Starts the gateway and prints how to use it. */
export async function serve(o: ServeOptions, env: Env, print: (text: string) => void, warn: (text: string) => void): Promise<RunningGateway> {
  const loaded = loadConfig({ path: o.config, env });
  const { config } = loaded;
  for (const w of warningsFor(loaded)) warn(`warning: ${w}`);
  if (o.host) config.server.host = o.host;
  if (o.port !== undefined) config.server.port = o.port;
  else if (env.PORT !== undefined && env.PORT !== '') {
    if (!/^\d+$/.test(env.PORT) || Number(env.PORT) > 65535) throw new Error(`PORT="${env.PORT}" is not a port number from 0 to 65535`);
    config.server.port = Number(env.PORT);
  }
  const admin = resolveAdminToken(config);
  let running: RunningGateway;
  try {
    running = await startGateway({ config });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(
        `port ${config.server.port} on ${config.server.host} is already in use (is another Tollgate running?). Stop it, or pick another port with --port N or PORT=N. No keys or credentials were changed.`,
      );
    }
    throw err;
  }
  const lines = [`Tollgate listening on ${running.url} (config: ${loaded.path ?? 'embedded default'}, storage: ${config.storage.url})`, configLine(loaded), ''];
  if (config.demo.enabled) {
    const demo = await ensureDemoTenant(running.gateway, { creditsUsd: config.demo.credits_usd, keysFile: config.demo.keys_file });
    const model = config.models.find((m) => m.kind === 'chat')?.id ?? 'mock-chat';
    lines.push(...demoLines(running.url, demo, config.demo.credits_usd, model), '');
  } else {
    lines.push('No demo org (demo.enabled is false). Create an org and its first key with: npx tollgate org create NAME --credits 10', '');
  }
  lines.push(...adminLines(running.url, admin, config.server.admin_token));
  print(`${lines.join('\n')}\n`);
  return running;
}

// Starts a real gateway in-process on port 0 with a temp SQLite file and a captured log,
// plus helpers to create orgs and keys through the public API.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { MOCK_DEMO_MODELS } from '../../src/config/defaults.js';
import { validateConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { type RunningGateway, startGateway } from '../../src/main.js';
import { createLogger } from '../../src/observability/logger.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export const MOCK_MODELS = MOCK_DEMO_MODELS;

export interface TestGateway {
  url: string;
  running: RunningGateway;
  config: Config;
  logs: string[];
  dir: string;
  admin(path: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  /** Creates an org with credit and returns its id and management key. */
  createOrg(credits?: number, extra?: Record<string, unknown>): Promise<{ orgId: string; mk: string }>;
  /** Creates an inference key under a management key. */
  createKey(mk: string, body?: Record<string, unknown>): Promise<{ id: string; key: string }>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  raw?: Record<string, unknown>;
  env?: Record<string, string>;
  /** Postgres schema for a postgres:// storage url in `raw`. */
  storeSchema?: string;
}

let orgCounter = 0;

export async function startTestGateway(opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-test-'));
  // The gateway shares its event loop with the test runner, whose module loading stalls the
  // loop for hundreds of ms; lag-based shedding would turn that into random 503s. Tests of
  // shedding set server.max_event_loop_lag_ms themselves.
  const serverDefaults = { host: '127.0.0.1', port: 0, admin_token: ADMIN_TOKEN, log_level: 'info', shutdown_grace_s: 5, max_event_loop_lag_ms: 600_000 };
  const raw: Record<string, unknown> = {
    server: serverDefaults,
    storage: { url: `sqlite://${join(dir, 'tollgate.db')}` },
    providers: [{ id: 'mock', type: 'mock' }],
    models: MOCK_MODELS,
    billing: { flush_interval_ms: 20 },
    ...opts.raw,
  };
  if (opts.raw?.server) raw.server = { ...serverDefaults, ...(opts.raw.server as object) };
  const config = validateConfig(raw, opts.env ?? {});
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const running = await startGateway({ config, logger: createLogger({ level: 'info', destination }), storeSchema: opts.storeSchema });
  const url = running.url;
  const admin = (path: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(url + path, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  return {
    url,
    running,
    config,
    logs,
    dir,
    admin,
    async createOrg(credits = 10, extra = {}) {
      const res = await admin('/admin/orgs', { body: { name: `org-${process.pid}-${++orgCounter}-${Date.now()}`, credits_usd: credits, ...extra } });
      if (res.status !== 201) throw new Error(`createOrg: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { org: { id: string }; management_key: string };
      return { orgId: body.org.id, mk: body.management_key };
    },
    async createKey(mk, body = {}) {
      const res = await fetch(`${url}/api/keys`, { method: 'POST', headers: { authorization: `Bearer ${mk}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (res.status !== 201) throw new Error(`createKey: ${res.status} ${await res.text()}`);
      const k = (await res.json()) as { id: string; key: string };
      return { id: k.id, key: k.key };
    },
    async close() {
      await running.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function chat(url: string, key: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

export async function expectError(res: Response, status: number, code: string): Promise<{ message: string; type: string; code: string; param: string | null }> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`expected ${status} ${code}, got ${res.status}: ${text}`);
  const body = JSON.parse(text) as { error: { message: string; type: string; code: string; param: string | null } };
  if (body.error?.code !== code) throw new Error(`expected code ${code}, got ${text}`);
  if (typeof body.error.message !== 'string' || body.error.message.length === 0) throw new Error('error without a message');
  if (!('param' in body.error)) throw new Error('error without param');
  return body.error;
}

/** Waits until the usage writer has flushed everything. */
export async function flushed(gw: TestGateway): Promise<void> {
  const left = await gw.running.gateway.usage.flushAll(10_000);
  if (left > 0) throw new Error(`${left} usage rows were not written`);
}

// Plumbing for the crash and store-outage suites: a real `tollgate serve` process on a config in
// a temp directory, an org and key made through the API, a load of concurrent clients that
// remembers every answered request id, and the books read straight from the database.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore } from '../../src/store/index.js';
import type { LedgerRow, Store, UsageRow } from '../../src/store/types.js';
import { type CliProcess, call, startCli } from '../helpers/money.js';
import { isRedisReachable } from '../limits/redis-test-support.js';
import { testPostgresUrl } from '../store/pg.js';

export const ADMIN = 'durability-admin-token-0123456789';

/** Under CI a missing service fails the suite; on a laptop the suite skips with a message. */
export function missingService(what: string, purpose: string): undefined {
  const message = `${what} not reachable: skipping ${purpose}`;
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true requires it)`);
  console.log(message);
  return undefined;
}

export interface Deployment {
  dir: string;
  configFile: string;
  storageUrl: string;
  /** Opens the database directly (not through any proxy the gateway uses). */
  openBooks(): Promise<Store>;
  remove(): Promise<void>;
}

export function writeDeployment(dir: string, storageUrl: string, extra: Record<string, unknown> = {}): string {
  const config = {
    server: { host: '127.0.0.1', port: 0, admin_token: ADMIN, shutdown_grace_s: 1, max_event_loop_lag_ms: 600_000 },
    storage: { url: storageUrl },
    providers: [{ id: 'mock', type: 'mock' }],
    models: [{ id: 'mock-chat', context_window: 32000, max_output_tokens: 4096, pricing: { input_per_mtok: 3, output_per_mtok: 15 }, channels: [{ provider: 'mock', upstream_model: 'mock-chat' }] }],
    limits: { key_rpm: null },
    ...extra,
  };
  const file = join(dir, 'tollgate.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export function sqliteDeployment(): Deployment {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-crash-'));
  const db = join(dir, 'tollgate.db');
  const storageUrl = `sqlite://${db}`;
  return {
    dir,
    configFile: writeDeployment(dir, storageUrl),
    storageUrl,
    openBooks: () => openStore(storageUrl),
    remove: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A fresh Postgres database (not a schema: the spawned gateway names only a URL). */
export async function postgresDatabase(purpose: string): Promise<{ url: string; name: string; drop(): Promise<void> } | undefined> {
  const adminUrl = testPostgresUrl();
  const name = `tg_dur_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(`create database ${name}`);
  } catch {
    return missingService(`Postgres at ${adminUrl}`, purpose);
  } finally {
    await client.end().catch(() => undefined);
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      c.on('error', () => undefined);
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export async function redisOrSkip(purpose: string): Promise<boolean> {
  if (await isRedisReachable()) return true;
  missingService('Redis at 127.0.0.1:6379', purpose);
  return false;
}

export interface Serving {
  proc: CliProcess;
  url: string;
}

export async function serve(d: Pick<Deployment, 'dir' | 'configFile'>): Promise<Serving> {
  const proc = startCli(['serve', '--config', d.configFile], { cwd: d.dir });
  const m = await proc.waitForOutput(/listening on (http:\/\/\S+)/, 60_000);
  return { proc, url: m[1] };
}

export async function createTenant(url: string, credits: number): Promise<{ orgId: string; mk: string; key: string }> {
  const org = await call<{ org: { id: string }; management_key: string }>(url, ADMIN, '/admin/orgs', { body: { name: `crash-${randomBytes(4).toString('hex')}`, credits_usd: credits } });
  if (org.status !== 201) throw new Error(`creating an org answered ${org.status}`);
  const key = await call<{ key: string }>(url, org.body.management_key, '/api/keys', { body: { name: 'load' } });
  if (key.status !== 201) throw new Error(`creating a key answered ${key.status}`);
  return { orgId: org.body.org.id, mk: org.body.management_key, key: key.body.key };
}

/** The org's balance as the running gateway reports it, in micro-USD. */
export async function reportedBalance(url: string, mk: string): Promise<number> {
  const r = await call<{ balance_usd: number }>(url, mk, '/api/balance');
  if (r.status !== 200) throw new Error(`GET /api/balance answered ${r.status}`);
  return Math.round(r.body.balance_usd * 1_000_000);
}

/** One request; the request id when it was answered 200 in full (a stream through [DONE]). */
export async function oneRequest(url: string, key: string, i: number): Promise<string | undefined> {
  const stream = i % 4 === 0;
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-mock-words': String(3 + (i % 17)) },
    body: JSON.stringify({ model: 'mock-chat', max_tokens: 64, stream, messages: [{ role: 'user', content: `request ${i}` }] }),
  });
  const text = await res.text();
  if (res.status !== 200) return undefined;
  if (stream && !text.includes('[DONE]')) return undefined;
  return res.headers.get('x-request-id') ?? undefined;
}

/**
 * `clients` loops sending requests until stopped; every request answered 200 goes into
 * `answered`. `onAnswer` runs after each, so a test can act at the n-th answer.
 */
export function runLoad(url: string, key: string, answered: Set<string>, opts: { clients: number; onAnswer?: (n: number) => void }) {
  let stopped = false;
  let i = 0;
  const client = async () => {
    while (!stopped) {
      try {
        const id = await oneRequest(url, key, i++);
        if (id) {
          answered.add(id);
          opts.onAnswer?.(answered.size);
        }
      } catch {
        // The connection died with the process: this request was not answered.
      }
    }
  };
  const done = Promise.all(Array.from({ length: opts.clients }, client));
  return {
    stop: () => {
      stopped = true;
      return done;
    },
  };
}

/** Sends `n` requests `concurrency` at a time; answers the ids of those answered 200. */
export async function wave(url: string, key: string, n: number, concurrency = 8): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const id = await oneRequest(url, key, next++);
      if (id) ids.push(id);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return ids;
}

export interface Books {
  usage: UsageRow[];
  ledger: LedgerRow[];
}

export async function readBooks(store: Store, orgId: string): Promise<Books> {
  const usage: UsageRow[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listUsage({ org_id: orgId, limit: 1000, ...(cursor ? { cursor } : {}) });
    usage.push(...page.rows);
    cursor = page.next_cursor;
  } while (cursor);
  const ledger: LedgerRow[] = [];
  cursor = undefined;
  do {
    const page = await store.listLedger(orgId, { limit: 1000, ...(cursor ? { cursor } : {}) });
    ledger.push(...page.rows);
    cursor = page.next_cursor;
  } while (cursor);
  return { usage, ledger };
}

/** For each answered id: how many usage rows and how many charges the books hold. */
export function countPerRequest(books: Books, ids: Iterable<string>): { missingUsage: string[]; missingCharge: string[]; duplicated: string[] } {
  const usage = new Map<string, number>();
  for (const u of books.usage) usage.set(u.request_id, (usage.get(u.request_id) ?? 0) + 1);
  const charges = new Map<string, number>();
  for (const l of books.ledger) if (l.kind === 'charge' && l.request_id) charges.set(l.request_id, (charges.get(l.request_id) ?? 0) + 1);
  const out = { missingUsage: [] as string[], missingCharge: [] as string[], duplicated: [] as string[] };
  for (const id of ids) {
    if (!usage.has(id)) out.missingUsage.push(id);
    if (!charges.has(id)) out.missingCharge.push(id);
  }
  for (const [id, n] of [...usage, ...charges]) if (n > 1) out.duplicated.push(id);
  return out;
}

export const sumLedger = (b: Books) => b.ledger.reduce((s, l) => s + l.amount_micros, 0);

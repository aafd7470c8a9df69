// Helpers for the money, keys and durability suites: counting/scripted OpenAI-compatible
// upstreams on port 0, ledger and usage walkers over the Store, SSE reading, a SQLite dump,
// and spawning the real CLI.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { CATALOGUE } from '../../src/catalogue/index.js';
import { startMockUpstream } from '../../src/providers/mock/http-server.js';
import type { LedgerRow, Store, UsageRow } from '../../src/store/types.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

/** The mock model served over HTTP (OpenAI wire format) with a count of chat requests it received. */
export interface CountingUpstream {
  /** base URL ending in /v1, for a provider of type `openai` */
  url: string;
  /** POST /chat/completions requests received so far */
  readonly chatRequests: number;
  close(): Promise<void>;
}

export async function startCountingUpstream(opts: { tokensPerSecond?: number } = {}): Promise<CountingUpstream> {
  const up = await startMockUpstream({ settings: { tokensPerSecond: opts.tokensPerSecond ?? 0, faults: undefined } });
  let chatRequests = 0;
  up.server.prependListener('request', (req: IncomingMessage) => {
    if (req.method === 'POST' && (req.url ?? '').includes('/chat/completions')) chatRequests++;
  });
  return {
    url: up.url,
    get chatRequests() {
      return chatRequests;
    },
    close: () => up.close(),
  };
}

/** A local upstream whose every answer is written by the test. */
export interface ScriptedUpstream {
  url: string;
  readonly requests: Array<{ path: string; body: string }>;
  close(): Promise<void>;
}

export async function startScriptedUpstream(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void | Promise<void>): Promise<ScriptedUpstream> {
  const requests: Array<{ path: string; body: string }> = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('utf8');
      requests.push({ path: req.url ?? '', body });
      void Promise.resolve(handler(req, body, res)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A provider + model pair pointing at an OpenAI-compatible upstream (prices in USD per million tokens). */
export function openaiModel(id: string, providerId: string, baseUrl: string, pricing: { input_per_mtok: number; output_per_mtok: number }, extra: Record<string, unknown> = {}) {
  return {
    provider: { id: providerId, type: 'openai', base_url: baseUrl, api_key: 'upstream-secret-not-a-key', ...extra },
    model: { id, context_window: 32000, max_output_tokens: 4096, pricing, channels: [{ provider: providerId, upstream_model: 'mock-chat' }] },
  };
}

/** Every ledger row of an org, read from the store page by page (newest first). */
export async function allLedger(store: Store, orgId: string): Promise<LedgerRow[]> {
  const out: LedgerRow[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listLedger(orgId, { cursor, limit: 1000 });
    out.push(...page.rows);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

/** Every raw usage row of an org, read from the store page by page (newest first). */
export async function allUsage(store: Store, orgId: string): Promise<UsageRow[]> {
  const out: UsageRow[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listUsage({ org_id: orgId, cursor, limit: 1000 });
    out.push(...page.rows);
    cursor = page.next_cursor;
  } while (cursor);
  return out;
}

export const sumMicros = (rows: LedgerRow[]) => rows.reduce((s, r) => s + r.amount_micros, 0);

/** GET/POST/PATCH/DELETE with a bearer credential; answers status and parsed JSON. */
export async function call<T = Record<string, unknown>>(url: string, credential: string, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json', ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** The `data:` payloads of an SSE body, in order. */
export function sseData(text: string): string[] {
  const out: string[] = [];
  for (const block of text.split('\n\n')) {
    for (const line of block.split('\n')) if (line.startsWith('data: ')) out.push(line.slice(6));
  }
  return out;
}

/** Text content of an SSE chat stream. */
export function sseContent(text: string): string {
  let out = '';
  for (const d of sseData(text)) {
    if (d === '[DONE]') continue;
    const chunk = JSON.parse(d) as { choices?: Array<{ delta?: { content?: string } }> };
    for (const c of chunk.choices ?? []) out += c.delta?.content ?? '';
  }
  return out;
}

/** Every row of every table of a SQLite file, as one string (for leak checks). */
export function dumpSqlite(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare("select name from sqlite_master where type = 'table'").all() as Array<{ name: string }>;
    const parts: string[] = [];
    for (const { name } of tables) {
      const rows = db.prepare(`select * from "${name.replace(/"/g, '""')}"`).all();
      parts.push(`## ${name}\n${JSON.stringify(rows)}`);
    }
    return parts.join('\n');
  } finally {
    db.close();
  }
}

/** Raw bytes of every file under a directory (db, -wal, -shm, the usage spool), as latin1 text. */
export function rawFiles(dir: string): string {
  return readdirSync(dir, { withFileTypes: true })
    .map((f) => (f.isDirectory() ? rawFiles(join(dir, f.name)) : readFileSync(join(dir, f.name)).toString('latin1')))
    .join('\n');
}

/** A TCP port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Builds dist/ once when the CLI has not been compiled yet. */
export async function ensureDist(): Promise<void> {
  if (existsSync(join(ROOT, 'dist', 'cli', 'index.js'))) return;
  const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`tsc -p tsconfig.json failed with ${code}`);
}

export const CLI = join(ROOT, 'bin', 'tollgate.js');

/** Environment for a child tollgate: no inherited config or provider keys. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  // Every vendor key variable too, so a key in the caller's environment adds no provider to the child's embedded default.
  for (const name of ['TOLLGATE_CONFIG', 'TOLLGATE_ADMIN_TOKEN', ...CATALOGUE.vendors.flatMap((v) => v.env), 'OPENAI_BASE_URL', 'PORT', 'NODE_OPTIONS', 'VITEST', 'VITEST_WORKER_ID', 'VITEST_POOL_ID']) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

/** Runs the CLI to completion. */
export async function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: opts.env ?? childEnv() });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

/** A long-running CLI process with its output captured. */
export interface CliProcess {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with stdout once it matches, rejects if the process exits first or the timeout passes. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string | null>;
  kill(signal?: NodeJS.Signals): void;
}

export function startCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: opts.env ?? childEnv() });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
    for (const l of listeners) l();
  });
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    waitForOutput(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = stdout.match(pattern);
          if (m) {
            done();
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${pattern}; stdout: ${stdout}; stderr: ${stderr}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        void exited.then((code) => {
          if (listeners.has(check)) {
            done();
            reject(new Error(`process exited (${code}) before printing ${pattern}; stdout: ${stdout}; stderr: ${stderr}`));
          }
        });
        check();
      });
    },
    kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** Sends a request byte-for-byte (fetch and node:http normalise header values) and answers status and body. */
export async function rawRequest(baseUrl: string, method: string, path: string, headers: string[], body = ''): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(baseUrl);
  const socket = connect(Number(port), hostname);
  const request = [`${method} ${path} HTTP/1.1`, `host: ${hostname}:${port}`, 'connection: close', `content-length: ${Buffer.byteLength(body)}`, ...headers].join('\r\n');
  socket.write(`${request}\r\n\r\n${body}`);
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', resolve);
    socket.on('error', reject);
  });
  const raw = Buffer.concat(chunks);
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, split).toString('latin1');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
  const rest = raw.subarray(split + 4);
  const isChunked = /\r\ntransfer-encoding: chunked/i.test(head);
  return { status, body: (isChunked ? dechunk(rest) : rest).toString('utf8') };
}

function dechunk(b: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  for (;;) {
    const nl = b.indexOf('\r\n', i);
    if (nl < 0) break;
    const size = Number.parseInt(b.subarray(i, nl).toString('latin1'), 16);
    if (!size) break;
    parts.push(b.subarray(nl + 2, nl + 2 + size));
    i = nl + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Watches the usage writer of an in-process gateway so a test can await a request's row being queued. */
export interface UsageTap {
  /** Resolves with the queued row once the request has settled. */
  settled(requestId: string, timeoutMs?: number): Promise<UsageRow>;
  /** How many rows were queued for the request so far. */
  count(requestId: string): number;
}

export function tapUsage(writer: { enqueue(item: { usage: UsageRow; charge: LedgerRow | undefined }): void }): UsageTap {
  const rows = new Map<string, UsageRow[]>();
  const waiters = new Map<string, Array<(u: UsageRow) => void>>();
  const original = writer.enqueue.bind(writer);
  writer.enqueue = (item) => {
    const id = item.usage.request_id;
    rows.set(id, [...(rows.get(id) ?? []), item.usage]);
    for (const w of waiters.get(id) ?? []) w(item.usage);
    waiters.delete(id);
    original(item);
  };
  return {
    settled(requestId, timeoutMs = 10_000) {
      const have = rows.get(requestId);
      if (have) return Promise.resolve(have[0]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`request ${requestId} did not settle within ${timeoutMs} ms`)), timeoutMs);
        waiters.set(requestId, [
          ...(waiters.get(requestId) ?? []),
          (u) => {
            clearTimeout(timer);
            resolve(u);
          },
        ]);
      });
    },
    count: (requestId) => rows.get(requestId)?.length ?? 0,
  };
}

/** Reads an SSE response until `until` holds for the text so far (or the stream ends). */
export async function readSseUntil(res: Response, until: (text: string) => boolean): Promise<{ text: string; ended: boolean; reader: ReadableStreamDefaultReader<Uint8Array> }> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = '';
  for (;;) {
    const step = await reader.read();
    if (step.done) return { text, ended: true, reader };
    text += dec.decode(step.value, { stream: true });
    if (until(text)) return { text, ended: false, reader };
  }
}

/** The live credit state of an org (balance, open reservations, spends) from the gateway's ledger. */
export async function accountState(
  ledger: { snapshot(orgId: string, keyIds?: readonly string[]): Promise<{ balance: number; reserved: number; orgSpend: number; keySpends: Map<string, number> }> },
  orgId: string,
  keyIds: readonly string[] = [],
) {
  return ledger.snapshot(orgId, keyIds);
}

/**
 * Server settings for suites that are not about overload shedding: on a busy 2-core machine a
 * scheduling stall can push event-loop lag past the 500 ms default and shed test traffic.
 */
export const NO_SHEDDING = { max_event_loop_lag_ms: 600_000 };

// Plumbing for the limits and multi-instance suites: a counting OpenAI-compatible upstream that
// several gateways can share, real `tollgate serve` processes (one or a cluster sharing one
// SQLite file and one Redis), a fresh dist/ for them, a TCP proxy that can cut a gateway off
// from Redis, and small HTTP helpers.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CATALOGUE } from '../../src/catalogue/index.js';
import { handleMockRequest } from '../../src/providers/mock/server.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
export const CLUSTER_ADMIN_TOKEN = 'cluster-test-admin-token-0123456789';

// ---------------------------------------------------------------------------------------------
// Counting upstream

export interface CountingUpstreamOptions {
  /** Words the mock model writes per answer (as `x-mock-words`), so real usage is known. */
  words?: number;
  /** Upstream model names answered with HTTP 500 (a failing primary). */
  failModels?: readonly string[];
}

export interface CountingUpstream {
  /** Base URL ending in /v1, for a provider of type `openai`. */
  url: string;
  /** POST /chat/completions received so far. */
  readonly chatCalls: number;
  /** Chat calls per upstream model name. */
  callsFor(model: string): number;
  /** Most chat calls open at once. */
  readonly maxConcurrent: number;
  close(): Promise<void>;
}

/** The mock model over HTTP (OpenAI wire format), counting every chat call it receives. */
export async function startCountingUpstream(opts: CountingUpstreamOptions = {}): Promise<CountingUpstream> {
  const settings = { tokensPerSecond: 0, faults: undefined };
  const perModel = new Map<string, number>();
  let chatCalls = 0;
  let open = 0;
  let maxConcurrent = 0;
  const server: Server = createHttpServer((req, res) => {
    req.socket.setNoDelay(true);
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('utf8');
      const isChat = req.method === 'POST' && (req.url ?? '').includes('/chat/completions');
      let model = '';
      if (isChat) {
        chatCalls++;
        try {
          model = String((JSON.parse(body) as { model?: unknown }).model ?? '');
        } catch {
          model = '';
        }
        perModel.set(model, (perModel.get(model) ?? 0) + 1);
        open++;
        maxConcurrent = Math.max(maxConcurrent, open);
        res.once('close', () => open--);
      }
      if (isChat && opts.failModels?.includes(model)) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'counting upstream: scripted failure', type: 'server_error', code: null, param: null } }));
        return;
      }
      const headers: IncomingHttpHeaders = { ...req.headers };
      if (opts.words !== undefined) headers['x-mock-words'] = String(opts.words);
      const ac = new AbortController();
      res.once('close', () => ac.abort());
      handleMockRequest({ method: req.method ?? 'GET', path: req.url ?? '/', headers, body }, settings, ac.signal).then(
        async (reply) => {
          if (typeof reply.body === 'string') {
            res.writeHead(reply.status, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) });
            res.end(reply.body);
            return;
          }
          res.writeHead(reply.status, reply.headers);
          for await (const chunk of reply.body) res.write(chunk);
          res.end();
        },
        () => res.destroy(),
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get chatCalls() {
      return chatCalls;
    },
    callsFor: (model) => perModel.get(model) ?? 0,
    get maxConcurrent() {
      return maxConcurrent;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// dist/ for spawned processes

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Compiles src/ into dist/ when dist/cli/index.js is missing or older than any source file. */
export async function ensureFreshDist(): Promise<void> {
  const entry = join(ROOT, 'dist', 'cli', 'index.js');
  if (existsSync(entry) && statSync(entry).mtimeMs >= newestMtime(join(ROOT, 'src'))) return;
  const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  // tsc still emits on type errors (e.g. someone's half-finished edit elsewhere); only a missing
  // entry point is fatal.
  if (code !== 0) console.log(`tsc -p tsconfig.json exited ${code} while refreshing dist/:\n${out.slice(0, 2000)}`);
  if (!existsSync(entry)) throw new Error(`dist/cli/index.js is missing after tsc: ${out.slice(0, 2000)}`);
}

// ---------------------------------------------------------------------------------------------
// Spawned gateways

/** A TCP port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Every vendor key variable too, so a key in the caller's environment adds no provider to the child's embedded default.
  for (const name of ['TOLLGATE_CONFIG', 'TOLLGATE_ADMIN_TOKEN', ...CATALOGUE.vendors.flatMap((v) => v.env), 'OPENAI_BASE_URL', 'PORT', 'NODE_OPTIONS', 'VITEST', 'VITEST_WORKER_ID', 'VITEST_POOL_ID']) {
    delete env[name];
  }
  return env;
}

export interface TollgateProcess {
  url: string;
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string | null>;
  /** SIGTERM (drain, flush, exit) and wait for the exit. */
  stop(): Promise<number | string | null>;
  kill(): void;
}

export interface SpawnOptions {
  /** How long to wait for the "listening" line. */
  readyTimeoutMs?: number;
}

/** `node bin/tollgate.js serve --config FILE --port P`, resolved once it prints its URL. */
export async function spawnTollgate(configFile: string, opts: SpawnOptions = {}): Promise<TollgateProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'tollgate.js'), 'serve', '--config', configFile, '--port', String(port)], { cwd: ROOT, env: childEnv() });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const url = await new Promise<string>((resolve, reject) => {
    const timeoutMs = opts.readyTimeoutMs ?? 20_000;
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`tollgate on port ${port} did not print "listening" within ${timeoutMs} ms; stdout: ${stdout.slice(-2000)}; stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    const onData = () => {
      const m = /listening on (http:\/\/\S+)/.exec(stdout);
      if (m) {
        cleanup();
        resolve(m[1]);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`tollgate exited (${code}) before listening; stdout: ${stdout.slice(-2000)}; stderr: ${stderr.slice(-2000)}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout!.on('data', onData);
    child.on('exit', onExit);
  }).catch((err: unknown) => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw err;
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    url,
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    async stop() {
      if (alive()) child.kill('SIGTERM');
      return exited;
    },
    kill() {
      if (alive()) child.kill('SIGKILL');
    },
  };
}

/** A temp directory holding one config file (JSON is YAML) and whatever SQLite file it names. */
export function writeConfigDir(prefix: string, build: (dir: string) => Record<string, unknown>): { dir: string; file: string; config: Record<string, unknown>; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const config = build(dir);
  const file = join(dir, 'tollgate.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { dir, file, config, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Cluster {
  instances: TollgateProcess[];
  urls: string[];
  /** SIGTERM every instance and wait for all of them to exit (records flushed). */
  stop(): Promise<Array<number | string | null>>;
  kill(): void;
}

/**
 * `n` processes on one config file (so one SQLite file and one Redis). Started one after the
 * other: the first runs the migrations, the others find them done.
 */
export async function startCluster(n: number, configFile: string): Promise<Cluster> {
  const instances: TollgateProcess[] = [];
  try {
    for (let i = 0; i < n; i++) instances.push(await spawnTollgate(configFile));
  } catch (err) {
    for (const p of instances) p.kill();
    throw err;
  }
  return {
    instances,
    urls: instances.map((p) => p.url),
    stop: () => Promise.all(instances.map((p) => p.stop())),
    kill: () => {
      for (const p of instances) p.kill();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A cuttable TCP path to Redis

export interface TcpProxy {
  port: number;
  url: string;
  /** Stop listening and drop every connection: the target looks unreachable (port closed). */
  cut(): Promise<void>;
  /** Listen again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    client.on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const cut = async () => {
    const closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const s of sockets) s.destroy();
    await closed;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cut,
    restore: () => new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    }),
    close: cut,
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

export interface JsonAnswer<T> {
  status: number;
  headers: Headers;
  body: T;
}

/** A JSON call with a bearer credential; answers status, headers and the parsed body. */
export async function callJson<T = Record<string, unknown>>(url: string, credential: string, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<JsonAnswer<T>> {
  const res = await fetch(url + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json', ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body: body as T };
}

export interface ErrorBody {
  error: { message: string; type: string; code: string; param: string | null };
}

/**
 * Calls `probe` every `intervalMs` until it returns a value other than undefined, or the deadline
 * passes (then resolves undefined). For behaviours whose observable is an HTTP answer changing.
 */
export async function pollFor<T>(probe: () => Promise<T | undefined>, deadlineMs: number, intervalMs = 25): Promise<{ value: T | undefined; elapsedMs: number }> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    const elapsedMs = Date.now() - started;
    if (value !== undefined) return { value, elapsedMs };
    if (elapsedMs >= deadlineMs) return { value: undefined, elapsedMs };
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

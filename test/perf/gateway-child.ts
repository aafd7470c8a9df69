// The gateway under measurement, in a child process of its own (started by measure.ts with
// --expose-gc and a young generation large enough that no collection runs inside a measured
// window). It runs the default configuration as `npm start` does (billing, limits, usage
// records, the exact cache, logging at info) against an OpenAI-compatible upstream, and answers
// measure.ts over IPC: `mark` starts a window, `read` ends it once every usage row of the
// window has reached the store, and reports what the request thread did in between.
import { createRequire, syncBuiltinESMExports } from 'node:module';
import fs from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { validateConfig } from '../../src/config/load.js';
import { startGateway } from '../../src/main.js';

type Gc = () => void;
const gc = (globalThis as { gc?: Gc }).gc;
if (!gc) throw new Error('run with --expose-gc');
const send = (msg: unknown) => process.send?.(msg);

const [upstreamUrl, dir] = process.argv.slice(2);

// Blocking work on the request thread, counted: synchronous file-system calls and SQLite
// statements (better-sqlite3 runs every statement synchronously on the calling thread).
const blocking = { fs: 0, sqlite: 0 };
const fsAny = fs as unknown as Record<string, unknown>;
for (const name of Object.keys(fs)) {
  const f = fsAny[name];
  if (!name.endsWith('Sync') || typeof f !== 'function') continue;
  fsAny[name] = function (this: unknown, ...args: unknown[]) {
    blocking.fs++;
    return (f as (...a: unknown[]) => unknown).apply(this, args);
  };
}
syncBuiltinESMExports();
const require = createRequire(import.meta.url);
const BetterSqlite3 = require('better-sqlite3') as new (path: string) => { prepare(sql: string): object; close(): void };
const probe = new BetterSqlite3(':memory:');
const statementProto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, unknown>;
probe.close();
for (const name of ['run', 'get', 'all', 'iterate']) {
  const f = statementProto[name] as (...a: unknown[]) => unknown;
  statementProto[name] = function (this: unknown, ...args: unknown[]) {
    blocking.sqlite++;
    return f.apply(this, args);
  };
}

let gcs = 0;
const { PerformanceObserver } = await import('node:perf_hooks');
const gcObserver = new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
});
gcObserver.observe({ entryTypes: ['gc'] });
/** Collections so far, including those whose entries are not yet delivered. */
const collections = () => gcs + gcObserver.takeRecords().length;

const ADMIN = 'perf-admin-token-0123456789';
const config = validateConfig(
  {
    server: { host: '127.0.0.1', port: 0, admin_token: ADMIN },
    storage: { url: `sqlite://${join(dir, 'tollgate.db')}` },
    providers: [{ id: 'up', type: 'openai', base_url: upstreamUrl, api_key: 'unused' }],
    models: [
      { id: 'perf-model', context_window: 32000, max_output_tokens: 4096, pricing: { input_per_mtok: 1, output_per_mtok: 2 }, channels: [{ provider: 'up', upstream_model: 'mock-chat' }] },
    ],
    limits: { key_rpm: 100_000_000 },
  },
  {},
);
const running = await startGateway({ config });
const { Session } = await import('node:inspector/promises');

/** Every script this thread has compiled (modules included, loaded or not yet run), by URL. */
async function compiledScripts(): Promise<string[]> {
  const debug = new Session();
  debug.connect();
  const urls: string[] = [];
  // Enabling the debugger reports each script compiled so far, before the call returns.
  debug.on('Debugger.scriptParsed', (m) => urls.push(m.params.url));
  await debug.post('Debugger.enable');
  await debug.post('Debugger.disable');
  debug.disconnect();
  return urls;
}
// Before any request: the management routes' modules load on the first one.
const compiledAtStart = await compiledScripts();
const post = async (path: string, credential: string, body: unknown) =>
  (await fetch(`${running.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<Record<string, string>>;
const org = await post('/admin/orgs', ADMIN, { name: 'perf', credits_usd: 1e6 });
const key = (await post('/api/keys', org.management_key, {})).key;

// PERF_ALLOC_PROFILE=FILE: a sampling profile of every allocation in the windows (collected or
// not), written to FILE.heapprofile at the end, to find what allocates (open it in DevTools).
const allocProfile = process.env.PERF_ALLOC_PROFILE;
const session = allocProfile ? new Session() : undefined;
if (session) {
  session.connect();
  await session.post('HeapProfiler.enable');
}

let profiles = 0;
let start = { heap: 0, gcs: 0, fs: 0, sqlite: 0, elu: performance.eventLoopUtilization(), cpu: process.cpuUsage() };

async function settled(): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (running.gateway.usage.pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

process.on('message', async (msg: { kind: string }) => {
  if (msg.kind === 'mark') {
    await settled();
    gc();
    gc();
    // The collections just forced are reported a moment later; let them in before counting.
    await new Promise((r) => setTimeout(r, 20));
    if (session) await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
    start = { heap: v8.getHeapStatistics().used_heap_size, gcs: collections(), ...blocking, elu: performance.eventLoopUtilization(), cpu: process.cpuUsage() };
    send({ kind: 'marked' });
  } else if (msg.kind === 'read') {
    await settled();
    const heap = v8.getHeapStatistics().used_heap_size;
    if (session) {
      const { profile } = await session.post('HeapProfiler.stopSampling');
      fs.writeFileSync(`${allocProfile}.${++profiles}.heapprofile`, JSON.stringify(profile));
    }
    const elu = performance.eventLoopUtilization(start.elu);
    const cpu = process.cpuUsage(start.cpu);
    send({
      kind: 'window',
      // The o200k tokenizer (tens of MB) loads only for answers without an upstream count.
      tokenizer: Object.keys(require.cache).some((file) => file.includes('/node_modules/gpt-tokenizer/')),
      // HTTP/1.1 upstreams go through Node's own HTTP parser (src/routing/h1-client.ts).
      undici: Object.keys(require.cache).some((file) => file.includes('/node_modules/undici/')),
      allocated: heap - start.heap,
      collections: collections() - start.gcs,
      fs: blocking.fs - start.fs,
      sqlite: blocking.sqlite - start.sqlite,
      activeMs: elu.active,
      cpuMs: (cpu.user + cpu.system) / 1000,
    });
  } else if (msg.kind === 'stop') {
    await running.shutdown();
    process.exit(0);
  }
});
// Packages this configuration does not use, which must not be loaded at start (they cost start-up
// time and memory): the Postgres and Redis clients, mail, Fastify's JSON-schema compilers, and
// undici (the upstream here speaks plain HTTP/1.1 and no webhook is sent).
const UNUSED = ['pg', 'ioredis', 'nodemailer', 'ajv', '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler', 'undici'];
const loaded = Object.keys(require.cache);
// Modules of this project that load on first use (the management routes and their schemas),
// which must not be compiled at start.
const LAZY = ['src/http/routes/api.ts', 'src/http/routes/admin.ts', 'src/http/routes/audit.ts', 'src/http/routes/admin-stats.ts', 'src/http/management-schemas.ts', 'src/http/key-body.ts'];
const loadedUnused = [
  ...UNUSED.filter((name) => loaded.some((file) => file.includes(`/node_modules/${name}/`))),
  ...LAZY.filter((file) => compiledAtStart.some((url) => url.endsWith(`/${file}`))),
];
send({ kind: 'ready', url: running.url, key, loadedUnused });

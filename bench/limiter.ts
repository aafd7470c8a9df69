// Rate-limiter decision throughput: memory and Redis, 1 and 2 specs per decision.
// Run: npx tsx bench/limiter.ts   (Redis from TOLLGATE_BENCH_REDIS_URL or 127.0.0.1:6379)
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  createLimiterRedisClient,
  createMemoryLimiter,
  createRedisLimiter,
  type LimitSpec,
  type RateLimiter,
  waitUntilReady,
} from '../src/limits/index.js';

interface Row {
  backend: string;
  specs: number;
  callers: number;
  decisions: number;
  seconds: number;
  /** Gateway-process CPU seconds spent, to tell Redis latency apart from client cost. */
  cpuSeconds: number;
  admitted: number;
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

const KEYS = 10_000;
const ORGS = 100;

// Many API keys at a realistic rpm, and a token limit per org, so the maps and logs have the
// shape of a busy gateway rather than one hot counter.
function specsFor(i: number, count: 1 | 2): LimitSpec[] {
  const rpm: LimitSpec = { key: `rpm:key:k${i % KEYS}`, limit: 600, cost: 1 };
  if (count === 1) return [rpm];
  return [rpm, { key: `tpm:org:o${i % ORGS}`, limit: 50_000_000, cost: 250 }];
}

function benchMemorySync(count: 1 | 2, decisions: number): Row {
  const limiter = createMemoryLimiter();
  const prepared = Array.from({ length: KEYS }, (_, i) => specsFor(i, count));
  for (let i = 0; i < 50_000; i++) limiter.acquireSync(prepared[i % KEYS]);
  let admitted = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < decisions; i++) if (limiter.acquireSync(prepared[i % KEYS]).allowed) admitted++;
  const seconds = (performance.now() - start) / 1_000;
  const cpuSeconds = cpuSecondsSince(cpu);
  return { backend: 'memory (acquireSync)', specs: count, callers: 1, decisions, seconds, cpuSeconds, admitted };
}

async function benchMemoryAsync(count: 1 | 2, decisions: number): Promise<Row> {
  const limiter = createMemoryLimiter();
  const prepared = Array.from({ length: KEYS }, (_, i) => specsFor(i, count));
  let admitted = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < decisions; i++) if ((await limiter.acquire(prepared[i % KEYS])).allowed) admitted++;
  const seconds = (performance.now() - start) / 1_000;
  const cpuSeconds = cpuSecondsSince(cpu);
  return { backend: 'memory (await acquire)', specs: count, callers: 1, decisions, seconds, cpuSeconds, admitted };
}

async function benchRedis(limiter: RateLimiter, count: 1 | 2, callers: number, decisions: number): Promise<Row> {
  let next = 0;
  let admitted = 0;
  const worker = async (): Promise<void> => {
    while (next < decisions) {
      const i = next++;
      if ((await limiter.acquire(specsFor(i, count))).allowed) admitted++;
    }
  };
  // Warm the JIT and the script cache so the first row measures steady state too.
  for (let i = 0; i < 2_000; i++) await limiter.acquire(specsFor(i, count));
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all(Array.from({ length: callers }, worker));
  const seconds = (performance.now() - start) / 1_000;
  const cpuSeconds = cpuSecondsSince(cpu);
  return { backend: 'redis (EVALSHA)', specs: count, callers, decisions, seconds, cpuSeconds, admitted };
}

async function cleanup(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [nextCursor, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    cursor = nextCursor;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}

function print(rows: Row[]): void {
  const header = ['backend', 'specs', 'callers', 'decisions', 'decisions/s', 'wall µs/decision', 'gateway CPU µs/decision', 'admitted'];
  const lines = rows.map((r) => [
    r.backend,
    String(r.specs),
    String(r.callers),
    String(r.decisions),
    Math.round(r.decisions / r.seconds).toLocaleString('en-US'),
    ((r.seconds * 1e6) / r.decisions).toFixed(2),
    ((r.cpuSeconds * 1e6) / r.decisions).toFixed(2),
    String(r.admitted),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c].length)));
  const fmt = (cells: string[]): string => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(fmt(l));
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const count of [1, 2] as const) rows.push(benchMemorySync(count, 2_000_000));
  for (const count of [1, 2] as const) rows.push(await benchMemoryAsync(count, 1_000_000));

  const url = process.env.TOLLGATE_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const client = createLimiterRedisClient(url, { commandTimeoutMs: 5_000 });
  if (await waitUntilReady(client, 2_000)) {
    const prefix = `tollgate-bench:${randomUUID()}:`;
    const limiter = createRedisLimiter(client, prefix);
    try {
      for (const count of [1, 2] as const) {
        rows.push(await benchRedis(limiter, count, 1, 10_000));
        rows.push(await benchRedis(limiter, count, 16, 40_000));
      }
    } finally {
      await cleanup(client, prefix);
    }
  } else {
    console.log(`Redis not reachable at ${url}: Redis rows skipped.`);
  }
  client.disconnect();
  print(rows);
}

await main();

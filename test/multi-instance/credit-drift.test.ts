// SPEC §6 with Redis (issue 11, item 2): Redis holds a fast copy of balances, spends and holds;
// the durable ledger is the truth. After each fault — a top-up during a Redis pause, Redis
// connections dropped under load, an instance killed with SIGKILL — within 10 s of the fault
// clearing, every org's shared balance equals the sum of its ledger and no credit is held
// without a request in flight.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFreshDist, pollFor, spawnTollgate, type TollgateProcess } from '../helpers/cluster.js';
import { ADMIN_TOKEN, chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { connectTestClient, deleteKeys, freshPrefix, isRedisReachable, TEST_REDIS_URL } from '../limits/redis-test-support.js';
import { type RedisPath, redisHostPort, startRedisPath } from './redis-path.js';

const redisUp = await isRedisReachable();
if (!redisUp) console.log(`Redis not reachable at ${TEST_REDIS_URL}: skipping the shared-credit drift tests`);

/** How soon after a fault clears the shared state must agree with the ledger again. */
const CONVERGE_MS = 10_000;

let redis: Redis;
let dir: string;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  if (!redisUp) return;
  redis = await connectTestClient();
  dir = mkdtempSync(join(tmpdir(), 'tollgate-drift-'));
  await ensureFreshDist();
}, 180_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  if (!redisUp) return;
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

interface Setup {
  prefix: string;
  db: string;
}

function setup(name: string): Setup {
  const prefix = freshPrefix();
  cleanups.push(() => deleteKeys(redis, prefix).then(() => undefined));
  return { prefix, db: `sqlite://${join(dir, `${name}.db`)}` };
}

async function gateway(s: Setup, redisUrl: string, onUnavailable: 'fail_closed' | 'local' = 'fail_closed'): Promise<TestGateway> {
  const gw = await startTestGateway({
    raw: {
      server: { log_level: 'warn' },
      storage: { url: s.db },
      redis: { url: redisUrl, key_prefix: s.prefix, on_unavailable: onUnavailable },
      limits: { key_rpm: null },
      cache: { exact: { enabled: false } },
    },
  });
  let closed = false;
  cleanups.push(async () => {
    if (!closed) await gw.close();
  });
  return {
    ...gw,
    close: async () => {
      closed = true;
      await gw.close();
    },
  };
}

async function path(): Promise<RedisPath> {
  const { host, port } = redisHostPort(TEST_REDIS_URL);
  const p = await startRedisPath(host, port);
  cleanups.push(() => p.close());
  return p;
}

/** The shared view of an org (through `gw`) next to the durable ledger's sum. */
async function books(gw: TestGateway, orgId: string): Promise<{ shared: number; reserved: number; ledger: number } | undefined> {
  try {
    const snap = await gw.running.gateway.accounts.snapshot(orgId);
    const ledger = (await gw.running.gateway.store.balances()).get(orgId) ?? 0;
    return { shared: snap.balance, reserved: snap.reserved, ledger };
  } catch {
    return undefined;
  }
}

/** Polls until the shared balance equals the ledger and nothing is held; the last reading either way. */
async function converged(gw: TestGateway, orgId: string) {
  let last: Awaited<ReturnType<typeof books>>;
  const r = await pollFor(async () => {
    last = await books(gw, orgId);
    return last && last.shared === last.ledger && last.reserved === 0 ? last : undefined;
  }, CONVERGE_MS, 100);
  return { ...r, last };
}

const ask = (n: number) => ({ model: 'mock-chat', messages: [{ role: 'user', content: `drift probe ${n}` }], max_tokens: 50 });

/** `total` chat calls from `workers` concurrent loops, round-robin over `urls`; `onAnswer(n)` after each answer. */
async function load(urls: string[], key: string, total: number, workers: number, onAnswer: (n: number) => Promise<void> | void = () => {}, headers: Record<string, string> = {}): Promise<number[]> {
  let sent = 0;
  let answered = 0;
  const statuses: number[] = [];
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (sent < total) {
        const n = sent++;
        try {
          const res = await chat(urls[n % urls.length], key, ask(n), headers);
          await res.arrayBuffer();
          statuses.push(res.status);
        } catch {
          statuses.push(0);
        }
        await onAnswer(++answered);
      }
    }),
  );
  return statuses;
}

describe.skipIf(!redisUp)('SPEC §6 with Redis: the shared balance never drifts from the ledger', () => {
  it('applies a top-up made during a Redis pause exactly once when Redis answers again', async () => {
    const s = setup('pause');
    const p = await path();
    const gw = await gateway(s, p.url);
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    expect((await chat(gw.url, key, ask(0))).status).toBe(200);
    p.pause();
    const topUp = await gw.admin(`/admin/orgs/${orgId}/credits`, { body: { amount_usd: 1, note: 'during a pause' } });
    expect(topUp.status).toBe(201);
    p.resume();
    await gw.running.gateway.usage.flushAll(10_000);
    const done = await converged(gw, orgId);
    expect(done.value, JSON.stringify(done.last)).toBeDefined();
    expect(done.last!.ledger).toBeGreaterThan(1_900_000);
    // Applied once, not twice: the top-up answered while its command was stuck, then both the
    // stuck command and the retry reached Redis.
    const again = await books(gw, orgId);
    expect(again!.shared).toBe(again!.ledger);
  }, 60_000);

  it('agrees with the ledger after Redis connections are dropped under load, with no credit left held', async () => {
    const s = setup('drop');
    const p = await path();
    const a = await gateway(s, p.url, 'local');
    const b = await gateway(s, TEST_REDIS_URL);
    const { orgId, mk } = await a.createOrg(5);
    const { key } = await a.createKey(mk);
    await pollFor(async () => ((await chat(b.url, key, ask(-1))).status === 200 ? true : undefined), 2000);
    const statuses = await load([a.url, b.url], key, 240, 12, async (n) => {
      if (n === 40) await p.cut();
      if (n === 120) await p.restore();
    });
    expect(statuses.filter((x) => x === 200).length).toBeGreaterThan(120);
    await a.running.gateway.usage.flushAll(10_000);
    await b.running.gateway.usage.flushAll(10_000);
    for (const gw of [a, b]) {
      const done = await converged(gw, orgId);
      expect(done.value, JSON.stringify(done.last)).toBeDefined();
    }
  }, 60_000);

  it('agrees with the ledger after an instance is killed with SIGKILL in the middle of requests', async () => {
    const s = setup('kill');
    const b = await gateway(s, TEST_REDIS_URL);
    const configFile = join(dir, 'kill.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        server: { host: '127.0.0.1', port: 0, admin_token: ADMIN_TOKEN, log_level: 'warn', max_event_loop_lag_ms: 600_000, shutdown_grace_s: 5 },
        storage: { url: s.db },
        redis: { url: TEST_REDIS_URL, key_prefix: s.prefix },
        providers: [{ id: 'mock', type: 'mock' }],
        models: [{ id: 'mock-chat', pricing: { input_per_mtok: 1, output_per_mtok: 2 }, channels: [{ provider: 'mock', upstream_model: 'mock-chat' }] }],
        limits: { key_rpm: null },
        billing: { flush_interval_ms: 1000 },
        cache: { exact: { enabled: false } },
      }),
    );
    const victim: TollgateProcess = await spawnTollgate(configFile);
    cleanups.push(() => victim.kill());
    const { orgId, mk } = await b.createOrg(5);
    const { key } = await b.createKey(mk);
    await pollFor(async () => ((await chat(victim.url, key, ask(-1))).status === 200 ? true : undefined), 2000);
    // Slow answers keep holds open on the victim when it dies.
    const slow = { 'x-mock-fault': 'latency=150' };
    const statuses = await load([victim.url, b.url], key, 160, 12, (n) => {
      if (n === 60) victim.kill();
    }, slow);
    await victim.exited;
    expect(statuses.filter((x) => x === 200).length).toBeGreaterThan(60);
    await b.running.gateway.usage.flushAll(10_000);
    const done = await converged(b, orgId);
    expect(done.value, JSON.stringify(done.last)).toBeDefined();
  }, 90_000);
});

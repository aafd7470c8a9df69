// SPEC §7 "With Redis configured and unreachable, limits and budgets fail closed (503) or fall
// back to a bounded local limiter; they never become unlimited."
// A gateway reaches Redis through a TCP proxy the test cuts (the port then refuses
// connections), so it can be set up while Redis works and then lose it. One more gateway, a real
// process, is started with Redis unreachable from the first moment.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { CLUSTER_ADMIN_TOKEN, callJson, type ErrorBody, ensureFreshDist, spawnTollgate, startTcpProxy, type TcpProxy, type TollgateProcess, writeConfigDir } from '../helpers/cluster.js';
import { closedPort, connectTestClient, deleteKeys, freshPrefix, isRedisReachable, TEST_REDIS_URL } from '../limits/redis-test-support.js';

const redisUp = await isRedisReachable();
if (!redisUp) console.log(`Redis not reachable at ${TEST_REDIS_URL}: skipping the tests that cut a working Redis (the closed-port start still runs)`);

const target = new URL(TEST_REDIS_URL);
const prefix = freshPrefix();
const cleanups: Array<() => Promise<void> | void> = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  if (redisUp) {
    const client: Redis = await connectTestClient();
    await deleteKeys(client, prefix);
    client.disconnect();
  }
});

interface Answer {
  status: number;
  code: string | undefined;
  message: string | undefined;
  retryAfter: string | null;
}

let seq = 0;
async function ask(url: string, key: string, extra: Record<string, unknown> = {}): Promise<Answer> {
  const res = await chat(url, key, { model: 'mock-chat', messages: [{ role: 'user', content: `redis down probe ${++seq}` }], ...extra });
  const text = await res.text();
  const err = res.status === 200 ? undefined : (JSON.parse(text) as ErrorBody).error;
  return { status: res.status, code: err?.code, message: err?.message, retryAfter: res.headers.get('retry-after') };
}

/** A gateway whose Redis goes through `proxy`, with an org (credit) and a key made while Redis works. */
async function gatewayBehind(mode: 'fail_closed' | 'local', rpm: number): Promise<{ gw: TestGateway; proxy: TcpProxy; key: string }> {
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 6379));
  cleanups.push(() => proxy.close());
  const gw = await startTestGateway({
    raw: {
      server: { max_event_loop_lag_ms: 600_000 },
      redis: { url: proxy.url, key_prefix: `${prefix}${mode}:`, on_unavailable: mode },
      cache: { exact: { enabled: false } },
    },
  });
  cleanups.push(() => gw.close());
  const { mk } = await gw.createOrg(10);
  const { key } = await gw.createKey(mk, { rpm });
  return { gw, proxy, key };
}

describe('SPEC §7 Redis configured and unreachable: limits and budgets fail closed (503) or use a bounded local limiter, never unlimited', () => {
  describe.skipIf(!redisUp)('Redis lost while running', () => {
    let failClosed: Awaited<ReturnType<typeof gatewayBehind>>;
    let local: Awaited<ReturnType<typeof gatewayBehind>>;

    beforeAll(async () => {
      [failClosed, local] = await Promise.all([gatewayBehind('fail_closed', 2), gatewayBehind('local', 3)]);
    });

    it('fail_closed: answers 503 overloaded with Retry-After to every request, never a 200, and serves again within the limit once Redis is back', async () => {
      const { gw, proxy, key } = failClosed;
      expect((await ask(gw.url, key)).status).toBe(200);

      await proxy.cut();
      const answers: Answer[] = [];
      for (let i = 0; i < 6; i++) answers.push(await ask(gw.url, key, i % 2 ? { stream: true } : {}));
      for (const a of answers) {
        expect(a, JSON.stringify(a)).toMatchObject({ status: 503, code: 'overloaded' });
        expect(a.retryAfter).toMatch(/^\d+$/);
        expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
      }
      // Readiness says why.
      const ready = await fetch(`${gw.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(ready.status).toBe(503);
      expect(JSON.stringify(await ready.json())).toMatch(/redis/);

      // Back: the shared limit picks up where it was (1 of 2 used), it did not reset to unlimited.
      await proxy.restore();
      let back: Answer | undefined;
      const deadline = Date.now() + 8000;
      while (Date.now() < deadline) {
        back = await ask(gw.url, key);
        if (back.status !== 503) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(back).toMatchObject({ status: 200 });
      expect(await ask(gw.url, key)).toMatchObject({ status: 429, code: 'rpm_exceeded' });
    });

    it('local: admits exactly rpm requests past the limiter, then 429 rpm_exceeded, for as many requests as are sent', async () => {
      const { gw, proxy, key } = local;
      await proxy.cut();
      const answers: Answer[] = [];
      for (let i = 0; i < 8; i++) answers.push(await ask(gw.url, key));
      const admitted = answers.slice(0, 3);
      // The bounded local limiter: the key's rpm of 3, then refusals with Retry-After.
      for (const a of answers.slice(3)) {
        expect(a, JSON.stringify(a)).toMatchObject({ status: 429, code: 'rpm_exceeded' });
        expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
      }
      for (const a of admitted) expect(a.status, JSON.stringify(a)).not.toBe(429);
      // What the admitted ones get: 200 if budgets could be decided without Redis; they cannot
      // (the credit ledger lives in Redis), so they fail closed with 503 naming the credit store.
      const served = admitted.every((a) => a.status === 200);
      const budgetsClosed = admitted.every((a) => a.status === 503 && a.code === 'overloaded' && /credit/i.test(a.message ?? ''));
      expect({ served, budgetsClosed, admitted }).toMatchObject(served ? { served: true } : { budgetsClosed: true });
    });
  });

  describe('Redis unreachable from the start (a closed port)', () => {
    let proc: TollgateProcess | undefined;
    let dir: ReturnType<typeof writeConfigDir> | undefined;

    beforeAll(async () => {
      await ensureFreshDist();
    });

    afterAll(() => {
      proc?.kill();
      dir?.remove();
    });

    it('starts, reports not ready, and answers inference with 503 overloaded (fail_closed), never a 200', async () => {
      const port = await closedPort();
      dir = writeConfigDir('tollgate-redis-down-', (d) => ({
        server: { host: '127.0.0.1', port: 0, admin_token: CLUSTER_ADMIN_TOKEN, log_level: 'warn', max_event_loop_lag_ms: 600_000, shutdown_grace_s: 1 },
        storage: { url: `sqlite://${d}/tollgate.db` },
        redis: { url: `redis://127.0.0.1:${port}`, key_prefix: prefix, on_unavailable: 'fail_closed' },
        providers: [{ id: 'mock', type: 'mock' }],
        models: [{ id: 'mock-chat', pricing: { input_per_mtok: 1, output_per_mtok: 2 }, channels: [{ provider: 'mock', upstream_model: 'mock-chat' }] }],
      }));
      // Connecting to Redis may take a few seconds to give up on; it must not take forever.
      proc = await spawnTollgate(dir.file, { readyTimeoutMs: 10_000 });

      const ready = await fetch(`${proc.url}/readyz`);
      expect(ready.status).toBe(503);

      // An org without credit needs no Redis write; its key is then refused for want of limits.
      const org = await callJson<{ org: { id: string }; management_key: string }>(proc.url, CLUSTER_ADMIN_TOKEN, '/admin/orgs', { body: { name: 'no-redis' } });
      expect(org.status).toBe(201);
      const key = await callJson<{ key: string }>(proc.url, org.body.management_key, '/api/keys', { body: { rpm: 2 } });
      expect(key.status).toBe(201);
      for (let i = 0; i < 4; i++) {
        const a = await ask(proc.url, key.body.key);
        expect(a, JSON.stringify(a)).toMatchObject({ status: 503, code: 'overloaded' });
        expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
      }
    });
  });
});

// Three real `tollgate serve` processes sharing one SQLite file and one Redis: a key's rpm holds
// across all of them (SPEC §7), and concurrent requests spread over them cannot overspend an
// org's balance, which stays equal to the sum of its ledger (SPEC §6).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import type { LedgerRow, Store, UsageRow } from '../../src/store/types.js';
import { CLUSTER_ADMIN_TOKEN, type Cluster, type CountingUpstream, callJson, type ErrorBody, ensureFreshDist, pollFor, startCluster, startCountingUpstream, writeConfigDir } from '../helpers/cluster.js';
import { connectTestClient, deleteKeys, freshPrefix, isRedisReachable, TEST_REDIS_URL } from '../limits/redis-test-support.js';
import { promptTokenBound } from '../../src/core/tokens.js';

const redisUp = await isRedisReachable();
if (!redisUp) console.log(`Redis not reachable at ${TEST_REDIS_URL}: skipping the three-process cluster tests`);

const INSTANCES = 3;
// Mock prices: 20 USD per million tokens in and out = 20 micro-USD per token.
const PRICE_PER_TOKEN_MICROS = 20;

let cluster: Cluster | undefined;
let upstream: CountingUpstream | undefined;
let dir: ReturnType<typeof writeConfigDir> | undefined;
let redis: Redis | undefined;
let prefix: string;
let dbUrl: string;

beforeAll(async () => {
  if (!redisUp) return;
  await ensureFreshDist();
  prefix = freshPrefix();
  redis = await connectTestClient();
  upstream = await startCountingUpstream({ words: 5 });
  const upUrl = upstream.url;
  dir = writeConfigDir('tollgate-cluster-', (d) => {
    dbUrl = `sqlite://${d}/shared.db`;
    return {
      server: { host: '127.0.0.1', port: 0, admin_token: CLUSTER_ADMIN_TOKEN, log_level: 'warn', max_event_loop_lag_ms: 600_000, shutdown_grace_s: 5 },
      storage: { url: dbUrl },
      redis: { url: TEST_REDIS_URL, key_prefix: prefix, on_unavailable: 'fail_closed' },
      providers: [
        { id: 'mock', type: 'mock' },
        { id: 'up', type: 'openai', base_url: upUrl, api_key: 'upstream-secret' },
      ],
      models: [
        { id: 'mock-chat', pricing: { input_per_mtok: 1, output_per_mtok: 2 }, channels: [{ provider: 'mock', upstream_model: 'mock-chat' }] },
        {
          id: 'priced',
          context_window: 32000,
          max_output_tokens: 4096,
          pricing: { input_per_mtok: PRICE_PER_TOKEN_MICROS, output_per_mtok: PRICE_PER_TOKEN_MICROS },
          channels: [{ provider: 'up', upstream_model: 'mock-chat' }],
        },
      ],
      limits: { key_rpm: null },
      billing: { flush_interval_ms: 50 },
      cache: { exact: { enabled: false } },
    };
  });
  cluster = await startCluster(INSTANCES, dir.file);
}, 120_000);

afterAll(async () => {
  cluster?.kill();
  await upstream?.close();
  if (redis) {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  }
  dir?.remove();
});

/** An org (via instance 1) and a key, once every instance knows the key. */
async function orgAndKey(credits: number, keyBody: Record<string, unknown> = {}): Promise<{ orgId: string; keyId: string; key: string }> {
  const urls = cluster!.urls;
  const org = await callJson<{ org: { id: string }; management_key: string }>(urls[0], CLUSTER_ADMIN_TOKEN, '/admin/orgs', { body: { name: `cluster-${Date.now()}-${Math.random()}`, credits_usd: credits } });
  if (org.status !== 201) throw new Error(`POST /admin/orgs: ${org.status} ${JSON.stringify(org.body)}`);
  const key = await callJson<{ id: string; key: string }>(urls[0], org.body.management_key, '/api/keys', { body: keyBody });
  if (key.status !== 201) throw new Error(`POST /api/keys: ${key.status} ${JSON.stringify(key.body)}`);
  for (const url of urls) {
    const known = await pollFor(async () => ((await callJson(url, key.body.key, '/api/balance')).status === 200 ? true : undefined), 2000);
    if (!known.value) throw new Error(`instance ${url} did not learn the new key within 2 s`);
  }
  return { orgId: org.body.org.id, keyId: key.body.id, key: key.body.key };
}

interface Outcome {
  instance: number;
  status: number;
  code: string | undefined;
}

async function send(instance: number, key: string, body: Record<string, unknown>): Promise<Outcome> {
  try {
    const res = await fetch(`${cluster!.urls[instance]}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    const code = res.status === 200 ? undefined : (JSON.parse(text) as ErrorBody).error?.code;
    return { instance, status: res.status, code };
  } catch (err) {
    return { instance, status: 0, code: (err as Error).message };
  }
}

function tally(outcomes: Outcome[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) {
    const k = `${o.status}${o.code ? ` ${o.code}` : ''}`;
    t[k] = (t[k] ?? 0) + 1;
  }
  return t;
}

describe.skipIf(!redisUp)('SPEC §7 with Redis configured, limits hold across every instance sharing it', () => {
  it('admits 60 of 600 requests sent round-robin to three processes within 10 s for a key with rpm 60; the rest get 429 rpm_exceeded', async () => {
    const { key } = await orgAndKey(10, { rpm: 60 });
    const total = 600;
    const perSecond = 60;
    const started = performance.now();
    const pending: Array<Promise<Outcome>> = [];
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / perSecond;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      pending.push(send(i % INSTANCES, key, { model: 'mock-chat', messages: [{ role: 'user', content: `cluster rpm ${i}` }] }));
    }
    const outcomes = await Promise.all(pending);
    const elapsed = performance.now() - started;
    // Everything happened inside one minute's window.
    expect(elapsed).toBeLessThan(20_000);

    const summary = tally(outcomes);
    const ok = outcomes.filter((o) => o.status === 200);
    expect(ok.length, JSON.stringify(summary)).toBeGreaterThanOrEqual(60);
    expect(ok.length, JSON.stringify(summary)).toBeLessThanOrEqual(61);
    expect(outcomes.filter((o) => o.status !== 200).every((o) => o.status === 429 && o.code === 'rpm_exceeded'), JSON.stringify(summary)).toBe(true);
    // Each instance both served and refused: one limit, not three.
    for (let i = 0; i < INSTANCES; i++) {
      expect(ok.some((o) => o.instance === i)).toBe(true);
      expect(outcomes.some((o) => o.instance === i && o.status === 429)).toBe(true);
    }
  }, 60_000);
});

/** Every ledger and usage row of an org, from the shared SQLite file. */
async function readStore(orgId: string): Promise<{ ledger: LedgerRow[]; usage: UsageRow[]; balance: number | undefined }> {
  const store: Store = await openStore(dbUrl);
  try {
    const ledger: LedgerRow[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listLedger(orgId, { cursor, limit: 1000 });
      ledger.push(...page.rows);
      cursor = page.next_cursor;
    } while (cursor);
    const usage: UsageRow[] = [];
    cursor = undefined;
    do {
      const page = await store.listUsage({ org_id: orgId, cursor, limit: 1000 });
      usage.push(...page.rows);
      cursor = page.next_cursor;
    } while (cursor);
    const balance = (await store.balances()).get(orgId);
    return { ledger, usage, balance };
  } finally {
    await store.close();
  }
}

describe.skipIf(!redisUp)('SPEC §6 concurrency must not overspend, across instances', () => {
  it('keeps a $0.01 org at or above zero under 200 concurrent requests spread over three processes; balance equals the ledger; upstream calls equal the admitted requests', async () => {
    const credits = 0.01;
    const { orgId, keyId, key } = await orgAndKey(credits);
    const callsBefore = upstream!.chatCalls;
    // The mock writes 5 words (6 tokens): max_tokens 6 caps each reservation at its prompt's upper
    // bound plus the real output, so any double admission shows as overspend.
    const maxTokens = 6;
    const probeMessages = [{ role: 'user' as const, content: 'balance probe' }];
    const reservation = (promptTokenBound(probeMessages) + maxTokens) * PRICE_PER_TOKEN_MICROS;

    const outcomes = await Promise.all(
      Array.from({ length: 200 }, (_, i) => send(i % INSTANCES, key, { model: 'priced', max_tokens: maxTokens, messages: probeMessages })),
    );
    const summary = tally(outcomes);
    const served = outcomes.filter((o) => o.status === 200).length;
    expect(outcomes.every((o) => o.status === 200 || (o.status === 402 && o.code === 'insufficient_balance')), JSON.stringify(summary)).toBe(true);
    expect(served, JSON.stringify(summary)).toBeGreaterThan(0);
    expect(served, JSON.stringify(summary)).toBeLessThan(200);
    // Nothing went upstream that was not admitted and answered.
    expect(upstream!.chatCalls - callsBefore).toBe(served);

    // Stop every instance: each drains, settles and flushes its usage and charges to SQLite.
    const exits = await cluster!.stop();
    expect(exits).toEqual(Array(INSTANCES).fill(0));

    const { ledger, usage, balance } = await readStore(orgId);
    const ledgerSum = ledger.reduce((s, r) => s + r.amount_micros, 0);
    const charges = ledger.filter((r) => r.kind === 'charge');
    expect(ledger.filter((r) => r.kind === 'grant').reduce((s, r) => s + r.amount_micros, 0)).toBe(credits * 1e6);
    expect(charges).toHaveLength(served);
    expect(usage.filter((u) => u.status === 200)).toHaveLength(served);
    // One charge per request, each the request's real cost.
    const costByRequest = new Map(usage.map((u) => [u.request_id, u.cost_micros]));
    for (const c of charges) expect(-c.amount_micros).toBe(costByRequest.get(c.request_id!));
    for (const c of charges) expect(-c.amount_micros % PRICE_PER_TOKEN_MICROS).toBe(0);

    // The mock's real cost is below each reservation, so the balance never goes negative.
    expect(ledgerSum).toBeGreaterThanOrEqual(0);
    // ...and concurrency did not strand the credit either: every request the credit could hold a
    // reservation for was admitted, and what is left cannot hold one more.
    expect(served, JSON.stringify(summary)).toBeGreaterThanOrEqual(Math.floor((credits * 1e6) / reservation));
    expect(ledgerSum).toBeLessThan(credits * 1e6 - served * PRICE_PER_TOKEN_MICROS);
    expect(balance).toBe(ledgerSum);
    // The shared live ledger (Redis) agrees to the micro-dollar, and holds no reservation.
    const live = Number(await redis!.get(`${prefix}cr:bal:${orgId}`));
    expect(live).toBe(ledgerSum);
    const holds = Object.values(await redis!.hgetall(`${prefix}cr:ores:${orgId}`)).reduce((s, v) => s + Number(v), 0);
    expect(holds).toBe(0);
    const keySpend = Number(await redis!.get(`${prefix}cr:kspend:${keyId}`));
    expect(keySpend).toBe(-charges.reduce((s, r) => s + r.amount_micros, 0));
  }, 60_000);
});

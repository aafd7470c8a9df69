// Tenant changes made on one instance are enforced on the others (SPEC §7 with Redis: keys,
// orgs and limits hold across every instance). Two in-process gateways share one SQLite file
// and one Redis; every change is made through A's API and observed through B's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { callJson, type ErrorBody, pollFor } from '../helpers/cluster.js';
import { connectTestClient, deleteKeys, freshPrefix, isRedisReachable, TEST_REDIS_URL } from '../limits/redis-test-support.js';

const redisUp = await isRedisReachable();
if (!redisUp) console.log(`Redis not reachable at ${TEST_REDIS_URL}: skipping the multi-instance invalidation tests`);

/** How soon a change on A must be enforced on B. */
const PROPAGATION_MS = 1000;

let a: TestGateway;
let b: TestGateway;
let dir: string;
let prefix: string;
let redis: Redis;

beforeAll(async () => {
  if (!redisUp) return;
  dir = mkdtempSync(join(tmpdir(), 'tollgate-invalidation-'));
  prefix = freshPrefix();
  redis = await connectTestClient();
  const raw = {
    server: { max_event_loop_lag_ms: 600_000 },
    storage: { url: `sqlite://${join(dir, 'shared.db')}` },
    redis: { url: TEST_REDIS_URL, key_prefix: prefix },
    cache: { exact: { enabled: false } },
  };
  a = await startTestGateway({ raw });
  b = await startTestGateway({ raw });
  // The first request of a process loads the tokenizer; measure propagation, not that cold start.
  const warm = await a.createKey((await a.createOrg(1)).mk);
  for (const gw of [a, b]) await (await chat(gw.url, warm.key, ask())).text();
});

afterAll(async () => {
  if (!redisUp) return;
  await a?.close();
  await b?.close();
  if (redis) {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
const ask = () => ({ model: 'mock-chat', messages: [{ role: 'user', content: `invalidation probe ${++seq}` }] });

/** One chat on `gw`: its status, error code (if any) and the x-ratelimit-limit-requests header. */
async function probe(gw: TestGateway, key: string): Promise<{ status: number; code: string | undefined; limit: string | null }> {
  const res = await chat(gw.url, key, ask());
  const text = await res.text();
  const code = res.status === 200 ? undefined : (JSON.parse(text) as ErrorBody).error?.code;
  return { status: res.status, code, limit: res.headers.get('x-ratelimit-limit-requests') };
}

/** Polls B until an answer matches, for at most PROPAGATION_MS; returns the match and the time it took. */
async function onB(key: string, match: (p: Awaited<ReturnType<typeof probe>>) => boolean) {
  let last: Awaited<ReturnType<typeof probe>> | undefined;
  const r = await pollFor(async () => {
    last = await probe(b, key);
    return match(last) ? last : undefined;
  }, PROPAGATION_MS);
  return { ...r, last };
}

describe.skipIf(!redisUp)('SPEC §7 across instances: key and org changes on one instance are enforced on the others within a second', () => {
  it('accepts on B a key created on A', async () => {
    const { mk } = await a.createOrg(10);
    const { key } = await a.createKey(mk);
    const seen = await onB(key, (p) => p.status === 200);
    expect(seen.value, `last answer on B: ${JSON.stringify(seen.last)}`).toBeDefined();
    expect(seen.elapsedMs).toBeLessThanOrEqual(PROPAGATION_MS);
  });

  it('refuses on B with 401 invalid_api_key a key revoked on A', async () => {
    const { mk } = await a.createOrg(10);
    const { id, key } = await a.createKey(mk);
    expect((await onB(key, (p) => p.status === 200)).value).toBeDefined();

    const revoked = await callJson(a.url, mk, `/api/keys/${id}`, { method: 'DELETE' });
    expect(revoked.status).toBe(200);
    const seen = await onB(key, (p) => p.status !== 200);
    expect(seen.value, `B still accepts the revoked key after ${seen.elapsedMs} ms`).toMatchObject({ status: 401, code: 'invalid_api_key' });
    expect(seen.elapsedMs).toBeLessThanOrEqual(PROPAGATION_MS);
    // And it stays refused.
    expect(await probe(b, key)).toMatchObject({ status: 401, code: 'invalid_api_key' });
  });

  it('refuses on B with 403 key_disabled a key disabled on A, and accepts it again once re-enabled', async () => {
    const { mk } = await a.createOrg(10);
    const { id, key } = await a.createKey(mk);
    expect((await onB(key, (p) => p.status === 200)).value).toBeDefined();

    expect((await callJson(a.url, mk, `/api/keys/${id}`, { method: 'PATCH', body: { disabled: true } })).status).toBe(200);
    const off = await onB(key, (p) => p.status !== 200);
    expect(off.value, `B still accepts the disabled key after ${off.elapsedMs} ms`).toMatchObject({ status: 403, code: 'key_disabled' });
    expect(off.elapsedMs).toBeLessThanOrEqual(PROPAGATION_MS);

    expect((await callJson(a.url, mk, `/api/keys/${id}`, { method: 'PATCH', body: { disabled: false } })).status).toBe(200);
    const on = await onB(key, (p) => p.status === 200);
    expect(on.value, `B still refuses the re-enabled key: ${JSON.stringify(on.last)}`).toBeDefined();
  });

  it('refuses on B with 403 org_disabled the keys of an org disabled by the operator on A', async () => {
    const { orgId, mk } = await a.createOrg(10);
    const { key } = await a.createKey(mk);
    expect((await onB(key, (p) => p.status === 200)).value).toBeDefined();

    expect((await a.admin(`/admin/orgs/${orgId}`, { method: 'PATCH', body: { disabled: true } })).status).toBe(200);
    const seen = await onB(key, (p) => p.status !== 200);
    expect(seen.value, `B still serves the disabled org after ${seen.elapsedMs} ms`).toMatchObject({ status: 403, code: 'org_disabled' });
  });

  it('enforces on B an rpm lowered on A', async () => {
    const { mk } = await a.createOrg(10);
    const { id, key } = await a.createKey(mk, { rpm: 100 });
    const first = await onB(key, (p) => p.status === 200);
    expect(first.value?.limit).toBe('100');

    expect((await callJson(a.url, mk, `/api/keys/${id}`, { method: 'PATCH', body: { rpm: 2 } })).status).toBe(200);
    // B keeps serving until it learns the new limit; then at most one more request fits in 2/min.
    const seen = await onB(key, (p) => p.status === 429);
    expect(seen.value, `B never applied rpm 2: ${JSON.stringify(seen.last)}`).toMatchObject({ status: 429, code: 'rpm_exceeded', limit: '2' });
    expect(seen.elapsedMs).toBeLessThanOrEqual(PROPAGATION_MS);
    expect(await probe(a, key)).toMatchObject({ status: 429, code: 'rpm_exceeded' });
  });

  it('counts one rpm across both instances (the Redis limiter)', async () => {
    const { mk } = await a.createOrg(10);
    const { key } = await a.createKey(mk, { rpm: 4 });
    expect((await onB(key, (p) => p.status === 200)).value).toBeDefined();
    // One used on B above; three more fit, split over both.
    expect((await probe(a, key)).status).toBe(200);
    expect((await probe(b, key)).status).toBe(200);
    expect((await probe(a, key)).status).toBe(200);
    expect(await probe(b, key)).toMatchObject({ status: 429, code: 'rpm_exceeded' });
    expect(await probe(a, key)).toMatchObject({ status: 429, code: 'rpm_exceeded' });
  });
});

// SPEC §5 circuit breaker: each channel's breaker opens after a run (or a rate) of failures,
// routes traffic away while open, lets ONE probe through when half-open, closes on success
// and re-opens on failure. With Redis, an open breaker on one instance stops the others.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { deferred } from '../helpers/upstream.js';
import { closeSharedRedisSuite, connectTestClient, freshPrefix, isRedisReachable, TEST_REDIS_URL } from '../limits/redis-test-support.js';
import { ask, availableOf, channelStateMetric, channelsOf, fail, model, ok, pastCooldown, provider, SERVER, type Scripted, send, startScripted, until } from './support.js';

const THRESHOLD = 3;
const COOLDOWN_S = 0.3;

let up: Scripted;
/** One attempt per request, so every upstream call is one client request and counts are exact. */
let single: TestGateway;
let singleKey: string;
/** Default attempts, two prioritised channels: what clients see while a channel dies. */
let routed: TestGateway;
let routedKey: string;

beforeAll(async () => {
  up = await startScripted();
  single = await startTestGateway({
    raw: {
      server: SERVER,
      providers: [provider('up', up.url)],
      models: ['solo', 'run', 'rate', 'probe', 'reopen'].map((id) => model(id, [['up', id]])),
      routing: { max_attempts: 1, retry_base_ms: 5 },
      circuit_breaker: { failure_threshold: THRESHOLD, failure_rate: 0.5, min_requests: 10, window_s: 30, cooldown_s: COOLDOWN_S },
      limits: { key_rpm: null },
    },
  });
  singleKey = (await single.createKey((await single.createOrg(50)).mk)).key;
  routed = await startTestGateway({
    raw: {
      server: SERVER,
      providers: [provider('up', up.url)],
      models: [
        model('duo', [
          ['up', 'duo-a', 0],
          ['up', 'duo-b', 1],
        ]),
        model('held', [['up', 'held']]),
      ],
      routing: { retry_base_ms: 5, retry_max_ms: 50, retry_budget_ratio: 1 },
      circuit_breaker: { failure_threshold: THRESHOLD, min_requests: 1000, cooldown_s: 60 },
      limits: { key_rpm: null },
    },
  });
  routedKey = (await routed.createKey((await routed.createOrg(50)).mk)).key;
});

afterAll(async () => {
  await single?.close();
  await routed?.close();
  await up?.close();
});

/** Opens a single-channel model's breaker with THRESHOLD failing requests. */
async function openBreaker(id: string): Promise<void> {
  up.setDefault(id, fail(500, `${id} is down`));
  for (let i = 0; i < THRESHOLD; i++) expect((await send(single, singleKey, ask(id, 'open it'))).status).toBe(502);
  expect((await channelsOf(single, id))[0].state).toBe('open');
}

describe('SPEC §5 circuit breaker', () => {
  it('stays closed after one error and opens after failure_threshold consecutive failures', async () => {
    up.setDefault('solo', fail(500, 'solo is down'));
    const first = await send(single, singleKey, ask('solo', 'first failure'));
    expect(first.status).toBe(502);
    expect(first.error?.code).toBe('provider_error');
    expect((await channelsOf(single, 'solo'))[0]).toMatchObject({ state: 'closed', requests: 1, error_rate: 1 });

    for (let i = 1; i < THRESHOLD - 1; i++) expect((await send(single, singleKey, ask('solo', 'more failures'))).status).toBe(502);
    expect((await channelsOf(single, 'solo'))[0].state).toBe('closed');
    expect((await send(single, singleKey, ask('solo', 'last straw'))).status).toBe(502);
    expect((await channelsOf(single, 'solo'))[0].state).toBe('open');
    expect(up.count('solo')).toBe(THRESHOLD);
  });

  it('sends nothing to an open channel: a model with no other channel answers 503 model_unavailable', async () => {
    // A long cooldown, so the channel surely stays open while the requests below run.
    up.setDefault('held', fail(500, 'held is down'));
    expect((await send(routed, routedKey, ask('held', 'open it'))).status).toBe(502);
    expect((await channelsOf(routed, 'held'))[0].state).toBe('open');
    expect(await availableOf(routed, 'held')).toBe(false);
    for (let i = 0; i < 10; i++) {
      const r = await send(routed, routedKey, ask('held', 'while open'));
      expect(r.status, r.text).toBe(503);
      expect(r.error?.code).toBe('model_unavailable');
      expect(r.error?.type).toBe('upstream_error');
    }
    expect(up.count('held')).toBe(THRESHOLD);
  });

  it('counts consecutive failures: a success in between resets the run', async () => {
    up.script('run', fail(), fail(), ok(), fail(), fail());
    for (const expected of [502, 502, 200, 502, 502]) expect((await send(single, singleKey, ask('run', 'run'))).status).toBe(expected);
    expect((await channelsOf(single, 'run'))[0].state).toBe('closed');
    up.script('run', fail());
    expect((await send(single, singleKey, ask('run', 'run'))).status).toBe(502);
    expect((await channelsOf(single, 'run'))[0].state).toBe('open');
  });

  it('opens on failure_rate over the window once min_requests outcomes are in, even without a run', async () => {
    // ok, fail, ok, fail …: never two failures in a row, 50 % failures.
    for (let i = 0; i < 10; i++) {
      up.script('rate', i % 2 === 0 ? ok() : fail());
      await send(single, singleKey, ask('rate', 'rate'));
      const state = (await channelsOf(single, 'rate'))[0].state;
      expect(state, `after ${i + 1} requests`).toBe(i < 9 ? 'closed' : 'open');
    }
  });

  it('routes traffic to the other channel while one is open, and the dead one gets nothing', async () => {
    up.setDefault('duo-a', fail(500, 'duo-a is down'));
    for (let i = 0; i < 20; i++) {
      const r = await send(routed, routedKey, ask('duo', 'duo'));
      expect(r.status, r.text).toBe(200);
    }
    // Each of the first THRESHOLD requests tried a first (priority 0), then b; after that only b.
    expect(up.count('duo-a')).toBe(THRESHOLD);
    expect(up.count('duo-b')).toBe(20);
    const [a, b] = await channelsOf(routed, 'duo');
    expect(a.state).toBe('open');
    expect(b.state).toBe('closed');
    expect(await availableOf(routed, 'duo')).toBe(true);
  });

  it('half-open after the cooldown lets exactly one probe through, even with concurrent requests; success closes it', async () => {
    await openBreaker('probe');
    await pastCooldown(COOLDOWN_S);
    const release = deferred();
    up.setDefault('probe', ok());
    up.script('probe', { kind: 'ok', gate: release.promise });
    const before = up.count('probe');
    const pending = Array.from({ length: 6 }, () => send(single, singleKey, ask('probe', 'concurrent probe')));
    await up.waitForCalls(before + 1, 'probe');
    // Everyone but the probe is refused without reaching the upstream.
    const settled: Array<Awaited<ReturnType<typeof send>>> = [];
    for (const p of pending) void p.then((r) => settled.push(r));
    await until(() => settled.length >= 5, '5 of 6 concurrent requests to be refused');
    expect(settled.map((r) => r.status)).toEqual([503, 503, 503, 503, 503]);
    expect(settled.every((r) => r.error?.code === 'model_unavailable')).toBe(true);
    expect(up.count('probe')).toBe(before + 1);
    expect((await channelsOf(single, 'probe'))[0].state).toBe('half-open');
    expect(await channelStateMetric(single, 'probe#0')).toBe(1);

    release.resolve();
    const all = await Promise.all(pending);
    expect(all.filter((r) => r.status === 200)).toHaveLength(1);
    expect(up.count('probe')).toBe(before + 1);
    expect((await channelsOf(single, 'probe'))[0].state).toBe('closed');
    expect(await channelStateMetric(single, 'probe#0')).toBe(0);

    // Closed again: traffic flows.
    for (let i = 0; i < 3; i++) expect((await send(single, singleKey, ask('probe', 'after close'))).status).toBe(200);
    expect(up.count('probe')).toBe(before + 4);
  });

  it('re-opens when the half-open probe fails, and closes after a later successful probe', async () => {
    await openBreaker('reopen');
    await pastCooldown(COOLDOWN_S);
    const before = up.count('reopen');
    const probe = await send(single, singleKey, ask('reopen', 'failing probe'));
    expect(probe.status).toBe(502);
    expect(up.count('reopen')).toBe(before + 1);
    expect((await channelsOf(single, 'reopen'))[0].state).toBe('open');
    // Re-opened for a full cooldown: the next request does not reach the upstream.
    const next = await send(single, singleKey, ask('reopen', 'right after'));
    expect(next.status).toBe(503);
    expect(next.error?.code).toBe('model_unavailable');
    expect(up.count('reopen')).toBe(before + 1);

    up.setDefault('reopen', ok());
    await pastCooldown(COOLDOWN_S);
    expect((await send(single, singleKey, ask('reopen', 'good probe'))).status).toBe(200);
    expect((await channelsOf(single, 'reopen'))[0].state).toBe('closed');
  });
});

const redisUp = await isRedisReachable();
if (!redisUp) console.log(`Redis not reachable at ${TEST_REDIS_URL}: skipping the shared-breaker test (SPEC §5 with Redis)`);

describe.skipIf(!redisUp)('SPEC §5 circuit breaker shared across instances (Redis)', () => {
  let a: TestGateway;
  let b: TestGateway;
  let dir: string;
  let prefix: string;
  let redis: Redis;
  let key: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-breaker-sync-'));
    prefix = freshPrefix();
    redis = await connectTestClient();
    const raw = {
      server: SERVER,
      storage: { url: `sqlite://${join(dir, 'shared.db')}` },
      redis: { url: TEST_REDIS_URL, key_prefix: prefix },
      providers: [provider('up', up.url)],
      models: [
        model('shared', [
          ['up', 'shared-x', 0],
          ['up', 'shared-y', 1],
        ]),
      ],
      routing: { retry_base_ms: 5, retry_max_ms: 50, retry_budget_ratio: 1 },
      circuit_breaker: { failure_threshold: THRESHOLD, min_requests: 1000, cooldown_s: 60 },
      limits: { key_rpm: null },
    };
    a = await startTestGateway({ raw });
    key = (await a.createKey((await a.createOrg(50)).mk)).key;
    // B starts after the org exists, so it loads it from the shared store.
    b = await startTestGateway({ raw });
  });

  afterAll(() => closeSharedRedisSuite({ gateways: [a, b], redis, prefix, dir }));

  it('a breaker opened on gateway A stops gateway B sending to that channel', async () => {
    expect((await send(b, key, ask('shared', 'b warm-up'))).status).toBe(200);
    expect(up.count('shared-x')).toBe(1);
    up.setDefault('shared-x', fail(500, 'shared-x is down'));
    for (let i = 0; i < THRESHOLD; i++) expect((await send(a, key, ask('shared', 'a opens x'))).status).toBe(200);
    expect((await channelsOf(a, 'shared'))[0].state).toBe('open');
    const seenByA = up.count('shared-x');
    expect(seenByA).toBe(1 + THRESHOLD);

    await until(async () => (await channelsOf(b, 'shared'))[0].state === 'open', "B to learn that shared#0 is open", 3000);
    for (let i = 0; i < 10; i++) {
      const r = await send(b, key, ask('shared', 'b after open'));
      expect(r.status, r.text).toBe(200);
    }
    // B never tried x: without the shared state its first THRESHOLD requests would have.
    expect(up.count('shared-x')).toBe(seenByA);
    expect(up.count('shared-y')).toBe(THRESHOLD + 10);
  });
});

describe.skipIf(!redisUp)('SPEC §5 circuit breaker recovery shared across instances (Redis)', () => {
  const SHORT_COOLDOWN_S = 0.4;
  let c: TestGateway;
  let d: TestGateway;
  let dir: string;
  let prefix: string;
  let redis: Redis;
  let key: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-breaker-sync-'));
    prefix = freshPrefix();
    redis = await connectTestClient();
    const raw = {
      server: SERVER,
      storage: { url: `sqlite://${join(dir, 'shared.db')}` },
      redis: { url: TEST_REDIS_URL, key_prefix: prefix },
      providers: [provider('up', up.url)],
      models: [model('resume', [['up', 'resume']])],
      routing: { max_attempts: 1, retry_base_ms: 5 },
      circuit_breaker: { failure_threshold: THRESHOLD, min_requests: 1000, cooldown_s: SHORT_COOLDOWN_S },
      limits: { key_rpm: null },
    };
    c = await startTestGateway({ raw });
    key = (await c.createKey((await c.createOrg(50)).mk)).key;
    d = await startTestGateway({ raw });
  });

  afterAll(() => closeSharedRedisSuite({ gateways: [c, d], redis, prefix, dir }));

  it('a probe that closes the breaker on one instance resumes traffic on the other', async () => {
    up.setDefault('resume', fail(500, 'resume is down'));
    for (let i = 0; i < THRESHOLD; i++) expect((await send(c, key, ask('resume', 'open on C'))).status).toBe(502);
    await until(async () => (await channelsOf(d, 'resume'))[0].state === 'open', 'D to learn that resume#0 is open', 3000);
    up.setDefault('resume', ok());
    await pastCooldown(SHORT_COOLDOWN_S);
    // D's probe succeeds: C, which never probed, closes too.
    expect((await send(d, key, ask('resume', 'probe on D'))).status).toBe(200);
    expect((await channelsOf(d, 'resume'))[0].state).toBe('closed');
    await until(async () => (await channelsOf(c, 'resume'))[0].state === 'closed', 'C to learn that resume#0 closed', 3000);
    const before = up.count('resume');
    expect((await send(c, key, ask('resume', 'after recovery on C'))).status).toBe(200);
    expect(up.count('resume')).toBe(before + 1);
  });
});

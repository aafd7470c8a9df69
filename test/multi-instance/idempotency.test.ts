// SPEC §7 idempotency across instances and restarts (issue 11, item 4): the record lives in
// Redis, so the same Idempotency-Key sent to three gateways sharing one store and one Redis
// makes one upstream call and one charge, concurrent duplicates wait for the first, a restarted
// gateway still replays, and the same key with another body is 409 on any instance.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, expectError, flushed, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { allLedger, allUsage, NO_SHEDDING, type ScriptedUpstream, sseContent, startScriptedUpstream, sumMicros } from '../helpers/money.js';
import { connectTestClient, deleteKeys, freshPrefix, isRedisReachable, TEST_REDIS_URL } from '../limits/redis-test-support.js';

const redisUp = await isRedisReachable();
if (!redisUp) console.log(`Redis not reachable at ${TEST_REDIS_URL}: skipping the cross-instance idempotency tests`);

let upstream: ScriptedUpstream;
const gateways: TestGateway[] = [];
let dir: string;
let prefix: string;
let redis: Redis;
let raw: Record<string, unknown>;
let served = 0;
let failedOnce = false;
let gate: Promise<void> = Promise.resolve();
let onArrival: (() => void) | undefined;

beforeAll(async () => {
  if (!redisUp) return;
  dir = mkdtempSync(join(tmpdir(), 'tollgate-idem-'));
  prefix = freshPrefix();
  redis = await connectTestClient();
  upstream = await startScriptedUpstream(async (_req, text, res) => {
    const body = JSON.parse(text) as { stream?: boolean; messages: Array<{ content: string }> };
    if (body.messages[0].content === 'fails once' && !failedOnce) {
      failedOnce = true;
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'scripted refusal', type: 'invalid_request_error', code: null, param: null } }));
      return;
    }
    const n = ++served;
    onArrival?.();
    await gate;
    const answer = `Answer number ${n} to ${body.messages[0].content}`;
    const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
    const base = { id: `chatcmpl-scripted-${n}`, created: n, model: 'scripted' };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }], usage }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (delta: unknown, finish: string | null) => `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    res.end(`${chunk({ role: 'assistant', content: answer }, null)}${chunk({}, 'stop')}data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage })}\n\ndata: [DONE]\n\n`);
  });
  raw = {
    server: NO_SHEDDING,
    storage: { url: `sqlite://${join(dir, 'shared.db')}` },
    redis: { url: TEST_REDIS_URL, key_prefix: prefix },
    providers: [{ id: 'mock', type: 'mock' }, { id: 'scripted', type: 'openai', base_url: upstream.url, api_key: 'scripted-upstream-key' }],
    models: [...MOCK_MODELS, { id: 'unique', context_window: 32000, max_output_tokens: 4096, pricing: { input_per_mtok: 2, output_per_mtok: 8 }, channels: [{ provider: 'scripted', upstream_model: 'scripted' }] }],
    limits: { key_rpm: null },
    cache: { exact: { enabled: false } },
  };
  for (let i = 0; i < 3; i++) gateways.push(await startTestGateway({ raw }));
});

afterAll(async () => {
  if (!redisUp) return;
  for (const g of gateways) await g.close();
  await upstream?.close();
  await deleteKeys(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const upstreamCalls = () => upstream.requests.filter((r) => r.path.includes('/chat/completions')).length;
const body = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'unique', messages: [{ role: 'user', content }], ...extra });

async function newKey(): Promise<{ orgId: string; key: string }> {
  const { orgId, mk } = await gateways[0].createOrg(1);
  const { key } = await gateways[0].createKey(mk);
  // Every instance knows the key before the test starts.
  for (const g of gateways) expect((await fetch(`${g.url}/api/balance`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
  return { orgId, key };
}

async function books(orgId: string) {
  for (const g of gateways) await flushed(g);
  const store = gateways[0].running.gateway.store;
  const ledger = await allLedger(store, orgId);
  expect((await store.balances()).get(orgId)).toBe(sumMicros(ledger));
  return { charges: ledger.filter((l) => l.kind === 'charge'), usage: await allUsage(store, orgId) };
}

describe.skipIf(!redisUp)('SPEC §7 idempotency across instances', () => {
  it('sends the same request to three instances at once: one upstream call, one charge, one answer', async () => {
    const { orgId, key } = await newKey();
    const before = upstreamCalls();
    let release!: () => void;
    gate = new Promise<void>((r) => {
      release = r;
    });
    const arrived = new Promise<void>((r) => {
      onArrival = r;
    });
    try {
      const pending = gateways.map((g) => chat(g.url, key, body('three instances'), { 'idempotency-key': 'idem-cluster' }));
      // The first claim is upstream and held there while the duplicates reach their instances.
      await arrived;
      release();
      const responses = await Promise.all(pending);
      const bodies = await Promise.all(responses.map((r) => r.json() as Promise<{ id: string }>));
      expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
      for (const b of bodies) expect(b).toEqual(bodies[0]);
      expect(upstreamCalls() - before).toBe(1);
      const { charges, usage } = await books(orgId);
      expect(usage).toHaveLength(1);
      expect(charges).toHaveLength(1);
    } finally {
      release();
      onArrival = undefined;
      gate = Promise.resolve();
    }
  });

  it('replays on a gateway started after the first answer (a restart) without calling upstream', async () => {
    const { orgId, key } = await newKey();
    const first = await chat(gateways[1].url, key, body('before restart'), { 'idempotency-key': 'idem-restart' });
    const firstBody = await first.json();
    const before = upstreamCalls();
    const restarted = gateways.pop()!;
    await restarted.close();
    gateways.push(await startTestGateway({ raw }));
    const again = await chat(gateways[2].url, key, body('before restart'), { 'idempotency-key': 'idem-restart' });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(firstBody);
    expect(upstreamCalls()).toBe(before);
    const { charges } = await books(orgId);
    expect(charges).toHaveLength(1);
  });

  it('replays a streamed answer on another instance, frame for frame', async () => {
    const { orgId, key } = await newKey();
    const a = await (await chat(gateways[0].url, key, body('stream it', { stream: true }), { 'idempotency-key': 'idem-stream' })).text();
    const before = upstreamCalls();
    const b = await (await chat(gateways[1].url, key, body('stream it', { stream: true }), { 'idempotency-key': 'idem-stream' })).text();
    expect(sseContent(a)).toMatch(/^Answer number \d+/);
    expect(b).toBe(a);
    expect(upstreamCalls()).toBe(before);
    const { charges } = await books(orgId);
    expect(charges).toHaveLength(1);
  });

  it('answers the same key with another body with 409 idempotency_conflict on another instance', async () => {
    const { key } = await newKey();
    expect((await chat(gateways[0].url, key, body('first body'), { 'idempotency-key': 'idem-conflict' })).status).toBe(200);
    const before = upstreamCalls();
    await expectError(await chat(gateways[2].url, key, body('second body'), { 'idempotency-key': 'idem-conflict' }), 409, 'idempotency_conflict');
    expect(upstreamCalls()).toBe(before);
  });

  it('a failed first attempt frees the key: the retry on another instance is served and charged once', async () => {
    const { orgId, key } = await newKey();
    const bad = await chat(gateways[0].url, key, body('fails once'), { 'idempotency-key': 'idem-retry' });
    expect(bad.status).toBe(400);
    const good = await chat(gateways[1].url, key, body('fails once'), { 'idempotency-key': 'idem-retry' });
    expect(good.status).toBe(200);
    expect(good.headers.get('idempotent-replayed')).toBeNull();
    const { charges } = await books(orgId);
    expect(charges).toHaveLength(1);
  });
});

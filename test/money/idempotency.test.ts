// SPEC §7 idempotency (and §6 "charged once"): a repeated Idempotency-Key for the same key
// returns the first response and is charged once; a different body under the same key is
// 409 idempotency_conflict; concurrent duplicates make one upstream call.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, expectError, flushed, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { allLedger, allUsage, NO_SHEDDING, type ScriptedUpstream, sseContent, startScriptedUpstream, sumMicros } from '../helpers/money.js';

const PRICE = { input_per_mtok: 2, output_per_mtok: 8 };

let gw: TestGateway;
let upstream: ScriptedUpstream;
let served = 0;
let release: (() => void) | undefined;
let gate: Promise<void> = Promise.resolve();
let onArrival: (() => void) | undefined;

/** An upstream whose every answer is unique (its id counts calls), so a replay is told apart from a re-run. */
beforeAll(async () => {
  upstream = await startScriptedUpstream(async (_req, raw, res) => {
    const body = JSON.parse(raw) as { stream?: boolean; messages: Array<{ content: string }> };
    const n = ++served;
    onArrival?.();
    await gate;
    const text = `Answer number ${n} to ${body.messages[0].content}`;
    const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };
    const base = { id: `chatcmpl-scripted-${n}`, created: n, model: 'scripted' };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (delta: unknown, finish: string | null) => `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    res.end(`${chunk({ role: 'assistant', content: text }, null)}${chunk({}, 'stop')}data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage })}\n\ndata: [DONE]\n\n`);
  });
  gw = await startTestGateway({
    raw: {
      providers: [{ id: 'mock', type: 'mock' }, { id: 'scripted', type: 'openai', base_url: upstream.url, api_key: 'scripted-upstream-key' }],
      models: [...MOCK_MODELS, { id: 'unique', context_window: 32000, max_output_tokens: 4096, pricing: PRICE, channels: [{ provider: 'scripted', upstream_model: 'scripted' }] }],
      limits: { key_rpm: null },
      server: NO_SHEDDING,
    },
  });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

const upstreamCalls = () => upstream.requests.filter((r) => r.path.includes('/chat/completions')).length;
const body = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'unique', messages: [{ role: 'user', content }], ...extra });

async function books(orgId: string) {
  await flushed(gw);
  const ledger = await allLedger(gw.running.gateway.store, orgId);
  const usage = await allUsage(gw.running.gateway.store, orgId);
  expect((await gw.running.gateway.store.balances()).get(orgId)).toBe(sumMicros(ledger));
  return { charges: ledger.filter((l) => l.kind === 'charge'), usage };
}

describe('SPEC §7 idempotency', () => {
  it('answers a repeated Idempotency-Key with the first response and charges once', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    const before = upstreamCalls();
    const first = await chat(gw.url, key, body('what is 2+2?'), { 'idempotency-key': 'idem-1' });
    expect(first.status).toBe(200);
    const firstBody = (await first.json()) as { id: string; choices: Array<{ message: { content: string } }> };
    const second = await chat(gw.url, key, body('what is 2+2?'), { 'idempotency-key': 'idem-1' });
    expect(second.status).toBe(200);
    const secondBody = (await second.json()) as { id: string };
    expect(secondBody).toEqual(firstBody);
    expect(secondBody.id).toBe(firstBody.id);
    expect(upstreamCalls() - before).toBe(1);
    const { charges, usage } = await books(orgId);
    expect(usage).toHaveLength(1);
    expect(charges).toHaveLength(1);
    expect(charges[0].amount_micros).toBe(-(11 * 2 + 7 * 8));
    // Without the header the same body is a new request.
    const third = await chat(gw.url, key, body('what is 2+2?'), { 'cache-control': 'no-store' });
    expect(((await third.json()) as { id: string }).id).not.toBe(firstBody.id);
    expect(upstreamCalls() - before).toBe(2);
  });

  it('replays a streamed response under the same Idempotency-Key and charges it once', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    const before = upstreamCalls();
    const a = await (await chat(gw.url, key, body('stream it', { stream: true }), { 'idempotency-key': 'idem-stream' })).text();
    const b = await (await chat(gw.url, key, body('stream it', { stream: true }), { 'idempotency-key': 'idem-stream' })).text();
    expect(sseContent(a)).toMatch(/^Answer number \d+/);
    expect(sseContent(b)).toBe(sseContent(a));
    expect(b.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(upstreamCalls() - before).toBe(1);
    const { charges, usage } = await books(orgId);
    expect(usage).toHaveLength(1);
    expect(charges).toHaveLength(1);
  });

  it('answers the same Idempotency-Key with a different body with 409 idempotency_conflict', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    expect((await chat(gw.url, key, body('first body'), { 'idempotency-key': 'idem-2' })).status).toBe(200);
    const before = upstreamCalls();
    const err = await expectError(await chat(gw.url, key, body('second body'), { 'idempotency-key': 'idem-2' }), 409, 'idempotency_conflict');
    expect(err.type).toBe('invalid_request_error');
    expect(err.message).toMatch(/Idempotency-Key/);
    // A changed parameter is a different body too.
    await expectError(await chat(gw.url, key, body('first body', { temperature: 0.5 }), { 'idempotency-key': 'idem-2' }), 409, 'idempotency_conflict');
    expect(upstreamCalls()).toBe(before);
    const { charges, usage } = await books(orgId);
    expect(usage).toHaveLength(1);
    expect(charges).toHaveLength(1);
  });

  it('scopes Idempotency-Key to the API key: another key with the same header is a new request', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const k1 = await gw.createKey(mk);
    const k2 = await gw.createKey(mk);
    const before = upstreamCalls();
    const a = (await (await chat(gw.url, k1.key, body('shared'), { 'idempotency-key': 'idem-shared' })).json()) as { id: string };
    const b = (await (await chat(gw.url, k2.key, body('shared'), { 'idempotency-key': 'idem-shared' })).json()) as { id: string };
    expect(a.id).not.toBe(b.id);
    expect(upstreamCalls() - before).toBe(2);
    const { charges } = await books(orgId);
    expect(charges).toHaveLength(2);
  });

  it('makes one upstream call for 10 concurrent duplicates and gives all of them the same response', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    const before = upstreamCalls();
    // Hold the upstream answer until every duplicate has arrived at the gateway.
    gate = new Promise<void>((r) => {
      release = r;
    });
    const arrived = new Promise<void>((r) => {
      onArrival = r;
    });
    try {
      const pending = Array.from({ length: 10 }, () => chat(gw.url, key, body('concurrent'), { 'idempotency-key': 'idem-burst' }));
      await arrived;
      release!();
      const responses = await Promise.all(pending);
      const bodies = await Promise.all(responses.map((r) => r.json() as Promise<{ id: string }>));
      expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
      expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
      for (const b of bodies) expect(b).toEqual(bodies[0]);
      expect(upstreamCalls() - before).toBe(1);
      const { charges, usage } = await books(orgId);
      expect(usage).toHaveLength(1);
      expect(charges).toHaveLength(1);
    } finally {
      release?.();
      onArrival = undefined;
      gate = Promise.resolve();
    }
  });
});

// SPEC §5 fallbacks (with §4 maintenance and §6 billing): when a model cannot answer, the
// request falls back to the request's `models`, then the key's rules, then the org's; a
// fallback must be allowed for the key and fit the prompt; the answer says which model served
// (X-Tollgate-Fallback, body `model`) and is billed at that model's prices; with nothing left
// the error says why (503 / 502 / 504).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { tapUsage, type UsageTap } from '../helpers/money.js';
import { sseContent, sseJson } from '../helpers/sse.js';
import { ask, billingOf, costAt, fail, model, ok, provider, SERVER, type Scripted, send, startScripted } from './support.js';

const CHEAP = { input_per_mtok: 1, output_per_mtok: 2 };
const DEAR = { input_per_mtok: 5, output_per_mtok: 40 };

let up: Scripted;
let gw: TestGateway;
let org: { orgId: string; mk: string };
let key: { id: string; key: string };
let tap: UsageTap;

const failing = ['ord', 'ord-req', 'ord-key', 'kf', 'of', 'na', 'cw', 'dead', 'dead-fb', 'err', 'err-fb'];

beforeAll(async () => {
  up = await startScripted();
  for (const id of failing) up.setDefault(id, fail(500, `${id} is down`));
  gw = await startTestGateway({
    raw: {
      server: SERVER,
      providers: [provider('up', up.url), { id: 'mock-slow', type: 'mock', timeouts: { first_byte_ms: 150, request_ms: 150 } }],
      models: [
        ...['ord', 'ord-req', 'ord-key', 'ord-org', 'kf', 'of', 'of-b', 'na', 'na-forbidden', 'na-ok', 'cw', 'cw-big', 'dead', 'dead-fb', 'err', 'err-fb'].map((id) =>
          model(id, [['up', id]], { pricing: CHEAP }),
        ),
        model('kf-b', [['up', 'kf-b']], { pricing: DEAR }),
        model('cw-small', [['up', 'cw-small']], { context_window: 60, max_output_tokens: 16 }),
        model('slow', [['mock-slow', 'mock-chat']]),
        model('slow-fb', [['mock-slow', 'mock-chat']]),
        model('maint', [['up', 'maint']], { maintenance: true }),
        model('maint-fb', [['up', 'maint-fb']]),
        model('warm', [['up', 'warm']]),
      ],
      // Room for every candidate of the order test (two tries per one-channel model).
      routing: { max_attempts: 10, retry_base_ms: 5, retry_max_ms: 20, retry_budget_ratio: 1 },
      circuit_breaker: { failure_threshold: 2, min_requests: 1000, cooldown_s: 60 },
      limits: { key_rpm: null },
    },
  });
  org = await gw.createOrg(50);
  key = await gw.createKey(org.mk);
  tap = tapUsage(gw.running.gateway.usage);
  // The retry budget grows with traffic (ratio 1: one retry per request, banked up to a cap).
  // These tests make several retries per request, so bank some first: they are about
  // fallbacks, not the budget (retries.test.ts covers that).
  for (let i = 0; i < 40; i++) expect((await send(gw, key.key, ask('warm', 'warm-up'))).status).toBe(200);
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
});

async function patchKey(id: string, body: Record<string, unknown>, mk = org.mk): Promise<void> {
  const res = await fetch(`${gw.url}/api/keys/${id}`, { method: 'PATCH', headers: { authorization: `Bearer ${mk}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status, await res.text()).toBe(200);
}

async function patchOrg(id: string, body: Record<string, unknown>): Promise<void> {
  const res = await gw.admin(`/admin/orgs/${id}`, { method: 'PATCH', body });
  expect(res.status, await res.text()).toBe(200);
}

/** The distinct upstream models a request (by its prompt) reached, in order. */
function route(text: string): string[] {
  const out: string[] = [];
  for (const c of up.calls) if (c.text === text && out[out.length - 1] !== c.model) out.push(c.model);
  return out;
}

describe('SPEC §5 fallbacks', () => {
  it('tries the request models, then the key fallbacks, then the org fallbacks, in that order', async () => {
    const o = await gw.createOrg(10);
    const k = await gw.createKey(o.mk);
    await patchKey(k.id, { fallbacks: { ord: ['ord-key'] } }, o.mk);
    await patchOrg(o.orgId, { fallbacks: { ord: ['ord-org'] } });
    const body = ask('ord', 'order', { models: ['ord-req'] });
    const r = await send(gw, k.key, body);
    expect(r.status, r.text).toBe(200);
    expect(route((body.messages as Array<{ content: string }>)[0].content)).toEqual(['ord', 'ord-req', 'ord-key', 'ord-org']);
    expect(r.headers.get('x-tollgate-fallback')).toBe('ord -> ord-org');
    expect(r.json?.model).toBe('ord-org');
  });

  it('answers from a key fallback with X-Tollgate-Fallback and the serving model, billed at its prices', async () => {
    await patchKey(key.id, { fallbacks: { kf: ['kf-b'] } });
    up.setDefault('kf-b', ok('From the fallback.', { prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 }));
    const r = await send(gw, key.key, ask('kf', 'key fallback'));
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('x-tollgate-fallback')).toBe('kf -> kf-b');
    expect(r.json?.model).toBe('kf-b');
    const { usage, charges } = await billingOf(gw, org.orgId, r.requestId);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ model: 'kf-b', requested_model: 'kf', fallback: 'kf -> kf-b', prompt_tokens: 20, completion_tokens: 10 });
    expect(usage[0].cost_micros).toBe(costAt(DEAR, usage[0]));
    expect(usage[0].cost_micros).toBe(20 * 5 + 10 * 40);
    expect(charges.map((c) => c.amount_micros)).toEqual([-(20 * 5 + 10 * 40)]);
  });

  it('falls back invisibly for a stream: one clean stream from the fallback, with the header, billed at its prices', async () => {
    up.setDefault('kf-b', ok('Streamed from the fallback.', { prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 }));
    const res = await chat(gw.url, key.key, { ...ask('kf', 'stream fallback'), stream: true });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(res.headers.get('x-tollgate-fallback')).toBe('kf -> kf-b');
    expect(sseContent(text)).toBe('Streamed from the fallback.');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    const chunks = sseJson(text);
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.every((c) => c.model === 'kf-b')).toBe(true);
    const usage = await tap.settled(res.headers.get('x-request-id') ?? '');
    expect(usage).toMatchObject({ model: 'kf-b', fallback: 'kf -> kf-b', cost_micros: 20 * 5 + 10 * 40, stream: true });
  });

  it('answers from an org fallback set with PATCH /admin/orgs', async () => {
    const o = await gw.createOrg(10);
    const k = await gw.createKey(o.mk);
    await patchOrg(o.orgId, { fallbacks: { of: ['of-b'] } });
    const r = await send(gw, k.key, ask('of', 'org fallback'));
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('x-tollgate-fallback')).toBe('of -> of-b');
    expect(r.json?.model).toBe('of-b');
  });

  it('skips a fallback the key may not use, without calling it', async () => {
    const k = await gw.createKey(org.mk, { allowed_models: ['na', 'na-ok'] });
    await patchKey(k.id, { fallbacks: { na: ['na-forbidden', 'na-ok'] } });
    const r = await send(gw, k.key, ask('na', 'not allowed'));
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('x-tollgate-fallback')).toBe('na -> na-ok');
    expect(up.count('na-forbidden')).toBe(0);
  });

  it('skips a fallback whose context window cannot fit the prompt, without calling it', async () => {
    await patchKey(key.id, { fallbacks: { kf: ['kf-b'], cw: ['cw-small', 'cw-big'] } });
    // ~100 prompt tokens: fits cw (32k) and cw-big, not cw-small (60).
    const r = await send(gw, key.key, { model: 'cw', messages: [{ role: 'user', content: `${'context '.repeat(100)}end` }] });
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('x-tollgate-fallback')).toBe('cw -> cw-big');
    expect(up.count('cw-small')).toBe(0);
  });

  it('answers 503 model_unavailable when every candidate has its breaker open', async () => {
    const first = await send(gw, key.key, ask('dead', 'open both', { models: ['dead-fb'] }));
    expect(first.status, first.text).toBe(502);
    const calls = up.count('dead') + up.count('dead-fb');
    expect(calls).toBe(4);
    const r = await send(gw, key.key, ask('dead', 'all open', { models: ['dead-fb'] }));
    expect(r.status, r.text).toBe(503);
    expect(r.error).toMatchObject({ type: 'upstream_error', code: 'model_unavailable' });
    expect(up.count('dead') + up.count('dead-fb')).toBe(calls);
  });

  it('answers 502 provider_error when the providers answered with errors', async () => {
    const r = await send(gw, key.key, ask('err', 'provider errors', { models: ['err-fb'] }));
    expect(r.status, r.text).toBe(502);
    expect(r.error).toMatchObject({ type: 'upstream_error', code: 'provider_error' });
    expect(up.count('err')).toBe(2);
    expect(up.count('err-fb')).toBe(2);
    const { charges } = await billingOf(gw, org.orgId, r.requestId);
    expect(charges).toHaveLength(0);
  });

  it('answers 504 timeout when every candidate timed out before its first byte (stream)', async () => {
    const r = await send(gw, key.key, ask('slow', 'timeouts', { models: ['slow-fb'], stream: true }), { 'x-mock-fault': 'hang' });
    expect(r.status, r.text).toBe(504);
    expect(r.error).toMatchObject({ type: 'upstream_error', code: 'timeout' });
  });

  it('hides a model in maintenance from /v1/models and answers 503 model_unavailable without an upstream call', async () => {
    const list = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${key.key}` } });
    const ids = ((await list.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
    expect(ids).not.toContain('maint');
    expect(ids).toContain('maint-fb');
    const r = await send(gw, key.key, ask('maint', 'maintenance'));
    expect(r.status, r.text).toBe(503);
    expect(r.error?.code).toBe('model_unavailable');
    expect(up.count('maint')).toBe(0);
  });

  it('still serves the fallbacks of a model in maintenance (request models and key rules)', async () => {
    const viaRequest = await send(gw, key.key, ask('maint', 'maintenance fallback', { models: ['maint-fb'] }));
    expect(viaRequest.status, viaRequest.text).toBe(200);
    expect(viaRequest.headers.get('x-tollgate-fallback')).toBe('maint -> maint-fb');
    expect(viaRequest.json?.model).toBe('maint-fb');

    const k = await gw.createKey(org.mk);
    await patchKey(k.id, { fallbacks: { maint: ['maint-fb'] } });
    const viaKey = await send(gw, k.key, ask('maint', 'maintenance key fallback'));
    expect(viaKey.status, viaKey.text).toBe(200);
    expect(viaKey.headers.get('x-tollgate-fallback')).toBe('maint -> maint-fb');
    expect(up.count('maint')).toBe(0);
  });
});

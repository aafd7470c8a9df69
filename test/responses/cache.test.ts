// The response cache on /v1/responses: a hit, and a request coalesced behind an identical one,
// is a response of its own (its id, created_at, item ids and echoed fields, kept under that id
// when it stores), never a copy of the first request's response object. A native answer (a
// Responses upstream's own body) is not shared: each request is served and billed on its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushed, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { allLedger, allUsage, sumMicros } from '../helpers/money.js';
import { chatModel, completionBody, type Deferred, deferred, openaiProvider, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';
import { type CoalesceTap, responseCacheOf, tapCoalesce } from '../cache-e2e/support.js';
import { lastInputText, startFakeResponsesUpstream } from './fake-responses-upstream.js';

type Json = Record<string, unknown>;

let gw: TestGateway;
let native: ScriptedUpstream;
let chat: ScriptedUpstream;
let coalesce: CoalesceTap;
let key: string;
let orgId: string;

/** Opened by a test: the upstreams hold their answers until then. */
let gate: Deferred<void> = deferred();
/** Resolved each time an upstream receives a request. */
let reached: Deferred<void> = deferred();
/** Resolved each time a request joins the coalescing step. */
let joinedNext: Deferred<void> = deferred();

beforeAll(async () => {
  native = await startFakeResponsesUpstream((req) => {
    reached.resolve();
    return { text: `native says: ${lastInputText(req.json)}`, hold: gate.promise };
  });
  chat = await startScriptedUpstream(async (req, res) => {
    reached.resolve();
    await gate.promise;
    const body = completionBody(`chat says: ${String((req.json?.messages as Json[] | undefined)?.at(-1)?.content)}`, { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  gw = await startTestGateway({
    raw: {
      providers: [{ id: 'mock', type: 'mock' }, openaiProvider('native-up', native.url, { responses: true }), openaiProvider('chat-up', chat.url)],
      models: [...MOCK_MODELS, chatModel('native-model', 'native-up', 'up-model'), chatModel('chat-model', 'chat-up', 'up-chat')],
    },
  });
  coalesce = tapCoalesce(gw);
  const cache = responseCacheOf(gw);
  const tapped = cache.coalesce.bind(cache);
  cache.coalesce = (ticket, run) => {
    joinedNext.resolve();
    return tapped(ticket, run);
  };
  const org = await gw.createOrg(10);
  orgId = org.orgId;
  key = (await gw.createKey(org.mk, { rpm: 10_000 })).key;
});

afterAll(async () => {
  gate.resolve();
  await gw?.close();
  await native?.close();
  await chat?.close();
});

interface Answer {
  status: number;
  cache: string | null;
  requestId: string | null;
  body: Json;
}

async function create(body: Json): Promise<Answer> {
  const res = await fetch(`${gw.url}/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, cache: res.headers.get('x-tollgate-cache'), requestId: res.headers.get('x-tollgate-request-id'), body: res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Json) : { text } };
}

async function retrieve(id: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${gw.url}/v1/responses/${id}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as Json };
}

const itemIds = (r: Json) => (r.output as Json[]).map((o) => o.id as string);

/** Every usage row of the org is matched by exactly one ledger charge, and the balance is their sum. */
async function expectBilledOnce(requestIds: Array<string | null>): Promise<void> {
  await flushed(gw);
  const store = gw.running.gateway.store;
  const usage = await allUsage(store, orgId);
  const ledger = await allLedger(store, orgId);
  for (const id of requestIds) {
    const rows = usage.filter((u) => u.request_id === id);
    expect(rows, `usage rows of ${id}`).toHaveLength(1);
    const charges = ledger.filter((l) => l.request_id === id);
    expect(charges.length, `charges of ${id}`).toBe(rows[0].cost_micros > 0 ? 1 : 0);
    if (charges.length === 1) expect(charges[0].amount_micros).toBe(-rows[0].cost_micros);
  }
  expect((await store.balances()).get(orgId)).toBe(sumMicros(ledger));
}

describe('a cache hit on /v1/responses is a response of its own', () => {
  it('has its own id, created_at, item ids and echoed fields, and is kept under its own id', async () => {
    gate.resolve();
    const body = { model: 'mock-chat', input: 'echo: answered once', temperature: 0 };
    const first = await create({ ...body, metadata: { who: 'first' } });
    expect(first).toMatchObject({ status: 200, cache: 'MISS' });
    const hit = await create({ ...body, metadata: { who: 'second' }, user: 'user-2' });
    expect(hit).toMatchObject({ status: 200, cache: 'HIT' });

    const a = first.body;
    const b = hit.body;
    expect(b.output_text).toBe(a.output_text);
    expect(b.id).toMatch(/^resp_/);
    expect(b.id).not.toBe(a.id);
    expect(typeof b.created_at).toBe('number');
    for (const id of itemIds(b)) expect(itemIds(a)).not.toContain(id);
    expect(b).toMatchObject({ object: 'response', status: 'completed', model: 'mock-chat', store: true, metadata: { who: 'second' }, user: 'user-2', previous_response_id: null });
    expect((b.usage as Json).cost).toBe(0);
    expect((b.usage as Json).input_tokens).toBe((a.usage as Json).input_tokens);

    const kept = await retrieve(b.id as string);
    expect(kept.status).toBe(200);
    expect(kept.body).toMatchObject({ id: b.id, metadata: { who: 'second' } });
    expect(itemIds(kept.body)).toEqual(itemIds(b));
    expect((await retrieve(a.id as string)).body).toMatchObject({ id: a.id, metadata: { who: 'first' } });

    const unkept = await create({ ...body, store: false });
    expect(unkept).toMatchObject({ status: 200, cache: 'HIT' });
    expect(unkept.body).toMatchObject({ store: false, metadata: {} });
    expect(unkept.body.id).not.toBe(a.id);
    expect((await retrieve(unkept.body.id as string)).status).toBe(404);
    await expectBilledOnce([first.requestId, hit.requestId, unkept.requestId]);
  });

  it('echoes the previous_response_id this request continues, when another conversation of the same content was cached', async () => {
    gate.resolve();
    const start = { model: 'mock-chat', input: 'echo: same start', temperature: 0 };
    const one = await create(start);
    const two = await create(start);
    expect([one.cache, two.cache]).toEqual(['MISS', 'HIT']);
    const next = { model: 'mock-chat', input: 'echo: go on', temperature: 0 };
    const c1 = await create({ ...next, previous_response_id: one.body.id });
    const c2 = await create({ ...next, previous_response_id: two.body.id });
    expect([c1.cache, c2.cache]).toEqual(['MISS', 'HIT']);
    expect(c2.body.previous_response_id).toBe(two.body.id);
    expect(c2.body.id).not.toBe(c1.body.id);
    // The hit's own stored response continues from it.
    const c3 = await create({ model: 'mock-chat', input: 'echo: and on', previous_response_id: c2.body.id, temperature: 0 });
    expect(c3.status).toBe(200);
    expect(c3.body.previous_response_id).toBe(c2.body.id);
  });

  it('is never a stream: a streamed request bypasses the cache and answers with a fresh id', async () => {
    gate.resolve();
    const body = { model: 'mock-chat', input: 'echo: streamed after a stored answer', temperature: 0 };
    const stored = await create(body);
    expect(stored.cache).toBe('MISS');
    const res = await fetch(`${gw.url}/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
    expect(res.headers.get('x-tollgate-cache')).toBe('BYPASS');
    const text = await res.text();
    const created = JSON.parse(text.split('\n').find((l) => l.startsWith('data: '))!.slice(6)) as { response: { id: string } };
    expect(created.response.id).toMatch(/^resp_/);
    expect(created.response.id).not.toBe(stored.body.id);
  });
});

describe('identical concurrent /v1/responses requests', () => {
  it('on the translated lane share one upstream call, each answered with its own response', async () => {
    gate = deferred();
    reached = deferred();
    const calls = chat.requests.length;
    const joined = coalesce.joined;
    const body = { model: 'chat-model', input: 'coalesced question', temperature: 0 };
    const pending = Promise.all([create({ ...body, metadata: { n: '1' } }), create({ ...body, metadata: { n: '2' } }), create({ ...body, metadata: { n: '3' } })]);
    try {
      await coalesce.reached(joined + 3);
    } finally {
      gate.resolve();
    }
    const answers = await pending;
    expect(chat.requests.length - calls).toBe(1);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.map((a) => a.cache).sort()).toEqual(['HIT', 'HIT', 'MISS']);
    expect(new Set(answers.map((a) => a.body.output_text))).toEqual(new Set(['chat says: coalesced question']));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(3);
    expect(answers.map((a) => (a.body.metadata as Json).n)).toEqual(['1', '2', '3']);
    for (const a of answers) expect((await retrieve(a.body.id as string)).body).toMatchObject({ id: a.body.id, metadata: a.body.metadata });
    await expectBilledOnce(answers.map((a) => a.requestId));
  });

  it('on the native lane are not shared: each is served upstream and billed on its own, with its own response', async () => {
    gate = deferred();
    reached = deferred();
    const calls = native.requests.length;
    const body = { model: 'native-model', input: 'native question', temperature: 0 };
    const first = create({ ...body, metadata: { n: '1' } });
    await reached.promise;
    // The second arrives while the first is at the upstream: it joins it, or goes upstream itself.
    reached = deferred();
    joinedNext = deferred();
    const second = create({ ...body, metadata: { n: '2' } });
    await Promise.race([reached.promise, joinedNext.promise]);
    gate.resolve();
    const answers = await Promise.all([first, second]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    for (const x of answers) expect(JSON.stringify(x.body.output)).toContain('native says: native question');
    expect(answers.map((a) => a.cache)).toEqual(['MISS', 'MISS']);
    expect(native.requests.length - calls).toBe(2);
    const [a, b] = answers.map((x) => x.body);
    expect(a.id).toMatch(/^resp_/);
    expect(b.id).toMatch(/^resp_/);
    expect(b.id).not.toBe(a.id);
    for (const r of [a, b]) expect(await retrieve(r.id as string)).toMatchObject({ status: 200, body: { id: r.id } });
    for (const r of [a, b]) expect((r.usage as Json).cost).toBeGreaterThan(0);
    await expectBilledOnce(answers.map((x) => x.requestId));
  });
});

// SPEC §6 (and §3 streaming): streamed and non-streamed requests for the same output cost
// the same; a stream cut short by the client, an upstream error or an idle timeout is billed
// once, for the tokens delivered, marked estimated; an explicit zero usage stays zero.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTextTokens } from '../../src/core/tokens.js';
import { chat, flushed, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { accountState, allLedger, allUsage, readSseUntil, type ScriptedUpstream, sseContent, sseData, startScriptedUpstream, sumMicros, tapUsage, type UsageTap, NO_SHEDDING } from '../helpers/money.js';

const PRICE = { input_per_mtok: 3, output_per_mtok: 15 };
const cost = (p: number, c: number) => Math.round(p * PRICE.input_per_mtok + c * PRICE.output_per_mtok);
const SCRIPTED_TEXT = ['Zero ', 'usage ', 'is ', 'still ', 'usage.'];

let gw: TestGateway;
let scripted: ScriptedUpstream;
let tap: UsageTap;

function frame(obj: unknown): string {
  return `data: ${JSON.stringify(obj)}\n\n`;
}

beforeAll(async () => {
  // An OpenAI-compatible upstream that reports usage as the test says: zeros, or nothing at all.
  scripted = await startScriptedUpstream((_req, raw, res) => {
    const body = JSON.parse(raw) as { model: string; stream?: boolean };
    const usage = body.model === 'zero' ? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } : undefined;
    const base = { id: 'chatcmpl-scripted', created: 1, model: body.model };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: SCRIPTED_TEXT.join('') }, finish_reason: 'stop' }], ...(usage ? { usage } : {}) }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (delta: unknown, finish: string | null) => frame({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] });
    let out = chunk({ role: 'assistant', content: '' }, null);
    for (const piece of SCRIPTED_TEXT) out += chunk({ content: piece }, null);
    out += chunk({}, 'stop');
    if (usage) out += frame({ ...base, object: 'chat.completion.chunk', choices: [], usage });
    out += 'data: [DONE]\n\n';
    res.end(out);
  });
  const scriptedModel = (id: string, upstreamModel: string) => ({ id, context_window: 32000, max_output_tokens: 4096, pricing: PRICE, channels: [{ provider: 'scripted', upstream_model: upstreamModel }] });
  gw = await startTestGateway({
    raw: {
      providers: [
        { id: 'mock', type: 'mock' },
        { id: 'mock-idle', type: 'mock', timeouts: { idle_ms: 300 } },
        { id: 'scripted', type: 'openai', base_url: scripted.url, api_key: 'scripted-upstream-key' },
      ],
      models: [
        ...MOCK_MODELS,
        { id: 'priced', context_window: 32000, max_output_tokens: 4096, pricing: PRICE, channels: [{ provider: 'mock', upstream_model: 'mock-chat' }] },
        { id: 'priced-idle', context_window: 32000, max_output_tokens: 4096, pricing: PRICE, channels: [{ provider: 'mock-idle', upstream_model: 'mock-chat' }] },
        scriptedModel('zero-usage', 'zero'),
        scriptedModel('no-usage', 'none'),
      ],
      circuit_breaker: { failure_threshold: 1000, min_requests: 1000 },
      server: NO_SHEDDING,
    },
  });
  tap = tapUsage(gw.running.gateway.usage);
});

afterAll(async () => {
  await gw?.close();
  await scripted?.close();
});

/** The usage row of one request, read back from the store after the queue is flushed. */
async function rowsOf(orgId: string, requestId: string) {
  await flushed(gw);
  return (await allUsage(gw.running.gateway.store, orgId)).filter((u) => u.request_id === requestId);
}

async function expectBooksBalanced(orgId: string) {
  await flushed(gw);
  const ledger = await allLedger(gw.running.gateway.store, orgId);
  expect((await gw.running.gateway.store.balances()).get(orgId)).toBe(sumMicros(ledger));
  const live = await accountState(gw.running.gateway.accounts, orgId);
  expect(live.balance).toBe(sumMicros(ledger));
  expect(live.reserved).toBe(0);
}

/** The full answer for a prompt, non-streamed: the reference the cut streams are compared with. */
async function fullAnswer(key: string, content: string, words: number) {
  const res = await chat(gw.url, key, { model: 'priced', messages: [{ role: 'user', content }] }, { 'x-mock-words': String(words), 'cache-control': 'no-store' });
  expect(res.status).toBe(200);
  return (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number }; choices: Array<{ message: { content: string } }> };
}

describe('SPEC §6 money: streamed requests are billed like non-streamed ones', () => {
  it('charges a stream and a non-stream with the same output the same, from the upstream usage', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    const messages = [{ role: 'user', content: 'echo: The quick brown fox jumps over the lazy dog, twice over, and then once more for luck.' }];
    const plain = await chat(gw.url, key, { model: 'priced', messages }, { 'cache-control': 'no-store' });
    const plainBody = (await plain.json()) as { usage: { prompt_tokens: number; completion_tokens: number }; choices: Array<{ message: { content: string } }> };
    const plainId = plain.headers.get('x-request-id')!;
    const streamed = await chat(gw.url, key, { model: 'priced', messages, stream: true });
    const streamedId = streamed.headers.get('x-request-id')!;
    const text = await streamed.text();
    expect(sseContent(text)).toBe(plainBody.choices[0].message.content);
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    // Without stream_options.include_usage the client gets no usage chunk, but Tollgate still bills the upstream's numbers.
    expect(sseData(text).some((d) => d !== '[DONE]' && (JSON.parse(d) as { usage?: unknown }).usage)).toBe(false);
    const withUsage = await chat(gw.url, key, { model: 'priced', messages, stream: true, stream_options: { include_usage: true } });
    const withUsageId = withUsage.headers.get('x-request-id')!;
    const withUsageData = sseData(await withUsage.text());
    const usageChunk = JSON.parse(withUsageData[withUsageData.length - 2]) as { usage: { prompt_tokens: number; completion_tokens: number } };
    expect(usageChunk.usage).toMatchObject(plainBody.usage);

    const [a] = await rowsOf(orgId, plainId);
    const [b] = await rowsOf(orgId, streamedId);
    const [c] = await rowsOf(orgId, withUsageId);
    for (const row of [a, b, c]) {
      expect(row).toMatchObject({ prompt_tokens: plainBody.usage.prompt_tokens, completion_tokens: plainBody.usage.completion_tokens, estimated: false, status: 200 });
      expect(row.cost_micros).toBe(cost(plainBody.usage.prompt_tokens, plainBody.usage.completion_tokens));
    }
    expect(a.stream).toBe(false);
    expect(b.stream).toBe(true);
    await expectBooksBalanced(orgId);
  });

  it('bills a stream the client abandons once, for the tokens delivered, marked estimated', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    const content = 'Tell me a long story about gateways.';
    const full = await fullAnswer(key, content, 60);
    const ac = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      signal: ac.signal,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-mock-words': '60', 'x-mock-fault': 'tps=20' },
      body: JSON.stringify({ model: 'priced', stream: true, messages: [{ role: 'user', content }] }),
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id')!;
    const got = await readSseUntil(res, (t) => sseContent(t).length > 0);
    expect(got.ended).toBe(false);
    ac.abort();
    await got.reader.cancel().catch(() => undefined);
    const queued = await tap.settled(requestId);
    expect(queued.status).toBe(499);
    const rows = await rowsOf(orgId, requestId);
    expect(rows).toHaveLength(1);
    const row = rows[0];
    expect(row.estimated).toBe(true);
    expect(row.completion_tokens).toBeGreaterThan(0);
    // ~60 words at 20 tokens/s would take 3 s; the abort came after the first one.
    expect(row.completion_tokens).toBeLessThan(full.usage.completion_tokens / 2);
    expect(row.prompt_tokens).toBe(full.usage.prompt_tokens);
    expect(row.cost_micros).toBe(cost(row.prompt_tokens, row.completion_tokens));
    const charges = (await allLedger(gw.running.gateway.store, orgId)).filter((l) => l.request_id === requestId);
    expect(charges).toHaveLength(1);
    expect(charges[0].amount_micros).toBe(-row.cost_micros);
    expect(tap.count(requestId)).toBe(1);
    await expectBooksBalanced(orgId);
  });

  it('bills a stream broken by an upstream reset once, for the tokens delivered, marked estimated, and ends it with an error event', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    const content = 'Describe a reset connection.';
    const full = await fullAnswer(key, content, 30);
    const res = await chat(gw.url, key, { model: 'priced', stream: true, messages: [{ role: 'user', content }] }, { 'x-mock-words': '30', 'x-mock-fault': 'reset_after=4' });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id')!;
    const text = await res.text();
    const data = sseData(text);
    expect(data).not.toContain('[DONE]');
    const last = JSON.parse(data[data.length - 1]) as { error?: { type: string; code: string; message: string } };
    expect(last.error).toMatchObject({ type: 'upstream_error' });
    const delivered = sseContent(data.slice(0, -1).map((d) => `data: ${d}`).join('\n\n'));
    expect(delivered.length).toBeGreaterThan(0);
    expect(full.choices[0].message.content.startsWith(delivered)).toBe(true);
    const rows = await rowsOf(orgId, requestId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ estimated: true, completion_tokens: countTextTokens(delivered) });
    expect(rows[0].status).toBeGreaterThanOrEqual(500);
    expect(rows[0].completion_tokens).toBeGreaterThan(0);
    expect(rows[0].completion_tokens).toBeLessThan(full.usage.completion_tokens);
    expect(rows[0].cost_micros).toBe(cost(rows[0].prompt_tokens, rows[0].completion_tokens));
    expect((await allLedger(gw.running.gateway.store, orgId)).filter((l) => l.request_id === requestId)).toHaveLength(1);
    expect(tap.count(requestId)).toBe(1);
    await expectBooksBalanced(orgId);
  });

  it('bills a stream cut by the idle timeout once, for the tokens delivered, marked estimated, with a timeout error event', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    const content = 'Describe a stalled upstream.';
    const full = await fullAnswer(key, content, 30);
    const started = Date.now();
    const res = await chat(gw.url, key, { model: 'priced-idle', stream: true, messages: [{ role: 'user', content }] }, { 'x-mock-words': '30', 'x-mock-fault': 'hang_after=3' });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id')!;
    const text = await res.text();
    expect(Date.now() - started).toBeLessThan(5000);
    const data = sseData(text);
    expect(data).not.toContain('[DONE]');
    const last = JSON.parse(data[data.length - 1]) as { error?: { type: string; code: string } };
    expect(last.error).toMatchObject({ type: 'upstream_error', code: 'timeout' });
    const delivered = sseContent(data.slice(0, -1).map((d) => `data: ${d}`).join('\n\n'));
    expect(delivered.length).toBeGreaterThan(0);
    const rows = await rowsOf(orgId, requestId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ estimated: true, status: 504, error_code: 'timeout', completion_tokens: countTextTokens(delivered) });
    expect(rows[0].completion_tokens).toBeGreaterThan(0);
    expect(rows[0].completion_tokens).toBeLessThan(full.usage.completion_tokens);
    expect(rows[0].cost_micros).toBe(cost(rows[0].prompt_tokens, rows[0].completion_tokens));
    expect(tap.count(requestId)).toBe(1);
    await expectBooksBalanced(orgId);
  });

  it('keeps an explicit zero usage from the upstream at zero: no charge, not estimated', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    const s = await chat(gw.url, key, { model: 'zero-usage', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const sId = s.headers.get('x-request-id')!;
    expect(sseContent(await s.text())).toBe(SCRIPTED_TEXT.join(''));
    const n = await chat(gw.url, key, { model: 'zero-usage', messages: [{ role: 'user', content: 'hi there' }] }, { 'cache-control': 'no-store' });
    const nId = n.headers.get('x-request-id')!;
    expect(((await n.json()) as { usage: unknown }).usage).toMatchObject({ prompt_tokens: 0, completion_tokens: 0 });
    for (const id of [sId, nId]) {
      const rows = await rowsOf(orgId, id);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ status: 200, prompt_tokens: 0, completion_tokens: 0, cost_micros: 0, estimated: false });
    }
    expect((await allLedger(gw.running.gateway.store, orgId)).filter((l) => l.kind === 'charge')).toHaveLength(0);
    expect((await accountState(gw.running.gateway.accounts, orgId)).balance).toBe(1_000_000);
  });

  it('counts the tokens itself, marked estimated, when a stream ends normally without usage', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    const s = await chat(gw.url, key, { model: 'no-usage', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const id = s.headers.get('x-request-id')!;
    const text = await s.text();
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const rows = await rowsOf(orgId, id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 200, estimated: true, completion_tokens: countTextTokens(SCRIPTED_TEXT.join('')) });
    expect(rows[0].prompt_tokens).toBeGreaterThan(0);
    expect(rows[0].cost_micros).toBe(cost(rows[0].prompt_tokens, rows[0].completion_tokens));
    await expectBooksBalanced(orgId);
  });
});

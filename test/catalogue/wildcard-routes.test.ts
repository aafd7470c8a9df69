// Wildcard routes end to end: a route ("up/*") and a pass-through provider serve names no
// config lists, billed at the catalogue's price for the name (the ledger moves by exactly
// that), the upstream gets the vendor's name for it; a name the catalogue cannot price is
// refused before any upstream call and costs nothing; GET /v1/models lists what routes reach.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogueModel, vendorModels } from '../../src/catalogue/index.js';
import { chat, flushed, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { allLedger, allUsage, sumMicros } from '../helpers/money.js';
import { chunkFrame, completionBody, openaiProvider, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';
import { send } from '../resilience/support.js';

const USAGE = { prompt_tokens: 1200, completion_tokens: 300, total_tokens: 1500 };

/** Micro-USD for USAGE at a catalogue entry's prices. */
function expectedMicros(id: string): number {
  const p = catalogueModel(id)!.pricing;
  return Math.round(USAGE.prompt_tokens * p.input_per_mtok + USAGE.completion_tokens * p.output_per_mtok);
}

describe('wildcard routes and pass-through providers', () => {
  let upstream: ScriptedUpstream;
  let gw: TestGateway;
  let orgId: string;
  let mk: string;
  let key: string;

  beforeAll(async () => {
    upstream = await startScriptedUpstream((req, res) => {
      const model = String(req.json?.model ?? '');
      if (model === 'broken-model') {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'scripted failure', type: 'server_error' } }));
        return;
      }
      if (req.json?.stream === true) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(chunkFrame({ role: 'assistant', content: 'Routed ' }));
        res.write(chunkFrame({ content: 'stream.' }, 'stop'));
        res.write(`data: ${JSON.stringify({ id: 'chatcmpl-scripted', object: 'chat.completion.chunk', created: 1, model: 'scripted', choices: [], usage: USAGE })}\n\n`);
        res.end('data: [DONE]\n\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(completionBody('Routed answer.', USAGE));
    });
    gw = await startTestGateway({
      raw: {
        providers: [
          { id: 'mock', type: 'mock' },
          openaiProvider('up', upstream.url),
          openaiProvider('router', upstream.url, { pass_through: true }),
          // Named like a catalogue vendor with no base URL of its own: its route lists Groq's models (never called here).
          { id: 'groq', type: 'openai', api_key: 'k' },
        ],
        models: [
          ...MOCK_MODELS,
          { id: 'broken', pricing: { input_per_mtok: 1, output_per_mtok: 1 }, channels: [{ provider: 'up', upstream_model: 'broken-model' }] },
          { id: 'up/*', channels: [{ provider: 'up' }] }, { id: 'groq/*', channels: [{ provider: 'groq' }] }, { id: 'flat/*', pricing: { input_per_mtok: 1, output_per_mtok: 1 }, channels: [{ provider: 'up', upstream_model: 'served-*' }] }],
      },
    });
    ({ orgId, mk } = await gw.createOrg(10));
    key = (await gw.createKey(mk)).key;
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  async function balanceMicros(): Promise<number> {
    await flushed(gw);
    return sumMicros(await allLedger(gw.running.gateway.store, orgId));
  }

  it('serves a name through a route at the catalogue price, and the ledger moves by exactly that', async () => {
    const before = await balanceMicros();
    const r = await send(gw, key, { model: 'up/gpt-5.2', messages: [{ role: 'user', content: 'route me' }] });
    expect(r.status, r.text).toBe(200);
    expect(r.json?.model).toBe('up/gpt-5.2');
    expect(upstream.requests.at(-1)?.json?.model).toBe('gpt-5.2');
    const after = await balanceMicros();
    expect(before - after).toBe(expectedMicros('gpt-5.2'));
    // The served name keeps its channels (and breakers) for health alerts; a name never requested has none.
    expect(gw.running.gateway.channels.runtimeOf('up/gpt-5.2')?.channels[0].upstreamModel).toBe('gpt-5.2');
    expect(gw.running.gateway.channels.runtimeOf('up/gpt-5.1')).toBeUndefined();
    const row = (await allUsage(gw.running.gateway.store, orgId)).find((u) => u.request_id === r.requestId);
    expect(row).toMatchObject({ model: 'up/gpt-5.2', cost_micros: expectedMicros('gpt-5.2'), prompt_tokens: 1200, completion_tokens: 300 });
  });

  it('serves any name through a pass-through provider, priced with the vendor prefix stripped and sent as requested', async () => {
    const before = await balanceMicros();
    const r = await send(gw, key, { model: 'router/anthropic/claude-haiku-4.5', messages: [{ role: 'user', content: 'pass me through' }] });
    expect(r.status, r.text).toBe(200);
    expect(upstream.requests.at(-1)?.json?.model).toBe('anthropic/claude-haiku-4.5');
    expect(before - (await balanceMicros())).toBe(expectedMicros('claude-haiku-4.5'));
  });

  it('refuses a name the catalogue has no price for, before any upstream call and at no cost', async () => {
    const calls = upstream.requests.length;
    const before = await balanceMicros();
    const r = await send(gw, key, { model: 'up/house-model-9', messages: [{ role: 'user', content: 'free lunch?' }] });
    expect(r.status).toBe(404);
    expect(r.error?.code).toBe('model_not_found');
    expect(r.error?.message).toContain('"up/house-model-9" matches the route "up/*"');
    expect(r.error?.message).toContain('no price');
    const p = await send(gw, key, { model: 'router/acme/unknown-llm', messages: [{ role: 'user', content: 'free lunch?' }] });
    expect(p.status).toBe(404);
    expect(p.error?.message).toContain('"router/*"');
    expect(upstream.requests.length).toBe(calls);
    expect(await balanceMicros()).toBe(before);
  });

  it('serves every name at a route\'s own price when it names one, substituting the upstream name', async () => {
    const before = await balanceMicros();
    const r = await send(gw, key, { model: 'flat/anything-at-all', messages: [{ role: 'user', content: 'flat' }] });
    expect(r.status, r.text).toBe(200);
    expect(upstream.requests.at(-1)?.json?.model).toBe('served-anything-at-all');
    expect(before - (await balanceMicros())).toBe(USAGE.prompt_tokens + USAGE.completion_tokens);
  });

  it('lists the catalogue models a route reaches, with their prices, and not unpriceable routes', async () => {
    const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    const body = (await res.json()) as { data: Array<{ id: string; pricing: { input_per_mtok: number; output_per_mtok: number }; context_length: number }> };
    const ids = body.data.map((m) => m.id);
    expect(ids).toContain('mock-chat');
    expect(ids).toContain('groq/llama-3.3-70b-versatile');
    expect(ids.filter((id) => id.startsWith('groq/')).sort()).toEqual(vendorModels('groq').map((m) => `groq/${m.id}`).sort());
    const llama = body.data.find((m) => m.id === 'groq/llama-3.3-70b-versatile');
    expect(llama).toMatchObject({ pricing: { input_per_mtok: 0.59, output_per_mtok: 0.79 }, context_length: 131072 });
    // The routes to a local server list nothing: which names it knows is not in the catalogue.
    expect(ids.some((id) => id.startsWith('up/') || id.startsWith('router/') || id.startsWith('flat/') || id.includes('*'))).toBe(false);
    // A name with "/" is one path segment, "/" escaped as %2F (as the OpenAI SDKs send it).
    const one = await fetch(`${gw.url}/v1/models/${encodeURIComponent('up/gpt-5.4')}`, { headers: { authorization: `Bearer ${key}` } });
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ id: 'up/gpt-5.4', pricing: { input_per_mtok: 2.5, output_per_mtok: 15 } });
  });

  it('bills a stream through a route at the catalogue price', async () => {
    const before = await balanceMicros();
    const res = await chat(gw.url, key, { model: 'up/gemini-3-flash-preview', stream: true, messages: [{ role: 'user', content: 'stream me' }] });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('Routed ');
    expect(text).toContain('data: [DONE]');
    expect(upstream.requests.at(-1)?.json?.model).toBe('gemini-3-flash-preview');
    expect(before - (await balanceMicros())).toBe(expectedMicros('gemini-3-flash-preview'));
  });

  it('falls back to a name served through a route, billed at that name\'s price', async () => {
    const before = await balanceMicros();
    const r = await send(gw, key, { model: 'broken', models: ['up/gpt-5.4-nano'], messages: [{ role: 'user', content: 'fall back' }] });
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get('x-tollgate-fallback')).toBe('broken -> up/gpt-5.4-nano');
    expect(before - (await balanceMicros())).toBe(expectedMicros('gpt-5.4-nano'));
  });

  it('routes no name with characters a model name does not have, nor an overlong one', async () => {
    const calls = upstream.requests.length;
    for (const model of ['up/gpt 5.2', 'up/gpt-5.2\n', `up/${'x/'.repeat(150)}gpt-5.2`]) {
      const r = await send(gw, key, { model, messages: [{ role: 'user', content: 'odd name' }] });
      expect(r.status, model).toBe(404);
      expect(r.error?.code).toBe('model_not_found');
    }
    expect(upstream.requests.length).toBe(calls);
  });

  it('admits route names through an allowed_models pattern and refuses others', async () => {
    const limited = (await gw.createKey(mk, { allowed_models: ['up/*'] })).key;
    expect((await send(gw, limited, { model: 'up/gpt-5.4-mini', messages: [{ role: 'user', content: 'ok' }] })).status).toBe(200);
    const refused = await send(gw, limited, { model: 'router/openai/gpt-5.2', messages: [{ role: 'user', content: 'no' }] });
    expect(refused.status).toBe(403);
    expect(refused.error?.code).toBe('model_not_allowed');
  });
});

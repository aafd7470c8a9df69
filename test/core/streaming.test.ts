// SPEC §3 streaming: SSE framing in chat.completion.chunk shape ending with [DONE], usage only
// when asked, finish_reason "length", chunks forwarded as they arrive, client disconnects
// abort the upstream, failures after the first byte become one error chunk, heartbeats.
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockUpstream } from '../../src/providers/mock/http-server.js';
import { usageOf } from '../helpers/account.js';
import { chat, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sseContent, sseEvents, sseJson, StreamReader, within } from '../helpers/sse.js';
import { chatModel, chunkFrame, type Deferred, deferred, lastUserText, openaiProvider, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';

let gw: TestGateway;
let mockUpstream: { url: string; close(): Promise<void> };
let scripted: ScriptedUpstream;
let org: { mk: string; key: string };

/** Hand-offs between the scripted upstream and the test, per scenario. */
const gates = new Map<string, Deferred<void>>();
const upstreamClosed = new Map<string, Deferred<void>>();
const upstreamFinished = new Set<string>();

function write(res: ServerResponse, data: string): Promise<void> {
  return new Promise((resolve) => res.write(data, () => resolve()));
}

async function startStreamingUpstream(): Promise<ScriptedUpstream> {
  return startScriptedUpstream(async (req, res) => {
    const scenario = lastUserText(req).replace(/^scenario:/, '');
    res.on('close', () => upstreamClosed.get(scenario)?.resolve());
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    await write(res, chunkFrame({ role: 'assistant', content: '' }));
    switch (scenario) {
      case 'held': {
        await write(res, chunkFrame({ content: 'first ' }));
        await gates.get('held')?.promise;
        await write(res, chunkFrame({ content: 'second' }));
        await write(res, chunkFrame({}, 'stop'));
        await write(res, 'data: [DONE]\n\n');
        upstreamFinished.add(scenario);
        res.end();
        return;
      }
      case 'hold-forever':
        await write(res, chunkFrame({ content: 'only some words' }));
        return; // the socket stays open until the gateway goes away
      case 'reset':
        await write(res, chunkFrame({ content: 'partial answer ' }));
        res.socket?.destroy();
        return;
      default:
        res.end('data: [DONE]\n\n');
    }
  });
}

beforeAll(async () => {
  mockUpstream = await startMockUpstream({ port: 0, settings: { tokensPerSecond: 0, faults: undefined } });
  scripted = await startStreamingUpstream();
  gw = await startTestGateway({
    raw: {
      providers: [{ id: 'mock', type: 'mock' }, openaiProvider('up', mockUpstream.url), openaiProvider('script', scripted.url)],
      models: [...MOCK_MODELS, chatModel('up-chat', 'up', 'mock-chat'), chatModel('script-chat', 'script', 'scripted-model')],
      routing: { max_attempts: 2, retry_base_ms: 1, retry_max_ms: 5 },
    },
  });
  const o = await gw.createOrg(10);
  org = { mk: o.mk, key: (await gw.createKey(o.mk)).key };
});

afterAll(async () => {
  await gw?.close();
  await scripted?.close();
  await mockUpstream?.close();
});

function stream(model: string, content: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Response> {
  return chat(gw.url, org.key, { model, messages: [{ role: 'user', content }], stream: true, ...extra }, headers);
}

interface Chunk {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: Array<{ index: number; delta: { content?: string | null }; finish_reason: string | null }>;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
}

describe.each([
  { provider: 'the mock provider', model: 'mock-chat' },
  { provider: 'an openai-type provider', model: 'up-chat' },
])('SPEC §3 streaming through $provider', ({ model }) => {
  it('sends text/event-stream of `data: {json}` chat.completion.chunk events ending with [DONE]', async () => {
    const res = await stream(model, 'echo: streaming through the gateway works');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text();
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    const events = sseEvents(text);
    expect(events.join('\n\n') + '\n\n').toBe(text);
    expect(events.at(-1)).toBe('data: [DONE]');
    const chunks = events.slice(0, -1);
    expect(chunks.length).toBeGreaterThan(2);
    for (const e of chunks) {
      expect(e).toMatch(/^data: \{/);
      expect(e).not.toContain('\n');
      const c = JSON.parse(e.slice(6)) as Chunk;
      expect(c).toMatchObject({ object: 'chat.completion.chunk', model, id: expect.any(String), created: expect.any(Number) });
      expect(Array.isArray(c.choices)).toBe(true);
      for (const ch of c.choices) expect(ch).toMatchObject({ index: 0, delta: expect.any(Object) });
    }
    expect(sseContent(text)).toBe('streaming through the gateway works');
    expect((sseJson(text) as unknown as Chunk[]).at(-1)?.choices[0]?.finish_reason).toBe('stop');
  });

  it('puts usage on the last chunk before [DONE] with stream_options.include_usage', async () => {
    const text = await (await stream(model, 'echo: count my tokens please', { stream_options: { include_usage: true } })).text();
    const chunks = sseJson(text) as unknown as Chunk[];
    const last = chunks.at(-1)!;
    expect(last.usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number), total_tokens: expect.any(Number) });
    expect(last.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(last.usage!.completion_tokens).toBeGreaterThan(0);
    expect(last.usage!.total_tokens).toBe(last.usage!.prompt_tokens + last.usage!.completion_tokens);
    expect(chunks.slice(0, -1).filter((c) => c.usage != null)).toEqual([]);
    expect(text.endsWith(`data: ${JSON.stringify(last)}\n\ndata: [DONE]\n\n`)).toBe(true);
  });

  it('sends no chunk with non-null usage without stream_options.include_usage', async () => {
    const text = await (await stream(model, 'echo: no usage wanted here')).text();
    const chunks = sseJson(text) as unknown as Chunk[];
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.filter((c) => c.usage != null)).toEqual([]);
  });

  it('ends with finish_reason "length" when max_tokens cuts the output', async () => {
    const text = await (await stream(model, 'echo: one two three four five six seven eight nine ten eleven twelve', { max_tokens: 3, stream_options: { include_usage: true } })).text();
    const chunks = sseJson(text) as unknown as Chunk[];
    const finishes = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter((f) => f !== null);
    expect(finishes).toEqual(['length']);
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(3);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });
});

describe('SPEC §3 streaming: chunks are forwarded as they arrive', () => {
  it('delivers the first content chunk while the upstream is still holding the rest', async () => {
    const gate = deferred();
    gates.set('held', gate);
    const res = await stream('script-chat', 'scenario:held');
    expect(res.status).toBe(200);
    const reader = new StreamReader(res);
    try {
      await reader.until((t) => sseContent(t).includes('first'), 3000, 'the first content chunk');
      expect(upstreamFinished.has('held')).toBe(false);
      expect(reader.text).not.toContain('[DONE]');
      gate.resolve();
      const text = await reader.rest();
      expect(upstreamFinished.has('held')).toBe(true);
      expect(sseContent(text)).toBe('first second');
      expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    } finally {
      gate.resolve();
      await reader.cancel();
    }
  });
});

describe('SPEC §3 streaming: client disconnect', () => {
  it('aborts the upstream request at once and bills the tokens delivered so far', async () => {
    const closed = deferred();
    upstreamClosed.set('hold-forever', closed);
    const ac = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${org.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'script-chat', messages: [{ role: 'user', content: 'scenario:hold-forever' }], stream: true }),
      signal: ac.signal,
    });
    const requestId = res.headers.get('x-request-id');
    const reader = new StreamReader(res);
    await reader.until((t) => sseContent(t).includes('only'), 3000, 'the first content chunk');
    expect(closed.settled).toBe(false);
    ac.abort();
    await reader.cancel();
    await within(closed.promise, 2000, 'the upstream connection to close after the client left');
    // The record is queued when the gateway's stream unwinds, just after the upstream closed.
    const deadline = Date.now() + 2000;
    let row = (await usageOf(gw, org.mk)).find((u) => u.request_id === requestId);
    while (!row && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      row = (await usageOf(gw, org.mk)).find((u) => u.request_id === requestId);
    }
    if (!row) throw new Error('no usage record for the aborted stream');
    expect(row.status).toBe(499);
    expect(row.completion_tokens).toBeGreaterThan(0);
    expect(row.estimated).toBe(true);
    expect(row.cost_usd).toBeGreaterThan(0);
  });
});

describe('SPEC §3 streaming: failure after the first byte', () => {
  async function expectOneErrorChunk(res: Response): Promise<{ text: string; error: Record<string, unknown> }> {
    expect(res.status).toBe(200);
    const text = await within(res.text(), 3000, 'the broken stream to end');
    const events = sseEvents(text);
    const errors = events.filter((e) => e.startsWith('data: {"error"'));
    expect(errors).toHaveLength(1);
    expect(events.at(-1)).toBe(errors[0]);
    expect(text).not.toContain('[DONE]');
    expect(sseContent(text).length).toBeGreaterThan(0);
    const error = (JSON.parse(errors[0].slice(6)) as { error: Record<string, unknown> }).error;
    expect(error).toMatchObject({ message: expect.any(String), type: 'upstream_error', code: 'provider_error' });
    return { text, error };
  }

  it('turns a mock reset after 3 chunks into one SSE error chunk, without [DONE]', async () => {
    const res = await stream('mock-chat', 'echo: a long enough answer to be cut in the middle', {}, { 'x-mock-fault': 'reset_after=3' });
    await expectOneErrorChunk(res);
  });

  it('turns an upstream socket reset into one SSE error chunk, without [DONE], and bills what was delivered', async () => {
    const res = await stream('script-chat', 'scenario:reset');
    const requestId = res.headers.get('x-request-id');
    const { text } = await expectOneErrorChunk(res);
    expect(sseContent(text)).toBe('partial answer ');
    const row = (await usageOf(gw, org.mk)).find((u) => u.request_id === requestId);
    expect(row?.status).toBe(502);
    expect(row?.completion_tokens).toBeGreaterThan(0);
  });
});

describe('SPEC §3 streaming: heartbeat', () => {
  let hb: TestGateway;
  let hbKey: string;

  beforeAll(async () => {
    hb = await startTestGateway({ raw: { server: { heartbeat_ms: 200 } } });
    hbKey = (await hb.createKey((await hb.createOrg(10)).mk)).key;
  });
  afterAll(async () => {
    await hb?.close();
  });

  it('sends a `: ping` comment when the upstream is silent longer than server.heartbeat_ms', async () => {
    const ac = new AbortController();
    const res = await fetch(`${hb.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${hbKey}`, 'content-type': 'application/json', 'x-mock-fault': 'hang_after=2' },
      body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'echo: then silence' }], stream: true }),
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    const reader = new StreamReader(res);
    try {
      const started = Date.now();
      const text = await reader.until((t) => t.includes(': ping\n\n'), 3000, 'a heartbeat comment');
      expect(Date.now() - started).toBeGreaterThanOrEqual(100);
      expect(sseContent(text.slice(0, text.indexOf(': ping')))).toBe('then ');
      expect(sseEvents(text)).toContain(': ping');
    } finally {
      ac.abort();
      await reader.cancel();
    }
  });
});

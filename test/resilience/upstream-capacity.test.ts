// Upstream capacity: requests in flight to a provider are capped by providers[].max_in_flight;
// beyond it a request waits at most queue_timeout_ms for a slot, then gets 503 `overloaded`
// with Retry-After (never an unseen queue in front of the upstream); a slot comes back when a
// request ends, fails, or its client leaves; and an HTTP/2 upstream is served over one
// multiplexed connection.
import { createServer as createH2Server, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InFlightGate } from '../../src/routing/in-flight.js';
import { chat, expectError, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { tapUsage, type UsageTap } from '../helpers/money.js';
import { StreamReader, sseContent, sseEvents } from '../helpers/sse.js';
import { chunkFrame, deferred } from '../helpers/upstream.js';
import { fail, model, ok, provider, SERVER, type Scripted, startScripted, tag } from './support.js';

let up: Scripted;
let h2: Http2Server;
let h2Sessions = 0;
const h2Release = deferred();
const h2Versions: string[] = [];
let gw: TestGateway;
let key: string;
let tap: UsageTap;

/** Answers chat completions over HTTP/2 (h2c): SSE for streams, JSON otherwise. */
function answerH2(stream: ServerHttp2Stream, body: string): void {
  const req = JSON.parse(body) as { model: string; stream?: boolean };
  if (req.model === 'h2-held') {
    // The first token at once, the rest when the test lets go.
    stream.respond({ ':status': 200, 'content-type': 'text/event-stream' });
    stream.write(chunkFrame({ role: 'assistant', content: '' }) + chunkFrame({ content: 'first' }));
    void h2Release.promise.then(() => {
      if (!stream.destroyed) stream.end(`${chunkFrame({ content: ' last' })}${chunkFrame({}, 'stop')}data: [DONE]\n\n`);
    });
    return;
  }
  if (req.model === 'h2-stall') {
    // Headers and the role frame, then silence.
    stream.respond({ ':status': 200, 'content-type': 'text/event-stream' });
    stream.write(chunkFrame({ role: 'assistant', content: '' }));
    return;
  }
  const usage = { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 };
  if (!req.stream) {
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: req.model, choices: [{ index: 0, message: { role: 'assistant', content: 'over h2' }, finish_reason: 'stop' }], usage }));
    return;
  }
  stream.respond({ ':status': 200, 'content-type': 'text/event-stream' });
  let out = chunkFrame({ role: 'assistant', content: '' });
  for (const piece of ['over ', 'h2 ', 'streamed']) out += chunkFrame({ content: piece });
  out += chunkFrame({}, 'stop');
  out += `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: req.model, choices: [], usage })}\n\n`;
  stream.end(`${out}data: [DONE]\n\n`);
}

beforeAll(async () => {
  up = await startScripted();
  h2 = createH2Server();
  h2.on('session', () => h2Sessions++);
  h2.on('stream', (stream, headers) => {
    h2Versions.push(String(headers[':path']));
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (body += d));
    stream.on('end', () => answerH2(stream, body));
  });
  await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
  const h2Url = `http://127.0.0.1:${(h2.address() as AddressInfo).port}/v1`;
  gw = await startTestGateway({
    raw: {
      server: SERVER,
      providers: [
        { ...provider('two', up.url), max_in_flight: 2, queue_timeout_ms: 300 },
        { ...provider('one', up.url), max_in_flight: 1, queue_timeout_ms: 30_000 },
        { ...provider('strict', up.url), max_in_flight: 1, queue_timeout_ms: 0 },
        { ...provider('spare', up.url), max_in_flight: 1, queue_timeout_ms: 0 },
        { ...provider('h2', h2Url), http2: true, connections: 1 },
        { ...provider('h2idle', h2Url, { idle_ms: 200 }), http2: true },
      ],
      models: [
        model('capped', [['two', 'capped-up']]),
        model('single', [['one', 'single-up']]),
        model('strict', [['strict', 'strict-up']]),
        // The first channel's provider is full: the second, on another provider, serves.
        model('spilled', [
          ['strict', 'spilled-strict', 0],
          ['spare', 'spilled-spare', 1],
        ]),
        model('over-h2', [['h2', 'h2-model']]),
        model('stalls-h2', [['h2idle', 'h2-stall']]),
        model('held-h2', [['h2', 'h2-held']]),
      ],
      routing: { retry_base_ms: 5, retry_max_ms: 20, retry_budget_ratio: 1 },
      circuit_breaker: { failure_threshold: 1000, min_requests: 1000 },
      limits: { key_rpm: null },
    },
  });
  const org = await gw.createOrg(50);
  key = (await gw.createKey(org.mk)).key;
  tap = tapUsage(gw.running.gateway.usage);
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
  await new Promise<void>((resolve) => h2?.close(() => resolve()));
});

const gate = (provider: string): InFlightGate => gw.running.gateway.channels.gates.get(provider)!;

/** Polls `check` until it holds, failing after `ms` with `what`. */
async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ask = (modelId: string, label: string, stream = false, signal?: AbortSignal) =>
  fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: modelId, messages: [{ role: 'user', content: tag(label) }], stream }),
    signal,
  });

describe('providers[].max_in_flight', () => {
  it('at the cap, a request waits queue_timeout_ms, then gets 503 overloaded with Retry-After, never reaches the upstream and costs nothing', async () => {
    const hold = deferred();
    up.script('capped-up', { kind: 'ok', content: 'held one', gate: hold.promise }, { kind: 'ok', content: 'held two', gate: hold.promise });
    const first = ask('capped', 'held 1', true);
    const second = ask('capped', 'held 2');
    await up.waitForCalls(2, 'capped-up');
    expect(gate('two').inFlight).toBe(2);

    const res = await ask('capped', 'over the cap');
    expect(res.headers.get('retry-after')).toBe('1');
    const requestId = res.headers.get('x-request-id') ?? '';
    const err = await expectError(res, 503, 'overloaded');
    expect(err.message).toContain('(two)');
    expect(err.message).toContain('2 requests in flight');
    expect(err.message).toContain('300 ms');
    expect(up.count('capped-up')).toBe(2);
    expect(tap.count(requestId)).toBe(0);

    hold.resolve();
    const [a, b] = await Promise.all([first, second]);
    expect(a.status).toBe(200);
    expect(sseContent(await a.text())).toBe('held one');
    expect(b.status).toBe(200);
    expect(((await b.json()) as { choices: Array<{ message: { content: string } }> }).choices[0].message.content).toBe('held two');
    await eventually(() => gate('two').inFlight === 0, 'both slots to be released');
  });

  it('a slot freed during the wait goes to the waiting request, which is served', async () => {
    const hold = deferred();
    up.script('single-up', { kind: 'ok', content: 'first in', gate: hold.promise }, ok('second in'));
    const first = ask('single', 'first');
    await up.waitForCalls(1, 'single-up');
    const second = ask('single', 'second');
    await eventually(() => gate('one').waiting === 1, 'the second request to wait for a slot');
    expect(up.count('single-up')).toBe(1);

    hold.resolve();
    const [a, b] = await Promise.all([first, second]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(((await b.json()) as { choices: Array<{ message: { content: string } }> }).choices[0].message.content).toBe('second in');
    expect(up.count('single-up')).toBe(2);
    await eventually(() => gate('one').inFlight === 0 && gate('one').waiting === 0, 'the slot to be released');
  });

  it('a stream holds its slot until the client disconnects, and the slot comes back then', async () => {
    up.script('strict-up', { kind: 'stream-break', pieces: ['Hello', ' there'], end: 'stall' });
    const ac = new AbortController();
    const res = await ask('strict', 'leaves mid-stream', true, ac.signal);
    expect(res.status).toBe(200);
    const reader = new StreamReader(res);
    await reader.until((t) => sseContent(t).includes('there'));
    // The stream is open after its first tokens: the provider is full.
    expect(gate('strict').inFlight).toBe(1);
    await expectError(await ask('strict', 'while the stream is open'), 503, 'overloaded');

    ac.abort();
    await eventually(() => gate('strict').inFlight === 0, 'the disconnected stream to release its slot');
    const after = await ask('strict', 'after the disconnect');
    expect(after.status).toBe(200);
  });

  it('a slot comes back after an upstream error, before and after a stream commits', async () => {
    up.script('strict-up', fail(400, 'bad request upstream'));
    expect((await ask('strict', 'upstream 400')).status).toBe(400);
    expect(gate('strict').inFlight).toBe(0);

    const seen = deferred();
    up.script('strict-up', { kind: 'stream-break', pieces: ['partial'], end: 'error-event', after: seen.promise });
    const res = await ask('strict', 'breaks mid-stream', true);
    const reader = new StreamReader(res);
    await reader.until((t) => sseContent(t).includes('partial'));
    seen.resolve();
    const events = sseEvents(await reader.rest());
    expect(events.some((e) => e.includes('"error"'))).toBe(true);
    await eventually(() => gate('strict').inFlight === 0, 'the broken stream to release its slot');
    expect((await ask('strict', 'after the error')).status).toBe(200);
  });

  it('a full provider sends the request to a fallback channel on another provider, without waiting on it again', async () => {
    const hold = deferred();
    up.script('spilled-strict', { kind: 'ok', content: 'holds strict', gate: hold.promise });
    const first = ask('spilled', 'takes the strict slot');
    await up.waitForCalls(1, 'spilled-strict');
    const res = await ask('spilled', 'spills over');
    expect(res.status).toBe(200);
    expect(up.count('spilled-spare')).toBe(1);
    expect(up.count('spilled-strict')).toBe(1);
    hold.resolve();
    expect((await first).status).toBe(200);
  });
});

describe('providers[].http2', () => {
  it('serves streams and JSON answers from an HTTP/2 (h2c) upstream, several streams on one connection', async () => {
    const before = h2Sessions;
    const streams = await Promise.all([1, 2, 3].map((i) => chat(gw.url, key, { model: 'over-h2', messages: [{ role: 'user', content: `h2 ${i}` }], stream: true })));
    for (const res of streams) {
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(sseContent(text)).toBe('over h2 streamed');
      expect(sseEvents(text).at(-1)).toBe('data: [DONE]');
    }
    const json = await chat(gw.url, key, { model: 'over-h2', messages: [{ role: 'user', content: 'h2 json' }] });
    expect(json.status).toBe(200);
    expect(((await json.json()) as { choices: Array<{ message: { content: string } }> }).choices[0].message.content).toBe('over h2');
    expect(h2Versions.filter((p) => p === '/v1/chat/completions')).toHaveLength(4);
    // connections: 1 with HTTP/2: every request shared one session.
    expect(h2Sessions - before).toBe(1);
  });

  it('ends an HTTP/2 upstream that goes silent past timeouts.idle_ms with 504 timeout', async () => {
    const res = await chat(gw.url, key, { model: 'stalls-h2', messages: [{ role: 'user', content: 'stall' }], stream: true });
    const err = await expectError(res, 504, 'timeout');
    expect(err.message).toContain('idle timeout');
    expect(gate('h2idle').inFlight).toBe(0);
  });

  it('carries several open streams on one HTTP/2 connection at once: none waits for another to end', async () => {
    const opened = await Promise.all([1, 2, 3].map((i) => chat(gw.url, key, { model: 'held-h2', messages: [{ role: 'user', content: `held ${i}` }], stream: true })));
    const readers = opened.map((res) => new StreamReader(res));
    // Every stream has its first token while all three are still open upstream.
    for (const r of readers) await r.until((t) => sseContent(t).includes('first'));
    expect(gate('h2').inFlight).toBe(3);
    h2Release.resolve();
    for (const r of readers) expect(sseContent(await r.rest())).toBe('first last');
  });
});

// A stream whose upstream body can push (the undici transport's) is written to the client in
// the callback that brought each upstream chunk (RelayFrames.pushTo); a stream that something
// wraps (an idempotency capture, a request log) is iterated instead (relayStream). Both drive
// one relay state, and each scenario here runs both ways: a request with an Idempotency-Key
// takes the iterated path, one without it the pushed one. The client sees the same bytes and
// the request is billed the same, whether the stream completes, the upstream breaks, the client
// leaves, or the client reads slowly. A key's concurrency slot is given back by the relay
// itself, so such a key's streams are pushed too.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageOf, type UsageRecord } from '../helpers/account.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sseContent, sseEvents, StreamReader, within } from '../helpers/sse.js';
import { chatModel, chunkFrame, type Deferred, deferred, lastUserText, openaiProvider, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';

let gw: TestGateway;
let upstream: ScriptedUpstream;
/** The same slow-client scenario's upstream over HTTP/2 (h2c), where undici pauses the stream, not the socket. */
let h2: Http2Server;
let mk: string;
let key: string;
/** Headers that make a request's stream take each path: an idempotency capture wraps the frames. */
let idempotency = 0;
const pathHeaders = (path: 'pushed' | 'iterated'): Record<string, string> => (path === 'iterated' ? { 'idempotency-key': `stream-push-${process.pid}-${++idempotency}` } : {});

/** Per scenario run (named in the prompt): hand-offs between the upstream and the test. */
const upstreamClosed = new Map<string, Deferred<void>>();
const upstreamBlocked = new Map<string, Deferred<void>>();
const upstreamDone = new Map<string, Deferred<void>>();

const BIG_TEXT = 'x'.repeat(16 * 1024);
/**
 * The slow-client scenario's body: more than every buffer on the way can hold while the gateway
 * reads nothing, so that the upstream can finish only if the gateway takes the rest into its own
 * memory. Linux grows a socket's buffers up to tcp_rmem's and tcp_wmem's maximum (32 MB for
 * receiving on some hosts): the upstream's send buffer, the gateway's receive buffer from it, the
 * gateway's send buffer to the client, and 8 MB for the gateway's queue (64 reads), its writer and
 * the client's receive buffer (which does not grow while the client reads nothing).
 */
const BIG_FRAMES = Math.ceil((linuxSocketBufferMax('tcp_rmem', 6 << 20) + 2 * linuxSocketBufferMax('tcp_wmem', 4 << 20) + (8 << 20)) / BIG_TEXT.length);

/** The largest a TCP socket's receive (tcp_rmem) or send (tcp_wmem) buffer may grow to; `fallback` off Linux. */
function linuxSocketBufferMax(name: 'tcp_rmem' | 'tcp_wmem', fallback: number): number {
  try {
    const max = Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[2]);
    return Number.isFinite(max) && max > 0 ? max : fallback;
  } catch {
    return fallback;
  }
}

function write(res: ServerResponse, data: string): Promise<void> {
  return new Promise((resolve) => res.write(data, () => resolve()));
}

/** Writes the slow-client scenario's frames, waiting for drain when the writer says so; false if the gateway left. */
async function writeBig(out: ServerResponse | ServerHttp2Stream, prompt: string): Promise<boolean> {
  for (let i = 0; i < BIG_FRAMES; i++) {
    if (!out.write(chunkFrame({ content: BIG_TEXT }))) {
      upstreamBlocked.get(prompt)?.resolve();
      await new Promise<void>((resolve) => {
        const go = () => {
          out.off('drain', go);
          out.off('close', go);
          resolve();
        };
        out.on('drain', go);
        out.on('close', go);
      });
      if (out.destroyed) return false;
    }
  }
  return true;
}

beforeAll(async () => {
  upstream = await startScriptedUpstream(async (req, res) => {
    const prompt = lastUserText(req);
    const [scenario] = prompt.split('#');
    res.on('close', () => upstreamClosed.get(prompt)?.resolve());
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    await write(res, chunkFrame({ role: 'assistant', content: '' }));
    switch (scenario) {
      case 'complete':
        for (const word of ['one ', 'two ', 'three ', 'fo\u00fcr ', '\ud83d\ude42']) await write(res, chunkFrame({ content: word }));
        // Two events in one write, and one event cut across two writes.
        await write(res, chunkFrame({ content: ' five' }) + chunkFrame({}, 'stop'));
        {
          const usage = `data: ${JSON.stringify({ id: 'chatcmpl-scripted', object: 'chat.completion.chunk', created: 1, model: 'scripted', choices: [], usage: { prompt_tokens: 21, completion_tokens: 7, total_tokens: 28 } })}\n\n`;
          await write(res, usage.slice(0, 40));
          await write(res, usage.slice(40));
        }
        res.end('data: [DONE]\n\n');
        return;
      case 'reset':
        await write(res, chunkFrame({ content: 'partial answer ' }));
        res.socket?.destroy();
        return;
      case 'hold':
        await write(res, chunkFrame({ content: 'only some words' }));
        return; // open until the gateway lets go
      case 'big': {
        if (!(await writeBig(res, prompt))) return;
        res.write(chunkFrame({}, 'stop'));
        res.end('data: [DONE]\n\n');
        upstreamDone.get(prompt)?.resolve();
        return;
      }
      default:
        res.end('data: [DONE]\n\n');
    }
  });
  h2 = createH2Server();
  h2.on('stream', (stream, headers) => {
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (body += d));
    stream.on('end', async () => {
      const prompt = lastUserText({ method: 'POST', path: String(headers[':path']), headers: {}, body, json: JSON.parse(body) });
      stream.respond({ ':status': 200, 'content-type': 'text/event-stream' });
      stream.write(chunkFrame({ role: 'assistant', content: '' }));
      if (!(await writeBig(stream, prompt))) return;
      stream.end(`${chunkFrame({}, 'stop')}data: [DONE]\n\n`);
      upstreamDone.get(prompt)?.resolve();
    });
  });
  await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
  const h2Url = `http://127.0.0.1:${(h2.address() as AddressInfo).port}/v1`;
  gw = await startTestGateway({
    raw: {
      providers: [openaiProvider('script', upstream.url), { ...openaiProvider('h2', h2Url), http2: true }],
      models: [chatModel('script-chat', 'script', 'scripted-model'), chatModel('h2-chat', 'h2', 'scripted-model')],
      routing: { max_attempts: 1 },
    },
  });
  const org = await gw.createOrg(50);
  mk = org.mk;
  key = (await gw.createKey(mk)).key;
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await new Promise((resolve) => h2?.close(resolve));
});

const pushedCount = () => gw.running.http.streams.pushed;

function open(path: 'pushed' | 'iterated', prompt: string, signal?: AbortSignal, credential = key): Promise<Response> {
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json', ...pathHeaders(path) },
    body: JSON.stringify({ model: 'script-chat', messages: [{ role: 'user', content: prompt }], stream: true, stream_options: { include_usage: true } }),
    signal,
  });
}

/** The usage row of a request, once the gateway has recorded it. */
async function rowOf(requestId: string | null): Promise<UsageRecord> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const row = (await usageOf(gw, mk)).find((u) => u.request_id === requestId);
    if (row) return row;
    if (Date.now() > deadline) throw new Error(`no usage row for ${requestId}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What differs between two requests and not between the paths: request ids and the time. */
const comparable = (text: string) => text.replace(/"(req|chatcmpl|gen)[-_][A-Za-z0-9_-]+"/g, '"<id>"').replace(/"created":\d+/g, '"created":0');
const billed = (row: UsageRecord) => ({ status: row.status, prompt: row.prompt_tokens, completion: row.completion_tokens, estimated: row.estimated, cost: row.cost_usd });

describe('a pushed stream and an iterated one', () => {
  it('take the paths the test means them to take', async () => {
    for (const path of ['pushed', 'iterated'] as const) {
      const before = pushedCount();
      const res = await open(path, `complete#paths-${path}`);
      await res.text();
      expect(pushedCount() - before, path).toBe(path === 'pushed' ? 1 : 0);
    }
  });

  it('a key with max_concurrency still has its streams pushed, and gets its slot back when one ends', async () => {
    const limited = (await gw.createKey(mk, { max_concurrency: 1 })).key;
    const prompt = 'hold#limited';
    const closed = deferred();
    upstreamClosed.set(prompt, closed);
    const before = pushedCount();
    const ac = new AbortController();
    const res = await open('pushed', prompt, ac.signal, limited);
    const reader = new StreamReader(res);
    await reader.until((t) => sseContent(t).includes('only'), 3000, 'the first content');
    expect(pushedCount() - before).toBe(1);
    // The slot is taken while the stream is open.
    const refused = await open('pushed', 'complete#limited-refused', undefined, limited);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('concurrency_exceeded');
    ac.abort();
    await reader.cancel();
    await within(closed.promise, 3000, 'the upstream connection to close after the client left');
    await rowOf(res.headers.get('x-request-id'));
    const next = await open('pushed', 'complete#limited-next', undefined, limited);
    expect(next.status).toBe(200);
    expect(await next.text()).toContain('data: [DONE]');
  });

  it('deliver the same frames and bill the same when the stream completes', async () => {
    const seen: Record<string, { text: string; row: ReturnType<typeof billed> }> = {};
    for (const path of ['pushed', 'iterated'] as const) {
      const res = await open(path, `complete#${path}`);
      expect(res.status).toBe(200);
      const text = await within(res.text(), 3000, 'the stream to end');
      seen[path] = { text: comparable(text), row: billed(await rowOf(res.headers.get('x-request-id'))) };
    }
    expect(sseContent(seen.pushed.text)).toBe('one two three fo\u00fcr \ud83d\ude42 five');
    expect(seen.pushed.text.endsWith('data: [DONE]\n\n')).toBe(true);
    // The closing usage frame carries the cost, settled before it was written.
    expect(seen.pushed.text).toMatch(/"usage":\{"prompt_tokens":21,"completion_tokens":7,"total_tokens":28,"cost":[0-9.]+\}/);
    expect(seen.pushed.text).toBe(seen.iterated.text);
    expect(seen.pushed.row).toEqual({ status: 200, prompt: 21, completion: 7, estimated: false, cost: seen.pushed.row.cost });
    expect(seen.pushed.row.cost).toBeGreaterThan(0);
    expect(seen.pushed.row).toEqual(seen.iterated.row);
  });

  it('end with one error event and bill what was delivered when the upstream breaks', async () => {
    const seen: Record<string, { text: string; row: ReturnType<typeof billed> }> = {};
    for (const path of ['pushed', 'iterated'] as const) {
      const res = await open(path, `reset#${path}`);
      const text = await within(res.text(), 3000, 'the broken stream to end');
      const events = sseEvents(text);
      expect(events.filter((e) => e.startsWith('data: {"error"')), path).toHaveLength(1);
      expect(events.at(-1)?.startsWith('data: {"error"')).toBe(true);
      expect(sseContent(text)).toBe('partial answer ');
      seen[path] = { text: comparable(text), row: billed(await rowOf(res.headers.get('x-request-id'))) };
    }
    expect(seen.pushed.row.status).toBe(502);
    expect(seen.pushed.row.completion).toBeGreaterThan(0);
    expect(seen.pushed.text).toBe(seen.iterated.text);
    expect(seen.pushed.row).toEqual(seen.iterated.row);
  });

  it('let the upstream go at once and bill the delivered part as 499 when the client leaves', async () => {
    const rows: Record<string, ReturnType<typeof billed>> = {};
    for (const path of ['pushed', 'iterated'] as const) {
      const prompt = `hold#${path}`;
      const closed = deferred();
      upstreamClosed.set(prompt, closed);
      const ac = new AbortController();
      const res = await open(path, prompt, ac.signal);
      const reader = new StreamReader(res);
      await reader.until((t) => sseContent(t).includes('only'), 3000, 'the first content');
      expect(closed.settled).toBe(false);
      ac.abort();
      await reader.cancel();
      await within(closed.promise, 3000, 'the upstream connection to close after the client left');
      rows[path] = billed(await rowOf(res.headers.get('x-request-id')));
    }
    expect(rows.pushed).toMatchObject({ status: 499, estimated: true });
    expect(rows.pushed.completion).toBeGreaterThan(0);
    expect(rows.pushed).toEqual(rows.iterated);
  });

  it.each([
    { upstream: 'HTTP/1.1', model: 'script-chat' },
    { upstream: 'HTTP/2', model: 'h2-chat' },
  ])('hold the upstream back ($upstream) while the client does not read, then deliver all of it', async ({ model }) => {
    for (const path of ['pushed', 'iterated'] as const) {
      const prompt = `big#${path}#${model}`;
      const blocked = deferred();
      const done = deferred();
      upstreamBlocked.set(prompt, blocked);
      upstreamDone.set(prompt, done);
      const body = JSON.stringify({ model, messages: [{ role: 'user', content: prompt }], stream: true });
      const { port } = new URL(gw.url);
      // A client that reads the headers, then nothing until told.
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...pathHeaders(path) } }, resolve);
        req.on('error', reject);
        req.end(body);
      });
      res.pause();
      await within(blocked.promise, 5000, 'the upstream to meet back-pressure');
      // More than the buffers hold is on its way; with the client reading nothing, the gateway must not take it all.
      const raced = await Promise.race([done.promise.then(() => 'finished'), new Promise<string>((r) => setTimeout(() => r('held'), 500))]);
      expect(raced, `${path}: the upstream finished while the client read nothing`).toBe('held');
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.resume();
      await within(new Promise((r) => res.on('end', r)), 30_000, 'the whole stream');
      await within(done.promise, 1000, 'the upstream to finish');
      expect(text.endsWith('data: [DONE]\n\n'), path).toBe(true);
      expect(sseContent(text).length).toBe(BIG_FRAMES * BIG_TEXT.length);
    }
  }, 120_000);
});

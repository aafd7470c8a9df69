// The HTTP transport's streaming body: chunks are handed from the client's handler to the reader
// through a queue that pauses the upstream socket when the reader falls behind. Whatever the
// pace of reading, every byte arrives once and in order; an abandoned body frees its connection.
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerSchema } from '../../src/config/schema.js';
import { ClientSignal } from '../../src/core/request-signal.js';
import { createHttpTransport, type Transport } from '../../src/routing/transport.js';

const CHUNK = 16 * 1024;
const CHUNKS = 512; // 8 MiB in all

function chunkAt(i: number): Buffer {
  return Buffer.alloc(CHUNK, i % 251);
}

let server: Server;
let url: string;
let transport: Transport;
const closedEarly: Array<() => void> = [];
const started: Array<() => void> = [];

beforeAll(async () => {
  server = createServer(async (_req, res) => {
    for (const f of started.splice(0)) f();
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.on('close', () => {
      if (!res.writableFinished) for (const f of closedEarly.splice(0)) f();
    });
    for (let i = 0; i < CHUNKS; i++) {
      if (res.destroyed) return;
      if (!res.write(chunkAt(i))) await new Promise((r) => res.once('drain', r).once('close', r));
    }
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/stream`;
  transport = createHttpTransport(providerSchema.parse({ id: 'up', type: 'openai', base_url: url, api_key: 'x' }));
});

afterAll(async () => {
  await transport.close();
  server.close();
});

const expected = (() => {
  const h = createHash('sha256');
  for (let i = 0; i < CHUNKS; i++) h.update(chunkAt(i));
  return h.digest('hex');
})();

describe('the streaming body of the undici transport', () => {
  it('delivers every byte once, in order, to a reader that falls far behind (the socket is paused and resumed)', async () => {
    const res = await transport.send({ url, method: 'POST', headers: {}, body: '{}' }, new AbortController().signal);
    expect(res.status).toBe(200);
    const h = createHash('sha256');
    let bytes = 0;
    let reads = 0;
    for await (const chunk of res.body) {
      h.update(chunk);
      bytes += chunk.byteLength;
      reads++;
      // A slow reader: many turns of the event loop per read, so chunks pile up in between.
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    }
    expect(bytes).toBe(CHUNK * CHUNKS);
    expect(h.digest('hex')).toBe(expected);
    // Chunks that arrived while the reader was busy came out together.
    expect(reads).toBeLessThan(CHUNKS);
  });

  it('delivers every byte to a reader that keeps up', async () => {
    const res = await transport.send({ url, method: 'POST', headers: {}, body: '{}' }, new AbortController().signal);
    const h = createHash('sha256');
    for await (const chunk of res.body) h.update(chunk);
    expect(h.digest('hex')).toBe(expected);
  });

  it('ends the upstream request when the body is discarded part-way', async () => {
    const closed = new Promise<void>((r) => closedEarly.push(r));
    const res = await transport.send({ url, method: 'POST', headers: {}, body: '{}' }, new AbortController().signal);
    const it = res.body[Symbol.asyncIterator]();
    await it.next();
    res.discard();
    await closed;
    await expect(it.next()).rejects.toBeDefined();
  });

  // The gateway's requests carry a ClientSignal; an AbortController's signal works the same.
  const signals = [
    {
      kind: 'ClientSignal',
      make: () => {
        const signal = new ClientSignal();
        return { signal, abort: (reason: unknown) => signal.abort(reason) };
      },
    },
    {
      kind: 'AbortController',
      make: () => {
        const ac = new AbortController();
        return { signal: ac.signal, abort: (reason: unknown) => ac.abort(reason) };
      },
    },
  ];

  it.each(signals)('ends the upstream request when the client aborts ($kind), and the reader sees the abort', async ({ make }) => {
    const closed = new Promise<void>((r) => closedEarly.push(r));
    const ac = make();
    const res = await transport.send({ url, method: 'POST', headers: {}, body: '{}' }, ac.signal);
    const it = res.body[Symbol.asyncIterator]();
    await it.next();
    ac.abort(new Error('client went away'));
    await closed;
    let err: unknown;
    for (;;) {
      try {
        const step = await it.next();
        if (step.done) break;
      } catch (e) {
        err = e;
        break;
      }
    }
    expect(err).toBeDefined();
  });

  it.each(signals)('ends a whole-answer request when the client aborts ($kind) while the answer comes, rejecting with the reason', async ({ make }) => {
    const begun = new Promise<void>((r) => started.push(r));
    const closed = new Promise<void>((r) => closedEarly.push(r));
    const ac = make();
    const answer = transport.sendForText!({ url, method: 'POST', headers: {}, body: '{}' }, ac.signal, 1 << 30);
    await begun;
    ac.abort(new Error('client went away'));
    await expect(answer).rejects.toThrow('client went away');
    await closed;
  });

  it('refuses a whole-answer request whose client already left, without sending it', async () => {
    const ac = new ClientSignal();
    ac.abort(new Error('gone before'));
    await expect(transport.sendForText!({ url, method: 'POST', headers: {}, body: '{}' }, ac, 1 << 30)).rejects.toThrow('gone before');
    await expect(transport.send({ url, method: 'POST', headers: {}, body: '{}' }, ac)).rejects.toThrow('gone before');
  });
});

describe('the origin of each upstream URL', () => {
  it('is remembered for URLs of the same origin, and parsed for any other', async () => {
    const { OriginMemo } = await import('../../src/routing/transport.js');
    const memo = new OriginMemo();
    expect(memo.of('http://127.0.0.1:808/v1/chat/completions')).toBe('http://127.0.0.1:808');
    expect(memo.of('http://127.0.0.1:808/v1/embeddings')).toBe('http://127.0.0.1:808');
    // A longer port that starts with the same digits is another origin.
    expect(memo.of('http://127.0.0.1:8080/v1/chat/completions')).toBe('http://127.0.0.1:8080');
    expect(memo.of('HTTPS://API.Example.COM:443/v1/x')).toBe('https://api.example.com');
    expect(memo.of('https://api.example.com/v1/y')).toBe('https://api.example.com');
    expect(memo.of('http://user:secret@127.0.0.1:8080/v1/z')).toBe('http://127.0.0.1:8080');
  });
});

describe('what a streamed body holds for a reader that is behind', () => {
  // The client's handler side of a body, driven by hand: each chunk as one socket read hands it.
  async function reader() {
    const { StreamReader } = await import('../../src/routing/transport.js');
    const idle = { add: () => undefined, delete: () => undefined };
    const r = new StreamReader(idle as never, new ClientSignal(), 'up', undefined);
    const controller = { paused: false, pauses: 0, resumes: 0, abort: () => undefined, pause() { this.paused = true; this.pauses++; }, resume() { this.paused = false; this.resumes++; } };
    r.onRequestStart(controller);
    r.onResponseStart(controller, 200, {});
    return { r, controller };
  }

  it('pauses the upstream once it holds HIGH_WATER_BYTES, however few chunks that is, and hands it all on in order', async () => {
    const { HIGH_WATER_BYTES, HIGH_WATER_CHUNKS } = await import('../../src/routing/transport.js');
    const { r, controller } = await reader();
    const read = 64 * 1024;
    const reads = Math.ceil(HIGH_WATER_BYTES / read);
    expect(reads).toBeLessThan(HIGH_WATER_CHUNKS);
    for (let i = 0; i < reads; i++) {
      expect(controller.paused).toBe(false);
      r.onResponseData(controller, Buffer.alloc(read, i));
    }
    expect(controller.pauses).toBe(1);
    const step = await r.next();
    const chunk = step.value as Buffer;
    expect(chunk.byteLength).toBe(reads * read);
    for (let i = 0; i < reads; i++) expect(chunk[i * read]).toBe(i);
    // Taken: the upstream may send again.
    expect(controller.paused).toBe(false);
    expect(controller.resumes).toBe(1);
  });

  it('pauses the upstream at HIGH_WATER_CHUNKS small chunks', async () => {
    const { HIGH_WATER_CHUNKS } = await import('../../src/routing/transport.js');
    const { r, controller } = await reader();
    for (let i = 0; i < HIGH_WATER_CHUNKS - 1; i++) r.onResponseData(controller, Buffer.from('data: {}\n\n'));
    expect(controller.paused).toBe(false);
    r.onResponseData(controller, Buffer.from('data: {}\n\n'));
    expect(controller.paused).toBe(true);
    expect(((await r.next()).value as Buffer).toString()).toBe('data: {}\n\n'.repeat(HIGH_WATER_CHUNKS));
  });
});

// CPU time and V8 heap bytes per relayed stream chunk, in-process and load-independent: N
// OpenAI `chat.completion.chunk` events (one token each) go through the stream path of a Chat
// Completions client on the native lane, with no sockets: openStream (first-token commit) ▸ the
// OpenAI stream translator (SSE parser) ▸ relayStream (estimate text, spool checkpoints,
// settlement, closing usage frame with its cost) ▸ StreamRegistry (the SSE writer) into a
// ServerResponse stand-in. Also each layer alone, a translated lane (OpenAI upstream, Messages
// client) and, with --socket, the same relay over real sockets: undici to a local upstream, the
// SSE writer to a local client, both in a peer process whose CPU is not counted; that figure
// includes the relay's syscalls and is printed beside a bare byte relay's (the floor of any
// Node relay on this machine). CPU: back-to-back runs, median; bytes: a collection before each
// window and none inside it.
//
// Run: npx tsx bench/stream-chunks.ts [--quick] [--socket] [--only translator|relay|full|translated|none] [--runs N]
// (re-runs itself under node --expose-gc with a 64 MB young generation)
import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { Agent, createServer, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { request as undiciRequest } from 'undici';
import { openStream, RelayFrames, type RelayOptions, relayStream, type StreamStart } from '../src/core/stream-relay.js';
import { StreamRegistry } from '../src/http/sse.js';
import { createOpenAIStreamTranslator } from '../src/providers/openai/stream.js';
import type { AdapterContext, StreamTranslator } from '../src/providers/types.js';
import type { ChannelRuntime } from '../src/routing/channels.js';
import { createHttpTransport, type UpstreamResponse } from '../src/routing/transport.js';
import { ChatStreamEncoder } from '../src/surfaces/chat/encode-stream.js';
import { MessagesStreamEncoder } from '../src/surfaces/messages/encode-stream.js';
import type { StreamEncoder } from '../src/surfaces/types.js';

type Gc = () => void;
const gc = (globalThis as { gc?: Gc }).gc;
const isPeer = process.argv.includes('--peer');
if (!gc && !isPeer) {
  const r = spawnSync(process.execPath, ['--expose-gc', '--min-semi-space-size=64', '--max-semi-space-size=64', '--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const quick = process.argv.includes('--quick');
const withSocket = process.argv.includes('--socket');
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const N = quick ? 1000 : 4000;
const RUNS = process.argv.includes('--runs') ? Number(process.argv[process.argv.indexOf('--runs') + 1]) : quick ? 3 : 11;

const UPSTREAM_MODEL = 'gpt-4o-mini-2024-07-18';
const PUBLIC_MODEL = 'fast';
const WORDS = ['The', ' gateway', ' relays', ' every', ' token', ' as', ' it', ' comes', ',', ' and', ' bills', ' it', ' exactly', '.', ' Ça', ' marche', ' 🙂', '\n'];

function eventText(i: number): string {
  return `data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,"model":"${UPSTREAM_MODEL}","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":${JSON.stringify(WORDS[i % WORDS.length])}},"logprobs":null,"finish_reason":null}]}\n\n`;
}

/** The upstream body of one stream of `n` tokens, cut into network reads of `perRead` events. */
function upstreamReads(n: number, perRead: number): Uint8Array[] {
  const events: string[] = [`data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,"model":"${UPSTREAM_MODEL}","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}\n\n`];
  for (let i = 0; i < n; i++) events.push(eventText(i));
  events.push(`data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,"model":"${UPSTREAM_MODEL}","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n`);
  events.push(`data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,"model":"${UPSTREAM_MODEL}","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":${n},"total_tokens":${12 + n},"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}\n\n`);
  events.push('data: [DONE]\n\n');
  const reads: Uint8Array[] = [];
  for (let i = 0; i < events.length; i += perRead) reads.push(Buffer.from(events.slice(i, i + perRead).join('')));
  return reads;
}

const ctxFor = (native: boolean): AdapterContext =>
  ({ provider: { id: 'openai' }, model: { id: PUBLIC_MODEL }, upstreamModel: UPSTREAM_MODEL, stream: true, requestId: 'req_bench', native }) as unknown as AdapterContext;

const facts = { model: PUBLIC_MODEL, fallbacks: [], stream: true, maxOutputTokens: undefined, n: 1, relayUsageFrames: true };
const info = (native: boolean) => ({ requestId: 'req_bench', model: PUBLIC_MODEL, created: 1741569952, native, request: { canonical: { model: PUBLIC_MODEL, messages: [] }, native: undefined, forwardHeaders: {}, facts } }) as never;

/** Reads between two turns of the event loop: a real stream's reads come in separate I/O callbacks. */
const READS_PER_TURN = 64;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * An upstream body that hands out prepared reads the way undici's iterator does (one promise
 * each), letting the event loop turn every READS_PER_TURN reads so that the relay's deferred
 * checkpoints (written after the I/O at hand) are taken as on a socket.
 */
function bodyOf(reads: Uint8Array[]): UpstreamResponse {
  let i = 0;
  const iterator: AsyncIterableIterator<Uint8Array> = {
    next: async () => {
      if (i > 0 && i % READS_PER_TURN === 0) await nextTurn();
      return i < reads.length ? { done: false, value: reads[i++]! } : { done: true, value: undefined };
    },
    return: () => Promise.resolve({ done: true, value: undefined }),
    [Symbol.asyncIterator]: () => iterator,
  };
  return { status: 200, headers: {}, body: iterator, discard() {} };
}

function channelFor(send: () => Promise<UpstreamResponse>): ChannelRuntime {
  return { transport: { send, close: async () => {} }, adapter: { mapError: () => new Error('unexpected') }, provider: { id: 'openai' } } as unknown as ChannelRuntime;
}

let checkpoints = 0;
function relayOptions(encoder: StreamEncoder, signal: AbortSignal): RelayOptions {
  return {
    encoder,
    relayUsageFrames: true,
    signal,
    countPrompt: () => 12,
    approximatePrompt: () => 12,
    finish: () => 1234,
    checkpoint: () => {
      checkpoints++;
    },
    onBrokenAfterCommit() {},
  };
}

/** A ServerResponse stand-in that keeps only the byte count. */
class NullResponse {
  bytes = 0;
  destroyed = false;
  socket = undefined;
  writeHead() {
    return this;
  }
  write(s: string) {
    this.bytes += s.length;
    return true;
  }
  end() {}
  on() {
    return this;
  }
  off() {
    return this;
  }
}

interface Layer {
  name: string;
  /** one whole stream of N token events, from prepared reads */
  run(reads: Uint8Array[]): Promise<number>;
}

const makeTranslator = (native: boolean) => (ctx: AdapterContext): StreamTranslator => createOpenAIStreamTranslator({ ...ctx, native });

const LAYERS: Record<string, Layer> = {
  translator: {
    name: 'translator only (SSE parse + chunk read + model rename)',
    async run(reads) {
      const t = createOpenAIStreamTranslator(ctxFor(true));
      let n = 0;
      for (const r of reads) n += t.push(r).length;
      n += t.end().length;
      return n;
    },
  },
  relay: {
    name: 'openStream + translator + relayStream (frames consumed by for-await)',
    async run(reads) {
      const ac = new AbortController();
      const start: StreamStart = await openStream(channelFor(async () => bodyOf(reads)), ctxFor(true), {} as never, ac.signal, makeTranslator(true));
      let bytes = 0;
      for await (const s of relayStream(start, relayOptions(new ChatStreamEncoder(info(true), facts), ac.signal))) bytes += s.length;
      return bytes;
    },
  },
  full: {
    name: 'openStream + translator + relayStream + StreamRegistry writer',
    async run(reads) {
      const ac = new AbortController();
      const start = await openStream(channelFor(async () => bodyOf(reads)), ctxFor(true), {} as never, ac.signal, makeTranslator(true));
      const res = new NullResponse();
      await registry.pipe(res as unknown as ServerResponse, 200, {}, relayStream(start, relayOptions(new ChatStreamEncoder(info(true), facts), ac.signal)), (r) => ac.abort(r));
      return res.bytes;
    },
  },
  translated: {
    name: 'translated lane: OpenAI upstream → Messages client, full writer path',
    async run(reads) {
      const ac = new AbortController();
      const start = await openStream(channelFor(async () => bodyOf(reads)), ctxFor(false), {} as never, ac.signal, makeTranslator(false));
      const res = new NullResponse();
      await registry.pipe(res as unknown as ServerResponse, 200, {}, relayStream(start, relayOptions(new MessagesStreamEncoder(info(false)), ac.signal)), (r) => ac.abort(r));
      return res.bytes;
    },
  },
};

const registry = new StreamRegistry(15_000);

let seen = 0;
const obs = new PerformanceObserver((list) => {
  seen += list.getEntries().length;
});
obs.observe({ entryTypes: ['gc'] });
const collections = () => {
  seen += obs.takeRecords().length;
  return seen;
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const settle = () => new Promise((r) => setImmediate(r));

async function measure(layer: Layer, perRead: number): Promise<{ us: number; bytes: number; gcs: number }> {
  const reads = upstreamReads(N, perRead);
  for (let i = 0; i < 3; i++) await layer.run(upstreamReads(N, perRead));
  // CPU: back-to-back runs with no forced collection in between (a full collection also drops
  // compiled regular expressions and code, which would then be rebuilt inside the window).
  const us: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.cpuUsage();
    await layer.run(reads);
    const t = process.cpuUsage(t0);
    us.push((t.user + t.system) / N);
  }
  // Bytes: a collection before each window, none inside it.
  const bytes: number[] = [];
  let gcs = 0;
  for (let r = 0; r < 3; r++) {
    gc?.();
    gc?.();
    await settle();
    const c0 = collections();
    const h0 = v8.getHeapStatistics().used_heap_size;
    await layer.run(reads);
    const h1 = v8.getHeapStatistics().used_heap_size;
    gcs += collections() - c0;
    bytes.push((h1 - h0) / N);
  }
  return { us: median(us), bytes: median(bytes), gcs };
}

/**
 * The socket path's peer, in its own process so that its CPU is not counted: a local upstream
 * and a client in lock-step. The upstream writes `perRead` token events, then waits until the
 * client has received as many frames, so each write reaches the relay as one network read.
 */
function runPeer(): void {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let reads: Uint8Array[] = [];
  let perRead = 1;
  let write: (() => void) | undefined;
  const upstream = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let i = 0;
    write = () => {
      // The last reads (finish, usage, [DONE]) bring no frame of their own until the end.
      if (i >= reads.length - 3) {
        while (i < reads.length) res.write(reads[i++]);
        res.end();
        return;
      }
      res.write(reads[i++]);
    };
    write();
  });
  upstream.listen(0, '127.0.0.1', () => process.send?.({ kind: 'ready', url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/` }));
  process.on('message', (msg: { kind: string; url?: string; perRead?: number; n?: number }) => {
    if (msg.kind === 'exit') process.exit(0);
    perRead = msg.perRead ?? 1;
    reads = upstreamReads(msg.n ?? N, 1);
    // Regroup: the role chunk goes with the first token (the relay commits on content).
    const grouped: Uint8Array[] = [Buffer.concat([reads[0], ...reads.slice(1, 1 + perRead)])];
    for (let i = 1 + perRead; i < reads.length - 3; i += perRead) grouped.push(Buffer.concat(reads.slice(i, Math.min(i + perRead, reads.length - 3))));
    reads = [...grouped, ...reads.slice(-3)];
    const req = httpRequest(msg.url as string, { method: 'POST', agent }, (res) => {
      let frames = 0;
      let next = perRead;
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        for (let at = text.indexOf('\n\n'); at !== -1; at = text.indexOf('\n\n', at + 2)) frames++;
        if (frames >= next) {
          next += perRead;
          write?.();
        }
      });
      res.on('end', () => process.send?.({ kind: 'done', frames }));
    });
    req.end('{}');
  });
}

/**
 * A relay over real sockets as the gateway serves a stream: the peer's upstream ▸ undici ▸
 * openStream ▸ RelayFrames pushed into the StreamRegistry writer ▸ the peer's client.
 */
async function measureSocket(perRead: number, peer: ChildProcess, upstreamUrl: string): Promise<{ us: number; floor: number }> {
  const provider = { id: 'openai', connections: 16, max_in_flight: 16, http2: false, timeouts: { connect_ms: 5000, first_byte_ms: 30_000, idle_ms: 30_000, request_ms: 60_000 } };
  const transport = createHttpTransport(provider as never);
  const channel = { transport, adapter: { mapError: () => new Error('unexpected') }, provider } as unknown as ChannelRuntime;
  const gateway = createServer(async (_req, res) => {
    const ac = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    const start = await openStream(channel, ctxFor(true), { method: 'POST', url: upstreamUrl, headers: {}, body: '{}' }, ac.signal, makeTranslator(true));
    await registry.pipe(res, 200, {}, new RelayFrames(start, relayOptions(new ChatStreamEncoder(info(true), facts), ac.signal)), (r) => ac.abort(r));
  });
  // The floor of any relay: undici's body bytes written to the client as they come, nothing else.
  const bare = createServer(async (_req, res) => {
    const up = await undiciRequest(upstreamUrl, { method: 'POST', body: '{}' });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.socket?.setNoDelay(true);
    up.body.on('data', (b: Buffer) => res.write(b));
    up.body.on('end', () => res.end());
  });
  const listen = async (server: ReturnType<typeof createServer>) => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  };
  const gatewayUrl = await listen(gateway);
  const bareUrl = await listen(bare);
  const stream = (url: string) =>
    new Promise<void>((resolve) => {
      peer.once('message', () => resolve());
      peer.send({ kind: 'run', url, perRead, n: N });
    });
  const time = async (url: string) => {
    for (let i = 0; i < 2; i++) await stream(url);
    const us: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = process.cpuUsage();
      await stream(url);
      const t = process.cpuUsage(t0);
      us.push((t.user + t.system) / N);
    }
    return median(us);
  };
  const us = await time(gatewayUrl);
  const floor = await time(bareUrl);
  await transport.close();
  await new Promise((r) => gateway.close(r));
  await new Promise((r) => bare.close(r));
  return { us, floor };
}

async function main(): Promise<void> {
  console.log(`${N} token events per stream, CPU: median of ${RUNS} runs, bytes: median of 3; per token event: process CPU µs, V8 heap bytes allocated (collections seen in the windows)`);
  for (const perRead of [1, 8]) {
    console.log(`\n${perRead === 1 ? 'one event per network read' : `${perRead} events per network read`}`);
    for (const [key, layer] of Object.entries(LAYERS)) {
      if (only && key !== only) continue;
      const m = await measure(layer, perRead);
      console.log(`  ${layer.name.padEnd(72)} ${m.us.toFixed(2).padStart(7)} µs ${Math.round(m.bytes).toString().padStart(6)} B${m.gcs ? ` (${m.gcs} collections: bytes undercounted)` : ''}`);
    }
  }
  if (!only && checkpoints === 0) throw new Error('no checkpoint was taken: the bench does not exercise the relay');
  if (withSocket) {
    console.log('\nsocket path, this process only (peer upstream and client in another process, in lock-step: one upstream write per network read)');
    const peer = fork(fileURLToPath(import.meta.url), ['--peer'], { execArgv: ['--import', 'tsx'] });
    const ready = await new Promise<{ url: string }>((r) => peer.once('message', r));
    for (const perRead of [1, 8]) {
      const m = await measureSocket(perRead, peer, ready.url);
      console.log(`  ${perRead} event(s) per read: through the relay ${m.us.toFixed(2)} µs; a bare byte relay (undici body to the client, nothing else) ${m.floor.toFixed(2)} µs`);
    }
    peer.send({ kind: 'exit' });
  }
  obs.disconnect();
}

if (isPeer) runPeer();
else await main();

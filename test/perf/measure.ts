// Measures, in-process and with no timing in the result that matters, what one request costs
// the gateway's request thread: bytes allocated on the V8 heap, and blocking calls (synchronous
// file-system calls and SQLite statements). The gateway runs in gateway-child.ts; this side
// serves the upstream and sends a fixed number of requests per window, one at a time (or, in the
// concurrent scenario, several at a time, where answers finishing in one event-loop turn share
// one spool write).
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { startMockUpstream } from '../../src/providers/mock/http-server.js';

export interface Figures {
  /** V8 heap bytes allocated on the request thread per request (median of the windows). */
  bytesPerRequest: number;
  /** Synchronous file-system calls plus SQLite statements on the request thread, per request. */
  blockingCallsPerRequest: number;
  /** For the reader only, never compared: event-loop busy time and process CPU per request. */
  info: { activeUsPerRequest: number; cpuUsPerRequest: number };
}

export interface Scenario {
  name: string;
  body: Record<string, unknown>;
  /** Requests in flight at once (1 when absent). */
  concurrency?: number;
}

export const SCENARIOS: Scenario[] = [
  { name: 'chat non-stream', body: { model: 'perf-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64 } },
  { name: 'chat stream', body: { model: 'perf-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64, stream: true } },
  { name: 'chat non-stream, 16 at once', body: { model: 'perf-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64 }, concurrency: 16 },
];

/** The most requests any scenario has in flight at once. */
const MAX_CONCURRENCY = Math.max(...SCENARIOS.map((s) => s.concurrency ?? 1));

interface Window {
  allocated: number;
  collections: number;
  fs: number;
  sqlite: number;
  tokenizer: boolean;
  undici: boolean;
  activeMs: number;
  cpuMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface Measured {
  scenarios: Record<string, Figures>;
  /** Packages the configuration does not use, and modules meant to load on first use, loaded at start anyway. */
  loadedUnused: string[];
  /** Whether the tokenizer had been loaded by the end (every answer here carries the upstream's count). */
  tokenizerLoaded: boolean;
  /** Whether undici had been loaded by the end (the upstream speaks plain HTTP/1.1). */
  undiciLoaded: boolean;
}

export async function measure(opts: { requests?: number; warmup?: number; windows?: number } = {}): Promise<Measured> {
  const requests = opts.requests ?? 100;
  const warmup = opts.warmup ?? 200;
  const windows = opts.windows ?? 3;
  const upstream = await startMockUpstream({ port: 0, settings: { tokensPerSecond: 0, faults: undefined, memo: new Map() } });
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-perf-'));
  // A young generation of 64 MB: a window of a few hundred requests allocates far less, so
  // no collection runs inside it and the heap's growth is what the requests allocated.
  const child = fork(fileURLToPath(new URL('./gateway-child.ts', import.meta.url)), [upstream.url, dir], {
    execArgv: ['--expose-gc', '--min-semi-space-size=64', '--max-semi-space-size=64', '--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const replies: Array<(msg: Record<string, unknown>) => void> = [];
  child.on('message', (msg: Record<string, unknown>) => replies.shift()?.(msg));
  const next = () => new Promise<Record<string, unknown>>((resolve) => replies.push(resolve));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`the measured gateway exited (${code})`))));
  const ask = (kind: string) => {
    const reply = next();
    child.send({ kind });
    return Promise.race([reply, exited]);
  };
  let pool: Pool | undefined;
  try {
    const ready = (await Promise.race([next(), exited])) as { url: string; key: string; loadedUnused: string[] };
    pool = new Pool(ready.url, { connections: MAX_CONCURRENCY });
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${ready.key}` };
    const sendOneByOne = async (body: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const res = await pool!.request({ path: '/v1/chat/completions', method: 'POST', headers, body });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`request failed: ${res.statusCode} ${text}`);
      }
    };
    /** n requests, `concurrency` of them in flight at a time. */
    const send = async (body: string, n: number, concurrency: number) => {
      const each = Math.floor(n / concurrency);
      await Promise.all(Array.from({ length: concurrency }, (_, i) => sendOneByOne(body, i < n % concurrency ? each + 1 : each)));
    };
    const out: Record<string, Figures> = {};
    let tokenizerLoaded = false;
    let undiciLoaded = false;
    for (const sc of SCENARIOS) {
      const body = JSON.stringify(sc.body);
      const concurrency = sc.concurrency ?? 1;
      await send(body, warmup, concurrency);
      const seen: Window[] = [];
      while (seen.length < windows) {
        await ask('mark');
        await send(body, requests, concurrency);
        const w = (await ask('read')) as unknown as Window;
        if (w.collections > 0) throw new Error(`a garbage collection ran inside a measuring window (${sc.name}); the window allocates too much for the young generation: ${JSON.stringify(w)}`);
        seen.push(w);
        tokenizerLoaded ||= w.tokenizer;
        undiciLoaded ||= w.undici;
      }
      out[sc.name] = {
        bytesPerRequest: Math.round(median(seen.map((w) => w.allocated)) / requests),
        blockingCallsPerRequest: Number((median(seen.map((w) => w.fs + w.sqlite)) / requests).toFixed(3)),
        info: {
          activeUsPerRequest: Math.round((median(seen.map((w) => w.activeMs)) * 1000) / requests),
          cpuUsPerRequest: Math.round((median(seen.map((w) => w.cpuMs)) * 1000) / requests),
        },
      };
    }
    await ask('stop').catch(() => undefined);
    return { scenarios: out, loadedUnused: ready.loadedUnused, tokenizerLoaded, undiciLoaded };
  } finally {
    await pool?.close();
    if (child.exitCode === null) child.kill('SIGKILL');
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

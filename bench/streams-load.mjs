// Load generator for bench/streams-10k.mjs, run in its own process: opens `streams` streaming
// chat requests at an even pace over `rampMs`, holds them all open, and prints one JSON line:
// completed / errored counts, first-byte times (request sent to the first body bytes, which
// carry the first token), SSE frames received, the time all were open, and wall time.
//   node bench/streams-load.mjs '<json: {url, key, body, streams, rampMs}>'
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';

const { url, key, body, streams, rampMs } = JSON.parse(process.argv[2]);
const dispatcher = new Agent({ connections: null, pipelining: 1, keepAliveTimeout: 120_000, headersTimeout: 0, bodyTimeout: 0, connect: { timeout: 60_000 } });
const payload = JSON.stringify(body);
const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

const firstByte = [];
const errors = new Map();
let completed = 0;
let frames = 0;
let opened = 0;
let allOpenAt = 0;
const fail = (why) => errors.set(why, (errors.get(why) ?? 0) + 1);

/** Counts "data: " frame starts in a chunk (frames are never split inside that prefix often enough to matter). */
function countFrames(buf) {
  let n = 0;
  let at = buf.indexOf('data: ');
  while (at !== -1) {
    n++;
    at = buf.indexOf('data: ', at + 6);
  }
  return n;
}

async function one() {
  const t0 = performance.now();
  try {
    const res = await request(url, { method: 'POST', headers, body: payload, dispatcher });
    if (res.statusCode !== 200) {
      fail(`HTTP ${res.statusCode}: ${(await res.body.text()).slice(0, 160)}`);
      return;
    }
    let first = true;
    let tail = '';
    for await (const chunk of res.body) {
      if (first) {
        firstByte.push(performance.now() - t0);
        first = false;
        if (++opened === streams) {
          allOpenAt = performance.now();
          // The parent measures the steady state from here (every stream open).
          console.log('all open');
        }
      }
      const text = chunk.toString('latin1');
      frames += countFrames(text);
      tail = (tail + text).slice(-32);
    }
    if (tail.endsWith('data: [DONE]\n\n')) completed++;
    else fail(`ended without [DONE]: ${JSON.stringify(tail)}`);
  } catch (err) {
    fail(`${err.code ?? err.name}: ${err.message}`.slice(0, 160));
  }
}

const started = performance.now();
const pending = [];
for (let i = 0; i < streams; i++) {
  const due = started + (rampMs * i) / streams;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  pending.push(one());
}
await Promise.all(pending);
const wallMs = performance.now() - started;
firstByte.sort((a, b) => a - b);
const pct = (p) => (firstByte.length ? firstByte[Math.min(firstByte.length - 1, Math.floor((p / 100) * firstByte.length))] : Number.NaN);
console.log(
  JSON.stringify({
    streams,
    completed,
    errored: streams - completed,
    errors: Object.fromEntries(errors),
    firstByteMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: firstByte.at(-1) ?? Number.NaN },
    frames,
    allOpenMs: allOpenAt ? allOpenAt - started : null,
    wallMs,
  }),
);
await dispatcher.close();

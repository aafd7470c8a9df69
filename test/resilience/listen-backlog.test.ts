// A burst of connections while the event loop is busy: the kernel completes them into the
// listening socket's accept queue, and the gateway takes them when it gets to them. With Node's
// default backlog (511), the connections past it have their SYNs dropped and wait out TCP's
// retransmission back-off (1 s, then 3 s, 7 s…) before they can even send a request.
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LISTEN_BACKLOG } from '../../src/main.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const BURST = 1000;

/** The kernel's cap on any listen backlog; the burst must fit under it to show anything. */
function somaxconn(): number {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  } catch {
    return 0;
  }
}
const cap = somaxconn();
if (cap <= BURST) console.warn(`listen-backlog: skipped, net.core.somaxconn is ${cap || 'unreadable'} (needs more than ${BURST})`);

// Runs in a worker thread, which keeps its own event loop while the test's (and the gateway's)
// is blocked: opens the burst and reports how many connections completed, once all of them have
// or after 2.5 s (past the first SYN retransmission at 1 s: a dropped SYN stays dropped while the
// queue stays full).
const BURST_WORKER = `
const { connect } = require('node:net');
const { workerData } = require('node:worker_threads');
const { port, burst, shared } = workerData;
const state = new Int32Array(shared);
const sockets = [];
let connected = 0;
const report = () => {
  Atomics.store(state, 1, connected);
  Atomics.store(state, 0, 1);
  Atomics.notify(state, 0);
  setTimeout(() => { for (const s of sockets) s.destroy(); }, 200);
};
const giveUp = setTimeout(report, 2500);
for (let i = 0; i < burst; i++) {
  const s = connect({ port, host: '127.0.0.1' });
  s.on('error', () => {});
  s.on('connect', () => {
    if (++connected === burst) { clearTimeout(giveUp); report(); }
  });
  sockets.push(s);
}
`;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

describe('a burst of connections while the event loop is busy', () => {
  it.skipIf(cap <= BURST)(`queues ${BURST} connections in the kernel until the gateway takes them`, async () => {
    const port = Number(new URL(gw.url).port);
    const shared = new SharedArrayBuffer(8);
    const state = new Int32Array(shared);
    const worker = new Worker(BURST_WORKER, { eval: true, workerData: { port, burst: BURST, shared } });
    // Busy: this thread (the gateway's) accepts nothing until the worker has its answer.
    const woke = Atomics.wait(state, 0, 0, 10_000);
    const connected = Atomics.load(state, 1);
    await worker.terminate();
    expect(woke).not.toBe('timed-out');
    expect(connected).toBe(BURST);
    // And it serves again once it gets to them.
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });

  it('is the accept queue docs/deployment.md states', () => {
    const doc = readFileSync(new URL('../../docs/deployment.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
    expect(doc).toContain(`an accept queue of ${LISTEN_BACKLOG} connections`);
  });
});

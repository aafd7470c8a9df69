// SPEC §9 (and §6 "Cache hits are free") under concurrency: identical cacheable requests that
// miss together share one upstream call. The upstream holds every answer until the test opens
// its gate, which it does once all the requests have reached the gateway's coalescing step,
// so "concurrent" does not depend on timing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { completionBody, type Deferred, deferred, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';
import { type Answer, ask, cacheable, type CoalesceTap, gatewayConfig, serverResponseClosed, tapCacheWrites, tapCoalesce, usageRows, type WriteTap } from './support.js';

let upstream: ScriptedUpstream;
let gw: TestGateway;
let coalesce: CoalesceTap;
let writes: WriteTap;
let mk: string;
let key: string;

/** Opened by the test; every upstream answer waits for it. */
let gate: Deferred<void> = deferred();
/** Resolved when the upstream receives a chat call. */
let reached: Deferred<void> = deferred();
let answered = 0;

beforeAll(async () => {
  upstream = await startScriptedUpstream(async (_req, res) => {
    reached.resolve();
    await gate.promise;
    const body = completionBody(`shared answer #${++answered}`, { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  gw = await startTestGateway({ raw: gatewayConfig(upstream.url) });
  coalesce = tapCoalesce(gw);
  writes = tapCacheWrites(gw);
  ({ mk } = await gw.createOrg(10));
  key = (await gw.createKey(mk, { rpm: 10_000 })).key;
});

afterAll(async () => {
  gate.resolve();
  await gw?.close();
  await upstream?.close();
});

const chatCalls = () => upstream.requests.filter((r) => r.path.endsWith('/chat/completions')).length;

describe('SPEC §9 caching: identical concurrent misses are coalesced into one upstream call', () => {
  it('100 identical concurrent cacheable requests: one upstream call, 100 × 200 with the same answer, one paid usage row and 99 free hit rows', async () => {
    gate = deferred();
    reached = deferred();
    const calls = chatCalls();
    const joined = coalesce.joined;
    const body = cacheable('Coalesce one hundred identical questions.');
    const pending = Promise.all(Array.from({ length: 100 }, () => ask(gw.url, key, body)));
    try {
      await coalesce.reached(joined + 100);
    } finally {
      gate.resolve();
    }
    const answers: Answer[] = await pending;

    expect(chatCalls() - calls).toBe(1);
    expect(answers.map((a) => a.status)).toEqual(Array(100).fill(200));
    const contents = new Set(answers.map((a) => a.content));
    expect([...contents]).toEqual([`shared answer #${answered}`]);
    expect(answers.filter((a) => a.cache === 'MISS')).toHaveLength(1);
    const hits = answers.filter((a) => a.cache === 'HIT');
    expect(hits).toHaveLength(99);
    expect(hits.every((a) => a.cacheType === 'exact')).toBe(true);

    await flushed(gw);
    const ids = new Set(answers.map((a) => a.requestId));
    const rows = (await usageRows(gw, mk)).filter((r) => ids.has(r.request_id));
    expect(rows).toHaveLength(100);
    const paid = rows.filter((r) => !r.cached);
    expect(paid).toHaveLength(1);
    expect(paid[0].cost_usd).toBeGreaterThan(0);
    const free = rows.filter((r) => r.cached);
    expect(free).toHaveLength(99);
    for (const r of free) expect(r).toMatchObject({ cache_type: 'exact', cost_usd: 0, status: 200, prompt_tokens: 11, completion_tokens: 7 });
  });

  it("the leader's client disconnecting does not fail the requests that joined it, and its answer is still stored", async () => {
    gate = deferred();
    reached = deferred();
    const calls = chatCalls();
    const body = cacheable('Coalesce behind a leader that hangs up.');
    const leaderId = `leader-${randomUUID()}`;
    const leaderClosed = serverResponseClosed(gw, leaderId);
    const hangUp = new AbortController();
    const leader = ask(gw.url, key, body, { 'x-request-id': leaderId }, hangUp.signal).then(
      () => 'answered',
      (err: Error) => err.name,
    );
    await reached.promise;
    const joined = coalesce.joined;
    const followers = Promise.all(Array.from({ length: 20 }, () => ask(gw.url, key, body)));
    try {
      await coalesce.reached(joined + 20);
      hangUp.abort();
      await leaderClosed;
    } finally {
      gate.resolve();
    }
    expect(await leader).toBe('AbortError');
    const answers = await followers;
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(new Set(answers.map((a) => a.content))).toEqual(new Set([`shared answer #${answered}`]));
    expect(answers.every((a) => a.cache === 'HIT' && a.cacheType === 'exact')).toBe(true);
    expect(chatCalls() - calls).toBe(1);

    await writes.settled();
    const later = await ask(gw.url, key, body);
    expect(later).toMatchObject({ status: 200, cache: 'HIT', cacheType: 'exact', content: `shared answer #${answered}` });
    expect(chatCalls() - calls).toBe(1);
  });
});

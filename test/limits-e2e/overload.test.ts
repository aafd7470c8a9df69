// SPEC §7 overload: past `server.max_in_flight`, new /v1 requests get 503 overloaded with
// Retry-After while the streams already open carry on to [DONE].
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, expectError, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { sseContent, StreamReader } from '../helpers/sse.js';

let gw: TestGateway;
let key: string;
let mk: string;

beforeAll(async () => {
  gw = await startTestGateway({
    raw: {
      // Only the in-flight limit sheds here; a slow CI scheduler must not trip the lag limit.
      server: { max_in_flight: 2, max_event_loop_lag_ms: 600_000 },
      limits: { key_rpm: null },
      cache: { exact: { enabled: false } },
    },
  });
  const org = await gw.createOrg(10);
  mk = org.mk;
  key = (await gw.createKey(mk)).key;
});

afterAll(async () => {
  await gw?.close();
});

const WORDS = 12;
/** A stream of WORDS words at 10 tokens/s: about 1.3 s of output. */
async function openSlowStream(i: number): Promise<StreamReader> {
  const res = await chat(gw.url, key, { model: 'mock-chat', stream: true, messages: [{ role: 'user', content: `slow stream ${i}` }] }, { 'x-mock-fault': 'tps=10', 'x-mock-words': String(WORDS) });
  if (res.status !== 200) throw new Error(`stream ${i}: ${res.status} ${await res.text()}`);
  const reader = new StreamReader(res);
  // Committed and producing: the first content chunk has arrived.
  await reader.until((t) => sseContent(t).length > 0, 5000, `the first content of stream ${i}`);
  return reader;
}

describe('SPEC §7 overload: past server.max_in_flight new requests get 503 overloaded; open streams continue', () => {
  it('answers a third request 503 overloaded with Retry-After while two long streams are open, and both streams finish with [DONE]', async () => {
    const streams = await Promise.all([openSlowStream(1), openSlowStream(2)]);

    const third = await chat(gw.url, key, { model: 'mock-chat', messages: [{ role: 'user', content: 'one too many' }] });
    const retryAfter = third.headers.get('retry-after');
    const err = await expectError(third, 503, 'overloaded');
    expect(err.type).toBe('upstream_error');
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(third.headers.get('x-request-id')).toBeTruthy();

    // A stream request is shed the same way, before it opens.
    await expectError(await chat(gw.url, key, { model: 'mock-chat', stream: true, messages: [{ role: 'user', content: 'another' }] }, { 'x-mock-fault': 'tps=10' }), 503, 'overloaded');
    // Shed requests hold no slot: still refused, not queued.
    await expectError(await chat(gw.url, key, { model: 'mock-chat', messages: [{ role: 'user', content: 'and another' }] }), 503, 'overloaded');
    // Shedding is for inference traffic; the account API keeps answering.
    expect((await fetch(`${gw.url}/api/balance`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);

    // The refusals came while both streams were still open...
    for (const s of streams) expect(s.done).toBe(false);
    // ...and both run to their normal end.
    const texts = await Promise.all(streams.map((s) => s.rest(10_000)));
    for (const t of texts) {
      expect(t).toContain('data: [DONE]');
      expect(t).not.toContain('"error"');
      expect(sseContent(t).split(/\s+/).filter(Boolean)).toHaveLength(WORDS);
    }
  });

  it('admits new requests again once the open streams have ended', async () => {
    const streams = await Promise.all([openSlowStream(3), openSlowStream(4)]);
    await expectError(await chat(gw.url, key, { model: 'mock-chat', messages: [{ role: 'user', content: 'shed' }] }), 503, 'overloaded');
    await Promise.all(streams.map((s) => s.rest(10_000)));
    // The server frees a slot when its side of the response closes, a moment after the client
    // has read [DONE]: retry briefly rather than guess a delay.
    let status = 0;
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline) {
      const res = await chat(gw.url, key, { model: 'mock-chat', messages: [{ role: 'user', content: 'after the streams' }] });
      status = res.status;
      await res.text();
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe(200);
  });
});

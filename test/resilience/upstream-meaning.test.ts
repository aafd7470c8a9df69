// SPEC §5 and §13: an upstream's answer keeps its meaning for the client, and the circuit
// breaker counts only the channel's own failures, so one tenant's pathological requests
// cannot take a model down for everyone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { ask, billingOf, channelsOf, fail, model, ok, provider, SERVER, type Scripted, send, startScripted } from './support.js';

const THRESHOLD = 3;

let up: Scripted;
let gw: TestGateway;
let org: { orgId: string; mk: string };
let key: string;

beforeAll(async () => {
  up = await startScripted();
  gw = await startTestGateway({
    raw: {
      server: SERVER,
      providers: [
        provider('acct-a', up.url),
        provider('acct-b', up.url),
        // Long generations: a non-stream answer may take 300 ms here, a stream's first byte 150 ms.
        provider('slowgen', up.url, { first_byte_ms: 150, request_ms: 300, idle_ms: 1000 }),
      ],
      models: [
        model('keyed', [
          ['acct-a', 'keyed-bad-key', 0],
          ['acct-b', 'keyed-good', 1],
        ]),
        model('only-bad-key', [['acct-a', 'only-bad-key']]),
        model('ctx', [['acct-a', 'ctx']]),
        model('busy', [
          ['acct-a', 'busy-a'],
          ['acct-b', 'busy-b'],
        ]),
        model('nousage', [['acct-a', 'nousage']]),
        model('shared', [['slowgen', 'shared']]),
      ],
      routing: { retry_base_ms: 5, retry_max_ms: 50, retry_budget_ratio: 1 },
      circuit_breaker: { failure_threshold: THRESHOLD, min_requests: 1000, cooldown_s: 60 },
      limits: { key_rpm: null },
    },
  });
  org = await gw.createOrg(50);
  key = (await gw.createKey(org.mk)).key;
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
});

describe('SPEC §5 upstream answers keep their meaning', () => {
  it('a 401 from the provider is not retried on that channel: its breaker opens and another channel serves', async () => {
    up.setDefault('keyed-bad-key', fail(401, 'Incorrect API key provided'));
    const r = await send(gw, key, ask('keyed', 'bad key'));
    expect(r.status, r.text).toBe(200);
    expect(up.count('keyed-bad-key')).toBe(1);
    expect(up.count('keyed-good')).toBe(1);
    const [bad, good] = await channelsOf(gw, 'keyed');
    expect(bad.state).toBe('open');
    expect(good.state).toBe('closed');
    // Later requests do not try the refused channel again.
    expect((await send(gw, key, ask('keyed', 'again'))).status).toBe(200);
    expect(up.count('keyed-bad-key')).toBe(1);
  });

  it('with no other channel, a refused provider key answers 502 naming the provider id, after one call', async () => {
    up.setDefault('only-bad-key', fail(403, 'forbidden'));
    const r = await send(gw, key, ask('only-bad-key', 'refused'));
    expect(r.status, r.text).toBe(502);
    expect(r.error?.code).toBe('provider_error');
    expect(r.error?.message).toContain('(acct-a)');
    expect(up.count('only-bad-key')).toBe(1);
  });

  it('an upstream context-length error becomes 400 context_exceeded', async () => {
    up.setDefault('ctx', fail(400, "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens."));
    const r = await send(gw, key, ask('ctx', 'too long'));
    expect(r.status, r.text).toBe(400);
    expect(r.error?.code).toBe('context_exceeded');
    expect(up.count('ctx')).toBe(1);
  });

  it('when every channel answers 429, the client gets 429 upstream_rate_limited with the upstream Retry-After, at no cost', async () => {
    for (const m of ['busy-a', 'busy-b']) up.setDefault(m, { kind: 'status', status: 429, message: 'slow down', headers: { 'retry-after': '7' } });
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(ask('busy', 'rate limited')),
    });
    const body = (await res.json()) as { error: { code: string; type: string } };
    expect(res.status).toBe(429);
    expect(body.error).toMatchObject({ code: 'upstream_rate_limited', type: 'rate_limit_error' });
    expect(res.headers.get('retry-after')).toBe('7');
    const { charges } = await billingOf(gw, org.orgId, res.headers.get('x-request-id') ?? '');
    expect(charges).toHaveLength(0);
    for (const c of await channelsOf(gw, 'busy')) expect(c.state).toBe('closed');
  });

  it('sends the usage chunk Tollgate counted when the client asked for it and the upstream sent none', async () => {
    up.setDefault('nousage', ok('Counted by the gateway.', null));
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(ask('nousage', 'usage please', { stream: true, stream_options: { include_usage: true } })),
    });
    const text = await res.text();
    const chunks = text
      .split('\n\n')
      .filter((f) => f.startsWith('data: {'))
      .map((f) => JSON.parse(f.slice(6)) as { choices: unknown[]; usage?: { prompt_tokens: number; completion_tokens: number } });
    const usage = chunks.filter((c) => c.usage);
    expect(usage).toHaveLength(1);
    expect(usage[0].choices).toEqual([]);
    expect(usage[0].usage?.completion_tokens).toBeGreaterThan(0);
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    const { usage: rows } = await billingOf(gw, org.orgId, res.headers.get('x-request-id') ?? '');
    expect(rows[0]).toMatchObject({ estimated: true, completion_tokens: usage[0].usage?.completion_tokens });
  });
});

describe('SPEC §5 one tenant cannot take a model down for everyone', () => {
  it("another org's requests keep answering 200 after one org's long non-stream generations time out; each is sent once", async () => {
    const other = await gw.createOrg(50);
    const otherKey = (await gw.createKey(other.mk)).key;
    up.setDefault('shared', { kind: 'hang' });
    for (let i = 0; i < THRESHOLD + 1; i++) {
      const r = await send(gw, key, ask('shared', `long generation ${i}`));
      expect(r.status, r.text).toBe(504);
    }
    // One upstream call per request: an answer that may already be generating is never re-sent.
    expect(up.count('shared')).toBe(THRESHOLD + 1);
    expect((await channelsOf(gw, 'shared'))[0].state).toBe('closed');
    up.setDefault('shared', ok());
    const r = await send(gw, otherKey, ask('shared', 'the other org'));
    expect(r.status, r.text).toBe(200);
  });

  it("a stream's missing first byte is the channel's failure and does open the breaker", async () => {
    up.setDefault('shared', { kind: 'hang' });
    for (let i = 0; i < THRESHOLD; i++) await send(gw, key, ask('shared', `no first byte ${i}`, { stream: true }));
    expect((await channelsOf(gw, 'shared'))[0].state).toBe('open');
  });
});

// SPEC §5 retries: 429, 5xx, connection errors and timeouts are retried (another healthy
// channel first, then the same one) with backoff honouring Retry-After; other 4xx are passed
// through once; attempts are capped across retries and fallbacks, retries stay within a
// budget, and the balance is checked before each attempt.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { accountState } from '../helpers/money.js';
import { ask, billingOf, costAt, fail, model, ok, provider, SERVER, type Scripted, send, startScripted } from './support.js';

const PRICE = { input_per_mtok: 1, output_per_mtok: 2 };
const PRICEY = { input_per_mtok: 1, output_per_mtok: 1000 };
const RETRY_MAX_MS = 1500;

let up: Scripted;
let gw: TestGateway;
let org: { orgId: string; mk: string };
let key: string;

/** A gateway on the shared scripted upstream with extra routing settings. */
function gatewayWith(routing: Record<string, unknown>, models: Record<string, unknown>[]): Promise<TestGateway> {
  return startTestGateway({
    raw: {
      server: SERVER,
      providers: [provider('up', up.url)],
      models,
      routing: { retry_base_ms: 5, retry_max_ms: 50, retry_budget_ratio: 1, ...routing },
      circuit_breaker: { failure_threshold: 1000, min_requests: 1000 },
      limits: { key_rpm: null },
    },
  });
}

beforeAll(async () => {
  up = await startScripted();
  gw = await startTestGateway({
    raw: {
      server: SERVER,
      providers: [provider('up', up.url), { id: 'mock-slow', type: 'mock', timeouts: { first_byte_ms: 200, request_ms: 200 } }],
      models: [
        model('ffs', [['up', 'ffs']]),
        model('pair', [
          ['up', 'pair-bad'],
          ['up', 'pair-good'],
        ]),
        model('limited', [['up', 'limited']]),
        model('limited-long', [['up', 'limited-long']]),
        model('refused', [['up', 'refused']]),
        model('cheap', [['up', 'cheap']]),
        model('pricey', [['up', 'pricey']], { pricing: PRICEY }),
        model('hanging', [['mock-slow', 'mock-chat']]),
      ],
      routing: { retry_base_ms: 5, retry_max_ms: RETRY_MAX_MS, retry_budget_ratio: 1 },
      // Breakers out of the way: these tests count attempts, not circuit state.
      circuit_breaker: { failure_threshold: 1000, min_requests: 1000 },
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

describe('SPEC §5 retries, attempt cap, retry budget and balance checks', () => {
  it('fail, fail, succeed: the client sees one 200, the upstream three attempts, and the request is billed once', async () => {
    up.script('ffs', fail(500), fail(503), ok('Third time lucky.', { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 }));
    const r = await send(gw, key, ask('ffs', 'fail fail succeed'));
    expect(r.status, r.text).toBe(200);
    const choices = (r.json?.choices ?? []) as Array<{ message: { content: string } }>;
    expect(choices[0]?.message.content).toBe('Third time lucky.');
    expect(up.count('ffs')).toBe(3);
    // The same prompt each time: one request, retried.
    expect(new Set(up.calls.filter((c) => c.model === 'ffs').map((c) => c.text)).size).toBe(1);
    const { usage, charges } = await billingOf(gw, org.orgId, r.requestId);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ status: 200, attempts: 3, prompt_tokens: 9, completion_tokens: 5 });
    expect(usage[0].cost_micros).toBe(costAt(PRICE, usage[0]));
    expect(charges.map((c) => c.amount_micros)).toEqual([-usage[0].cost_micros]);
  });

  it('retries on another healthy channel of the model before the same one', async () => {
    up.setDefault('pair-bad', fail(500, 'pair-bad is broken'));
    const n = 24;
    for (let i = 0; i < n; i++) {
      const r = await send(gw, key, ask('pair', 'other channel first'));
      expect(r.status, r.text).toBe(200);
    }
    const bad = up.calls.filter((c) => c.model === 'pair-bad');
    const good = up.calls.filter((c) => c.model === 'pair-good');
    // Every request was served by the good channel exactly once …
    expect(good).toHaveLength(n);
    expect(new Set(good.map((c) => c.text)).size).toBe(n);
    // … and none was sent to the broken channel twice (a retry goes elsewhere first).
    expect(new Set(bad.map((c) => c.text)).size).toBe(bad.length);
    // Equal weights: about half the requests tried the broken channel first (P(none) = 2^-24).
    expect(bad.length).toBeGreaterThan(0);
    expect(bad.length).toBeLessThan(n);
  });

  it('waits for Retry-After before retrying a 429', async () => {
    up.script('limited', { kind: 'status', status: 429, message: 'slow down', headers: { 'retry-after': '1' } }, ok());
    const started = Date.now();
    const r = await send(gw, key, ask('limited', 'retry after'));
    expect(r.status, r.text).toBe(200);
    const calls = up.calls.filter((c) => c.model === 'limited');
    expect(calls).toHaveLength(2);
    const gap = calls[1].at - calls[0].at;
    expect(gap).toBeGreaterThanOrEqual(950);
    expect(gap).toBeLessThan(RETRY_MAX_MS + 500);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('caps a long Retry-After at routing.retry_max_ms', async () => {
    up.script('limited-long', { kind: 'status', status: 429, message: 'come back in 30 s', headers: { 'retry-after': '30' } }, ok());
    const r = await send(gw, key, ask('limited-long', 'retry after capped'));
    expect(r.status, r.text).toBe(200);
    const calls = up.calls.filter((c) => c.model === 'limited-long');
    expect(calls).toHaveLength(2);
    const gap = calls[1].at - calls[0].at;
    expect(gap).toBeGreaterThanOrEqual(RETRY_MAX_MS - 50);
    expect(gap).toBeLessThan(RETRY_MAX_MS + 1000);
  });

  it('passes a non-retryable 400 through with the provider message after exactly one attempt', async () => {
    up.setDefault('refused', fail(400, "Invalid value for 'logit_bias': token 99999999 does not exist."));
    const r = await send(gw, key, ask('refused', 'bad request'));
    expect(r.status, r.text).toBe(400);
    expect(r.error?.type).toBe('invalid_request_error');
    expect(r.error?.code).toBe('invalid_value');
    expect(r.error?.message).toContain("Invalid value for 'logit_bias': token 99999999 does not exist.");
    expect(up.count('refused')).toBe(1);
    const { charges } = await billingOf(gw, org.orgId, r.requestId);
    expect(charges).toHaveLength(0);
  });

  it.each([2, 3])('routing.max_attempts: %i caps attempts across retries and fallbacks together', async (max) => {
    const names = { a: `cap${max}-a`, b: `cap${max}-b`, c: `cap${max}-c` };
    up.setDefault(names.a, fail(500));
    up.setDefault(names.b, fail(502));
    const capped = await gatewayWith({ max_attempts: max }, [model(names.a, [['up', names.a]]), model(names.b, [['up', names.b]]), model(names.c, [['up', names.c]])]);
    try {
      const o = await capped.createOrg(10);
      const k = (await capped.createKey(o.mk)).key;
      const r = await send(capped, k, ask(names.a, 'attempt cap', { models: [names.b, names.c] }));
      expect(r.status, r.text).toBe(502);
      expect(r.error?.code).toBe('provider_error');
      // One channel per model: two tries of a (channel, then the same again), then b; c never.
      expect(up.count(names.a)).toBe(2);
      expect(up.count(names.b)).toBe(max - 2);
      expect(up.count(names.c)).toBe(0);
      expect(up.count(names.a) + up.count(names.b) + up.count(names.c)).toBe(max);
    } finally {
      await capped.close();
    }
  });

  it('keeps retries within routing.retry_budget_ratio of traffic when everything fails', async () => {
    const ratio = 0.1;
    up.setDefault('budgeted', fail(500, 'budgeted is down'));
    const budgeted = await gatewayWith({ retry_budget_ratio: ratio }, [model('budgeted', [['up', 'budgeted']])]);
    try {
      const o = await budgeted.createOrg(10);
      const k = (await budgeted.createKey(o.mk)).key;
      const requests = 100;
      for (let i = 0; i < requests; i += 10) {
        const batch = await Promise.all(Array.from({ length: 10 }, () => send(budgeted, k, ask('budgeted', 'budget'))));
        for (const r of batch) expect(r.status, r.text).toBe(502);
      }
      const attempts = up.count('budgeted');
      const initialAllowance = 10;
      // Without a budget this would be 4 attempts each (400).
      expect(attempts).toBeGreaterThanOrEqual(requests);
      expect(attempts).toBeLessThanOrEqual(requests + Math.ceil(requests * ratio) + initialAllowance);
      // The allowance is used: a budget is not "never retry".
      expect(attempts).toBeGreaterThan(requests);
    } finally {
      await budgeted.close();
    }
  });

  it('checks the balance before each attempt: no call to a pricier fallback the balance cannot cover (402)', async () => {
    const poor = await gw.createOrg(0.05);
    const k = (await gw.createKey(poor.mk)).key;
    up.setDefault('cheap', fail(500, 'cheap is down'));
    const before = up.count('pricey');
    // cheap reserves ~$0.002 for 1000 output tokens; pricey would need ~$1.
    const r = await send(gw, k, ask('cheap', 'pricey fallback', { models: ['pricey'], max_tokens: 1000 }));
    expect(r.status, r.text).toBe(402);
    expect(r.error?.code).toBe('insufficient_balance');
    expect(up.count('cheap')).toBe(2);
    expect(up.count('pricey')).toBe(before);
    const { charges } = await billingOf(gw, poor.orgId, r.requestId);
    expect(charges).toHaveLength(0);
    const state = await accountState(gw.running.gateway.accounts, poor.orgId);
    expect(state.balance).toBe(50_000);
    expect(state.reserved).toBe(0);
  });

  it('answers 504 timeout when a stream never sends a first byte within timeouts.first_byte_ms, after every attempt', async () => {
    const r = await send(gw, key, ask('hanging', 'hang', { stream: true }), { 'x-mock-fault': 'hang' });
    expect(r.status, r.text).toBe(504);
    expect(r.error?.code).toBe('timeout');
    expect(r.error?.type).toBe('upstream_error');
    const { usage, charges } = await billingOf(gw, org.orgId, r.requestId);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ status: 504, error_code: 'timeout', attempts: 4, cost_micros: 0 });
    expect(charges).toHaveLength(0);
  });

  it('answers 504 timeout without re-sending when a non-stream answer does not come within timeouts.request_ms', async () => {
    const r = await send(gw, key, ask('hanging', 'hang'), { 'x-mock-fault': 'hang' });
    expect(r.status, r.text).toBe(504);
    expect(r.error?.code).toBe('timeout');
    expect(r.error?.message).toContain('did not finish the answer');
    const { usage, charges } = await billingOf(gw, org.orgId, r.requestId);
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ status: 504, error_code: 'timeout', attempts: 1, cost_micros: 0 });
    expect(charges).toHaveLength(0);
  });
});

// SPEC §5 under injected faults, one table: for each fault (from the mock provider's
// x-mock-fault header or provider `faults` config, or a scripted upstream) what the client
// saw, how many upstream attempts were made, what was billed (§6) and the channel's breaker
// state at GET /admin/models.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTextTokens } from '../../src/core/tokens.js';
import { chat, flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { allLedger, tapUsage, type UsageTap } from '../helpers/money.js';
import { sseContent, sseEvents, sseJson } from '../helpers/sse.js';
import { type Action, channelsOf, costAt, fail, model, ok, provider, SERVER, type Scripted, startScripted, tag } from './support.js';

const PRICE = { input_per_mtok: 2, output_per_mtok: 8 };
const THRESHOLD = 3;
const TIMEOUT_MS = 200;

interface Scenario {
  name: string;
  /** the channel: the scripted upstream (answers queued below) or a mock provider */
  channel: 'up' | 'mock' | 'mock-503' | 'mock-slow';
  script?: Action[];
  fault?: string;
  stream?: boolean;
  expect: {
    status: number;
    code?: string;
    /** stream shape: clean ([DONE] last) or cut (one error chunk last, no [DONE]) */
    shape?: 'clean' | 'cut';
    attempts: number;
    /** usage: the provider's counts; estimated: Tollgate's count of what was delivered; free: nothing */
    billed: 'usage' | 'estimated' | 'free';
    breaker: { state: 'closed' | 'open'; errorRate: number | 'some' };
    /** the retry came at least this long after the first attempt */
    minGapMs?: number;
    minLatencyMs?: number;
  };
}

const SCENARIOS: Scenario[] = [
  {
    name: 'fail, fail, succeed (scripted 500, 503, 200)',
    channel: 'up',
    script: [fail(500), fail(503), ok()],
    expect: { status: 200, attempts: 3, billed: 'usage', breaker: { state: 'closed', errorRate: 0.667 } },
  },
  {
    name: '429 with Retry-After: 1, then 200 (scripted)',
    channel: 'up',
    script: [{ kind: 'status', status: 429, message: 'rate limited', headers: { 'retry-after': '1' } }, ok()],
    // A 429 is the provider's rate limit on the gateway's account, not a broken channel.
    expect: { status: 200, attempts: 2, billed: 'usage', breaker: { state: 'closed', errorRate: 0 }, minGapMs: 950 },
  },
  {
    name: '429 on every attempt (mock status=429): 429 upstream_rate_limited, breaker untouched',
    channel: 'mock',
    fault: 'status=429',
    expect: { status: 429, code: 'upstream_rate_limited', attempts: 4, billed: 'free', breaker: { state: 'closed', errorRate: 0 } },
  },
  {
    name: 'every request fails by provider config (mock faults error_rate 1, error_status 503)',
    channel: 'mock-503',
    expect: { status: 502, code: 'provider_error', attempts: THRESHOLD, billed: 'free', breaker: { state: 'open', errorRate: 1 } },
  },
  {
    name: 'hang, stream: no first byte is the channel failing (mock hang)',
    channel: 'mock',
    fault: 'hang',
    stream: true,
    expect: { status: 504, code: 'timeout', attempts: THRESHOLD, billed: 'free', breaker: { state: 'open', errorRate: 1 } },
  },
  {
    name: 'hang, non-stream: past the whole-request timeout, not re-sent and not held against the channel (mock hang)',
    channel: 'mock',
    fault: 'hang',
    expect: { status: 504, code: 'timeout', attempts: 1, billed: 'free', breaker: { state: 'closed', errorRate: 0 } },
  },
  {
    name: 'reset before any byte, then 200 (scripted)',
    channel: 'up',
    script: [{ kind: 'reset' }, ok()],
    expect: { status: 200, attempts: 2, billed: 'usage', breaker: { state: 'closed', errorRate: 0.5 } },
  },
  {
    name: 'reset mid-stream after content (mock reset_after=3)',
    channel: 'mock',
    fault: 'reset_after=3',
    stream: true,
    expect: { status: 200, code: 'provider_error', shape: 'cut', attempts: 1, billed: 'estimated', breaker: { state: 'closed', errorRate: 'some' } },
  },
  {
    name: 'reset mid-stream before content, then a clean stream (scripted)',
    channel: 'up',
    script: [{ kind: 'stream-break', pieces: [], end: 'reset' }, ok('A clean second stream.')],
    stream: true,
    expect: { status: 200, shape: 'clean', attempts: 2, billed: 'usage', breaker: { state: 'closed', errorRate: 0.5 } },
  },
  {
    name: 'stream: slow first byte past timeouts.first_byte_ms, then fast (scripted)',
    channel: 'up',
    script: [{ kind: 'ok', delayMs: 3000 }, ok()],
    stream: true,
    expect: { status: 200, shape: 'clean', attempts: 2, billed: 'usage', breaker: { state: 'closed', errorRate: 0.5 } },
  },
  {
    name: 'slow first byte within the timeout (mock provider faults latency_ms: 80)',
    channel: 'mock-slow',
    expect: { status: 200, attempts: 1, billed: 'usage', breaker: { state: 'closed', errorRate: 0 }, minLatencyMs: 80 },
  },
  {
    name: 'malformed JSON body (mock malformed): not retried',
    channel: 'mock',
    fault: 'malformed',
    expect: { status: 502, code: 'provider_error', attempts: 1, billed: 'free', breaker: { state: 'closed', errorRate: 1 } },
  },
  {
    name: 'malformed stream event after content (mock malformed, stream)',
    channel: 'mock',
    fault: 'malformed',
    stream: true,
    expect: { status: 200, code: 'provider_error', shape: 'cut', attempts: 1, billed: 'estimated', breaker: { state: 'closed', errorRate: 'some' } },
  },
];

const idOf = (i: number) => `fault-${i}`;

let up: Scripted;
let gw: TestGateway;
let org: { orgId: string; mk: string };
let key: string;
let tap: UsageTap;

beforeAll(async () => {
  up = await startScripted();
  const timeouts = { first_byte_ms: TIMEOUT_MS, idle_ms: TIMEOUT_MS, request_ms: TIMEOUT_MS };
  gw = await startTestGateway({
    raw: {
      server: SERVER,
      providers: [
        provider('up', up.url, timeouts),
        { id: 'mock', type: 'mock', timeouts },
        { id: 'mock-503', type: 'mock', timeouts, faults: { error_rate: 1, error_status: 503 } },
        { id: 'mock-slow', type: 'mock', timeouts, faults: { latency_ms: 80 } },
      ],
      // One model (so one channel and one breaker) per scenario.
      models: SCENARIOS.map((s, i) => model(idOf(i), [[s.channel, s.channel === 'up' ? idOf(i) : 'mock-chat']], { pricing: PRICE })),
      routing: { retry_base_ms: 5, retry_max_ms: 1500, retry_budget_ratio: 1 },
      circuit_breaker: { failure_threshold: THRESHOLD, min_requests: 1000, cooldown_s: 60 },
      limits: { key_rpm: null },
    },
  });
  org = await gw.createOrg(50);
  key = (await gw.createKey(org.mk)).key;
  tap = tapUsage(gw.running.gateway.usage);
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
});

describe('SPEC §5 fault injection: client view, attempts, billing and breaker state', () => {
  it.each(SCENARIOS.map((s, i) => [s.name, s, idOf(i)] as const))('%s', async (_name, s, id) => {
    if (s.script) up.script(id, ...s.script);
    const res = await chat(gw.url, key, { model: id, messages: [{ role: 'user', content: tag(s.name) }], ...(s.stream ? { stream: true } : {}) }, s.fault ? { 'x-mock-fault': s.fault } : {});
    const text = await res.text();
    const requestId = res.headers.get('x-request-id') ?? '';
    const e = s.expect;

    // What the client saw.
    expect(res.status, text).toBe(e.status);
    let delivered = '';
    if (s.stream && res.status === 200) {
      const events = sseEvents(text);
      const errors = sseJson(text).filter((c) => 'error' in c);
      delivered = sseContent(text);
      if (e.shape === 'clean') {
        expect(events[events.length - 1]).toBe('data: [DONE]');
        expect(errors).toHaveLength(0);
      } else {
        expect(text).not.toContain('[DONE]');
        expect(errors).toHaveLength(1);
        expect(events[events.length - 1].startsWith('data: {"error"')).toBe(true);
        expect(errors[0].error).toMatchObject({ type: 'upstream_error', code: e.code });
        expect(delivered.length).toBeGreaterThan(0);
      }
    } else if (e.status === 200) {
      const body = JSON.parse(text) as { model: string; choices: Array<{ message: { content: string } }> };
      expect(body.model).toBe(id);
      expect(body.choices[0].message.content.length).toBeGreaterThan(0);
    } else {
      const body = JSON.parse(text) as { error: { code: string; type: string; message: string } };
      expect(body.error).toMatchObject({ code: e.code, type: e.status === 429 ? 'rate_limit_error' : 'upstream_error' });
      if (e.status === 429) expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    }

    // Upstream attempts: the usage row's count, and the scripted upstream's own.
    const row = await tap.settled(requestId);
    expect(tap.count(requestId)).toBe(1);
    expect(row.attempts).toBe(e.attempts);
    if (s.channel === 'up') expect(up.count(id)).toBe(e.attempts);
    if (e.minGapMs) {
      const calls = up.calls.filter((c) => c.model === id);
      expect(calls[1].at - calls[0].at).toBeGreaterThanOrEqual(e.minGapMs);
    }

    // What was billed.
    await flushed(gw);
    const charges = (await allLedger(gw.running.gateway.store, org.orgId)).filter((l) => l.request_id === requestId);
    if (e.billed === 'free') {
      expect(row.cost_micros).toBe(0);
      expect(charges).toHaveLength(0);
    } else {
      expect(row.estimated).toBe(e.billed === 'estimated');
      if (e.billed === 'usage' && s.channel === 'up') expect(row).toMatchObject({ prompt_tokens: 7, completion_tokens: 4 });
      if (e.billed === 'estimated') expect(row.completion_tokens).toBe(countTextTokens(delivered));
      expect(row.cost_micros).toBeGreaterThan(0);
      expect(row.cost_micros).toBe(costAt(PRICE, row));
      expect(charges.map((c) => c.amount_micros)).toEqual([-row.cost_micros]);
    }

    // The breaker at GET /admin/models.
    const [channel] = await channelsOf(gw, id);
    expect(channel.state).toBe(e.breaker.state);
    if (e.breaker.errorRate === 'some') expect(channel.error_rate).toBeGreaterThan(0);
    else expect(channel.error_rate).toBeCloseTo(e.breaker.errorRate, 2);
    if (e.minLatencyMs) expect(channel.latency_ms).toBeGreaterThanOrEqual(e.minLatencyMs);
  });
});

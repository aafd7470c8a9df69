// SPEC §5 first-token commit (with §3 streaming and §6 billing of streams): a stream is only
// committed (200 + headers) once the upstream produced content, so a failure before that is
// retried invisibly; a failure after it ends the stream with one SSE error chunk and no
// [DONE], and the tokens delivered so far are billed (Tollgate's own count, marked estimated).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTextTokens } from '../../src/core/tokens.js';
import { chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { allLedger, tapUsage, type UsageTap } from '../helpers/money.js';
import { StreamReader, sseContent, sseEvents, sseJson } from '../helpers/sse.js';
import { deferred } from '../helpers/upstream.js';
import { type Action, fail, model, ok, provider, SERVER, type Scripted, startScripted, tag } from './support.js';

const PRICE = { input_per_mtok: 3, output_per_mtok: 15 };
const TIMEOUT_MS = 300;

let up: Scripted;
let gw: TestGateway;
let org: { orgId: string; mk: string };
let key: string;
let tap: UsageTap;

const BEFORE: Array<[string, Action]> = [
  ['an SSE error event before any content', { kind: 'stream-break', pieces: [], end: 'error-event' }],
  ['a connection reset after the role frame, before any content', { kind: 'stream-break', pieces: [], end: 'reset' }],
  ['a connection reset before any byte', { kind: 'reset' }],
  ['no first byte within timeouts.first_byte_ms', { kind: 'hang' }],
  ['silence after the headers past timeouts.idle_ms, before any content', { kind: 'stream-break', pieces: [], end: 'stall' }],
  ['an HTTP 503 instead of a stream', fail(503, 'overloaded')],
];

const AFTER: Array<[string, 'reset' | 'error-event' | 'stall', string]> = [
  ['the connection drops', 'reset', 'provider_error'],
  ['the upstream sends an error event', 'error-event', 'provider_error'],
  ['the upstream goes silent past timeouts.idle_ms', 'stall', 'timeout'],
];

const modelIds = [...BEFORE.map((_, i) => `before-${i}`), ...AFTER.map((_, i) => `after-${i}`)];

beforeAll(async () => {
  up = await startScripted();
  gw = await startTestGateway({
    raw: {
      server: SERVER,
      providers: [provider('up', up.url, { first_byte_ms: TIMEOUT_MS, idle_ms: TIMEOUT_MS })],
      models: modelIds.map((id) => model(id, [['up', id]], { pricing: PRICE })),
      routing: { retry_base_ms: 5, retry_max_ms: 50, retry_budget_ratio: 1 },
      circuit_breaker: { failure_threshold: 1000, min_requests: 1000 },
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

async function stream(modelId: string, label: string) {
  const res = await chat(gw.url, key, { model: modelId, messages: [{ role: 'user', content: tag(label) }], stream: true });
  const text = await res.text();
  return { res, text, requestId: res.headers.get('x-request-id') ?? '' };
}

describe('SPEC §5 first-token commit', () => {
  it.each(BEFORE.map(([what, action], i) => [what, action, `before-${i}`] as const))(
    'retries %s invisibly: one clean 200 stream ending in [DONE], two upstream attempts, billed once',
    async (_what, action, id) => {
      const content = 'The second attempt answers in full.';
      up.script(id, action, ok(content, { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 }));
      const { res, text, requestId } = await stream(id, 'retry before content');
      expect(res.status, text).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      expect(up.count(id)).toBe(2);
      const events = sseEvents(text);
      expect(events[events.length - 1]).toBe('data: [DONE]');
      expect(events.filter((e) => e === 'data: [DONE]')).toHaveLength(1);
      const chunks = sseJson(text);
      expect(chunks.some((c) => 'error' in c)).toBe(false);
      // Nothing of the failed attempt leaks: one role frame, the second attempt's content.
      expect(chunks.filter((c) => (c.choices as Array<{ delta?: { role?: string } }>)?.[0]?.delta?.role === 'assistant')).toHaveLength(1);
      expect(sseContent(text)).toBe(content);

      const row = await tap.settled(requestId);
      expect(tap.count(requestId)).toBe(1);
      expect(row).toMatchObject({ status: 200, attempts: 2, prompt_tokens: 12, completion_tokens: 8, estimated: false, stream: true });
      expect(row.cost_micros).toBe(12 * 3 + 8 * 15);
    },
  );

  it.each(AFTER.map(([what, end, code], i) => [what, end, code, `after-${i}`] as const))(
    'after the first content, when %s: one SSE error chunk, no [DONE], no retry, delivered tokens billed',
    async (_what, end, code, id) => {
      const pieces = ['Partial ', 'answer ', 'that ', 'got ', 'cut'];
      const seen = deferred();
      up.script(id, { kind: 'stream-break', pieces, end, after: seen.promise });
      const res = await chat(gw.url, key, { model: id, messages: [{ role: 'user', content: tag('break after content') }], stream: true });
      // Committed: status and the content arrive before the upstream fails.
      expect(res.status).toBe(200);
      const reader = new StreamReader(res);
      await reader.until((t) => sseContent(t) === pieces.join(''), 3000, 'the content before the failure');
      seen.resolve();
      const text = await reader.rest(3000);
      const requestId = res.headers.get('x-request-id') ?? '';
      expect(up.count(id)).toBe(1);
      expect(text).not.toContain('[DONE]');
      expect(sseContent(text)).toBe(pieces.join(''));
      const errors = sseJson(text).filter((c) => 'error' in c);
      expect(errors).toHaveLength(1);
      const err = errors[0].error as { message: string; type: string; code: string };
      expect(err).toMatchObject({ type: 'upstream_error', code });
      expect(err.message.length).toBeGreaterThan(0);
      // The error chunk is the last event.
      const events = sseEvents(text);
      expect(events[events.length - 1].startsWith('data: {"error"')).toBe(true);

      const row = await tap.settled(requestId);
      const delivered = countTextTokens(pieces.join(''));
      expect(row).toMatchObject({ stream: true, estimated: true, error_code: code, completion_tokens: delivered, attempts: 1 });
      // No usage from the upstream: the prompt is Tollgate's own count.
      expect(row.prompt_tokens).toBeGreaterThan(0);
      expect(row.cost_micros).toBe(row.prompt_tokens * 3 + delivered * 15);
      expect(tap.count(requestId)).toBe(1);
      await until(async () => (await allLedger(gw.running.gateway.store, org.orgId)).some((l) => l.request_id === requestId), 'the charge row');
      const charges = (await allLedger(gw.running.gateway.store, org.orgId)).filter((l) => l.request_id === requestId);
      expect(charges.map((c) => c.amount_micros)).toEqual([-row.cost_micros]);
    },
  );
});

async function until(probe: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await gw.running.gateway.usage.flushAll(1000);
  }
}

// SPEC §2 operations and §1 key hygiene: /healthz, /readyz, /metrics (admin token, request,
// latency, upstream-error and token series after traffic), and logs that never hold a key.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../../src/auth/keys.js';
import { buildHttpApp } from '../../src/http/app.js';
import { createLogger } from '../../src/observability/logger.js';
import { ADMIN_TOKEN, chat, expectError, startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let mk: string;
let key: string;

beforeAll(async () => {
  gw = await startTestGateway({ raw: { routing: { max_attempts: 2, retry_base_ms: 1, retry_max_ms: 5 } } });
  const org = await gw.createOrg(10);
  mk = org.mk;
  key = (await gw.createKey(mk)).key;
});

afterAll(async () => {
  await gw?.close();
});

const hello = { model: 'mock-chat', messages: [{ role: 'user', content: 'Hello' }] };
const metrics = (auth?: string) => fetch(`${gw.url}/metrics`, { headers: auth ? { authorization: `Bearer ${auth}` } : {} });

/** The sum of the samples of `name` whose labels include every `labels` pair (undefined if none). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) total = (total ?? 0) + Number(m[3]);
  }
  return total;
}

describe('SPEC §2 operations: health and readiness', () => {
  it('answers GET /healthz with 200 and no credentials', async () => {
    const res = await fetch(`${gw.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers GET /readyz with 200 when the store is reachable', async () => {
    const res = await fetch(`${gw.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('shows the operator each check of GET /readyz', async () => {
    const res = await fetch(`${gw.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', checks: { store: 'ok' } });
  });
});

describe('SPEC §2 operations: /metrics', () => {
  beforeAll(async () => {
    // Traffic of every kind: success, stream, validation error, upstream failure, bad key.
    await (await chat(gw.url, key, hello)).text();
    await (await chat(gw.url, key, { ...hello, stream: true })).text();
    await (await chat(gw.url, key, { ...hello, temperature: 7 })).text();
    await (await chat(gw.url, key, hello, { 'x-mock-fault': 'status=500' })).text();
    await (await chat(gw.url, 'not-a-key', hello)).text();
  });

  it('needs the admin token: 401 without one, 401 with a wrong one, 403 with an API key', async () => {
    await expectError(await metrics(), 401, 'missing_api_key');
    await expectError(await metrics('wrong-admin-token'), 401, 'invalid_api_key');
    await expectError(await metrics(key), 403, 'wrong_key_type');
  });

  it('serves Prometheus text with the admin token', async () => {
    const res = await metrics(ADMIN_TOKEN);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('# TYPE tollgate_requests_total counter');
    expect(text).toContain('# TYPE tollgate_request_duration_seconds histogram');
  });

  it('counts requests by status after traffic', async () => {
    const text = await (await metrics(ADMIN_TOKEN)).text();
    expect(sample(text, 'tollgate_requests_total', { status: '200' }), 'a tollgate_requests_total sample with status="200"').toBeGreaterThanOrEqual(2);
    expect(sample(text, 'tollgate_requests_total', { status: '400' }), 'a tollgate_requests_total sample with status="400"').toBeGreaterThanOrEqual(1);
    expect(sample(text, 'tollgate_requests_total', { status: '502' }), 'a tollgate_requests_total sample with status="502"').toBeGreaterThanOrEqual(1);
  });

  it('records request latency in a histogram after traffic', async () => {
    const text = await (await metrics(ADMIN_TOKEN)).text();
    expect(sample(text, 'tollgate_request_duration_seconds_count'), 'a tollgate_request_duration_seconds_count sample').toBeGreaterThanOrEqual(2);
    expect(sample(text, 'tollgate_request_duration_seconds_bucket', { le: '+Inf' })).toBeGreaterThanOrEqual(1);
  });

  it('counts upstream errors by provider and code', async () => {
    const text = await (await metrics(ADMIN_TOKEN)).text();
    expect(sample(text, 'tollgate_upstream_errors_total', { provider: 'mock', model: 'mock-chat', code: 'provider_error' })).toBeGreaterThanOrEqual(1);
  });

  it('counts billed prompt and completion tokens by model', async () => {
    const text = await (await metrics(ADMIN_TOKEN)).text();
    expect(sample(text, 'tollgate_tokens_total', { model: 'mock-chat', kind: 'prompt' })).toBeGreaterThan(0);
    expect(sample(text, 'tollgate_tokens_total', { model: 'mock-chat', kind: 'completion' })).toBeGreaterThan(0);
  });

  it('labels the latency of streamed answers stream="true" and of JSON answers stream="false"', async () => {
    const text = await (await metrics(ADMIN_TOKEN)).text();
    expect(sample(text, 'tollgate_request_duration_seconds_count', { route: '/v1/chat/completions', stream: 'true' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'tollgate_request_duration_seconds_count', { route: '/v1/chat/completions', stream: 'false' })).toBeGreaterThanOrEqual(1);
  });

  it('writes cumulative histogram buckets: each bucket holds at least the one below it, and +Inf holds the count', async () => {
    const text = await (await metrics(ADMIN_TOKEN)).text();
    const labels = { route: '/v1/chat/completions', model: 'mock-chat', stream: 'false' };
    const bounds = ['0.001', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '60', '+Inf'];
    const counts = bounds.map((le) => sample(text, 'tollgate_request_duration_seconds_bucket', { ...labels, le }) ?? Number.NaN);
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]!);
    expect(counts.at(-1)).toBe(sample(text, 'tollgate_request_duration_seconds_count', labels));
  });

  it('counts requests and upstream attempts per label set, not once per call site', async () => {
    const before = sample(await (await metrics(ADMIN_TOKEN)).text(), 'tollgate_upstream_attempts_total', { provider: 'mock', model: 'mock-chat', outcome: 'ok' }) ?? 0;
    await (await chat(gw.url, key, hello)).text();
    await (await chat(gw.url, key, hello)).text();
    const after = sample(await (await metrics(ADMIN_TOKEN)).text(), 'tollgate_upstream_attempts_total', { provider: 'mock', model: 'mock-chat', outcome: 'ok' });
    expect(after).toBe(before + 2);
  });

  it('shows an open stream in tollgate_open_streams and in-flight requests while it is open', async () => {
    const res = await chat(gw.url, key, { ...hello, stream: true }, { 'x-mock-fault': 'hang_after=3' });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    const open = await (await metrics(ADMIN_TOKEN)).text();
    expect(sample(open, 'tollgate_open_streams')).toBe(1);
    expect(sample(open, 'tollgate_in_flight_requests')).toBeGreaterThanOrEqual(1);
    await reader.cancel();
  });

  it('holds no key material', async () => {
    const text = await (await metrics(ADMIN_TOKEN)).text();
    expect(text).not.toMatch(/(sk|mk)-tg-/);
    expect(text).not.toContain(ADMIN_TOKEN);
  });
});

describe('SPEC §1 keys never appear in logs', () => {
  const KEY_SHAPE = /(sk|mk)-tg-[A-Za-z0-9]{20,}/;

  it('logs no key after requests with valid, invalid and malformed keys', async () => {
    const unknown = generateKey('sk');
    const badChecksum = key.slice(0, -1) + (key.endsWith('z') ? 'y' : 'z');
    const malformed = `${key.slice(0, 20)} ${key.slice(20)}`;
    const sent = [key, mk, unknown, badChecksum, malformed, ADMIN_TOKEN];
    await (await chat(gw.url, key, hello)).text();
    await (await chat(gw.url, key, hello, { 'x-mock-fault': 'status=503' })).text();
    await (await fetch(`${gw.url}/v1/models`, { headers: { 'x-api-key': key } })).text();
    await (await chat(gw.url, unknown, hello)).text();
    await (await chat(gw.url, badChecksum, hello)).text();
    await (await chat(gw.url, malformed, hello)).text();
    await (await chat(gw.url, ` ${key}`, hello)).text();
    await (await chat(gw.url, mk, hello)).text();
    await (await fetch(`${gw.url}/api/balance`, { headers: { authorization: `Bearer ${mk}` } })).text();
    await (await fetch(`${gw.url}/admin/orgs`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    // An unexpected failure is logged with its URL; a client may have put its key in the query.
    const extra = buildHttpApp(gw.running.gateway);
    extra.app.get('/__test/throw', async () => {
      throw new Error(`upstream SDK failed for key ${key}`);
    });
    try {
      const res = await extra.app.inject({ method: 'GET', url: `/__test/throw?api_key=${key}`, headers: { authorization: `Bearer ${key}` } });
      expect(res.statusCode).toBe(500);
      expect(res.body).not.toContain(key);
    } finally {
      await extra.app.close();
    }
    const logs = gw.logs.join('');
    expect(logs).toContain('upstream attempt failed');
    expect(logs).toContain('unhandled error');
    for (const s of sent) expect(logs).not.toContain(s);
    expect(logs).not.toMatch(KEY_SHAPE);
  });

  it('masks keys in free text, in logged objects and in errors, and redacts auth headers', () => {
    const lines: string[] = [];
    const log = createLogger({
      level: 'info',
      destination: new Writable({
        write(chunk, _enc, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    });
    const k = generateKey('sk');
    const m = generateKey('mk');
    log.info(`message with ${k}`);
    log.info({ headers: { authorization: `Bearer ${k}`, 'x-api-key': m } }, 'headers');
    log.info({ url: `/v1/models?key=${k}`, nested: { deep: [`token ${m}`] } }, 'object fields');
    log.error({ err: new Error(`failed with ${k}`) }, 'error object');
    log.error(new Error(`bare error with ${m}`));
    const out = lines.join('');
    expect(lines).toHaveLength(5);
    expect(out).not.toContain(k);
    expect(out).not.toContain(m);
    expect(out).not.toMatch(KEY_SHAPE);
    expect(out).toContain('sk-tg-[redacted]');
  });
});

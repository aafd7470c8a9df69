// OpenTelemetry: with an OTLP endpoint configured, each inference request is exported as a
// trace (server span with GenAI attributes, admission, upstream attempt and answer spans) and
// the GenAI metrics, as OTLP/HTTP JSON to a local receiver; never a key or message content.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { chat, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';

type Attr = { key: string; value: Record<string, unknown> };
type Span = { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes: Attr[]; startTimeUnixNano: string; endTimeUnixNano: string };

let receiver: Server;
let url: string;
const posts: Array<{ path: string; body: string }> = [];
const waiters = new Set<() => void>();
let gw: TestGateway;
let off: TestGateway;

function attr(s: { attributes: Attr[] }, key: string): unknown {
  const v = s.attributes.find((a) => a.key === key)?.value;
  if (!v) return undefined;
  if ('intValue' in v) return Number(v.intValue);
  return Object.values(v)[0];
}
const spans = (): Span[] =>
  posts
    .filter((p) => p.path === '/v1/traces')
    .flatMap((p) => (JSON.parse(p.body) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Span[] }> }> }).resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));

/** Resolves once the receiver holds what `ready` looks for; fails after 10 s. */
function until<T>(ready: () => T | undefined, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const v = ready();
      if (v !== undefined) {
        clearTimeout(timer);
        waiters.delete(check);
        resolve(v);
      }
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`no ${what} within 10 s; received: ${posts.map((p) => p.path).join(', ')}`));
    }, 10_000);
    waiters.add(check);
    check();
  });
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      posts.push({ path: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      for (const w of [...waiters]) w();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  gw = await startTestGateway({ raw: { telemetry: { otlp: { endpoint: url, interval_ms: 100, service_name: 'tollgate-test' } } } });
  off = await startTestGateway();
});

afterAll(async () => {
  await gw?.close();
  await off?.close();
  await new Promise<void>((r) => receiver.close(() => r()));
});

describe('OpenTelemetry export', () => {
  it('exports each request as a trace with GenAI attributes and a span per upstream attempt, without secrets or content', async () => {
    const { orgId } = await gw.createOrg(5);
    const { mk } = await gw.createOrg(5);
    const org = await gw.createOrg(5);
    const key = await gw.createKey(org.mk);
    const secretPrompt = 'the-password-is-swordfish';
    const res = await chat(gw.url, key.key, { model: 'mock-chat', messages: [{ role: 'user', content: secretPrompt }] });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-tollgate-request-id')!;
    const body = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    expect(orgId).not.toBe(org.orgId);
    expect(mk).toBeTruthy();

    const root = await until(() => spans().find((s) => attr(s, 'tollgate.request.id') === requestId && s.kind === 2), 'server span');
    expect(root.name).toBe('chat mock-chat');
    expect(attr(root, 'gen_ai.operation.name')).toBe('chat');
    expect(attr(root, 'gen_ai.request.model')).toBe('mock-chat');
    expect(attr(root, 'gen_ai.response.model')).toBe('mock-chat');
    expect(attr(root, 'gen_ai.provider.name')).toBe('mock');
    expect(attr(root, 'gen_ai.usage.input_tokens')).toBe(body.usage.prompt_tokens);
    expect(attr(root, 'gen_ai.usage.output_tokens')).toBe(body.usage.completion_tokens);
    expect(attr(root, 'tollgate.org.id')).toBe(org.orgId);
    expect(attr(root, 'tollgate.key.id')).toBe(key.id);
    expect(attr(root, 'http.response.status_code')).toBe(200);
    expect(root.traceId).toMatch(/^[0-9a-f]{32}$/);

    const children = spans().filter((s) => s.traceId === root.traceId && s.parentSpanId === root.spanId);
    expect(children.map((s) => s.name).sort()).toEqual(['chat mock-chat', 'tollgate.admission', 'tollgate.response']);
    const attempt = children.find((s) => s.kind === 3)!;
    expect(attr(attempt, 'gen_ai.provider.name')).toBe('mock');
    expect(attr(attempt, 'tollgate.channel')).toBeTruthy();
    expect(BigInt(attempt.startTimeUnixNano) >= BigInt(root.startTimeUnixNano)).toBe(true);
    expect(BigInt(attempt.endTimeUnixNano) <= BigInt(root.endTimeUnixNano)).toBe(true);

    const all = posts.map((p) => p.body).join('\n');
    expect(all).not.toContain(key.key);
    expect(all).not.toContain(org.mk);
    expect(all).not.toContain(secretPrompt);
    expect(all).not.toContain('sk-tg-');
  });

  it('marks a failed request, and exports token usage, operation duration and time to first token', async () => {
    const org = await gw.createOrg(5);
    const key = await gw.createKey(org.mk);
    const res = await chat(gw.url, key.key, { model: 'mock-chat', stream: true, messages: [{ role: 'user', content: 'stream please' }] });
    expect(res.status).toBe(200);
    await res.text();
    const bad = await chat(gw.url, key.key, { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] });
    const badId = bad.headers.get('x-tollgate-request-id')!;
    await bad.text();
    expect(bad.status).toBe(404);
    const failed = await until(() => spans().find((s) => attr(s, 'tollgate.request.id') === badId && s.kind === 2), 'failed request span');
    expect(attr(failed, 'http.response.status_code')).toBe(404);
    expect(attr(failed, 'error.type')).toBe('404');
    const names = (): Set<string> =>
      new Set(
        posts
          .filter((p) => p.path === '/v1/metrics')
          .flatMap((p) => (JSON.parse(p.body) as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ name: string }> }> }> }).resourceMetrics.flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.name)))),
      );
    await until(() => (names().has('gen_ai.server.time_to_first_token') ? true : undefined), 'time to first token metric');
    expect(names()).toEqual(new Set(['gen_ai.client.token.usage', 'gen_ai.client.operation.duration', 'gen_ai.server.time_to_first_token']));
    const last = posts.filter((p) => p.path === '/v1/metrics').at(-1)!;
    const usage = (JSON.parse(last.body) as { resourceMetrics: Array<{ resource: { attributes: Attr[] }; scopeMetrics: Array<{ metrics: Array<{ name: string; histogram: { dataPoints: Array<{ attributes: Attr[]; count: string }> } }> }> }> }).resourceMetrics[0];
    expect(attr(usage.resource, 'service.name')).toBe('tollgate-test');
    const tokenPoints = usage.scopeMetrics[0].metrics.find((m) => m.name === 'gen_ai.client.token.usage')!.histogram.dataPoints;
    expect(tokenPoints.map((d) => attr(d, 'gen_ai.token.type')).sort()).toEqual(expect.arrayContaining(['input', 'output']));
  });

  it('is off unless configured, and OTEL_EXPORTER_OTLP_ENDPOINT turns it on', () => {
    expect(off.running.gateway.telemetry).toBeUndefined();
    expect(gw.running.gateway.telemetry).toBeDefined();
    const raw = { providers: [{ id: 'mock', type: 'mock' }], models: MOCK_MODELS };
    expect(validateConfig(raw, {}).telemetry.otlp.endpoint).toBeNull();
    expect(validateConfig(raw, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).telemetry.otlp.endpoint).toBe('http://collector:4318');
    expect(validateConfig({ ...raw, telemetry: { otlp: { endpoint: 'http://a:1' } } }, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://b:2' }).telemetry.otlp.endpoint).toBe('http://a:1');
    expect(() => validateConfig(raw, { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });
});

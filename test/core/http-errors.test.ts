// SPEC §12 error envelope on the HTTP surface (with §2, §5 and §7): authentication, unknown
// models, paths and methods, body limits, upstream failures mapped to 4xx/5xx, malformed
// upstream answers, and X-Request-Id on every response.
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../../src/auth/keys.js';
import { buildHttpApp } from '../../src/http/app.js';
import { chat, expectError, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { within } from '../helpers/sse.js';
import { chatModel, chunkFrame, completionBody, lastUserText, openaiProvider, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';

const MAX_BODY = 1024;
const PROVIDER_400 = "Invalid value for 'logit_bias': token 99999999 is out of range.";
const PROVIDER_500 = 'The upstream model server exploded (replica 7).';

let gw: TestGateway;
let upstream: ScriptedUpstream;
let key: string;

/** Each scripted answer is chosen by the last user message ("scenario:<name>"). */
async function startScenarioUpstream(): Promise<ScriptedUpstream> {
  return startScriptedUpstream((req, res) => {
    const scenario = lastUserText(req).replace(/^scenario:/, '');
    switch (scenario) {
      case '400':
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: PROVIDER_400, type: 'invalid_request_error' } }));
        return;
      case '500':
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: PROVIDER_500, type: 'server_error' } }));
        return;
      case 'hang':
        return; // never answers; the test's close() drops the socket
      case 'not-json':
        res.writeHead(200, { 'content-type': 'application/json' }).end('this is not json {');
        return;
      case 'wrong-shape':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: 'fine', answer: 42 }));
        return;
      case 'null-message':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: null, finish_reason: 'stop' }] }));
        return;
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>502 Bad Gateway</body></html>');
        return;
      case 'truncated-sse':
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choi');
        return;
      case 'null-choice-sse':
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`data: {"id":"c","object":"chat.completion.chunk","choices":[null]}\n\n${chunkFrame({ content: 'x' })}data: [DONE]\n\n`);
        return;
      default:
        res.writeHead(200, { 'content-type': 'application/json' }).end(completionBody(`scripted answer to ${scenario}`));
    }
  });
}

beforeAll(async () => {
  upstream = await startScenarioUpstream();
  gw = await startTestGateway({
    raw: {
      server: { max_body_bytes: MAX_BODY },
      providers: [
        { id: 'mock', type: 'mock', timeouts: { first_byte_ms: 300, request_ms: 300 } },
        openaiProvider('script', upstream.url, { timeouts: { connect_ms: 1000, first_byte_ms: 300, idle_ms: 1000, request_ms: 300 } }),
      ],
      models: [...MOCK_MODELS, chatModel('script-chat', 'script', 'scripted-model')],
      // Quick retries, and breakers that never open, so each test sees its own upstream answer.
      routing: { max_attempts: 2, retry_base_ms: 1, retry_max_ms: 5 },
      circuit_breaker: { failure_threshold: 1000, min_requests: 1000 },
    },
  });
  const org = await gw.createOrg(10);
  key = (await gw.createKey(org.mk)).key;
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

const hello = { model: 'mock-chat', messages: [{ role: 'user', content: 'Hello' }] };
const scenario = (name: string, extra: Record<string, unknown> = {}) => ({ model: 'script-chat', messages: [{ role: 'user', content: `scenario:${name}` }], ...extra });
const sentUpstream = (name: string) => upstream.requests.filter((r) => lastUserText(r) === `scenario:${name}`).length;

function expectNoLeak(body: string): void {
  expect(body).not.toMatch(/\bat .+\.(ts|js):\d+/);
  expect(body).not.toContain('node_modules');
  expect(body).not.toContain('upstream-secret-key');
}

describe('SPEC §7 authentication errors', () => {
  it('returns 401 missing_api_key without an Authorization header', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hello) });
    const err = await expectError(res, 401, 'missing_api_key');
    expect(err.type).toBe('authentication_error');
    expect(err.message).toContain('Authorization');
  });

  it('returns 401 invalid_api_key with a distinct message for garbage, a bad checksum and an unknown key', async () => {
    const flipped = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    const unknown = generateKey('sk');
    const messages: string[] = [];
    for (const k of ['garbage-not-a-key', flipped, unknown]) {
      const err = await expectError(await chat(gw.url, k, hello), 401, 'invalid_api_key');
      expect(err.type).toBe('authentication_error');
      expect(err.message).not.toContain(k);
      messages.push(err.message);
    }
    expect(messages[0]).toMatch(/malformed/i);
    expect(messages[1]).toMatch(/checksum/i);
    expect(messages[2]).toMatch(/not known/i);
    expect(new Set(messages).size).toBe(3);
  });
});

describe('SPEC §4 unknown models', () => {
  it.each(['Mock-Chat', 'mock-chatt'])('returns 404 model_not_found for "%s" with a did-you-mean suggestion', async (model) => {
    const err = await expectError(await chat(gw.url, key, { ...hello, model }), 404, 'model_not_found');
    expect(err.type).toBe('not_found_error');
    expect(err.param).toBe('model');
    expect(err.message).toContain('did you mean `mock-chat`?');
  });

  it('returns 404 model_not_found without a suggestion when nothing is close', async () => {
    const err = await expectError(await chat(gw.url, key, { ...hello, model: 'totally-different-llm-9000' }), 404, 'model_not_found');
    expect(err.message).not.toContain('did you mean');
    expect(err.message).toContain('GET /v1/models');
  });
});

describe('SPEC §2 unknown paths and wrong methods', () => {
  it('returns 404 not_found in the envelope for an unknown path', async () => {
    const res = await fetch(`${gw.url}/v1/no-such-endpoint`, { headers: { authorization: `Bearer ${key}` } });
    const err = await expectError(res, 404, 'not_found');
    expect(err.type).toBe('not_found_error');
  });

  it.each([
    ['PUT', '/v1/chat/completions', 'POST'],
    ['DELETE', '/v1/models', 'GET'],
  ])('returns 405 method_not_allowed for %s %s, naming the allowed method', async (method, path, allowed) => {
    const res = await fetch(gw.url + path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: method === 'PUT' ? '{}' : undefined });
    expect(res.headers.get('allow')).toContain(allowed);
    const err = await expectError(res, 405, 'method_not_allowed');
    expect(err.type).toBe('invalid_request_error');
    expect(err.message).toContain(allowed);
  });
});

describe('SPEC §7 body size limit', () => {
  it('returns 413 payload_too_large for a body above server.max_body_bytes', async () => {
    const res = await chat(gw.url, key, { ...hello, messages: [{ role: 'user', content: 'x'.repeat(MAX_BODY * 2) }] });
    const err = await expectError(res, 413, 'payload_too_large');
    expect(err.type).toBe('invalid_request_error');
  });

  it('answers 413 to an endless chunked body while the client is still sending', async () => {
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 1024;
        this.push(Buffer.alloc(1024, 0x20));
      },
    });
    const req = httpRequest(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    });
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    endless.pipe(req);
    try {
      const { status, body } = await within(answer, 3000, 'the 413 response');
      expect(status).toBe(413);
      expect(JSON.parse(body).error.code).toBe('payload_too_large');
      // The body never ended: the gateway answered without waiting for (or buffering) the rest.
      expect(endless.readableEnded).toBe(false);
      expect(req.writableEnded).toBe(false);
      expect(produced).toBeGreaterThan(MAX_BODY);
    } finally {
      endless.unpipe(req);
      endless.destroy();
      req.destroy();
    }
  });
});

describe('SPEC §12 internal errors', () => {
  // No public input provokes an unexpected exception (every known failure maps to a code), so
  // the real error handler is exercised through an extra route on a second app instance.
  it('turns an unexpected exception on any route into 500 internal_error without a stack trace, logged with the request id', async () => {
    const extra = buildHttpApp(gw.running.gateway);
    extra.app.get('/__test/throw', async () => {
      throw new TypeError('cannot read properties of undefined (internal detail)');
    });
    try {
      const res = await extra.app.inject({ method: 'GET', url: '/__test/throw', headers: { 'x-request-id': 'req-internal-1' } });
      expect(res.statusCode).toBe(500);
      expect(res.headers['x-request-id']).toBe('req-internal-1');
      expect(res.json()).toEqual({ error: { message: expect.any(String), type: 'api_error', code: 'internal_error', param: null } });
      expect(res.body).not.toContain('internal detail');
      expect(res.body).not.toContain('TypeError');
      expectNoLeak(res.body);
      expect(gw.logs.some((l) => l.includes('req-internal-1') && l.includes('internal detail'))).toBe(true);
    } finally {
      await extra.app.close();
    }
  });
});

describe('SPEC §5 upstream errors', () => {
  it("returns 502 provider_error with the provider's message when the upstream answers 500 (after retrying)", async () => {
    const res = await chat(gw.url, key, scenario('500'));
    const err = await expectError(res, 502, 'provider_error');
    expect(err.type).toBe('upstream_error');
    expect(err.message).toContain(PROVIDER_500);
    expect(sentUpstream('500')).toBe(2);
  });

  it("maps a provider 400 to 400 with the provider's message and does not retry it", async () => {
    const res = await chat(gw.url, key, scenario('400'));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toContain(PROVIDER_400);
    expect(sentUpstream('400')).toBe(1);
  });

  it('returns 504 timeout, sent once, when a non-stream answer does not come within timeouts.request_ms', async () => {
    const started = Date.now();
    const err = await expectError(await chat(gw.url, key, scenario('hang')), 504, 'timeout');
    expect(err.type).toBe('upstream_error');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(sentUpstream('hang')).toBe(1);
  });

  it('returns 504 timeout when the mock provider hangs', async () => {
    const err = await expectError(await chat(gw.url, key, hello, { 'x-mock-fault': 'hang' }), 504, 'timeout');
    expect(err.type).toBe('upstream_error');
  });

  it('returns 502 provider_error when the mock provider answers 500', async () => {
    const err = await expectError(await chat(gw.url, key, hello, { 'x-mock-fault': 'status=500' }), 502, 'provider_error');
    expect(err.message).toContain('500');
  });
});

describe('SPEC §12 malformed upstream answers become 502 in the envelope', () => {
  it.each([
    ['a non-JSON body', scenario('not-json')],
    ['valid JSON of the wrong shape', scenario('wrong-shape')],
    ['a choice whose message is null', scenario('null-message')],
    ['an HTML page (wrong content type)', scenario('html')],
    ['a stream answered with an HTML page (wrong content type)', scenario('html', { stream: true })],
    ['a stream truncated mid-event', scenario('truncated-sse', { stream: true })],
    ['a stream whose first chunk has a null choice', scenario('null-choice-sse', { stream: true })],
  ])('%s', async (_name, body) => {
    const res = await chat(gw.url, key, body);
    const text = await res.clone().text();
    const err = await expectError(res, 502, 'provider_error');
    expect(err.type).toBe('upstream_error');
    expect(err.message).toContain('script');
    expectNoLeak(text);
  });

  it('returns 502 for a malformed mock answer', async () => {
    await expectError(await chat(gw.url, key, hello, { 'x-mock-fault': 'malformed' }), 502, 'provider_error');
  });

  it('keeps serving after malformed answers', async () => {
    await chat(gw.url, key, scenario('not-json')).then((r) => r.text());
    const health = await fetch(`${gw.url}/healthz`);
    expect(health.status).toBe(200);
    const ok = await chat(gw.url, key, scenario('fine'));
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { choices: Array<{ message: { content: string } }> }).choices[0].message.content).toBe('scripted answer to fine');
  });
});

describe('SPEC §5 X-Request-Id', () => {
  it.each([
    ['a success', () => chat(gw.url, key, hello)],
    ['a 401', () => chat(gw.url, 'nope', hello)],
    ['a 404 path', () => fetch(`${gw.url}/nowhere`)],
    ['a 405', () => fetch(`${gw.url}/v1/models`, { method: 'DELETE' })],
    ['a 413', () => chat(gw.url, key, { ...hello, messages: [{ role: 'user', content: 'x'.repeat(MAX_BODY * 2) }] })],
    ['a 502', () => chat(gw.url, key, scenario('not-json'))],
    ['a stream', () => chat(gw.url, key, { ...hello, stream: true })],
    ['/healthz', () => fetch(`${gw.url}/healthz`)],
  ])('is set on %s', async (_name, send) => {
    const res = await send();
    await res.text();
    expect(res.headers.get('x-request-id')).toMatch(/^\S{8,}$/);
  });

  it('echoes the id the client sent, on success and on error', async () => {
    const ok = await chat(gw.url, key, hello, { 'x-request-id': 'client-req-0001' });
    await ok.text();
    expect(ok.headers.get('x-request-id')).toBe('client-req-0001');
    const bad = await chat(gw.url, key, { ...hello, temperature: 9 }, { 'x-request-id': 'client-req-0002' });
    await bad.text();
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-request-id')).toBe('client-req-0002');
    const stream = await chat(gw.url, key, { ...hello, stream: true }, { 'x-request-id': 'client-req-0003' });
    await stream.text();
    expect(stream.headers.get('x-request-id')).toBe('client-req-0003');
  });

  it('gives different requests different ids', async () => {
    const a = await chat(gw.url, key, hello);
    const b = await chat(gw.url, key, hello);
    await Promise.all([a.text(), b.text()]);
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
  });
});

// The direct lane (src/http/direct-lane.ts) serves inference POSTs without Fastify. Every answer
// it gives must be the one the Fastify route gives: each request below is sent twice, once as
// the lane takes it (a body of known length) and once with a chunked body, which the lane leaves
// to Fastify, and the two answers are compared. Requests it must not take reach Fastify untouched.
import { type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let key: string;
let orgId: string;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** Sends a request over a fresh connection; `chunked` sends the body without a Content-Length. */
function send(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string; chunked?: boolean }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = opts.body ?? '';
    const headers: Record<string, string> = { connection: 'close', ...opts.headers };
    if (!opts.chunked && opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    const req = httpRequest(`${gw.url}${path}`, { method: opts.method ?? 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    // Without a Content-Length, Node sends what is written before end() chunked.
    if (opts.body !== undefined) req.write(body);
    req.end();
  });
}

/** What must not differ between the two paths: ids, times and the rate-limit countdown may. */
function comparable(a: Answer): { status: number; headers: Record<string, unknown>; text: string } {
  const headers: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(a.headers)) {
    if (['date', 'x-tollgate-request-id', 'transfer-encoding', 'content-length'].includes(name) || name.startsWith('x-ratelimit-')) continue;
    headers[name] = name === 'x-request-id' && String(value).startsWith('req_') ? 'ours' : value;
  }
  const text = a.text
    // Times in seconds: two answers a moment apart may fall either side of a second's edge.
    .replace(/"(created|created_at|completed_at)":\s*\d+/g, '"$1":0')
    .replace(/"id":"(chatcmpl|cmpl|msg|resp|rs|msg_|fc|call)[-_][A-Za-z0-9_-]+"/g, '"id":"ID"')
    .replace(/req_[A-Za-z0-9_-]+/g, 'REQ');
  return { status: a.status, headers, text };
}

beforeAll(async () => {
  gw = await startTestGateway();
  const org = await gw.createOrg(10);
  orgId = org.orgId;
  key = (await gw.createKey(org.mk)).key;
});
afterAll(async () => {
  await gw.close();
});

const lane = () => gw.running.http.lane;
const auth = () => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });

describe('the direct lane answers as the Fastify routes do', () => {
  const cases: Array<{ name: string; path: string; body: string; headers?: Record<string, string> }> = [
    { name: 'a chat completion', path: '/v1/chat/completions', body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'hello lane' }] }) },
    { name: 'a streamed chat completion', path: '/v1/chat/completions', body: JSON.stringify({ model: 'mock-chat', stream: true, messages: [{ role: 'user', content: 'hello stream' }] }) },
    { name: 'a Messages call', path: '/v1/messages', body: JSON.stringify({ model: 'mock-chat', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }) },
    { name: 'a Responses call', path: '/v1/responses', body: JSON.stringify({ model: 'mock-chat', input: 'hello responses', store: false }) },
    { name: 'a legacy completion', path: '/v1/completions', body: JSON.stringify({ model: 'mock-chat', prompt: 'hello' }) },
    // About 200 KB: it reaches the gateway in several chunks, some of which end inside a character.
    { name: 'a body of many chunks, characters of 2 and 3 bytes split between them', path: '/v1/chat/completions', body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: '\u00e9\u20ac'.repeat(40_000) }] }) },
    { name: 'JSON that does not parse', path: '/v1/chat/completions', body: '{"model":' },
    { name: 'JSON nested too deep', path: '/v1/chat/completions', body: `${'['.repeat(600)}${']'.repeat(600)}` },
    { name: 'a Messages body the surface refuses (its own envelope)', path: '/v1/messages', body: JSON.stringify({ model: 'mock-chat', messages: [] }) },
    { name: 'an unknown model', path: '/v1/chat/completions', body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }) },
    { name: 'a client request id', path: '/v1/chat/completions', body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'ids' }] }), headers: { 'x-request-id': 'client-id-42' } },
    { name: 'an invalid client request id', path: '/v1/chat/completions', body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'ids' }] }), headers: { 'x-request-id': 'bad id with spaces' } },
    { name: 'an upstream failure', path: '/v1/chat/completions', body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'x' }] }), headers: { 'x-mock-fault': 'status=400' } },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const before = lane().served;
      const direct = await send(c.path, { headers: { ...auth(), ...c.headers }, body: c.body });
      expect(lane().served, 'the lane took the request with a known length').toBe(before + 1);
      const viaFastify = await send(c.path, { headers: { ...auth(), ...c.headers }, body: c.body, chunked: true });
      expect(lane().served, 'a chunked body goes to Fastify').toBe(before + 1);
      expect(comparable(direct)).toEqual(comparable(viaFastify));
      expect(direct.headers['x-tollgate-request-id']).toMatch(/^req_/);
    });
  }

  it('bills a request it serves as the Fastify route does', async () => {
    const body = JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'what does this cost' }] });
    const direct = await send('/v1/chat/completions', { headers: auth(), body });
    const viaFastify = await send('/v1/chat/completions', { headers: auth(), body, chunked: true });
    expect(direct.status).toBe(200);
    expect(direct.headers['x-tollgate-cost-usd']).toBe(viaFastify.headers['x-tollgate-cost-usd']);
    const costs = [direct, viaFastify].map((a) => (JSON.parse(a.text) as { usage: { cost: number } }).usage.cost);
    expect(costs[0]).toBeGreaterThan(0);
    expect(costs[0]).toBe(costs[1]);
    await gw.running.gateway.usage.flushAll(10_000);
    const ids = [direct, viaFastify].map((a) => String(a.headers['x-tollgate-request-id']));
    const rows = await gw.running.gateway.store.listUsage({ org_id: orgId, limit: 500 });
    const found = rows.rows.filter((r) => ids.includes(r.request_id));
    expect(found.map((r) => r.request_id).sort()).toEqual([...ids].sort());
    expect(found[0]!.cost_micros).toBe(found[1]!.cost_micros);
  });
});

describe('what the direct lane leaves to Fastify', () => {
  const body = JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'x' }] });
  const untaken: Array<{ name: string; path: string; headers: () => Record<string, string>; body?: string; status: number; code?: string }> = [
    { name: 'a bad key (answered before the body is read)', path: '/v1/chat/completions', headers: () => ({ authorization: 'Bearer sk-tg-not-a-key', 'content-type': 'application/json' }), body, status: 401, code: 'invalid_api_key' },
    { name: 'no key', path: '/v1/chat/completions', headers: () => ({ 'content-type': 'application/json' }), body, status: 401, code: 'missing_api_key' },
    { name: 'an empty body', path: '/v1/chat/completions', headers: auth, body: '', status: 400 },
    { name: 'no content type', path: '/v1/chat/completions', headers: () => ({ authorization: `Bearer ${key}` }), body, status: 200 },
    { name: 'a query string', path: '/v1/chat/completions?x=1', headers: auth, body, status: 200 },
    { name: 'another inference route', path: '/v1/embeddings', headers: auth, body: JSON.stringify({ model: 'mock-embedding', input: 'x' }), status: 200 },
    { name: 'a management route', path: '/api/keys', headers: auth, body: '{}', status: 403, code: 'wrong_key_type' },
  ];
  for (const c of untaken) {
    it(c.name, async () => {
      const before = lane().served;
      const answer = await send(c.path, { headers: c.headers(), body: c.body });
      expect(lane().served).toBe(before);
      expect(answer.status, answer.text).toBe(c.status);
      if (c.code) expect((JSON.parse(answer.text) as { error: { code: string } }).error.code).toBe(c.code);
      expect(answer.headers['x-tollgate-request-id']).toMatch(/^req_/);
    });
  }

  it('a body over the limit', async () => {
    const before = lane().served;
    const big = JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'x'.repeat(gw.config.server.max_body_bytes) }] });
    const answer = await send('/v1/chat/completions', { headers: auth(), body: big });
    expect(lane().served).toBe(before);
    expect(answer.status).toBe(413);
  });

  it('requests while the gateway refuses new work (the in-flight bound)', async () => {
    const server = gw.running.gateway.config.server as { max_in_flight: number };
    const bound = server.max_in_flight;
    server.max_in_flight = 0;
    try {
      const before = lane().served;
      const answer = await send('/v1/chat/completions', { headers: auth(), body });
      expect(lane().served).toBe(before);
      expect(answer.status).toBe(503);
      expect(answer.headers['retry-after']).toBe('1');
    } finally {
      server.max_in_flight = bound;
    }
  });
});

describe('a client that leaves while the lane reads its body', () => {
  it('gives back its in-flight slot and leaves the gateway serving', async () => {
    const inFlight = gw.running.gateway.metrics.inFlight;
    const before = lane().served;
    const req = httpRequest(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { ...auth(), 'content-length': '1000' } });
    req.on('error', () => {});
    req.write('{"model":"mock-chat","messa');
    // The lane takes the request on its headers, before the body has arrived.
    const until = async (done: () => boolean) => {
      const deadline = Date.now() + 5000;
      while (!done() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    };
    await until(() => lane().served === before + 1);
    expect(lane().served).toBe(before + 1);
    expect(inFlight.value).toBe(1);
    req.destroy();
    // The gauge comes back to zero when the server sees the connection close.
    await until(() => inFlight.value === 0);
    expect(inFlight.value).toBe(0);
    const after = await send('/v1/chat/completions', { headers: auth(), body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'still there' }] }) });
    expect(after.status).toBe(200);
  });
});

describe('a streamed answer to a client that asked to close the connection', () => {
  it('says close, so the client does not send its next request on a connection the server ends', async () => {
    const body = JSON.stringify({ model: 'mock-chat', stream: true, messages: [{ role: 'user', content: 'then close' }] });
    const first = await send('/v1/chat/completions', { headers: auth(), body });
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(first.headers.connection).toBe('close');
    // Node's client agent keeps a connection the answer called keep-alive: the next request on it
    // met a server that had stopped parsing that connection (400, "could not be parsed as HTTP").
    for (let i = 0; i < 3; i++) {
      const next = await send('/v1/chat/completions', { headers: auth(), body });
      expect(next.status, next.text).toBe(200);
    }
  });
});

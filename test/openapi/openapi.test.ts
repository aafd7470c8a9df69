// GET /openapi.json: generated from the routes' declarations, it covers every /v1, /api and
// /admin route, and real answers of every route (successes and errors) validate against it.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDocumentedPath } from '../../src/http/openapi.js';
import { startWebhookReceiver, type WebhookReceiver } from '../alerts/receivers.js';
import { ADMIN_TOKEN, flushed, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';

type Operation = { responses: Record<string, { content: Record<string, { schema: unknown }> }>; requestBody?: { content: Record<string, { schema: unknown }> } };
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };

let gw: TestGateway;
let hooks: WebhookReceiver;
let doc: Doc;
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
const compiled = new Map<unknown, ValidateFunction>();
/** method + OpenAPI path of every call the test made, to prove each documented route was exercised. */
const exercised = new Set<string>();

function validator(schema: unknown): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema as object);
    compiled.set(schema, v);
  }
  return v;
}

/** The documented operation a concrete request hits: `/api/keys/key_1` matches `/api/keys/{id}`. */
function operationFor(method: string, path: string): { template: string; op: Operation } {
  for (const [template, ops] of Object.entries(doc.paths)) {
    const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (re.test(path) && ops[method.toLowerCase()]) return { template, op: ops[method.toLowerCase()] };
  }
  throw new Error(`${method} ${path} is not in the OpenAPI document`);
}

/** Calls a route and checks its answer against the document: the status must be declared (or an error under `default`), the body must match. */
async function call(method: string, path: string, auth: string | null, body?: unknown, expectStatus?: number): Promise<{ status: number; json: Record<string, unknown> }> {
  const form = body instanceof FormData;
  const headers: Record<string, string> = form ? {} : { 'content-type': 'application/json' };
  if (auth) headers.authorization = `Bearer ${auth}`;
  const res = await fetch(gw.url + path, { method, headers, body: body === undefined ? undefined : form ? body : JSON.stringify(body) });
  const text = await res.text();
  if (expectStatus !== undefined) expect(res.status, `${method} ${path}: ${text}`).toBe(expectStatus);
  const { template, op } = operationFor(method, path.split('?')[0]);
  exercised.add(`${method} ${template}`);
  const declared = op.responses[String(res.status)];
  if (res.status < 400) expect(declared, `${method} ${path} answered ${res.status}, which the document does not declare`).toBeDefined();
  const schema = (declared ?? op.responses.default).content['application/json'].schema;
  const json = JSON.parse(text) as Record<string, unknown>;
  const v = validator(schema);
  expect(v(json), `${method} ${path} ${res.status}: ${ajv.errorsText(v.errors)}\n${text.slice(0, 2000)}`).toBe(true);
  return { status: res.status, json };
}

/** One second of silent 16 kHz mono 16-bit WAV. */
function silentWav(seconds: number): Buffer {
  const dataBytes = seconds * 16000 * 2;
  const b = Buffer.alloc(44 + dataBytes);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + dataBytes, 4);
  b.write('WAVEfmt ', 8, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(16000, 24);
  b.writeUInt32LE(32000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(dataBytes, 40);
  return b;
}

beforeAll(async () => {
  hooks = await startWebhookReceiver();
  const image = { id: 'mock-image', kind: 'image', pricing: { per_image: 0.02 }, channels: [{ provider: 'mock', upstream_model: 'mock-image' }] };
  const whisper = { id: 'mock-whisper', kind: 'transcription', pricing: { per_audio_second: 0.0001 }, channels: [{ provider: 'mock', upstream_model: 'mock-whisper' }] };
  gw = await startTestGateway({ raw: { alerts: { allowed_hosts: ['127.0.0.1'] }, models: [...MOCK_MODELS, image, whisper] } });
  const res = await fetch(`${gw.url}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = (await res.json()) as Doc;
});
afterAll(async () => {
  await gw?.close();
  await hooks?.close();
});

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document whose every schema compiles', () => {
    expect(doc.openapi).toBe('3.1.0');
    for (const ops of Object.values(doc.paths)) {
      for (const op of Object.values(ops)) {
        for (const r of Object.values(op.responses)) for (const c of Object.values(r.content)) validator(c.schema);
        if (op.requestBody) validator(op.requestBody.content['application/json'].schema);
      }
    }
  });

  it('describes every registered /v1, /api and /admin route, and nothing else', () => {
    const registered = gw.running.http.routes.filter((r) => isDocumentedPath(r.url)).map((r) => `${r.method} ${r.url.replace(/:([A-Za-z_]\w*)/g, '{$1}')}`);
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(registered.length).toBeGreaterThan(20);
    const undocumented = gw.running.http.routes.filter((r) => isDocumentedPath(r.url) && !r.doc).map((r) => `${r.method} ${r.url}`);
    expect(undocumented, 'routes without a `config.doc` declaration').toEqual([]);
    expect(documented.sort()).toEqual([...new Set(registered)].sort());
  });

  it('declares request bodies from the schemas the handlers parse with', () => {
    const createOrg = doc.paths['/admin/orgs'].post.requestBody?.content['application/json'].schema as { properties: Record<string, unknown>; additionalProperties: boolean; required: string[] };
    expect(Object.keys(createOrg.properties).sort()).toEqual(['allowed_models', 'credits_usd', 'name', 'spend_cap_usd']);
    expect(createOrg.additionalProperties).toBe(false);
    expect(createOrg.required).toEqual(['name']);
    const usage = doc.paths['/api/usage'].get as unknown as { parameters: Array<{ name: string; in: string }> };
    expect(usage.parameters.map((p) => p.name)).toEqual(expect.arrayContaining(['from', 'to', 'key_id', 'model', 'group_by', 'cursor', 'limit']));
  });
});

describe('real answers of every route validate against the document', () => {
  it('covers /admin, /api and /v1 with successes and errors', async () => {
    // Operator
    const created = await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: `openapi-${Date.now()}`, credits_usd: 5 }, 201);
    const org = created.json.org as { id: string };
    const mk = created.json.management_key as string;
    await call('GET', '/admin/orgs', ADMIN_TOKEN, undefined, 200);
    await call('GET', `/admin/orgs/${org.id}`, ADMIN_TOKEN, undefined, 200);
    await call('PATCH', `/admin/orgs/${org.id}`, ADMIN_TOKEN, { rpm: 1000, semantic_cache: false }, 200);
    await call('POST', `/admin/orgs/${org.id}/credits`, ADMIN_TOKEN, { amount_usd: 1, idempotency_key: 'g1' }, 201);
    await call('POST', `/admin/orgs/${org.id}/credits`, ADMIN_TOKEN, { amount_usd: 1, idempotency_key: 'g1' }, 200);
    await call('POST', `/admin/orgs/${org.id}/keys`, ADMIN_TOKEN, { name: 'ops' }, 201);
    await call('GET', `/admin/orgs/${org.id}/keys`, ADMIN_TOKEN, undefined, 200);
    await call('GET', '/admin/models', ADMIN_TOKEN, undefined, 200);
    await call('POST', '/admin/orgs', ADMIN_TOKEN, { name: 'x', surprise: 1 }, 400);
    await call('GET', '/admin/orgs', 'wrong-token', undefined, 401);
    await call('GET', '/admin/orgs/org_missing', ADMIN_TOKEN, undefined, 404);

    // Account
    const k = await call('POST', '/api/keys', mk, { name: 'app', budget_usd: 2 }, 201);
    const sk = k.json.key as string;
    const keyId = k.json.id as string;
    await call('GET', '/api/keys', mk, undefined, 200);
    await call('GET', `/api/keys/${keyId}`, mk, undefined, 200);
    await call('PATCH', `/api/keys/${keyId}`, mk, { rpm: 100 }, 200);
    await call('GET', '/api/balance', mk, undefined, 200);
    await call('GET', '/api/balance', sk, undefined, 200);
    await call('GET', '/api/models', mk, undefined, 200);
    await call('GET', '/api/alerts', mk, undefined, 200);
    await call('PUT', '/api/alerts', mk, { webhook_url: `${hooks.url}/hook`, events: ['balance.low'], balance_low_usd: 1 }, 200);
    await call('POST', '/api/alerts/test', mk, undefined, 200);
    await call('POST', '/api/alerts/secret/rotate', mk, undefined, 201);
    await call('GET', '/api/keys', null, undefined, 401);
    await call('GET', '/api/keys', sk, undefined, 403);
    await call('PATCH', `/api/keys/${keyId}`, mk, { rpm: -1 }, 400);

    // Inference
    await call('GET', '/v1/models', sk, undefined, 200);
    await call('GET', '/v1/models/mock-chat', sk, undefined, 200);
    await call('GET', '/v1/models/nope', sk, undefined, 404);
    await call('POST', '/v1/chat/completions', sk, { model: 'mock-chat', messages: [{ role: 'user', content: 'hello' }] }, 200);
    await call('POST', '/v1/chat/completions', sk, { model: 'mock-chat' }, 400);
    await call('POST', '/v1/completions', sk, { model: 'mock-chat', prompt: 'Once upon', max_tokens: 10 }, 200);
    const resp = await call('POST', '/v1/responses', sk, { model: 'mock-chat', input: 'hello' }, 200);
    const respId = resp.json.id as string;
    await call('GET', `/v1/responses/${respId}`, sk, undefined, 200);
    await call('GET', `/v1/responses/${respId}/input_items`, sk, undefined, 200);
    await call('DELETE', `/v1/responses/${respId}`, sk, undefined, 200);
    await call('GET', `/v1/responses/${respId}`, sk, undefined, 404);
    await call('POST', '/v1/messages', sk, { model: 'mock-chat', max_tokens: 50, messages: [{ role: 'user', content: 'hello' }] }, 200);
    await call('POST', '/v1/messages', 'sk-wrong', { model: 'mock-chat', max_tokens: 50, messages: [{ role: 'user', content: 'hello' }] }, 401);
    await call('POST', '/v1/messages/count_tokens', sk, { model: 'mock-chat', messages: [{ role: 'user', content: 'hello' }] }, 200);
    await call('POST', '/v1/embeddings', sk, { model: 'mock-embedding', input: ['a', 'b'] }, 200);
    await call('POST', '/v1/images/generations', sk, { model: 'mock-image', prompt: 'a kite', n: 1 }, 200);
    for (const op of ['transcriptions', 'translations']) {
      const form = new FormData();
      form.append('model', 'mock-whisper');
      form.append('file', new Blob([silentWav(1)], { type: 'audio/wav' }), 'a.wav');
      await call('POST', `/v1/audio/${op}`, sk, form, 200);
    }

    // Usage and ledger, once the requests above are recorded
    await flushed(gw);
    const usage = await call('GET', '/api/usage?limit=5', mk, undefined, 200);
    expect((usage.json.data as unknown[]).length).toBeGreaterThan(0);
    await call('GET', '/api/usage?group_by=day,model', mk, undefined, 200);
    await call('GET', '/api/usage?group_by=week', mk, undefined, 400);
    await call('GET', '/api/usage?from=a&from=b', mk, undefined, 400);
    await call('GET', '/api/ledger?limit=10', mk, undefined, 200);
    await call('GET', '/api/request-logs', mk, undefined, 200);
    await call('PUT', '/api/request-logs', mk, { enabled: true, retention_days: 2 }, 200);
    await call('PUT', '/api/request-logs', mk, { enabled: 'yes' }, 400);
    await call('GET', `/api/usage/${(usage.json.data as Array<{ request_id: string }>)[0]!.request_id}`, mk, undefined, 200);
    await call('GET', '/api/usage/req_missing', mk, undefined, 404);
    await call('GET', `/admin/usage?org_id=${org.id}&limit=5`, ADMIN_TOKEN, undefined, 200);
    await call('GET', '/admin/usage?org_id=nobody', ADMIN_TOKEN, undefined, 404);
    await call('GET', '/admin/stats?by=model,provider', ADMIN_TOKEN, undefined, 200);
    await call('GET', '/admin/stats?bucket=week', ADMIN_TOKEN, undefined, 400);
    await call('GET', '/admin/stats/orgs?limit=3', ADMIN_TOKEN, undefined, 200);
    await call('GET', '/api/audit?limit=5', mk, undefined, 200);
    await call('GET', '/api/audit?action=nope', mk, undefined, 400);
    await call('GET', `/admin/audit?org_id=${org.id}&action=org.create`, ADMIN_TOKEN, undefined, 200);

    const rotated = await call('POST', `/api/keys/${keyId}/rotate`, mk, { overlap_s: 0 }, 201);
    await call('DELETE', `/api/keys/${rotated.json.id as string}`, mk, undefined, 200);

    // Every documented operation was called at least once.
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(documented.filter((d) => !exercised.has(d))).toEqual([]);
  });

  it('a streamed answer is a declared alternative of the stream-capable routes', async () => {
    for (const path of ['/v1/chat/completions', '/v1/responses', '/v1/messages']) {
      expect(Object.keys(doc.paths[path].post.responses['200'].content)).toContain('text/event-stream');
    }
  });
});

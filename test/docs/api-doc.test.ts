// docs/api.md against the running gateway: every route is documented and every documented
// route exists; the documented fields of each answer object are the ones returned; the
// documented request fields are accepted; the documented response headers are the ones sent.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOCK_DEMO_MODELS } from '../../src/config/defaults.js';
import { ALL_CHAT_PARAMETERS } from '../../src/core/validate.js';
import { ADMIN_TOKEN, chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const PAGE = resolve(import.meta.dirname, '../../docs/api.md');
const text = readFileSync(PAGE, 'utf8');
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** "/admin/orgs/{id}", "/admin/orgs/:id" and "/console/*" all become "/admin/orgs/{}" … */
const normalise = (path: string) => path.replace(/\{[^}]+\}|:[A-Za-z_]+|\*/g, '{}');

/** `METHOD /path` of every "### METHOD /path" heading. */
function documentedRoutes(): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^#{2,4} (GET|POST|PUT|PATCH|DELETE) (\/\S*)\s*$/gm)) out.push(`${m[1]} ${normalise(m[2])}`);
  return out;
}

/** Fastify's route tree (printRoutes with full segments) as `METHOD /path` lines, without HEAD. */
function servedRoutes(tree: string): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^(.*?)(?:├── |└── )(\S+) \(([^)]+)\)\s*$/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    stack.push(m[2]);
    const path = stack.join('');
    for (const method of m[3].split(',').map((s) => s.trim())) if (METHODS.includes(method)) out.push(`${method} ${normalise(path)}`);
  }
  return out;
}

/** First-cell names of the table right after `<!-- kind: name -->`; a cell may hold several `names`. */
function markedTable(kind: string, name: string): string[] {
  const start = text.indexOf(`<!-- ${kind}: ${name} -->`);
  if (start === -1) throw new Error(`docs/api.md has no <!-- ${kind}: ${name} --> table`);
  const lines = text.slice(start).split('\n').slice(1);
  const names: string[] = [];
  for (const line of lines.slice(2)) {
    if (!line.startsWith('|')) break;
    const first = line.split('|')[1] ?? '';
    for (const f of first.matchAll(/`([^`]+)`/g)) names.push(f[1]);
  }
  return names;
}

/** Keys of an answer object, and `parent.child` for the nested objects the table describes. */
function fieldsOf(samples: Record<string, unknown>[], documented: string[]): string[] {
  const out = new Set<string>();
  const nested = new Set(documented.filter((d) => d.includes('.')).map((d) => d.split('.')[0]));
  for (const s of samples) {
    for (const [k, v] of Object.entries(s)) {
      out.add(k);
      if (nested.has(k) && v && typeof v === 'object' && !Array.isArray(v)) for (const c of Object.keys(v)) out.add(`${k}.${c}`);
    }
  }
  return [...out].sort();
}

let gw: TestGateway;
let mk: string;
let orgId: string;
let key: { id: string; key: string };
const answers = new Map<string, Record<string, unknown>[]>();
const headersSeen = new Set<string>();
const PLAIN_HEADERS = new Set(['content-type', 'content-length', 'date', 'connection', 'keep-alive', 'transfer-encoding', 'location']);

const api = (path: string, credential: string, init: { method?: string; body?: unknown } = {}) =>
  fetch(gw.url + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
const json = async (res: Response) => {
  for (const [h] of res.headers) headersSeen.add(h.toLowerCase());
  return (await res.json()) as Record<string, unknown>;
};
const record = (name: string, ...objs: unknown[]) => answers.set(name, [...(answers.get(name) ?? []), ...(objs as Record<string, unknown>[])]);

beforeAll(async () => {
  gw = await startTestGateway({
    raw: {
      models: [
        ...MOCK_DEMO_MODELS,
        { id: 'mock-maint', maintenance: true, pricing: 'free', channels: [{ provider: 'mock', upstream_model: 'mock-chat' }] },
        { id: 'mock-extra', extra_parameters: 'any', pricing: 'free', channels: [{ provider: 'mock', upstream_model: 'mock-chat' }] },
      ],
    },
  });
  const created = await json(await api('/admin/orgs', ADMIN_TOKEN, { body: { name: 'docs-org', credits_usd: 25, spend_cap_usd: 20 } }));
  record('org', created.org);
  mk = created.management_key as string;
  orgId = (created.org as { id: string }).id;
  key = (await json(await api('/api/keys', mk, { body: { name: 'docs', budget_usd: 5, tpm: 100000 } }))) as unknown as { id: string; key: string };
  const msg = [{ role: 'user', content: 'Hello' }];
  // Answers whose headers the page documents: plain, cache miss and hit, stream, replay, fallback, 405, 429.
  for (const body of [{ model: 'mock-chat', messages: msg }, { model: 'mock-chat', messages: msg, temperature: 0 }, { model: 'mock-chat', messages: msg, temperature: 0 }]) {
    await json(await chat(gw.url, key.key, body));
  }
  for (let i = 0; i < 2; i++) await json(await chat(gw.url, key.key, { model: 'mock-chat', messages: msg }, { 'idempotency-key': 'docs-1' }));
  await json(await chat(gw.url, key.key, { model: 'mock-maint', models: ['mock-chat'], messages: msg }));
  const stream = await chat(gw.url, key.key, { model: 'mock-chat', messages: msg, stream: true });
  for (const [h] of stream.headers) headersSeen.add(h);
  await stream.text();
  await json(await api('/v1/chat/completions', key.key));
  const limited = (await json(await api('/api/keys', mk, { body: { tpm: 10 } }))) as { key: string };
  await json(await chat(gw.url, limited.key, { model: 'mock-chat', messages: msg, max_tokens: 100 }));
  await json(await api('/v1/embeddings', key.key, { body: { model: 'mock-embedding', input: 'hi' } }));
  await gw.running.gateway.usage.flushAll(10_000);

  record('model', ...((await json(await api('/v1/models', key.key))).data as unknown[]));
  record('balance', await json(await api('/api/balance', key.key)), await json(await api('/api/balance', mk)));
  record('key', await json(await api(`/api/keys/${key.id}`, mk)), ...((await json(await api('/api/keys', mk))).data as unknown[]));
  record('usage', ...((await json(await api('/api/usage', mk))).data as unknown[]));
  record('usage-group', ...((await json(await api('/api/usage?group_by=day,model,key', mk))).data as unknown[]));
  record('ledger', ...((await json(await api('/api/ledger', mk))).data as unknown[]));
  const models = (await json(await api('/admin/models', ADMIN_TOKEN))).data as Array<Record<string, unknown>>;
  record('admin-model', ...models);
  record('admin-channel', ...models.flatMap((m) => m.channels as unknown[]));
  const adminUsage = (await json(await api('/admin/usage', ADMIN_TOKEN))).data as Array<Record<string, unknown>>;
  record('admin-usage', ...adminUsage.map((u) => ({ org_id: u.org_id, org_name: u.org_name })));
  record('usage', ...adminUsage.map(({ org_id: _o, org_name: _n, ...u }) => u));
  record('admin-stat', ...((await json(await api('/admin/stats?by=model,provider', ADMIN_TOKEN))).data as unknown[]));
  // Request logs on, one request, and its kept bodies.
  await json(await api('/api/request-logs', mk, { method: 'PUT', body: { enabled: true } }));
  const logged = await chat(gw.url, key.key, { model: 'mock-chat', messages: msg });
  await logged.text();
  await gw.running.gateway.usage.flushAll(10_000);
  await gw.running.gateway.requestLogs.flush();
  const detail = await json(await api(`/api/usage/${logged.headers.get('x-tollgate-request-id')}`, mk));
  record('request-log', detail.request_log);
  record('admin-org-spend', ...((await json(await api('/admin/stats/orgs', ADMIN_TOKEN))).data as unknown[]));
  record('audit', ...((await json(await api('/api/audit', mk))).data as unknown[]), ...((await json(await api('/admin/audit', ADMIN_TOKEN))).data as unknown[]));
});

afterAll(async () => {
  await gw?.close();
});

describe('docs/api.md documents every route', () => {
  it('has a "### METHOD /path" section for every route the gateway serves', () => {
    const documented = new Set(documentedRoutes());
    const missing = servedRoutes(gw.running.http.app.printRoutes({ commonPrefix: false })).filter((r) => !documented.has(r));
    expect(missing, 'routes without a section in docs/api.md').toEqual([]);
  });

  it('documents no route the gateway does not serve', () => {
    const served = new Set(servedRoutes(gw.running.http.app.printRoutes({ commonPrefix: false })));
    expect(served.size).toBeGreaterThan(10);
    expect(documentedRoutes().filter((r) => !served.has(r)), 'sections in docs/api.md for routes that do not exist').toEqual([]);
  });
});

describe('docs/api.md documents the fields of every answer object', () => {
  for (const name of ['org', 'key', 'balance', 'model', 'usage', 'usage-group', 'ledger', 'admin-model', 'admin-channel', 'admin-usage', 'admin-stat', 'admin-org-spend', 'audit']) {
    it(`lists exactly the fields of the ${name} object`, () => {
      const documented = markedTable('fields', name);
      const samples = answers.get(name) ?? [];
      expect(samples.length, `no ${name} object was fetched`).toBeGreaterThan(0);
      expect([...documented].sort()).toEqual(fieldsOf(samples, documented));
    });
  }
});

describe('docs/api.md documents the request fields', () => {
  it('lists exactly the Chat Completions parameters the validator knows', () => {
    expect(markedTable('params', 'chat').sort()).toEqual(['model', 'messages', 'models', ...ALL_CHAT_PARAMETERS].sort());
  });

  // `base` holds the route's required fields, so that the probed field is the only problem.
  const probes: Array<{ table: string; kind: string; path: () => string; method: string; credential: () => string; base?: Record<string, unknown> }> = [
    { table: 'embeddings', kind: 'params', path: () => '/v1/embeddings', method: 'POST', credential: () => key.key, base: { model: 'mock-embedding', input: 'hi' } },
    { table: 'POST /api/keys', kind: 'body', path: () => '/api/keys', method: 'POST', credential: () => mk },
    { table: 'PATCH /api/keys/{id}', kind: 'body', path: () => `/api/keys/${key.id}`, method: 'PATCH', credential: () => mk },
    { table: 'POST /api/keys/{id}/rotate', kind: 'body', path: () => `/api/keys/${key.id}/rotate`, method: 'POST', credential: () => mk },
    { table: 'PUT /api/alerts', kind: 'body', path: () => '/api/alerts', method: 'PUT', credential: () => mk },
    { table: 'PUT /api/request-logs', kind: 'body', path: () => '/api/request-logs', method: 'PUT', credential: () => mk, base: { enabled: true } },
    { table: 'POST /admin/orgs', kind: 'body', path: () => '/admin/orgs', method: 'POST', credential: () => ADMIN_TOKEN, base: { name: 'docs-probe' } },
    { table: 'PATCH /admin/orgs/{id}', kind: 'body', path: () => `/admin/orgs/${orgId}`, method: 'PATCH', credential: () => ADMIN_TOKEN },
    { table: 'POST /admin/orgs/{id}/credits', kind: 'body', path: () => `/admin/orgs/${orgId}/credits`, method: 'POST', credential: () => ADMIN_TOKEN, base: { amount_usd: 1 } },
  ];
  for (const p of probes) {
    it(`${p.table}: every documented field is known to the route (a bad value is invalid_value, not unknown_parameter)`, async () => {
      const fields = markedTable(p.kind, p.table);
      expect(fields.length).toBeGreaterThan(0);
      const unknown: string[] = [];
      for (const field of [...fields, 'not_a_documented_field']) {
        const res = await api(p.path(), p.credential(), { method: p.method, body: { ...p.base, [field]: -1.5 } });
        const body = (await res.json()) as { error?: { code: string } };
        if (res.status !== 400) throw new Error(`${p.table} ${field}: expected a 400, got ${res.status}`);
        if (body.error?.code === 'unknown_parameter') unknown.push(field);
      }
      expect(unknown).toEqual(['not_a_documented_field']);
    });
  }
});

describe('docs/api.md documents the request headers', () => {
  const msg = [{ role: 'user', content: 'Hello' }];
  const chatWith = (headers: Record<string, string>, body: Record<string, unknown> = {}) => chat(gw.url, key.key, { model: 'mock-chat', messages: msg, ...body }, headers);
  /** For each documented request header, a request showing the effect the page describes. */
  const effects: Record<string, () => Promise<void>> = {
    authorization: async () => {
      expect((await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${key.key}` } })).status).toBe(200);
    },
    'x-api-key': async () => {
      expect((await fetch(`${gw.url}/v1/models`, { headers: { 'x-api-key': key.key } })).status).toBe(200);
    },
    'content-type': async () => {
      expect((await chatWith({ 'content-type': 'application/json' })).status).toBe(200);
    },
    'x-request-id': async () => {
      const res = await chatWith({ 'x-request-id': 'docs-probe.1' });
      expect(res.headers.get('x-request-id')).toBe('docs-probe.1');
      expect(res.headers.get('x-tollgate-request-id')).toMatch(/^req_/);
    },
    'idempotency-key': async () => {
      await chatWith({ 'idempotency-key': 'docs-probe-2' });
      const again = await chatWith({ 'idempotency-key': 'docs-probe-2' });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect((await chatWith({ 'idempotency-key': 'docs-probe-2' }, { max_tokens: 7 })).status).toBe(409);
    },
    'cache-control': async () => {
      const body = { temperature: 0, messages: [{ role: 'user', content: 'cache probe' }] };
      await chatWith({}, body);
      expect((await chatWith({}, body)).headers.get('x-tollgate-cache')).toBe('HIT');
      expect((await chatWith({ 'cache-control': 'no-cache' }, body)).headers.get('x-tollgate-cache')).toBe('BYPASS');
    },
    'x-mock-fault': async () => {
      expect((await chatWith({ 'x-mock-fault': 'status=400' })).status).toBe(400);
    },
    'x-mock-words': async () => {
      const res = (await (await chatWith({ 'x-mock-words': '3' })).json()) as { choices: Array<{ message: { content: string } }> };
      expect(res.choices[0].message.content.trim().split(/\s+/)).toHaveLength(3);
    },
  };

  it('shows, for every documented request header, the effect the page describes', async () => {
    const documented = markedTable('headers', 'request').map((h) => h.toLowerCase());
    expect(documented.filter((h) => !(h in effects)), 'documented request headers without a check here').toEqual([]);
    for (const h of documented) await effects[h]();
  });
});

describe('docs/api.md documents the response headers', () => {
  it('lists every header the gateway sent beyond the plain HTTP ones', () => {
    const documented = new Set(markedTable('headers', 'response').map((h) => h.toLowerCase()));
    const undocumented = [...headersSeen].filter((h) => !PLAIN_HEADERS.has(h) && !documented.has(h)).sort();
    expect(undocumented, 'response headers missing from docs/api.md').toEqual([]);
  });

  it('lists no response header the gateway did not send', () => {
    const documented = markedTable('headers', 'response').map((h) => h.toLowerCase());
    expect(documented.filter((h) => !headersSeen.has(h)), 'documented response headers never seen').toEqual([]);
  });
});

// SPEC §7 allowed_models (org and key), the §5 rule that a fallback model must be allowed too,
// and §2 "GET /v1/models lists only models this key may use". Models are served by an `openai`
// provider pointing at a counting local upstream, so "refused before any upstream call" is
// checked by counting; the failing primary of the fallback tests is the in-process mock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, expectError, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { type CountingUpstream, callJson, startCountingUpstream } from '../helpers/cluster.js';

let gw: TestGateway;
let up: CountingUpstream;

const counted = (id: string) => ({
  id,
  context_window: 32000,
  max_output_tokens: 4096,
  pricing: { input_per_mtok: 1, output_per_mtok: 2 },
  channels: [{ provider: 'up', upstream_model: `up-${id}` }],
});

const FLAKY = ['flaky', 'flaky-a', 'flaky-b', 'flaky-c', 'flaky-d'];
const flaky = (id: string) => ({
  id,
  context_window: 32000,
  max_output_tokens: 4096,
  pricing: { input_per_mtok: 1, output_per_mtok: 2 },
  channels: [{ provider: 'mock', upstream_model: 'mock-chat' }],
});

beforeAll(async () => {
  up = await startCountingUpstream({ words: 5 });
  gw = await startTestGateway({
    raw: {
      server: { max_event_loop_lag_ms: 600_000 },
      providers: [
        { id: 'mock', type: 'mock' },
        { id: 'up', type: 'openai', base_url: up.url, api_key: 'upstream-secret' },
      ],
      models: [
        counted('alpha'),
        counted('beta'),
        counted('gamma'),
        // Primaries of the fallback tests (one per test, each with its own breaker): the in-process
        // mock, failed on demand with x-mock-fault.
        ...FLAKY.map(flaky),
      ],
      routing: { max_attempts: 3, retry_base_ms: 1, retry_max_ms: 5 },
      // One failure opens a primary's only channel, so the request moves on to its fallbacks
      // ("no healthy channel left"): the path whose permission check is under test.
      circuit_breaker: { failure_threshold: 1, cooldown_s: 600 },
      limits: { key_rpm: null },
      cache: { exact: { enabled: false } },
    },
  });
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
});

let seq = 0;
const ask = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: [{ role: 'user', content: `permission probe ${++seq}` }], ...extra });

async function patchOrg(orgId: string, body: Record<string, unknown>): Promise<void> {
  const res = await gw.admin(`/admin/orgs/${orgId}`, { method: 'PATCH', body });
  if (res.status !== 200) throw new Error(`PATCH /admin/orgs: ${res.status} ${await res.text()}`);
}

async function patchKey(mk: string, id: string, body: Record<string, unknown>): Promise<void> {
  const res = await callJson(gw.url, mk, `/api/keys/${id}`, { method: 'PATCH', body });
  if (res.status !== 200) throw new Error(`PATCH /api/keys: ${res.status} ${JSON.stringify(res.body)}`);
}

async function expect200(res: Response): Promise<void> {
  const text = await res.text();
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${text}`);
}

describe('SPEC §7 permissions: org and key allowed_models refuse other models with 403 model_not_allowed before any upstream call', () => {
  it('refuses a model outside the org allowed_models (set with PATCH /admin/orgs) and says how to list the permitted ones', async () => {
    const { orgId, mk } = await gw.createOrg(10);
    await patchOrg(orgId, { allowed_models: ['alpha'] });
    const { key } = await gw.createKey(mk);
    const before = up.chatCalls;

    const err = await expectError(await chat(gw.url, key, ask('beta')), 403, 'model_not_allowed');
    expect(err.type).toBe('permission_error');
    expect(err.param).toBe('model');
    expect(err.message).toContain('GET /v1/models');
    expect(err.message).toContain('beta');
    expect(up.chatCalls).toBe(before);

    // The same key reaches the upstream for an allowed model: the counter does count.
    await expect200(await chat(gw.url, key, ask('alpha')));
    expect(up.chatCalls).toBe(before + 1);
  });

  it('refuses a model outside the key allowed_models (set with PATCH /api/keys/{id}) while another key of the org may use it', async () => {
    const { mk } = await gw.createOrg(10);
    const narrow = await gw.createKey(mk);
    await patchKey(mk, narrow.id, { allowed_models: ['alpha'] });
    const wide = await gw.createKey(mk);
    const gammaBefore = up.callsFor('up-gamma');

    const err = await expectError(await chat(gw.url, narrow.key, ask('gamma')), 403, 'model_not_allowed');
    expect(err.message).toContain('GET /v1/models');
    expect(up.callsFor('up-gamma')).toBe(gammaBefore);
    // Streaming requests are refused the same way, before any stream opens.
    await expectError(await chat(gw.url, narrow.key, ask('gamma', { stream: true })), 403, 'model_not_allowed');
    expect(up.callsFor('up-gamma')).toBe(gammaBefore);

    await expect200(await chat(gw.url, wide.key, ask('gamma')));
    expect(up.callsFor('up-gamma')).toBe(gammaBefore + 1);
  });

  it('refuses a request whose `models` array names a disallowed model with 403 and zero upstream calls, even for its allowed primary', async () => {
    const { orgId, mk } = await gw.createOrg(10);
    await patchOrg(orgId, { allowed_models: ['alpha', 'gamma'] });
    const { key } = await gw.createKey(mk);
    const before = up.chatCalls;

    const err = await expectError(await chat(gw.url, key, ask('alpha', { models: ['gamma', 'beta'] })), 403, 'model_not_allowed');
    expect(err.param).toBe('models');
    expect(err.message).toContain('beta');
    expect(up.chatCalls).toBe(before);

    // Allowed fallbacks in `models` are fine.
    await expect200(await chat(gw.url, key, ask('alpha', { models: ['gamma'] })));
    expect(up.chatCalls).toBe(before + 1);
  });
});

describe('model_not_allowed names the list that refuses the model and who can change it, on every surface', () => {
  const surfaces: Array<[string, string, (model: string) => Record<string, unknown>]> = [
    ['chat', '/v1/chat/completions', (model) => ask(model)],
    ['messages', '/v1/messages', (model) => ({ model, max_tokens: 16, messages: [{ role: 'user', content: `permission probe ${++seq}` }] })],
    ['responses', '/v1/responses', (model) => ({ model, input: `permission probe ${++seq}` })],
  ];
  const post = (path: string, key: string, body: Record<string, unknown>) =>
    fetch(gw.url + path, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it.each(surfaces)('%s: the org list refusing says so and points at the operator; the key list refusing points at an org admin', async (_name, path, body) => {
    const { orgId, mk } = await gw.createOrg(10);
    await patchOrg(orgId, { allowed_models: ['alpha', 'beta'] });
    const narrow = await gw.createKey(mk, { allowed_models: ['alpha'] });
    const before = up.chatCalls;

    const byOrg = await expectError(await post(path, narrow.key, body('gamma')), 403, 'model_not_allowed');
    expect(byOrg.message).toContain('"gamma"');
    expect(byOrg.message).toContain("organisation's allowed_models");
    expect(byOrg.message).toContain('(allowed: alpha, beta)');
    expect(byOrg.message).toContain('PATCH /admin/orgs/{id}');
    expect(byOrg.message).not.toContain('PATCH /api/keys');

    const byKey = await expectError(await post(path, narrow.key, body('beta')), 403, 'model_not_allowed');
    expect(byKey.message).toContain('"beta"');
    expect(byKey.message).toContain("key's allowed_models");
    expect(byKey.message).toContain('(allowed: alpha)');
    expect(byKey.message).toContain('PATCH /api/keys/{id}');
    expect(byKey.message).not.toContain('/admin/orgs');
    expect(up.chatCalls).toBe(before);
  });

  it('names the first ten entries of a long list and counts the rest', async () => {
    const { mk } = await gw.createOrg(10);
    const many = Array.from({ length: 12 }, (_, i) => `listed-${i + 1}`);
    const { key } = await gw.createKey(mk, { allowed_models: many });
    const err = await expectError(await chat(gw.url, key, ask('alpha')), 403, 'model_not_allowed');
    expect(err.message).toContain(`(allowed: ${many.slice(0, 10).join(', ')} and 2 more)`);
    expect(err.message).not.toContain('listed-11');
  });

  it('names the `models` entry the key may not use, with param models', async () => {
    const { mk } = await gw.createOrg(10);
    const { key } = await gw.createKey(mk, { allowed_models: ['alpha'] });
    const err = await expectError(await chat(gw.url, key, ask('alpha', { models: ['gamma'] })), 403, 'model_not_allowed');
    expect(err.param).toBe('models');
    expect(err.message).toContain('"gamma" (requested in "models")');
    expect(err.message).toContain('(allowed: alpha)');
  });
});

describe('SPEC §5 fallbacks: a fallback model must also be allowed for the key', () => {
  const fail = { 'x-mock-fault': 'status=500' };

  it('falls back to an allowed model when the primary fails (control: the fallback path works and is counted)', async () => {
    const { mk } = await gw.createOrg(10);
    const { id, key } = await gw.createKey(mk);
    await patchKey(mk, id, { fallbacks: { 'flaky-a': ['alpha'] } });
    const before = up.callsFor('up-alpha');

    const res = await chat(gw.url, key, ask('flaky-a'), fail);
    await expect200(res);
    expect(res.headers.get('x-tollgate-fallback')).toBe('flaky-a -> alpha');
    expect(up.callsFor('up-alpha')).toBe(before + 1);
  });

  it('never calls a key fallback rule target the org does not allow; the answer is the primary’s error', async () => {
    const { orgId, mk } = await gw.createOrg(10);
    await patchOrg(orgId, { allowed_models: ['flaky-b', 'alpha'] });
    const { id, key } = await gw.createKey(mk);
    await patchKey(mk, id, { fallbacks: { 'flaky-b': ['beta'] } });
    const before = up.chatCalls;

    const res = await chat(gw.url, key, ask('flaky-b'), fail);
    expect(res.headers.get('x-tollgate-fallback')).toBeNull();
    const err = await expectError(res, 502, 'provider_error');
    expect(err.type).toBe('upstream_error');
    expect(up.callsFor('up-beta')).toBe(0);
    expect(up.chatCalls).toBe(before);
  });

  it('never calls a key fallback rule target outside the key allowed_models', async () => {
    const { mk } = await gw.createOrg(10);
    const { id, key } = await gw.createKey(mk);
    await patchKey(mk, id, { allowed_models: ['flaky-c'], fallbacks: { 'flaky-c': ['gamma'] } });
    const before = up.chatCalls;

    const res = await chat(gw.url, key, ask('flaky-c'), fail);
    expect(res.headers.get('x-tollgate-fallback')).toBeNull();
    await expectError(res, 502, 'provider_error');
    expect(up.chatCalls).toBe(before);
  });

  it('never calls an org fallback rule target outside the key allowed_models', async () => {
    const { orgId, mk } = await gw.createOrg(10);
    await patchOrg(orgId, { fallbacks: { 'flaky-d': ['gamma'] } });
    const restricted = await gw.createKey(mk);
    await patchKey(mk, restricted.id, { allowed_models: ['flaky-d'] });
    const open = await gw.createKey(mk);
    const before = up.callsFor('up-gamma');

    await expectError(await chat(gw.url, restricted.key, ask('flaky-d'), fail), 502, 'provider_error');
    expect(up.callsFor('up-gamma')).toBe(before);

    // Control: the org rule does apply to a key allowed to use gamma (the primary's breaker is
    // open by now, so this goes straight to the fallback).
    const res = await chat(gw.url, open.key, ask('flaky-d'), fail);
    await expect200(res);
    expect(res.headers.get('x-tollgate-fallback')).toBe('flaky-d -> gamma');
    expect(up.callsFor('up-gamma')).toBe(before + 1);
  });

  it('falls back once a single-channel primary has used its retries on 5xx answers, its breaker still closed, and never to a disallowed model', async () => {
    // "When a model has no healthy channel left (all open, or the retries ran out), the request
    // falls back": here the breaker never opens, so only running out of retries can move on.
    const own = await startTestGateway({
      raw: {
        server: { max_event_loop_lag_ms: 600_000 },
        providers: [
          { id: 'mock', type: 'mock' },
          { id: 'up', type: 'openai', base_url: up.url, api_key: 'upstream-secret' },
        ],
        models: [counted('alpha'), counted('beta'), flaky('flaky')],
        routing: { max_attempts: 4, retry_base_ms: 1, retry_max_ms: 5, retry_budget_ratio: 1 },
        circuit_breaker: { failure_threshold: 10_000, min_requests: 10_000 },
        limits: { key_rpm: null },
        cache: { exact: { enabled: false } },
      },
    });
    try {
      const { orgId, mk } = await own.createOrg(10);
      const res0 = await own.admin(`/admin/orgs/${orgId}`, { method: 'PATCH', body: { allowed_models: ['flaky', 'alpha'] } });
      expect(res0.status).toBe(200);
      const k = await own.createKey(mk, { fallbacks: { flaky: ['beta', 'alpha'] } });
      const betaBefore = up.callsFor('up-beta');
      const alphaBefore = up.callsFor('up-alpha');

      const res = await chat(own.url, k.key, ask('flaky'), fail);
      const text = await res.text();
      expect(up.callsFor('up-beta')).toBe(betaBefore);
      expect({ status: res.status, fallback: res.headers.get('x-tollgate-fallback') }, text).toEqual({ status: 200, fallback: 'flaky -> alpha' });
      expect(up.callsFor('up-alpha')).toBe(alphaBefore + 1);
    } finally {
      await own.close();
    }
  });
});

describe('SPEC §2 GET /v1/models lists only the models this key may use', () => {
  type ModelList = { object: string; data: Array<{ id: string }> };

  it('intersects the org and key allowed_models, and GET /v1/models/{id} refuses the others', async () => {
    const { orgId, mk } = await gw.createOrg(10);
    await patchOrg(orgId, { allowed_models: ['alpha', 'beta', 'flaky'] });
    const narrow = await gw.createKey(mk);
    await patchKey(mk, narrow.id, { allowed_models: ['alpha', 'flaky', 'gamma'] });
    const wide = await gw.createKey(mk);
    const before = up.chatCalls;

    const n = await callJson<ModelList>(gw.url, narrow.key, '/v1/models');
    expect(n.status).toBe(200);
    expect(n.body.object).toBe('list');
    expect(n.body.data.map((m) => m.id).sort()).toEqual(['alpha', 'flaky']);

    const w = await callJson<ModelList>(gw.url, wide.key, '/v1/models');
    expect(w.body.data.map((m) => m.id).sort()).toEqual(['alpha', 'beta', 'flaky']);

    expect((await callJson(gw.url, narrow.key, '/v1/models/alpha')).status).toBe(200);
    await expectError(await fetch(`${gw.url}/v1/models/beta`, { headers: { authorization: `Bearer ${narrow.key}` } }), 403, 'model_not_allowed');
    await expectError(await fetch(`${gw.url}/v1/models/gamma`, { headers: { authorization: `Bearer ${narrow.key}` } }), 403, 'model_not_allowed');
    expect(up.chatCalls).toBe(before);
  });

  it('shows a change of allowed_models on the next listing', async () => {
    const { orgId, mk } = await gw.createOrg(10);
    const { key } = await gw.createKey(mk);
    const all = await callJson<ModelList>(gw.url, key, '/v1/models');
    expect(all.body.data.map((m) => m.id)).toEqual(expect.arrayContaining(['alpha', 'beta', 'gamma', ...FLAKY]));
    await patchOrg(orgId, { allowed_models: ['gamma'] });
    const one = await callJson<ModelList>(gw.url, key, '/v1/models');
    expect(one.body.data.map((m) => m.id)).toEqual(['gamma']);
  });
});

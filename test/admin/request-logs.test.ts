// Request logs, opt-in per org: off stores nothing; on keeps the request and response bodies
// (redacted, capped) for the retention, readable at GET /api/usage/{request_id} by the org only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUEST_LOG_MAX_CHARS } from '../../src/observability/request-log.js';
import { chat, expectError, flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const DAY = 86_400_000;
const SECRET_KEY = `sk-tg-${'Q7'.repeat(20)}`;
const SECRET_BEARER = `Bearer ${'z9'.repeat(12)}`;

interface Detail {
  request_id: string;
  cost_usd: number;
  request_log: { route: string; request: string; response: string; truncated: boolean; expires_at: string } | null;
}

describe('request logs', () => {
  let gw: TestGateway;
  let org: { orgId: string; mk: string };
  let key: string;

  const api = (path: string, mk: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(gw.url + path, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'PUT'),
      headers: { authorization: `Bearer ${mk}`, 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });

  /** Sends a chat request and returns its request id once its usage row and log are written. */
  async function send(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ id: string; status: number; text: string }> {
    const res = await chat(gw.url, key, { model: 'mock-chat', ...body }, headers);
    const text = await res.text();
    const id = res.headers.get('x-tollgate-request-id') ?? '';
    expect(id).not.toBe('');
    await flushed(gw);
    await gw.running.gateway.requestLogs.flush();
    return { id, status: res.status, text };
  }

  async function detail(id: string, mk = org.mk): Promise<Detail> {
    const res = await api(`/api/usage/${id}`, mk);
    expect(res.status).toBe(200);
    return (await res.json()) as Detail;
  }

  beforeAll(async () => {
    gw = await startTestGateway();
    org = await gw.createOrg(10);
    key = (await gw.createKey(org.mk)).key;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('is off by default and then stores nothing', async () => {
    const setting = (await (await api('/api/request-logs', org.mk)).json()) as { enabled: boolean };
    expect(setting.enabled).toBe(false);
    const { id } = await send({ messages: [{ role: 'user', content: 'not kept' }] });
    const d = await detail(id);
    expect(d.request_log).toBeNull();
    expect(await gw.running.gateway.store.getRequestLog(org.orgId, id, Date.now())).toBeUndefined();
  });

  it('refuses a bad setting and changes nothing', async () => {
    await expectError(await api('/api/request-logs', org.mk, { body: { enabled: 'yes' } }), 400, 'invalid_value');
    await expectError(await api('/api/request-logs', org.mk, { body: { enabled: true, retention_days: 0 } }), 400, 'invalid_value');
    await expectError(await api('/api/request-logs', org.mk, { body: { enabled: true, keep: 1 } }), 400, 'unknown_parameter');
    expect(((await (await api('/api/request-logs', org.mk)).json()) as { enabled: boolean }).enabled).toBe(false);
  });

  it('when turned on, keeps the request and the answer with secrets redacted, for the retention', async () => {
    const put = await api('/api/request-logs', org.mk, { body: { enabled: true, retention_days: 3 } });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({ enabled: true, retention_days: 3 });
    const orgView = (await (await gw.admin(`/admin/orgs/${org.orgId}`)).json()) as { request_logs: unknown };
    expect(orgView.request_logs).toEqual({ enabled: true, retention_days: 3 });

    const before = Date.now();
    const { id, text } = await send({ messages: [{ role: 'user', content: `my key is ${SECRET_KEY} and header ${SECRET_BEARER}, say hi` }] });
    const d = await detail(id);
    expect(d.request_log).not.toBeNull();
    const log = d.request_log!;
    expect(log.route).toBe('chat');
    expect(JSON.parse(log.request).messages[0].content).toBe('my key is [redacted] and header [redacted], say hi');
    expect(log.request).not.toContain(SECRET_KEY);
    expect(log.response).toBe(text);
    expect(log.truncated).toBe(false);
    const expires = Date.parse(log.expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 3 * DAY);
    expect(expires).toBeLessThanOrEqual(Date.now() + 3 * DAY);
  });

  it('keeps a stream as it was sent, and a failed request with its error', async () => {
    const streamed = await send({ messages: [{ role: 'user', content: 'stream please' }], stream: true });
    const s = (await detail(streamed.id)).request_log!;
    expect(s.response).toBe(streamed.text);
    expect(s.response).toContain('data: [DONE]');
    expect(JSON.parse(s.request).stream).toBe(true);

    const failed = await send({ messages: [{ role: 'user', content: 'fail' }] }, { 'x-mock-fault': 'status=500' });
    expect(failed.status).toBeGreaterThanOrEqual(500);
    const f = (await detail(failed.id)).request_log!;
    expect(JSON.parse(f.response).error.status).toBe(failed.status);
  });

  it('cuts bodies at the size cap and says so', async () => {
    const { id } = await send({ messages: [{ role: 'user', content: 'x'.repeat(REQUEST_LOG_MAX_CHARS + 5000) }], max_tokens: 5 });
    const log = (await detail(id)).request_log!;
    expect(log.truncated).toBe(true);
    expect(log.request.length).toBe(REQUEST_LOG_MAX_CHARS);
  });

  it("is the org's own: another org gets 404, an unknown id 404", async () => {
    const { id } = await send({ messages: [{ role: 'user', content: 'mine' }] });
    const other = await gw.createOrg(1);
    await expectError(await api(`/api/usage/${id}`, other.mk), 404, 'not_found');
    await expectError(await api('/api/usage/req_nope', org.mk), 404, 'not_found');
    await expectError(await api(`/api/usage/${'r'.repeat(500)}`, org.mk), 404, 'not_found');
    // Beyond the router's parameter length: the same 404 in the envelope, the path not echoed.
    const long = await api(`/api/keys/${'k'.repeat(5000)}`, org.mk);
    expect((await expectError(long, 404, 'not_found')).message).not.toContain('kkkk');
  });

  it('is pruned when the retention ends', async () => {
    const { id } = await send({ messages: [{ role: 'user', content: 'short-lived' }] });
    expect((await detail(id)).request_log).not.toBeNull();
    const store = gw.running.gateway.store;
    expect(await store.getRequestLog(org.orgId, id, Date.now() + 4 * DAY)).toBeUndefined();
    expect(await store.pruneRequestLogs(Date.now() + 4 * DAY)).toBeGreaterThan(0);
    expect((await detail(id)).request_log).toBeNull();
  });

  it('stops when the operator turns it off', async () => {
    const res = await gw.admin(`/admin/orgs/${org.orgId}`, { method: 'PATCH', body: { request_logs: { enabled: false } } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { request_logs: { enabled: boolean } }).request_logs.enabled).toBe(false);
    const { id } = await send({ messages: [{ role: 'user', content: 'off again' }] });
    expect((await detail(id)).request_log).toBeNull();
  });
});

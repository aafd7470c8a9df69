// Errors say what happened: a slow client gets 408 request_timeout, a management call during
// a store outage 503 store_unavailable with Retry-After, and /readyz tells anonymous callers
// only ok / failing.
import Database from 'better-sqlite3';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, expectError, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startTcpProxy, type TcpProxy } from '../helpers/cluster.js';
import { freshPostgresSchema, type PostgresSchema } from '../store/pg.js';

function rawExchange(url: string, bytes: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s: Socket = connect(Number(port), '127.0.0.1', () => s.write(bytes));
    let text = '';
    s.on('data', (d) => {
      text += d.toString();
    });
    s.on('error', reject);
    s.on('close', () => resolve(text));
  });
}

function envelopeOf(raw: string): { status: number; error: { code: string; type: string; message: string } } {
  return { status: Number(raw.slice(9, 12)), error: JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).error };
}

describe('a client too slow with its request gets 408 request_timeout', () => {
  let gw: TestGateway;
  let key: string;
  beforeAll(async () => {
    gw = await startTestGateway({ raw: { server: { header_timeout_ms: 300, request_timeout_ms: 600 } } });
    ({ key } = await gw.createKey((await gw.createOrg(1)).mk));
  });
  afterAll(() => gw?.close());

  it('answers headers that never finish with 408 request_timeout in the envelope', async () => {
    const answer = envelopeOf(await rawExchange(gw.url, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: '));
    expect(answer.status).toBe(408);
    expect(answer.error).toMatchObject({ code: 'request_timeout', type: 'invalid_request_error' });
  });

  it('answers a body that stalls with 408 request_timeout in the envelope', async () => {
    const answer = envelopeOf(await rawExchange(gw.url, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":`));
    expect(answer.status).toBe(408);
    expect(answer.error.code).toBe('request_timeout');
  });

  it('still answers bytes that are not HTTP with 400', async () => {
    const answer = envelopeOf(await rawExchange(gw.url, 'GET /v1/models HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n'));
    expect(answer.status).toBe(400);
  });
});

describe('a management call while SQLite is locked by another process answers 503 store_unavailable', () => {
  let gw: TestGateway;
  let mk: string;
  beforeAll(async () => {
    gw = await startTestGateway();
    ({ mk } = await gw.createOrg(1));
  });
  afterAll(() => gw?.close());

  it('answers 503 store_unavailable with Retry-After, and works again once the lock is gone', async () => {
    const other = new Database(join(gw.dir, 'tollgate.db'));
    other.exec('BEGIN EXCLUSIVE');
    try {
      const res = await fetch(`${gw.url}/api/keys`, { method: 'POST', headers: { authorization: `Bearer ${mk}`, 'content-type': 'application/json' }, body: '{"name":"during-lock"}' });
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const err = await expectError(res, 503, 'store_unavailable');
      expect(err.type).toBe('api_error');
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    const after = await fetch(`${gw.url}/api/keys`, { headers: { authorization: `Bearer ${mk}` } });
    expect(after.status).toBe(200);
    expect(((await after.json()) as { data: Array<{ name: string | null }> }).data.map((k) => k.name)).not.toContain('during-lock');
  });
});

describe('a Postgres outage', () => {
  let schema: PostgresSchema | undefined;
  let proxy: TcpProxy | undefined;
  let gw: TestGateway | undefined;
  let mk = '';
  beforeAll(async () => {
    schema = await freshPostgresSchema('the store outage error tests');
    if (!schema) return;
    const pgUrl = new URL(schema.url);
    proxy = await startTcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
    pgUrl.host = `127.0.0.1:${proxy.port}`;
    gw = await startTestGateway({ raw: { storage: { url: pgUrl.toString() } }, storeSchema: schema.schema });
    ({ mk } = await gw.createOrg(1));
  });
  afterAll(async () => {
    await proxy?.restore().catch(() => undefined);
    await gw?.close();
    await proxy?.close();
    await schema?.drop();
  });

  it('makes management calls answer 503 store_unavailable with Retry-After, and /readyz say only "failing" without the admin token', async (ctx) => {
    if (!gw || !proxy || !schema) return ctx.skip();
    await proxy.cut();
    try {
      const listed = await fetch(`${gw.url}/api/usage`, { headers: { authorization: `Bearer ${mk}` } });
      expect(listed.headers.get('retry-after')).toMatch(/^\d+$/);
      await expectError(listed, 503, 'store_unavailable');
      const created = await fetch(`${gw.url}/admin/orgs`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{"name":"during-outage"}' });
      await expectError(created, 503, 'store_unavailable');

      const anonymous = await fetch(`${gw.url}/readyz`);
      expect(anonymous.status).toBe(503);
      expect(await anonymous.json()).toEqual({ status: 'failing' });
      const operator = await fetch(`${gw.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const detail = (await operator.json()) as { status: string; checks: Record<string, string> };
      expect(detail.status).toBe('failing');
      expect(detail.checks.store).not.toBe('ok');
    } finally {
      await proxy.restore();
    }
    const back = await fetch(`${gw.url}/api/usage`, { headers: { authorization: `Bearer ${mk}` } });
    expect(back.status).toBe(200);
  });
});

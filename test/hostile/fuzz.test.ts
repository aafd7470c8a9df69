// Client input never becomes a 500: a corpus of hostile bodies, queries and path values is sent
// to every route, on SQLite and on Postgres. No answer is a 5xx, the process stays up, nothing
// is stored, and no answer echoes a large input back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { freshPostgresSchema, type PostgresSchema } from '../store/pg.js';

const DEEP_ARRAY = `${'['.repeat(5000)}${']'.repeat(5000)}`;
const DEEP_OBJECT = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
const LONG = 'm'.repeat(5_000_000);

/** Request bodies no route may accept: malformed, too deep, wrong types, NUL bytes, numbers out of range. */
const BODIES: Array<[string, string | Uint8Array]> = [
  ['deep array', DEEP_ARRAY],
  ['deep object', DEEP_OBJECT],
  ['deep messages', `{"model":"mock-chat","messages":[{"role":"user","content":${DEEP_ARRAY}}]}`],
  ['truncated', '{"model":'],
  ['not json', 'hello'],
  ['array', '[]'],
  ['string', '"x"'],
  ['number', '1e400'],
  ['null', 'null'],
  ['bad utf-8', Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('","amount_usd":-1,"model":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')])],
  ['nul in strings', JSON.stringify({ name: 'a\u0000b', note: 'n\u0000', amount_usd: 1, credits_usd: 1, webhook_url: 'https://example.com/\u0000', model: 'mock-chat\u0000', messages: [{ role: 'user', content: '\u0000' }] })],
  ['nul in a key', '{"na\\u0000me":"x"}'],
  ['huge numbers', JSON.stringify({ name: 'big', amount_usd: 1e308, credits_usd: 1e23, budget_usd: 1e300, spend_cap_usd: -1, rpm: 1e300, tpm: -5, overlap_s: 1e23, max_tokens: 1e23, balance_low_usd: 1e308, budget_threshold_pct: 1e9 })],
  ['wrong types', JSON.stringify({ name: 7, amount_usd: '1', credits_usd: [], model: {}, messages: 'hi', events: 'all', allowed_models: 'x', fallbacks: [], disabled: 'yes', expires_at: 123 })],
  ['impossible dates', JSON.stringify({ name: 'dates', expires_at: '+275760-09-13T00:00:00.001Z', amount_usd: 0 })],
  ['prototype keys', '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},"amount_usd":-1}'],
  ['long unknown field', JSON.stringify({ [`f${'x'.repeat(100_000)}`]: 1, amount_usd: -1 })],
  ['long model', JSON.stringify({ model: LONG, messages: [{ role: 'user', content: 'hi' }], name: LONG, amount_usd: -1 })],
];

const QUERIES = [
  'from=1e23',
  'to=1e23',
  'from=99999999999999999999',
  'from=-1',
  'from=2026-13-45',
  'limit=1e9',
  'limit=-1',
  'limit=abc',
  'cursor=garbage',
  'cursor=%00',
  'key_id=%00',
  'model=%00x',
  `model=${'x'.repeat(10_000)}`,
  'group_by=hour,day',
  'group_by=%00',
];

const PATH_VALUES = ['x', 'a'.repeat(300), '%00', 'key_%00', '..%2F..', '%F0%9F%98%80', '1e23'];

interface Hit {
  route: string;
  input: string;
  status: number;
  bytes: number;
}

async function fuzzAll(gw: TestGateway): Promise<Hit[]> {
  const { mk } = await gw.createOrg(5);
  const { key: sk } = await gw.createKey(mk);
  const credentialFor = (url: string) => (url.startsWith('/v1/') ? sk : url === '/api/balance' ? sk : url.startsWith('/api/') ? mk : url.startsWith('/admin/') ? ADMIN_TOKEN : undefined);
  const hits: Hit[] = [];
  const send = async (route: string, method: string, url: string, input: string, body?: string | Uint8Array) => {
    const credential = credentialFor(route);
    const res = await fetch(`${gw.url}${url}`, {
      method,
      headers: { 'content-type': 'application/json', ...(credential ? { authorization: `Bearer ${credential}` } : {}) },
      body,
    });
    const text = await res.text();
    hits.push({ route: `${method} ${route}`, input, status: res.status, bytes: text.length });
  };
  const routes = gw.running.http.routes.filter((r) => !r.url.startsWith('/console') && r.url !== '*');
  for (const r of routes) {
    const hasParams = r.url.includes(':');
    const urls = hasParams ? PATH_VALUES.map((v) => r.url.replace(/:[A-Za-z_]+/g, v)) : [r.url];
    for (const url of urls) {
      if (r.method === 'GET' || r.method === 'DELETE') {
        await send(r.url, r.method, url, url);
        if (!hasParams) for (const q of QUERIES) await send(r.url, r.method, `${url}?${q}`, q.slice(0, 40));
      } else {
        for (const [name, body] of BODIES) {
          // The 5 MB bodies once per route, not once per path value.
          if (name === 'long model' && url !== urls[0]) continue;
          await send(r.url, r.method, url, name, body);
        }
      }
    }
  }
  return hits;
}

async function counts(gw: TestGateway) {
  const orgs = ((await (await gw.admin('/admin/orgs')).json()) as { data: Array<{ id: string; name: string; balance_usd: number }> }).data;
  const store = gw.running.gateway.store;
  const ledger = (await Promise.all(orgs.map((o) => store.listLedger(o.id, { limit: 1000 })))).reduce((n, p) => n + p.rows.length, 0);
  const keys = (await Promise.all(orgs.map((o) => store.listKeys(o.id)))).reduce((n, k) => n + k.length, 0);
  return { orgs: orgs.length, balances: orgs.map((o) => o.balance_usd), ledger, keys };
}

function describeFuzz(name: string, start: () => Promise<{ gw: TestGateway; cleanup?: () => Promise<void> } | undefined>) {
  describe(`hostile input to every route on ${name}`, () => {
    let gw: TestGateway | undefined;
    let cleanup: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      const started = await start();
      gw = started?.gw;
      cleanup = started?.cleanup;
    }, 120_000);
    afterAll(async () => {
      await gw?.close();
      await cleanup?.();
    });

    it('never answers 5xx, stays up, stores nothing and echoes no large input', async (ctx) => {
      if (!gw) return ctx.skip();
      const before = await counts(gw);
      const hits = await fuzzAll(gw);
      expect(hits.length).toBeGreaterThan(300);
      const failures = hits.filter((h) => h.status >= 500).map((h) => `${h.route} [${h.input}] → ${h.status}`);
      expect(failures).toEqual([]);
      // The API description is large and the same for every input: not an echo.
      const echoes = hits.filter((h) => h.bytes > 20_000 && h.route !== 'GET /openapi.json').map((h) => `${h.route} [${h.input}] → ${h.bytes} bytes`);
      expect(echoes).toEqual([]);
      expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
      await flushed(gw);
      const after = await counts(gw);
      // The fuzzing org and key were made by fuzzAll itself.
      expect(after.orgs).toBe(before.orgs + 1);
      expect(after.keys).toBe(before.keys + 2);
      expect(after.ledger).toBe(before.ledger + 1);
      expect(after.balances.slice(0, before.orgs)).toEqual(before.balances);
    }, 300_000);
  });
}

describeFuzz('SQLite', async () => ({ gw: await startTestGateway({ raw: { limits: { key_rpm: null } } }) }));

describeFuzz('Postgres', async () => {
  const schema: PostgresSchema | undefined = await freshPostgresSchema('the Postgres fuzz test');
  if (!schema) return undefined;
  const gw = await startTestGateway({ raw: { storage: { url: schema.url }, limits: { key_rpm: null } }, storeSchema: schema.schema });
  return { gw, cleanup: () => schema.drop() };
});

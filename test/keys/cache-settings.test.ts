// The key's `cache` settings (docs/api.md, POST /api/keys): `exact` and `semantic` booleans
// and a similarity `threshold` from 0 to 1. Anything else is refused, so a typo or an
// out-of-range threshold cannot silently turn the semantic cache into "hit on everything"
// or "never hit", nor a string "false" leave the exact cache on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { call } from '../helpers/money.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});

afterAll(async () => {
  await gw?.close();
});

const send = (mk: string, path: string, method: string, body: unknown) =>
  fetch(gw.url + path, { method, headers: { authorization: `Bearer ${mk}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('key cache settings', () => {
  it('refuses a threshold outside 0–1, non-boolean switches and unknown fields, on create and on change', async () => {
    const { mk } = await gw.createOrg(1);
    const { id } = await gw.createKey(mk, { cache: { semantic: true, threshold: 0.97 } });
    const bad: [unknown, string, string][] = [
      [{ threshold: 5 }, 'invalid_value', 'cache.threshold'],
      [{ semantic: true, threshold: -1 }, 'invalid_value', 'cache.threshold'],
      [{ exact: 'false' }, 'invalid_value', 'cache.exact'],
      [{ exakt: false }, 'unknown_parameter', 'cache.exakt'],
    ];
    for (const [cache, code, param] of bad) {
      expect((await expectError(await send(mk, '/api/keys', 'POST', { cache }), 400, code)).param).toBe(param);
      expect((await expectError(await send(mk, `/api/keys/${id}`, 'PATCH', { cache }), 400, code)).param).toBe(param);
    }
    expect((await call<{ cache: unknown }>(gw.url, mk, `/api/keys/${id}`)).body.cache).toEqual({ semantic: true, threshold: 0.97 });
    const cleared = await call<{ cache: unknown }>(gw.url, mk, `/api/keys/${id}`, { method: 'PATCH', body: { cache: null } });
    expect(cleared.body.cache).toBeNull();
  });
});

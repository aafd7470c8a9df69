// docs/api.md, GET /api/usage: records are filtered to the millisecond by `from` (included) and
// `to` (excluded); with `group_by` the totals come from hour or UTC-day roll-ups and every bucket
// that overlaps the range counts whole. Usage rows are written straight to the store at known
// times, so the bucket edges are exact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { call } from '../helpers/money.js';
import { DAY, HOUR, batchOf, makeUsage } from '../store/fixtures.js';

let gw: TestGateway;
let mk: string;
/** Midnight UTC two days ago: well inside the records' retention. */
const D0 = Math.floor(Date.now() / DAY) * DAY - 2 * DAY;
const MIN = 60_000;
/** When each row was made: two in hour 10 of day 0, one in hour 11, one early on day 1. */
const AT = { a: D0 + 10 * HOUR + 10 * MIN, b: D0 + 10 * HOUR + 50 * MIN, c: D0 + 11 * HOUR + 5 * MIN, d: D0 + DAY + HOUR };

type Group = { bucket?: string; model?: string; requests: number };
const iso = (t: number) => encodeURIComponent(new Date(t).toISOString());

async function groups(query: string): Promise<Group[]> {
  const res = await call<{ data: Group[] }>(gw.url, mk, `/api/usage?${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data.map((g) => ({ ...(g.bucket ? { bucket: g.bucket } : {}), ...(g.model ? { model: g.model } : {}), requests: g.requests }));
}

async function records(query: string): Promise<number> {
  const res = await call<{ data: unknown[] }>(gw.url, mk, `/api/usage?limit=1000&${query}`);
  expect(res.status).toBe(200);
  return res.body.data.length;
}

beforeAll(async () => {
  gw = await startTestGateway();
  const org = await gw.createOrg(1);
  mk = org.mk;
  const { id: keyId } = await gw.createKey(mk);
  await gw.running.gateway.store.writeBatch(batchOf(Object.values(AT).map((t) => makeUsage(org.orgId, keyId, { created_at: t, model: 'mock-chat' }))));
});

afterAll(async () => {
  await gw?.close();
});

describe('GET /api/usage: from and to on records and on grouped totals', () => {
  it('filters records to the millisecond, from included and to excluded', async () => {
    expect(await records(`from=${AT.b}&to=${AT.c}`)).toBe(1);
    expect(await records(`from=${AT.b + 1}&to=${AT.c + 1}`)).toBe(1);
    expect(await records(`from=${iso(D0 + 10 * HOUR + 30 * MIN)}&to=${iso(D0 + DAY + MIN)}`)).toBe(2);
  });

  it('with group_by=hour counts every hour the range overlaps in full: the hour holding from and the hour to falls in', async () => {
    const from = D0 + 10 * HOUR + 30 * MIN;
    const to = D0 + 11 * HOUR + MIN;
    expect(await records(`from=${from}&to=${to}`)).toBe(1);
    expect(await groups(`group_by=hour&from=${iso(from)}&to=${iso(to)}`)).toEqual([
      { bucket: new Date(D0 + 10 * HOUR).toISOString(), requests: 2 },
      { bucket: new Date(D0 + 11 * HOUR).toISOString(), requests: 1 },
    ]);
  });

  it('with group_by naming only model (or key) counts whole UTC days', async () => {
    const from = D0 + 10 * HOUR + 30 * MIN;
    const to = D0 + DAY + 5 * MIN;
    expect(await records(`from=${from}&to=${to}`)).toBe(2);
    expect(await groups(`group_by=model&from=${iso(from)}&to=${iso(to)}`)).toEqual([{ model: 'mock-chat', requests: 4 }]);
    expect(await groups(`group_by=day&from=${iso(from)}&to=${iso(to)}`)).toEqual([
      { bucket: new Date(D0).toISOString(), requests: 3 },
      { bucket: new Date(D0 + DAY).toISOString(), requests: 1 },
    ]);
  });

  it('leaves out a bucket that starts at to, and matches the records exactly on bucket boundaries', async () => {
    expect(await groups(`group_by=hour&from=${iso(D0)}&to=${iso(D0 + 11 * HOUR)}`)).toEqual([{ bucket: new Date(D0 + 10 * HOUR).toISOString(), requests: 2 }]);
    const from = D0 + 11 * HOUR;
    const to = D0 + DAY + 2 * HOUR;
    const total = (await groups(`group_by=hour&from=${iso(from)}&to=${iso(to)}`)).reduce((s, g) => s + g.requests, 0);
    expect(total).toBe(await records(`from=${from}&to=${to}`));
    expect(total).toBe(2);
  });
});

// SPEC §6 "Concurrency must not overspend": 200 simultaneous requests against $0.01 of credit
// (or a $0.01 key budget) reserve their worst case before going upstream and settle at the
// real cost, so the balance never goes below zero when real ≤ reserved, only admitted
// requests reach the upstream, and balance == sum(ledger) to the micro-dollar.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { worstCaseMicros } from '../../src/billing/money.js';
import { flushed, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { accountState, allLedger, allUsage, type CountingUpstream, openaiModel, startCountingUpstream, sumMicros, NO_SHEDDING } from '../helpers/money.js';

const PRICE = { input_per_mtok: 2, output_per_mtok: 8 };
const MAX_TOKENS = 50;
const N = 200;

let gw: TestGateway;
let upstream: CountingUpstream;

beforeAll(async () => {
  upstream = await startCountingUpstream();
  const counted = openaiModel('counted-chat', 'counted', upstream.url, PRICE);
  gw = await startTestGateway({ raw: { providers: [{ id: 'mock', type: 'mock' }, counted.provider], models: [...MOCK_MODELS, counted.model], limits: { key_rpm: null }, server: NO_SHEDDING } });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

interface Outcome {
  status: number;
  code?: string;
  prompt?: number;
  completion?: number;
}

/** The largest amount by which a served request's real cost exceeded its reservation (≤ 0 when real ≤ reserved). */
function worstOverrun(outcomes: Outcome[]): number {
  const model = { ...MOCK_MODELS[0], id: 'counted-chat', pricing: PRICE } as Parameters<typeof worstCaseMicros>[0];
  let worst = Number.NEGATIVE_INFINITY;
  for (const o of outcomes) {
    if (o.status !== 200) continue;
    const reserved = worstCaseMicros(model, o.prompt!, MAX_TOKENS);
    const real = Math.round(o.prompt! * PRICE.input_per_mtok + o.completion! * PRICE.output_per_mtok);
    worst = Math.max(worst, real - reserved);
  }
  return worst;
}

async function checkBooks(orgId: string, outcomes: Outcome[], upstreamBefore: number) {
  await flushed(gw);
  const store = gw.running.gateway.store;
  const admitted = outcomes.filter((o) => o.status === 200).length;
  // Only admitted requests reached the upstream (no retries: nothing failed).
  expect(upstream.chatRequests - upstreamBefore).toBe(admitted);
  const ledger = await allLedger(store, orgId);
  const charges = ledger.filter((l) => l.kind === 'charge');
  const usage = await allUsage(store, orgId);
  expect(usage).toHaveLength(admitted);
  expect(new Set(usage.map((u) => u.request_id)).size).toBe(admitted);
  expect(charges).toHaveLength(admitted);
  const stored = (await store.balances()).get(orgId);
  expect(stored).toBe(sumMicros(ledger));
  const live = await accountState(gw.running.gateway.accounts, orgId);
  expect(live.balance).toBe(stored);
  expect(live.reserved).toBe(0);
  // Each charge is the usage × price of its request.
  const served = new Map(usage.map((u) => [u.request_id, u]));
  for (const c of charges) {
    const u = served.get(c.request_id!)!;
    expect(-c.amount_micros).toBe(Math.round(u.prompt_tokens * PRICE.input_per_mtok + u.completion_tokens * PRICE.output_per_mtok));
  }
  return { admitted, ledger, charges, usage, balance: stored! };
}

describe('SPEC §6 money: concurrency must not overspend', () => {
  it('admits 200 concurrent requests against $0.01 only while the balance minus reservations covers them', async () => {
    const { orgId, mk } = await gw.createOrg(0.01);
    const sk = (await gw.createKey(mk)).key;
    const client = new OpenAI({ apiKey: sk, baseURL: `${gw.url}/v1`, maxRetries: 0, timeout: 20_000 });
    const before = upstream.chatRequests;
    const outcomes = await Promise.all(
      Array.from({ length: N }, async (_, i): Promise<Outcome> => {
        try {
          const c = await client.chat.completions.create({ model: 'counted-chat', max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: `question number ${i}` }] });
          return { status: 200, prompt: c.usage!.prompt_tokens, completion: c.usage!.completion_tokens };
        } catch (err) {
          const e = err as { status?: number; code?: string };
          return { status: e.status ?? 0, code: e.code };
        }
      }),
    );
    const admitted = outcomes.filter((o) => o.status === 200).length;
    const refused = outcomes.filter((o) => o.status === 402);
    expect(admitted + refused.length, JSON.stringify(outcomes.filter((o) => o.status !== 200 && o.status !== 402).slice(0, 3))).toBe(N);
    expect(admitted).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((o) => o.code === 'insufficient_balance')).toBe(true);
    const books = await checkBooks(orgId, outcomes, before);
    const overrun = worstOverrun(outcomes);
    expect(overrun).toBeLessThanOrEqual(0);
    expect(books.balance).toBeGreaterThanOrEqual(-Math.max(0, overrun));
    expect(books.balance).toBeGreaterThanOrEqual(0);
    expect(-sumMicros(books.charges)).toBe(10_000 - books.balance);
  });

  it('admits 200 concurrent requests against a $0.01 key budget only while the budget minus reservations covers them', async () => {
    const { orgId, mk } = await gw.createOrg(100);
    const k = await gw.createKey(mk, { budget_usd: 0.01 });
    const before = upstream.chatRequests;
    const outcomes = await Promise.all(
      Array.from({ length: N }, async (_, i): Promise<Outcome> => {
        const res = await fetch(`${gw.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${k.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'counted-chat', max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: `budget question ${i}` }] }),
        });
        const body = (await res.json()) as { usage?: { prompt_tokens: number; completion_tokens: number }; error?: { code: string } };
        return { status: res.status, code: body.error?.code, prompt: body.usage?.prompt_tokens, completion: body.usage?.completion_tokens };
      }),
    );
    const admitted = outcomes.filter((o) => o.status === 200).length;
    const refused = outcomes.filter((o) => o.status === 402);
    expect(admitted + refused.length, JSON.stringify(outcomes.filter((o) => o.status !== 200 && o.status !== 402).slice(0, 3))).toBe(N);
    expect(admitted).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((o) => o.code === 'budget_exceeded')).toBe(true);
    const books = await checkBooks(orgId, outcomes, before);
    const spend = -sumMicros(books.charges);
    expect(worstOverrun(outcomes)).toBeLessThanOrEqual(0);
    expect(spend).toBeLessThanOrEqual(10_000);
    expect((await accountState(gw.running.gateway.accounts, orgId, [k.id])).keySpends.get(k.id)).toBe(spend);
    expect((await gw.running.gateway.store.keySpends()).get(k.id)).toBe(spend);
    expect(books.balance).toBe(100_000_000 - spend);
  });
});

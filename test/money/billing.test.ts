// SPEC §6 money: charges from usage × price, 402 refusals before any upstream call, top-ups
// (idempotent), balance == sum(ledger), and the account endpoints of SPEC §2 (balance, usage
// filters, cursor pages, roll-up aggregates).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, chat, expectError, flushed, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { accountState, allLedger, allUsage, type CountingUpstream, call, openaiModel, startCountingUpstream, sumMicros, NO_SHEDDING } from '../helpers/money.js';

const PRICES: Record<string, { input_per_mtok: number; output_per_mtok: number }> = {
  'mock-chat': { input_per_mtok: 1, output_per_mtok: 2 },
  'mock-chat-large': { input_per_mtok: 3, output_per_mtok: 15 },
  'counted-chat': { input_per_mtok: 2, output_per_mtok: 8 },
};
/** USD per million tokens is micro-USD per token. */
const expectedMicros = (model: string, p: number, c: number) => Math.round(p * PRICES[model].input_per_mtok + c * PRICES[model].output_per_mtok);
const micros = (usd: number) => Math.round(usd * 1e6);

let gw: TestGateway;
let upstream: CountingUpstream;
let nonce = 0;

interface Done {
  status: number;
  requestId: string;
  body: { id?: string; model?: string; usage?: { prompt_tokens: number; completion_tokens: number }; error?: { code: string; message: string; type: string } };
}

async function ask(key: string, model: string, opts: { words?: number; max_tokens?: number; fault?: string; headers?: Record<string, string> } = {}): Promise<Done> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.words) headers['x-mock-words'] = String(opts.words);
  if (opts.fault) headers['x-mock-fault'] = opts.fault;
  const body: Record<string, unknown> = { model, messages: [{ role: 'user', content: `request ${++nonce}: tell me something` }] };
  if (opts.max_tokens) body.max_tokens = opts.max_tokens;
  const res = await chat(gw.url, key, body, headers);
  return { status: res.status, requestId: res.headers.get('x-request-id') ?? '', body: (await res.json()) as Done['body'] };
}

async function balanceMicros(mk: string): Promise<number> {
  const b = await call<{ balance_usd: number }>(gw.url, mk, '/api/balance');
  return micros(b.body.balance_usd);
}

beforeAll(async () => {
  upstream = await startCountingUpstream();
  const counted = openaiModel('counted-chat', 'counted', upstream.url, PRICES['counted-chat']);
  gw = await startTestGateway({
    raw: {
      providers: [{ id: 'mock', type: 'mock' }, counted.provider],
      models: [...MOCK_MODELS, counted.model],
      // Injected 5xx must not open the breaker for later tests; retries stay quick.
      circuit_breaker: { failure_threshold: 1000, min_requests: 1000 },
      routing: { retry_base_ms: 1, retry_max_ms: 5 },
      server: NO_SHEDDING,
    },
  });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('SPEC §6 money: balance, budgets, billing', () => {
  it('charges prompt × input price + completion × output price of the model that served', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    const start = await balanceMicros(mk);
    const done: Array<Done & { model: string; cost: number }> = [];
    for (const [model, words] of [
      ['mock-chat', 40],
      ['mock-chat-large', 25],
      ['counted-chat', 60],
      ['mock-chat-large', 3],
    ] as const) {
      const r = await ask(key, model, { words });
      expect(r.status).toBe(200);
      expect(r.body.model).toBe(model);
      const u = r.body.usage!;
      expect(u.prompt_tokens).toBeGreaterThan(5);
      // x-mock-words reaches only the in-process mock; the counted upstream picks its own length.
      expect(u.completion_tokens).toBeGreaterThanOrEqual(model === 'counted-chat' ? 1 : words);
      done.push({ ...r, model, cost: expectedMicros(model, u.prompt_tokens, u.completion_tokens) });
    }
    await flushed(gw);
    const usage = await call<{ data: Array<{ request_id: string; model: string; cost_usd: number; prompt_tokens: number; completion_tokens: number }> }>(gw.url, mk, '/api/usage');
    const ledger = await call<{ data: Array<{ id: string; kind: string; amount_usd: number; request_id: string | null }> }>(gw.url, mk, '/api/ledger');
    for (const d of done) {
      const rec = usage.body.data.find((u) => u.request_id === d.requestId);
      expect(rec, d.requestId).toBeDefined();
      expect(rec).toMatchObject({ model: d.model, prompt_tokens: d.body.usage!.prompt_tokens, completion_tokens: d.body.usage!.completion_tokens });
      expect(micros(rec!.cost_usd)).toBe(d.cost);
      const charge = ledger.body.data.filter((l) => l.request_id === d.requestId);
      expect(charge).toHaveLength(1);
      expect(charge[0].kind).toBe('charge');
      // docs/api.md: a charge's id is chg_ followed by its request id.
      expect(charge[0].id).toBe(`chg_${d.requestId}`);
      expect(micros(charge[0].amount_usd)).toBe(-d.cost);
    }
    const total = done.reduce((s, d) => s + d.cost, 0);
    expect(total).toBeGreaterThan(0);
    expect(await balanceMicros(mk)).toBe(start - total);
    expect((await gw.running.gateway.store.balances()).get(orgId)).toBe(start - total);
  });

  it('does not charge a failed request that produced no tokens', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    const r = await ask(key, 'mock-chat', { fault: 'status=400' });
    expect(r.status).toBeGreaterThanOrEqual(400);
    await flushed(gw);
    expect(await balanceMicros(mk)).toBe(1_000_000);
    expect((await allLedger(gw.running.gateway.store, orgId)).filter((l) => l.kind === 'charge')).toHaveLength(0);
  });

  it('refuses with 402 insufficient_balance before any upstream call when the balance is used up', async () => {
    const { orgId, mk } = await gw.createOrg(0);
    const { key } = await gw.createKey(mk);
    const before = upstream.chatRequests;
    const res = await chat(gw.url, key, { model: 'counted-chat', messages: [{ role: 'user', content: 'hi' }] });
    const err = await expectError(res, 402, 'insufficient_balance');
    expect(err.type).toBe('billing_error');
    expect(err.message).toMatch(/balance/i);
    expect(err.message).toMatch(/\$0\.00/);
    expect(err.message).toMatch(/add credit/i);
    // Streams are refused the same way, before the first byte.
    const s = await chat(gw.url, key, { model: 'counted-chat', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    await expectError(s, 402, 'insufficient_balance');
    expect(upstream.chatRequests).toBe(before);
    await flushed(gw);
    expect(await allUsage(gw.running.gateway.store, orgId)).toHaveLength(0);
  });

  it('refuses with 402 insufficient_balance when the balance cannot cover the worst case, naming both amounts', async () => {
    const { mk } = await gw.createOrg(0.0001);
    const { key } = await gw.createKey(mk);
    const before = upstream.chatRequests;
    const res = await chat(gw.url, key, { model: 'counted-chat', max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] });
    const err = await expectError(res, 402, 'insufficient_balance');
    // $0.000100 available, worst case ≥ 1000 × $8/Mtok = $0.008.
    expect(err.message).toContain('$0.000100');
    expect(err.message).toMatch(/\$0\.0(08|09|1)/);
    expect(err.message).toMatch(/add credit|lower max_tokens/i);
    expect(upstream.chatRequests).toBe(before);
    // A request whose worst case fits still goes through.
    const ok = await chat(gw.url, key, { model: 'counted-chat', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    expect(ok.status).toBe(200);
    expect(upstream.chatRequests).toBe(before + 1);
  });

  it("refuses with 402 budget_exceeded once a key's budget_usd is reached, saying it is the key's budget", async () => {
    const { mk } = await gw.createOrg(5);
    const k = await gw.createKey(mk);
    const other = await gw.createKey(mk);
    const first = await ask(k.key, 'counted-chat', { words: 10 });
    expect(first.status).toBe(200);
    const spent = expectedMicros('counted-chat', first.body.usage!.prompt_tokens, first.body.usage!.completion_tokens);
    const patched = await call(gw.url, mk, `/api/keys/${k.id}`, { method: 'PATCH', body: { budget_usd: spent / 1e6 } });
    expect(patched.status).toBe(200);
    const before = upstream.chatRequests;
    const res = await chat(gw.url, k.key, { model: 'counted-chat', messages: [{ role: 'user', content: 'more' }] });
    const err = await expectError(res, 402, 'budget_exceeded');
    expect(err.type).toBe('billing_error');
    expect(err.message).toMatch(/key's budget/);
    expect(err.message).toContain(`$${(spent / 1e6).toFixed(6)}`);
    expect(err.message).toMatch(/budget_usd/);
    expect(upstream.chatRequests).toBe(before);
    // Other keys of the org are not affected.
    expect((await ask(other.key, 'counted-chat')).status).toBe(200);
    // Raising the budget lets the key work again at once.
    await call(gw.url, mk, `/api/keys/${k.id}`, { method: 'PATCH', body: { budget_usd: 1 } });
    expect((await ask(k.key, 'counted-chat')).status).toBe(200);
  });

  it("refuses with 402 budget_exceeded once the org's spend cap is reached, saying it is the org's cap", async () => {
    const { orgId, mk } = await gw.createOrg(5);
    const k1 = await gw.createKey(mk);
    const k2 = await gw.createKey(mk);
    const first = await ask(k1.key, 'counted-chat', { words: 10 });
    expect(first.status).toBe(200);
    const spent = expectedMicros('counted-chat', first.body.usage!.prompt_tokens, first.body.usage!.completion_tokens);
    const org = await call<{ spend_cap_usd: number; spend_usd: number }>(gw.url, ADMIN_TOKEN, `/admin/orgs/${orgId}`, { method: 'PATCH', body: { spend_cap_usd: spent / 1e6 } });
    expect(org.body).toMatchObject({ spend_cap_usd: spent / 1e6, spend_usd: spent / 1e6 });
    const before = upstream.chatRequests;
    for (const key of [k1.key, k2.key]) {
      const err = await expectError(await chat(gw.url, key, { model: 'counted-chat', messages: [{ role: 'user', content: 'more' }] }), 402, 'budget_exceeded');
      expect(err.message).toMatch(/organisation's spend cap/);
      expect(err.message).toContain(`$${(spent / 1e6).toFixed(6)}`);
    }
    expect(upstream.chatRequests).toBe(before);
    // The balance is untouched by refusals.
    expect(await balanceMicros(mk)).toBe(5_000_000 - spent);
  });

  it('lets the next request through at once after a top-up with POST /admin/orgs/{id}/credits', async () => {
    const { orgId, mk } = await gw.createOrg(0);
    const { key } = await gw.createKey(mk);
    await expectError(await chat(gw.url, key, { model: 'counted-chat', messages: [{ role: 'user', content: 'hi' }] }), 402, 'insufficient_balance');
    const top = await call<{ balance_usd: number; ledger_entry: { kind: string; amount_usd: number }; applied: boolean }>(gw.url, ADMIN_TOKEN, `/admin/orgs/${orgId}/credits`, {
      body: { amount_usd: 0.5, note: 'top-up' },
    });
    expect(top.status).toBe(201);
    expect(top.body).toMatchObject({ balance_usd: 0.5, ledger_entry: { kind: 'grant', amount_usd: 0.5 }, applied: true });
    const r = await ask(key, 'counted-chat');
    expect(r.status).toBe(200);
  });

  it('applies a top-up with an idempotency_key once, however often it is sent', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const path = `/admin/orgs/${orgId}/credits`;
    const first = await call<{ balance_usd: number; applied: boolean; ledger_entry: { id: string } }>(gw.url, ADMIN_TOKEN, path, { body: { amount_usd: 2, idempotency_key: 'invoice-42' } });
    expect(first.body).toMatchObject({ balance_usd: 3, applied: true });
    const again = await call<{ balance_usd: number; applied: boolean; ledger_entry: { id: string } }>(gw.url, ADMIN_TOKEN, path, { body: { amount_usd: 2, idempotency_key: 'invoice-42' } });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ balance_usd: 3, applied: false });
    expect(again.body.ledger_entry.id).toBe(first.body.ledger_entry.id);
    // Concurrent retries of another top-up also land once.
    const burst = await Promise.all(Array.from({ length: 5 }, () => call<{ applied: boolean }>(gw.url, ADMIN_TOKEN, path, { body: { amount_usd: 0.25, idempotency_key: 'invoice-43' } })));
    expect(burst.filter((b) => b.body.applied)).toHaveLength(1);
    // The same key with another amount or note is not a retry: 409, and nothing is applied.
    for (const body of [
      { amount_usd: 3, idempotency_key: 'invoice-42' },
      { amount_usd: 2, note: 'other', idempotency_key: 'invoice-42' },
    ]) {
      const conflict = await expectError(await gw.admin(path, { body }), 409, 'idempotency_conflict');
      expect(conflict).toMatchObject({ type: 'invalid_request_error', param: 'idempotency_key' });
      expect(conflict.message).toContain(first.body.ledger_entry.id);
    }
    // A different key is a different top-up.
    const other = await call<{ balance_usd: number; applied: boolean }>(gw.url, ADMIN_TOKEN, path, { body: { amount_usd: 2, idempotency_key: 'invoice-44' } });
    expect(other.body).toMatchObject({ balance_usd: 5.25, applied: true });
    expect(await balanceMicros(mk)).toBe(5_250_000);
    const grants = (await allLedger(gw.running.gateway.store, orgId)).filter((l) => l.kind === 'grant');
    expect(grants.map((g) => g.amount_micros).sort((a, b) => a - b)).toEqual([250_000, 1_000_000, 2_000_000, 2_000_000]);
    // The org listing agrees.
    const org = await call<{ balance_usd: number }>(gw.url, ADMIN_TOKEN, `/admin/orgs/${orgId}`);
    expect(org.body.balance_usd).toBe(5.25);
  });

  it('keeps the balance equal to the sum of the ledger after a mix of requests, streams, failures and grants', async () => {
    const { orgId, mk } = await gw.createOrg(0.2);
    const a = await gw.createKey(mk);
    const b = await gw.createKey(mk, { budget_usd: 0.001 });
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i++) {
      work.push(ask(a.key, i % 2 ? 'mock-chat' : 'mock-chat-large', { words: 5 + i * 7 }));
      work.push(ask(b.key, 'counted-chat', { words: 20 }));
      work.push(ask(a.key, 'mock-chat', { fault: 'status=500' }));
      work.push(
        chat(gw.url, a.key, { model: 'mock-chat', stream: true, messages: [{ role: 'user', content: `stream ${i}` }] }, { 'x-mock-words': String(10 + i) }).then((r) => r.text()),
      );
    }
    work.push(call(gw.url, ADMIN_TOKEN, `/admin/orgs/${orgId}/credits`, { body: { amount_usd: 0.05 } }));
    await Promise.all(work);
    await flushed(gw);
    // Page through GET /api/ledger three rows at a time.
    const seen = new Set<string>();
    let sum = 0;
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { body: { data: Array<{ id: string; amount_usd: number }>; next_cursor: string | null } } = await call(gw.url, mk, `/api/ledger?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      for (const e of page.body.data) {
        expect(seen.has(e.id)).toBe(false);
        seen.add(e.id);
        sum += micros(e.amount_usd);
      }
      cursor = page.body.next_cursor;
      pages++;
    } while (cursor);
    const ledger = await allLedger(gw.running.gateway.store, orgId);
    expect(seen.size).toBe(ledger.length);
    expect(pages).toBeGreaterThan(3);
    expect(ledger.filter((l) => l.kind === 'charge').length).toBeGreaterThan(10);
    const balance = await balanceMicros(mk);
    expect(balance).toBe(sum);
    expect(balance).toBe(sumMicros(ledger));
    expect((await gw.running.gateway.store.balances()).get(orgId)).toBe(balance);
    expect((await accountState(gw.running.gateway.accounts, orgId)).reserved).toBe(0);
    // Every charge belongs to exactly one usage row with the same cost.
    const usage = await allUsage(gw.running.gateway.store, orgId);
    const costs = new Map(usage.map((u) => [u.request_id, u.cost_micros]));
    for (const c of ledger.filter((l) => l.kind === 'charge')) expect(-c.amount_micros).toBe(costs.get(c.request_id!));
    expect(usage.reduce((s, u) => s + u.cost_micros, 0)).toBe(-sumMicros(ledger.filter((l) => l.kind === 'charge')));
  });

  it('bills two requests that carry the same client X-Request-Id separately and keeps balance == sum(ledger)', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const { key } = await gw.createKey(mk);
    const r1 = await ask(key, 'mock-chat', { words: 10, headers: { 'x-request-id': 'client-retry-1' } });
    const r2 = await ask(key, 'mock-chat', { words: 12, headers: { 'x-request-id': 'client-retry-1' } });
    expect(r1.status).toBe(200);
    expect(r2.status).toBe(200);
    expect(r1.requestId).toBe('client-retry-1');
    await flushed(gw);
    const ledger = await allLedger(gw.running.gateway.store, orgId);
    const usage = await allUsage(gw.running.gateway.store, orgId);
    expect(usage).toHaveLength(2);
    expect(ledger.filter((l) => l.kind === 'charge')).toHaveLength(2);
    expect(await balanceMicros(mk)).toBe(sumMicros(ledger));
  });
});

describe('SPEC §2 account endpoints: balance, usage, ledger', () => {
  it('GET /api/balance shows the org balance, and for an inference key its spend, budget and remaining', async () => {
    const { mk } = await gw.createOrg(2);
    const k = await gw.createKey(mk, { budget_usd: 0.5 });
    const unbudgeted = await gw.createKey(mk);
    const r = await ask(k.key, 'mock-chat-large', { words: 30 });
    const cost = expectedMicros('mock-chat-large', r.body.usage!.prompt_tokens, r.body.usage!.completion_tokens);
    const asKey = await call<{ balance_usd: number; currency: string; key: { id: string; spend_usd: number; budget_usd: number; remaining_usd: number } }>(gw.url, k.key, '/api/balance');
    expect(asKey.status).toBe(200);
    expect(asKey.body).toMatchObject({ currency: 'USD', key: { id: k.id } });
    expect(micros(asKey.body.balance_usd)).toBe(2_000_000 - cost);
    expect(micros(asKey.body.key.spend_usd)).toBe(cost);
    expect(asKey.body.key.budget_usd).toBe(0.5);
    expect(micros(asKey.body.key.remaining_usd)).toBe(500_000 - cost);
    const asOther = await call<{ key: { spend_usd: number; budget_usd: number | null; remaining_usd: number | null } }>(gw.url, unbudgeted.key, '/api/balance');
    expect(asOther.body.key).toMatchObject({ spend_usd: 0, budget_usd: null, remaining_usd: null });
    const asMk = await call<Record<string, unknown>>(gw.url, mk, '/api/balance');
    expect(asMk.status).toBe(200);
    expect(micros(asMk.body.balance_usd as number)).toBe(2_000_000 - cost);
    expect(asMk.body.currency).toBe('USD');
    expect(asMk.body).not.toHaveProperty('key');
  });

  describe('GET /api/usage', () => {
    let mk: string;
    let k1: { id: string; key: string };
    let k2: { id: string; key: string };
    let split = 0;
    const firstBatch: string[] = [];
    const secondBatch: string[] = [];

    beforeAll(async () => {
      ({ mk } = await gw.createOrg(5));
      k1 = await gw.createKey(mk);
      k2 = await gw.createKey(mk);
      for (let i = 0; i < 7; i++) firstBatch.push((await ask(i % 2 ? k1.key : k2.key, i % 3 ? 'mock-chat' : 'mock-chat-large', { words: 3 + i })).requestId);
      split = Date.now() + 1;
      while (Date.now() <= split) await new Promise((r) => setTimeout(r, 1));
      for (let i = 0; i < 6; i++) secondBatch.push((await ask(i % 2 ? k2.key : k1.key, i % 2 ? 'mock-chat-large' : 'mock-chat', { words: 4 + i })).requestId);
      secondBatch.push((await ask(k1.key, 'mock-chat', { fault: 'status=500' })).requestId);
      await flushed(gw);
    });

    type Rec = { request_id: string; key_id: string; model: string; prompt_tokens: number; completion_tokens: number; cost_usd: number; created_at: string; status: number };
    async function walk(query: string, limit: number): Promise<{ rows: Rec[]; pages: number }> {
      const rows: Rec[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const sep = query ? '&' : '';
        const res: { status: number; body: { data: Rec[]; next_cursor: string | null } } = await call(gw.url, mk, `/api/usage?${query}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(res.status).toBe(200);
        expect(res.body.data.length).toBeLessThanOrEqual(limit);
        rows.push(...res.body.data);
        cursor = res.body.next_cursor;
        pages++;
        expect(pages).toBeLessThan(100);
      } while (cursor);
      return { rows, pages };
    }

    it('walks every record exactly once through cursor pages, newest first', async () => {
      const { rows, pages } = await walk('', 4);
      expect(pages).toBe(4);
      const ids = rows.map((r) => r.request_id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(ids)).toEqual(new Set([...firstBatch, ...secondBatch]));
      const times = rows.map((r) => Date.parse(r.created_at));
      for (let i = 1; i < times.length; i++) expect(times[i]).toBeLessThanOrEqual(times[i - 1]);
      const failed = rows.find((r) => r.status >= 500);
      expect(failed).toMatchObject({ cost_usd: 0, completion_tokens: 0 });
    });

    it('filters by key_id, by model and by time (from inclusive, to exclusive)', async () => {
      const all = (await walk('', 1000)).rows;
      const byKey = (await walk(`key_id=${k1.id}`, 2)).rows;
      expect(byKey.length).toBeGreaterThan(0);
      expect(byKey.every((r) => r.key_id === k1.id)).toBe(true);
      expect(byKey.length).toBe(all.filter((r) => r.key_id === k1.id).length);
      const byModel = (await walk('model=mock-chat-large', 2)).rows;
      expect(byModel.length).toBeGreaterThan(0);
      expect(byModel.every((r) => r.model === 'mock-chat-large')).toBe(true);
      expect(byModel.length).toBe(all.filter((r) => r.model === 'mock-chat-large').length);
      const both = (await walk(`model=mock-chat&key_id=${k2.id}`, 1000)).rows;
      expect(both.length).toBe(all.filter((r) => r.model === 'mock-chat' && r.key_id === k2.id).length);
      const iso = new Date(split).toISOString();
      const after = (await walk(`from=${encodeURIComponent(iso)}`, 3)).rows;
      expect(new Set(after.map((r) => r.request_id))).toEqual(new Set(secondBatch));
      const before = (await walk(`to=${encodeURIComponent(iso)}`, 3)).rows;
      expect(new Set(before.map((r) => r.request_id))).toEqual(new Set(firstBatch));
      const none = (await walk(`from=${encodeURIComponent(iso)}&to=${encodeURIComponent(iso)}`, 3)).rows;
      expect(none).toHaveLength(0);
      const bad = await fetch(`${gw.url}/api/usage?from=yesterday`, { headers: { authorization: `Bearer ${mk}` } });
      const err = await expectError(bad, 400, 'invalid_value');
      expect(err.param).toBe('from');
      // A day its month does not have is refused, not rolled over into the next month.
      for (const [param, day] of [
        ['from', '2026-02-30'],
        ['to', '2026-04-31T00:00:00Z'],
      ]) {
        const res = await fetch(`${gw.url}/api/usage?${param}=${day}&group_by=day`, { headers: { authorization: `Bearer ${mk}` } });
        expect((await expectError(res, 400, 'invalid_value')).param).toBe(param);
      }
      expect((await call(gw.url, mk, '/api/usage?from=2028-02-29&to=2028-03-01')).status).toBe(200);
    });

    it('aggregates by day and by hour, model and key to the sums of the raw records', async () => {
      const raw = (await walk('', 1000)).rows;
      const sum = (rows: Rec[]) => ({
        requests: rows.length,
        errors: rows.filter((r) => r.status >= 400).length,
        prompt_tokens: rows.reduce((s, r) => s + r.prompt_tokens, 0),
        completion_tokens: rows.reduce((s, r) => s + r.completion_tokens, 0),
        cost: rows.reduce((s, r) => s + micros(r.cost_usd), 0),
      });
      type Agg = { bucket?: string; model?: string; key_id?: string; requests: number; errors: number; prompt_tokens: number; completion_tokens: number; cost_usd: number };
      const day = await call<{ data: Agg[] }>(gw.url, mk, '/api/usage?group_by=day');
      expect(day.status).toBe(200);
      const dayTotals = day.body.data.reduce(
        (s, a) => ({ requests: s.requests + a.requests, errors: s.errors + a.errors, prompt_tokens: s.prompt_tokens + a.prompt_tokens, completion_tokens: s.completion_tokens + a.completion_tokens, cost: s.cost + micros(a.cost_usd) }),
        { requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, cost: 0 },
      );
      expect(dayTotals).toEqual(sum(raw));
      for (const a of day.body.data) expect(Date.parse(a.bucket!) % 86_400_000).toBe(0);

      const fine = await call<{ data: Agg[] }>(gw.url, mk, '/api/usage?group_by=hour,model,key');
      expect(fine.status).toBe(200);
      const groups = new Map<string, Rec[]>();
      for (const r of raw) {
        const bucket = new Date(Math.floor(Date.parse(r.created_at) / 3_600_000) * 3_600_000).toISOString();
        const id = `${bucket}|${r.model}|${r.key_id}`;
        groups.set(id, [...(groups.get(id) ?? []), r]);
      }
      expect(fine.body.data).toHaveLength(groups.size);
      for (const a of fine.body.data) {
        const rows = groups.get(`${a.bucket}|${a.model}|${a.key_id}`);
        expect(rows, `${a.bucket}|${a.model}|${a.key_id}`).toBeDefined();
        expect({ requests: a.requests, errors: a.errors, prompt_tokens: a.prompt_tokens, completion_tokens: a.completion_tokens, cost: micros(a.cost_usd) }).toEqual(sum(rows!));
      }
      // Filters apply to aggregates as well.
      const oneKey = await call<{ data: Agg[] }>(gw.url, mk, `/api/usage?group_by=day&key_id=${k2.id}`);
      expect(oneKey.body.data.reduce((s, a) => s + a.requests, 0)).toBe(raw.filter((r) => r.key_id === k2.id).length);
    });
  });
});

// SPEC §6 refusals that point at the fix: a budget that is used up versus a budget whose
// remainder is smaller than this request's worst case (and how many output tokens fit).
import { describe, expect, it } from 'vitest';
import { CreditAccounts, type ReserveInput } from './accounts.js';

function accounts(balanceUsd: number): CreditAccounts {
  const a = new CreditAccounts();
  a.grant('org', balanceUsd * 1e6);
  return a;
}

const input = (over: Partial<ReserveInput>): ReserveInput => ({ orgId: 'org', keyId: 'key', amount: 0, keyBudget: null, orgCap: null, ...over });

describe('key budget refusals', () => {
  it("when nothing is spent and the request's worst case is the cause, says so and how many output tokens it can afford", () => {
    const a = accounts(10);
    // $0.01 budget; prompt $0.0001; $15 per million output tokens (15 micro-USD each), 4096 tokens at most.
    const quote = { promptMicros: 100, outputMicrosPerToken: 15, maxOutputTokens: 4096 };
    const r = a.reserve(input({ amount: 100 + 15 * 4096, keyBudget: 10_000, quote }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.code).toBe('budget_exceeded');
    expect(r.message).not.toMatch(/budget is reached|used up/);
    expect(r.message).toMatch(/\$0\.01 left/);
    expect(r.message).toMatch(/worst case/);
    expect(r.message).toMatch(/up to 4096 output tokens/);
    // (10000 - 100) / 15 = 660 output tokens fit.
    expect(r.message).toMatch(/about 660 output tokens: set max_tokens to 660 or less/);
  });

  it('without a quote still blames the worst case and says to lower max_tokens', () => {
    const a = accounts(10);
    const r = a.reserve(input({ amount: 20_000, keyBudget: 10_000 }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toMatch(/less than this request's worst case \(\$0\.02\)/);
    expect(r.message).toMatch(/max_tokens/);
  });

  it('when the budget is spent, says it is used up and to raise budget_usd', () => {
    const a = accounts(10);
    a.charge('org', 'key', 10_000);
    const r = a.reserve(input({ amount: 1, keyBudget: 10_000 }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toMatch(/used up: \$0\.01 spent of \$0\.01/);
    expect(r.message).toMatch(/budget_usd/);
  });

  it('when the prompt alone costs more than what is left, says to shorten it', () => {
    const a = accounts(10);
    const r = a.reserve(input({ amount: 20_000, keyBudget: 10_000, quote: { promptMicros: 15_000, outputMicrosPerToken: 1, maxOutputTokens: 5000 } }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toMatch(/prompt alone/);
  });
});

describe('balance refusals', () => {
  it('when the balance covers something but not the worst case, says how many output tokens fit', () => {
    const a = accounts(0.001);
    const r = a.reserve(input({ amount: 5000, quote: { promptMicros: 0, outputMicrosPerToken: 2, maxOutputTokens: 2500 } }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.code).toBe('insufficient_balance');
    expect(r.message).toMatch(/about 500 output tokens/);
    expect(r.message).toMatch(/add credit/);
  });
});

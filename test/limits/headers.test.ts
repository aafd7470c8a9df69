// SPEC §7: OpenAI's x-ratelimit-* headers and Retry-After, and the plan that feeds them.
import { describe, expect, it } from 'vitest';
import {
  exceededCode,
  formatResetDuration,
  headerStates,
  type LimitState,
  planLimits,
  rateLimitHeaders,
  retryAfterSeconds,
  tightestState,
  tokenKeys,
} from '../../src/limits/index.js';

describe('SPEC §7 rate-limit headers', () => {
  it.each([
    [0, '0s'],
    [-5, '0s'],
    [0.2, '1ms'],
    [59, '59ms'],
    [999, '999ms'],
    [1_000, '1s'],
    [1_050, '1.05s'],
    [17_250, '17.25s'],
    [60_000, '1m0s'],
    [90_500, '1m30.5s'],
    [252_172, '4m12.172s'],
    [360_000, '6m0s'],
    [3_600_000, '1h0m0s'],
    [83_909_144, '23h18m29.144s'],
  ])('writes a reset of %d ms as %s, like OpenAI', (ms, text) => {
    expect(formatResetDuration(ms)).toBe(text);
  });

  it.each([
    [0, 1],
    [1, 1],
    [1_000, 1],
    [1_001, 2],
    [59_995, 60],
    [Number.NaN, 1],
  ])('turns %d ms into Retry-After %d (whole seconds, at least 1)', (ms, s) => {
    expect(retryAfterSeconds(ms)).toBe(s);
  });

  it('sends the requests trio and, when a TPM limit applies, the tokens trio', () => {
    const rpm: LimitState = { key: 'rpm:key:a', limit: 60, remaining: 59, resetMs: 1_000 };
    const tpm: LimitState = { key: 'tpm:key:a', limit: 150_000, remaining: 149_984, resetMs: 360_000 };
    expect(rateLimitHeaders(rpm, tpm)).toEqual({
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-limit-tokens': '150000',
      'x-ratelimit-remaining-tokens': '149984',
      'x-ratelimit-reset-tokens': '6m0s',
    });
    expect(Object.keys(rateLimitHeaders(rpm))).toEqual([
      'x-ratelimit-limit-requests',
      'x-ratelimit-remaining-requests',
      'x-ratelimit-reset-requests',
    ]);
    expect(rateLimitHeaders()).toEqual({});
  });

  it('reports the limit that will bite first when key and org both have one', () => {
    const key: LimitState = { key: 'rpm:key:a', limit: 600, remaining: 500, resetMs: 100 };
    const org: LimitState = { key: 'rpm:org:o', limit: 1_000, remaining: 3, resetMs: 20 };
    const orgLater: LimitState = { ...org, resetMs: 900 };
    expect(tightestState([key, org])).toBe(org);
    expect(tightestState([org, orgLater])).toBe(orgLater);
    expect(tightestState([undefined])).toBeUndefined();
  });
});

describe('SPEC §7 limit plan: key and org rpm/tpm', () => {
  const plan = planLimits({
    keyId: 'key_1',
    orgId: 'org_1',
    key: { rpm: 600, tpm: 10_000 },
    org: { rpm: null, tpm: 50_000 },
    tokens: 1_234,
  });

  it('builds one spec per configured limit, costing 1 request or the estimated tokens', () => {
    expect(plan.specs).toEqual([
      { key: 'rpm:key:key_1', limit: 600, cost: 1, windowMs: undefined },
      { key: 'tpm:key:key_1', limit: 10_000, cost: 1_234, windowMs: undefined },
      { key: 'tpm:org:org_1', limit: 50_000, cost: 1_234, windowMs: undefined },
    ]);
    expect(plan.metrics).toEqual(['rpm', 'tpm', 'tpm']);
    expect(tokenKeys(plan)).toEqual(['tpm:key:key_1', 'tpm:org:org_1']);
  });

  it('maps a refusal to rpm_exceeded or tpm_exceeded', () => {
    expect(exceededCode(plan, 0)).toBe('rpm_exceeded');
    expect(exceededCode(plan, 2)).toBe('tpm_exceeded');
  });

  it('picks the binding rpm and tpm states for the headers', () => {
    const states: LimitState[] = [
      { key: 'rpm:key:key_1', limit: 600, remaining: 599, resetMs: 60_000 },
      { key: 'tpm:key:key_1', limit: 10_000, remaining: 8_766, resetMs: 60_000 },
      { key: 'tpm:org:org_1', limit: 50_000, remaining: 100, resetMs: 5_000 },
    ];
    const { rpm, tpm } = headerStates(plan, states);
    expect(rpm).toBe(states[0]);
    expect(tpm).toBe(states[2]);
  });

  it('plans nothing when no limit is configured', () => {
    expect(planLimits({ keyId: 'k', orgId: 'o', key: {}, org: { rpm: null }, tokens: 5 }).specs).toEqual([]);
  });
});

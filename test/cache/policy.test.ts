import { describe, expect, it } from 'vitest';
import { cacheDecision, optsOutOfCache } from '../../src/cache/policy.js';
import type { ChatRequest } from '../../src/core/types.js';
import { chatRequest } from './helpers.js';

type Case = [name: string, overrides: Partial<ChatRequest>, cacheControl: string | undefined, expected: 'bypass' | 'cacheable'];

describe('SPEC §9 caching: which requests are cacheable', () => {
  const cases: Case[] = [
    ['temperature 0, top_p absent', {}, undefined, 'cacheable'],
    ['temperature 0, top_p 1', { top_p: 1 }, undefined, 'cacheable'],
    ['temperature 0, top_p null (the default)', { top_p: null }, undefined, 'cacheable'],
    ['temperature -0', { temperature: -0 }, undefined, 'cacheable'],
    ['temperature 0 with stream false', { stream: false }, undefined, 'cacheable'],
    ['n > 1 stays cacheable (n is part of the key)', { n: 3 }, undefined, 'cacheable'],
    ['seed and max_tokens do not matter for cacheability', { seed: 7, max_tokens: 10 }, undefined, 'cacheable'],
    ['streaming', { stream: true }, undefined, 'bypass'],
    ['temperature above 0', { temperature: 0.2 }, undefined, 'bypass'],
    ['temperature 1', { temperature: 1 }, undefined, 'bypass'],
    ['temperature absent (provider default 1)', { temperature: undefined }, undefined, 'bypass'],
    ['temperature null (provider default 1)', { temperature: null }, undefined, 'bypass'],
    ['top_p below 1', { top_p: 0.9 }, undefined, 'bypass'],
    ['top_p 0', { top_p: 0 }, undefined, 'bypass'],
    ['Cache-Control: no-cache', {}, 'no-cache', 'bypass'],
    ['Cache-Control: no-store', {}, 'no-store', 'bypass'],
    ['Cache-Control in upper case', {}, 'NO-CACHE', 'bypass'],
    ['Cache-Control mixed case among other directives', {}, 'max-age=0, No-Store, no-transform', 'bypass'],
    ['Cache-Control no-cache with an argument', {}, 'no-cache="set-cookie"', 'bypass'],
    ['Cache-Control without an opt-out directive', {}, 'max-age=600, no-transform', 'cacheable'],
    ['Cache-Control quoting "no-cache" inside another directive', {}, 'ext="a, no-cache"', 'cacheable'],
    ['Cache-Control with a longer name that starts like no-cache', {}, 'no-cache-ish', 'cacheable'],
    ['empty Cache-Control', {}, '', 'cacheable'],
  ];

  it.each(cases)('%s → %s', (_name, overrides, cacheControl, expected) => {
    const req = chatRequest(overrides);
    if ('temperature' in overrides && overrides.temperature === undefined) delete req.temperature;
    expect(cacheDecision(req, { cacheControl })).toBe(expected);
  });

  it('a deterministic stream still bypasses even with a cache-friendly header', () => {
    expect(cacheDecision(chatRequest({ stream: true }), { cacheControl: 'max-age=60' })).toBe('bypass');
  });

  it('parses directives separated by commas without spaces', () => {
    expect(optsOutOfCache('max-age=0,no-store')).toBe(true);
    expect(optsOutOfCache('  ,\tno-cache')).toBe(true);
    expect(optsOutOfCache('private')).toBe(false);
  });
});

// SPEC §6 "a request reserves its worst-case cost": the prompt figure a reservation starts from
// is an upper bound of what an upstream bills, whatever the text. Prompts made of punctuation,
// base64, CJK, emoji, code and runs of one character, one at a time and 200 at once, never take
// an org below zero or a key past its budget (the mock bills exact o200k counts).
import { encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPromptTokens, promptTokenBound, textTokenBound } from '../../src/core/tokens.js';
import type { ChatMessage } from '../../src/core/types.js';
import { chat, flushed, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { accountState, allLedger, NO_SHEDDING, sumMicros } from '../helpers/money.js';

/** Deterministic pseudo-random integers, so every run sends the same prompts. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % n;
  };
}

const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
const EMOJI = ['😀', '🦄', '👩‍👩‍👧‍👦', '🏳️‍🌈', '👍🏽', '🇫🇷', '🧑‍💻', '❤️‍🔥', '🫠', '🪿'];
const CODE = ['x[i]=y?.z??{a:0x1f};', 'if(!(a&&b||c)){return;}', 'f=(a,b)=>a<<2|b>>>1;', 's+="\\u00e9\\t";', '$_=~s/\\W+/_/g;', '}}]);', '#{@x}::<T>'];

/** `chars` characters of one kind of text, varied by `seed`. */
const KINDS: Record<string, (chars: number, seed: number) => string> = {
  punctuation: (chars, seed) => {
    const r = rng(seed);
    let s = '';
    while (s.length < chars) s += PUNCTUATION[r(PUNCTUATION.length)];
    return s;
  },
  base64: (chars, seed) => {
    const r = rng(seed);
    const bytes = Buffer.alloc(Math.ceil((chars * 3) / 4));
    for (let i = 0; i < bytes.length; i++) bytes[i] = r(256);
    return bytes.toString('base64').slice(0, chars);
  },
  cjk: (chars, seed) => {
    const r = rng(seed);
    let s = '';
    while (s.length < chars) s += String.fromCodePoint(0x4e00 + r(0x9fff - 0x4e00));
    return s;
  },
  emoji: (chars, seed) => {
    const r = rng(seed);
    let s = '';
    while (s.length < chars) s += EMOJI[r(EMOJI.length)];
    return s;
  },
  code: (chars, seed) => {
    const r = rng(seed);
    let s = '';
    while (s.length < chars) s += CODE[r(CODE.length)];
    return s;
  },
  runs: (chars, seed) => '!.a 0\n'[seed % 6].repeat(chars),
};

describe('the prompt bound is never below a real tokenizer count', () => {
  it.each(Object.keys(KINDS))('bounds %s text above its o200k and cl100k counts', (kind) => {
    for (const chars of [1, 7, 100, 5000]) {
      for (let seed = 0; seed < 6; seed++) {
        const text = KINDS[kind](chars, seed);
        const bound = textTokenBound(text);
        expect(bound).toBeGreaterThanOrEqual(encodeO200k(text).length);
        expect(bound).toBeGreaterThanOrEqual(encodeCl100k(text).length);
      }
    }
  });

  it('bounds a conversation with names, tool calls and tools above the billed count', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: KINDS.code(300, 1) },
      { role: 'user', name: 'ann', content: [{ type: 'text', text: KINDS.emoji(200, 2) }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: KINDS.punctuation(100, 3) } }] },
      { role: 'tool', tool_call_id: 'call_1', content: KINDS.cjk(100, 4) },
    ];
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
    expect(promptTokenBound(messages, tools)).toBeGreaterThanOrEqual(countPromptTokens(messages, tools));
  });
});

// 1 µ$ per token in and out, so a charge in micro-dollars is the tokens billed.
const PRICE = { input_per_mtok: 1, output_per_mtok: 1 };
const MAX_TOKENS = 8;

let gw: TestGateway;
/** Prompts and their billed counts, made before the gateway starts: counting CJK blocks the loop for seconds. */
const cases = new Map<string, { alone: string; aloneBilled: number; many: string[]; manyReal: number }>();

beforeAll(async () => {
  for (const kind of Object.keys(KINDS)) {
    const many = Array.from({ length: 200 }, (_, i) => KINDS[kind](1000, 1000 + i));
    const alone = KINDS[kind](20_000, 7);
    cases.set(kind, { alone, aloneBilled: billedPrompt(alone), many, manyReal: many.reduce((sum, p) => sum + billedPrompt(p) + MAX_TOKENS, 0) });
  }
  gw = await startTestGateway({
    raw: {
      models: [{ id: 'metered', context_window: 2_000_000, max_output_tokens: 64, pricing: PRICE, channels: [{ provider: 'mock', upstream_model: 'mock-chat' }] }],
      limits: { key_rpm: null },
      server: NO_SHEDDING,
    },
  });
});

afterAll(async () => {
  await gw?.close();
});

const ask = (key: string, content: string) => chat(gw.url, key, { model: 'metered', max_tokens: MAX_TOKENS, messages: [{ role: 'user', content }] });

/** The status of a request, its body read to the end. */
async function statusOf(key: string, content: string): Promise<number> {
  const res = await ask(key, content);
  await res.text();
  return res.status;
}

/** What the mock will bill for a one-message prompt: its exact o200k count plus the framing. */
const billedPrompt = (content: string) => countPromptTokens([{ role: 'user', content }]);

async function books(orgId: string): Promise<{ balance: number; ledger: number; reserved: number }> {
  await flushed(gw);
  const live = await accountState(gw.running.gateway.accounts, orgId);
  return { balance: live.balance, ledger: sumMicros(await allLedger(gw.running.gateway.store, orgId)), reserved: live.reserved };
}

async function keySpendMicros(mk: string, keyId: string): Promise<number> {
  const res = await fetch(`${gw.url}/api/keys/${keyId}`, { headers: { authorization: `Bearer ${mk}` } });
  const body = (await res.json()) as { spend_usd: number };
  return Math.round(body.spend_usd * 1_000_000);
}

describe('SPEC §6 reservations cover the real prompt cost', () => {
  it.each(Object.keys(KINDS))('one large %s prompt cannot take an org below zero', async (kind) => {
    const { alone: prompt, aloneBilled } = cases.get(kind)!;
    const real = aloneBilled + MAX_TOKENS;
    // Just under the real cost: any reservation below the real prompt count would admit it.
    const { orgId, mk } = await gw.createOrg((real - 1) / 1_000_000);
    const { key } = await gw.createKey(mk);
    const res = await ask(key, prompt);
    await res.text();
    expect(res.status).toBe(402);
    const after = await books(orgId);
    expect(after.balance).toBeGreaterThanOrEqual(0);
    expect(after.balance).toBe(after.ledger);
    // With the bound's worth of credit, the same prompt is served.
    const rich = await gw.createOrg((textTokenBound(prompt) + 200) / 1_000_000);
    const served = await ask((await gw.createKey(rich.mk)).key, prompt);
    expect(served.status).toBe(200);
    expect(((await served.json()) as { usage: { prompt_tokens: number } }).usage.prompt_tokens).toBe(aloneBilled);
  });

  it.each(Object.keys(KINDS))('200 concurrent %s prompts leave the org balance ≥ 0 and a key within its budget', async (kind) => {
    const { many: prompts, manyReal: totalReal } = cases.get(kind)!;

    // An org whose balance covers about a third of what all 200 would cost.
    const poor = await gw.createOrg(Math.floor(totalReal / 3) / 1_000_000);
    const poorKey = (await gw.createKey(poor.mk)).key;
    const poorStatuses = await Promise.all(prompts.map((p) => statusOf(poorKey, p)));
    const poorBooks = await books(poor.orgId);
    expect(poorBooks.balance).toBeGreaterThanOrEqual(0);
    expect(poorBooks.balance).toBe(poorBooks.ledger);
    expect(poorBooks.reserved).toBe(0);
    expect(poorStatuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(poorStatuses.every((s) => s === 200 || s === 402)).toBe(true);

    // A key whose budget covers about a third, in an org with plenty.
    const rich = await gw.createOrg(totalReal / 1_000_000 + 10);
    const budget = Math.floor(totalReal / 3);
    const budgeted = await gw.createKey(rich.mk, { budget_usd: budget / 1_000_000 });
    const keyStatuses = await Promise.all(prompts.map((p) => statusOf(budgeted.key, p)));
    await flushed(gw);
    expect(await keySpendMicros(rich.mk, budgeted.id)).toBeLessThanOrEqual(budget);
    expect(keyStatuses.filter((s) => s === 200).length).toBeGreaterThan(0);
  }, 60_000);
});

describe('SPEC §6 the Messages and Responses surfaces reserve from the same bound', () => {
  const surfaces: Array<[string, string, (content: string) => Record<string, unknown>]> = [
    ['messages', '/v1/messages', (content) => ({ model: 'metered', max_tokens: MAX_TOKENS, messages: [{ role: 'user', content }] })],
    ['responses', '/v1/responses', (content) => ({ model: 'metered', max_output_tokens: MAX_TOKENS, store: false, input: content })],
  ];
  it.each(surfaces)('a large base64 prompt on %s cannot take an org below zero', async (_name, path, body) => {
    const { alone: prompt, aloneBilled } = cases.get('base64')!;
    const { orgId, mk } = await gw.createOrg((aloneBilled + MAX_TOKENS - 1) / 1_000_000);
    const { key } = await gw.createKey(mk);
    const res = await fetch(`${gw.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body(prompt)) });
    await res.text();
    expect(res.status).toBe(402);
    const after = await books(orgId);
    expect(after.balance).toBeGreaterThanOrEqual(0);
    expect(after.balance).toBe(after.ledger);
  });
});

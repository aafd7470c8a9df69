// Cost per request of the prompt figures: the upper bound the hot path reserves with
// (promptTokenBound), the approximation the context check uses, and an exact o200k count
// (what the hot path avoids). Run: npx tsx bench/estimate.ts [--quick]
import { randomBytes } from 'node:crypto';
import { approximatePromptTokens, countPromptTokens, promptTokenBound } from '../src/core/tokens.js';
import type { ChatMessage } from '../src/core/types.js';

const quick = process.argv.includes('--quick');

const PROSE = 'The gateway routes every request to a healthy channel and bills tokens exactly. ';
const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];

function cjk(n: number): string {
  let s = '';
  for (let i = 0; s.length < n; i++) s += String.fromCodePoint(0x4e00 + ((i * 7919) % 0x51ff));
  return s;
}

const CASES: Record<string, { messages: ChatMessage[]; tools?: unknown }> = {
  'chat, 200 B': { messages: [{ role: 'system', content: 'You are helpful.' }, { role: 'user', content: PROSE.repeat(2) }] },
  'chat + tools, 2 kB': { messages: [{ role: 'user', content: PROSE.repeat(25) }], tools },
  'prose, 32 kB': { messages: [{ role: 'user', content: PROSE.repeat(400) }] },
  'base64, 100 kB': { messages: [{ role: 'user', content: randomBytes(75_000).toString('base64') }] },
  'CJK, 20 k chars': { messages: [{ role: 'user', content: cjk(20_000) }] },
};

function timePerCall(fn: () => number, budgetMs: number): { us: number; value: number } {
  let value = fn();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < budgetMs) {
    value = fn();
    n++;
  }
  return { us: ((performance.now() - start) * 1000) / Math.max(n, 1), value };
}

const budget = quick ? 100 : 500;
console.log(`${'prompt'.padEnd(20)} ${'bound µs'.padStart(10)} ${'approx µs'.padStart(10)} ${'exact µs'.padStart(12)}   bound / exact tokens`);
for (const [name, c] of Object.entries(CASES)) {
  const bound = timePerCall(() => promptTokenBound(c.messages, c.tools), budget);
  const approx = timePerCall(() => approximatePromptTokens(c.messages, c.tools), budget);
  const exact = timePerCall(() => countPromptTokens(c.messages, c.tools), budget);
  console.log(
    `${name.padEnd(20)} ${bound.us.toFixed(2).padStart(10)} ${approx.us.toFixed(2).padStart(10)} ${exact.us.toFixed(0).padStart(12)}   ${bound.value} / ${exact.value} = ${(bound.value / exact.value).toFixed(2)}`,
  );
}

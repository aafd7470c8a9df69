// Exact token counts (o200k, in slices of at most 256 characters cut before a space): used where
// a number is billed without an upstream count, such as a stream whose upstream reported none.
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { countTextTokens } from '../../src/core/tokens.js';

describe('countTextTokens', () => {
  it('counts ordinary text exactly as the whole text encodes', () => {
    const words = ['the', 'gateway', 'relays', 'every', 'token,', 'and', 'bills', 'it', 'exactly.', 'Ça', 'marche', '🙂', '\n'];
    let text = '';
    for (let i = 0; text.length < 20_000; i++) text += `${words[(i * 7) % words.length]} `;
    expect(countTextTokens(text)).toBe(encode(text).length);
  });

  it('counts a 4-million-character run without spaces in one pass (it took 18 s when each slice searched back to the start)', () => {
    const slice = countTextTokens('x'.repeat(256));
    expect(countTextTokens('x'.repeat(4_000_000))).toBe(slice * (4_000_000 / 256));
  });
});

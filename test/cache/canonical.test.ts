import { describe, expect, it } from 'vitest';
import { canonicalJson, exactCacheKey, semanticScope } from '../../src/cache/canonical.js';
import type { ChatRequest } from '../../src/core/types.js';
import { chatRequest } from './helpers.js';

const key = (req: ChatRequest, org = 'org-a', model = 'gpt-test') => exactCacheKey(org, model, req);

describe('SPEC §9 caching: the exact key is the canonical request', () => {
  it('is 64 hex characters', () => {
    expect(key(chatRequest())).toMatch(/^[0-9a-f]{64}$/);
  });

  it('does not depend on object key order at any depth', () => {
    const a: ChatRequest = {
      model: 'gpt-test',
      temperature: 0,
      messages: [
        { role: 'user', content: 'hi', name: 'ann' },
        { role: 'assistant', content: null, tool_calls: [{ id: 't1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      ],
      tools: [{ type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object', properties: { x: { type: 'string' }, y: { type: 'number' } } } } }],
      response_format: { type: 'json_object' },
    };
    const b: ChatRequest = {
      response_format: { type: 'json_object' },
      tools: [{ function: { parameters: { properties: { y: { type: 'number' }, x: { type: 'string' } }, type: 'object' }, description: 'd', name: 'f' }, type: 'function' }],
      messages: [
        { name: 'ann', content: 'hi', role: 'user' },
        { tool_calls: [{ function: { arguments: '{}', name: 'f' }, type: 'function', id: 't1' }], content: null, role: 'assistant' },
      ],
      temperature: 0,
      model: 'gpt-test',
    };
    expect(key(a)).toBe(key(b));
  });

  it('keeps array order: swapping two messages changes the key', () => {
    const req = chatRequest();
    const swapped = chatRequest({ messages: [...req.messages].reverse() });
    expect(key(swapped)).not.toBe(key(req));
  });

  const outputAffecting: Array<[string, Partial<ChatRequest>]> = [
    ['messages: user text', { messages: [{ role: 'user', content: 'What is the capital of Spain?' }] }],
    ['messages: system prompt', { messages: [{ role: 'system', content: 'You are verbose.' }, { role: 'user', content: 'What is the capital of France?' }] }],
    ['messages: name', { messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'What is the capital of France?', name: 'bob' }] }],
    [
      'messages: tool call and tool result',
      {
        messages: [
          { role: 'user', content: 'What is the capital of France?' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'lookup', arguments: '{"q":"France"}' } }] },
          { role: 'tool', tool_call_id: 'c1', content: 'Paris' },
        ],
      },
    ],
    ['tools', { tools: [{ type: 'function', function: { name: 'lookup' } }] }],
    ['tool_choice', { tool_choice: 'required' }],
    ['parallel_tool_calls', { parallel_tool_calls: false }],
    ['response_format', { response_format: { type: 'json_object' } }],
    ['stop', { stop: ['\n'] }],
    ['max_tokens', { max_tokens: 10 }],
    ['max_completion_tokens', { max_completion_tokens: 10 }],
    ['seed', { seed: 42 }],
    ['temperature', { temperature: -0.5 }],
    ['top_p', { top_p: 1 }],
    ['n', { n: 2 }],
    ['presence_penalty', { presence_penalty: 0.5 }],
    ['frequency_penalty', { frequency_penalty: 0.5 }],
    ['logit_bias', { logit_bias: { '50256': -100 } }],
    ['logprobs', { logprobs: true }],
    ['top_logprobs', { top_logprobs: 2 }],
    ['reasoning_effort', { reasoning_effort: 'high' }],
    ['verbosity', { verbosity: 'low' }],
    ['modalities', { modalities: ['text', 'audio'] }],
    ['audio', { audio: { voice: 'alloy', format: 'mp3' } }],
    ['prediction', { prediction: { type: 'content', content: 'Paris' } }],
    ['web_search_options', { web_search_options: { search_context_size: 'low' } }],
    ['functions', { functions: [{ name: 'lookup' }] }],
    ['function_call', { function_call: 'auto' }],
    ['a field this gateway has never heard of', { top_k: 5 }],
  ];

  it.each(outputAffecting)('changes when %s changes', (_field, overrides) => {
    expect(key(chatRequest(overrides))).not.toBe(key(chatRequest()));
  });

  it('gives every output-affecting variation its own key', () => {
    const keys = new Set(outputAffecting.map(([, o]) => key(chatRequest(o))));
    expect(keys.size).toBe(outputAffecting.length);
  });

  const outputNeutral: Array<[string, Partial<ChatRequest>]> = [
    ['stream', { stream: false }],
    ['stream_options', { stream_options: { include_usage: true } }],
    ['user', { user: 'end-user-17' }],
    ['metadata', { metadata: { trace: 'abc' } }],
    ['store', { store: true }],
    ['service_tier', { service_tier: 'flex' }],
    ['prompt_cache_key', { prompt_cache_key: 'pk' }],
    ['safety_identifier', { safety_identifier: 'sid' }],
    ['models (fallback list)', { models: ['other-model'] }],
    ['the body model (the caller passes the model)', { model: 'alias-of-gpt-test' }],
    ['a top-level null, which means the provider default', { seed: null, max_tokens: null }],
  ];

  it.each(outputNeutral)('does not change when %s changes', (_field, overrides) => {
    expect(key(chatRequest(overrides))).toBe(key(chatRequest()));
  });

  it('never shares a key between orgs or models', () => {
    const req = chatRequest();
    expect(key(req, 'org-a')).not.toBe(key(req, 'org-b'));
    expect(key(req, 'org-a', 'gpt-test')).not.toBe(key(req, 'org-a', 'gpt-other'));
    // Boundaries are unambiguous: moving characters between org and model changes the key.
    expect(key(req, 'ab', 'c')).not.toBe(key(req, 'a', 'bc'));
  });

  it('refuses absurdly deep nesting instead of exhausting the stack', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 1000; i++) deep = [deep];
    expect(() => key(chatRequest({ logit_bias: { a: 1 }, extra: deep }))).toThrow(RangeError);
  });

  it('escapes strings and keys exactly as JSON.stringify does', () => {
    const samples = ['plain', 'quote " and \\ backslash', 'line\nbreak\ttab\u0001', 'emoji 😀 pair', 'lone \ud800 surrogate', 'é ü 東京', ''];
    for (const s of samples) {
      expect(canonicalJson(s)).toBe(JSON.stringify(s));
      expect(canonicalJson({ [s]: 1 })).toBe(JSON.stringify({ [s]: 1 }));
    }
    // UTF-8 would turn both lone surrogates into U+FFFD; escaping keeps them apart.
    expect(key(chatRequest({ stop: '\ud800' }))).not.toBe(key(chatRequest({ stop: '\udc00' })));
  });

  it('sorts many keys the same way Array#sort does', () => {
    const obj: Record<string, number> = {};
    for (let i = 40; i > 0; i--) obj[`k${(i * 7919) % 97}_${i}`] = i;
    const sorted = Object.fromEntries(Object.keys(obj).sort().map((k) => [k, obj[k]]));
    expect(canonicalJson(obj)).toBe(JSON.stringify(sorted));
    expect(canonicalJson({ b: 1, B: 2, a: 3, _: 4, '10': 5, '9': 6 })).toBe('{"10":5,"9":6,"B":2,"_":4,"a":3,"b":1}');
  });

  it('writes canonical JSON that JSON.parse reads back to the same value', () => {
    const value = { b: [3, { z: 1, a: 'q"\n' }], a: null, c: undefined, d: -0, e: Number.NaN, f: true };
    const text = canonicalJson(value);
    expect(text).toBe('{"a":null,"b":[3,{"a":"q\\"\\n","z":1}],"d":0,"e":null,"f":true}');
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
  });
});

describe('SPEC §9 caching: the semantic scope', () => {
  it('takes the last user message as the prompt and keeps it out of the scope', () => {
    const a = semanticScope('org-a', 'gpt-test', chatRequest());
    const b = semanticScope('org-a', 'gpt-test', chatRequest({ messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Capital of France?' }] }));
    expect(a.promptText).toBe('What is the capital of France?');
    expect(b.promptText).toBe('Capital of France?');
    expect(a.scopeKey).toBe(b.scopeKey);
  });

  it('keeps every earlier turn in the scope', () => {
    const base = chatRequest();
    const other = chatRequest({ messages: [{ role: 'system', content: 'You are a pirate.' }, base.messages[1]] });
    expect(semanticScope('org-a', 'gpt-test', other).scopeKey).not.toBe(semanticScope('org-a', 'gpt-test', base).scopeKey);
  });

  it('keeps parameters, org and model in the scope', () => {
    const base = semanticScope('org-a', 'gpt-test', chatRequest()).scopeKey;
    expect(semanticScope('org-a', 'gpt-test', chatRequest({ max_tokens: 5 })).scopeKey).not.toBe(base);
    expect(semanticScope('org-b', 'gpt-test', chatRequest()).scopeKey).not.toBe(base);
    expect(semanticScope('org-a', 'gpt-other', chatRequest()).scopeKey).not.toBe(base);
  });

  it('differs from the exact key even for the same request', () => {
    expect(semanticScope('org-a', 'gpt-test', chatRequest()).scopeKey).not.toBe(key(chatRequest()));
  });

  it('treats a string prompt and a single text part alike, but keeps images in the scope', () => {
    const text = chatRequest({ messages: [{ role: 'user', content: 'Describe it' }] });
    const parts = chatRequest({ messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe it' }] }] });
    const withImage = chatRequest({
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe it' }, { type: 'image_url', image_url: { url: 'https://x/1.png' } }] }],
    });
    const otherImage = chatRequest({
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe it' }, { type: 'image_url', image_url: { url: 'https://x/2.png' } }] }],
    });
    const s = (r: ChatRequest) => semanticScope('org-a', 'm', r);
    expect(s(text)).toEqual(s(parts));
    expect(s(withImage).promptText).toBe('Describe it');
    expect(s(withImage).scopeKey).not.toBe(s(parts).scopeKey);
    expect(s(withImage).scopeKey).not.toBe(s(otherImage).scopeKey);
  });

  it('joins several text parts and has nothing to embed without a user message', () => {
    const multi = chatRequest({ messages: [{ role: 'user', content: [{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }] }] });
    expect(semanticScope('o', 'm', multi).promptText).toBe('one\ntwo');
    expect(semanticScope('o', 'm', chatRequest({ messages: [{ role: 'system', content: 'only system' }] })).promptText).toBe('');
  });
});

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import type { ChatRequest } from '../../core/types.js';
import { encodeToolCallId, SKIP_SIGNATURE, signatureFromToolCallId, translateChatRequest } from './request.js';

const user = (content: string) => ({ role: 'user' as const, content });

function translate(extra: Partial<ChatRequest>) {
  return translateChatRequest({ model: 'g', messages: [user('hi')], ...extra } as ChatRequest);
}

function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError');
}

describe('Gemini request: messages', () => {
  it('moves system and developer messages into systemInstruction, in order', () => {
    const body = translateChatRequest({
      model: 'g',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        user('Hello'),
      ],
    });
    expect(body.systemInstruction).toEqual({ parts: [{ text: 'Be brief.' }, { text: 'Answer in French.' }] });
    expect(body.contents).toEqual([{ role: 'user', parts: [{ text: 'Hello' }] }]);
  });

  it('maps assistant to model and merges consecutive turns of the same role', () => {
    const body = translateChatRequest({
      model: 'g',
      messages: [user('a'), user('b'), { role: 'assistant', content: 'c' }, { role: 'assistant', content: 'd' }, user('e')],
    });
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'a' }, { text: 'b' }] },
      { role: 'model', parts: [{ text: 'c' }, { text: 'd' }] },
      { role: 'user', parts: [{ text: 'e' }] },
    ]);
    expect(body.systemInstruction).toBeUndefined();
  });

  it('turns a base64 data URL into inlineData and an https URL into fileData with a mime type from the extension', () => {
    const body = translateChatRequest({
      model: 'g',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: 'data:image/webp;base64,AAAA' } },
            { type: 'image_url', image_url: { url: 'https://x.test/a/photo.PNG?size=large' } },
            { type: 'image_url', image_url: { url: 'https://x.test/render' } },
          ],
        },
      ],
    });
    expect(body.contents[0].parts).toEqual([
      { inlineData: { mimeType: 'image/webp', data: 'AAAA' } },
      { fileData: { fileUri: 'https://x.test/a/photo.PNG?size=large', mimeType: 'image/png' } },
      { fileData: { fileUri: 'https://x.test/render', mimeType: 'image/jpeg' } },
    ]);
  });

  it('base64-encodes a data URL that is not base64', () => {
    const body = translateChatRequest({ model: 'g', messages: [{ role: 'user', content: [{ type: 'file', file: { file_data: 'data:text/plain,h%C3%A9' } }] }] });
    expect(body.contents[0].parts[0]).toEqual({ inlineData: { mimeType: 'text/plain', data: Buffer.from('hé').toString('base64') } });
  });

  it('rejects a content part type Gemini cannot take, naming it', () => {
    const err = thrown(() => translateChatRequest({ model: 'g', messages: [{ role: 'user', content: [{ type: 'video_url', url: 'x' }] }] }));
    expect(err.code).toBe('invalid_messages');
    expect(err.message).toContain('video_url');
  });

  it('replays assistant tool calls as functionCall parts and tool results as a user functionResponse turn', () => {
    const body = translateChatRequest({
      model: 'g',
      messages: [
        user('weather?'),
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'a1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
            { id: 'a2', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'a2', content: '12:00' },
        { role: 'tool', tool_call_id: 'a1', content: '{"temp":3}' },
        user('thanks'),
      ],
    });
    expect(body.contents[1]).toEqual({
      role: 'model',
      parts: [
        { text: 'Checking.' },
        { functionCall: { name: 'get_weather', args: { city: 'Oslo' } }, thoughtSignature: SKIP_SIGNATURE },
        { functionCall: { name: 'get_time', args: {} } },
      ],
    });
    expect(body.contents[2]).toEqual({
      role: 'user',
      parts: [
        { functionResponse: { name: 'get_time', response: { content: '12:00' } } },
        { functionResponse: { name: 'get_weather', response: { temp: 3 } } },
        { text: 'thanks' },
      ],
    });
  });

  it('wraps JSON tool output that is not an object under "content"', () => {
    const body = translateChatRequest({
      model: 'g',
      messages: [
        { role: 'assistant', content: null, tool_calls: [{ id: 'x', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'x', content: '[1,2]' },
      ],
    });
    expect(body.contents[1].parts[0]).toEqual({ functionResponse: { name: 'f', response: { content: [1, 2] } } });
  });

  it('uses the latest earlier call with that id when ids repeat across turns', () => {
    const call = (name: string) => ({ role: 'assistant' as const, content: null, tool_calls: [{ id: 'call_0', type: 'function' as const, function: { name, arguments: '{}' } }] });
    const body = translateChatRequest({
      model: 'g',
      messages: [call('first'), { role: 'tool', tool_call_id: 'call_0', content: 'x' }, call('second'), { role: 'tool', tool_call_id: 'call_0', content: 'y' }],
    });
    expect(body.contents[3].parts[0].functionResponse?.name).toBe('second');
  });

  it('rejects a tool message whose id matches no earlier call', () => {
    const err = thrown(() => translateChatRequest({ model: 'g', messages: [user('x'), { role: 'tool', tool_call_id: 'nope', content: 'r' }] }));
    expect(err.code).toBe('invalid_messages');
    expect(err.message).toContain('nope');
  });

  it('rejects tool-call arguments that are not a JSON object', () => {
    for (const args of ['{not json', '[1]', '"s"']) {
      const err = thrown(() =>
        translateChatRequest({ model: 'g', messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'x', type: 'function', function: { name: 'f', arguments: args } }] }] }),
      );
      expect(err.code).toBe('invalid_messages');
    }
  });

  it('translates legacy function_call and function messages', () => {
    const body = translateChatRequest({
      model: 'g',
      messages: [
        { role: 'assistant', content: null, function_call: { name: 'lookup', arguments: '{"q":"x"}' } },
        { role: 'function', name: 'lookup', content: '{"hits":1}' },
      ],
      functions: [{ name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } }],
      function_call: { name: 'lookup' },
    });
    expect(body.contents[0].parts[0].functionCall).toEqual({ name: 'lookup', args: { q: 'x' } });
    expect(body.contents[1].parts[0]).toEqual({ functionResponse: { name: 'lookup', response: { hits: 1 } } });
    expect(body.tools).toEqual([{ functionDeclarations: [{ name: 'lookup', parametersJsonSchema: { type: 'object', properties: { q: { type: 'string' } } } }] }]);
    expect(body.toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['lookup'] } });
  });
});

describe('Gemini request: thought signatures ride in tool-call ids', () => {
  it('round-trips a standard base64 signature through a base64url id', () => {
    const sig = 'Ab+/cd==';
    const id = encodeToolCallId('resp1', 0, sig);
    expect(id).toMatch(/^call_resp1_0_[A-Za-z0-9_-]+$/);
    expect(signatureFromToolCallId(id)).toBe(sig);
  });

  it('gives plain ids without a signature and recovers none from foreign ids', () => {
    expect(encodeToolCallId('r', 3)).toBe('call_r_3');
    expect(signatureFromToolCallId('call_r_3')).toBeUndefined();
    expect(signatureFromToolCallId('toolu_01ABC')).toBeUndefined();
  });

  it('sends the recovered signature back on the replayed functionCall', () => {
    const id = encodeToolCallId('r', 0, 'c2lnbmF0dXJl');
    const body = translateChatRequest({
      model: 'g',
      messages: [{ role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'f', arguments: '{}' } }] }],
    });
    expect(body.contents[0].parts[0].thoughtSignature).toBe('c2lnbmF0dXJl');
  });
});

describe('Gemini request: parameters', () => {
  it('renames sampling parameters into generationConfig', () => {
    const body = translate({ temperature: 0.5, top_p: 0.9, n: 2, stop: 'END', presence_penalty: 0.1, frequency_penalty: -0.2, seed: 7, logprobs: true, top_logprobs: 3 });
    expect(body.generationConfig).toEqual({
      temperature: 0.5,
      topP: 0.9,
      candidateCount: 2,
      stopSequences: ['END'],
      presencePenalty: 0.1,
      frequencyPenalty: -0.2,
      seed: 7,
      responseLogprobs: true,
      logprobs: 3,
    });
  });

  it('prefers max_completion_tokens over max_tokens', () => {
    expect(translate({ max_tokens: 10 }).generationConfig).toEqual({ maxOutputTokens: 10 });
    expect(translate({ max_tokens: 10, max_completion_tokens: 20 }).generationConfig).toEqual({ maxOutputTokens: 20 });
  });

  it('omits generationConfig when nothing applies and skips null values', () => {
    expect(translate({ temperature: null, user: 'u', metadata: { a: 1 }, store: true, parallel_tool_calls: false, verbosity: 'low' }).generationConfig).toBeUndefined();
  });

  it('maps response_format json_object and json_schema (as responseJsonSchema)', () => {
    expect(translate({ response_format: { type: 'json_object' } }).generationConfig).toEqual({ responseMimeType: 'application/json' });
    const schema = { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false };
    expect(translate({ response_format: { type: 'json_schema', json_schema: { name: 's', schema, strict: true } } }).generationConfig).toEqual({
      responseMimeType: 'application/json',
      responseJsonSchema: schema,
    });
    expect(translate({ response_format: { type: 'text' } }).generationConfig).toBeUndefined();
  });

  it('maps reasoning_effort to a thinking budget', () => {
    expect(translate({ reasoning_effort: 'low' }).generationConfig).toEqual({ thinkingConfig: { thinkingBudget: 1024 } });
  });

  it('declares tools and maps every tool_choice', () => {
    const tools = [{ type: 'function' as const, function: { name: 'f', description: 'does f', parameters: { type: 'object', properties: {} } } }];
    const cases: Array<[ChatRequest['tool_choice'], unknown]> = [
      ['auto', { mode: 'AUTO' }],
      ['none', { mode: 'NONE' }],
      ['required', { mode: 'ANY' }],
      [{ type: 'function', function: { name: 'f' } }, { mode: 'ANY', allowedFunctionNames: ['f'] }],
    ];
    for (const [choice, config] of cases) {
      const body = translate({ tools, tool_choice: choice });
      expect(body.tools).toEqual([{ functionDeclarations: [{ name: 'f', description: 'does f', parametersJsonSchema: { type: 'object', properties: {} } }] }]);
      expect(body.toolConfig).toEqual({ functionCallingConfig: config });
    }
    expect(translate({ tools }).toolConfig).toBeUndefined();
  });

  it('adds Google Search grounding for web_search_options', () => {
    expect(translate({ web_search_options: {} }).tools).toEqual([{ googleSearch: {} }]);
  });

  it('refuses parameters whose loss would change the answer, naming them', () => {
    const cases: Array<[string, Partial<ChatRequest>]> = [
      ['logit_bias', { logit_bias: { '50256': -100 } }],
      ['modalities', { modalities: ['text', 'audio'] }],
      ['audio', { audio: { voice: 'alloy', format: 'wav' } }],
      ['prediction', { prediction: { type: 'content', content: 'x' } }],
    ];
    for (const [param, extra] of cases) {
      const err = thrown(() => translate(extra));
      expect(err.code).toBe('unsupported_parameter');
      expect(err.status).toBe(400);
      expect(err.param).toBe(param);
      expect(err.message).toContain(param);
    }
  });

  it('accepts an empty logit_bias and text-only modalities', () => {
    expect(() => translate({ logit_bias: {}, modalities: ['text'] })).not.toThrow();
  });
});

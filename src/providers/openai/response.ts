// Parses OpenAI-compatible non-stream answers and checks they have the documented shape.
import type { ChatCompletion, EmbeddingsResponse } from '../../core/types.js';
import { malformedUpstream } from '../errors.js';
import type { AdapterContext } from '../types.js';

function parseJson(body: string, provider: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw malformedUpstream(provider, 'the body is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw malformedUpstream(provider, 'the body is not a JSON object');
  return parsed as Record<string, unknown>;
}

export function fromOpenAIChatBody(body: string, ctx: AdapterContext): ChatCompletion {
  const obj = parseJson(body, ctx.provider.id);
  if (!Array.isArray(obj.choices)) throw malformedUpstream(ctx.provider.id, 'no "choices" array');
  for (const c of obj.choices) {
    const message = typeof c === 'object' && c !== null ? (c as { message?: unknown }).message : undefined;
    if (typeof message !== 'object' || message === null) {
      throw malformedUpstream(ctx.provider.id, 'a choice has no "message"');
    }
  }
  const usage = obj.usage as Record<string, unknown> | undefined;
  if (usage !== undefined && usage !== null && (typeof usage.prompt_tokens !== 'number' || typeof usage.completion_tokens !== 'number')) {
    throw malformedUpstream(ctx.provider.id, '"usage" lacks token counts');
  }
  obj.model = ctx.model.id;
  obj.object = 'chat.completion';
  return obj as ChatCompletion;
}

export function fromOpenAIEmbeddingsBody(body: string, ctx: AdapterContext): EmbeddingsResponse {
  const obj = parseJson(body, ctx.provider.id);
  if (!Array.isArray(obj.data)) throw malformedUpstream(ctx.provider.id, 'no "data" array');
  obj.model = ctx.model.id;
  const usage = obj.usage as { prompt_tokens?: unknown } | undefined;
  if (!usage || typeof usage.prompt_tokens !== 'number') obj.usage = { prompt_tokens: 0, total_tokens: 0 };
  return obj as unknown as EmbeddingsResponse;
}

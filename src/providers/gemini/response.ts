// Gemini GenerateContentResponse → OpenAI chat.completion, plus the pieces the stream
// translator shares with it: finish reasons, usage, tool-call ids and logprobs.
import { randomUUID } from 'node:crypto';
import type { ChatChoice, ChatCompletion, FinishReason, ToolCall, Usage } from '../../core/types.js';
import { malformedUpstream } from '../errors.js';
import type { AdapterContext } from '../types.js';
import { mapGeminiError } from './errors.js';
import { encodeToolCallId, type GeminiPart } from './request.js';

export interface GeminiUsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  totalTokenCount?: number;
  cachedContentTokenCount?: number;
  thoughtsTokenCount?: number;
  toolUsePromptTokenCount?: number;
}

interface GeminiLogprobCandidate {
  token?: string;
  logProbability?: number;
}

export interface GeminiCandidate {
  content?: { role?: string; parts?: GeminiPart[] };
  finishReason?: string;
  index?: number;
  logprobsResult?: { topCandidates?: Array<{ candidates?: GeminiLogprobCandidate[] }>; chosenCandidates?: GeminiLogprobCandidate[] };
}

export interface GeminiResponse {
  candidates?: GeminiCandidate[];
  promptFeedback?: { blockReason?: string };
  usageMetadata?: GeminiUsageMetadata;
  modelVersion?: string;
  responseId?: string;
  error?: { code?: number; message?: string; status?: string };
}

export const PROVIDER_NAME = 'gemini';

/** Gemini finish reasons that mean the output was withheld or cut by a filter. Unlisted reasons read as a normal stop. */
const FINISH_REASONS: Record<string, FinishReason> = {
  STOP: 'stop',
  MAX_TOKENS: 'length',
  SAFETY: 'content_filter',
  RECITATION: 'content_filter',
  BLOCKLIST: 'content_filter',
  PROHIBITED_CONTENT: 'content_filter',
  SPII: 'content_filter',
  IMAGE_SAFETY: 'content_filter',
};

export function mapFinishReason(reason: string, hasToolCalls: boolean): FinishReason {
  const mapped = FINISH_REASONS[reason] ?? 'stop';
  return mapped === 'stop' && hasToolCalls ? 'tool_calls' : mapped;
}

function count(n: unknown): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
}

/**
 * Thinking tokens are billed as output, and tool-use prompt tokens (grounding, code
 * execution) as input, as Google bills them; the OpenAI total is kept equal to their sum.
 */
export function usageFromMetadata(meta: GeminiUsageMetadata | undefined): Usage | undefined {
  if (!meta || typeof meta !== 'object') return undefined;
  const prompt = count(meta.promptTokenCount) + count(meta.toolUsePromptTokenCount);
  const thoughts = count(meta.thoughtsTokenCount);
  const completion = count(meta.candidatesTokenCount) + thoughts;
  const usage: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (meta.cachedContentTokenCount !== undefined) usage.prompt_tokens_details = { cached_tokens: count(meta.cachedContentTokenCount) };
  if (thoughts > 0) usage.completion_tokens_details = { reasoning_tokens: thoughts };
  return usage;
}

/** The part of a tool-call id (and of a generated completion id) that ties it to one response. */
export function responseKey(responseId: unknown): string {
  const cleaned = typeof responseId === 'string' ? responseId.replace(/[^A-Za-z0-9]/g, '').slice(0, 32) : '';
  return cleaned !== '' ? cleaned : randomUUID().replace(/-/g, '').slice(0, 24);
}

export function toolCallFromPart(part: GeminiPart, key: string, n: number): ToolCall {
  const call = part.functionCall!;
  return {
    id: encodeToolCallId(key, n, part.thoughtSignature),
    type: 'function',
    function: { name: call.name, arguments: JSON.stringify(call.args ?? {}) },
  };
}

const utf8 = new TextEncoder();

function logprobEntry(c: GeminiLogprobCandidate): { token: string; logprob: number; bytes: number[] } {
  const token = c.token ?? '';
  return { token, logprob: c.logProbability ?? 0, bytes: Array.from(utf8.encode(token)) };
}

export function translateLogprobs(result: GeminiCandidate['logprobsResult']): unknown {
  if (!result?.chosenCandidates) return undefined;
  const top = result.topCandidates ?? [];
  return {
    content: result.chosenCandidates.map((chosen, i) => ({
      ...logprobEntry(chosen),
      top_logprobs: (top[i]?.candidates ?? []).map(logprobEntry),
    })),
    refusal: null,
  };
}

/** Parses a body that must be one GenerateContentResponse object; throws provider_error otherwise. */
export function parseGeminiJson(body: string): GeminiResponse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw malformedUpstream(PROVIDER_NAME, 'the body is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw malformedUpstream(PROVIDER_NAME, 'the body is not a GenerateContentResponse object');
  }
  const resp = parsed as GeminiResponse;
  if (resp.candidates !== undefined && !Array.isArray(resp.candidates)) {
    throw malformedUpstream(PROVIDER_NAME, '"candidates" is not a list');
  }
  return resp;
}

function choiceFromCandidate(candidate: GeminiCandidate, position: number, key: string, counter: { n: number }): ChatChoice {
  if (candidate === null || typeof candidate !== 'object') throw malformedUpstream(PROVIDER_NAME, 'a candidate is not an object');
  const parts = candidate.content?.parts ?? [];
  if (!Array.isArray(parts)) throw malformedUpstream(PROVIDER_NAME, 'candidate content parts is not a list');
  let text: string | null = null;
  const toolCalls: ToolCall[] = [];
  for (const part of parts) {
    if (part.thought) continue;
    if (typeof part.text === 'string') text = (text ?? '') + part.text;
    else if (part.functionCall && typeof part.functionCall.name === 'string') toolCalls.push(toolCallFromPart(part, key, counter.n++));
  }
  const message: ChatChoice['message'] = { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  const choice: ChatChoice = {
    index: typeof candidate.index === 'number' ? candidate.index : position,
    message,
    finish_reason: mapFinishReason(candidate.finishReason ?? 'STOP', toolCalls.length > 0),
    logprobs: translateLogprobs(candidate.logprobsResult) ?? null,
  };
  return choice;
}

export function translateChatResponse(body: string, ctx: AdapterContext): ChatCompletion {
  const resp = parseGeminiJson(body);
  if (resp.error && typeof resp.error === 'object') throw mapGeminiError(count(resp.error.code) || 500, body, {});
  const key = responseKey(resp.responseId);
  const candidates = resp.candidates ?? [];
  let choices: ChatChoice[];
  if (candidates.length > 0) {
    const counter = { n: 0 };
    choices = candidates.map((c, i) => choiceFromCandidate(c, i, key, counter));
  } else if (resp.promptFeedback?.blockReason) {
    choices = [{ index: 0, message: { role: 'assistant', content: null }, finish_reason: 'content_filter', logprobs: null }];
  } else {
    throw malformedUpstream(PROVIDER_NAME, 'the response has no candidates');
  }
  const completion: ChatCompletion = {
    id: `chatcmpl-${key}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: ctx.model.id,
    choices,
    system_fingerprint: null,
  };
  const usage = usageFromMetadata(resp.usageMetadata);
  if (usage) completion.usage = usage;
  return completion;
}

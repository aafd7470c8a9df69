// The Responses `response` object: the skeleton a stream opens with, the usage block, and
// the final object both encoders (JSON and stream) finish with.
import type { FinishReason } from '../../core/types.js';
import type { AnswerTotals } from '../types.js';
import type { OutputItem, ResponseObject, ResponseRequestInfo, ResponseStatus, ResponseUsage } from './types.js';

export function responseUsage(totals: AnswerTotals): ResponseUsage {
  const u = totals.usage;
  return {
    input_tokens: u.prompt,
    input_tokens_details: { cached_tokens: u.cacheRead },
    output_tokens: u.completion,
    output_tokens_details: { reasoning_tokens: u.reasoning },
    total_tokens: u.prompt + u.completion,
    cost: totals.costMicros / 1e6,
  };
}

export function statusOf(finish: FinishReason | undefined): Pick<ResponseObject, 'status' | 'incomplete_details'> {
  if (finish === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (finish === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

export function responseSkeleton(info: ResponseRequestInfo, model: string, created: number, status: ResponseStatus = 'in_progress'): ResponseObject {
  const e = info.echo;
  const r: ResponseObject = {
    id: info.responseId,
    object: 'response',
    created_at: created,
    status,
    error: null,
    incomplete_details: null,
    instructions: e.instructions,
    max_output_tokens: e.max_output_tokens,
    model,
    output: [],
    parallel_tool_calls: e.parallel_tool_calls,
    previous_response_id: e.previous_response_id,
    reasoning: e.reasoning,
    store: e.store,
    temperature: e.temperature,
    text: e.text,
    tool_choice: e.tool_choice,
    tools: e.tools,
    top_p: e.top_p,
    truncation: e.truncation,
    usage: null,
    metadata: e.metadata,
  };
  if (e.user !== undefined) r.user = e.user;
  if (e.prompt_cache_key !== undefined) r.prompt_cache_key = e.prompt_cache_key;
  return r;
}

/** Output as the client sees it: encrypted reasoning only when it asked for it. */
export function clientOutput(output: readonly OutputItem[], includeEncrypted: boolean): OutputItem[] {
  if (includeEncrypted) return [...output];
  return output.map((item) => {
    if (item.type !== 'reasoning' || item.encrypted_content === undefined) return item;
    const { encrypted_content: _hidden, ...rest } = item;
    return rest;
  });
}

export function outputText(output: readonly OutputItem[]): string {
  let s = '';
  for (const item of output) {
    if (item.type !== 'message') continue;
    for (const part of item.content) if (part.type === 'output_text') s += part.text;
  }
  return s;
}

export function finalResponse(
  info: ResponseRequestInfo,
  model: string,
  created: number,
  output: OutputItem[],
  finish: FinishReason | undefined,
  totals: AnswerTotals,
): ResponseObject {
  const r = responseSkeleton(info, model, created);
  Object.assign(r, statusOf(finish));
  r.completed_at = Math.floor(Date.now() / 1000);
  r.output = output;
  r.usage = responseUsage(totals);
  return r;
}

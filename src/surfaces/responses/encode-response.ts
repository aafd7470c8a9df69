// A canonical completion (translated lane, cache hit) → the Responses output items.
import type { ChatCompletion, ChatMessage } from '../../core/types.js';
import { newItemId, sealReasoning } from './items.js';
import type { OutputItem, ToolOrigin } from './types.js';

/** The freeform input of a custom tool, from the one-string function Tollgate offered for it. */
export function customInput(args: string): string {
  try {
    const parsed = JSON.parse(args) as unknown;
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { input?: unknown }).input === 'string') return (parsed as { input: string }).input;
  } catch {
    // a model that ignored the schema: hand over what it wrote
  }
  return args;
}

export function reasoningItem(text: string | undefined, signature: string | undefined, redacted: string[] | undefined): OutputItem {
  const sealed = sealReasoning({ text, signature, redacted });
  return {
    id: newItemId('rs'),
    type: 'reasoning',
    summary: text ? [{ type: 'summary_text', text }] : [],
    ...(sealed !== undefined ? { encrypted_content: sealed } : {}),
  };
}

export function toolCallItem(callId: string, name: string, args: string, tools: ReadonlyMap<string, ToolOrigin>): OutputItem {
  const origin = tools.get(name);
  if (origin?.kind === 'custom') {
    return { id: newItemId('ctc'), type: 'custom_tool_call', status: 'completed', call_id: callId, name: origin.name, input: customInput(args) };
  }
  return {
    id: newItemId('fc'),
    type: 'function_call',
    status: 'completed',
    call_id: callId,
    name: origin?.name ?? name,
    arguments: args,
    ...(origin?.namespace ? { namespace: origin.namespace } : {}),
  };
}

export function outputItems(c: ChatCompletion, tools: ReadonlyMap<string, ToolOrigin>): OutputItem[] {
  const choice = c.choices[0];
  if (!choice) return [];
  const m: ChatMessage = choice.message;
  const out: OutputItem[] = [];
  const reasoning = typeof m.reasoning_content === 'string' && m.reasoning_content.length > 0 ? m.reasoning_content : undefined;
  if (reasoning !== undefined || m.reasoning_signature !== undefined || (m.reasoning_redacted && m.reasoning_redacted.length > 0)) {
    out.push(reasoningItem(reasoning, m.reasoning_signature, m.reasoning_redacted));
  }
  const text = typeof m.content === 'string' ? m.content : Array.isArray(m.content) ? m.content.map((p) => ((p as { text?: unknown }).text === undefined ? '' : String((p as { text?: unknown }).text))).join('') : '';
  const refusal = typeof m.refusal === 'string' && m.refusal.length > 0 ? m.refusal : undefined;
  if (text.length > 0 || refusal !== undefined || !m.tool_calls?.length) {
    const status = choice.finish_reason === 'length' ? 'incomplete' : 'completed';
    const content: Array<{ type: 'output_text'; text: string; annotations: unknown[]; logprobs: unknown[] } | { type: 'refusal'; refusal: string }> = [];
    if (text.length > 0 || refusal === undefined) content.push({ type: 'output_text', text, annotations: [], logprobs: [] });
    if (refusal !== undefined) content.push({ type: 'refusal', refusal });
    out.push({ id: newItemId('msg'), type: 'message', role: 'assistant', status, content });
  }
  for (const tc of m.tool_calls ?? []) out.push(toolCallItem(tc.id, tc.function.name, tc.function.arguments, tools));
  return out;
}

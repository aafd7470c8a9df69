// A scripted upstream that speaks OpenAI's Responses API (POST /v1/responses), streamed and
// not, for the native lane: a test decides each answer (text or one function call) from the
// request body; every answer carries a reasoning item with opaque encrypted content and usage
// with cached and reasoning tokens.
import type { ServerResponse } from 'node:http';
import { type RecordedRequest, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';

/**
 * `text` with `hold`: the answer is sent once `hold` resolves. `fail` alone: the stream fails
 * before any output item; with `partial`, that text streams first, then the failure once `gate` resolves.
 */
export type FakeAnswer = { text: string; hold?: Promise<void> } | { call: { name: string; arguments: string } } | { fail: string; partial?: string; gate?: Promise<void> };

export const FAKE_USAGE = { input_tokens: 40, input_tokens_details: { cached_tokens: 16 }, output_tokens: 12, output_tokens_details: { reasoning_tokens: 5 }, total_tokens: 52 };

/** The text of the last user message or function call output in a Responses body. */
export function lastInputText(body: Record<string, unknown> | undefined): string {
  const input = body?.input;
  if (typeof input === 'string') return input;
  if (!Array.isArray(input)) return '';
  for (let i = input.length - 1; i >= 0; i--) {
    const item = input[i] as Record<string, unknown>;
    if (item.type === 'function_call_output') return typeof item.output === 'string' ? item.output : JSON.stringify(item.output);
    if (item.role === 'user') {
      const c = item.content;
      if (typeof c === 'string') return c;
      if (Array.isArray(c)) return c.map((p) => (p as { text?: string }).text ?? '').join('');
    }
  }
  return '';
}

function sse(res: ServerResponse, ev: Record<string, unknown>): void {
  res.write(`event: ${String(ev.type)}\ndata: ${JSON.stringify(ev)}\n\n`);
}

export async function startFakeResponsesUpstream(decide: (req: RecordedRequest) => FakeAnswer): Promise<ScriptedUpstream> {
  let n = 0;
  return startScriptedUpstream(async (req, res) => {
    if (req.method !== 'POST' || !req.path.startsWith('/v1/responses')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not here"}}');
      return;
    }
    const body = req.json ?? {};
    const answer = decide(req);
    if ('hold' in answer) await answer.hold;
    const id = `resp_up_${++n}`;
    const model = `${String(body.model)}-2026-01-01`;
    const reasoning = { id: `rs_up_${n}`, type: 'reasoning', summary: [{ type: 'summary_text', text: 'Thinking upstream.' }], encrypted_content: `enc-upstream-${n}` };
    const item =
      'text' in answer
        ? { id: `msg_up_${n}`, type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: answer.text, annotations: [] }] }
        : 'call' in answer
          ? { id: `fc_up_${n}`, type: 'function_call', status: 'completed', call_id: `call_up_${n}`, name: answer.call.name, arguments: answer.call.arguments }
          : undefined;
    const base = { id, object: 'response', created_at: 1, model, status: 'in_progress', output: [], usage: null, upstream_only_field: 'kept' };
    const done = { ...base, status: 'completed', output: [reasoning, item], usage: FAKE_USAGE };
    if (!body.stream) {
      if ('fail' in answer) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: answer.fail, type: 'server_error' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(done));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let seq = 0;
    sse(res, { type: 'response.created', sequence_number: seq++, response: base });
    sse(res, { type: 'response.in_progress', sequence_number: seq++, response: base });
    // A failure before any output item: the gateway has nothing to commit to and may retry,
    // however the events are split across reads.
    if ('fail' in answer && answer.partial === undefined) {
      sse(res, { type: 'response.failed', sequence_number: seq++, response: { ...base, status: 'failed', error: { code: 'server_error', message: answer.fail } } });
      res.end();
      return;
    }
    sse(res, { type: 'response.output_item.added', sequence_number: seq++, output_index: 0, item: { ...reasoning, summary: [] } });
    sse(res, { type: 'response.output_item.done', sequence_number: seq++, output_index: 0, item: reasoning });
    if ('fail' in answer) {
      const partial = { id: `msg_up_${n}`, type: 'message', role: 'assistant', status: 'in_progress', content: [] };
      sse(res, { type: 'response.output_item.added', sequence_number: seq++, output_index: 1, item: partial });
      sse(res, { type: 'response.output_text.delta', sequence_number: seq++, output_index: 1, item_id: partial.id, content_index: 0, delta: answer.partial ?? '' });
      await answer.gate;
      sse(res, { type: 'response.failed', sequence_number: seq++, response: { ...base, status: 'failed', error: { code: 'server_error', message: answer.fail } } });
      res.end();
      return;
    }
    if (item?.type === 'message') {
      const text = (answer as { text: string }).text;
      sse(res, { type: 'response.output_item.added', sequence_number: seq++, output_index: 1, item: { ...item, status: 'in_progress', content: [] } });
      sse(res, { type: 'response.content_part.added', sequence_number: seq++, output_index: 1, item_id: item.id, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
      for (const piece of text.match(/.{1,4}/gs) ?? []) {
        sse(res, { type: 'response.output_text.delta', sequence_number: seq++, output_index: 1, item_id: item.id, content_index: 0, delta: piece, obfuscation: 'x' });
      }
      sse(res, { type: 'response.output_text.done', sequence_number: seq++, output_index: 1, item_id: item.id, content_index: 0, text });
      sse(res, { type: 'response.content_part.done', sequence_number: seq++, output_index: 1, item_id: item.id, content_index: 0, part: { type: 'output_text', text, annotations: [] } });
    } else if (item) {
      const args = (answer as { call: { arguments: string } }).call.arguments;
      sse(res, { type: 'response.output_item.added', sequence_number: seq++, output_index: 1, item: { ...item, status: 'in_progress', arguments: '' } });
      sse(res, { type: 'response.function_call_arguments.delta', sequence_number: seq++, output_index: 1, item_id: item.id, delta: args });
      sse(res, { type: 'response.function_call_arguments.done', sequence_number: seq++, output_index: 1, item_id: item.id, arguments: args });
    }
    sse(res, { type: 'response.output_item.done', sequence_number: seq++, output_index: 1, item });
    sse(res, { type: 'response.completed', sequence_number: seq++, response: done });
    res.end();
  });
}

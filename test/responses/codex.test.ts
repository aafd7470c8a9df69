// The real Codex CLI (`codex exec`) through Tollgate, configured as docs/clients/codex.md says:
// against the mock (translated lane), against a Responses upstream (native lane), and against
// scripted upstreams that ask for a shell command, which Codex runs before the follow-up turn.
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushed, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { allLedger, allUsage } from '../helpers/money.js';
import { chatModel, chunkFrame, openaiProvider, type RecordedRequest, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';
import { runCodex } from './codex.js';
import { lastInputText, startFakeResponsesUpstream } from './fake-responses-upstream.js';

const SHELL_CALL = JSON.stringify({ cmd: 'echo tollgate-$((6*7))' });

/** A Chat Completions upstream that asks for one shell command, then reports what it printed. */
function scriptedChat(req: RecordedRequest, res: ServerResponse): void {
  const messages = (req.json?.messages ?? []) as Array<{ role: string; content: unknown }>;
  const last = messages.at(-1);
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  if (last?.role === 'tool') {
    const printed = /tollgate-\d+/.exec(JSON.stringify(last.content))?.[0] ?? 'nothing';
    res.write(chunkFrame({ role: 'assistant', content: 'The command printed ' }));
    res.write(chunkFrame({ content: `${printed}.` }, 'stop'));
  } else {
    res.write(chunkFrame({ role: 'assistant', tool_calls: [{ index: 0, id: 'call_shell_1', type: 'function', function: { name: 'exec_command', arguments: '' } }] }));
    res.write(chunkFrame({ tool_calls: [{ index: 0, function: { arguments: SHELL_CALL } }] }, 'tool_calls'));
  }
  res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'scripted', choices: [], usage: { prompt_tokens: 900, completion_tokens: 12, total_tokens: 912 } })}\n\n`);
  res.end('data: [DONE]\n\n');
}

let gw: TestGateway;
let chatUp: ScriptedUpstream;
let nativeUp: ScriptedUpstream;
let key: string;
let orgId: string;

beforeAll(async () => {
  chatUp = await startScriptedUpstream(scriptedChat);
  nativeUp = await startFakeResponsesUpstream((req) => {
    const text = lastInputText(req.json);
    if (text.includes('tollgate-')) return { text: `Native saw ${/tollgate-\d+/.exec(text)?.[0]}.` };
    if (text.includes('run the check')) return { call: { name: 'exec_command', arguments: SHELL_CALL } };
    return { text: 'pong-from-native' };
  });
  gw = await startTestGateway({
    raw: {
      providers: [{ id: 'mock', type: 'mock' }, openaiProvider('chat-up', chatUp.url), openaiProvider('native-up', nativeUp.url, { responses: true })],
      models: [...MOCK_MODELS, chatModel('scripted-chat', 'chat-up', 'scripted'), chatModel('native-model', 'native-up', 'up-model')],
    },
  });
  const org = await gw.createOrg(10);
  orgId = org.orgId;
  key = (await gw.createKey(org.mk)).key;
});

afterAll(async () => {
  await gw?.close();
  await chatUp?.close();
  await nativeUp?.close();
});

describe('Codex CLI through /v1/responses', () => {
  it('completes a task with a model behind Chat Completions (the mock), printing its answer, and exits 0', async () => {
    // With tools offered, the mock calls the first one (exec_command) on the user's turn and
    // answers in text once the tool result is back (docs/mock.md): a whole Codex turn.
    const run = await runCodex({ gatewayUrl: gw.url, key, model: 'mock-chat', prompt: 'echo: pong-from-mock' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Tool result received: exec_command');
  });

  it('prints the answer of a Responses upstream (native lane) and exits 0', async () => {
    const run = await runCodex({ gatewayUrl: gw.url, key, model: 'native-model', prompt: 'say pong' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('pong-from-native');
    const sent = nativeUp.requests.at(-1)!.json!;
    expect(sent).toMatchObject({ model: 'up-model', store: false, include: ['reasoning.encrypted_content'] });
  });

  it('runs the shell command a Chat upstream asks for, and the follow-up turn completes', async () => {
    const run = await runCodex({ gatewayUrl: gw.url, key, model: 'scripted-chat', prompt: 'run the check' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('The command printed tollgate-42.');
    // the second upstream call carried the command's real output back as a tool message
    const followUp = chatUp.requests.at(-1)!.json!.messages as Array<{ role: string; content: unknown; tool_call_id?: string }>;
    expect(followUp.at(-1)).toMatchObject({ role: 'tool', tool_call_id: 'call_shell_1' });
    expect(JSON.stringify(followUp.at(-1)?.content)).toContain('tollgate-42');
  });

  it('runs the shell command a Responses upstream asks for, and the follow-up turn completes', async () => {
    const run = await runCodex({ gatewayUrl: gw.url, key, model: 'native-model', prompt: 'run the check' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Native saw tollgate-42.');
    const input = nativeUp.requests.at(-1)!.json!.input as Array<Record<string, unknown>>;
    // the upstream's opaque reasoning came back untouched
    expect(input.some((i) => i.type === 'reasoning' && typeof i.encrypted_content === 'string' && i.encrypted_content.startsWith('enc-upstream-'))).toBe(true);
    expect(input.some((i) => i.type === 'function_call_output')).toBe(true);
  });

  it('left a usage row and a charge for every turn', async () => {
    await flushed(gw);
    const usage = await allUsage(gw.running.gateway.store, orgId);
    const ledger = await allLedger(gw.running.gateway.store, orgId);
    const scripted = usage.filter((u) => u.model === 'scripted-chat' && u.status === 200);
    expect(scripted.length).toBeGreaterThanOrEqual(2);
    for (const u of scripted) {
      expect(u).toMatchObject({ prompt_tokens: 900, completion_tokens: 12, stream: true });
      expect(ledger.find((l) => l.request_id === u.request_id)?.amount_micros).toBe(-u.cost_micros);
    }
    expect(usage.filter((u) => u.model === 'native-model' && u.status === 200).length).toBeGreaterThanOrEqual(3);
  });
});

// Shared plumbing for the resilience and alerts suites: a scripted OpenAI-compatible upstream
// on port 0 whose answers are queued per upstream model (fail, fail, succeed …), readers for
// GET /admin/models and /metrics, and small waiting helpers that await events, not clocks.
import type { ServerResponse } from 'node:http';
import { expect } from 'vitest';
import type { UsageRow } from '../../src/store/types.js';
import { ADMIN_TOKEN, chat, flushed, type TestGateway } from '../helpers/gateway.js';
import { allLedger, allUsage } from '../helpers/money.js';
import { chunkFrame, type RecordedRequest, type ScriptedUpstream, startScriptedUpstream } from '../helpers/upstream.js';

export interface UpstreamUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** What the scripted upstream does with one request. */
export type Action =
  /** A normal answer (JSON or SSE, as the request asked), after an optional delay before the first byte. */
  | { kind: 'ok'; content?: string; usage?: UpstreamUsage | null; delayMs?: number; gate?: Promise<void> }
  /** An HTTP error with an OpenAI-style error body. */
  | { kind: 'status'; status: number; message?: string; headers?: Record<string, string> }
  /** Never answer (until the client gives up). */
  | { kind: 'hang' }
  /** Drop the connection before any byte. */
  | { kind: 'reset' }
  /**
   * 200 text/event-stream, the role frame, these content pieces, then: an `error` event,
   * a dropped connection, or silence — at once, or only when `after` resolves (e.g. once the
   * client has seen the content, so the failure surely comes after the commit).
   */
  | { kind: 'stream-break'; pieces: string[]; end: 'error-event' | 'reset' | 'stall'; after?: Promise<void> };

export const ok = (content = 'Scripted answer here.', usage: UpstreamUsage | null = { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 }): Action => ({ kind: 'ok', content, usage });
export const fail = (status = 500, message = 'scripted upstream failure'): Action => ({ kind: 'status', status, message });

export interface ScriptCall {
  model: string;
  at: number;
  stream: boolean;
  /** the last user message (tests tag requests with it) */
  text: string;
  req: RecordedRequest;
}

export interface Scripted {
  url: string;
  calls: ScriptCall[];
  /** chat calls received for an upstream model (or all) */
  count(model?: string): number;
  /** Queue answers for the next requests to `model`; when the queue is empty the default applies. */
  script(model: string, ...actions: Action[]): void;
  /** The answer when nothing is queued (default: ok()). */
  setDefault(model: string, action: Action): void;
  /** Resolves when the upstream has received `n` chat calls for `model` (or in all). */
  waitForCalls(n: number, model?: string, ms?: number): Promise<void>;
  server: ScriptedUpstream;
  close(): Promise<void>;
}

function textOf(req: RecordedRequest): string {
  const messages = (req.json?.messages ?? []) as Array<{ role?: string; content?: unknown }>;
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === 'user' && typeof messages[i].content === 'string') return messages[i].content as string;
  return '';
}

function writeOk(res: ServerResponse, a: Extract<Action, { kind: 'ok' }>, model: string, stream: boolean): void {
  const content = a.content ?? 'Scripted answer here.';
  const usage = a.usage === undefined ? { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 } : a.usage;
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'chatcmpl-scripted',
        object: 'chat.completion',
        created: 1,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        ...(usage ? { usage } : {}),
      }),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  let out = chunkFrame({ role: 'assistant', content: '' });
  for (const piece of content.match(/\s*\S+\s*/g) ?? [content]) out += chunkFrame({ content: piece });
  out += chunkFrame({}, 'stop');
  if (usage) out += `data: ${JSON.stringify({ id: 'chatcmpl-scripted', object: 'chat.completion.chunk', created: 1, model, choices: [], usage })}\n\n`;
  out += 'data: [DONE]\n\n';
  res.end(out);
}

/** An OpenAI-compatible upstream on port 0 answering as each test scripts it. */
export async function startScripted(): Promise<Scripted> {
  const queues = new Map<string, Action[]>();
  const defaults = new Map<string, Action>();
  const calls: ScriptCall[] = [];
  const waiters: Array<{ n: number; model?: string; resolve(): void }> = [];
  const count = (model?: string) => (model === undefined ? calls.length : calls.filter((c) => c.model === model).length);
  const server = await startScriptedUpstream(async (req, res) => {
    if (!req.path.includes('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"no such route","type":"invalid_request_error"}}');
      return;
    }
    const model = String(req.json?.model ?? '');
    const stream = req.json?.stream === true;
    calls.push({ model, at: Date.now(), stream, text: textOf(req), req });
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (count(waiters[i].model) >= waiters[i].n) {
        waiters[i].resolve();
        waiters.splice(i, 1);
      }
    }
    const action = queues.get(model)?.shift() ?? defaults.get(model) ?? ok();
    switch (action.kind) {
      case 'ok':
        if (action.delayMs) await new Promise((r) => setTimeout(r, action.delayMs));
        if (action.gate) await action.gate;
        if (res.destroyed) return;
        writeOk(res, action, model, stream);
        return;
      case 'status':
        res.writeHead(action.status, { 'content-type': 'application/json', ...action.headers });
        res.end(JSON.stringify({ error: { message: action.message ?? `scripted HTTP ${action.status}`, type: action.status === 429 ? 'rate_limit_error' : 'server_error', code: null, param: null } }));
        return;
      case 'hang':
        return;
      case 'reset':
        res.socket?.destroy();
        return;
      case 'stream-break': {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        let out = chunkFrame({ role: 'assistant', content: '' });
        for (const p of action.pieces) out += chunkFrame({ content: p });
        if (action.after) {
          res.write(out);
          out = '';
          await action.after;
        }
        if (action.end === 'error-event') {
          res.end(`${out}data: ${JSON.stringify({ error: { message: 'scripted upstream overloaded mid-stream', type: 'server_error', code: null } })}\n\n`);
        } else if (action.end === 'reset') {
          // The frames leave first, then the connection drops without the chunked terminator.
          res.write(out, () => res.socket?.destroy());
        } else res.write(out);
        return;
      }
    }
  });
  return {
    url: server.url,
    calls,
    count,
    script(model, ...actions) {
      queues.set(model, [...(queues.get(model) ?? []), ...actions]);
    },
    setDefault(model, action) {
      defaults.set(model, action);
    },
    waitForCalls(n, model, ms = 10_000) {
      if (count(model) >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`upstream saw ${count(model)} of ${n} calls for ${model ?? 'any model'} within ${ms} ms`)), ms);
        waiters.push({
          n,
          model,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    server,
    close: () => server.close(),
  };
}

/** A provider entry of type openai pointing at a local upstream. */
export function provider(id: string, baseUrl: string, timeouts?: Record<string, number>): Record<string, unknown> {
  return { id, type: 'openai', base_url: baseUrl, api_key: 'scripted-upstream-secret', ...(timeouts ? { timeouts } : {}) };
}

/** A chat model with one or more channels: [provider, upstream model, priority?, weight?]. */
export function model(id: string, channels: Array<[string, string, number?, number?]>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    context_window: 32000,
    max_output_tokens: 4096,
    pricing: { input_per_mtok: 1, output_per_mtok: 2 },
    channels: channels.map(([p, up, priority, weight]) => ({ provider: p, upstream_model: up, priority: priority ?? 0, weight: weight ?? 1 })),
    ...extra,
  };
}

/** Server settings every suite uses: no lag shedding (the test runner shares the loop). */
export const SERVER = { max_event_loop_lag_ms: 600_000 };

export interface ChannelView {
  id: string;
  provider: string;
  priority: number;
  weight: number;
  state: 'closed' | 'open' | 'half-open';
  error_rate: number;
  requests: number;
  latency_ms: number;
}

/** GET /admin/models → one model's channels. */
export async function channelsOf(gw: TestGateway, modelId: string): Promise<ChannelView[]> {
  const res = await gw.admin('/admin/models');
  expect(res.status).toBe(200);
  const body = (await res.json()) as { data: Array<{ id: string; available: boolean; channels: ChannelView[] }> };
  const m = body.data.find((x) => x.id === modelId);
  if (!m) throw new Error(`GET /admin/models does not list ${modelId}`);
  return m.channels;
}

/** GET /admin/models → `available` of one model. */
export async function availableOf(gw: TestGateway, modelId: string): Promise<boolean> {
  const res = await gw.admin('/admin/models');
  const body = (await res.json()) as { data: Array<{ id: string; available: boolean }> };
  return body.data.find((x) => x.id === modelId)?.available ?? false;
}

/** The value of `tollgate_channel_state{channel="…"}` in /metrics (admin token). */
export async function channelStateMetric(gw: TestGateway, channelId: string): Promise<number | undefined> {
  const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
  const text = await res.text();
  for (const line of text.split('\n')) {
    if (!line.startsWith('tollgate_channel_state{')) continue;
    if (!line.includes(`channel="${channelId}"`)) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

let tagSeq = 0;
/** A unique prompt, so requests can be told apart at the upstream and never hit a cache. */
export function tag(label: string): string {
  return `${label} #${process.pid}-${++tagSeq}-${Date.now()}`;
}

export function ask(modelId: string, label: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: modelId, messages: [{ role: 'user', content: tag(label) }], ...extra };
}

/** A chat request whose status and JSON body are read. */
export async function send(gw: TestGateway, key: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await chat(gw.url, key, body, headers);
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  const error = (json?.error ?? undefined) as { code: string; message: string; type: string } | undefined;
  return { status: res.status, headers: res.headers, text, json, error, requestId: res.headers.get('x-request-id') ?? '' };
}

/** The usage rows and ledger charges of one request, after the write-behind queue is flushed. */
export async function billingOf(gw: TestGateway, orgId: string, requestId: string) {
  await flushed(gw);
  const store = gw.running.gateway.store;
  const usage = (await allUsage(store, orgId)).filter((u) => u.request_id === requestId);
  const charges = (await allLedger(store, orgId)).filter((l) => l.request_id === requestId && l.kind === 'charge');
  return { usage, charges };
}

/** A usage row's expected cost at a model's prices (micro-USD). */
export function costAt(pricing: { input_per_mtok: number; output_per_mtok: number }, u: Pick<UsageRow, 'prompt_tokens' | 'completion_tokens'>): number {
  return Math.round(u.prompt_tokens * pricing.input_per_mtok + u.completion_tokens * pricing.output_per_mtok);
}

/** Polls `probe` until it returns true (an observable state change), failing after `ms`. */
export async function until(probe: () => Promise<boolean> | boolean, what: string, ms = 5000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits out a breaker's cooldown (the only clock the breaker has). */
export function pastCooldown(seconds: number): Promise<void> {
  return new Promise((r) => setTimeout(r, seconds * 1000 + 30));
}

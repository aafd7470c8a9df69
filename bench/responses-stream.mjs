// Stream benchmark for the Responses surface: the same streamed answer (same words, one delta
// event per word) through Tollgate as Chat Completions pass-through (the mock upstream), as
// Responses native lane (a fake Responses upstream, frames relayed) and as Responses translated
// to Chat Completions (the mock upstream again). Tollgate is pinned to core 0; upstreams and
// the load generator to core 1. Prints streams/s and p50 time to first byte, and the ratios
// to Chat pass-through. Never run by CI.
//   npx tsc -p tsconfig.json && node bench/responses-stream.mjs [--duration 3] [--rounds 3] [--words 16] [--connections 32]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad } from './load.mjs';
import { ADMIN_TOKEN, args, createKey, freePort, killAll, numberOption, start } from './support.mjs';

// ---- role: a fast fake Responses upstream (no gates, no delays) -------------------------------
if (args[0] === '--fake-responses') {
  const port = Number(args[1]);
  let n = 0;
  const server = createHttpServer((req, res) => {
    req.socket.setNoDelay(true);
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(parts).toString('utf8'));
      const input = typeof body.input === 'string' ? body.input : body.input.at(-1).content;
      const words = (input.startsWith('echo:') ? input.slice(5).trimStart() : input).match(/\s*\S+\s*/g) ?? [];
      const id = `resp_bench${++n}`;
      const text = words.join('');
      const usage = { input_tokens: 20, input_tokens_details: { cached_tokens: 0 }, output_tokens: words.length, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 20 + words.length };
      const item = { id: `msg_${n}`, type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] };
      const base = { id, object: 'response', created_at: 1, model: body.model, status: 'in_progress', output: [] };
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ...base, status: 'completed', output: [item], usage }));
        return;
      }
      let seq = 0;
      const frame = (data) => `event: ${data.type}\ndata: ${JSON.stringify({ ...data, sequence_number: seq++ })}\n\n`;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      res.write(frame({ type: 'response.created', response: base }));
      res.write(frame({ type: 'response.in_progress', response: base }));
      res.write(frame({ type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', content: [] } }));
      res.write(frame({ type: 'response.content_part.added', output_index: 0, item_id: item.id, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }));
      for (const w of words) res.write(frame({ type: 'response.output_text.delta', output_index: 0, item_id: item.id, content_index: 0, delta: w, logprobs: [] }));
      res.write(frame({ type: 'response.output_text.done', output_index: 0, item_id: item.id, content_index: 0, text, logprobs: [] }));
      res.write(frame({ type: 'response.content_part.done', output_index: 0, item_id: item.id, content_index: 0, part: item.content[0] }));
      res.write(frame({ type: 'response.output_item.done', output_index: 0, item }));
      res.end(frame({ type: 'response.completed', response: { ...base, status: 'completed', output: [item], usage } }));
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
  process.on('SIGTERM', () => process.exit(0));
} else {
  await main();
}

function textOf(path, sse) {
  let out = '';
  for (const ev of sse.split('\n\n')) {
    const line = ev.split('\n').find((l) => l.startsWith('data: {'));
    if (!line) continue;
    const data = JSON.parse(line.slice(6));
    if (path === 'chat') for (const c of data.choices ?? []) out += c.delta?.content ?? '';
    else if (data.type === 'response.output_text.delta') out += data.delta;
  }
  return out;
}

async function main() {
  const durationMs = numberOption('--duration', 3) * 1000;
  const rounds = numberOption('--rounds', 3);
  const wordCount = numberOption('--words', 16);
  const connections = numberOption('--connections', 32);

  const [mockPort, respPort, tgPort] = [await freePort(), await freePort(), await freePort()];
  await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(mockPort)], 'listening');
  await start(1, ['node', fileURLToPath(import.meta.url), '--fake-responses', String(respPort)], 'listening');

  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-responses-'));
  const model = (id, provider, upstream) => `  - id: ${id}
    context_window: 32000
    max_output_tokens: 4096
    pricing: { input_per_mtok: 1, output_per_mtok: 2 }
    channels: [{ provider: ${provider}, upstream_model: ${upstream} }]
`;
  writeFileSync(
    join(dir, 'tollgate.yaml'),
    `server: { host: 127.0.0.1, port: ${tgPort}, admin_token: ${ADMIN_TOKEN}, log_level: warn }
storage: { url: "sqlite://${join(dir, 'tg.db')}" }
providers:
  - { id: oai, type: openai, base_url: "http://127.0.0.1:${mockPort}/v1", api_key: unused }
  - { id: resp, type: openai, base_url: "http://127.0.0.1:${respPort}/v1", api_key: unused, responses: true }
models:
${model('bench-chat', 'oai', 'mock-chat')}${model('bench-native', 'resp', 'resp-bench')}limits: { key_rpm: 100000000 }
cache: { exact: { enabled: false } }
`,
  );
  await start(0, ['./bin/tollgate.js', 'serve', '--config', join(dir, 'tollgate.yaml')], 'listening');
  const tgUrl = `http://127.0.0.1:${tgPort}`;
  const key = await createKey(tgUrl);

  const words = Array.from({ length: wordCount }, (_, i) => `word${i}`).join(' ');
  const paths = {
    chat: { url: `${tgUrl}/v1/chat/completions`, body: { model: 'bench-chat', messages: [{ role: 'user', content: `echo: ${words}` }], max_tokens: 256, stream: true } },
    native: { url: `${tgUrl}/v1/responses`, body: { model: 'bench-native', input: `echo: ${words}`, max_output_tokens: 256, stream: true, store: false } },
    translated: { url: `${tgUrl}/v1/responses`, body: { model: 'bench-chat', input: `echo: ${words}`, max_output_tokens: 256, stream: true, store: false } },
  };

  // Every path must deliver the same, complete answer, or the figures compare nothing.
  for (const [name, p] of Object.entries(paths)) {
    const res = await fetch(p.url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(p.body) });
    const text = await res.text();
    if (res.status !== 200 || textOf(name, text) !== words) throw new Error(`${name}: unexpected stream (${res.status}): ${text.slice(0, 300)}`);
    console.log(`${name}: ${text.split('\n\n').length - 1} frames per stream, content verified`);
  }

  const measure = async (p, c) => {
    await runLoad({ url: p.url, key, body: p.body, connections: c, durationMs: 1000, stream: true });
    return runLoad({ url: p.url, key, body: p.body, connections: c, durationMs, stream: true });
  };
  const both = async (p) => ({ c32: await measure(p, connections), c1: await measure(p, 1) });
  const runs = { chat: [], native: [], translated: [] };
  for (let i = 0; i < rounds; i++) for (const name of Object.keys(runs)) runs[name].push(await both(paths[name]));
  const median = (list, pick) => [...list].sort((x, y) => pick(x) - pick(y))[Math.floor(list.length / 2)];
  const mid = (list) => ({ c32: median(list, (r) => r.c32.rps).c32, c1: median(list, (r) => r.c1.ttfb50).c1 });
  const r = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, mid(v)]));
  const row = (name, x) => ({
    path: name,
    [`streams/s c=${connections}`]: x.c32.rps.toFixed(0),
    [`ttfb p50 ms c=${connections}`]: x.c32.ttfb50.toFixed(3),
    'ttfb p50 ms c=1': x.c1.ttfb50.toFixed(3),
    'p50 ms c=1': x.c1.p50.toFixed(3),
    errors: x.c32.errors + x.c1.errors,
  });
  console.table([row('chat completions pass-through', r.chat), row('responses native lane', r.native), row('responses translated lane', r.translated)]);
  for (const name of ['native', 'translated']) {
    console.log(
      `${name} / chat: throughput ${(r[name].c32.rps / r.chat.c32.rps).toFixed(2)}x at c=${connections}; ` +
        `ttfb p50 ${(r[name].c32.ttfb50 / r.chat.c32.ttfb50).toFixed(2)}x at c=${connections}, ${(r[name].c1.ttfb50 / r.chat.c1.ttfb50).toFixed(2)}x at c=1 (median of ${rounds} rounds)`,
    );
  }
  killAll();
  rmSync(dir, { recursive: true, force: true });
}

// Stream benchmark for the Messages surface: the same streamed answer (same words, one content
// event per word) through Tollgate as (1) Chat Completions pass-through to an OpenAI-format
// upstream, (2) Messages native lane to a fake Anthropic upstream (frames relayed), and
// (3) Messages translated lane to the OpenAI-format upstream. Tollgate is pinned to core 0;
// upstreams and the load generator to core 1. Prints streams/s and p50 time to first byte and
// the ratios to (1). Never run by CI.
//   npx tsc -p tsconfig.json && node bench/messages-stream.mjs [--duration 3] [--rounds 3] [--words 16] [--connections 32]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from './load.mjs';
import { ADMIN_TOKEN, createKey, freePort, killAll, numberOption, start } from './support.mjs';

await main();

async function main() {
  const durationMs = numberOption('--duration', 3) * 1000;
  const rounds = numberOption('--rounds', 3);
  const wordCount = numberOption('--words', 16);
  const connections = numberOption('--connections', 32);

  const [mockPort, antPort, tgPort] = [await freePort(), await freePort(), await freePort()];
  await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(mockPort)], 'listening');
  await start(1, ['node', 'bench/fake-anthropic.mjs', String(antPort)], 'listening');

  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-messages-'));
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
  - { id: ant, type: anthropic, base_url: "http://127.0.0.1:${antPort}", api_key: unused }
models:
${model('bench-openai', 'oai', 'mock-chat')}${model('bench-anthropic', 'ant', 'claude-bench')}limits: { key_rpm: 100000000 }
cache: { exact: { enabled: false } }
`,
  );
  await start(0, ['./bin/tollgate.js', 'serve', '--config', join(dir, 'tollgate.yaml')], 'listening');
  const tgUrl = `http://127.0.0.1:${tgPort}`;
  const key = await createKey(tgUrl);

  const words = Array.from({ length: wordCount }, (_, i) => `word${i}`).join(' ');
  const request = (m) => ({ model: m, messages: [{ role: 'user', content: `echo: ${words}` }], max_tokens: 256, stream: true });
  const messagesHeaders = { 'anthropic-version': '2023-06-01' };

  // Each path must deliver the same, complete answer, or the figures compare nothing.
  const check = async (name, path, m, extract, endsWith) => {
    const res = await fetch(`${tgUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...messagesHeaders }, body: JSON.stringify(request(m)) });
    const text = await res.text();
    let content = '';
    for (const ev of text.split('\n\n')) {
      const data = ev.split('\n').find((l) => l.startsWith('data: {'));
      if (data) content += extract(JSON.parse(data.slice(6)));
    }
    if (res.status !== 200 || content !== words || !text.endsWith(endsWith)) throw new Error(`${name}: unexpected stream (${res.status}): ${text.slice(0, 300)}`);
    console.log(`${name}: content verified`);
  };
  await check('chat passthrough', '/v1/chat/completions', 'bench-openai', (d) => (d.choices ?? []).map((c) => c.delta?.content ?? '').join(''), 'data: [DONE]\n\n');
  const messageText = (d) => (d.type === 'content_block_delta' && d.delta?.type === 'text_delta' ? d.delta.text : '');
  await check('messages native', '/v1/messages', 'bench-anthropic', messageText, 'event: message_stop\ndata: {"type":"message_stop"}\n\n');
  await check('messages translated', '/v1/messages', 'bench-openai', messageText, 'event: message_stop\ndata: {"type":"message_stop"}\n\n');

  const measure = async (url, body, c) => {
    await runLoad({ url, key, body, connections: c, durationMs: 1000, stream: true, headers: messagesHeaders });
    return runLoad({ url, key, body, connections: c, durationMs, stream: true, headers: messagesHeaders });
  };
  const both = async (url, body) => ({ c32: await measure(url, body, connections), c1: await measure(url, body, 1) });
  // This machine is shared: alternate the paths over several rounds and keep each one's median.
  const runs = { chat: [], native: [], translated: [] };
  for (let i = 0; i < rounds; i++) {
    runs.chat.push(await both(`${tgUrl}/v1/chat/completions`, request('bench-openai')));
    runs.native.push(await both(`${tgUrl}/v1/messages`, request('bench-anthropic')));
    runs.translated.push(await both(`${tgUrl}/v1/messages`, request('bench-openai')));
  }
  const median = (list, pick) => [...list].sort((x, y) => pick(x) - pick(y))[Math.floor(list.length / 2)];
  const mid = (list) => ({ c32: median(list, (r) => r.c32.rps).c32, c1: median(list, (r) => r.c1.ttfb50).c1 });
  const c = mid(runs.chat);
  const n = mid(runs.native);
  const t = mid(runs.translated);
  const row = (name, r) => ({
    path: name,
    [`streams/s c=${connections}`]: r.c32.rps.toFixed(0),
    [`ttfb p50 ms c=${connections}`]: r.c32.ttfb50.toFixed(3),
    'ttfb p50 ms c=1': r.c1.ttfb50.toFixed(3),
    'p50 ms c=1': r.c1.p50.toFixed(3),
    errors: r.c32.errors + r.c1.errors,
  });
  console.table([row('chat completions passthrough', c), row('messages native lane', n), row('messages translated lane', t)]);
  for (const [name, r] of [['native', n], ['translated', t]]) {
    console.log(`${name} / chat: throughput ${(r.c32.rps / c.c32.rps).toFixed(2)}x at c=${connections}; ttfb p50 ${(r.c32.ttfb50 / c.c32.ttfb50).toFixed(2)}x at c=${connections}, ${(r.c1.ttfb50 / c.c1.ttfb50).toFixed(2)}x at c=1`);
  }
  killAll();
  rmSync(dir, { recursive: true, force: true });
}

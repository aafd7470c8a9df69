// Stream benchmark for the Anthropic adapter: the same streamed answer (same words, one
// content event per word) served through Tollgate by an OpenAI-format upstream (the mock,
// passthrough translation) and by a fake Anthropic Messages upstream (full translation).
// Tollgate is pinned to core 0; upstreams and the load generator to core 1. Prints
// streams/s at 32 connections and p50 time to first byte, and the anthropic/openai ratios.
// Never run by CI.
//   npx tsc -p tsconfig.json && node bench/anthropic-stream.mjs [--duration 3] [--rounds 3] [--words 16] [--connections 32]
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

  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-anthropic-'));
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

  // Both paths must deliver the same, complete answer, or the figures compare nothing.
  for (const m of ['bench-openai', 'bench-anthropic']) {
    const res = await fetch(`${tgUrl}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(request(m)) });
    const text = await res.text();
    let content = '';
    let frames = 0;
    for (const ev of text.split('\n\n')) {
      if (!ev.startsWith('data: {')) continue;
      frames++;
      for (const c of JSON.parse(ev.slice(6)).choices ?? []) content += c.delta?.content ?? '';
    }
    if (res.status !== 200 || content !== words || !text.endsWith('data: [DONE]\n\n')) throw new Error(`${m}: unexpected stream (${res.status}): ${text.slice(0, 300)}`);
    console.log(`${m}: ${frames} chunks per stream, content verified`);
  }

  const measure = async (url, body, c) => {
    await runLoad({ url, key, body, connections: c, durationMs: 1000, stream: true });
    return runLoad({ url, key, body, connections: c, durationMs, stream: true });
  };
  const both = async (url, body) => ({ c32: await measure(url, body, connections), c1: await measure(url, body, 1) });
  const gatewayUrl = `${tgUrl}/v1/chat/completions`;
  // The upstreams alone, to show the gateway (not an upstream) is what limits the figures.
  const directMock = await both(`http://127.0.0.1:${mockPort}/v1/chat/completions`, { ...request('mock-chat'), stream_options: { include_usage: true } });
  const directAnt = await both(`http://127.0.0.1:${antPort}/v1/messages`, { ...request('claude-bench'), max_tokens: 256 });
  // This machine is shared: alternate the two paths over several rounds and keep each one's median.
  const runs = { openai: [], anthropic: [] };
  for (let i = 0; i < rounds; i++) {
    runs.openai.push(await both(gatewayUrl, request('bench-openai')));
    runs.anthropic.push(await both(gatewayUrl, request('bench-anthropic')));
  }
  const median = (list, pick) => [...list].sort((x, y) => pick(x) - pick(y))[Math.floor(list.length / 2)];
  const mid = (list) => ({ c32: median(list, (r) => r.c32.rps).c32, c1: median(list, (r) => r.c1.ttfb50).c1 });
  const o = mid(runs.openai);
  const a = mid(runs.anthropic);
  const row = (name, r) => ({
    path: name,
    [`streams/s c=${connections}`]: r.c32.rps.toFixed(0),
    [`ttfb p50 ms c=${connections}`]: r.c32.ttfb50.toFixed(3),
    [`p50 ms c=${connections}`]: r.c32.p50.toFixed(3),
    'ttfb p50 ms c=1': r.c1.ttfb50.toFixed(3),
    'p50 ms c=1': r.c1.p50.toFixed(3),
    errors: r.c32.errors + r.c1.errors,
    'rounds (median)': r === o || r === a ? rounds : 1,
  });
  console.table([
    row('direct: mock upstream (OpenAI format)', directMock),
    row('direct: fake Anthropic upstream', directAnt),
    row('tollgate: openai passthrough', o),
    row('tollgate: anthropic adapter', a),
  ]);
  console.log(
    `anthropic / openai: throughput ${(a.c32.rps / o.c32.rps).toFixed(2)}x at c=${connections}; ` +
      `ttfb p50 ${(a.c32.ttfb50 / o.c32.ttfb50).toFixed(2)}x at c=${connections}, ${(a.c1.ttfb50 / o.c1.ttfb50).toFixed(2)}x at c=1`,
  );
  killAll();
  rmSync(dir, { recursive: true, force: true });
}

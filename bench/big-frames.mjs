// One long stream of large frames (a tool call's arguments, a long code answer, base64 images
// in a Responses stream): N `chat.completion.chunk` events of S bytes of content each, relayed by
// the floor (bench/floor-proxy.mjs) and by Tollgate (the benchmarks' configuration, as
// `npm start` runs it), each on core 0, the upstream here on core 1 with the client. Prints the
// time each takes to deliver the whole stream, and Tollgate's ratio to the floor. Never run by CI.
//   npx tsc -p tsconfig.json && node bench/big-frames.mjs [--frames 1200] [--bytes 16384] [--runs 5]
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, killAll, numberOption, start, startBenchGateway, stop } from './support.mjs';

const frames = numberOption('--frames', 1200);
const bytes = numberOption('--bytes', 16384);
const runs = numberOption('--runs', 5);

const text = 'x'.repeat(bytes);
const chunk = (delta, extra = {}) => `data: ${JSON.stringify({ id: 'chatcmpl-big', object: 'chat.completion.chunk', created: 1, model: 'mock-chat', choices: [{ index: 0, delta, finish_reason: extra.finish ?? null }], ...(extra.usage ? { usage: extra.usage } : {}) })}\n\n`;
const frame = chunk({ content: text });
const last = chunk({}, { finish: 'stop', usage: { prompt_tokens: 5, completion_tokens: frames, total_tokens: frames + 5 } });
const upstream = createServer((req, res) => {
  req.resume();
  req.on('end', async () => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let i = 0; i < frames; i++) if (!res.write(frame)) await new Promise((r) => res.once('drain', r));
    res.end(`${last}data: [DONE]\n\n`);
  });
});
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const upUrl = `http://127.0.0.1:${upstream.address().port}/v1`;

try {
  const floorPort = await freePort();
  const floor = await start(0, ['node', 'bench/floor-proxy.mjs', String(floorPort), upUrl, 'sk-floor-big'], 'ready');
  const tg = await startBenchGateway({ dir: mkdtempSync(join(tmpdir(), 'tollgate-big-')), name: 'big', upstream: upUrl });
  const targets = [
    { name: 'floor', url: `http://127.0.0.1:${floorPort}/v1/chat/completions`, key: 'sk-floor-big', model: 'mock-chat', child: floor },
    { name: 'tollgate', url: tg.url, key: tg.key, model: 'bench-model', child: tg.child },
  ];
  const times = { floor: [], tollgate: [] };
  let received = 0;
  for (let r = 0; r < runs + 1; r++) {
    for (const t of r % 2 === 0 ? targets : [...targets].reverse()) {
      const t0 = performance.now();
      const res = await fetch(t.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: t.model, stream: true, messages: [{ role: 'user', content: 'Write it all.' }] }),
      });
      let n = 0;
      for await (const c of res.body) n += c.length;
      // The first round warms both up and is not counted.
      if (r > 0) times[t.name].push(performance.now() - t0);
      received = n;
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const mb = (frames * bytes) / 1e6;
  console.log(`one stream of ${frames} frames of ${bytes} bytes of content (${mb.toFixed(1)} MB; the client received ${(received / 1e6).toFixed(1)} MB), median of ${runs} runs after one of warm-up`);
  console.table(
    targets.map((t) => ({
      target: t.name,
      'ms per stream': median(times[t.name]).toFixed(0),
      'MB/s': (mb / (median(times[t.name]) / 1000)).toFixed(1),
      'runs (ms)': times[t.name].map((x) => x.toFixed(0)).join(' '),
      'time / floor': (median(times[t.name]) / median(times.floor)).toFixed(2),
    })),
  );
  await Promise.all(targets.map((t) => stop(t.child)));
} finally {
  upstream.close();
  killAll();
}

// Resilience benchmark (SPEC §5), never run by tests or CI. One Tollgate process (pinned to
// core 0) in front of two standalone mock upstreams (core 1), with three models of two channels:
//   healthy — both channels up;
//   dead    — the second channel points at a closed port (connection refused); once its
//             breaker is open, throughput should stay ≥ 0.9 × healthy;
//   flaky   — the second channel sits behind a proxy that answers 500 to every other request;
//             retries, breaker and routing should keep the client success rate ≥ 99.9 %.
//   node bench/resilience.mjs [--duration 5] [--connections 32]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { runLoad } from './load.mjs';
import { ADMIN_TOKEN, createKey, freePort, killAll, numberOption, ROOT, start } from './support.mjs';

const durationMs = numberOption('--duration', 5) * 1000;
const connections = numberOption('--connections', 32);

/** bin/tollgate.js runs dist/: rebuild it when a source file is newer. */
async function ensureDist() {
  const newest = (dir) =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : e.name.endsWith('.ts') ? statSync(p).mtimeMs : 0);
    }, 0);
  const entry = join(ROOT, 'dist', 'cli', 'index.js');
  if (existsSync(entry) && statSync(entry).mtimeMs >= newest(join(ROOT, 'src'))) return;
  console.log('dist/ is stale: compiling src …');
  const tsc = spawn(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
  await new Promise((resolve) => tsc.on('exit', resolve));
}

/** Forwards to `target`, but answers every other request with a 500 of its own. */
async function startFlakyProxy(target) {
  const agent = new Agent({ connections: 256, keepAliveTimeout: 30_000 });
  const origin = new URL(target).origin;
  const stats = { requests: 0, failed: 0 };
  const server = createHttpServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      stats.requests++;
      if (stats.requests % 2 === 0) {
        stats.failed++;
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"flaky proxy: injected failure","type":"server_error"}}');
        return;
      }
      try {
        const up = await agent.request({ origin, path: req.url, method: req.method, headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) });
        res.writeHead(up.statusCode, { 'content-type': up.headers['content-type'] ?? 'application/json' });
        for await (const c of up.body) res.write(c);
        res.end();
      } catch {
        res.destroy();
      }
    });
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}/v1`, stats, close: () => new Promise((r) => server.close(r)) };
}

await ensureDist();
const [up1Port, up2Port, deadPort, tgPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(up1Port)], 'listening');
await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(up2Port)], 'listening');
const up1 = `http://127.0.0.1:${up1Port}/v1`;
const up2 = `http://127.0.0.1:${up2Port}/v1`;
const flaky = await startFlakyProxy(up2);

const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-resilience-'));
const model = (id, second) => ({
  id,
  context_window: 32000,
  max_output_tokens: 4096,
  pricing: { input_per_mtok: 1, output_per_mtok: 2 },
  channels: [
    { provider: 'up1', upstream_model: 'mock-chat' },
    { provider: second, upstream_model: 'mock-chat' },
  ],
});
const config = {
  // Lag shedding off: this measures routing around failures, not overload protection.
  server: { host: '127.0.0.1', port: tgPort, admin_token: ADMIN_TOKEN, log_level: 'error', max_event_loop_lag_ms: 60_000 },
  storage: { url: `sqlite://${join(dir, 'tg.db')}` },
  providers: [
    { id: 'up1', type: 'openai', base_url: up1, api_key: 'unused' },
    { id: 'up2', type: 'openai', base_url: up2, api_key: 'unused' },
    { id: 'dead', type: 'openai', base_url: `http://127.0.0.1:${deadPort}/v1`, api_key: 'unused', timeouts: { connect_ms: 1000 } },
    { id: 'flaky', type: 'openai', base_url: flaky.url, api_key: 'unused' },
  ],
  models: [model('bench-healthy', 'up2'), model('bench-dead', 'dead'), model('bench-flaky', 'flaky')],
  // Default routing and breaker settings (SPEC §8): max_attempts 4, threshold 5, cooldown 30 s.
  limits: { key_rpm: null },
  cache: { exact: { enabled: false } },
};
writeFileSync(join(dir, 'tollgate.yaml'), JSON.stringify(config, null, 2));
// A second gateway whose breakers never open: the flaky channel is then handled by retries alone.
const noBreakerPort = await freePort();
writeFileSync(
  join(dir, 'no-breaker.yaml'),
  JSON.stringify({ ...config, server: { ...config.server, port: noBreakerPort }, storage: { url: `sqlite://${join(dir, 'nb.db')}` }, circuit_breaker: { failure_threshold: 1e9, failure_rate: 1, min_requests: 1e9 } }, null, 2),
);
await start(0, ['./bin/tollgate.js', 'serve', '--config', join(dir, 'tollgate.yaml')], 'listening');
await start(0, ['./bin/tollgate.js', 'serve', '--config', join(dir, 'no-breaker.yaml')], 'listening');

async function gatewayClient(url) {
  const models = async () => (await fetch(`${url}/admin/models`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
  const key = await createKey(url, 'bench-resilience');
  return {
    states: async (id) => (await models()).data.find((m) => m.id === id).channels.map((c) => `${c.provider}:${c.state}`).join(' '),
    load: (id, ms) =>
      runLoad({ url: `${url}/v1/chat/completions`, key, body: { model: id, messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64 }, connections, durationMs: ms }),
  };
}
const tg = await gatewayClient(`http://127.0.0.1:${tgPort}`);
const nb = await gatewayClient(`http://127.0.0.1:${noBreakerPort}`);

/** One measured run after a 1 s warm-up, with the channel states before and after. */
async function measure(gw, id) {
  const warm = await gw.load(id, 1000);
  const before = await gw.states(id);
  const r = await gw.load(id, durationMs);
  return { warm, r, before, after: await gw.states(id) };
}

// Warm the JIT first so the first measured model is not penalised.
await tg.load('bench-healthy', 3000);
await nb.load('bench-healthy', 2000);
const results = {};
// healthy and dead alternate twice; the ratio uses the sums.
for (const round of [1, 2]) {
  for (const id of ['bench-healthy', 'bench-dead']) results[`${id} (run ${round})`] = await measure(tg, id);
}
const proxyBefore = { ...flaky.stats };
results['bench-flaky'] = await measure(tg, 'bench-flaky');
const proxyMid = { ...flaky.stats };
results['bench-flaky, breakers off (retries only)'] = await measure(nb, 'bench-flaky');

const sumRps = (prefix) => Object.entries(results).filter(([k]) => k.startsWith(prefix)).reduce((s, [, x]) => s + x.r.rps, 0);
const h = { r: { rps: sumRps('bench-healthy') } };
const d = { r: { rps: sumRps('bench-dead') } };
const f = results['bench-flaky'];
const g = results['bench-flaky, breakers off (retries only)'];
const rate = (x) => x.ok / Math.max(1, x.ok + x.errors);
console.table(
  Object.entries(results).map(([id, x]) => ({
    model: id,
    rps: x.r.rps.toFixed(0),
    'p50 ms': x.r.p50.toFixed(2),
    'p99 ms': x.r.p99.toFixed(2),
    ok: x.r.ok,
    errors: x.r.errors,
    'success %': (rate(x.r) * 100).toFixed(3),
    'warm-up ok/errors': `${x.warm.ok}/${x.warm.errors}`,
    'channels before': x.before,
    'channels after': x.after,
  })),
);
const ratio = d.r.rps / h.r.rps;
const all = (x) => ({ ok: x.r.ok + x.warm.ok, errors: x.r.errors + x.warm.errors });
console.log(`one channel dead (breaker open) / all healthy throughput: ${ratio.toFixed(3)} (target ≥ 0.9) ${ratio >= 0.9 ? 'PASS' : 'FAIL'}`);
console.log(
  `flaky channel (proxy answered 500 to ${proxyMid.failed - proxyBefore.failed} of ${proxyMid.requests - proxyBefore.requests} requests): client success ${(rate(f.r) * 100).toFixed(3)} % in the measured window, ${(rate(all(f)) * 100).toFixed(3)} % including warm-up (target ≥ 99.9 %) ${rate(all(f)) >= 0.999 ? 'PASS' : 'FAIL'}`,
);
console.log(
  `flaky channel, breakers off (proxy answered 500 to ${flaky.stats.failed - proxyMid.failed} of ${flaky.stats.requests - proxyMid.requests} requests): client success ${(rate(all(g)) * 100).toFixed(3)} % including warm-up (informational: retries and the retry budget alone)`,
);
console.log(`${connections} connections, ${durationMs / 1000} s per run after a 1 s warm-up; tollgate on core 0, mock upstreams on core 1.`);

killAll();
await flaky.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);

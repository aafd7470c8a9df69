// Where the request thread's allocation goes: bytes allocated per request by the function that
// allocated them (V8's sampling heap profiler, counting objects that were collected as well),
// under load, with the gateway run as `npm start` runs it (bin/tollgate.js, its memory settings,
// the benchmarks' configuration; core 0, the mock upstream and the load on core 1), sampled by
// bench/alloc-preload.mjs inside it.
// test/perf/regression.test.ts gives the total per request; this says which code it is.
// Never run by CI.
//   node bench/alloc-sites.mjs [--connections 32] [--seconds 4] [--stream] [--top 30] [--chains]
// --chains adds the four innermost callers of the largest allocation sites.
// Sampling costs the gateway time: the requests per second printed are not a throughput figure.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad } from './load.mjs';
import { ROOT, flag, freePort, numberOption, start, startBenchGateway, stop } from './support.mjs';

await main();

async function main() {
  const connections = numberOption('--connections', 32);
  const seconds = numberOption('--seconds', 4);
  const top = numberOption('--top', 30);
  const stream = flag('--stream');
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-alloc-'));
  const out = join(dir, 'alloc.heapprofile');
  const upPort = await freePort();
  const upstream = await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(upPort)], 'listening');
  // bench/alloc-preload.mjs, in the gateway, samples between two SIGUSR2s and writes `out`.
  process.env.TOLLGATE_BENCH_ALLOC_FILE = out;
  const gw = await startBenchGateway({ dir, name: 'alloc', upstream: `http://127.0.0.1:${upPort}/v1`, nodeFlags: ['--import', fileURLToPath(new URL('alloc-preload.mjs', import.meta.url))] });
  delete process.env.TOLLGATE_BENCH_ALLOC_FILE;
  try {
    const body = { model: 'bench-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 64, ...(stream ? { stream: true } : {}) };
    const load = (ms) => runLoad({ url: gw.url, key: gw.key, body, connections, durationMs: ms, stream });
    await load(3000);
    gw.child.kill('SIGUSR2');
    const r = await load(seconds * 1000);
    gw.child.kill('SIGUSR2');
    const deadline = Date.now() + 60_000;
    while (!existsSync(out)) {
      if (gw.child.exitCode !== null || Date.now() > deadline) throw new Error('the gateway wrote no allocation profile (did bench/alloc-preload.mjs load?)');
      await new Promise((res) => setTimeout(res, 50));
    }
    report(JSON.parse(readFileSync(out, 'utf8')), r.ok, { connections, seconds, stream, top, rps: r.ok / seconds });
  } finally {
    await stop(gw.child);
    await stop(upstream);
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(profile, requests, o) {
  const where = (cf) => {
    if (!cf.url) return '';
    let url = cf.url.replace(/^file:\/\//, '');
    if (url.startsWith('/')) url = relative(ROOT, url);
    return `  (${url.replace(/^.*node_modules\//, 'node_modules/')}:${cf.lineNumber + 1})`;
  };
  const label = (n) => `${n.callFrame.functionName || '(anonymous)'}${where(n.callFrame)}`;
  const bySite = new Map();
  const byChain = new Map();
  let total = 0;
  const walk = (node, stack) => {
    const here = [label(node), ...stack];
    if (node.selfSize > 0) {
      total += node.selfSize;
      bySite.set(here[0], (bySite.get(here[0]) ?? 0) + node.selfSize);
      const chain = here.slice(0, 5).join('\n      < ');
      byChain.set(chain, (byChain.get(chain) ?? 0) + node.selfSize);
    }
    for (const c of node.children) walk(c, here);
  };
  walk(profile.head, []);
  const per = (bytes) => (bytes / requests).toFixed(0).padStart(7);
  const lines = [
    `${o.stream ? 'streamed' : 'non-stream'} at c=${o.connections}, ${o.seconds} s sampled, ${requests} requests (${o.rps.toFixed(0)}/s under sampling); node ${process.version}`,
    `allocated per request, sampled: ${(total / requests).toFixed(0)} B; top ${o.top} sites (B per request)`,
    '',
  ];
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, o.top)) lines.push(`${per(bytes)}  ${site}`);
  if (flag('--chains')) {
    lines.push('', 'largest allocating call chains (innermost first):');
    for (const [chain, bytes] of [...byChain].sort((a, b) => b[1] - a[1]).slice(0, 15)) lines.push(`${per(bytes)}  ${chain}`);
  }
  console.log(lines.join('\n'));
}

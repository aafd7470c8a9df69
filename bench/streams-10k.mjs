// Many long streams through one Tollgate process. A light upstream (bench/slow-upstream.mjs)
// sends one token every --interval-ms for --seconds; a load generator in its own process
// (bench/streams-load.mjs) opens --streams streaming requests at an even pace over --ramp-s,
// first straight to the upstream (the baseline), then through Tollgate with the default
// configuration as `npm start` runs it (SQLite, billing, limits, usage records, logging on),
// with server.max_in_flight raised to carry the streams. Tollgate runs on core 0, the upstream
// and the load generator on core 1. Prints completed/errored, first-byte p50/p99 added over
// direct, wall time, gateway RSS (peak, per open stream), gateway CPU (total, per stream, per
// relayed chunk, and per chunk in the steady state when every stream is open), event-loop lag
// p99 (from the gateway's /metrics), and checks that every stream has its usage row. Then the
// floor, a bare Node relay (bench/floor-proxy.mjs) over the same upstream and protocol, takes the
// same load on the same core, and a second table sets the two side by side: what one core can
// relay at the floor's cost bounds how many streams any Node relay can carry here.
// Never run by CI.
//   npx tsc -p tsconfig.json && node bench/streams-10k.mjs [--streams 10000] [--seconds 60]
//     [--interval-ms 100] [--ramp-s N (default streams/1000)] [--http1] [--direct-seconds 5] [--no-floor]
//     [--profile DIR (writes the gateway's .cpuprofile there)] [--max-lag-ms N (server.max_event_loop_lag_ms)]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ADMIN_TOKEN, cpuMs, flag, freePort, gateway, killAll, numberOption, option, peakRssMb, ROOT, start, stop } from './support.mjs';

const streams = numberOption('--streams', 10000);
const seconds = numberOption('--seconds', 60);
const intervalMs = numberOption('--interval-ms', 100);
const rampS = numberOption('--ramp-s', Math.max(1, streams / 1000));
const directSeconds = numberOption('--direct-seconds', Math.min(seconds, 5));
const http1 = flag('--http1');
const noFloor = flag('--no-floor');
const profileDir = option('--profile', undefined);
// On a shared, loaded machine the default lag shedding (500 ms) turns the neighbours' load into 503s.
const maxLagMs = option('--max-lag-ms', undefined);

const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs the load generator on core 1 and resolves with its JSON summary. */
function load(url, key, model, onAllOpen = () => {}) {
  const spec = JSON.stringify({ url, key, streams, rampMs: rampS * 1000, body: { model, messages: [{ role: 'user', content: 'Tell me a long story.' }], max_tokens: 4096, stream: true } });
  const child = spawn('taskset', ['-c', '1', 'node', 'bench/streams-load.mjs', spec], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => {
    if (!out.includes('all open') && (out + d).includes('all open')) onAllOpen();
    out += d;
  });
  return new Promise((resolvePromise, reject) => {
    child.on('exit', (code) => (code === 0 ? resolvePromise(JSON.parse(out.trim().split('\n').at(-1))) : reject(new Error(`load generator exited ${code}: ${out}`))));
  });
}

async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/** Usage rows of the key's successful streams, paged through GET /api/usage. */
async function billedStreams(url, mk, keyId) {
  let count = 0;
  let cursor;
  for (;;) {
    const q = new URLSearchParams({ key_id: keyId, limit: '1000', ...(cursor ? { cursor } : {}) });
    const page = await (await fetch(`${url}/api/usage?${q}`, { headers: { authorization: `Bearer ${mk}` } })).json();
    for (const r of page.data) if (r.stream && r.status === 200 && r.cost_usd > 0) count++;
    if (!page.next_cursor || page.data.length === 0) return count;
    cursor = page.next_cursor;
  }
}

const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '—');

try {
  await main();
} finally {
  killAll();
}

async function main() {
  const [upPort, directPort, tgPort] = [await freePort(), await freePort(), await freePort()];
  const upArgs = (port, s) => ['node', 'bench/slow-upstream.mjs', String(port), '--interval-ms', String(intervalMs), '--seconds', String(s), ...(http1 ? [] : ['--h2'])];
  await start(1, upArgs(upPort, seconds), 'listening');
  // The baseline: the same upstream program, over HTTP/1.1 as a client would reach it, with shorter streams.
  await start(1, ['node', 'bench/slow-upstream.mjs', String(directPort), '--interval-ms', String(intervalMs), '--seconds', String(directSeconds)], 'listening');

  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-streams-'));
  writeFileSync(
    join(dir, 'tollgate.yaml'),
    `server: { host: 127.0.0.1, port: ${tgPort}, admin_token: ${ADMIN_TOKEN}, max_in_flight: ${streams + 1000}${maxLagMs ? `, max_event_loop_lag_ms: ${maxLagMs}` : ''} }
storage: { url: "sqlite://${join(dir, 'tg.db')}" }
providers:
  - { id: up, type: openai, base_url: "http://127.0.0.1:${upPort}/v1", api_key: unused, http2: ${!http1} }
models:
  - id: bench-model
    context_window: 32000
    max_output_tokens: 4096
    pricing: { input_per_mtok: 1, output_per_mtok: 2 }
    channels: [{ provider: up, upstream_model: slow }]
limits: { key_rpm: 100000000 }
`,
  );
  const nodeFlags = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profileDir)}`] : [];
  const tgCmd = gateway(['serve', '--config', join(dir, 'tollgate.yaml')], nodeFlags);
  const tg = await start(0, tgCmd.cmd, 'listening', tgCmd.env);
  const tgUrl = `http://127.0.0.1:${tgPort}`;
  const post = async (path, credential, body) =>
    (await fetch(`${tgUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
  const org = await post('/admin/orgs', ADMIN_TOKEN, { name: `streams-${Date.now()}`, credits_usd: 1e6 });
  const created = await post('/api/keys', org.management_key, {});
  const key = created.key;
  // One stream first, so lazily loaded code is loaded before the measurement.
  const warm = await fetch(`${tgUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'bench-model', messages: [{ role: 'user', content: 'warm up' }], stream: true }),
  });
  const warmReader = warm.body.getReader();
  await warmReader.read();
  await warmReader.cancel();

  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model}, node ${process.version}; upstream ${http1 ? 'HTTP/1.1' : 'HTTP/2 (h2c)'}`);
  console.log(`${streams} streams opened over ${rampS} s, one token every ${intervalMs} ms for ${seconds} s (direct baseline: ${directSeconds} s streams)`);
  const direct = await load(`http://127.0.0.1:${directPort}/v1/chat/completions`, 'unused', 'slow');
  console.log(`direct: ${direct.completed}/${streams} completed, first byte p50 ${fmt(direct.firstByteMs.p50, 2)} ms p99 ${fmt(direct.firstByteMs.p99, 2)} ms`);

  await metric(tgUrl, 'tollgate_nodejs_eventloop_lag_p99_seconds'); // resets the lag histogram
  const tgRun = await measure(tg.pid, `${tgUrl}/v1/chat/completions`, key, 'bench-model', tgUrl);
  const gw = tgRun.load;
  const steady = tgRun.steady;
  const cpuTotal = tgRun.cpuTotal;
  const rssBefore = tgRun.rssBefore;
  const lagEnd = await metric(tgUrl, 'tollgate_nodejs_eventloop_lag_p99_seconds');

  // Every completed stream must have its usage row with a cost (the spool flushes within a second or so).
  let billed = 0;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    billed = await billedStreams(tgUrl, org.management_key, created.id);
    if (billed >= gw.completed) break;
    await sleep(1000);
  }
  const peak = peakRssMb(tg.pid);
  await stop(tg);

  // The floor: a bare Node relay (bench/floor-proxy.mjs: node:http + undici, nothing else) over
  // the same upstream, on the same core, under the same load.
  let fl;
  if (!noFloor) {
    const floorPort = await freePort();
    const floor = await start(0, ['node', 'bench/floor-proxy.mjs', String(floorPort), `http://127.0.0.1:${upPort}/v1`, 'sk-floor', '--unbounded', ...(http1 ? [] : ['--h2'])], 'ready');
    const run = await measure(floor.pid, `http://127.0.0.1:${floorPort}/v1/chat/completions`, 'sk-floor', 'slow');
    fl = { ...run, peak: peakRssMb(floor.pid) };
    await stop(floor);
  }

  const rows = [
    ['completed / errored', `${gw.completed} / ${gw.errored}`],
    ['first byte p50 / p99, direct (ms)', `${fmt(direct.firstByteMs.p50, 2)} / ${fmt(direct.firstByteMs.p99, 2)}`],
    ['first byte p50 / p99, through Tollgate (ms)', `${fmt(gw.firstByteMs.p50, 2)} / ${fmt(gw.firstByteMs.p99, 2)}`],
    ['added first byte p50 / p99 (ms)', `${fmt(gw.firstByteMs.p50 - direct.firstByteMs.p50, 2)} / ${fmt(gw.firstByteMs.p99 - direct.firstByteMs.p99, 2)}`],
    ['wall time (s), streams of ' + seconds + ' s opened over ' + rampS + ' s', fmt(gw.wallMs / 1000, 1)],
    ['gateway RSS before / peak (MB)', `${fmt(rssBefore)} / ${fmt(peak)}`],
    ['gateway CPU (s)', fmt(cpuTotal / 1000, 2)],
    ['SSE frames relayed', String(gw.frames)],
    ['CPU per relayed frame, all in (µs)', fmt((cpuTotal * 1000) / gw.frames, 1)],
    ['CPU per stream, all in (ms)', fmt(cpuTotal / streams, 2)],
    ['event-loop lag p99, whole run (ms)', fmt(Math.max(lagEnd, steady?.lagRampP99 ?? 0, steady?.lagSteadyP99 ?? 0) * 1000, 1)],
    ['streams billed (usage rows with a cost)', `${billed} of ${gw.completed}`],
  ];
  if (steady) {
    const framesPerS = (streams * 1000) / intervalMs;
    rows.push(
      ['memory per open stream (KB, RSS all open − before)', fmt(((steady.rssOpen - rssBefore) * 1024) / streams, 1)],
      ['steady state: CPU per relayed frame (µs)', fmt((steady.cpuMs * 1000) / ((framesPerS * steady.windowMs) / 1000), 1)],
      ['steady state: CPU per open stream (µs per s)', fmt((steady.cpuMs * 1000) / streams / (steady.windowMs / 1000), 1)],
      ['steady state: gateway core busy (%)', fmt((steady.cpuMs / steady.windowMs) * 100, 0)],
      ['event-loop lag p99, opening / steady / end (ms)', `${fmt(steady.lagRampP99 * 1000)} / ${fmt(steady.lagSteadyP99 * 1000)} / ${fmt(lagEnd * 1000)}`],
    );
  }
  console.table(Object.fromEntries(rows.map(([k, v]) => [k, { value: v }])));
  if (fl) {
    const perFrame = (r) => (r.steady ? (r.steady.cpuMs * 1000) / (((streams * 1000) / intervalMs) * r.steady.windowMs / 1000) : Number.NaN);
    const t = perFrame(tgRun);
    const f = perFrame(fl);
    console.log('The floor (a bare Node relay, bench/floor-proxy.mjs) under the same load, and Tollgate against it:');
    console.table({
      'completed / errored': { floor: `${fl.load.completed} / ${fl.load.errored}`, tollgate: `${gw.completed} / ${gw.errored}`, ratio: '' },
      'added first byte p50 (ms)': { floor: fmt(fl.load.firstByteMs.p50 - direct.firstByteMs.p50, 2), tollgate: fmt(gw.firstByteMs.p50 - direct.firstByteMs.p50, 2), ratio: '' },
      'wall time (s)': { floor: fmt(fl.load.wallMs / 1000, 1), tollgate: fmt(gw.wallMs / 1000, 1), ratio: '' },
      'steady state: CPU per relayed frame (µs)': { floor: fmt(f, 1), tollgate: fmt(t, 1), ratio: `${fmt(t / f, 2)}×` },
      'steady state: core busy (%)': { floor: fl.steady ? fmt((fl.steady.cpuMs / fl.steady.windowMs) * 100, 0) : '—', tollgate: steady ? fmt((steady.cpuMs / steady.windowMs) * 100, 0) : '—', ratio: '' },
      'peak RSS (MB)': { floor: fmt(fl.peak), tollgate: fmt(peak), ratio: '' },
      'CPU per relayed frame, all in (µs)': { floor: fmt((fl.cpuTotal * 1000) / fl.load.frames, 1), tollgate: fmt((cpuTotal * 1000) / gw.frames, 1), ratio: `${fmt((cpuTotal * fl.load.frames) / (fl.cpuTotal * gw.frames), 2)}×` },
    });
    // One core relays at most 1 s ÷ (CPU per frame) frames a second.
    if (Number.isFinite(f)) console.log(`at the floor's cost one core relays at most ${fmt(1e6 / f / 1000, 0)}k frames/s, ${fmt(1e6 / f / (1000 / intervalMs), 0)} streams at one token per ${intervalMs} ms; Tollgate's cost allows ${fmt(1e6 / t / (1000 / intervalMs), 0)}`);
  }
  if (Object.keys(gw.errors).length > 0) console.log('errors:', gw.errors);
  if (gw.errored > 0 || billed < gw.completed) process.exitCode = 1;
}

/**
 * One load run through a relay (Tollgate or the floor) pinned to core 0: the load generator's
 * summary, the relay's CPU over the run and over the steady state (every stream open, until the
 * first ones are about to end), its RSS before and with every stream open, and, for Tollgate
 * (metricsUrl), the event-loop lag p99 as the streams open and in the steady state.
 */
async function measure(pid, url, key, model, metricsUrl) {
  const rssBefore = rssMb(pid);
  const cpuBefore = cpuMs(pid);
  const t0 = Date.now();
  let allOpen;
  const opened = new Promise((r) => (allOpen = r));
  const running = load(url, key, model, () => allOpen(Date.now()));
  let steady;
  const openAt = await Promise.race([opened, running.then(() => undefined)]);
  const steadyMs = openAt === undefined ? 0 : Math.min(10_000, t0 + seconds * 1000 - 1000 - Date.now());
  if (steadyMs >= 2000) {
    const c1 = cpuMs(pid);
    const rssOpen = rssMb(pid);
    const lag1 = metricsUrl ? await metric(metricsUrl, 'tollgate_nodejs_eventloop_lag_p99_seconds') : Number.NaN;
    const w0 = Date.now();
    await sleep(steadyMs);
    const c2 = cpuMs(pid);
    const windowMs = Date.now() - w0;
    const lag2 = metricsUrl ? await metric(metricsUrl, 'tollgate_nodejs_eventloop_lag_p99_seconds') : Number.NaN;
    steady = { cpuMs: c2 - c1, windowMs, rssOpen, lagRampP99: lag1, lagSteadyP99: lag2 };
  } else console.log(`no steady state to measure: every stream open only ${openAt ? ((openAt - t0) / 1000).toFixed(1) : '—'} s after the start (streams last ${seconds} s); use longer --seconds`);
  const result = await running;
  return { load: result, steady, cpuTotal: cpuMs(pid) - cpuBefore, rssBefore };
}

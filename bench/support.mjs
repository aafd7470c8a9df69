// Helpers shared by the bench/*.mjs load benchmarks: command-line options, child processes pinned
// to a CPU core, free ports, CPU time and peak memory from /proc, and a key for a running Tollgate.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const ADMIN_TOKEN = 'bench-admin-token';

export const args = process.argv.slice(2);
export const flag = (name) => args.includes(name);
export const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
export const numberOption = (name, fallback) => Number(option(name, fallback));

/** On Linux, [bin, argv] that run `cmd` on one core only, so the gateway under test and the load generator do not share a core. */
const pin = (core, cmd) => (process.platform === 'linux' ? ['taskset', ['-c', String(core), ...cmd]] : [cmd[0], cmd.slice(1)]);

let offGatewayCore = false;
/**
 * Moves this process (the load generator), all its threads, to core 1, beside the upstream, the
 * first time something is started on core 0. Left to the scheduler, it ran on core 0 as well
 * whenever core 1 was busy, and the gateway's CPU time per request then included sharing its
 * core (caches, preemption): on one 2-core host 0.200 ms at c=32 instead of 0.125-0.143 ms, and
 * the floor 0.131 instead of 0.085-0.089 ms.
 */
function keepOffGatewayCore() {
  if (offGatewayCore || process.platform !== 'linux') return;
  offGatewayCore = true;
  execFileSync('taskset', ['-apc', '1', String(process.pid)], { stdio: 'ignore' });
}

export const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const children = [];

/**
 * The gateway's command as `npm start` and `npx tollgate` run it: bin/tollgate.js as a program,
 * whose first line starts Node with the gateway's memory settings. `root` is the checkout (the
 * repository root by default); `nodeFlags` (a profiler, another heap size) come after those
 * settings, through TOLLGATE_NODE_FLAGS, and win where they name the same V8 flag.
 */
export const gateway = (args, nodeFlags = [], root = ROOT) => ({
  cmd: [join(root, 'bin/tollgate.js'), ...args],
  env: nodeFlags.length > 0 ? { TOLLGATE_NODE_FLAGS: nodeFlags.join(' ') } : {},
});

/**
 * Spawns `cmd` on `core` from the repository root (commands name bin/… and bench/… relative to
 * it), with `env` added to this process's environment, and resolves with the child once its
 * stdout has printed `readyText`.
 */
export function start(core, cmd, readyText, env = {}) {
  if (core === 0) keepOffGatewayCore();
  const [bin, argv] = pin(core, cmd);
  const child = spawn(bin, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes(readyText)) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`${cmd.join(' ')} exited ${code}: ${out}`)));
  });
}

export const stop = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

export const killAll = () => {
  for (const c of children) c.kill('SIGTERM');
};

/** User + system CPU time of a process in ms; /proc/<pid>/stat counts it in clock ticks of 1/100 s. */
export const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
};

export const peakRssMb = (pid) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

/** The benchmarks' one OpenAI-compatible upstream behind the model `bench-model` (YAML lines). */
export const benchUpstream = (upstream) => `providers:
  - { id: up, type: openai, base_url: "${upstream}", api_key: unused }
models:
  - id: bench-model
    context_window: 32000
    max_output_tokens: 4096
    pricing: { input_per_mtok: 1, output_per_mtok: 2 }
    channels: [{ provider: up, upstream_model: mock-chat }]`;

/**
 * The benchmarks' gateway configuration: every default (billing, limits, usage records, the exact
 * cache, logging at info) but the port, the store, the admin token, one OpenAI-compatible
 * upstream behind the model `bench-model`, and a key_rpm high enough not to refuse the
 * benchmark's own load (null with billing and limits off).
 */
export const benchConfig = ({ port, storageUrl, upstream, billing = true }) => `server: { host: 127.0.0.1, port: ${port}, admin_token: ${ADMIN_TOKEN} }
storage: { url: "${storageUrl}" }
billing: { enabled: ${billing} }
${benchUpstream(upstream)}
limits: { key_rpm: ${billing ? 100000000 : 'null'} }
`;

export async function createKey(url, name = 'bench') {
  const post = async (path, credential, body) =>
    (await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
  const org = await post('/admin/orgs', ADMIN_TOKEN, { name, credits_usd: 1e6 });
  return (await post('/api/keys', org.management_key, {})).key;
}

/**
 * Starts a Tollgate from checkout `root` (core 0, `npm start`'s launcher and `nodeFlags`) with
 * the benchmarks' configuration in `dir` (a SQLite file named `name`) in front of `upstream`,
 * and resolves with the child, its chat completions URL and a key with credit.
 */
export async function startBenchGateway({ dir, name, upstream, root = ROOT, nodeFlags = [] }) {
  const port = await freePort();
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, benchConfig({ port, storageUrl: `sqlite://${join(dir, `${name}.db`)}`, upstream }));
  const cmd = gateway(['serve', '--config', file], nodeFlags, root);
  const child = await start(0, cmd.cmd, 'listening', cmd.env);
  const base = `http://127.0.0.1:${port}`;
  return { child, base, url: `${base}/v1/chat/completions`, key: await createKey(base, `bench-${name}`) };
}

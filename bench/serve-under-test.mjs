// Starts the mock upstream (core 1) and Tollgate with bench/run.mjs's configuration (core 0) and
// keeps them running, printing the gateway's pid, URL and a key, so a profiler, strace or wrk can
// be pointed at it by hand. Stop with Ctrl-C.
//   node bench/serve-under-test.mjs [--node-flags '...'] [--stdout FILE]
// --stdout FILE copies the gateway's standard output (its log, a --trace-gc trace) to FILE.
import { createWriteStream, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN, createKey, freePort, gateway, killAll, option, start } from './support.mjs';

const upPort = await freePort();
const tgPort = await freePort();
await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(upPort)], 'listening');
const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
writeFileSync(
  join(dir, 'tollgate.yaml'),
  `server: { host: 127.0.0.1, port: ${tgPort}, admin_token: ${ADMIN_TOKEN} }
storage: { url: "sqlite://${join(dir, 'tg.db')}" }
providers:
  - { id: up, type: openai, base_url: "http://127.0.0.1:${upPort}/v1", api_key: unused }
models:
  - id: bench-model
    context_window: 32000
    max_output_tokens: 4096
    pricing: { input_per_mtok: 1, output_per_mtok: 2 }
    channels: [{ provider: up, upstream_model: mock-chat }]
limits: { key_rpm: 100000000 }
`,
);
const nodeFlags = (option('--node-flags', '') || '').split(' ').filter(Boolean);
const tgCmd = gateway(['serve', '--config', join(dir, 'tollgate.yaml')], nodeFlags);
const tg = await start(0, tgCmd.cmd, 'listening', tgCmd.env);
const out = option('--stdout', undefined);
if (out) tg.stdout.pipe(createWriteStream(out));
const url = `http://127.0.0.1:${tgPort}`;
const key = await createKey(url, `bench-${Date.now()}`);
console.log(JSON.stringify({ pid: tg.pid, url, key, upstream: `http://127.0.0.1:${upPort}/v1` }));
process.on('SIGINT', () => {
  killAll();
  process.exit(0);
});
process.on('SIGTERM', () => {
  killAll();
  process.exit(0);
});

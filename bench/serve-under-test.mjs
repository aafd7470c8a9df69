// Starts the mock upstream (core 1) and Tollgate with bench/run.mjs's configuration (core 0) and
// keeps them running, printing the gateway's pid, URL and a key, so a profiler, strace or wrk can
// be pointed at it by hand. Stop with Ctrl-C.
//   node bench/serve-under-test.mjs [--node-flags '...'] [--stdout FILE]
// --stdout FILE copies the gateway's standard output (its log, a --trace-gc trace) to FILE.
import { createWriteStream, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchConfig, createKey, freePort, gateway, killAll, option, start } from './support.mjs';

const upPort = await freePort();
const tgPort = await freePort();
await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(upPort)], 'listening');
const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
writeFileSync(
  join(dir, 'tollgate.yaml'),
  benchConfig({ port: tgPort, storageUrl: `sqlite://${join(dir, 'tg.db')}`, upstream: `http://127.0.0.1:${upPort}/v1` }),
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

// What a flood of large bodies with bad keys does to another tenant: one Tollgate (gateway pinned
// to core 0, the mock upstream, the tenant's load and the attackers on core 1), a tenant sending
// small requests on 1 connection, measured alone and then while 3 connections each send 9.9 MB
// bodies with a bad key as fast as they are answered. Prints the tenant's p50 / p99 for both and
// the ratio (the target: under 2x). Never run by CI.
//   node bench/auth-flood.mjs [--duration 5] [--attackers 3]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from './load.mjs';
import { ADMIN_TOKEN, cpuMs, createKey, freePort, numberOption, start, stop, benchUpstream } from './support.mjs';

const durationMs = numberOption('--duration', 5) * 1000;
const attackers = numberOption('--attackers', 3);
const BODY_BYTES = 9_900_000;

const upPort = await freePort();
const upstream = await start(1, ['node', 'bin/tollgate.js', 'mock-upstream', '--port', String(upPort)], 'listening');
const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-flood-'));
const port = await freePort();
writeFileSync(
  join(dir, 'tollgate.yaml'),
  `server: { host: 127.0.0.1, port: ${port}, admin_token: ${ADMIN_TOKEN}, log_level: warn, max_event_loop_lag_ms: 600000 }
storage: { url: "sqlite://${join(dir, 'tg.db')}" }
${benchUpstream(`http://127.0.0.1:${upPort}/v1`)}
limits: { key_rpm: null }
cache: { exact: { enabled: false } }
`,
);

/** One attacker: a 9.9 MB JSON body with a bad key, sent in full, again as soon as the gateway answers or closes. */
function attacker(signal, stats) {
  const filler = Buffer.alloc(1 << 20, 'a');
  const head = Buffer.from(`{"model":"bench-model","messages":[{"role":"user","content":"`);
  const tail = Buffer.from('"}]}');
  const contentLength = BODY_BYTES;
  const once = () =>
    new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.on('data', () => {
        stats.answers++;
        s.destroy();
      });
      s.on('connect', async () => {
        s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-tg-notarealkeyatallnotarealkeyatall000000\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n`);
        let sent = head.length + tail.length;
        s.write(head);
        while (sent < contentLength && !s.destroyed) {
          const chunk = filler.subarray(0, Math.min(filler.length, contentLength - sent));
          sent += chunk.length;
          if (!s.write(chunk)) await new Promise((r) => s.once('drain', r).once('close', r));
        }
        if (!s.destroyed) s.write(tail);
      });
    });
  return (async () => {
    while (!signal.aborted) await once();
  })();
}

const tg = await start(0, ['./bin/tollgate.js', 'serve', '--config', join(dir, 'tollgate.yaml')], 'listening');
try {
  const url = `http://127.0.0.1:${port}`;
  const target = { url: `${url}/v1/chat/completions`, key: await createKey(url), body: { model: 'bench-model', messages: [{ role: 'user', content: 'Say something short.' }], max_tokens: 16 }, connections: 1 };
  await runLoad({ ...target, durationMs: 1000 });
  const alone = await runLoad({ ...target, durationMs });
  const ac = new AbortController();
  const stats = { answers: 0 };
  const flood = Array.from({ length: attackers }, () => attacker(ac.signal, stats));
  await new Promise((r) => setTimeout(r, 500));
  const cpu0 = cpuMs(tg.pid);
  const attacked = await runLoad({ ...target, durationMs });
  const cpuUnderAttack = cpuMs(tg.pid) - cpu0;
  ac.abort();
  await Promise.all(flood);
  console.log(`tenant: 1 connection, ${durationMs / 1000} s; ${attackers} attackers sending ${(BODY_BYTES / 1e6).toFixed(1)} MB bodies with a bad key`);
  console.table([
    { run: 'alone', 'p50 ms': alone.p50.toFixed(3), 'p99 ms': alone.p99.toFixed(3), rps: alone.rps.toFixed(0) },
    { run: 'under flood', 'p50 ms': attacked.p50.toFixed(3), 'p99 ms': attacked.p99.toFixed(3), rps: attacked.rps.toFixed(0), 'attacker answers': stats.answers, 'gateway cpu ms': cpuUnderAttack.toFixed(0) },
  ]);
  console.log(`p50 ratio (flood / alone): ${(attacked.p50 / alone.p50).toFixed(2)}x (target < 2x)`);
} finally {
  await stop(tg);
  await stop(upstream);
  rmSync(dir, { recursive: true, force: true });
}
